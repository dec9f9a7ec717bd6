"""The same callback delivered more than once (twice over HTTP, or re-produced straight to the
callbacks topic) is counted once and shown once."""

import json

from aggtest import (SOURCES, TOPIC_CALLBACKS, SSEStream, check_session_events, make_callback,
                     metric_sum, post_callback, produce, read_stream, session_done, session_key,
                     sign_capability, start_session, wait_until)


def _recorded(redis, cid, n):
    wait_until(lambda: int(redis.cmd("HLEN", session_key(cid, "out"))) == n, 30,
               "%d outcome(s) recorded for %s" % (n, cid))


def _dropped(workers, reason):
    return metric_sum(workers, "callbacks_dropped_total", reason=reason)


def test_same_callback_posted_twice_is_counted_once(gw, workers, redis, kafka_tap):
    before = _dropped(workers, "duplicate")
    cid = start_session(gw[0], "0,30000,30000", timeout_ms=20000)
    _recorded(redis, cid, 1)
    cb = make_callback(cid, "resource-2", n_notes=2)
    assert post_callback(gw[0], cb).status_code == 202
    assert post_callback(gw[1], cb).status_code == 202
    # The session is still open (resource-3 outstanding), so the second one is a duplicate.
    wait_until(lambda: _dropped(workers, "duplicate") >= before + 1, 20,
               "the second delivery dropped as a duplicate")
    meta = redis.hgetall(session_key(cid, "meta"))
    assert (meta["respondents"], meta["seq"], meta["state"]) == ("2", "2", "open"), meta
    assert post_callback(gw[1], make_callback(cid, "resource-3", n_notes=1)).status_code == 202
    st = read_stream(gw[1], cid)
    by_source, summary = check_session_events(st.events, cid)
    assert sorted(by_source) == list(SOURCES) and len(st.events) == 4
    assert len(by_source["resource-2"]["notes"]) == 2
    assert (summary["respondents"], summary["errors"]) == (3, 0)
    msgs = [m for m in kafka_tap.wait_for(TOPIC_CALLBACKS, cid, n=4)
            if json.loads(m["value"])["source"] == "resource-2"]
    assert len(msgs) == 2, "both deliveries reach Kafka"


def test_raw_duplicate_on_kafka_is_counted_once(stack, gw, workers, redis):
    before = _dropped(workers, "duplicate")
    cid = start_session(gw[1], "0,30000,30000", timeout_ms=20000)
    _recorded(redis, cid, 1)
    cb = make_callback(cid, "resource-2", n_notes=1)
    value = json.dumps(cb).encode()
    produce(stack.kafka_brokers, TOPIC_CALLBACKS, [value, value], key=cid.encode(),
            capability=sign_capability(cid, "resource-2"))
    assert post_callback(gw[0], cb).status_code == 202
    wait_until(lambda: _dropped(workers, "duplicate") >= before + 2, 20,
               "two of the three deliveries dropped as duplicates")
    assert int(redis.cmd("HLEN", session_key(cid, "out"))) == 2
    assert post_callback(gw[0], make_callback(cid, "resource-3")).status_code == 202
    wait_until(lambda: session_done(redis, cid), 30, "session done")
    st = SSEStream(gw[0], cid)
    st.read_all(30)
    by_source, summary = check_session_events(st.events, cid)
    assert [e.json["source"] for e in st.events if e.event == "callback"].count("resource-2") == 1
    assert summary["respondents"] == 3


def test_callback_after_the_summary_is_dropped(gw, workers, redis):
    cid = start_session(gw[0], "0,0,0")
    wait_until(lambda: session_done(redis, cid), 30, "session done")
    before = _dropped(workers, "finished")
    log_len = int(redis.cmd("XLEN", session_key(cid, "log")))
    assert post_callback(gw[1], make_callback(cid, "resource-1")).status_code == 202
    wait_until(lambda: _dropped(workers, "finished") >= before + 1, 20,
               "late callback dropped as finished")
    assert int(redis.cmd("XLEN", session_key(cid, "log"))) == log_len
