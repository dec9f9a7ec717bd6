"""Gateways, workers, topics and a Redis of a test's own (free ports, own names), beside the
stack's: for configurations the stack does not run (deadlines, ports, credentials)."""

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import uuid

import requests

from aggtest import REPO, metric, wait_until

sys.path.insert(0, os.path.join(REPO, "demo"))
import stack as stackmod  # noqa: E402


class PrivateProc:
    """A gateway or worker process on a free port (SERVER_PORT or MANAGEMENT_PORT), with the
    stack's Kafka, Redis and resources unless env says otherwise (a value of None removes the
    variable). wait: "readiness", "liveness" or None (return at once). netns: a
    netfault.Namespace to run it in (its URL is then on the namespace's address). tls: it
    serves HTTPS (its URL is https://; the caller makes requests trust its CA, e.g. with
    REQUESTS_CA_BUNDLE). A resource-sim listens on SERVER_PORT as a gateway does."""

    def __init__(self, stack, prog, env, wait="readiness", netns=None, tls=False):
        self.prog = prog
        self.port = stackmod.free_port()
        self.url = "%s://%s:%d" % ("https" if tls else "http",
                                   netns.address if netns else "127.0.0.1", self.port)
        self.log_path = os.path.join(stack.run_dir, "%s-private-%d.log" % (prog, self.port))
        full = dict(os.environ)
        full.update({"KAFKA_BROKERS": stack.kafka_brokers, "REDIS_URL": stack.redis_url,
                     "MANAGEMENT_PORT" if prog == "worker" else "SERVER_PORT": str(self.port),
                     "RESOURCE_URLS": ",".join(stack.resource_urls), "LOG_LEVEL": "info",
                     "CALLBACK_SIGNING_KEY": stack.callback_signing_key})
        full.pop("CALLBACK_SIGNING_KEY_FILE", None)
        full.pop("AGGREGATOR_CALLBACK_URL", None)
        for k, v in env.items():
            if v is None:
                full.pop(k, None)
            else:
                full[k] = str(v)
        with open(self.log_path, "ab") as out:
            argv = (netns.exec_prefix() if netns else []) + [os.path.join(stack.build_dir, prog)]
            self.popen = subprocess.Popen(argv, env=full,
                                          stdin=subprocess.DEVNULL, stdout=out,
                                          stderr=subprocess.STDOUT, start_new_session=True)
        if wait:
            wait_until(lambda: self.popen.poll() is not None or self.health(wait)[0] == 200,
                       60, "the private %s %s" % (prog, wait))
            assert self.popen.poll() is None, "private %s exited; see %s" % (prog, self.log_path)

    def health(self, kind="readiness"):
        """(status, body as JSON) of /actuator/health/<kind>; (None, None) when unreachable."""
        try:
            r = requests.get(self.url + "/actuator/health/" + kind, timeout=2)
        except requests.RequestException:
            return None, None
        try:
            return r.status_code, r.json()
        except ValueError:
            return r.status_code, None

    def log(self):
        with open(self.log_path, errors="replace") as f:
            return f.read()

    def metric(self, name):
        return metric(self.url, name) or 0

    def stop(self):
        if self.popen.poll() is None:
            self.popen.send_signal(signal.SIGTERM)
        try:
            rc = self.popen.wait(40)
        except subprocess.TimeoutExpired:
            self.popen.kill()
            rc = self.popen.wait(10)
        return rc


class PrivateGateway(PrivateProc):
    """A private gateway whose answers go to the stack's first gateway unless env says where."""

    def __init__(self, stack, env, wait="readiness", tls=False):
        env = dict({"AGGREGATOR_CALLBACK_URL": stack.gateway_url(0) + "/aggregate/callback"},
                   **env)
        super().__init__(stack, "gateway", env, wait, tls=tls)


class PrivateRedis:
    """A redis-server of the test's own on a free port, with extra arguments (e.g.
    --requirepass)."""

    def __init__(self, stack, *args):
        self.port = stackmod.free_port()
        self.dir = tempfile.mkdtemp(prefix="agg-redis-private-")
        self.log_path = os.path.join(stack.run_dir, "redis-private-%d.log" % self.port)
        with open(self.log_path, "ab") as out:
            self.popen = subprocess.Popen(
                ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
                 "--appendonly", "no", "--dir", self.dir] + list(args),
                stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                start_new_session=True)
        # Listening is ready: with a password PING only answers NOAUTH.
        wait_until(lambda: self.popen.poll() is not None or stackmod.port_open(self.port), 30,
                   "the private redis-server")
        assert self.popen.poll() is None, "private redis exited; see %s" % self.log_path
        self.url = "redis://127.0.0.1:%d" % self.port

    def stop(self):
        self.popen.terminate()
        try:
            self.popen.wait(10)
        except subprocess.TimeoutExpired:
            self.popen.kill()
            self.popen.wait(10)
        shutil.rmtree(self.dir, ignore_errors=True)


def private_topics(brokers, partitions=2, config=None):
    """Creates a requests and a callbacks topic of unique names (waits until they exist) and
    returns the environment naming them and a consumer group of the same stamp, so that the
    stack's workers never take these messages nor a private worker the stack's. config: extra
    librdkafka settings of the admin client (e.g. SASL)."""
    from confluent_kafka.admin import AdminClient, NewTopic
    stamp = "itest-%s" % uuid.uuid4().hex[:12]
    names = [stamp + ".requests", stamp + ".callbacks"]
    admin = AdminClient(dict({"bootstrap.servers": brokers}, **(config or {})))
    for f in admin.create_topics([NewTopic(t, partitions, 1) for t in names]).values():
        f.result(30)
    return {"KAFKA_TOPIC_REQUESTS": names[0], "KAFKA_TOPIC_CALLBACKS": names[1],
            "KAFKA_GROUP_ID": stamp}


def describe(proc, kind="readiness"):
    """One line for an assertion message: the health answer and where the log is."""
    status, body = proc.health(kind)
    return "%s %s: %s %s; log %s" % (proc.prog, kind, status, json.dumps(body), proc.log_path)
