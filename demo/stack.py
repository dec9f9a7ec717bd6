#!/usr/bin/env python3
"""stack.py: starts the whole aggregator stack (Redis, Kafka, resource-sims, gateways, workers, web).

Used by `make demo`, the integration tests (import it: class Stack), the browser
tests and the benchmarks (run it as a program). Python 3 standard library only.

    python3 demo/stack.py [--build-dir build] [--kafka mock|real|<brokers>] [--kafka-brokers N]
                          [--gateways N] [--workers M] [--base-port 8080] [--free-ports]
                          [--web] [--supervise] [--json-out FILE] [--only infra]
                          [--timeout-default-ms MS] [--env NAME=VALUE ...]
                          [--callbacks service|direct] [--callback-port]
                          [--redis plain|aof|sentinel]

When everything is ready it prints one JSON line to stdout:
{"gateways":[urls],"workers":[management urls],"resources":[urls],"web":url|null,
 "redis":url,"kafka":brokers,"pids":{name:pid},"logs":dir,"callback_signing_key":key}
and the URLs in words on stderr. SIGINT/SIGTERM stop every child and exit 0.

Callback capabilities: every gateway and worker gets CALLBACK_SIGNING_KEY, a random key per
stack (Stack.callback_signing_key, "callback_signing_key" above: a test or a load generator that
posts callbacks of its own signs them with it) unless the environment or --env gives
CALLBACK_SIGNING_KEY or CALLBACK_SIGNING_KEY_FILE.

Process names: "redis", "kafka" ("kafka-1".."kafka-N" with --kafka-brokers N: a KRaft
cluster, replication factor 3, min.insync.replicas 2), "resource-1".."resource-3"
(= RESOURCE_ID; "resources" with --resources-in-one-process), "service" (with several
gateways), "gateway-0".., "worker-0"..,"web".

Redis (--redis): plain (default) one redis-server without persistence; aof the same with
appendonly yes, appendfsync everysec in a data dir of its own (a restart keeps the sessions);
sentinel a primary "redis" and a replica "redis-replica" (both AOF) watched by three
sentinels "sentinel-0".."sentinel-2" (master name "agg", down after 1 s), every gateway and
worker configured through REDIS_SENTINELS and REDIS_MASTER_NAME; Stack.redis_primary(),
kill_redis_primary(), wait_redis_failover() and restart(name) drive a failover.

Callbacks: with several gateways the resources answer through "service" (demo/service.py), a
round-robin balancer over the ready gateways, as a Kubernetes Service routes them; so a gateway
that drains or dies loses no answer. --callbacks direct gives each gateway its own URL instead
(make bench: no Python process in the measured path). --callback-port gives each gateway a
second listener for answers only (CALLBACK_PORT), as the chart does; make bench uses it.
"""

import argparse
import base64
import concurrent.futures
import ctypes
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
import uuid

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
KAFKA_DIR = os.path.join(REPO, "tests", "kafka")
TOPICS = ("agg.requests", "agg.callbacks")
# The audit trail (worker/auditrelay.c): kept 400 days, longer than any clinical question about
# who read a journal is likely to wait (docs/operations.md, "Audit trail"); not one of TOPICS,
# which the broker checks below go over (it carries no work).
AUDIT_TOPIC = "agg.audit"
AUDIT_RETENTION_MS = 400 * 24 * 3600 * 1000
TOPIC_PARTITIONS = 6
RESOURCE_DEFAULT_PORTS = (8081, 8083, 8084)
WEB_DEFAULT_PORT = 8082
WORKER_MGMT_BASE = 8091
PR_SET_PDEATHSIG = 1


class StackError(RuntimeError):
    """The stack could not be started (a process died or was not ready in time)."""


# The patient hashing key of the demo stack's logs (LOG_PATIENT_KEY overrides it).
DEMO_PATIENT_KEY = "demo-stack-patient-log-key"


def log(msg):
    sys.stderr.write("stack: %s\n" % msg)
    sys.stderr.flush()


def free_port():
    """A loopback TCP port that is free now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def log_tail(path, lines=8):
    """The last lines of a process log, for an error message (CI keeps no run directory)."""
    try:
        with open(path, "rb") as f:
            f.seek(0, os.SEEK_END)
            f.seek(max(0, f.tell() - 4096))
            text = f.read().decode("utf-8", "replace")
    except OSError as e:
        return "(log unreadable: %s)" % e
    return "\n".join("    " + line for line in text.splitlines()[-lines:]) or "    (log empty)"


def port_open(port, host="127.0.0.1", timeout=0.5):
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def http_status(url, timeout=2.0):
    """The HTTP status of GET url, or None when it cannot be reached."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as r:
            return r.status
    except urllib.error.HTTPError as e:
        return e.code
    except (OSError, ValueError):
        return None


REDIS_MASTER_NAME = "agg"
# Every session key has a TTL, and they expire by the thousand per second: at the default effort
# (1) Redis' active expiry fell behind and reclaimed them in waves (used_memory 22 % up and
# down once the retention window was full); at 10 it keeps up (2.6 %) for the same CPU.
# docs/operations.md ("Capacity notes") and bench/README.md give the figures.
REDIS_EXPIRY_ARGS = ["--active-expire-effort", "10"]


def redis_cmd(port, *args, timeout=1.0):
    """One command to the Redis (or sentinel) on 127.0.0.1:port: its reply (str, int, list or
    None), or None when it cannot be reached or answers an error."""
    def read(f):
        line = f.readline()
        if not line:
            raise OSError("closed")
        kind, rest = line[:1], line[1:-2].decode(errors="replace")
        if kind == b"+":
            return rest
        if kind == b"-":
            raise ValueError(rest)
        if kind == b":":
            return int(rest)
        if kind == b"$":
            return None if rest == "-1" else f.read(int(rest) + 2)[:-2].decode(errors="replace")
        if kind == b"*":
            return None if rest == "-1" else [read(f) for _ in range(int(rest))]
        raise ValueError("unexpected reply %r" % line)
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
            out = b"*%d\r\n" % len(args)
            for a in args:
                a = str(a).encode()
                out += b"$%d\r\n%s\r\n" % (len(a), a)
            s.sendall(out)
            with s.makefile("rb") as f:
                return read(f)
    except (OSError, ValueError):
        return None


def wait_for(cond, deadline, what):
    while not cond():
        if time.monotonic() > deadline:
            raise StackError("not in time: %s" % what)
        time.sleep(0.1)


def redis_ping(port, timeout=0.5):
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
            s.sendall(b"PING\r\n")
            return s.recv(64).startswith(b"+PONG")
    except OSError:
        return False


def _child_setup():
    """Runs in each child before exec: dies with SIGKILL when the thread that forked it exits."""
    try:
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    except OSError:
        pass


def _infra_child_setup():
    """_child_setup, and SCHED_BATCH for Redis and Kafka (all their threads inherit it): what
    the gateway, the worker and the resources set on themselves (CPU_SCHED_POLICY), so that on
    shared cores no process of the pipeline preempts another at each message it sends (see
    bench/README.md, "Profiling"). AGG_INFRA_SCHED_POLICY=normal keeps the kernel's default."""
    _child_setup()
    if os.environ.get("AGG_INFRA_SCHED_POLICY", "batch") == "batch":
        try:
            os.sched_setscheduler(0, os.SCHED_BATCH, os.sched_param(0))
        except OSError:
            pass  # a refusing kernel: the default policy, as before


class Proc:
    """One child process: how to start it, how to tell it is ready, and its log."""

    def __init__(self, name, argv, env, log_path, cwd=None, ready=None, kind="other"):
        self.name = name
        self.argv = argv
        self.env = env
        self.log_path = log_path
        self.cwd = cwd
        self.ready = ready          # callable -> bool, or None
        self.kind = kind            # gateway | worker | resource | redis | kafka | web | other
        self.popen = None
        self.expect_exit = False    # set while stop()/restart() ends it on purpose
        self.restarts = 0

    @property
    def pid(self):
        return self.popen.pid if self.popen else None

    def alive(self):
        return self.popen is not None and self.popen.poll() is None


class Stack:
    """The whole stack as a library.

    s = Stack(build_dir="build", kafka="real", gateways=2, workers=2, free_ports=True)
    s.start(); s.gateway_url(0); s.kill("worker-1", signal.SIGKILL); s.restart("worker-1"); s.stop()
    """

    def __init__(self, build_dir="build", kafka="mock", gateways=1, workers=1, base_port=8080,
                 free_ports=False, web=False, supervise=False, only=None, timeout_default_ms=None,
                 log_level="info", env=None, run_dir=None, ready_timeout=60.0, notes_per_response=3,
                 resources=3, resources_in_one_process=False, callbacks="service",
                 redis="plain", kafka_brokers=1, callback_port=False):
        if not os.path.isabs(build_dir) and not os.path.isdir(build_dir):
            build_dir = os.path.join(REPO, build_dir)  # relative to the repository
        self.build_dir = os.path.abspath(build_dir)
        self.kafka_mode = kafka
        if kafka_brokers < 1 or (kafka_brokers > 1 and kafka != "real"):
            raise ValueError("kafka_brokers: 1, or more with kafka=\"real\"")
        self.n_kafka_brokers = kafka_brokers
        self._kafka_names = []
        self.n_gateways = gateways
        self.n_workers = workers
        self.base_port = base_port
        self.free_ports = free_ports
        self.web = web
        self.supervise = supervise
        self.only = only
        self.timeout_default_ms = timeout_default_ms
        self.log_level = log_level
        self.extra_env = dict(env or {})
        self.callback_signing_key, self._key_env = self._signing_key()
        self.ready_timeout = ready_timeout
        self.notes_per_response = notes_per_response
        self.n_resources = resources
        self.resources_in_one_process = resources_in_one_process
        self.callbacks = callbacks
        self.callback_port = callback_port
        if redis not in ("plain", "aof", "sentinel"):
            raise ValueError("redis must be plain, aof or sentinel")
        self.redis_mode = redis
        self.redis_sentinels = []  # sentinel mode: "127.0.0.1:port" of each sentinel
        self.service_url = None
        stamp = time.strftime("%Y%m%d-%H%M%S") + "-%d" % os.getpid()
        self.run_dir = run_dir or os.path.join(self.build_dir, "stack-" + stamp)
        self.procs = {}
        self.redis_url = None
        self.kafka_brokers = None
        self.kafka_sasl = None  # real broker: its SASL_SSL listener (KAFKA_SASL_*, KAFKA_SSL_*)
        self.gateway_urls = []
        self.worker_urls = []
        self.resource_urls = []
        self.web_url = None
        self._tmpdirs = []
        self._lock = threading.RLock()
        self._stopping = False
        self._stopped = False
        self._spawner = concurrent.futures.ThreadPoolExecutor(max_workers=1,
                                                              thread_name_prefix="stack-spawn")
        self._supervisor = None

    def _signing_key(self):
        """(the key gateways and workers sign and check callbacks with, the environment that
        gives it to them): the environment's or --env's, else a random one."""
        given = dict(os.environ, **self.extra_env)
        if given.get("CALLBACK_SIGNING_KEY_FILE"):
            with open(given["CALLBACK_SIGNING_KEY_FILE"]) as f:
                return f.read().rstrip("\r\n"), {}
        key = given.get("CALLBACK_SIGNING_KEY") or secrets.token_urlsafe(32)
        return key, {"CALLBACK_SIGNING_KEY": key}

    # ---- public API ------------------------------------------------------

    def start(self):
        """Starts everything and waits until it is ready. Raises StackError (after stopping what
        was started) when something fails."""
        try:
            self._start()
        except BaseException:
            self.stop()
            raise
        return self.info()

    def info(self):
        return {
            "gateways": list(self.gateway_urls),
            "workers": list(self.worker_urls),
            "resources": list(self.resource_urls),
            "web": self.web_url,
            "redis": self.redis_url,
            "redis_sentinels": list(self.redis_sentinels),
            "kafka": self.kafka_brokers,
            "pids": {n: p.pid for n, p in self.procs.items() if p.alive()},
            "service": self.service_url,
            "logs": self.run_dir,
            "callback_signing_key": self.callback_signing_key,
        }

    def gateway_url(self, i=0):
        return self.gateway_urls[i]

    def worker_url(self, i=0):
        return self.worker_urls[i]

    def resource_url(self, i=0):
        return self.resource_urls[i]

    def redis_port(self):
        return int(self.redis_url.rsplit(":", 1)[1].split("/")[0])

    def pid(self, name):
        return self.procs[name].pid

    def alive(self, name):
        return self.procs[name].alive()

    def log_path(self, name):
        return self.procs[name].log_path

    def kill(self, name, sig=signal.SIGKILL):
        """Sends sig to process name (the supervisor, when on, restarts a gateway or worker that
        exits)."""
        p = self.procs[name]
        if p.alive():
            p.popen.send_signal(sig)

    def pause(self, name, timeout=10.0):
        """SIGSTOP to process name, then waits until every one of its threads is stopped: a
        signal stops the threads of a busy JVM a moment after kill() returns, and a request
        it serves in that moment would still be answered."""
        p = self.procs[name]
        p.popen.send_signal(signal.SIGSTOP)
        task_dir = "/proc/%d/task" % p.popen.pid
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            states = []
            for tid in os.listdir(task_dir):
                try:
                    with open(os.path.join(task_dir, tid, "stat")) as f:
                        states.append(f.read().rsplit(")", 1)[1].split()[0])
                except OSError:
                    continue  # a thread that ended
            if states and all(st in ("T", "t") for st in states):
                return
            time.sleep(0.005)
        raise StackError("%s not stopped %.0f s after SIGSTOP" % (name, timeout))

    def wait_exit(self, name, timeout=10.0):
        """Waits until process name has exited; returns its exit code (None when still alive)."""
        p = self.procs[name]
        try:
            return p.popen.wait(timeout)
        except subprocess.TimeoutExpired:
            return None

    def restart(self, name, wait_ready=True, env=None):
        """Stops process name if it runs (SIGTERM, then SIGKILL) and starts it again with the
        same port and environment, changed by env (a value of None removes the variable);
        waits until it is ready."""
        with self._lock:
            p = self.procs[name]
            for k, v in (env or {}).items():
                if v is None:
                    p.env.pop(k, None)
                else:
                    p.env[k] = str(v)
            p.expect_exit = True
            self._terminate([p], 10.0)
            p.expect_exit = False
            p.restarts += 1
            self._spawn(p)
        if wait_ready:
            self._wait_ready([p], time.monotonic() + self.ready_timeout)

    def stop(self):
        """Terminates every child (SIGTERM, then SIGKILL after a deadline) and removes temp dirs."""
        with self._lock:
            if self._stopped:
                return
            self._stopping = True
            order = ["web", "gateway", "worker", "resource", "other", "kafka", "redis"]
            procs = list(self.procs.values())
            for kind in order:
                group = [p for p in procs if p.kind == kind]
                for p in group:
                    p.expect_exit = True
                self._terminate(group, 15.0 if kind == "kafka" else 8.0)
            for d in self._tmpdirs:
                shutil.rmtree(d, ignore_errors=True)
            self._tmpdirs = []
            self._spawner.shutdown(wait=False)
            self._stopped = True

    # ---- starting --------------------------------------------------------

    def _start(self):
        os.makedirs(self.run_dir, exist_ok=True)
        deadline = time.monotonic() + self.ready_timeout
        self._start_redis(deadline)
        self._start_kafka(deadline)
        if self.only == "infra":
            return
        for b in ("gateway", "worker", "resource-sim") + (("web-server",) if self.web else ()):
            if not os.access(os.path.join(self.build_dir, b), os.X_OK):
                raise StackError("%s not found in %s (build first)" % (b, self.build_dir))

        res_ports = [free_port() if self.free_ports else RESOURCE_DEFAULT_PORTS[i]
                     if i < len(RESOURCE_DEFAULT_PORTS) else RESOURCE_DEFAULT_PORTS[-1] + i
                     for i in range(self.n_resources)]
        gw_ports = [free_port() if self.free_ports else self.base_port + 100 * i
                    for i in range(self.n_gateways)]
        # Each gateway's CALLBACK_PORT, as the chart sets it (a listener for answers only).
        cb_ports = [free_port() if self.free_ports else self.base_port + 100 * i + 6
                    for i in range(self.n_gateways)] if self.callback_port else []
        wk_ports = [free_port() if self.free_ports else WORKER_MGMT_BASE + 100 * i
                    for i in range(self.n_workers)]
        web_port = (free_port() if self.free_ports else WEB_DEFAULT_PORT) if self.web else None

        self.resource_urls = ["http://127.0.0.1:%d" % p for p in res_ports]
        self.gateway_urls = ["http://127.0.0.1:%d" % p for p in gw_ports]
        answer_urls = ["http://127.0.0.1:%d" % p for p in cb_ports] or self.gateway_urls
        self.worker_urls = ["http://127.0.0.1:%d" % p for p in wk_ports]
        resource_list = ",".join(self.resource_urls)
        cors_port = web_port or WEB_DEFAULT_PORT
        cors = "http://localhost:%d,http://127.0.0.1:%d" % (cors_port, cors_port)

        started = []
        if len(gw_ports) > 1 and self.callbacks == "service":
            svc_port = free_port() if self.free_ports else self.base_port - 10
            self.service_url = "http://127.0.0.1:%d" % svc_port
            argv = [sys.executable, os.path.join(REPO, "demo", "service.py"), "--port",
                    str(svc_port), "--backends", ",".join(answer_urls)]
            started.append(self._add("service", argv, {}, kind="other",
                                     ready=lambda p=svc_port: port_open(p)))
        if self.resources_in_one_process and res_ports:
            # One process serving every resource on its own port (make bench: fewer
            # processes competing with the system under test for the same cores).
            spec = ",".join("resource-%d=%d" % (i + 1, port) for i, port in enumerate(res_ports))
            env = dict({"RESOURCES": spec, "NOTES_PER_RESPONSE": str(self.notes_per_response)},
                       **self._log_env())
            ready = [self._http_ready(port) for port in res_ports]
            started.append(self._add("resources", [os.path.join(self.build_dir, "resource-sim")], env,
                                     kind="resource", ready=lambda: all(r() for r in ready)))
        for i, port in enumerate(res_ports if not self.resources_in_one_process else []):
            rid = "resource-%d" % (i + 1)
            env = dict({"SERVER_PORT": str(port), "RESOURCE_ID": rid,
                        "NOTES_PER_RESPONSE": str(self.notes_per_response)}, **self._log_env())
            started.append(self._add(rid, [os.path.join(self.build_dir, "resource-sim")], env,
                                     kind="resource", ready=self._http_ready(port)))
        common = dict({"KAFKA_BROKERS": self.kafka_brokers, "RESOURCE_URLS": resource_list},
                      **self._redis_env(), **self._log_env(), **self._key_env)
        self._worker_env = dict(common)
        if self.kafka_mode == "mock" and "KAFKA_SESSION_TIMEOUT_MS" not in dict(
                os.environ, **self.extra_env):
            # librdkafka's mock cluster rebalances a silent member only a second before its
            # session ends, then holds the join: 4 s (its minimum) fails a worker over in
            # about 7.5 s, the default 6 s in about 11.5 s. A real broker needs no such help.
            self._worker_env["KAFKA_SESSION_TIMEOUT_MS"] = "4000"
        for i, port in enumerate(wk_ports):
            started.append(self._add_worker_proc(i, port))
        for i, port in enumerate(gw_ports):
            callback = "%s/aggregate/callback" % (self.service_url or answer_urls[i])
            env = dict(common, SERVER_PORT=str(port), AGGREGATOR_CALLBACK_URL=callback,
                       CORS_ALLOWED_ORIGINS=cors)
            if cb_ports:
                env["CALLBACK_PORT"] = str(cb_ports[i])
            if self.timeout_default_ms is not None:
                env["AGGREGATOR_TIMEOUT_DEFAULT_MS"] = str(self.timeout_default_ms)
            started.append(self._add("gateway-%d" % i, [os.path.join(self.build_dir, "gateway")],
                                     env, kind="gateway", ready=self._http_ready(port)))
        if self.web:
            self.web_url = "http://127.0.0.1:%d" % web_port
            # The page may call every gateway, by either name of this host (its default API base
            # is the page's own host on the gateway's port).
            connect = " ".join("http://%s:%d" % (host, port) for port in gw_ports
                               for host in ("127.0.0.1", "localhost"))
            env = dict({"WEB_PORT": str(web_port), "BIND_ADDR": "127.0.0.1",
                        "WEB_ROOT": os.path.join(REPO, "web"), "WEB_CONNECT_SRC": connect},
                       **self._log_env())
            started.append(self._add("web", [os.path.join(self.build_dir, "web-server")], env,
                                     kind="web", ready=self._http_ready(web_port)))
        self._wait_ready(started, deadline)
        if self.supervise:
            self._supervisor = threading.Thread(target=self._supervise, name="stack-supervisor",
                                                daemon=True)
            self._supervisor.start()

    # ---- workers ---------------------------------------------------------

    def add_worker(self, wait_ready=True, env=None):
        """Starts one more worker (the next worker-N, on a free port) and waits until it is ready
        (owns partitions); returns its name."""
        with self._lock:
            i = self.n_workers
            port = free_port() if self.free_ports else WORKER_MGMT_BASE + 100 * i
            p = self._add_worker_proc(i, port, env)
            self.worker_urls.append("http://127.0.0.1:%d" % port)
            self.n_workers += 1
        if wait_ready:
            self._wait_ready([p], time.monotonic() + self.ready_timeout)
        return p.name

    def remove_worker(self, name, timeout=30.0):
        """Stops the last added worker (SIGTERM, then SIGKILL) and forgets it; returns its exit
        code."""
        with self._lock:
            if name != "worker-%d" % (self.n_workers - 1):
                raise ValueError("remove_worker: only the last worker (worker-%d) can go"
                                 % (self.n_workers - 1))
            p = self.procs[name]
            p.expect_exit = True
            self._terminate([p], timeout)
            del self.procs[name]
            self.worker_urls.pop()
            self.n_workers -= 1
            return p.popen.returncode

    def _add_worker_proc(self, i, port, env=None):
        # A worker is ready once it owns a partition of each topic (each topic has its own
        # consumer group); one beyond a topic's partitions may be a standby that never is, so
        # for those the stack waits on liveness only.
        standby = i >= TOPIC_PARTITIONS
        path = "liveness" if standby else "readiness"
        env = dict(self._worker_env, MANAGEMENT_PORT=str(port), **(env or {}))
        return self._add("worker-%d" % i, [os.path.join(self.build_dir, "worker")], env,
                         kind="worker", ready=self._http_ready(port, path))

    def _http_ready(self, port, path="readiness"):
        url = "http://127.0.0.1:%d/actuator/health/%s" % (port, path)
        return lambda: http_status(url, timeout=1.0) == 200

    def _log_env(self):
        """Every component's log settings: JSON lines (unless LOG_FORMAT says otherwise) and one
        patient hashing key for the whole stack, so that a patient's hash is the same in every
        component's log (a demo key: a deployment sets its own secret)."""
        return {"LOG_LEVEL": self.log_level,
                "LOG_FORMAT": os.environ.get("LOG_FORMAT", "json"),
                "LOG_PATIENT_KEY": os.environ.get("LOG_PATIENT_KEY", DEMO_PATIENT_KEY)}

    def _redis_env(self):
        """How gateways and workers find Redis."""
        if self.redis_mode == "sentinel":
            return {"REDIS_SENTINELS": ",".join(self.redis_sentinels),
                    "REDIS_MASTER_NAME": REDIS_MASTER_NAME}
        return {"REDIS_URL": self.redis_url}

    def _redis_server(self, name, port, extra, deadline):
        d = tempfile.mkdtemp(prefix="agg-%s-" % name)
        self._tmpdirs.append(d)
        argv = ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                "--dir", d, "--loglevel", "warning"] + REDIS_EXPIRY_ARGS
        if self.redis_mode == "plain":
            argv += ["--appendonly", "no"]
        else:
            argv += ["--appendonly", "yes", "--appendfsync", "everysec"]
        return self._add(name, argv + extra, {}, kind="redis", ready=lambda: redis_ping(port))

    def _start_redis_sentinel(self, deadline):
        port, rport = free_port(), free_port()
        p = self._redis_server("redis", port, [], deadline)
        r = self._redis_server("redis-replica", rport, ["--replicaof", "127.0.0.1", str(port)],
                               deadline)
        self._wait_ready([p, r], deadline)
        # The replica in sync before the sentinels look: they learn of it from the primary.
        wait_for(lambda: "master_link_status:up" in (redis_cmd(rport, "INFO", "replication") or ""),
                 deadline, "the replica in sync")
        sports = [free_port() for _ in range(3)]
        procs = []
        for i, sp in enumerate(sports):
            d = tempfile.mkdtemp(prefix="agg-sentinel-")
            self._tmpdirs.append(d)
            conf = os.path.join(d, "sentinel.conf")
            with open(conf, "w") as f:
                f.write("port %d\nbind 127.0.0.1\ndir %s\n"
                        "sentinel monitor %s 127.0.0.1 %d 2\n"
                        "sentinel down-after-milliseconds %s 1000\n"
                        "sentinel failover-timeout %s 10000\n"
                        "sentinel parallel-syncs %s 1\n"
                        % (sp, d, REDIS_MASTER_NAME, port, REDIS_MASTER_NAME, REDIS_MASTER_NAME,
                           REDIS_MASTER_NAME))
            procs.append(self._add("sentinel-%d" % i, ["redis-sentinel", conf, "--loglevel",
                                                       "notice"], {}, kind="redis",
                                   ready=lambda sp=sp: redis_ping(sp)))
        self._wait_ready(procs, deadline)
        self.redis_sentinels = ["127.0.0.1:%d" % sp for sp in sports]
        self.redis_url = "redis://127.0.0.1:%d" % port

        def quorum():
            for sp in sports:
                reps = redis_cmd(sp, "SENTINEL", "REPLICAS", REDIS_MASTER_NAME) or []
                others = redis_cmd(sp, "SENTINEL", "SENTINELS", REDIS_MASTER_NAME) or []
                if len(reps) < 1 or len(others) < 2:
                    return False
            return True
        # A failover needs every sentinel to know the replica and the other two.
        wait_for(quorum, deadline, "the sentinels to know the replica and each other")

    def redis_primary(self):
        """(host, port) of the primary the first sentinel that answers names (sentinel mode)."""
        for a in self.redis_sentinels:
            addr = redis_cmd(int(a.rsplit(":", 1)[1]), "SENTINEL", "GET-MASTER-ADDR-BY-NAME",
                             REDIS_MASTER_NAME)
            if addr:
                return addr[0], int(addr[1])
        return None

    def redis_primary_name(self):
        """The process name ("redis" or "redis-replica") of the current primary."""
        addr = self.redis_primary()
        for n in ("redis", "redis-replica"):
            p = self.procs.get(n)
            if p and addr and ("--port", str(addr[1])) in zip(p.argv, p.argv[1:]):
                return n
        return None

    def kill_redis_primary(self, sig=signal.SIGKILL):
        """Kills the current primary (sentinel mode); returns (its name, its (host, port))."""
        addr = self.redis_primary()
        name = self.redis_primary_name()
        if name is None:
            raise StackError("no primary known to the sentinels")
        self.kill(name, sig)
        self.wait_exit(name)
        return name, addr

    def wait_redis_failover(self, old, timeout=30.0):
        """Waits until every sentinel names a primary other than old (host, port) and that
        server answers ROLE master; returns the new (host, port)."""
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            addrs = set()
            for a in self.redis_sentinels:
                r = redis_cmd(int(a.rsplit(":", 1)[1]), "SENTINEL", "GET-MASTER-ADDR-BY-NAME",
                              REDIS_MASTER_NAME)
                addrs.add((r[0], int(r[1])) if r else None)
            if len(addrs) == 1:
                new = addrs.pop()
                if new and new != tuple(old) and (redis_cmd(new[1], "ROLE") or [""])[0] == "master":
                    return new
            time.sleep(0.05)
        raise StackError("no failover away from %s:%d within %.0f s" % (old[0], old[1], timeout))

    def restart_redis_empty(self, name="redis"):
        """Kills Redis server name with -9, deletes its data (AOF) and starts it again: Redis
        back without any state. Waits until it answers PING."""
        p = self.procs[name]
        self.kill(name, signal.SIGKILL)
        self.wait_exit(name)
        d = p.argv[p.argv.index("--dir") + 1]
        for entry in os.listdir(d):
            path = os.path.join(d, entry)
            shutil.rmtree(path, ignore_errors=True) if os.path.isdir(path) else os.unlink(path)
        self.restart(name)

    def _start_redis(self, deadline):
        if self.redis_mode == "sentinel":
            self._start_redis_sentinel(deadline)
            return
        if self.redis_mode == "plain" and os.environ.get("REDIS_URL"):
            self.redis_url = os.environ["REDIS_URL"]
            return
        port = free_port()
        self._wait_ready([self._redis_server("redis", port, [], deadline)], deadline)
        self.redis_url = "redis://127.0.0.1:%d" % port

    def _start_kafka(self, deadline):
        mode = self.kafka_mode
        if mode == "mock":
            exe = os.path.join(self.build_dir, "kafka-mock")
            if not os.access(exe, os.X_OK):
                raise StackError("kafka-mock not found in %s (build first)" % self.build_dir)
            p = self._add("kafka", [exe], {}, kind="kafka")
            while time.monotonic() < deadline:
                brokers = self._read_marker(p.log_path, "KAFKA_BROKERS=")
                if brokers:
                    self.kafka_brokers = brokers
                    return
                if not p.alive():
                    raise StackError("kafka-mock exited (%s); see %s"
                                     % (p.popen.returncode, p.log_path))
                time.sleep(0.05)
            raise StackError("kafka-mock printed no KAFKA_BROKERS= line; see %s" % p.log_path)
        if mode == "real":
            self._start_real_kafka(deadline)
            return
        self.kafka_brokers = mode

    @staticmethod
    def _read_marker(path, prefix):
        try:
            with open(path, "r", errors="replace") as f:
                for line in f:
                    if line.startswith(prefix):
                        return line[len(prefix):].strip()
        except OSError:
            pass
        return None

    def _kafka_libs(self):
        libs = os.path.join(KAFKA_DIR, "libs")
        if not (os.path.isdir(libs) and any(n.startswith("kafka_2.13") for n in os.listdir(libs))):
            log("fetching the Kafka broker jars (mvn dependency:copy-dependencies)")
            r = subprocess.run(["mvn", "-q", "-B", "-f", os.path.join(KAFKA_DIR, "pom.xml"),
                                "dependency:copy-dependencies", "-DoutputDirectory=" + libs],
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, cwd=KAFKA_DIR)
            if r.returncode != 0:
                raise StackError("mvn failed:\n" + r.stdout.decode(errors="replace")[-3000:])
        return libs

    def kafka_broker_names(self):
        """The process names of the real brokers: ["kafka"] for one, else "kafka-1".."kafka-N"
        (the suffix is the broker's node.id)."""
        return list(self._kafka_names)

    def kafka_broker_name(self, node_id):
        """The process name of the broker with this node.id."""
        return "kafka" if self.n_kafka_brokers == 1 else "kafka-%d" % node_id

    def kafka_admin(self):
        """An AdminClient of confluent_kafka (the test venv has it; imported only here and in
        the methods below: the rest of this file is the standard library)."""
        from confluent_kafka.admin import AdminClient
        return AdminClient({"bootstrap.servers": self.kafka_brokers})

    def kafka_leaders(self, topics=TOPICS, timeout=15.0, admin=None):
        """{(topic, partition): leader node.id (-1 while it has none)} from the brokers' metadata,
        asked through admin (a new kafka_admin() when None); None when no broker answered in
        timeout seconds (a request sent to a broker just killed waits for its timeout)."""
        from confluent_kafka import KafkaException
        try:
            md = (admin or self.kafka_admin()).list_topics(timeout=timeout)
        except KafkaException:
            return None
        return {(t, p): md.topics[t].partitions[p].leader
                for t in topics if t in md.topics for p in md.topics[t].partitions}

    def kafka_high_watermarks(self, topics=TOPICS):
        """{(topic, partition): high watermark} (the offset the next message gets)."""
        from confluent_kafka import Consumer, TopicPartition
        c = Consumer({"bootstrap.servers": self.kafka_brokers, "group.id": "stack-wm-%d"
                      % os.getpid(), "enable.auto.commit": False})
        try:
            md = c.list_topics(timeout=15)
            return {(t, p): c.get_watermark_offsets(TopicPartition(t, p), timeout=10)[1]
                    for t in topics if t in md.topics for p in md.topics[t].partitions}
        finally:
            c.close()

    def kafka_isr_full(self, topics=TOPICS):
        """True when every partition of topics has all the brokers in its in-sync replicas (a
        restarted broker has caught up); False while not, or when no broker answered."""
        from confluent_kafka import KafkaException
        try:
            md = self.kafka_admin().list_topics(timeout=5)
        except KafkaException:
            return False
        return all(len(p.isrs) == self.n_kafka_brokers for t in topics
                   for p in md.topics[t].partitions.values())

    def kafka_busiest_broker(self, since=None, topics=TOPICS):
        """The node.id of the broker leading the partitions that took the most messages since
        since (a kafka_high_watermarks() result; None: since the topics were created), with
        {node.id: messages}."""
        leaders = self.kafka_leaders(topics)
        if leaders is None:
            raise StackError("no broker answered a metadata request")
        now = self.kafka_high_watermarks(topics)
        load = {}
        for tp, leader in leaders.items():
            load[leader] = load.get(leader, 0) + now.get(tp, 0) - (since or {}).get(tp, 0)
        return max(load, key=lambda k: load[k]), load

    def _start_real_kafka(self, deadline):
        """Starts self.n_kafka_brokers KRaft nodes, each broker and controller at once (a
        quorum of all of them: with 3, one may die and the other two elect a controller), each
        with its own ports, data dir and log; then creates the topics with replication factor
        min(N, 3) and min.insync.replicas one less (RF 3, min ISR 2: a write acknowledged with
        acks=all is on two brokers, and one broker lost neither loses it nor stops writes)."""
        libs = self._kafka_libs()
        cp = os.path.join(libs, "*")
        n = self.n_kafka_brokers
        rf = min(n, 3)
        min_isr = max(1, rf - 1)
        used = set()

        def port():
            p = free_port()
            while p in used:
                p = free_port()
            used.add(p)
            return p
        nodes = [{"id": i + 1, "port": port(), "cport": port(), "sport": port(),
                  "dir": tempfile.mkdtemp(prefix="agg-kafka-")} for i in range(n)]
        self._tmpdirs.extend(nd["dir"] for nd in nodes)
        voters = ",".join("%d@127.0.0.1:%d" % (nd["id"], nd["cport"]) for nd in nodes)
        # A second client listener, TLS with SASL credentials, so that tests can check the
        # programs' KAFKA_SECURITY_PROTOCOL/KAFKA_SASL_*/KAFKA_SSL_* against the real thing,
        # with a CA and a broker certificate made now. PLAIN, not SCRAM: librdkafka before
        # 2.6.1 (Debian 12 has 2.0.2) builds a SCRAM proof that Kafka 4 brokers reject
        # (confluentinc/librdkafka#4895).
        pki = self._kafka_pki()
        sasl = {"KAFKA_BROKERS": ",".join("127.0.0.1:%d" % nd["sport"] for nd in nodes),
                "KAFKA_SECURITY_PROTOCOL": "sasl_ssl",
                "KAFKA_SSL_CA_LOCATION": pki["ca"],
                "KAFKA_SASL_MECHANISM": "PLAIN",
                "KAFKA_SASL_USERNAME": "agg-test",
                "KAFKA_SASL_PASSWORD": "agg-test-" + uuid.uuid4().hex}
        self._kafka_keystore = pki["keystore"]
        java = shutil.which("java") or "java"
        # Kafka's own ids never start with "-" (the tool's parser would take it
        # for an option); draw again until this one does not either.
        cluster_id = "-"
        while cluster_id.startswith("-"):
            cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        formats = []
        for nd in nodes:
            nd["props"] = self._write_kafka_props(nd, voters, sasl, rf, min_isr)
            nd["env"] = dict(os.environ, KAFKA_HEAP_OPTS="-Xmx512m -Xms256m",
                             LOG_DIR=os.path.join(nd["dir"], "logs"))
            name = self.kafka_broker_name(nd["id"])
            fmt_log = os.path.join(self.run_dir, "%s-format.log" % name)
            out = open(fmt_log, "wb")
            formats.append((fmt_log, out, subprocess.Popen(
                [java, "-cp", cp, "kafka.tools.StorageTool", "format",
                 "--cluster-id=" + cluster_id, "-c", nd["props"]], stdout=out,
                stderr=subprocess.STDOUT, env=nd["env"], cwd=nd["dir"],
                preexec_fn=_child_setup)))
        for fmt_log, out, pp in formats:
            try:
                rc = pp.wait(max(1.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                pp.kill()
                rc = None
            out.close()
            if rc != 0:
                raise StackError("kafka storage format failed; see %s" % fmt_log)
        # The broker's young collections stall every request in flight. Measured at 500
        # sessions/s on 2 cores (make bench, jstat): G1 paused 5.8 ms per collection, twice
        # as often; the parallel collector with a 128 MiB young generation pauses ~4 ms
        # about every 2 s. AGG_KAFKA_GC_OPTS overrides, for experiments.
        gc = os.environ.get("AGG_KAFKA_GC_OPTS", "-XX:+UseParallelGC -Xmn128m").split()
        started = []
        for nd in nodes:
            argv = [java, "-Xmx512m", "-Xms256m"] + gc + [
                "-Djava.awt.headless=true",
                "-Dkafka.logs.dir=%s" % os.path.join(nd["dir"], "logs"), "-cp", cp,
                "kafka.Kafka", nd["props"]]
            name = self.kafka_broker_name(nd["id"])
            self._kafka_names.append(name)
            started.append(self._add(name, argv, {}, kind="kafka", cwd=nd["dir"],
                                     ready=lambda p=nd["port"]: port_open(p),
                                     base_env=nd["env"]))
        self._wait_ready(started, deadline)
        self.kafka_brokers = ",".join("127.0.0.1:%d" % nd["port"] for nd in nodes)
        self.kafka_sasl = sasl
        self._create_topics(java, cp, nodes[0]["env"], deadline, rf, min_isr)

    def _kafka_pki(self):
        """A test CA and a broker certificate for 127.0.0.1 it signed (openssl, EC keys: a
        few milliseconds): {"ca": CA PEM, "keystore": the broker's key then certificate}."""
        d = tempfile.mkdtemp(prefix="agg-kafka-tls-")
        self._tmpdirs.append(d)
        ca_key, ca, key, csr, crt = (os.path.join(d, n) for n in (
            "ca.key", "ca.pem", "broker.key", "broker.csr", "broker.pem"))
        ext = os.path.join(d, "san.ext")
        with open(ext, "w") as f:
            f.write("subjectAltName=IP:127.0.0.1,DNS:localhost\n")
        ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"]
        for argv in (["openssl", "req", "-x509"] + ec + ["-keyout", ca_key, "-out", ca,
                                                       "-days", "7", "-subj", "/CN=agg-test-ca"],
                     ["openssl", "req"] + ec + ["-keyout", key, "-out", csr,
                                                "-subj", "/CN=127.0.0.1"],
                     ["openssl", "x509", "-req", "-in", csr, "-CA", ca, "-CAkey", ca_key,
                      "-CAcreateserial", "-out", crt, "-days", "7", "-extfile", ext]):
            r = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True)
            if r.returncode != 0:
                raise StackError("openssl failed making the Kafka test certificates: %s"
                                 % r.stderr.decode(errors="replace").strip()[-300:])
        keystore = os.path.join(d, "keystore.pem")
        with open(keystore, "wb") as out:
            for part in (key, crt):
                with open(part, "rb") as f:
                    out.write(f.read())
        return {"ca": ca, "keystore": keystore}

    def _write_kafka_props(self, nd, voters, sasl, rf, min_isr):
        props = os.path.join(nd["dir"], "server.properties")
        with open(props, "w") as f:
            f.write("\n".join([
                "process.roles=broker,controller",
                "node.id=%d" % nd["id"],
                "controller.quorum.voters=%s" % voters,
                "listeners=PLAINTEXT://127.0.0.1:%d,CONTROLLER://127.0.0.1:%d,"
                "SASL_SSL://127.0.0.1:%d" % (nd["port"], nd["cport"], nd["sport"]),
                "advertised.listeners=PLAINTEXT://127.0.0.1:%d,SASL_SSL://127.0.0.1:%d"
                % (nd["port"], nd["sport"]),
                "controller.listener.names=CONTROLLER",
                "inter.broker.listener.name=PLAINTEXT",
                "listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT,"
                "SASL_SSL:SASL_SSL",
                "sasl.enabled.mechanisms=PLAIN",
                "listener.name.sasl_ssl.plain.sasl.jaas.config="
                "org.apache.kafka.common.security.plain.PlainLoginModule required user_%s=\"%s\";"
                % (sasl["KAFKA_SASL_USERNAME"], sasl["KAFKA_SASL_PASSWORD"]),
                # The key and its certificate in one PEM file (Kafka 2.7+ reads PEM stores).
                "listener.name.sasl_ssl.ssl.keystore.type=PEM",
                "listener.name.sasl_ssl.ssl.keystore.location=%s" % self._kafka_keystore,
                "listener.name.sasl_ssl.ssl.enabled.protocols=TLSv1.3,TLSv1.2",
                "log.dirs=%s" % os.path.join(nd["dir"], "data"),
                "num.partitions=%d" % TOPIC_PARTITIONS,
                "default.replication.factor=%d" % rf,
                "min.insync.replicas=%d" % min_isr,
                "offsets.topic.replication.factor=%d" % rf,
                "offsets.topic.num.partitions=4",
                "transaction.state.log.replication.factor=%d" % rf,
                "transaction.state.log.min.isr=%d" % min_isr,
                "share.coordinator.state.topic.replication.factor=%d" % rf,
                "share.coordinator.state.topic.min.isr=%d" % min_isr,
                # An out-of-sync replica never becomes leader: it could lack acknowledged writes.
                "unclean.leader.election.enable=false",
            ] + ([
                # A broker that dies keeps its leaderships until the controller fences it, after
                # this (Kafka's default 9 s). The workers' group session (6 s) must outlast the
                # move of the group coordinator, or they lose their assignment and rejoin:
                # measured under load (tests/integration/test_kafka_cluster.py), consuming
                # paused 14.5 s with 9 s, 13.4 s with 3 s (the coordinator came back too late),
                # 2.9 s with 2 s. AGG_KAFKA_BROKER_SESSION_MS overrides, for experiments.
                "broker.heartbeat.interval.ms=500",
                "broker.session.timeout.ms=%s" % os.environ.get("AGG_KAFKA_BROKER_SESSION_MS",
                                                                "2000"),
            ] if len(voters.split(",")) > 1 else []) + [
                "group.initial.rebalance.delay.ms=0",
                "auto.create.topics.enable=true",
                # Sized for a 2-core laptop: the defaults (3 network, 8 I/O, 10 background
                # threads) only add context switches when every program shares two cores.
                "num.network.threads=1",
                "num.io.threads=2",
                "background.threads=2",
                "",
            ]))
        return props

    def _create_topics(self, java, cp, jenv, deadline, rf=1, min_isr=1):
        """Creates TOPICS and AUDIT_TOPIC; with several brokers it tries again until all of them have registered
        (a replication factor above the live brokers is refused)."""
        pending = list(TOPICS) + [AUDIT_TOPIC]
        attempt = 0
        while pending:
            attempt += 1
            running = []
            for t in pending:
                lp = os.path.join(self.run_dir, "kafka-topic-%s.log" % t)
                out = open(lp, "wb")
                argv = [java, "-Xmx256m", "-cp", cp, "org.apache.kafka.tools.TopicCommand",
                        "--bootstrap-server", self.kafka_brokers, "--create", "--if-not-exists",
                        "--topic", t, "--partitions", str(TOPIC_PARTITIONS),
                        "--replication-factor", str(rf)]
                if rf > 1:
                    argv += ["--config", "min.insync.replicas=%d" % min_isr]
                if t == AUDIT_TOPIC:
                    argv += ["--config", "retention.ms=%d" % AUDIT_RETENTION_MS]
                running.append((t, lp, out, subprocess.Popen(argv, stdout=out,
                                                             stderr=subprocess.STDOUT, env=jenv,
                                                             preexec_fn=_child_setup)))
            failed = []
            for t, lp, out, pp in running:
                try:
                    rc = pp.wait(max(1.0, deadline - time.monotonic()))
                except subprocess.TimeoutExpired:
                    pp.kill()
                    rc = None
                out.close()
                if rc != 0:
                    failed.append((t, rc, lp))
            pending = [t for t, _, _ in failed]
            if failed and (rf == 1 or time.monotonic() > deadline):
                t, rc, lp = failed[0]
                raise StackError("creating topic %s failed (%s, attempt %d); see %s"
                                 % (t, rc, attempt, lp))

    # ---- processes -------------------------------------------------------

    def _add(self, name, argv, env, kind, ready=None, cwd=None, base_env=None):
        full = dict(base_env if base_env is not None else os.environ)
        for k in ("SERVER_PORT", "MANAGEMENT_PORT", "RESOURCE_ID", "KAFKA_BROKERS",
                  "RESOURCE_URLS", "AGGREGATOR_CALLBACK_URL"):
            full.pop(k, None)
        if self.redis_mode == "sentinel":
            full.pop("REDIS_URL", None)  # with REDIS_SENTINELS a configuration error
        if kind in ("gateway", "worker", "resource"):
            full.update(self.extra_env)
        full.update(env)
        p = Proc(name, argv, full, os.path.join(self.run_dir, name + ".log"), cwd=cwd,
                 ready=ready, kind=kind)
        with self._lock:
            self.procs[name] = p
            self._spawn(p)
        return p

    def _spawn(self, p):
        if self._stopping:
            raise StackError("stack is stopping")
        out = open(p.log_path, "ab")

        def go():
            setup = _infra_child_setup if p.kind in ("redis", "kafka") else _child_setup
            return subprocess.Popen(p.argv, env=p.env, cwd=p.cwd or self.run_dir,
                                    stdin=subprocess.DEVNULL, stdout=out,
                                    stderr=subprocess.STDOUT, start_new_session=True,
                                    preexec_fn=setup)
        # Every child is forked by the one long-lived spawner thread: PR_SET_PDEATHSIG fires
        # when the forking thread ends, so a short-lived caller thread must not fork.
        try:
            p.popen = self._spawner.submit(go).result()
        finally:
            out.close()

    def _wait_ready(self, procs, deadline):
        pending = [p for p in procs if p.ready is not None]
        while pending:
            for p in list(pending):
                if not p.alive():
                    raise StackError("%s exited with %s during start-up; see %s; it ends:\n%s"
                                     % (p.name, p.popen.returncode, p.log_path,
                                        log_tail(p.log_path)))
                if p.ready():
                    pending.remove(p)
            if not pending:
                return
            if time.monotonic() > deadline:
                raise StackError("not ready in time: %s; logs in %s"
                                 % (", ".join(p.name for p in pending), self.run_dir))
            time.sleep(0.1)

    def _terminate(self, procs, grace):
        live = [p for p in procs if p.alive()]
        for p in live:
            try:
                p.popen.send_signal(signal.SIGTERM)
            except ProcessLookupError:
                pass
        end = time.monotonic() + grace
        for p in live:
            try:
                p.popen.wait(max(0.0, end - time.monotonic()))
            except subprocess.TimeoutExpired:
                log("%s did not stop in %.0f s: SIGKILL" % (p.name, grace))
                p.popen.kill()
                p.popen.wait()

    def _supervise(self):
        while not self._stopping:
            for p in list(self.procs.values()):
                if p.kind not in ("gateway", "worker") or p.expect_exit or p.alive():
                    continue
                with self._lock:
                    if self._stopping or p.expect_exit or p.alive():
                        continue
                    log("%s exited with %s: restarting it" % (p.name, p.popen.returncode))
                    p.restarts += 1
                    try:
                        self._spawn(p)
                    except StackError:
                        return
            time.sleep(0.5)


def parse_args(argv):
    ap = argparse.ArgumentParser(description="Start the aggregator stack.")
    ap.add_argument("--build-dir", default=os.environ.get("AGG_BUILD_DIR", "build"))
    ap.add_argument("--kafka", default="mock", help="mock | real | host:port[,host:port]")
    ap.add_argument("--kafka-brokers", type=int, default=1,
                    help="with --kafka real: N KRaft brokers (RF min(N,3), min ISR one less)")
    ap.add_argument("--gateways", type=int, default=1)
    ap.add_argument("--workers", type=int, default=1)
    ap.add_argument("--base-port", type=int, default=8080)
    ap.add_argument("--free-ports", action="store_true", help="every port chosen free")
    ap.add_argument("--web", action="store_true", help="serve web/ (port 8082)")
    ap.add_argument("--supervise", action="store_true",
                    help="restart a gateway or worker that exits")
    ap.add_argument("--json-out", help="also write the JSON line to this file")
    ap.add_argument("--only", choices=["infra"], help="infra: Redis and Kafka only")
    ap.add_argument("--timeout-default-ms", type=int)
    ap.add_argument("--log-level", default="info")
    ap.add_argument("--ready-timeout", type=float, default=60.0)
    ap.add_argument("--resources-in-one-process", action="store_true",
                    help="one resource-sim process serves every resource (RESOURCES), each on its port")
    ap.add_argument("--callbacks", choices=["service", "direct"], default="service",
                    help="service: answers go through demo/service.py to any ready gateway "
                         "(several gateways); direct: each gateway gets its own")
    ap.add_argument("--callback-port", action="store_true",
                    help="each gateway takes answers on a port of its own (CALLBACK_PORT), as "
                         "the chart sets it")
    ap.add_argument("--redis", choices=["plain", "aof", "sentinel"], default="plain",
                    help="plain: one redis-server; aof: with appendonly everysec; sentinel: a "
                         "primary, a replica and 3 sentinels, processes configured through them")
    ap.add_argument("--env", action="append", default=[], metavar="NAME=VALUE",
                    help="extra environment for gateways, workers and resources")
    a = ap.parse_args(argv)
    if a.gateways < (0 if a.only else 1) or a.workers < 0:
        ap.error("--gateways must be >= 1 and --workers >= 0")
    if a.kafka_brokers < 1 or (a.kafka_brokers > 1 and a.kafka != "real"):
        ap.error("--kafka-brokers: 1, or more with --kafka real")
    extra = {}
    for kv in a.env:
        if "=" not in kv:
            ap.error("--env takes NAME=VALUE")
        k, v = kv.split("=", 1)
        extra[k] = v
    a.extra_env = extra
    return a


def main(argv=None):
    a = parse_args(sys.argv[1:] if argv is None else argv)
    stop = threading.Event()

    def on_signal(signum, frame):
        stop.set()
    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)

    s = Stack(build_dir=a.build_dir, kafka=a.kafka, gateways=a.gateways, workers=a.workers,
              base_port=a.base_port, free_ports=a.free_ports, web=a.web, supervise=a.supervise,
              only=a.only, timeout_default_ms=a.timeout_default_ms, log_level=a.log_level,
              env=a.extra_env, ready_timeout=a.ready_timeout,
              resources_in_one_process=a.resources_in_one_process, callbacks=a.callbacks,
              redis=a.redis, kafka_brokers=a.kafka_brokers, callback_port=a.callback_port)
    try:
        info = s.start()
    except (StackError, OSError) as e:
        log("start failed: %s" % e)
        return 1
    line = json.dumps(info, separators=(",", ":"))
    if a.json_out:
        with open(a.json_out + ".tmp", "w") as f:
            f.write(line + "\n")
        os.replace(a.json_out + ".tmp", a.json_out)
    sys.stdout.write(line + "\n")
    sys.stdout.flush()
    for i, u in enumerate(info["gateways"]):
        log("gateway-%d   %s" % (i, u))
    for i, u in enumerate(info["workers"]):
        log("worker-%d    %s (management)" % (i, u))
    for i, u in enumerate(info["resources"]):
        log("resource-%d  %s" % (i + 1, u))
    if info["service"]:
        log("service     %s (answers to any ready gateway)" % info["service"])
    if info["web"]:
        log("web         %s" % info["web"])
    log("redis       %s" % info["redis"])
    log("kafka       %s" % info["kafka"])
    log("logs        %s" % info["logs"])
    log("ready; Ctrl-C stops everything")
    try:
        while not stop.wait(0.5):
            if not a.supervise:
                dead = [p.name for p in s.procs.values() if not p.alive() and not p.expect_exit]
                if dead:
                    log("exited: %s (see %s)" % (", ".join(dead), s.run_dir))
                    for p in s.procs.values():
                        if p.name in dead:
                            p.expect_exit = True
    finally:
        log("stopping")
        s.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
