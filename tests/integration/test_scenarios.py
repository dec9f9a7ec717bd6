"""The scenario table of the reference system, through both strategies, plus the fault modes
(-2 ERROR, -3 CONNECTION_CLOSED). All sessions of this file run concurrently; each test then
checks its own result."""

import concurrent.futures
import datetime
import json

import pytest

from aggtest import (NOTES_PER_RESPONSE, SOURCES, TIMEOUT_DEFAULT_MS, TIMEOUT_MAX_MS,
                     TOPIC_REQUESTS, SSEStream, check_session_events, post_journals, schemas,
                     start_session)

# delays, timeoutMs, respondents, errors, notes
TABLE = [
    ("1000,2000,3000", 10000, 3, 0, 9),
    ("0,0,0", 10000, 3, 0, 9),
    ("-1,0,0", 10000, 2, 0, 6),
    ("-1,-1,-1", 10000, 0, 0, 0),
    ("1000,2000,15000", 10000, 2, 1, 6),
    ("15000,15000,15000", 10000, 0, 3, 0),
]
# The same shapes with short timeouts, and the fault modes.
EXTRA = [
    ("300,600,4000", 2000, 2, 1, 6),
    ("4000,4000,4000", 2000, 0, 3, 0),
    ("-2,0,0", 10000, 2, 1, 6),
    ("-3,0,0", 10000, 2, 1, 6),
    ("0,-2,-3", 10000, 1, 2, 3),
    ([0, -1, 250], 10000, 2, 0, 6),
    ("0", 10000, 3, 0, 9),
    ("", 10000, 3, 0, 9),
]
ROWS = TABLE + EXTRA
STRATEGIES = ("SSE", "WAIT_FOR_EVERYONE")
CASES = [(s, i) for s in STRATEGIES for i in range(len(ROWS))]


def delay_list(delays):
    if isinstance(delays, list):
        vals = list(delays)
    else:
        vals = [int(x) for x in delays.split(",")] if delays else []
    return vals + [0] * (len(SOURCES) - len(vals))


def expected_status(delay, timeout_ms):
    if delay == -1:
        return "REJECTED"
    if delay == -2:
        return "ERROR"
    if delay == -3:
        return "CONNECTION_CLOSED"
    return "TIMEOUT" if delay >= timeout_ms else "ok"


def case_id(case):
    strategy, i = case
    d = ROWS[i][0]
    return "%s-%s-%d" % ("sse" if strategy == "SSE" else "wait",
                         (d if isinstance(d, str) else "arr" + "_".join(map(str, d))) or "empty",
                         ROWS[i][1])


def run_case(gw, strategy, i):
    delays, timeout_ms = ROWS[i][0], ROWS[i][1]
    patient = "patient-scn-%d" % i
    post_gw, stream_gw = gw[i % len(gw)], gw[(i + 1) % len(gw)]
    if strategy == "SSE":
        r = post_journals(post_gw, {"patientId": patient, "delays": delays,
                                    "timeoutMs": timeout_ms, "strategy": "SSE"})
        assert r.status_code == 202, r.text
        cid = r.json()["correlationId"]
        st = SSEStream(stream_gw, cid, timeout=timeout_ms / 1000 + 30)
        assert st.status == 200, (st.status, st.body)
        st.read_all(timeout_ms / 1000 + 30)
        return {"accepted": r.json(), "cid": cid, "events": st.events, "closed": st.closed}
    r = post_journals(post_gw, {"patientId": patient, "delays": delays, "timeoutMs": timeout_ms,
                                "strategy": "WAIT_FOR_EVERYONE"}, timeout=timeout_ms / 1000 + 30)
    return {"status": r.status_code, "body": r.json()}


@pytest.fixture(scope="module")
def results(gw):
    pool = concurrent.futures.ThreadPoolExecutor(max_workers=len(CASES))
    futs = {case: pool.submit(run_case, gw, *case) for case in CASES}
    yield futs
    pool.shutdown(wait=True)


def parse_date(s):
    return datetime.datetime.fromisoformat(s.replace("Z", "+00:00"))


@pytest.mark.parametrize("case", [c for c in CASES if c[0] == "SSE"], ids=case_id)
def test_sse_scenario(case, results, kafka_tap):
    _, i = case
    delays, timeout_ms, respondents, errors, n_notes = ROWS[i]
    res = results[case].result()
    patient = "patient-scn-%d" % i
    assert res["accepted"]["resources"] == len(SOURCES)
    by_source, summary = check_session_events(res["events"], res["cid"], patient)
    assert res["closed"], "the stream must close after the summary"
    assert sorted(by_source) == list(SOURCES)
    for src, d in zip(SOURCES, delay_list(delays)):
        ev = by_source[src]
        assert ev["status"] == expected_status(d, timeout_ms), (src, d, ev)
        if ev["status"] == "ok":
            assert len(ev["notes"]) == NOTES_PER_RESPONSE, ev
            assert all(n["patientId"] == patient for n in ev["notes"]), ev
            assert ev.get("delayMs", d) == d, ev
        else:
            assert ev["notes"] == [], ev
    assert (summary["respondents"], summary["errors"]) == (respondents, errors), summary
    assert sum(len(e["notes"]) for e in by_source.values()) == n_notes
    want_by = "TIMEOUT" if any(d >= timeout_ms for d in delay_list(delays)) else "ALL_RESPONDED"
    assert summary["completedBy"] == want_by, summary

    # The request message on Kafka: schema, key, and the resources the session expects.
    msgs = kafka_tap.wait_for(TOPIC_REQUESTS, res["cid"])
    assert len(msgs) == 1, "one request message per session, got %d" % len(msgs)
    m = json.loads(msgs[0]["value"])
    schemas().check_kafka(TOPIC_REQUESTS, m)
    assert m["correlationId"] == res["cid"] and m["patientId"] == patient
    assert m["strategy"] == "SSE" and m["timeoutMs"] == timeout_ms
    assert m["deadlineMs"] - m["createdMs"] == timeout_ms
    assert m["principal"] == "anonymous"  # AUTH_MODE=none
    assert [r["source"] for r in m["resources"]] == list(SOURCES)
    assert [r["delayMs"] for r in m["resources"]] == delay_list(delays)


@pytest.mark.parametrize("case", [c for c in CASES if c[0] != "SSE"], ids=case_id)
def test_wait_for_everyone_scenario(case, results):
    _, i = case
    delays, timeout_ms, respondents, errors, n_notes = ROWS[i]
    res = results[case].result()
    patient = "patient-scn-%d" % i
    assert res["status"] == 200, res
    body = res["body"]
    assert body["patientId"] == patient
    assert (body["respondents"], body["errors"]) == (respondents, errors), body
    want_by = "TIMEOUT" if any(d >= timeout_ms for d in delay_list(delays)) else "ALL_RESPONDED"
    assert body["completedBy"] == want_by
    assert len(body["notes"]) == n_notes
    dates = [parse_date(n["date"]) for n in body["notes"]]
    assert dates == sorted(dates, reverse=True), "notes must be newest first"
    assert all(n["patientId"] == patient for n in body["notes"])
    got = {s["source"]: s["status"] for s in body["sources"]}
    assert len(body["sources"]) == len(SOURCES)
    assert got == {src: expected_status(d, timeout_ms)
                   for src, d in zip(SOURCES, delay_list(delays))}, body["sources"]


def test_timeout_capped_and_defaulted(gw, kafka_tap):
    """timeoutMs above AGGREGATOR_TIMEOUT_MAX_MS is capped; a missing one is the default."""
    capped = start_session(gw[0], "0,0,0", timeout_ms=99999)
    default = start_session(gw[1], "0,0,0", timeout_ms=None)
    m1 = json.loads(kafka_tap.wait_for(TOPIC_REQUESTS, capped)[0]["value"])
    m2 = json.loads(kafka_tap.wait_for(TOPIC_REQUESTS, default)[0]["value"])
    assert m1["timeoutMs"] == TIMEOUT_MAX_MS, m1
    assert m1["deadlineMs"] - m1["createdMs"] == TIMEOUT_MAX_MS
    assert m2["timeoutMs"] == TIMEOUT_DEFAULT_MS, m2
    for cid in (capped, default):
        st = SSEStream(gw[0], cid)
        st.read_all(30)
        check_session_events(st.events, cid)
