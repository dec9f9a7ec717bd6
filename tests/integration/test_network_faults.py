"""Network faults made inside the test, on processes of the test's own: a worker cut off from
Redis for 10 s and a gateway cut off from Kafka for 10 s (hard partitions: the process runs in a
network namespace and the veth link carrying that traffic is set down, so packets vanish without
a reset), and 200 ms latency with lossy connections between workers and resources (Toxiproxy).
Each ends in the right outcomes, and the process that was cut off recovers by itself: readiness
DOWN while cut off, UP again, new sessions complete, the same pid throughout."""

import concurrent.futures
import time

import pytest
import requests

from aggtest import (SOURCES, check_error_body, check_session_events,
                     post_journals, read_stream, start_session, wait_until)
from netfault import Namespace, Toxiproxy, wait_ready
from privateproc import PrivateProc, PrivateRedis, describe, private_topics

CUT_S = 10.0            # the partitions
# A cut is noticed by TCP_USER_TIMEOUT_MS (3 s) plus a statistics interval (Kafka, 1 s); the
# bounds leave room for a loaded 2-core machine.
DOWN_WITHIN_S = 12.0
UP_WITHIN_S = 25.0      # reconnect backoff (1 s) and a connect attempt the cut swallowed (5 s)
LONG_MS = 27000         # AGGREGATOR_TIMEOUT_MAX_MS: sessions that must outlive the cut
STREAM_S = LONG_MS / 1000 + 30


class Faults:
    """What one test made, undone in reverse order even when the test fails: processes first,
    then namespaces (their links go with them), Redis, Toxiproxy."""

    def __init__(self, stack):
        self.stack = stack
        self._undo = []
        self.procs = []

    def redis(self):
        # Not protected mode: clients in a namespace come from a link's address, not 127.0.0.1.
        r = PrivateRedis(self.stack, "--protected-mode", "no")
        self._undo.append(r.stop)
        return r

    def namespace(self, tag):
        ns = Namespace(tag)
        self._undo.append(ns.close)
        return ns

    def toxiproxy(self, seed=None):
        tp = Toxiproxy(self.stack.run_dir, seed=seed)
        self._undo.append(tp.stop)
        return tp

    def proc(self, prog, env, netns=None):
        p = PrivateProc(self.stack, prog, env, netns=netns)
        self.procs.append(p)
        self._undo.append(p.stop)
        return p

    def close(self):
        errors = []
        for undo in reversed(self._undo):
            try:
                undo()
            except Exception as e:  # noqa: BLE001 (every undo runs; the first error is raised)
                errors.append(e)
        self._undo = []
        if errors:
            raise errors[0]


@pytest.fixture
def faults(stack):
    f = Faults(stack)
    yield f
    f.close()


def _kafka_port(stack):
    return int(stack.kafka_brokers.split(",")[0].rsplit(":", 1)[1])


def _complete(base, timeout_ms=LONG_MS):
    """One session through base whose three answers all come back; returns its events."""
    cid = start_session(base, "0,0,0", timeout_ms=timeout_ms, patient="patient-net")
    s = read_stream(base, cid, timeout=timeout_ms / 1000 + 30)
    by_source, summary = check_session_events(s.events, cid)
    assert summary["completedBy"] == "ALL_RESPONDED" and summary["respondents"] == 3, s.events
    return s.events


class Streams:
    """Sessions started now, each read live to its end in a thread of its own."""

    def __init__(self):
        self._pool = concurrent.futures.ThreadPoolExecutor(32, thread_name_prefix="net-stream")
        self.runs = []  # (kind, cid, future of the SSEStream)

    def start(self, base, kind, n, delays, timeout_ms, stream_base=None):
        for _ in range(n):
            cid = start_session(base, delays, timeout_ms=timeout_ms, patient="patient-net")
            self.runs.append((kind, cid, self._pool.submit(read_stream, stream_base or base, cid,
                                                          timeout=STREAM_S)))

    def results(self, timeout):
        out = []
        for kind, cid, fut in self.runs:
            out.append((kind, cid, fut.result(timeout)))
        self._pool.shutdown(wait=False)
        return out


def _hold_cut(proc, since, component):
    """Keeps the cut until CUT_S have passed since it began, checking meanwhile that proc stays
    alive (liveness UP: the event loop runs) and unready, with component DOWN."""
    def held():
        assert proc.popen.poll() is None, describe(proc)
        status, body = proc.health("readiness")
        assert status == 503 and body["components"][component]["status"] == "DOWN", \
            "readiness came back during the cut: " + describe(proc)
        assert proc.health("liveness")[0] == 200, describe(proc, "liveness")
        return time.monotonic() - since >= CUT_S
    wait_until(held, CUT_S + 30, "the end of the %.0f s cut" % CUT_S, interval=0.25)


def test_worker_cut_off_from_redis_for_10_s(stack, faults):
    redis = faults.redis()
    env = dict(private_topics(stack.kafka_brokers), REDIS_URL=redis.url)
    ns = faults.namespace("wredis")
    ns.link("rest")                                   # Kafka, resources, its management port
    link = ns.link("redis", ports=[redis.port])
    worker = faults.proc("worker", env, netns=ns)
    gw = faults.proc("gateway", dict(env, AGGREGATOR_CALLBACK_URL=None))
    pid = worker.popen.pid
    _complete(gw.url)

    streams = Streams()
    # In flight at the cut, with deadlines beyond it: they must complete in full.
    streams.start(gw.url, "long", 6, "300,600,900", LONG_MS)
    # Deadline (4 s) inside the cut and resource-3 answering long after it: these must end by
    # their deadline, resource-3 TIMEOUT, once the worker is back (it expires sessions).
    short = [start_session(gw.url, "0,0,20000", timeout_ms=4000, patient="patient-net")
             for _ in range(3)]
    t_cut = time.monotonic()
    link.cut()
    down_s = wait_ready(worker, False, DOWN_WITHIN_S, "the worker's readiness DOWN after the cut")
    status, body = worker.health()
    assert body["components"]["redis"]["status"] == "DOWN", describe(worker)
    assert body["components"]["kafka"]["status"] == "UP", describe(worker)
    # Accepted during the cut (the gateway has Redis and Kafka); the worker takes them after.
    streams.start(gw.url, "during", 4, "0,100,200", LONG_MS)
    _hold_cut(worker, t_cut, "redis")

    link.restore()
    t_back = time.monotonic()
    up_s = wait_ready(worker, True, UP_WITHIN_S, "the worker's readiness UP after the cut")
    assert worker.popen.pid == pid and worker.popen.poll() is None

    for kind, cid, st in streams.results(STREAM_S + 10):
        by_source, summary = check_session_events(st.events, cid)
        assert (summary["completedBy"], summary["respondents"]) == ("ALL_RESPONDED", 3), \
            (kind, cid, st.events)
    for cid in short:
        # Read after the fact (replayed from the session's log): the summary the worker wrote.
        st = read_stream(gw.url, cid, timeout=60)
        by_source, summary = check_session_events(st.events, cid)
        assert summary["completedBy"] == "TIMEOUT", (cid, st.events)
        assert by_source["resource-3"]["status"] == "TIMEOUT", (cid, st.events)
    recovered = _complete(gw.url)
    assert worker.metric("worker_redis_retries_total") > 0, "nothing was retried: no cut?"
    print("\nworker cut off from Redis for %.0f s: readiness DOWN %.1f s after the cut, UP "
          "%.1f s after the link came back; %d sessions in flight completed, %d ended by their "
          "deadline; a new session completed %.1f s after the link came back"
          % (CUT_S, down_s, up_s, len(streams.runs), len(short), time.monotonic() - t_back))
    assert recovered


def test_gateway_cut_off_from_kafka_for_10_s(stack, faults):
    redis = faults.redis()
    env = dict(private_topics(stack.kafka_brokers), REDIS_URL=redis.url)
    faults.proc("worker", env)
    # Answers go to a replica that keeps Kafka, as a Service routes them to ready replicas.
    keeper = faults.proc("gateway", dict(env, AGGREGATOR_CALLBACK_URL=None))
    ns = faults.namespace("gkafka")
    ns.link("rest")                                   # Redis, and the way in for clients
    link = ns.link("kafka", ports=[_kafka_port(stack)])
    gw = faults.proc("gateway", dict(env, AGGREGATOR_CALLBACK_URL=keeper.url +
                                     "/aggregate/callback"), netns=ns)
    pid = gw.popen.pid
    _complete(gw.url)

    streams = Streams()
    streams.start(gw.url, "long", 6, "1000,2000,3000", LONG_MS)
    t_cut = time.monotonic()
    link.cut()
    down_s = wait_ready(gw, False, DOWN_WITHIN_S, "the gateway's readiness DOWN after the cut")
    status, body = gw.health()
    assert body["components"]["kafka"]["status"] == "DOWN", describe(gw)
    assert body["components"]["redis"]["status"] == "UP", describe(gw)

    # A new session cannot be published: 503 with Retry-After, within the produce timeout.
    t0 = time.monotonic()
    r = post_journals(gw.url, {"patientId": "patient-net", "delays": "0,0,0", "strategy": "SSE",
                               "timeoutMs": 5000}, timeout=30)
    refused_s = time.monotonic() - t0
    assert r.status_code == 503, (r.status_code, r.text)
    check_error_body(r)
    assert r.headers.get("Retry-After"), r.headers
    _hold_cut(gw, t_cut, "kafka")

    link.restore()
    t_back = time.monotonic()
    up_s = wait_ready(gw, True, UP_WITHIN_S, "the gateway's readiness UP after the cut")
    assert gw.popen.pid == pid and gw.popen.poll() is None
    # Streams need Redis only: those of sessions accepted before the cut went on throughout.
    for kind, cid, st in streams.results(STREAM_S + 10):
        by_source, summary = check_session_events(st.events, cid)
        assert (summary["completedBy"], summary["respondents"]) == ("ALL_RESPONDED", 3), \
            (kind, cid, st.events)
    _complete(gw.url)
    print("\ngateway cut off from Kafka for %.0f s: readiness DOWN %.1f s after the cut, a new "
          "session refused with 503 in %.1f s, readiness UP %.1f s after the link came back, "
          "%d streams of sessions accepted before the cut completed; a new session completed "
          "%.1f s after the link came back"
          % (CUT_S, down_s, refused_s, up_s, len(streams.runs), time.monotonic() - t_back))


LATENCY_MS = 200
LOSS = 0.05
BURST = 60              # sessions at once: the worker opens a connection per concurrent call
LOSSY_TIMEOUT_MS = 8000


def _resource_calls(stack, i, cid):
    r = requests.get(stack.resource_url(i) + "/journals/calls", params={"correlationId": cid},
                     timeout=10)
    assert r.status_code == 200, r.text
    return r.json()["calls"]


def test_latency_and_loss_between_workers_and_resources(stack, faults):
    """Toxiproxy between the worker and each resource: 200 ms latency on every connection, and
    5 % of the connections stalled for good (toxic "timeout" with toxicity 0.05, drawn for each
    connection as it opens). Toxiproxy works on streams, not packets, so it cannot drop 5 % of
    the packets; what such loss does to the application is a slower answer (retransmissions:
    the latency) and, at worst, a connection that carries nothing any more (the stall); the
    worker's call on it must then end at the session's deadline as TIMEOUT, every other call
    must go through once, and nothing must be called twice."""
    tp = faults.toxiproxy(seed=11)
    urls = []
    for i, src in enumerate(SOURCES):
        listen = tp.proxy(src, stack.resource_url(i).split("//", 1)[1])
        tp.toxic(src, "latency", "downstream", latency=LATENCY_MS, jitter=0)
        tp.toxic(src, "timeout", "upstream", toxicity=LOSS, timeout=0)
        urls.append("%s=http://%s" % (src, listen))
    redis = faults.redis()
    env = dict(private_topics(stack.kafka_brokers), REDIS_URL=redis.url,
               RESOURCE_URLS=",".join(urls))
    worker = faults.proc("worker", env)
    gw = faults.proc("gateway", dict(env, AGGREGATOR_CALLBACK_URL=None))

    t0 = time.monotonic()
    streams = Streams()
    with concurrent.futures.ThreadPoolExecutor(BURST) as pool:
        list(pool.map(lambda _: streams.start(gw.url, "lossy", 1, "0,0,0", LOSSY_TIMEOUT_MS),
                      range(BURST)))
    outcomes = {"ok": 0, "TIMEOUT": 0}
    for kind, cid, st in streams.results(LOSSY_TIMEOUT_MS / 1000 + 60):
        by_source, summary = check_session_events(st.events, cid)
        for i, src in enumerate(SOURCES):
            status = by_source.get(src, {}).get("status")
            calls = _resource_calls(stack, i, cid)
            # A stalled connection carries nothing upstream: the resource never saw the call.
            assert (status, calls) in (("ok", 1), ("TIMEOUT", 0)), (cid, src, status, calls,
                                                                    st.events)
            outcomes[status] += 1
        if "TIMEOUT" not in [c["status"] for c in by_source.values()]:
            assert summary["completedBy"] == "ALL_RESPONDED", st.events
    took = time.monotonic() - t0
    assert worker.popen.poll() is None
    n = BURST * len(SOURCES)
    print("\n%d ms latency and %.0f %% stalled connections between worker and resources: %d "
          "sessions in %.1f s, %d calls ok, %d ended as TIMEOUT (their connection stalled)"
          % (LATENCY_MS, LOSS * 100, BURST, took, outcomes["ok"], outcomes["TIMEOUT"]))
    assert outcomes["ok"] + outcomes["TIMEOUT"] == n
    # 60 concurrent calls per resource open about as many connections: that none of ~180
    # draws at 5 % stalls has a chance of 1e-4.
    assert outcomes["TIMEOUT"] > 0, "no connection stalled: the toxic did not act"

    # The faults gone, the same worker answers in full at once.
    tp.reset()
    _complete(gw.url, timeout_ms=10000)
