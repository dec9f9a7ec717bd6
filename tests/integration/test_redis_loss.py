"""Redis restarts and loses its state (issue 11, point 1), on a stack of the test's own with an
AOF Redis (appendfsync everysec): a restart under load completes every session in flight; a
Redis back empty ends every open stream within its deadline plus 1 s with an aborted event,
answers WAIT_FOR_EVERYONE 503 at once, and takes new sessions within 1 s."""

import os
import sys
import threading
import time

import pytest
import requests

import aggtest
from aggtest import wait_until
from eventsource import Gateways, SteadyLoad
from privateproc import private_topics

sys.path.insert(0, os.path.join(aggtest.REPO, "demo"))
import stack as stackmod  # noqa: E402


# They kill Redis servers (of their own stacks) and take minutes: run with the destructive tests,
# after test_zy_leaks, whose baselines a long pause would change (idle keep-alive pools expire).
pytestmark = pytest.mark.destructive


@pytest.fixture(scope="module")
def aof(stack):
    """1 gateway and 1 worker on an AOF Redis of their own, on the shared broker (private
    topics, so that the shared stack's workers never see these sessions)."""
    s = stackmod.Stack(build_dir=stack.build_dir, kafka=stack.kafka_brokers, gateways=1,
                       workers=1, free_ports=True, redis="aof", ready_timeout=90.0,
                       env=private_topics(stack.kafka_brokers), run_dir=os.path.join(
                           stack.run_dir, "redis-loss"))
    try:
        s.start()
    except stackmod.StackError as e:
        pytest.fail("the AOF stack did not start: %s" % e, pytrace=False)
    try:
        # The worker owns its partitions once a first session completes.
        wait_until(lambda: _completes(s.gateway_url(0)), 90, "a first session on the AOF stack",
                   interval=0.5)
        yield s
    finally:
        s.stop()


def _completes(base):
    try:
        cid = aggtest.start_session(base, "0,0,0", timeout_ms=5000)
    except AssertionError:
        return False
    st = aggtest.read_stream(base, cid, timeout=10)
    return bool(st.events) and st.events[-1].event == "summary"




def test_aof_restart_under_load_completes_every_session(aof):
    gws = Gateways([aof.gateway_url(0)])
    load = SteadyLoad(gws, 10, "300,600,900", timeout_ms=10000, stream_budget_s=60)
    load.start()
    try:
        wait_until(lambda: len(load.streams) >= 20, 30, "sessions in flight before the restart")
        aof.restart("redis")  # SIGTERM: the AOF is flushed; the same data dir comes back
        wait_until(lambda: aggtest.is_ready(aof.gateway_url(0)) and aggtest.is_ready(aof.worker_url(0)), 10,
                   "gateway and worker ready again after the Redis restart")
        n = len(load.streams)
        wait_until(lambda: len(load.streams) >= n + 20, 30, "sessions after the restart")
    finally:
        load.stop()
    alive = load.wait_streams(60)
    assert not alive, "%d streams still open" % len(alive)
    failed = [(s.cid, s.error) for s in load.streams if s.error]
    assert not failed, failed[:3]
    not_done = [(s.cid, s.events[-1:]) for s in load.streams
                if not (s.events and s.events[-1].event == "summary")]
    assert not not_done, "%d of %d sessions without a summary: %r" % (
        len(not_done), len(load.streams), not_done[:3])
    for s in load.streams:
        aggtest.check_session_events([e for e in s.events], s.cid)
    print("AOF restart under load: %d sessions, all complete (%d starts retried after a 503)"
          % (len(load.streams), load.retried_starts))


class Waiter(threading.Thread):
    """One WAIT_FOR_EVERYONE request: its status, headers and when it was answered."""

    def __init__(self, base, body):
        super().__init__(daemon=True)
        self.base, self.body = base, body
        self.resp, self.at = None, None

    def run(self):
        self.resp = requests.post(self.base + "/aggregate/journals", json=self.body, timeout=60)
        self.at = time.monotonic()


class Reader(threading.Thread):
    """One stream read to its end: the events and when it ended."""

    def __init__(self, base, cid, timeout):
        super().__init__(daemon=True)
        self.base, self.cid, self.timeout = base, cid, timeout
        self.events, self.ended, self.error = [], None, None

    def run(self):
        try:
            st = aggtest.SSEStream(self.base, self.cid, timeout=self.timeout)
            assert st.status == 200, st.status
            self.events = st.read_all(self.timeout)
            self.ended = time.monotonic()
        except Exception as e:  # reported by the test
            self.error = e


def _open_streams(base, n, timeout_ms, delays):
    """n sessions whose resources answer after delays; (cid, deadline as monotonic, Reader)."""
    out = []
    for _ in range(n):
        t0 = time.monotonic()
        cid = aggtest.start_session(base, delays, timeout_ms=timeout_ms)
        r = Reader(base, cid, timeout_ms / 1000 + 30)
        r.start()
        out.append((cid, t0 + timeout_ms / 1000, r))
    # Every stream subscribed (its listener registered) before Redis goes.
    wait_until(lambda: aggtest.metric(base, "gateway_session_listeners") >= n, 10,
               "every stream listening")
    return out


def _assert_aborted_lost(streams, slack_s=1.0):
    for cid, deadline, r in streams:
        r.join(60)
        assert r.error is None, (cid, r.error)
        assert r.ended is not None, "stream of %s did not end" % cid
        assert r.events and r.events[-1].event == "aborted", (cid, r.events)
        last = r.events[-1]
        assert last.id is None and last.json["reason"] == "session-lost", last
        assert last.json["correlationId"] == cid
        aggtest.schemas().check_event(last)
        assert r.ended <= deadline + slack_s, "stream of %s ended %.2f s after its deadline" % (
            cid, r.ended - deadline)


def test_redis_back_empty_ends_streams_refuses_waits_and_takes_new_sessions(aof):
    base = aof.gateway_url(0)
    # Resources that answer long after the deadline: only the deadline could end these.
    timeout_ms = 6000
    streams = _open_streams(base, 8, timeout_ms, "20000,20000,20000")
    waiters = [Waiter(base, {"patientId": "p-wait", "delays": "20000,20000,20000",
                             "timeoutMs": timeout_ms, "strategy": "WAIT_FOR_EVERYONE"})
               for _ in range(2)]
    for w in waiters:
        w.start()
    wait_until(lambda: aggtest.metric(base, "gateway_session_listeners") >= len(streams) + 2, 10,
               "the waits listening")
    aborted0 = aggtest.metric(base, "gateway_streams_aborted_total") or 0

    aof.restart_redis_empty("redis")
    back = time.monotonic()
    # New sessions work within 1 s of Redis being back.
    first_ok = None
    while time.monotonic() < back + 10:
        r = requests.post(base + "/aggregate/journals", json={
            "patientId": "p-new", "delays": "0,0,0", "timeoutMs": 5000}, timeout=5)
        if r.status_code == 202:
            first_ok = time.monotonic()
            new_cid = r.json()["correlationId"]
            break
        assert r.status_code == 503 and r.headers.get("Retry-After"), (r.status_code, r.text)
        time.sleep(0.02)
    assert first_ok is not None, "no new session accepted within 10 s of Redis being back"
    took = first_ok - back
    print("Redis back empty: first new session accepted %.0f ms after Redis answered PING"
          % (took * 1000))
    assert took <= 1.0, "a new session took %.2f s after Redis was back" % took
    done = aggtest.read_stream(base, new_cid, timeout=20)
    assert done.events and done.events[-1].event == "summary", done.events

    _assert_aborted_lost(streams)
    for w in waiters:
        w.join(30)
        assert w.resp is not None, "a WAIT_FOR_EVERYONE request got no answer"
        assert w.resp.status_code == 503, (w.resp.status_code, w.resp.text[:200])
        assert w.resp.headers.get("Retry-After"), w.resp.headers
        aggtest.check_error_body(w.resp)
        # Answered at once, not after the deadline and WAIT_GRACE_MS.
        assert w.at <= back + 2.0, "WAIT_FOR_EVERYONE answered %.2f s after Redis was back" % (
            w.at - back)
    assert (aggtest.metric(base, "gateway_streams_aborted_total") or 0) >= aborted0 + len(streams)


def test_state_lost_without_a_reconnect_ends_streams_at_the_deadline(aof):
    """FLUSHALL: Redis stays up but forgets every session, so no reconnect tells the gateway;
    its own check after the deadline does."""
    base = aof.gateway_url(0)
    timeout_ms = 2500
    streams = _open_streams(base, 4, timeout_ms, "20000,20000,20000")
    aggtest.Redis(aof.redis_url).cmd("FLUSHALL")
    _assert_aborted_lost(streams)
    for cid, deadline, r in streams:
        assert r.ended >= deadline - 0.05, "stream of %s ended before its deadline" % cid
