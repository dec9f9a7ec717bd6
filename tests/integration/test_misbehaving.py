"""Resources that misbehave (issue 9, point 5; docs/architecture.md, "Resources that misbehave").
Each case ends in its documented outcome, and a normal session run alongside it completes with
respondents=3 and events that match their schemas. Resource-side faults are resource-sim's delay
codes -4 to -8; callback-side faults are posted by the test to the gateways."""

import threading

from aggtest import (SOURCES, NOTES_PER_RESPONSE, check_session_events, make_callback,
                     metric_sum, post_callback, read_stream, session_done, session_key,
                     start_session, wait_until)

# The worker's default RESOURCE_READ_TIMEOUT_MS (30 s): a call to a resource that hangs or
# trickles its answer must end with its session, long before this.
READ_TIMEOUT_S = 30
# Slack after a session's deadline for the deadline scan, the call's end and a loaded CPU.
AFTER_DEADLINE_S = 6


def _dropped(workers, reason):
    return metric_sum(workers, "callbacks_dropped_total", reason=reason)


class Normal:
    """A normal session started next to a misbehaving one; check() reads its stream to the end
    and asserts it was not affected."""

    def __init__(self, gw):
        self.gw = gw
        self.cid = start_session(gw[1], "200,300,400", timeout_ms=15000)

    def check(self):
        st = read_stream(self.gw[0], self.cid, timeout=40)
        assert st.status == 200
        by_source, summary = check_session_events(st.events, self.cid, patient="patient-123")
        assert sorted(by_source) == list(SOURCES)
        assert (summary["respondents"], summary["errors"], summary["completedBy"]) == \
            (3, 0, "ALL_RESPONDED"), summary
        for src in SOURCES:
            assert len(by_source[src]["notes"]) == NOTES_PER_RESPONSE


def _session(gw, delays, timeout_ms):
    """Runs one session to its end; returns (outcomes by source, summary)."""
    cid = start_session(gw[0], delays, timeout_ms=timeout_ms)
    st = read_stream(gw[1], cid, timeout=timeout_ms / 1000.0 + 40)
    assert st.status == 200
    by_source, summary = check_session_events(st.events, cid, patient="patient-123")
    assert sorted(by_source) == list(SOURCES)
    return cid, by_source, summary


def _statuses(by_source):
    return tuple(by_source[s]["status"] for s in SOURCES)


def _calls_end(workers, what):
    """The workers' calls to resources (gauge worker_inflight_http) all end within
    AFTER_DEADLINE_S, far below RESOURCE_READ_TIMEOUT_MS: no call outlives its session."""
    wait_until(lambda: metric_sum(workers, "worker_inflight_http") == 0, AFTER_DEADLINE_S, what)


def test_callback_after_the_deadline_is_dropped(gw, workers, redis):
    normal = Normal(gw)
    cid, by_source, summary = _session(gw, "0,0,-4", 2000)
    assert _statuses(by_source) == ("ok", "ok", "TIMEOUT")
    assert summary["completedBy"] == "TIMEOUT"
    meta = redis.hgetall(session_key(cid, "meta"))
    log = redis.session_log(cid)
    before = _dropped(workers, "finished")
    assert post_callback(gw[1], make_callback(cid, "resource-3")).status_code == 202
    wait_until(lambda: _dropped(workers, "finished") >= before + 1, 20,
               "the late callback dropped as finished")
    assert redis.hgetall(session_key(cid, "meta")) == meta
    assert redis.session_log(cid) == log
    normal.check()


def test_duplicate_callbacks_are_recorded_once(gw, workers, redis):
    normal = Normal(gw)
    cid = start_session(gw[0], "-4,-4,-4", timeout_ms=20000)
    before = _dropped(workers, "duplicate")
    cb = make_callback(cid, "resource-1", n_notes=2)
    codes = []
    threads = [threading.Thread(target=lambda g=g: codes.append(post_callback(g, cb).status_code))
               for g in (gw[0], gw[1], gw[0], gw[1])]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert codes == [202] * 4
    wait_until(lambda: _dropped(workers, "duplicate") >= before + 3, 20,
               "three of the four deliveries dropped as duplicates")
    assert int(redis.cmd("HLEN", session_key(cid, "out"))) == 1
    assert [e for _, e, _ in redis.session_log(cid)] == ["callback"]
    for src in ("resource-2", "resource-3"):
        assert post_callback(gw[1], make_callback(cid, src)).status_code == 202
    st = read_stream(gw[0], cid)
    by_source, summary = check_session_events(st.events, cid)
    assert len(st.events) == 4 and len(by_source["resource-1"]["notes"]) == 2
    assert (summary["respondents"], summary["errors"]) == (3, 0)
    normal.check()


def test_callback_of_another_source_or_patient_is_dropped(gw, workers, redis):
    normal = Normal(gw)
    cid = start_session(gw[0], "-4,-4,-4", timeout_ms=20000)
    unknown, mismatch = _dropped(workers, "unknown-source"), _dropped(workers, "patient-mismatch")
    # Well-formed answers: the gateway takes them (it knows no session), the session refuses.
    assert post_callback(gw[0], make_callback(cid, "resource-9")).status_code == 202
    assert post_callback(gw[1], make_callback(cid, "resource-1",
                                              patient="patient-456")).status_code == 202
    wait_until(lambda: _dropped(workers, "unknown-source") >= unknown + 1, 20,
               "the answer of a source the session does not have dropped")
    wait_until(lambda: _dropped(workers, "patient-mismatch") >= mismatch + 1, 20,
               "the answer for another patient dropped")
    meta = redis.hgetall(session_key(cid, "meta"))
    assert (meta["seq"], meta["state"]) == ("0", "open"), meta
    assert int(redis.cmd("EXISTS", session_key(cid, "out"))) == 0
    # resource-1 may still answer for the right patient: the refused one took nothing from it.
    for src in SOURCES:
        assert post_callback(gw[1], make_callback(cid, src)).status_code == 202
    st = read_stream(gw[0], cid)
    by_source, summary = check_session_events(st.events, cid, patient="patient-123")
    assert sorted(by_source) == list(SOURCES) and summary["respondents"] == 3
    normal.check()


def test_resource_that_never_calls_back_times_out_alone(gw, workers):
    normal = Normal(gw)
    cid, by_source, summary = _session(gw, "0,-4,300", 3000)
    assert _statuses(by_source) == ("ok", "TIMEOUT", "ok")
    assert (summary["respondents"], summary["errors"], summary["completedBy"]) == \
        (2, 1, "TIMEOUT")
    assert by_source["resource-2"]["elapsedMs"] >= 3000
    assert len(by_source["resource-1"]["notes"]) == NOTES_PER_RESPONSE
    assert len(by_source["resource-3"]["notes"]) == NOTES_PER_RESPONSE
    normal.check()


def test_resource_that_hangs_mid_answer_holds_no_call_past_the_session(gw, workers):
    normal = Normal(gw)
    cid, by_source, summary = _session(gw, "-5,0,0", 3000)
    assert _statuses(by_source) == ("TIMEOUT", "ok", "ok")
    assert summary["completedBy"] == "TIMEOUT"
    _calls_end(workers, "the call to the hanging resource to end with its session (not after "
               "RESOURCE_READ_TIMEOUT_MS = %d s)" % READ_TIMEOUT_S)
    normal.check()


def test_resource_that_answers_a_byte_at_a_time(gw, workers):
    """-6 sends its 21-byte answer one byte every 250 ms (about 5 s), then calls back: a short
    session times out on it, a long one gets its notes."""
    normal = Normal(gw)
    out = {}

    def run(name, timeout_ms):
        out[name] = _session(gw, "-6,0,0", timeout_ms)
    threads = [threading.Thread(target=run, args=a) for a in (("short", 2500), ("long", 15000))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    _, by_source, summary = out["short"]
    assert _statuses(by_source) == ("TIMEOUT", "ok", "ok") and summary["completedBy"] == "TIMEOUT"
    _, by_source, summary = out["long"]
    assert _statuses(by_source) == ("ok", "ok", "ok"), by_source
    assert summary["completedBy"] == "ALL_RESPONDED"
    assert by_source["resource-1"]["elapsedMs"] >= 5000  # the answer really trickled
    _calls_end(workers, "no call to the trickling resource left")
    normal.check()


def test_redirect_is_not_followed(gw, workers):
    """-7 answers 302 to its own /actuator/health, which answers 200: a call that followed it
    would count as accepted and the session would wait for a callback until its deadline."""
    normal = Normal(gw)
    cid, by_source, summary = _session(gw, "-7,0,0", 20000)
    assert _statuses(by_source) == ("ERROR", "ok", "ok")
    assert (summary["respondents"], summary["errors"], summary["completedBy"]) == \
        (2, 1, "ALL_RESPONDED")
    assert summary["elapsedMs"] < 20000
    normal.check()


def test_huge_answer_is_not_read(stack, gw, workers):
    """-8 answers 200 with 8 MiB: the worker stops at 64 KiB and records ERROR."""
    normal = Normal(gw)
    cid, by_source, summary = _session(gw, "0,-8,0", 20000)
    assert _statuses(by_source) == ("ok", "ERROR", "ok")
    assert summary["completedBy"] == "ALL_RESPONDED"

    def logged():
        for i in range(stack.n_workers):
            with open(stack.log_path("worker-%d" % i), errors="replace") as f:
                for line in f:
                    if cid in line and "response body over 64 KiB" in line:
                        return line
        return None
    wait_until(logged, 10, "the worker's log saying it stopped reading at 64 KiB")
    normal.check()
