"""Exact metric values: scrape every component, run a known workload (resource-1 answers,
resource-2 refuses with 401, resource-3 takes the call and answers after the session's
timeout), wait until it is over, scrape again and compare the deltas with what the workload
must have done. And a request to a random path creates no series."""

import uuid

import pytest
import requests

from aggtest import (SOURCES, TOPIC_CALLBACKS, TOPIC_REQUESTS, SSEStream, metrics, start_session,
                     wait_until)

N = 3                # sessions of the workload
TIMEOUT_MS = 1500    # each session's timeout; resource-3 answers after 5 s
DELAYS = "0,-1,5000"
QUIET_S = 60         # sessions of earlier tests still open end within their timeout


def _resources(stack):
    return [stack.resource_url(i) for i in range(stack.n_resources)]


def _open_sessions(redis):
    return sum(int(redis.cmd("ZCARD", "agg:{b%02d}:deadlines" % b)) for b in range(16))


def _quiet(redis, workers):
    """No session open anywhere and nothing in flight in the workers."""
    if _open_sessions(redis) != 0:
        return False
    return all(sum(v for (n, _), v in metrics(w).items()
                   if n in ("worker_inflight_messages", "worker_inflight_http")) == 0
               for w in workers)


def _scrape(bases):
    return [metrics(b) for b in bases]


def _served(base):
    """metrics(base), or None when base serves no /actuator/prometheus (a test then fails)."""
    if requests.get(base + "/actuator/prometheus", timeout=10).status_code == 404:
        return None
    return metrics(base)


def _delta(before, after, name, **labels):
    """The change of the sum of name's samples whose labels include labels, over components."""
    want = set(labels.items())

    def total(scrapes):
        return sum(v for s in scrapes for (n, ls), v in s.items() if n == name and want <= set(ls))
    return total(after) - total(before)


@pytest.fixture(scope="module")
def workload(stack, gw, workers, redis):
    wait_until(lambda: _quiet(redis, workers), QUIET_S, "no open session before the workload")
    gws, res = list(gw), _resources(stack)
    before = (_scrape(gws), _scrape(workers), [_served(r) for r in res])
    streams = []
    for i in range(N):
        cid = start_session(gws[i % len(gws)], DELAYS, timeout_ms=TIMEOUT_MS,
                            patient="patient-exact-%d" % i)
        streams.append(SSEStream(gws[i % len(gws)], cid, timeout=30))
    for st in streams:
        st.read_all(30)
        assert st.events and st.events[-1].event == "summary", [e.event for e in st.events]
    # Every summary is out; resource-3's answers come 5 s after the calls, to sessions over
    # (refused as finished): the workload is over once the gateways took them and nothing is
    # in flight.
    wait_until(lambda: _delta(before[0], _scrape(gws), "gateway_callbacks_accepted_total") >= 2 * N,
               30, "resource-3's late answers")
    wait_until(lambda: _quiet(redis, workers), 30, "the workload's messages to be handled")
    # Each session's two audit records reach the audit topic a poll after they are written.
    wait_until(lambda: _delta(before[1], _scrape(workers), "audit_records_published_total")
               >= 2 * N, 30, "the workload's audit records to be published")
    after = (_scrape(gws), _scrape(workers), [_served(r) for r in res])
    return before, after, streams


def test_sessions_and_events_are_counted_exactly(workload):
    (gb, wb, _), (ga, wa, _), streams = workload
    assert _delta(gb, ga, "aggregator_sessions_started_total", strategy="SSE") == N
    assert _delta(gb, ga, "sse_events_sent_total") == sum(len(st.events) for st in streams) == 4 * N
    assert _delta(wb, wa, "aggregator_sessions_completed_total", completed_by="TIMEOUT") == N
    assert _delta(wb, wa, "aggregator_sessions_completed_total", completed_by="ALL_RESPONDED") == 0
    assert _delta(wb, wa, "aggregator_timeouts_total") == N
    assert _delta(wb, wa, "aggregator_session_duration_seconds_count") == N
    assert _delta(wb, wa, "aggregator_session_duration_seconds_bucket", le="+Inf") == N


def test_outcomes_and_calls_by_source(workload):
    (_, wb, _), (_, wa, _), _ = workload
    r1, r2, r3 = SOURCES
    want = {(r1, "ok"): N, (r2, "REJECTED"): N, (r3, "TIMEOUT"): N}
    for source in SOURCES:
        for status in ("ok", "REJECTED", "TIMEOUT", "CONNECTION_CLOSED", "ERROR"):
            got = _delta(wb, wa, "aggregator_outcomes_total", source=source, status=status)
            assert got == want.get((source, status), 0), (source, status, got)
    # The call's own end: resource-1 and resource-3 took it (2xx, the answer comes by
    # callback), resource-2 refused it.
    calls = {(r1, "ACCEPTED"): N, (r2, "REJECTED"): N, (r3, "ACCEPTED"): N}
    for (source, outcome), n in calls.items():
        assert _delta(wb, wa, "resource_call_seconds_count", source=source, outcome=outcome) == n
    assert _delta(wb, wa, "resource_call_seconds_count") == 3 * N
    assert _delta(wb, wa, "resource_call_seconds_bucket", le="+Inf") == 3 * N


def test_kafka_and_redis_measurements(workload):
    (gb, wb, _), (ga, wa, _), _ = workload
    # One fan-out message per session, two answers (resource-1's, resource-3's late one)
    # through the gateway.
    assert _delta(gb, ga, "kafka_produce_seconds_count", topic=TOPIC_REQUESTS) == N
    assert _delta(gb, ga, "kafka_produce_seconds_count", topic=TOPIC_CALLBACKS) == 2 * N
    assert _delta(wb, wa, "kafka_consume_delay_seconds_count", topic=TOPIC_REQUESTS) == N
    assert _delta(wb, wa, "kafka_consume_delay_seconds_count", topic=TOPIC_CALLBACKS) == 2 * N
    assert _delta(gb, ga, "redis_command_seconds_count", command="session_open") == N
    assert _delta(wb, wa, "redis_command_seconds_count", command="session_claim") == N
    # resource-1's answer, resource-2's refusal, resource-3's late answer (refused: the
    # session is finished); a Redis that failed would add retries.
    assert _delta(wb, wa, "redis_command_seconds_count", command="session_record") == 3 * N
    assert _delta(wb, wa, "callbacks_dropped_total", reason="finished") == N
    assert _delta(wb, wa, "callbacks_dropped_total") == N
    # Two workers may both expire a session (the second one finds it gone).
    assert _delta(wb, wa, "redis_command_seconds_count", command="session_expire") >= N
    # A requested and a completed audit record per session, each acknowledged once. A session
    # of an earlier test may complete (at its deadline) within the window and add its record:
    # at least 2 per session, and every record published is acknowledged.
    published = _delta(wb, wa, "audit_records_published_total")
    assert published >= 2 * N, published
    assert _delta(wb, wa, "audit_publish_failures_total") == 0
    assert _delta(wb, wa, "redis_command_seconds_count", command="audit_ack") == published


def test_gauges_after_the_workload(workload, workers):
    _, (_, wa, _), _ = workload
    for w, scrape in zip(workers, wa):
        for source in SOURCES:
            states = {dict(ls)["state"]: v for (n, ls), v in scrape.items()
                      if n == "resource_circuit_state" and dict(ls).get("source") == source}
            assert sorted(states) == ["closed", "half_open", "open"], (w, source, states)
            assert sum(states.values()) == 1, (w, source, states)
        # Every message is handled and its offset committed: no lag once statistics say so.
        wait_until(lambda: all(v == 0 for (n, _), v in metrics(w).items()
                               if n == "kafka_consumer_lag"), 30, "the lag of %s to be 0" % w)
        assert {dict(ls)["topic"] for (n, ls) in scrape if n == "kafka_consumer_lag"} == \
            {TOPIC_REQUESTS, TOPIC_CALLBACKS}


def test_resources_count_their_requests(workload):
    (_, _, rb), (_, _, ra), _ = workload
    assert None not in ra, "a resource serves no /actuator/prometheus"
    for before, after in zip(rb, ra):
        assert _delta([before], [after], "http_server_requests_seconds_count", uri="/journals",
                      method="POST") == N


def test_a_random_path_creates_no_series(stack, gw, workers):
    bases = list(gw) + list(workers) + [r for r in _resources(stack) if _served(r) is not None]

    def hit_random():
        for b in bases:
            requests.get("%s/x/%s" % (b, uuid.uuid4()), timeout=10)

    hit_random()  # the first 404 may create its NOT_FOUND series
    keys = [set(k for k in metrics(b) if not k[0].startswith("process_")) for b in bases]
    hit_random()
    after = [metrics(b) for b in bases]
    for b, k, a in zip(bases, keys, after):
        new = set(x for x in a if not x[0].startswith("process_")) - k
        assert not new, (b, new)
        assert not any("/x/" in v for (_, ls) in a for _, v in ls), b
