"""Circuit breaker per resource (issue 9, point 6) on the shared stack: after BREAKER_FAILURES
consecutive failures of resource-2 its circuit opens in Redis, both workers fail its calls fast
(ERROR, reason "circuit open", no call reaches the simulator) for the cool-down, then one probe
call decides: a failing probe opens it again, an answering one closes it. The test leaves every
circuit closed (no breaker key left), so later tests see resource-2 as before."""

import concurrent.futures
import os
import subprocess
import time

import pytest

from aggtest import REPO, SSEStream, check_session_events, metric, metric_sum, schemas, start_session, \
    wait_until

SRC = "resource-2"           # the second delay of each session
KEY = "agg:breaker:{%s}" % SRC
FAILURES_DEFAULT = 5          # the worker's BREAKER_FAILURES default
COOLDOWN_DEFAULT_MS = 10000   # and BREAKER_COOLDOWN_MS
_build = os.environ.get("AGG_BUILD_DIR", "build")
WORKER = os.path.join(_build if os.path.isabs(_build) else os.path.join(REPO, _build), "worker")


def env_long(stack, name, default):
    return int(stack.extra_env.get(name) or default)


def run(base, delays):
    """Runs one SSE session to its summary; (cid, outcome event of SRC)."""
    cid = start_session(base, delays, timeout_ms=10000, patient="patient-breaker")
    st = SSEStream(base, cid, timeout=40)
    try:
        st.read_all(40)
    finally:
        st.close()
    by_source, _ = check_session_events(st.events, cid, "patient-breaker")
    for e in st.events:
        schemas().check_event(e)
    return cid, by_source[SRC]


def called(stack, cid):
    """1 when the simulator of SRC logged a call of session cid."""
    with open(stack.log_path(SRC), errors="replace") as f:
        return cid in f.read()


def breaker(redis):
    return redis.hgetall(KEY)


def now_ms():
    return int(time.time() * 1000)


def close_circuit(stack, gw, redis, timeout):
    """Answering calls until SRC has no breaker state (any earlier failures counted, or an
    earlier open circuit probed closed)."""
    def closed():
        run(gw[0], "0,0,0")
        return redis.cmd("EXISTS", KEY) == 0
    wait_until(closed, timeout, "the circuit of %s closed with no failures left" % SRC, 0.2)


def test_circuit_opens_fails_fast_then_one_probe_decides(stack, gw, workers, redis):
    n = env_long(stack, "BREAKER_FAILURES", FAILURES_DEFAULT)
    cooldown_s = env_long(stack, "BREAKER_COOLDOWN_MS", COOLDOWN_DEFAULT_MS) / 1000.0
    close_circuit(stack, gw, redis, 2 * cooldown_s + 30)

    # 1. N consecutive failures, each a real call (the simulator answers 500), open it.
    for i in range(n):
        state = breaker(redis).get("state")
        assert state in (None, "closed"), "opened after %d failures, not %d" % (i, n)
        cid, ev = run(gw[i % 2], "0,-2,0")
        assert ev["status"] == "ERROR" and "reason" not in ev, ev
        assert called(stack, cid), "failure %d: %s was not called" % (i + 1, SRC)
    b = breaker(redis)
    assert b.get("state") == "open" and int(b["fails"]) == n, b
    until = int(b["until"])
    assert 0 < until - now_ms() <= cooldown_s * 1000, b
    ttl = redis.cmd("PTTL", KEY)
    assert ttl > cooldown_s * 1000, "the key must outlive its cool-down (PTTL %s)" % ttl

    # 2. Both workers see it open (BREAKER_REFRESH_MS, 1 s by default) ...
    wait_until(lambda: all((metric(w, "worker_breakers_open") or 0) >= 1 for w in workers), 10,
               "both workers see the open circuit")
    # ... and both fail its calls fast, without calling it, until the cool-down ends.
    fast0 = [metric(w, "worker_breaker_fast_fails_total") for w in workers]
    sent = 0
    while any(metric(w, "worker_breaker_fast_fails_total") == f0
              for w, f0 in zip(workers, fast0)):
        assert sent < 40, "40 sessions did not reach both workers"
        assert now_ms() < until - 1500, "the cool-down ended before both workers failed fast"
        cid, ev = run(gw[sent % 2], "0,-2,0")
        sent += 1
        assert ev["status"] == "ERROR" and ev.get("reason") == "circuit open", ev
        assert ev["elapsedMs"] < 3000, ev
        assert not called(stack, cid), "a call reached %s while its circuit was open" % SRC
    assert breaker(redis).get("state") == "open"

    # 3. After the cool-down one probe: it fails, and the circuit opens for another cool-down.
    probes0 = metric_sum(workers, "worker_breaker_probes_total")
    wait_until(lambda: now_ms() > until + 100, cooldown_s + 10, "the end of the cool-down")
    cid, ev = run(gw[0], "0,-2,0")
    assert ev["status"] == "ERROR" and "reason" not in ev, ev
    assert called(stack, cid), "the probe must call %s" % SRC
    assert metric_sum(workers, "worker_breaker_probes_total") == probes0 + 1
    b = breaker(redis)
    assert b.get("state") == "open" and int(b["until"]) > until, b
    until = int(b["until"])

    # 4. After that cool-down, 6 sessions at once: exactly one probe is granted over both
    # workers; it answers, so the circuit closes and the key is gone.
    wait_until(lambda: now_ms() > until + 100, cooldown_s + 10, "the end of the cool-down")
    with concurrent.futures.ThreadPoolExecutor(6) as pool:
        evs = list(pool.map(lambda i: run(gw[i % 2], "0,0,0")[1], range(6)))
    assert metric_sum(workers, "worker_breaker_probes_total") == probes0 + 2
    assert any(e["status"] == "ok" for e in evs), evs
    for e in evs:
        assert e["status"] == "ok" or e.get("reason") == "circuit open", e
    assert redis.cmd("EXISTS", KEY) == 0, breaker(redis)
    wait_until(lambda: all(metric(w, "worker_breakers_open") == 0 for w in workers), 10,
               "both workers see the circuit closed")
    # Every later call goes out as usual.
    for i in range(4):
        assert run(gw[i % 2], "0,0,0")[1]["status"] == "ok"


@pytest.mark.parametrize("name,value", [("BREAKER_FAILURES", "0"), ("BREAKER_FAILURES", "x"),
                                        ("BREAKER_COOLDOWN_MS", "99"),
                                        ("BREAKER_REFRESH_MS", "60001"),
                                        ("BREAKER_ENABLED", "yes")])
def test_bad_breaker_setting_exits_2_with_one_line(name, value):
    env = dict(os.environ, KAFKA_BROKERS="127.0.0.1:1", LOG_LEVEL="error")
    env[name] = value
    r = subprocess.run([WORKER], env=env, capture_output=True, timeout=20)
    assert r.returncode == 2, (name, value, r.returncode, r.stderr)
    lines = r.stderr.decode().strip().splitlines()
    assert len(lines) == 1 and name in lines[0], lines
