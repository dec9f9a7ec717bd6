#!/usr/bin/env python3
"""stack.py: starts the whole aggregator stack (Redis, Kafka, resource-sims, gateways, workers, web).

Used by `make demo`, the integration tests (import it: class Stack), the browser
tests and the benchmarks (run it as a program). Python 3 standard library only.

    python3 demo/stack.py [--build-dir build] [--kafka mock|real|<brokers>]
                          [--gateways N] [--workers M] [--base-port 8080] [--free-ports]
                          [--web] [--supervise] [--json-out FILE] [--only infra]
                          [--timeout-default-ms MS] [--env NAME=VALUE ...]
                          [--callbacks service|direct]

When everything is ready it prints one JSON line to stdout:
{"gateways":[urls],"workers":[management urls],"resources":[urls],"web":url|null,
 "redis":url,"kafka":brokers,"pids":{name:pid},"logs":dir}
and the URLs in words on stderr. SIGINT/SIGTERM stop every child and exit 0.

Process names: "redis", "kafka", "resource-1".."resource-3" (= RESOURCE_ID; "resources"
with --resources-in-one-process), "service" (with several gateways),
"gateway-0".., "worker-0"..,"web".

Callbacks: with several gateways the resources answer through "service" (demo/service.py), a
round-robin balancer over the ready gateways, as a Kubernetes Service routes them; so a gateway
that drains or dies loses no answer. --callbacks direct gives each gateway its own URL instead
(make bench: no Python process in the measured path).
"""

import argparse
import base64
import concurrent.futures
import ctypes
import json
import os
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
TOPIC_PARTITIONS = 6
RESOURCE_DEFAULT_PORTS = (8081, 8083, 8084)
WEB_DEFAULT_PORT = 8082
WORKER_MGMT_BASE = 8091
PR_SET_PDEATHSIG = 1


class StackError(RuntimeError):
    """The stack could not be started (a process died or was not ready in time)."""


def log(msg):
    sys.stderr.write("stack: %s\n" % msg)
    sys.stderr.flush()


def free_port():
    """A loopback TCP port that is free now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


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
                 redis_args=()):
        if not os.path.isabs(build_dir) and not os.path.isdir(build_dir):
            build_dir = os.path.join(REPO, build_dir)  # relative to the repository
        self.build_dir = os.path.abspath(build_dir)
        self.kafka_mode = kafka
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
        self.ready_timeout = ready_timeout
        self.notes_per_response = notes_per_response
        self.n_resources = resources
        self.resources_in_one_process = resources_in_one_process
        self.callbacks = callbacks
        # Appended to redis-server's command line, so they override the defaults (e.g.
        # "--appendonly yes": a Redis killed with -9 and restarted keeps its data).
        self.redis_args = list(redis_args)
        self.service_url = None
        stamp = time.strftime("%Y%m%d-%H%M%S") + "-%d" % os.getpid()
        self.run_dir = run_dir or os.path.join(self.build_dir, "stack-" + stamp)
        self.procs = {}
        self.redis_url = None
        self.kafka_brokers = None
        self.kafka_sasl = None  # real broker: its SASL_PLAINTEXT listener (KAFKA_SASL_* below)
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
            "kafka": self.kafka_brokers,
            "pids": {n: p.pid for n, p in self.procs.items() if p.alive()},
            "service": self.service_url,
            "logs": self.run_dir,
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
        for b in ("gateway", "worker", "resource-sim"):
            if not os.access(os.path.join(self.build_dir, b), os.X_OK):
                raise StackError("%s not found in %s (build first)" % (b, self.build_dir))

        res_ports = [free_port() if self.free_ports else RESOURCE_DEFAULT_PORTS[i]
                     if i < len(RESOURCE_DEFAULT_PORTS) else RESOURCE_DEFAULT_PORTS[-1] + i
                     for i in range(self.n_resources)]
        gw_ports = [free_port() if self.free_ports else self.base_port + 100 * i
                    for i in range(self.n_gateways)]
        wk_ports = [free_port() if self.free_ports else WORKER_MGMT_BASE + 100 * i
                    for i in range(self.n_workers)]
        web_port = (free_port() if self.free_ports else WEB_DEFAULT_PORT) if self.web else None

        self.resource_urls = ["http://127.0.0.1:%d" % p for p in res_ports]
        self.gateway_urls = ["http://127.0.0.1:%d" % p for p in gw_ports]
        self.worker_urls = ["http://127.0.0.1:%d" % p for p in wk_ports]
        resource_list = ",".join(self.resource_urls)
        cors_port = web_port or WEB_DEFAULT_PORT
        cors = "http://localhost:%d,http://127.0.0.1:%d" % (cors_port, cors_port)

        started = []
        if len(gw_ports) > 1 and self.callbacks == "service":
            svc_port = free_port() if self.free_ports else self.base_port - 10
            self.service_url = "http://127.0.0.1:%d" % svc_port
            argv = [sys.executable, os.path.join(REPO, "demo", "service.py"), "--port",
                    str(svc_port), "--backends", ",".join(self.gateway_urls)]
            started.append(self._add("service", argv, {}, kind="other",
                                     ready=lambda p=svc_port: port_open(p)))
        if self.resources_in_one_process and res_ports:
            # One process serving every resource on its own port (make bench: fewer
            # processes competing with the system under test for the same cores).
            spec = ",".join("resource-%d=%d" % (i + 1, port) for i, port in enumerate(res_ports))
            env = {"RESOURCES": spec, "NOTES_PER_RESPONSE": str(self.notes_per_response),
                   "LOG_LEVEL": self.log_level}
            ready = [self._http_ready(port) for port in res_ports]
            started.append(self._add("resources", [os.path.join(self.build_dir, "resource-sim")], env,
                                     kind="resource", ready=lambda: all(r() for r in ready)))
        for i, port in enumerate(res_ports if not self.resources_in_one_process else []):
            rid = "resource-%d" % (i + 1)
            env = {"SERVER_PORT": str(port), "RESOURCE_ID": rid,
                   "NOTES_PER_RESPONSE": str(self.notes_per_response), "LOG_LEVEL": self.log_level}
            started.append(self._add(rid, [os.path.join(self.build_dir, "resource-sim")], env,
                                     kind="resource", ready=self._http_ready(port)))
        common = {"KAFKA_BROKERS": self.kafka_brokers, "REDIS_URL": self.redis_url,
                  "RESOURCE_URLS": resource_list, "LOG_LEVEL": self.log_level}
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
            callback = "%s/aggregate/callback" % (self.service_url or self.gateway_urls[i])
            env = dict(common, SERVER_PORT=str(port), AGGREGATOR_CALLBACK_URL=callback,
                       CORS_ALLOWED_ORIGINS=cors)
            if self.timeout_default_ms is not None:
                env["AGGREGATOR_TIMEOUT_DEFAULT_MS"] = str(self.timeout_default_ms)
            started.append(self._add("gateway-%d" % i, [os.path.join(self.build_dir, "gateway")],
                                     env, kind="gateway", ready=self._http_ready(port)))
        if self.web:
            self.web_url = "http://127.0.0.1:%d" % web_port
            argv = [sys.executable, "-m", "http.server", "--bind", "127.0.0.1", "--directory",
                    os.path.join(REPO, "web"), str(web_port)]
            started.append(self._add("web", argv, {}, kind="web",
                                     ready=lambda p=web_port: port_open(p)))
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

    def _start_redis(self, deadline):
        if os.environ.get("REDIS_URL"):
            self.redis_url = os.environ["REDIS_URL"]
            return
        port = free_port()
        d = tempfile.mkdtemp(prefix="agg-redis-")
        self._tmpdirs.append(d)
        argv = ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                "--appendonly", "no", "--dir", d, "--loglevel", "warning"] + self.redis_args
        p = self._add("redis", argv, {}, kind="redis", ready=lambda: redis_ping(port))
        self._wait_ready([p], deadline)
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

    def _start_real_kafka(self, deadline):
        libs = self._kafka_libs()
        cp = os.path.join(libs, "*")
        d = tempfile.mkdtemp(prefix="agg-kafka-")
        self._tmpdirs.append(d)
        port, cport, sport = free_port(), free_port(), free_port()
        while len({port, cport, sport}) < 3:
            cport, sport = free_port(), free_port()
        # A second client listener with SASL credentials, so that tests can check the
        # programs' KAFKA_SECURITY_PROTOCOL/KAFKA_SASL_* against the real thing. PLAIN, not
        # SCRAM: librdkafka before 2.6.1 (Debian 12 has 2.0.2) builds a SCRAM proof that
        # Kafka 4 brokers reject (confluentinc/librdkafka#4895).
        sasl = {"KAFKA_BROKERS": "127.0.0.1:%d" % sport,
                "KAFKA_SECURITY_PROTOCOL": "sasl_plaintext",
                "KAFKA_SASL_MECHANISM": "PLAIN",
                "KAFKA_SASL_USERNAME": "agg-test",
                "KAFKA_SASL_PASSWORD": "agg-test-" + uuid.uuid4().hex}
        props = os.path.join(d, "server.properties")
        with open(props, "w") as f:
            f.write("\n".join([
                "process.roles=broker,controller",
                "node.id=1",
                "controller.quorum.voters=1@127.0.0.1:%d" % cport,
                "listeners=PLAINTEXT://127.0.0.1:%d,CONTROLLER://127.0.0.1:%d,"
                "SASL_PLAINTEXT://127.0.0.1:%d" % (port, cport, sport),
                "advertised.listeners=PLAINTEXT://127.0.0.1:%d,SASL_PLAINTEXT://127.0.0.1:%d"
                % (port, sport),
                "controller.listener.names=CONTROLLER",
                "inter.broker.listener.name=PLAINTEXT",
                "listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT,"
                "SASL_PLAINTEXT:SASL_PLAINTEXT",
                "sasl.enabled.mechanisms=PLAIN",
                "listener.name.sasl_plaintext.plain.sasl.jaas.config="
                "org.apache.kafka.common.security.plain.PlainLoginModule required user_%s=\"%s\";"
                % (sasl["KAFKA_SASL_USERNAME"], sasl["KAFKA_SASL_PASSWORD"]),
                "log.dirs=%s" % os.path.join(d, "data"),
                "num.partitions=%d" % TOPIC_PARTITIONS,
                "offsets.topic.replication.factor=1",
                "offsets.topic.num.partitions=4",
                "transaction.state.log.replication.factor=1",
                "transaction.state.log.min.isr=1",
                "share.coordinator.state.topic.replication.factor=1",
                "share.coordinator.state.topic.min.isr=1",
                "group.initial.rebalance.delay.ms=0",
                "auto.create.topics.enable=true",
                # Sized for a 2-core laptop: the defaults (3 network, 8 I/O, 10 background
                # threads) only add context switches when every program shares two cores.
                "num.network.threads=1",
                "num.io.threads=2",
                "background.threads=2",
                "",
            ]))
        java = shutil.which("java") or "java"
        jenv = dict(os.environ, KAFKA_HEAP_OPTS="-Xmx512m -Xms256m",
                    LOG_DIR=os.path.join(d, "logs"))
        # Kafka's own ids never start with "-" (the tool's parser would take it
        # for an option); draw again until this one does not either.
        cluster_id = "-"
        while cluster_id.startswith("-"):
            cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        fmt_log = os.path.join(self.run_dir, "kafka-format.log")
        with open(fmt_log, "wb") as out:
            r = subprocess.run([java, "-cp", cp, "kafka.tools.StorageTool", "format",
                                "--cluster-id=" + cluster_id, "-c", props], stdout=out, stderr=subprocess.STDOUT,
                               env=jenv, cwd=d)
        if r.returncode != 0:
            raise StackError("kafka storage format failed; see %s" % fmt_log)
        # The broker's young collections stall every request in flight. Measured at 500
        # sessions/s on 2 cores (make bench, jstat): G1 paused 5.8 ms per collection, twice
        # as often; the parallel collector with a 128 MiB young generation pauses ~4 ms
        # about every 2 s. AGG_KAFKA_GC_OPTS overrides, for experiments.
        gc = os.environ.get("AGG_KAFKA_GC_OPTS", "-XX:+UseParallelGC -Xmn128m").split()
        argv = [java, "-Xmx512m", "-Xms256m"] + gc + ["-Djava.awt.headless=true",
                "-Dkafka.logs.dir=%s" % os.path.join(d, "logs"), "-cp", cp, "kafka.Kafka", props]
        p = self._add("kafka", argv, {}, kind="kafka", cwd=d, ready=lambda: port_open(port),
                      base_env=jenv)
        self._wait_ready([p], deadline)
        self.kafka_brokers = "127.0.0.1:%d" % port
        self.kafka_sasl = sasl
        self._create_topics(java, cp, jenv, deadline)

    def _create_topics(self, java, cp, jenv, deadline):
        running = []
        for t in TOPICS:
            lp = os.path.join(self.run_dir, "kafka-topic-%s.log" % t)
            out = open(lp, "wb")
            argv = [java, "-Xmx256m", "-cp", cp, "org.apache.kafka.tools.TopicCommand",
                    "--bootstrap-server", self.kafka_brokers, "--create", "--if-not-exists",
                    "--topic", t, "--partitions", str(TOPIC_PARTITIONS),
                    "--replication-factor", "1"]
            running.append((t, lp, out, subprocess.Popen(argv, stdout=out,
                                                         stderr=subprocess.STDOUT, env=jenv,
                                                         preexec_fn=_child_setup)))
        for t, lp, out, pp in running:
            try:
                rc = pp.wait(max(1.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                pp.kill()
                rc = None
            out.close()
            if rc != 0:
                raise StackError("creating topic %s failed (%s); see %s" % (t, rc, lp))

    # ---- processes -------------------------------------------------------

    def _add(self, name, argv, env, kind, ready=None, cwd=None, base_env=None):
        full = dict(base_env if base_env is not None else os.environ)
        for k in ("SERVER_PORT", "MANAGEMENT_PORT", "RESOURCE_ID", "KAFKA_BROKERS",
                  "RESOURCE_URLS", "AGGREGATOR_CALLBACK_URL"):
            full.pop(k, None)
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
            return subprocess.Popen(p.argv, env=p.env, cwd=p.cwd or self.run_dir,
                                    stdin=subprocess.DEVNULL, stdout=out,
                                    stderr=subprocess.STDOUT, start_new_session=True,
                                    preexec_fn=_child_setup)
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
                    raise StackError("%s exited with %s during start-up; see %s"
                                     % (p.name, p.popen.returncode, p.log_path))
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
    ap.add_argument("--env", action="append", default=[], metavar="NAME=VALUE",
                    help="extra environment for gateways, workers and resources")
    a = ap.parse_args(argv)
    if a.gateways < (0 if a.only else 1) or a.workers < 0:
        ap.error("--gateways must be >= 1 and --workers >= 0")
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
              resources_in_one_process=a.resources_in_one_process, callbacks=a.callbacks)
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
