"""Worker faults: kill -9 failover, its handover time, scaling under load and SIGTERM drain; and
no resource called twice for one (session, source)."""

import concurrent.futures
import datetime
import json
import os
import re
import signal
import statistics
import subprocess
import threading
import time

import pytest
import requests
import stack as stackmod  # demo/stack.py, on the path from conftest

from aggtest import (REPO, SOURCES, TOPIC_CALLBACKS, TOPIC_REQUESTS, check_session_events, is_ready, metric,
                     metric_sum, produce, read_stream, schemas, session_key, start_session,
                     wait_until)

# The bound: a worker killed with -9 has its partitions consumed again within 8 s.
FAILOVER_MAX_S = 8.0
# SIGTERM: the partitions move at once, well before the group's 6 s session timeout.
HANDOVER_ON_SIGTERM_MAX_S = 4.0
SHUTDOWN_TIMEOUT_S = 25  # the worker's default
HANDOVER = "first message of newly assigned"




def _all_workers_ready(stack):
    wait_until(lambda: all(is_ready(stack.worker_url(i)) for i in range(stack.n_workers)), 90,
               "every worker ready (owning partitions)")


def _handovers(stack, name, since):
    """Wall times (epoch s) at which worker name consumed the first message of a partition that
    was assigned to it at or after since (from its log lines that say so)."""
    out = []
    with open(stack.log_path(name), errors="replace") as f:
        for line in f:
            if HANDOVER not in line:
                continue
            try:
                rec = json.loads(line)
                ago = int(re.search(r"assigned (\d+) ms before", rec["msg"]).group(1)) / 1000.0
            except (ValueError, KeyError, AttributeError):
                continue
            t = datetime.datetime.strptime(rec["ts"], "%Y-%m-%dT%H:%M:%S.%fZ").replace(
                tzinfo=datetime.timezone.utc).timestamp()
            if t - ago >= since:
                out.append(t)
    return sorted(out)


def _await_handover(stack, gw, name, since, timeout=30):
    """Waits until worker name consumed a message of a partition assigned to it at or after since,
    starting short sessions meanwhile so that every partition gets messages (the dead worker may
    own only partitions that nothing else writes to, e.g. every requests partition); returns the
    time of the first such message."""
    def seen():
        got = _handovers(stack, name, since)
        if not got:
            start_session(gw[0], "0,0,0", timeout_ms=5000, patient="patient-handover")
        return got
    return wait_until(seen, timeout, "%s consuming partitions assigned since the fault" % name,
                      interval=0.2)[0]


def _calls(stack, cid):
    """Calls each resource-sim got for session cid, by source."""
    out = {}
    for i, src in enumerate(SOURCES):
        r = requests.get(stack.resource_url(i) + "/journals/calls",
                         params={"correlationId": cid}, timeout=10)
        assert r.status_code == 200, r.text
        body = r.json()
        schemas().check_component("CallCount", body, "resource-sim.openapi.yaml")
        out[src] = body["calls"]
    return out


def _requests_consumed(stack):
    return [metric(stack.worker_url(i), "worker_messages_total", topic=TOPIC_REQUESTS) or 0
            for i in range(stack.n_workers)]


def _complete_with_all(redis, cids, timeout):
    """Waits until every session is done; returns those not completed with 3 respondents."""
    def states():
        return [redis.cmd("HMGET", session_key(c, "meta"), "state", "respondents", "completedBy")
                for c in cids]
    wait_until(lambda: all(s[0] == "done" for s in states()), timeout, "every session done")
    return [(c, s) for c, s in zip(cids, states())
            if s[1] != "3" or s[2] != "ALL_RESPONDED"]


def test_redelivered_fanout_calls_no_resource_twice(stack, gw, workers, redis, kafka_tap):
    """The re-delivery a failover causes, made on purpose: the same fan-out message once more
    while the session waits for its answers. No resource is called again: neither those that
    accepted (their answers are on the way) nor the one that answered 401."""
    cid = start_session(gw[0], "3000,-1,3000", timeout_ms=20000)
    wait_until(lambda: _calls(stack, cid) == {s: 1 for s in SOURCES}, 20, "every resource called")
    wait_until(lambda: (redis.cmd("HGET", session_key(cid, "meta"), "calls") or "").count(",")
               == 3, 20, "the three calls noted in the session")
    skipped = metric_sum(workers, "worker_calls_skipped_total")
    value = kafka_tap.wait_for(TOPIC_REQUESTS, cid)[0]["value"]
    produce(stack.kafka_brokers, TOPIC_REQUESTS, value, key=cid.encode())
    wait_until(lambda: metric_sum(workers, "worker_calls_skipped_total") >= skipped + 3, 20,
               "the re-delivered calls skipped")
    st = read_stream(gw[1], cid, timeout=30)
    by_source, summary = check_session_events(st.events, cid)
    assert by_source["resource-2"]["status"] == "REJECTED"
    assert (summary["respondents"], summary["errors"], summary["completedBy"]) == \
        (2, 0, "ALL_RESPONDED")
    assert _calls(stack, cid) == {s: 1 for s in SOURCES}


def _partitions(stack, i):
    """The partitions component of worker i's readiness body: {"requests": n, "callbacks": n}."""
    body = requests.get(stack.worker_url(i) + "/actuator/health/readiness", timeout=5).json()
    comp = body["components"]["partitions"]
    assert comp["assigned"] == comp["requests"] + comp["callbacks"], comp
    return comp


def test_each_worker_owns_requests_and_callbacks_partitions(stack, gw, workers):
    """Each topic is balanced over the workers on its own (a consumer group per topic): with 2
    workers and 6 partitions each, every worker owns partitions of both topics, so the fan-out
    (resource calls) is shared, not all on one worker while the other only takes answers."""
    _all_workers_ready(stack)
    parts = {}

    def balanced():
        parts.update({i: _partitions(stack, i) for i in range(stack.n_workers)})
        return all(sum(parts[i][t] for i in parts) == stackmod.TOPIC_PARTITIONS and
                   all(parts[i][t] > 0 for i in parts) for t in ("requests", "callbacks"))
    wait_until(balanced, 60, "both topics' partitions spread over every worker")
    for i in range(stack.n_workers):
        for t in ("requests", "callbacks"):
            topic = {"requests": TOPIC_REQUESTS, "callbacks": TOPIC_CALLBACKS}[t]
            assert metric(stack.worker_url(i), "worker_partitions_assigned", topic=topic) == \
                parts[i][t], (i, t, parts)
    before = _requests_consumed(stack)
    cids = [start_session(gw[i % 2], "0,0,0", patient="patient-shared") for i in range(40)]
    for cid in cids[-3:]:
        check_session_events(read_stream(gw[0], cid, timeout=30).events, cid)
    wait_until(lambda: sum(_requests_consumed(stack)) - sum(before) >= len(cids), 30,
               "every fan-out message consumed")
    took = [n - b for n, b in zip(_requests_consumed(stack), before)]
    print("\npartitions (requests, callbacks) per worker: %s; fan-out messages of 40 sessions "
          "per worker: %s" % ([(parts[i]["requests"], parts[i]["callbacks"]) for i in parts],
                              took))
    assert all(n > 0 for n in took), took


@pytest.mark.parametrize("env,name", [
    ({"KAFKA_SESSION_TIMEOUT_MS": "999"}, "KAFKA_SESSION_TIMEOUT_MS"),
    ({"KAFKA_HEARTBEAT_INTERVAL_MS": "6000"}, "KAFKA_HEARTBEAT_INTERVAL_MS"),
    ({"KAFKA_MAX_POLL_INTERVAL_MS": "5000"}, "KAFKA_MAX_POLL_INTERVAL_MS"),
    ({"SHUTDOWN_TIMEOUT_S": "0"}, "SHUTDOWN_TIMEOUT_S"),
    ({"SHUTDOWN_TIMEOUT_S": "25s"}, "SHUTDOWN_TIMEOUT_S"),
])
def test_bad_group_or_shutdown_setting_exits_2_with_one_line(env, name):
    build = os.environ.get("AGG_BUILD_DIR", "build")
    exe = os.path.join(build if os.path.isabs(build) else os.path.join(REPO, build), "worker")
    full = dict(os.environ, KAFKA_BROKERS="127.0.0.1:9", LOG_LEVEL="error", **env)
    r = subprocess.run([exe], env=full, capture_output=True, timeout=20)
    assert r.returncode == 2, (env, r.returncode, r.stderr)
    lines = r.stderr.decode().strip().splitlines()
    assert len(lines) == 1 and name in lines[0], lines


class Load:
    """Starts sessions at a steady rate on alternate gateways until stopped."""

    def __init__(self, gw, per_s, delays="100,100,100", timeout_ms=10000):
        self.gw, self.per_s, self.delays, self.timeout_ms = gw, per_s, delays, timeout_ms
        self.cids, self.failures = [], []
        self._stop = threading.Event()
        self._pool = concurrent.futures.ThreadPoolExecutor(16)
        self._futs = []
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _one(self, i):
        try:
            self.cids.append(start_session(self.gw[i % len(self.gw)], self.delays,
                                           timeout_ms=self.timeout_ms,
                                           patient="patient-load-%d" % i))
        except Exception as e:  # noqa: BLE001 (reported by the test)
            self.failures.append(repr(e))

    def _run(self):
        t0, i = time.monotonic(), 0
        while not self._stop.is_set():
            due = t0 + i / self.per_s
            if self._stop.wait(max(0.0, due - time.monotonic())):
                break
            self._futs.append(self._pool.submit(self._one, i))
            i += 1

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()
        concurrent.futures.wait(self._futs)
        self._pool.shutdown()


@pytest.mark.destructive
def test_kill9_failover_completes_every_session_and_calls_each_resource_once(stack, gw, redis):
    _all_workers_ready(stack)
    before = _requests_consumed(stack)
    t0 = time.monotonic()
    killed = {}

    def kill():
        # The worker that took more of these fan-out messages: its re-delivery is the case.
        now = _requests_consumed(stack)
        victim = max(range(stack.n_workers), key=lambda i: (now[i] - before[i], i))
        killed["name"], killed["wall"] = "worker-%d" % victim, time.time()
        stack.kill(killed["name"], signal.SIGKILL)
    timer = threading.Timer(0.5, kill)  # the scenario: the kill comes 0.5 s into the sessions
    timer.start()
    with concurrent.futures.ThreadPoolExecutor(20) as pool:
        cids = list(pool.map(lambda i: start_session(gw[i % 2], "2000,2000,2000",
                                                     timeout_ms=10000), range(20)))
    timer.join()
    assert time.monotonic() - t0 < 5, "the 20 sessions took too long to start"
    victim = killed["name"]
    survivor = "worker-%d" % (1 - int(victim[-1]))
    try:
        assert stack.wait_exit(victim, 10) is not None
        with concurrent.futures.ThreadPoolExecutor(20) as pool:
            streams = list(pool.map(lambda i: read_stream(gw[(i + 1) % 2], cids[i], timeout=30),
                                    range(20)))
        for cid, st in zip(cids, streams):
            by_source, summary = check_session_events(st.events, cid)
            assert (summary["respondents"], summary["errors"], summary["completedBy"]) == \
                (3, 0, "ALL_RESPONDED"), (cid, summary)
        calls = {cid: _calls(stack, cid) for cid in cids}
        repeated = {cid: c for cid, c in calls.items() if c != {s: 1 for s in SOURCES}}
        print("\ncalls per (session, source) under failover: %d sessions x %d sources, %s"
              % (len(cids), len(SOURCES), sorted({n for c in calls.values() for n in c.values()})))
        print("calls not made again by %s: %s" % (
            survivor, metric(stack.worker_url(int(survivor[-1])), "worker_calls_skipped_total")))
        assert not repeated, "a resource was called other than once: %r" % repeated
        took = _await_handover(stack, gw, survivor, killed["wall"]) - killed["wall"]
        print("failover: %.2f s from kill -9 to the first message consumed by %s" % (took, survivor))
        assert took < FAILOVER_MAX_S
    finally:
        stack.restart(victim)
        _all_workers_ready(stack)


@pytest.mark.destructive
def test_failover_time_over_5_kills(stack, gw):
    """Kill -9 one worker 5 times under light steady load (messages on every partition); the time
    from each kill to the survivor's first message of a newly assigned partition."""
    times = []
    with Load(gw, per_s=10, delays="0,0,0") as load:
        for k in range(5):
            _all_workers_ready(stack)
            victim, survivor = "worker-%d" % (k % 2), "worker-%d" % (1 - k % 2)
            wall = time.time()
            stack.kill(victim, signal.SIGKILL)
            assert stack.wait_exit(victim, 10) is not None
            wait_until(lambda: _handovers(stack, survivor, wall), 30,
                       "%s consuming %s's partitions" % (survivor, victim))
            times.append(_handovers(stack, survivor, wall)[0] - wall)
            stack.restart(victim)
        _all_workers_ready(stack)
    assert not load.failures, load.failures[:3]
    print("\nfailover over %d kills: median %.2f s, max %.2f s (%s)"
          % (len(times), statistics.median(times), max(times),
             ", ".join("%.2f" % t for t in times)))
    assert max(times) < FAILOVER_MAX_S


@pytest.mark.destructive
def test_scaling_up_and_sigterm_under_load_loses_no_result(stack, gw, redis):
    _all_workers_ready(stack)
    added = None
    with Load(gw, per_s=50) as load:
        first = len(load.cids)
        wait_until(lambda: len(load.cids) >= first + 100, 30, "load running")
        added = stack.add_worker()
        wait_until(lambda: len(load.cids) >= first + 250, 30, "load after the third worker")
        t = time.monotonic()
        stack.kill("worker-0", signal.SIGTERM)
        rc = stack.wait_exit("worker-0", SHUTDOWN_TIMEOUT_S + 5)
        stopped_in = time.monotonic() - t
        wait_until(lambda: len(load.cids) >= first + 400, 30, "load after the SIGTERM")
    try:
        assert rc == 0, "worker-0 exited with %r on SIGTERM" % rc
        assert stopped_in < SHUTDOWN_TIMEOUT_S
        assert not load.failures, load.failures[:3]
        lost = _complete_with_all(redis, load.cids, 60)
        print("\nscaling: %d sessions at 50/s, a third worker added, worker-0 stopped (SIGTERM, "
              "exit 0 in %.1f s): %d lost" % (len(load.cids), stopped_in, len(lost)))
        assert not lost, lost[:5]
    finally:
        stack.restart("worker-0")
        if added:
            assert stack.remove_worker(added) == 0
        _all_workers_ready(stack)


@pytest.mark.destructive
def test_sigterm_drains_and_hands_partitions_over_at_once(stack, gw, redis):
    _all_workers_ready(stack)
    # Answers come 1.5 s in, after the SIGTERM; had the partitions of worker-1 waited for the
    # group's session timeout (6 s), the 5 s deadline would end these sessions first.
    cids = [start_session(gw[i % 2], "1500,1500,1500", timeout_ms=5000) for i in range(12)]
    wall = time.time()
    stack.kill("worker-1", signal.SIGTERM)
    try:
        wait_until(lambda: not is_ready(stack.worker_url(1)), 1.0, "readiness DOWN at once",
                   interval=0.02)
        assert stack.wait_exit("worker-1", SHUTDOWN_TIMEOUT_S) == 0
        lost = _complete_with_all(redis, cids, 30)
        assert not lost, lost
        took = _await_handover(stack, gw, "worker-0", wall) - wall
        print("\nSIGTERM handover: %.2f s to the first message consumed by worker-0" % took)
        assert took < HANDOVER_ON_SIGTERM_MAX_S
        for cid in cids:
            assert _calls(stack, cid) == {s: 1 for s in SOURCES}
    finally:
        stack.restart("worker-1")
        _all_workers_ready(stack)
