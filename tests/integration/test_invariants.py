"""One test per invariant of the design brief, each written so that it fails without it."""

import concurrent.futures
import json
import signal
import socket
import time

import pytest

from aggtest import (SOURCES, TIMEOUT_MAX_MS, TOPIC_CALLBACKS, TOPIC_REQUESTS,
                     SSEStream, check_session_events,
                     deadlines_key, make_callback, metric, metric_sum, post_callback, post_journals,
                     produce, read_stream, session_done, session_key, sign_capability,
                     start_session, wait_until)


def _hop_reader(gw, cid, k0):
    """Reads one event per connection, alternating gateways, resuming with Last-Event-ID (and
    sometimes ?lastEventId), with empty connect/disconnects in between."""
    got, last, k = [], None, k0
    deadline = time.monotonic() + 40
    while True:
        assert time.monotonic() < deadline, "no summary; got %r" % got
        base = gw[k % len(gw)]
        if k % 3 == 2:
            SSEStream(base, cid, last_event_id=last).close()  # connect and go away at once
        if k % 2:
            st = SSEStream(base, cid, query_last_id=last)
        else:
            st = SSEStream(base, cid, last_event_id=last)
        assert st.status == 200, (st.status, st.json)
        ev = st.next_event(deadline)
        st.close()
        k += 1
        if ev is None:
            break  # closed: nothing after last
        got.append(ev)
        last = ev.id
        if ev.event == "summary":
            break
    return got


def test_1_no_event_lost_across_replica_hops_and_reconnects(gw):
    delays = ["0,300,600", "200,200,200", "0,0,900", "500,0,250", "100,700,400", "0,0,0"]
    cids = [start_session(gw[i % 2], d) for i, d in enumerate(delays)]
    with concurrent.futures.ThreadPoolExecutor(len(cids)) as pool:
        futs = [pool.submit(_hop_reader, gw, cid, i) for i, cid in enumerate(cids)]
        for cid, f in zip(cids, futs):
            events = f.result()
            by_source, summary = check_session_events(events, cid)
            assert sorted(by_source) == list(SOURCES) and summary["respondents"] == 3


def test_2_duplicates_counted_once_under_racing_redelivery(stack, gw, redis):
    cid = start_session(gw[0], "30000,30000,30000", timeout_ms=TIMEOUT_MAX_MS)
    deliveries = []
    for src in SOURCES:
        cb = make_callback(cid, src, n_notes=2)
        deliveries += [("http", gw[0], cb), ("http", gw[1], cb), ("http", gw[0], cb),
                       ("http", gw[1], cb), ("kafka", None, cb), ("kafka", None, cb)]

    def deliver(d):
        kind, base, cb = d
        if kind == "http":
            assert post_callback(base, cb).status_code == 202
        else:
            produce(stack.kafka_brokers, TOPIC_CALLBACKS, json.dumps(cb).encode(),
                    key=cid.encode(), capability=sign_capability(cid, cb["source"]))
    with concurrent.futures.ThreadPoolExecutor(len(deliveries)) as pool:
        list(pool.map(deliver, deliveries))
    st = read_stream(gw[1], cid)
    by_source, summary = check_session_events(st.events, cid)
    assert len(st.events) == 4, st.events
    assert (summary["respondents"], summary["errors"], summary["completedBy"]) == \
        (3, 0, "ALL_RESPONDED")
    meta = redis.hgetall(session_key(cid, "meta"))
    assert (meta["respondents"], meta["errors"], meta["seq"]) == ("3", "0", "4")


def test_3_exactly_one_summary_with_many_workers_and_a_racing_deadline(gw, redis):
    n = 30
    cids = [start_session(gw[i % 2], "1000,1000,1000", timeout_ms=1000) for i in range(n)]

    def read(i):
        return read_stream(gw[(i + 1) % 2], cids[i], timeout=30).events
    with concurrent.futures.ThreadPoolExecutor(n) as pool:
        results = list(pool.map(read, range(n)))
    for cid, events in zip(cids, results):
        by_source, summary = check_session_events(events, cid)
        assert sorted(by_source) == list(SOURCES)
        statuses = [e["status"] for e in by_source.values()]
        assert summary["respondents"] + summary["errors"] + statuses.count("REJECTED") == 3
        log = redis.session_log(cid)
        assert [e for _, e, _ in log].count("summary") == 1, log
        assert len(log) == 4


def test_5_gateways_are_interchangeable(gw, redis):
    # POST on gateway 1, stream on gateway 0; resources call back through gateway 0.
    cid = start_session(gw[1], "0,200,400")
    by_source, summary = check_session_events(read_stream(gw[0], cid).events, cid)
    assert summary["respondents"] == 3
    # POST on gateway 0, a callback through gateway 1, stream on gateway 1.
    cid = start_session(gw[0], "0,0,30000", timeout_ms=20000)
    wait_until(lambda: int(redis.cmd("HLEN", session_key(cid, "out"))) == 2, 30, "two recorded")
    assert post_callback(gw[1], make_callback(cid, "resource-3")).status_code == 202
    by_source, summary = check_session_events(read_stream(gw[1], cid).events, cid)
    assert summary["respondents"] == 3 and summary["completedBy"] == "ALL_RESPONDED"
    # WAIT_FOR_EVERYONE on gateway 1.
    r = post_journals(gw[1], {"patientId": "p-wfe", "delays": "0,0,0",
                              "strategy": "WAIT_FOR_EVERYONE"})
    assert r.status_code == 200 and r.json()["respondents"] == 3


def test_6_every_session_key_has_a_ttl(gw, redis):
    cid = start_session(gw[0], "0,0,0")
    wait_until(lambda: session_done(redis, cid), 30, "session done")
    for suffix in ("meta", "out", "log"):
        ttl = redis.cmd("TTL", session_key(cid, suffix))
        assert 0 < ttl <= 3600, "%s TTL %s" % (session_key(cid, suffix), ttl)
    assert redis.cmd("ZSCORE", deadlines_key(cid), cid) is None
    # Every key of every session written so far (open ones included) has a TTL.
    cursor, keys = "0", []
    while True:
        cursor, batch = redis.cmd("SCAN", cursor, "MATCH", "agg:{*", "COUNT", 1000)
        keys += batch
        if cursor == "0":
            break
    assert keys
    # The audit outboxes (agg:{bNN}:audit) have none on purpose: a record not yet published
    # must not expire. They empty as the workers publish (test_zy_leaks checks that).
    no_ttl = [k for k in keys if redis.cmd("TTL", k) == -1 and not k.endswith("}:audit")]
    assert no_ttl == [], "keys without TTL: %r" % no_ttl[:10]


def test_6_abandoned_streams_are_freed(gw, redis):
    base = gw[0]
    baseline = metric(base, "sse_active_connections")
    assert baseline is not None, "gateway metric sse_active_connections missing"
    cid = start_session(gw[1], "20000,20000,20000", timeout_ms=25000)
    streams = [SSEStream(base, cid) for _ in range(5)]
    assert all(s.status == 200 for s in streams)
    wait_until(lambda: metric(base, "sse_active_connections") >= baseline + 5, 10,
               "5 more active streams")
    for s in streams:  # go away without a word
        s.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
        s.close()
    wait_until(lambda: metric(base, "sse_active_connections") <= baseline, 15,
               "abandoned streams freed (sse_active_connections back to %s)" % baseline)
    # The session itself is unharmed: a new client still gets its stream.
    st = SSEStream(base, cid)
    assert st.status == 200
    st.close()


def test_7_bad_input_never_corrupts_a_session(stack, gw, workers, redis):
    drops = {r: metric_sum(workers, "callbacks_dropped_total", reason=r)
             for r in ("patient-mismatch", "unknown-source")}
    bad_before = metric_sum(workers, "worker_bad_messages_total", topic=TOPIC_CALLBACKS)
    patient = "patient-inv7"
    cid = start_session(gw[0], "0,0,2500", timeout_ms=15000, patient=patient)
    wait_until(lambda: int(redis.cmd("HLEN", session_key(cid, "out"))) == 2, 30, "two recorded")
    malformed = make_callback(cid, "resource-3", patient=patient)
    malformed["notes"] = "not a list"
    r = post_callback(gw[0], malformed)
    assert r.status_code == 400 and r.json().get("field") == "notes", r.text
    wrong_patient = make_callback(cid, "resource-3", patient="someone-else", n_notes=5)
    assert post_callback(gw[1], wrong_patient).status_code == 202
    unknown_source = make_callback(cid, "resource-9", patient=patient)
    assert post_callback(gw[0], unknown_source).status_code == 202
    produce(stack.kafka_brokers, TOPIC_CALLBACKS, [b"\x00\xffgarbage", b'{"source":1}'],
            key=cid.encode())
    wait_until(lambda: all(metric_sum(workers, "callbacks_dropped_total", reason=r) >=
                           drops[r] + 1 for r in drops), 20, "forged callbacks dropped")
    wait_until(lambda: metric_sum(workers, "worker_bad_messages_total", topic=TOPIC_CALLBACKS) >=
               bad_before + 2, 20, "garbage counted as bad messages")
    st = read_stream(gw[1], cid)
    by_source, summary = check_session_events(st.events, cid, patient)
    ev = by_source["resource-3"]
    assert ev["status"] == "ok" and len(ev["notes"]) == 3, ev   # the real resource's callback
    assert (summary["respondents"], summary["errors"]) == (3, 0)


@pytest.mark.destructive
def test_4_deadline_fires_although_every_worker_died(stack, gw, workers, redis):
    cid = start_session(gw[0], "0,0,60000", timeout_ms=4000)
    wait_until(lambda: int(redis.cmd("HLEN", session_key(cid, "out"))) == 2, 30, "fan-out done")
    for i in range(stack.n_workers):
        stack.kill("worker-%d" % i, signal.SIGKILL)
    for i in range(stack.n_workers):
        assert stack.wait_exit("worker-%d" % i, 10) is not None
    deadline_ms = int(redis.hgetall(session_key(cid, "meta"))["deadline"])
    wait_until(lambda: time.time() * 1000 > deadline_ms + 300, 10, "the deadline to pass")
    assert not session_done(redis, cid), "no worker is alive to fire the deadline"
    stack.restart("worker-1")  # a fresh worker, not the one that started the session
    st = read_stream(gw[1], cid, timeout=30)
    by_source, summary = check_session_events(st.events, cid)
    assert by_source["resource-3"]["status"] == "TIMEOUT"
    assert (summary["respondents"], summary["errors"], summary["completedBy"]) == \
        (2, 1, "TIMEOUT")
    stack.restart("worker-0")
    # The system recovers: the restarted workers consume requests again once the group has
    # rebalanced (the killed members leave it only at their session timeout).
    start_session(gw[1], "0,0,0", timeout_ms=TIMEOUT_MAX_MS)
    wait_until(lambda: metric_sum(workers, "worker_messages_total", topic=TOPIC_REQUESTS) >= 1, 120,
               "a restarted worker consuming requests")
