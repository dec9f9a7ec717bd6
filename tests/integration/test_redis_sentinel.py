"""Redis high availability through Sentinel (issue 11, point 2): a primary, a replica and three
sentinels (Debian's redis-server and redis-sentinel), 2 gateways and 2 workers configured
through REDIS_SENTINELS; kill -9 the primary under a steady load. Every process follows the
new primary within 5 s of the sentinels naming it, readiness is DOWN in between,
subscriptions come back, and every session in flight completes or ends with an aborted
event; none hangs."""

import os
import re
import sys
import threading
import time

import pytest
import requests

import aggtest
from aggtest import wait_until
from eventsource import Gateways, SteadyLoad
from privateproc import PrivateProc, private_topics

sys.path.insert(0, os.path.join(aggtest.REPO, "demo"))
import stack as stackmod  # noqa: E402

FOLLOW_BOUND_S = 5.0  # the bound: from the new primary named to every process on it


# They kill Redis servers (of their own stacks) and take minutes: run with the destructive tests,
# after test_zy_leaks, whose baselines a long pause would change (idle keep-alive pools expire).
pytestmark = pytest.mark.destructive


@pytest.fixture(scope="module")
def ha(stack):
    s = stackmod.Stack(build_dir=stack.build_dir, kafka=stack.kafka_brokers, gateways=2,
                       workers=2, free_ports=True, redis="sentinel", ready_timeout=120.0,
                       env=private_topics(stack.kafka_brokers), run_dir=os.path.join(
                           stack.run_dir, "redis-sentinel"))
    try:
        s.start()
    except stackmod.StackError as e:
        pytest.fail("the Sentinel stack did not start: %s" % e, pytrace=False)
    try:
        def completes():
            try:
                cid = aggtest.start_session(s.gateway_url(0), "0,0,0", timeout_ms=5000)
            except AssertionError:
                return False
            st = aggtest.read_stream(s.gateway_url(1), cid, timeout=10)
            return bool(st.events) and st.events[-1].event == "summary"
        wait_until(completes, 90, "a first session on the Sentinel stack", interval=0.5)
        yield s
    finally:
        s.stop()


def _status(url):
    try:
        return requests.get(url + "/actuator/health/readiness", timeout=1).status_code
    except requests.RequestException:
        return None


class ReadinessWatch(threading.Thread):
    """Polls each process's readiness; keeps (time, status) per URL."""

    def __init__(self, urls):
        super().__init__(daemon=True)
        self.seen = {u: [] for u in urls}
        self._halt = threading.Event()

    def run(self):
        while not self._halt.is_set():
            for u, hist in self.seen.items():
                hist.append((time.monotonic(), _status(u)))
            self._halt.wait(0.05)

    def stop(self):
        self._halt.set()
        self.join(10)

    def down_then_up(self, u, after):
        """(first DOWN time, first UP time after it) since after, or None."""
        down = next((t for t, s in self.seen[u] if t >= after and s != 200), None)
        if down is None:
            return None
        up = next((t for t, s in self.seen[u] if t > down and s == 200), None)
        return down, up


CONNECTED = re.compile(r'"ts":"([^"]+)".*"msg":"(redis(?:-sub)?) 127\.0\.0\.1:(\d+): connected')


def _connected_to(log_path, port):
    """The connections ("redis", "redis-sub") that log says are up on port, last state wins."""
    state = {}
    with open(log_path, errors="replace") as f:
        for line in f:
            m = CONNECTED.search(line)
            if m:
                state[m.group(2)] = int(m.group(3))
    return {k for k, v in state.items() if v == port}


def test_kill9_primary_fails_over_and_every_process_follows(ha):
    gws = Gateways([ha.gateway_url(0), ha.gateway_url(1)])
    procs = ["gateway-0", "gateway-1", "worker-0", "worker-1"]
    urls = [ha.gateway_url(0), ha.gateway_url(1), ha.worker_url(0), ha.worker_url(1)]
    # Sessions that outlive the failover: their answers come after it, so their streams get
    # them only if the subscriptions came back on the new primary.
    long_lived = []
    for i in range(6):
        cid = aggtest.start_session(gws.pick(), "6000,6500,7000", timeout_ms=20000)
        st = aggtest.SSEStream(ha.gateway_url(i % 2), cid, timeout=60)
        assert st.status == 200
        long_lived.append((cid, st))
    load = SteadyLoad(gws, 8, "200,400,600", timeout_ms=8000, stream_budget_s=60)
    load.start()
    watch = ReadinessWatch(urls)
    watch.start()
    try:
        wait_until(lambda: len(load.streams) >= 10, 30, "sessions in flight before the kill")
        old_name, old = ha.kill_redis_primary()
        killed = time.monotonic()
        new = ha.wait_redis_failover(old, timeout=30)
        named = time.monotonic()

        def followed():
            return all(_status(u) == 200 for u in urls) and all(
                _connected_to(ha.log_path(p), new[1]) >= ({"redis", "redis-sub"}
                                                          if p.startswith("gateway")
                                                          else {"redis"})
                for p in procs)
        wait_until(followed, 30, "every gateway and worker on the new primary and ready",
                   interval=0.05)
        on_new = time.monotonic()
        n = len(load.streams)
        wait_until(lambda: len(load.streams) >= n + 10, 30, "sessions after the failover")
    finally:
        load.stop()
        watch.stop()
    print("Sentinel failover: primary %s %s:%d killed -9; sentinels named %s:%d after %.2f s; "
          "every gateway and worker ready on it %.2f s later (%.2f s after the kill)"
          % (old_name, old[0], old[1], new[0], new[1], named - killed, on_new - named,
             on_new - killed))
    assert on_new - named <= FOLLOW_BOUND_S, "processes followed the new primary in %.2f s" % (
        on_new - named)
    for u in urls:
        w = watch.down_then_up(u, killed)
        assert w is not None and w[1] is not None, "readiness of %s never DOWN then UP" % u
        assert w[0] - killed < 2.0, "readiness of %s went DOWN %.2f s after the kill" % (
            u, w[0] - killed)

    # Subscriptions came back: the long-lived sessions' answers, recorded on the new primary,
    # reach the streams opened before the kill.
    for cid, st in long_lived:
        events = st.read_all(40)
        assert events and events[-1].event in ("summary", "aborted"), (cid, events)
        if events[-1].event == "summary":
            aggtest.check_session_events(events, cid)
    complete = sum(1 for _, st in long_lived if st.events[-1].event == "summary")
    assert complete >= 1, "no stream opened before the kill got its session's summary"

    alive = load.wait_streams(60)
    assert not alive, "%d streams hang" % len(alive)
    failed = [(s.cid, s.error) for s in load.streams if s.error]
    assert not failed, failed[:3]
    ends = {}
    for s in load.streams:
        last = s.events[-1]
        key = last.event if last.event == "summary" else "aborted:" + last.json["reason"]
        ends[key] = ends.get(key, 0) + 1
    print("sessions in flight: %d (%s); long-lived streams complete: %d of %d"
          % (len(load.streams), ", ".join("%s=%d" % kv for kv in sorted(ends.items())),
             complete, len(long_lived)))

    # The old primary comes back as a replica of the new one; the topology is whole again.
    ha.restart(old_name)
    wait_until(lambda: (stackmod.redis_cmd(old[1], "ROLE") or [""])[0] == "slave", 30,
               "the old primary back as a replica")


def test_redis_url_and_sentinels_both_set_exit_2(ha):
    for prog in ("gateway", "worker"):
        p = PrivateProc(ha, prog, {"REDIS_URL": ha.redis_url,
                                   "REDIS_SENTINELS": ",".join(ha.redis_sentinels),
                                   "REDIS_MASTER_NAME": stackmod.REDIS_MASTER_NAME},
                        wait=None)
        rc = p.popen.wait(30)
        log = p.log()
        assert rc == 2, (prog, rc, log[-500:])
        assert "REDIS_URL and REDIS_SENTINELS are both set" in log, log[-500:]
        assert log.count("\n") <= 2, log
