#!/usr/bin/env python3
"""harness.py: runs the benchmark profiles against real stacks (demo/stack.py, real Kafka) and writes the results.

    python3 bench/harness.py --build-dir build --loadgen build/bench/loadgen [--profiles a,b,...]
                             [--streams 50000] [--quick] [--perf]

Profiles (names used for bench/results/<name>.json):
  startup       each binary's start-to-ready time and idle RSS, Kafka and Redis up
  closed-1x1    closed-loop SSE sessions, 1 gateway + 1 worker, concurrency sweep: maximum throughput
  open-500      open-loop SSE sessions at 500/s (no coordinated omission)
  open-1000     open-loop SSE sessions at 1,000/s
  open-1500     open-loop SSE sessions at 1,500/s
  open-2000     open-loop SSE sessions at 2,000/s, 5 runs (the target holds in every one)
  wfe-closed    closed-loop WAIT_FOR_EVERYONE sessions at concurrency 16 and 64
  closed-2x2    closed-loop SSE sessions, 2 gateways + 2 workers
  memory        closed loop with SESSION_RETENTION_S=60 for longer than it: Redis memory per session, flat?
  density       K idle SSE streams on one gateway: RSS per stream, CPU idle and with events flowing;
                the gateway CPU per delivered event at 0, 2,000, 8,000 and K idle streams
  scripts       Redis' own time per call of each session script, replayed alone (bench/scriptcost.py)
Then bench/results/summary.md (targets, figures, met?) and a one-screen summary on stdout.
Standard library only. Every wait polls a condition with a deadline.
"""

import argparse
import base64
import json
import math
import os
import platform
import resource
import signal
import socket
import subprocess
import sys
import tempfile
import time

import memory
import perf
import scriptcost
from tables import OPEN_2000_RUNS, OPEN_PROFILES, cpu_ms_per_session, cpu_table, fmt, g
from targets import targets

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RESULTS = os.path.join(REPO, "bench", "results")
ALL_PROFILES = ["startup", "closed-1x1"] + OPEN_PROFILES + ["wfe-closed", "closed-2x2", "memory", "density", "scripts"]
# Issue #14's figures are at these concurrencies, for SSE (in the sweep) and WAIT_FOR_EVERYONE.
KEY_CONCURRENCY = (16, 64)
MIB = 1024 * 1024


def log(msg):
    sys.stderr.write("bench: %s\n" % msg)
    sys.stderr.flush()


# ---- stacks -----------------------------------------------------------------

class StackRun:
    """demo/stack.py as a child process; info is its JSON line."""

    def __init__(self, build_dir, gateways=1, workers=1, env=None, only=None, log_level="warn"):
        self.tmp = tempfile.mkdtemp(prefix="agg-bench-")
        self.json_path = os.path.join(self.tmp, "stack.json")
        argv = [sys.executable, os.path.join(REPO, "demo", "stack.py"), "--build-dir", build_dir,
                "--kafka", "real", "--free-ports", "--log-level", log_level,
                "--json-out", self.json_path, "--ready-timeout", "180"]
        if only:
            argv += ["--only", only]
        else:
            # Direct callbacks: demo/service.py (Python) would be the bottleneck it measures.
            # Answers on their own port (CALLBACK_PORT), as the chart sets it.
            argv += ["--gateways", str(gateways), "--workers", str(workers),
                     "--resources-in-one-process", "--callbacks", "direct", "--callback-port"]
        for k, v in (env or {}).items():
            argv += ["--env", "%s=%s" % (k, v)]
        self.err_path = os.path.join(self.tmp, "stack.err")
        self.err = open(self.err_path, "wb")
        log("starting stack: %s" % " ".join(argv[2:]))
        self.t0 = time.monotonic()
        self.popen = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=self.err,
                                      start_new_session=True)
        self.info = self._wait_info(240.0)
        self.start_s = time.monotonic() - self.t0
        log("stack ready in %.1f s" % self.start_s)

    def _wait_info(self, timeout):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if os.path.exists(self.json_path):
                with open(self.json_path) as f:
                    return json.loads(f.read())
            if self.popen.poll() is not None:
                raise RuntimeError("stack.py exited with %s:\n%s" % (self.popen.returncode, self.tail()))
            time.sleep(0.1)
        self.stop()
        raise RuntimeError("stack not ready in %.0f s:\n%s" % (timeout, self.tail()))

    def tail(self):
        self.err.flush()
        with open(self.err_path, "rb") as f:
            return f.read()[-3000:].decode(errors="replace")

    def pids_arg(self):
        return ",".join("%s=%d" % (n, p) for n, p in sorted(self.info["pids"].items()))

    def stop(self):
        if self.popen.poll() is None:
            self.popen.send_signal(signal.SIGTERM)
            try:
                self.popen.wait(90)
            except subprocess.TimeoutExpired:
                os.killpg(self.popen.pid, signal.SIGKILL)
                self.popen.wait()
        self.err.close()


def loadgen(args, exe, timeout=900):
    """Runs the load generator; returns its JSON result (raises on failure)."""
    fd, out = tempfile.mkstemp(prefix="loadgen-", suffix=".json")
    os.close(fd)
    argv = [exe] + [str(a) for a in args] + ["--out", out]
    log("loadgen %s" % " ".join(str(a) for a in args if not str(a).startswith("redis=")))
    r = subprocess.run(argv, stderr=subprocess.PIPE, timeout=timeout)
    sys.stderr.write(r.stderr.decode(errors="replace"))
    try:
        with open(out) as f:
            text = f.read()
    finally:
        os.unlink(out)
    if r.returncode != 0 or not text.strip():
        raise RuntimeError("loadgen failed (%d): %s" % (r.returncode, r.stderr.decode(errors="replace")[-2000:]))
    return json.loads(text)


# ---- start-to-ready -----------------------------------------------------------

def http_status(port, path="/actuator/health/readiness", timeout=0.5):
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
            s.sendall(("GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n" % path).encode())
            head = s.recv(64)
            return int(head.split()[1]) if head.startswith(b"HTTP/1.") else None
    except (OSError, ValueError, IndexError):
        return None


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def rss_kib(pid):
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


def stable_rss_kib(pid, timeout=5.0):
    """RSS once two samples 250 ms apart agree within 1 %."""
    prev = rss_kib(pid)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        time.sleep(0.25)
        cur = rss_kib(pid)
        if cur is None or prev is None or abs(cur - prev) * 100 <= prev:
            return cur
        prev = cur
    return prev


def time_to_ready(exe, env, port, timeout=20.0):
    """Starts exe, polls its readiness every 2 ms; returns (ms, idle RSS KiB)."""
    full = dict(os.environ)
    full.update(env)
    t0 = time.monotonic()
    p = subprocess.Popen([exe], env=full, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = t0 + timeout
        ready_ms = None
        while time.monotonic() < deadline:
            if http_status(port, timeout=0.2) == 200:
                ready_ms = (time.monotonic() - t0) * 1000
                break
            if p.poll() is not None:
                raise RuntimeError("%s exited with %s during start-up" % (exe, p.returncode))
            time.sleep(0.002)
        if ready_ms is None:
            raise RuntimeError("%s not ready in %.0f s" % (exe, timeout))
        return ready_ms, stable_rss_kib(p.pid)
    finally:
        p.send_signal(signal.SIGTERM)
        try:
            p.wait(15)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()


def profile_startup(a):
    st = StackRun(a.build_dir, only="infra")
    try:
        info = st.info
        res_port = free_port()
        runs = 3 if a.quick else 7
        out = {"profile": "startup", "runs": runs, "components": {}}
        # Required since callbacks are signed (issue #13); any key of 32 bytes or more.
        key = base64.urlsafe_b64encode(os.urandom(32)).decode().rstrip("=")
        specs = {
            "resource-sim": lambda port: {"SERVER_PORT": str(port), "RESOURCE_ID": "resource-1",
                                          "LOG_LEVEL": "warn"},
            "gateway": lambda port: {"SERVER_PORT": str(port), "KAFKA_BROKERS": info["kafka"],
                                     "REDIS_URL": info["redis"], "LOG_LEVEL": "warn",
                                     "CALLBACK_SIGNING_KEY": key,
                                     "RESOURCE_URLS": "http://127.0.0.1:%d" % res_port},
            "worker": lambda port: {"MANAGEMENT_PORT": str(port), "KAFKA_BROKERS": info["kafka"],
                                    "REDIS_URL": info["redis"], "LOG_LEVEL": "warn",
                                    "CALLBACK_SIGNING_KEY": key,
                                    "RESOURCE_URLS": "http://127.0.0.1:%d" % res_port},
        }
        for name, envf in specs.items():
            exe = os.path.join(a.build_dir_abs, name)
            times, rss = [], []
            # The first start on the new broker is reported apart: the first consumer group makes
            # the broker create its offsets topic (about a second, once per cluster), which is
            # the cluster's start-up, not the worker's.
            port = free_port()
            first_ms, _ = time_to_ready(exe, envf(port), port)
            for _ in range(runs):
                port = free_port()
                ms, kib = time_to_ready(exe, envf(port), port)
                times.append(ms)
                rss.append(kib or 0)
            times.sort()
            out["components"][name] = {
                "ready_ms_first_on_new_broker": round(first_ms, 1),
                "ready_ms_median": round(times[len(times) // 2], 1), "ready_ms_min": round(times[0], 1),
                "ready_ms_max": round(times[-1], 1), "ready_ms_all": [round(t, 1) for t in times],
                "idle_rss_mib_median": round(sorted(rss)[len(rss) // 2] / 1024, 2),
                "idle_rss_mib_max": round(max(rss) / 1024, 2)}
            log("%s: ready in %.1f ms (median of %d; %.1f ms the first time on the new broker), "
                "idle RSS %.1f MiB" % (name, times[len(times) // 2], runs, first_ms,
                                       sorted(rss)[len(rss) // 2] / 1024))
        out["infra_rss_mib"] = {n: round((rss_kib(p) or 0) / 1024, 1) for n, p in info["pids"].items()}
        return out
    finally:
        st.stop()


# ---- load profiles ------------------------------------------------------------

def common_args(st, a):
    return ["--gateways", ",".join(st.info["gateways"]), "--pids", st.pids_arg()]


def closed_sweep(st, a, name, concurrencies, strategy="sse", extra=()):
    points = []
    for i, c in enumerate(concurrencies):
        if i:
            settle(st)
        r = loadgen(common_args(st, a) + ["--mode", "closed", "--strategy", strategy, "--concurrency", c,
                                          "--warmup", a.warmup if i == 0 else a.warmup_next,
                                          "--duration", a.step_duration, "--name", "%s-c%d" % (name, c)]
                    + list(extra), a.loadgen)
        points.append(r)
    best = max(points, key=lambda r: r["stats"]["sessions_per_s"])
    return {"profile": name, "sweep": [summarise_point(p) for p in points],
            "best": best, "best_concurrency": best["concurrency"]}


def summarise_point(r):
    s = r["stats"]
    cpu = {k: v["cpu_pct"] for k, v in r["procs"].items()}
    return {"concurrency": r["concurrency"], "rate": r["rate"], "sessions_per_s": s["sessions_per_s"],
            "ok": s["ok"], "failed": s["failed"], "errors": s["errors"],
            "overhead_p50_ms": s["latency"]["overhead"]["p50_ms"],
            "overhead_p99_ms": s["latency"]["overhead"]["p99_ms"],
            "summary_p50_ms": s["latency"]["summary"]["p50_ms"],
            "summary_p99_ms": s["latency"]["summary"]["p99_ms"],
            "post_p99_ms": s["latency"]["post"]["p99_ms"],
            "cpu_pct": cpu, "cpu_ms_per_session": cpu_ms_per_session(cpu, s["sessions_per_s"])}


def stack_env():
    """Gateway settings for every stack: libmicrohttpd's default connection limit (about 1,000)
    is below what a closed loop with hundreds of sessions (one POST and one stream connection
    each) needs; the descriptor limit bounds it."""
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    cap = 100000 if hard == resource.RLIM_INFINITY else max(1024, min(100000, hard - 1000))
    return {"MAX_CONNECTIONS": str(cap)}


def metric(url, name):
    """Sum of the samples of metric name on url/actuator/prometheus, or None."""
    host, port = url.rsplit("/", 1)[-1].split(":")
    try:
        with socket.create_connection((host, int(port)), timeout=2) as sk:
            sk.sendall(b"GET /actuator/prometheus HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            data = b""
            while True:
                b = sk.recv(65536)
                if not b:
                    break
                data += b
    except OSError:
        return None
    total, seen = 0.0, False
    for line in data.decode(errors="replace").splitlines():
        if line.startswith(name + " ") or line.startswith(name + "{"):
            total += float(line.rsplit(" ", 1)[1])
            seen = True
    return total if seen else None


def settle(st, timeout=90.0):
    """Waits until no stream is open and no worker has work in flight; returns the seconds waited."""
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        busy = [metric(u, "sse_active_connections") for u in st.info["gateways"]]
        busy += [metric(u, "worker_inflight_messages") for u in st.info["workers"]]
        busy += [metric(u, "worker_inflight_http") for u in st.info["workers"]]
        if all(b is not None and b == 0 for b in busy):
            return round(time.monotonic() - t0, 2)
        time.sleep(0.2)
    log("stack still busy after %.0f s" % timeout)
    return None


def perf_run(st, a, conc):
    """An unrecorded closed-loop run while perf samples the gateway, the worker and redis."""
    handles = [perf.start(st.info["pids"][n], n, a.step_duration) for n in ("gateway-0", "worker-0", "redis")]
    loadgen(common_args(st, a) + ["--mode", "closed", "--concurrency", conc, "--warmup", 0,
                                  "--duration", a.step_duration + 1, "--name", "perf"], a.loadgen)
    return {h[2]: perf.report(h, RESULTS) for h in handles if h}


# Warm-up: closed-loop windows until WARM_UP_WINDOWS in a row agree within WARM_UP_SPREAD_PCT
# (max - min against their mean), at most WARM_UP_MAX_S.
WARM_UP_WINDOW_S = 8
WARM_UP_WINDOWS = 3
WARM_UP_SPREAD_PCT = 5.0
WARM_UP_MAX_S = 240


def warm_up(st, a):
    """An unrecorded load until the stack's throughput is steady: the Kafka JVM compiles its
    hot paths, topics and consumers settle. A fixed time does not fit every machine: on 2 Dec
    (Intel Xeon) the broker's CPU per session settled after about 20 s of load, while on 4 Dec
    (an AMD EPYC VM) a fresh stack's closed loop still rose from ~400 to ~1,300 sessions/s over
    its first 120 s. The harness also waits for the stack to settle after it. Returns the
    windows' sessions/s and whether they settled; each result of the stack keeps it."""
    window = 3 if a.quick else WARM_UP_WINDOW_S
    rates, steady = [], False
    while True:
        r = loadgen(common_args(st, a) + ["--mode", "closed", "--concurrency", 32, "--warmup", 0,
                                          "--duration", window, "--name", "warm-up-%d" % (len(rates) + 1)],
                    a.loadgen)
        rates.append(r["stats"]["sessions_per_s"])
        last = rates[-WARM_UP_WINDOWS:]
        steady = len(last) == WARM_UP_WINDOWS and \
            max(last) - min(last) <= WARM_UP_SPREAD_PCT / 100 * (sum(last) / len(last))
        if a.quick or steady or len(rates) * window >= WARM_UP_MAX_S:
            break
    if not steady and not a.quick:
        log("warm-up: not steady after %d s (sessions/s %s); measuring anyway" % (
            len(rates) * window, ", ".join("%.0f" % x for x in rates)))
    # Low, steady load takes other paths in the broker (fetches that wait for data) than
    # saturation does: the first open-loop run after only a closed loop had a p99 1.5x-3x
    # that of the next identical run while the JIT compiled them.
    loadgen(common_args(st, a) + ["--mode", "open", "--rate", 500, "--warmup", 0,
                                  "--duration", 2 if a.quick else 10, "--name", "warm-up-open"], a.loadgen)
    return {"window_s": window, "sessions_per_s": rates, "steady": steady}


def run_load_profiles(a, profiles, results):
    # open-2000 runs last on its stack: when the stack cannot keep up, the backlog it leaves must
    # not disturb another profile.
    want_1x1 = [p for p in ("closed-1x1", "open-500", "open-1000", "open-1500", "wfe-closed", "open-2000")
                if p in profiles]
    if want_1x1:
        st = StackRun(a.build_dir, 1, 1, env=stack_env())
        try:
            warm = warm_up(st, a)
            for p in want_1x1:
                settled = settle(st)
                if p == "closed-1x1":
                    r = closed_sweep(st, a, p, a.concurrency)
                    if a.perf:
                        settle(st)
                        r["perf_top"] = perf_run(st, a, r["best_concurrency"])
                elif p == "open-500":
                    r = {"profile": p, "best": loadgen(common_args(st, a) + [
                        "--mode", "open", "--rate", 500, "--warmup", a.warmup, "--duration", a.duration,
                        "--name", p], a.loadgen)}
                elif p.startswith("open-"):
                    runs = []
                    for i in range(OPEN_2000_RUNS if p == "open-2000" else 1):
                        if i:
                            settle(st)
                        runs.append(loadgen(common_args(st, a) + [
                            "--mode", "open", "--rate", int(p[5:]), "--warmup", a.warmup, "--duration", a.duration,
                            "--session-timeout", 20, "--max-active", 6000, "--name", "%s-run%d" % (p, i + 1)],
                            a.loadgen))
                    # "best" is what every report reads; of several runs it is the worst one, so
                    # that a target met there is met in every run.
                    r = {"profile": p, "best": max(runs, key=open_run_badness)}
                    if len(runs) > 1:
                        r["runs"] = runs
                else:
                    r = closed_sweep(st, a, p, list(KEY_CONCURRENCY), strategy="wfe")
                r["stack_start_s"] = round(st.start_s, 1)
                r["warm_up"] = warm
                r["settle_before_s"] = settled
                r["gateway_env"] = stack_env()
                results[p] = r
                write_result(p, r)
        finally:
            st.stop()
    if "closed-2x2" in profiles:
        st = StackRun(a.build_dir, 2, 2, env=stack_env())
        try:
            warm = warm_up(st, a)
            settle(st)
            r = closed_sweep(st, a, "closed-2x2", [c * 2 for c in a.concurrency[-2:]], extra=["--stream-offset", 1])
            r["stack_start_s"] = round(st.start_s, 1)
            r["warm_up"] = warm
            r["gateway_env"] = stack_env()
            results["closed-2x2"] = r
            write_result("closed-2x2", r)
        finally:
            st.stop()


def open_run_badness(r):
    s = r["stats"]
    return (s["failed"], s["latency"]["overhead"]["p99_ms"])


def run_memory(a, results):
    """The memory profile, on a warmed-up stack (a rising throughput would look like growing
    memory), measured once the warm-up's sessions have expired, since their expiry inside the
    window would hide the growth per session."""
    env = stack_env()
    env["SESSION_RETENTION_S"] = str(memory.RETENTION_S)
    load_s, flat_from = (memory.RETENTION_S + 50, memory.RETENTION_S + 20) if a.quick else \
        (memory.RETENTION_S + 110, memory.FLAT_FROM_S)
    st = StackRun(a.build_dir, 1, 1, env=env)
    try:
        r0 = memory.Redis(st.info["redis"])
        keys_before = int(r0.cmd("DBSIZE"))
        r0.close()
        warm = warm_up(st, a)
        # The audit outboxes (one stream per bucket, no TTL) stay: hence the slack.
        expired_after = memory.wait_keys_back(st.info["redis"], keys_before + 32, memory.RETENTION_S + 90)
        if expired_after is None:
            log("memory: the warm-up's keys had not expired after %d s; measuring anyway" % (memory.RETENTION_S + 90))

        def completed():
            vals = [metric(u, "aggregator_sessions_completed_total") for u in st.info["workers"]]
            return None if any(v is None for v in vals) else sum(vals)
        sampler = memory.Sampler(st.info["redis"], completed)
        sampler.start()
        conc = 32
        r = loadgen(common_args(st, a) + ["--mode", "closed", "--concurrency", conc, "--warmup", 0,
                                          "--duration", load_s, "--name", "memory"], a.loadgen)
        sampler.stop_evt.set()
        sampler.join(10)
        usage = memory.session_usage(st.info["redis"])
        out = {"profile": "memory", "concurrency": conc, "strategy": "sse", "stats": r["stats"],
               "procs": r["procs"], "gateway_env": env, "stack_start_s": round(st.start_s, 1),
               "warm_up": warm, "warm_up_expired_after_s": expired_after,
               "analysis": memory.analyse(sampler.samples, load_s, flat_from), "session_usage": usage,
               "sampler_error": sampler.error, "samples": sampler.samples}
        log("memory: %s B per session (used_memory), MEMORY USAGE %s, last part spread %s %%" % (
            out["analysis"].get("used_memory_bytes_per_session"), usage and usage["session"],
            out["analysis"].get("flat_spread_pct")))
        results["memory"] = out
        write_result("memory", out)
    finally:
        st.stop()


DENSITY_SWEEP = (0, 2000, 8000)  # idle streams next to the flow, besides the largest K


def run_scripts(a, results):
    """Redis' own time per call of each session script, replayed alone (bench/scriptcost.py)."""
    log("scripts: replaying session script calls on a private redis-server")
    results["scripts"] = scriptcost.measure([scriptcost.SCRIPTS], sessions=2000 if a.quick else 20000)
    write_result("scripts", results["scripts"])


def density_cpu_per_event(r, marginal):
    """The gateway's CPU microseconds per event delivered in the flow window of a density run
    (events of the window's sessions: the loadgen counts events over all of its sessions).
    marginal: less the CPU of the idle window just before (the idle streams' keep-alive
    comments and timers, which go on during the flow): what delivering the flow's events
    costs next to the idle streams."""
    st = g(r, "flow", "stats", default={})
    cpu = g(r, "flow", "procs", "gateway-0", "cpu_pct")
    idle = g(r, "idle", "procs", "gateway-0", "cpu_pct")
    ok, win_ok, ev = st.get("ok", 0), st.get("window_ok", 0), st.get("events", 0)
    if cpu is None or cpu < 0 or not ok or not win_ok or not ev or (marginal and (idle is None or idle < 0)):
        return None
    return (cpu - (idle if marginal else 0)) / 100 * st["window_s"] * 1e6 / (win_ok * ev / ok)


def run_density(a, results):
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    k = a.streams
    limited = None
    # Head-room for the flow window's sessions and the harness: each needs descriptors in the
    # load generator and in the gateway, which share this limit.
    if hard != resource.RLIM_INFINITY and k + 2500 > hard:
        k = hard - 2500
        limited = ("RLIMIT_NOFILE hard limit is %d here (no CAP_SYS_RESOURCE to raise it): "
                   "K lowered from %d to %d" % (hard, a.streams, k))
        log(limited)
    env = {"MAX_CONNECTIONS": str(max(k + 2000, 1000)), "CONNECTION_MEMORY_LIMIT_BYTES": "4096",
           "AGGREGATOR_TIMEOUT_MAX_MS": "600000"}
    # To compare daemon counts (docs/configuration.md); unset: the gateway's default.
    if os.environ.get("BENCH_HTTP_LISTENERS"):
        env["HTTP_LISTENERS"] = os.environ["BENCH_HTTP_LISTENERS"]
    st = StackRun(a.build_dir, 1, 1, env=env)
    try:
        nsrc = max(2, math.ceil(k / 25000) + 1)
        gw_only = "gateway-0=%d" % st.info["pids"]["gateway-0"]
        others = ",".join("%s=%d" % (n, p) for n, p in st.info["pids"].items() if n != "gateway-0")

        def point(rk, kk):
            return {"streams_requested": kk, "streams_open": rk["streams_open"],
                    "gateway_cpu_pct_idle": g(rk, "idle", "procs", "gateway-0", "cpu_pct"),
                    "gateway_cpu_pct": g(rk, "flow", "procs", "gateway-0", "cpu_pct"),
                    "flow_failed": g(rk, "flow", "stats", "failed", default=0),
                    "gateway_cpu_us_per_event_gross": density_cpu_per_event(rk, False),
                    "gateway_cpu_us_per_event": density_cpu_per_event(rk, True)}

        def one(streams, idle):
            return loadgen(["--gateways", st.info["gateways"][0], "--pids", gw_only + "," + others,
                            "--mode", "density", "--streams", streams, "--src-addrs", nsrc,
                            "--idle", idle, "--flow", a.flow, "--flow-rate", 200, "--name", "density"],
                           a.loadgen)
        # The largest K first, on a fresh gateway: its RSS per stream is not blurred by the
        # memory earlier runs left. The smaller K then reuse the stack (each run hangs up its
        # streams); the same flow each time, so the CPU per event compares.
        r = one(k, a.idle)
        sweep = []
        for kk in DENSITY_SWEEP:
            if kk < k:
                sweep.append(point(one(kk, a.idle), kk))
        sweep.append(point(r, k))
        base = sweep[0]["gateway_cpu_us_per_event"] if sweep[0]["streams_requested"] == 0 else None
        for e in sweep:
            c = e["gateway_cpu_us_per_event"]
            e["ratio_to_none"] = round(c / base, 3) if base and c is not None else None
            log("density: %d idle streams: gateway CPU %s%% idle, %s%% with the flow: %s us per delivered "
                "event (x%s of none; %s us gross)" % (
                    e["streams_open"], e["gateway_cpu_pct_idle"], e["gateway_cpu_pct"], fmt(c),
                    e["ratio_to_none"], fmt(e["gateway_cpu_us_per_event_gross"])))
        r["profile"] = "density"
        r["gateway_env"] = env
        r["source_addresses"] = nsrc
        r["limited_by"] = limited
        r["stack_start_s"] = round(st.start_s, 1)
        r["cpu_per_event_sweep"] = sweep
        results["density"] = r
        write_result("density", r)
    finally:
        st.stop()


# ---- report -------------------------------------------------------------------

def machine():
    model = ""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    return {"cpus": os.cpu_count(), "cpu_model": model, "mem_gib": round(mem / 2 ** 30, 1),
            "kernel": platform.release(), "nofile": list(resource.getrlimit(resource.RLIMIT_NOFILE))}


def write_result(name, r):
    r = dict(r)
    r["machine"] = machine()
    r["when"] = time.strftime("%Y-%m-%dT%H:%M:%S%z")
    os.makedirs(RESULTS, exist_ok=True)
    tmp = os.path.join(RESULTS, name + ".json.tmp")
    with open(tmp, "w") as f:
        json.dump(r, f, indent=1)
    os.replace(tmp, os.path.join(RESULTS, name + ".json"))


def load_results():
    out = {}
    for p in ALL_PROFILES:
        path = os.path.join(RESULTS, p + ".json")
        if os.path.exists(path):
            with open(path) as f:
                out[p] = json.load(f)
    return out


def warm_up_lines(res):
    """One line per stack: its warm-up windows' sessions/s and whether they settled."""
    stacks = [("1 gateway + 1 worker", next((res[p].get("warm_up") for p in ("closed-1x1", "wfe-closed")
                                              + tuple(OPEN_PROFILES) if p in res and res[p].get("warm_up")), None)),
              ("2 + 2", g(res, "closed-2x2", "warm_up")), ("memory", g(res, "memory", "warm_up"))]
    out = []
    for name, w in stacks:
        if w:
            out.append("- %s: %s sessions/s, %s after %d s" % (
                name, ", ".join("%.0f" % x for x in w["sessions_per_s"]),
                "steady" if w["steady"] else "**not steady**", len(w["sessions_per_s"]) * w["window_s"]))
    if not out:
        return []
    return ["", "Warm-up of each stack before its profiles (closed loop, c=32, %d s windows (3 s with --quick) until %d in a row "
            "agree within %.0f %%, at most %d s):" % (WARM_UP_WINDOW_S, WARM_UP_WINDOWS, WARM_UP_SPREAD_PCT,
                                                     WARM_UP_MAX_S), ""] + out


def write_summary(res):
    rows = targets(res)
    lines = ["# Benchmark summary", "",
             "Generated by `make bench` (bench/harness.py); raw figures in bench/results/<profile>.json.", ""]
    # The machine the results were measured on (--report-only may run elsewhere).
    stored = [r.get("machine") for r in res.values()]
    seen = [m for i, m in enumerate(stored) if m and m not in stored[:i]]
    lines.append("Machine: %s; everything (Kafka JVM, Redis, services, load generator) on it." % " and ".join(
        "%d CPUs (%s), %.1f GiB, kernel %s" % (m["cpus"], m["cpu_model"], m["mem_gib"], m["kernel"])
        for m in (seen or [machine()])) + (" (profiles of %d machines)" % len(seen) if len(seen) > 1 else ""))
    lines += warm_up_lines(res)
    lines += ["", "| target | figure | met? |", "|---|---|---|"]
    for t, f, met in rows:
        lines.append("| %s | %s | %s |" % (t, f, {True: "yes", False: "**no**", None: "not measured"}.get(met, met)))
    lines += ["", "## Latency (ms, from the intended start; overhead = summary time - slowest delay)", "",
              "| profile | sessions/s | ok | failed | POST p50/p99 | first event p50/p99 | overhead p50 | p90 | p99 | p99.9 | max |",
              "|---|---|---|---|---|---|---|---|---|---|---|"]
    for p in ["closed-1x1"] + OPEN_PROFILES + ["wfe-closed", "closed-2x2"]:
        s = g(res, p, "best", "stats")
        if not s:
            continue
        L = s["latency"]
        fe = L.get("first_event")
        label = p + (" (c=%s)" % res[p]["best"]["concurrency"] if res[p]["best"]["concurrency"] else "")
        if res[p].get("runs"):
            label += " (worst of %d runs)" % len(res[p]["runs"])
        lines.append("| %s | %.0f | %d | %d | %s / %s | %s | %s | %s | %s | %s | %s |" % (
            label, s["sessions_per_s"], s["ok"], s["failed"], fmt(L["post"]["p50_ms"]), fmt(L["post"]["p99_ms"]),
            "%s / %s" % (fmt(fe["p50_ms"]), fmt(fe["p99_ms"])) if fe else "-",
            fmt(L["overhead"]["p50_ms"]), fmt(L["overhead"]["p90_ms"]), fmt(L["overhead"]["p99_ms"]),
            fmt(L["overhead"]["p999_ms"]), fmt(L["overhead"]["max_ms"])))
    lines += cpu_table(res)
    lines += ["", "## CPU (% of one core) and peak RSS (MiB) per component in the measurement window", "",
              "| profile | " + " | ".join(["gateway", "worker", "kafka", "redis", "resources", "loadgen"]) + " |",
              "|---|---|---|---|---|---|---|"]
    for p in ["closed-1x1"] + OPEN_PROFILES + ["wfe-closed", "closed-2x2"]:
        procs = g(res, p, "best", "procs")
        if not procs:
            continue
        cells = []
        for prefix in ("gateway", "worker", "kafka", "redis", "resource", "loadgen"):
            ms = [v for k, v in procs.items() if k.startswith(prefix)]
            cpu = sum(v["cpu_pct"] for v in ms)
            rss = sum(v["rss_mib_max"] for v in ms)
            cells.append("%.0f%% / %.0f" % (cpu, rss) if ms else "-")
        lines.append("| %s | %s |" % (p, " | ".join(cells)))
    d = res.get("density")
    if d:
        gi = g(d, "idle", "procs", "gateway-0", default={})
        gf = g(d, "flow", "procs", "gateway-0", default={})
        fs = g(d, "flow", "stats", default={})
        lines += ["", "## SSE density", "",
                  "%d streams open (of %d) over %d sessions from %d source addresses in %.1f s; gateway RSS %.1f -> %.1f MiB "
                  "(%s per stream right after opening, %s after the idle window); gateway CPU idle %.1f%% over %.0f s, %.1f%% with %d sessions/s flowing "
                  "(overhead p99 %s ms, %d failed, %d idle streams dropped)." % (
                      d["streams_open"], d["streams_requested"], d["sessions"], d.get("source_addresses", 0),
                      d["open_s"], d["gateway_rss_mib_before"], d["gateway_rss_mib_after"],
                      fmt(d["gateway_rss_bytes_per_stream"] / 1024, " KiB", 2),
                      fmt((d.get("gateway_rss_bytes_per_stream_after_idle") or 0) / 1024, " KiB", 2), gi.get("cpu_pct", -1),
                      g(d, "idle", "window_s", default=0), gf.get("cpu_pct", -1), g(d, "flow", "rate", default=0),
                      fmt(g(fs, "latency", "overhead", "p99_ms")), g(fs, "failed", default=0),
                      g(d, "flow", "streams_dropped", default=0))]
        sw = d.get("cpu_per_event_sweep") or []
        if sw:
            lines += ["", "Gateway CPU per delivered event, the same %d sessions/s flowing next to K idle streams "
                      "(per event: the flow's CPU less the idle window's, which is the idle streams' keep-alives; "
                      "gross: without that subtraction):" % g(d, "flow", "rate", default=0), "",
                      "| idle streams open | gateway CPU idle | with the flow | us per event | / none | gross us | flow failed |",
                      "|---|---|---|---|---|---|---|"]
            for e in sw:
                lines.append("| %d | %s | %s | %s | %s | %s | %d |" % (
                    e["streams_open"], fmt(e.get("gateway_cpu_pct_idle"), " %"), fmt(e["gateway_cpu_pct"], " %"),
                    fmt(e["gateway_cpu_us_per_event"]), fmt(e["ratio_to_none"], "", 2),
                    fmt(e.get("gateway_cpu_us_per_event_gross")), e["flow_failed"]))
        if d.get("limited_by"):
            lines.append("")
            lines.append("Limit: " + d["limited_by"] + ".")
    lines += memory.summary_lines(res.get("memory"))
    lines += scriptcost.summary_lines(res.get("scripts"))
    su = res.get("startup")
    if su:
        lines += ["", "## Start-up (Kafka and Redis up; readiness polled every 2 ms)", "",
                  "| binary | ready median | min | max | idle RSS |", "|---|---|---|---|---|"]
        for n, c in su["components"].items():
            lines.append("| %s | %.1f ms | %.1f ms | %.1f ms | %.1f MiB |" % (
                n, c["ready_ms_median"], c["ready_ms_min"], c["ready_ms_max"], c["idle_rss_mib_max"]))
    for p in ("closed-1x1",):
        top = g(res, p, "perf_top")
        if top:
            lines += ["", "## Where the time goes (perf, closed-1x1, top symbols)", ""]
            for comp, tl in top.items():
                if tl:
                    lines += ["%s:" % comp, "", "```"] + tl[:12] + ["```", ""]
    text = "\n".join(lines) + "\n"
    with open(os.path.join(RESULTS, "summary.md"), "w") as f:
        f.write(text)
    return rows


def print_screen(res, rows):
    print("=" * 78)
    print("aggregator benchmark (bench/results/summary.md has the tables)")
    print("-" * 78)
    for t, f, met in rows:
        mark = {True: "MET ", False: "MISS", None: " -- "}.get(met, "info")
        print("[%s] %-46.46s %s" % (mark, t, f))
    print("-" * 78)
    for p in ["closed-1x1"] + OPEN_PROFILES + ["wfe-closed", "closed-2x2"]:
        s = g(res, p, "best", "stats")
        if s:
            o = s["latency"]["overhead"]
            print("%-11s %7.0f/s ok %-7d fail %-5d overhead p50 %7.1f p99 %7.1f p99.9 %7.1f max %7.1f ms" % (
                p, s["sessions_per_s"], s["ok"], s["failed"], o["p50_ms"], o["p99_ms"], o["p999_ms"], o["max_ms"]))
    print("=" * 78)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--build-dir", default="build")
    ap.add_argument("--loadgen", required=True)
    ap.add_argument("--profiles", default=",".join(ALL_PROFILES))
    ap.add_argument("--streams", type=int, default=int(os.environ.get("BENCH_STREAMS", "50000")))
    ap.add_argument("--concurrency", default=os.environ.get("BENCH_CONCURRENCY", "16,32,64,256"),
                    help="closed-loop sweep")
    ap.add_argument("--quick", action="store_true", help="short windows (a smoke run)")
    ap.add_argument("--perf", action="store_true", help="perf record the gateway, worker and redis in closed-1x1")
    ap.add_argument("--report-only", action="store_true", help="rewrite summary.md from the stored results")
    a = ap.parse_args()
    a.build_dir_abs = a.build_dir if os.path.isabs(a.build_dir) else os.path.join(REPO, a.build_dir)
    a.concurrency = [int(c) for c in a.concurrency.split(",")]
    a.warmup, a.warmup_next, a.step_duration, a.duration = (2, 1, 4, 6) if a.quick else (5, 2, 10, 20)
    a.idle, a.flow = (4, 4) if a.quick else (16, 10)
    profiles = [p for p in a.profiles.split(",") if p]
    unknown = [p for p in profiles if p not in ALL_PROFILES]
    if unknown:
        ap.error("unknown profiles: %s (known: %s)" % (", ".join(unknown), ", ".join(ALL_PROFILES)))
    results = {}
    failures = []
    if not a.report_only:
        t0 = time.monotonic()
        if "startup" in profiles:
            try:
                results["startup"] = profile_startup(a)
                write_result("startup", results["startup"])
            except (RuntimeError, OSError) as e:
                failures.append("startup: %s" % e)
        try:
            run_load_profiles(a, profiles, results)
        except (RuntimeError, OSError, subprocess.TimeoutExpired) as e:
            failures.append("load: %s" % e)
        for name, run in (("memory", run_memory), ("density", run_density), ("scripts", run_scripts)):
            if name in profiles:
                try:
                    run(a, results)
                except (RuntimeError, OSError, subprocess.TimeoutExpired) as e:
                    failures.append("%s: %s" % (name, e))
        log("profiles done in %.0f s" % (time.monotonic() - t0))
    res = load_results()
    rows = write_summary(res)
    print_screen(res, rows)
    for f in failures:
        log("FAILED %s" % f)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
