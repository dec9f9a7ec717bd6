"""The settings a deployment needs beyond the stack's defaults, each on processes of the test's
own: CALLBACK_PORT (answers on a port of their own, so that a network policy can let only the
resources reach it), REDIS_PASSWORD (given apart from REDIS_URL; with an ACL user too) and Kafka
SASL over TLS (against the stack broker's SASL_SSL listener)."""

import os
import subprocess
import uuid

import pytest
import requests

from aggtest import (SOURCES, check_error_body, check_session_events, make_callback,
                     post_callback, post_journals, read_stream, start_session, wait_until)
from privateproc import PrivateProc, PrivateRedis, describe, private_topics, stackmod

SESSION_TIMEOUT_MS = 20000  # new consumer groups join first: generous on a loaded machine


@pytest.fixture
def procs(stack):
    """Starts private gateways (procs.gateway(env, wait)) and workers (procs.worker(...));
    every one must exit 0 on SIGTERM at the end."""
    made = []

    class Factory:
        @staticmethod
        def gateway(env, wait="readiness"):
            made.append(PrivateProc(stack, "gateway", env, wait))
            return made[-1]

        @staticmethod
        def worker(env, wait="readiness"):
            made.append(PrivateProc(stack, "worker", env, wait))
            return made[-1]
    yield Factory
    codes = [(p.stop(), p) for p in made]
    for rc, p in codes:
        assert rc == 0, "private %s exited %s on SIGTERM; see %s" % (p.prog, rc, p.log_path)


def _complete_session(base):
    """A session through base whose three answers all come back; returns the correlationId."""
    cid = start_session(base, "0,0,0", timeout_ms=SESSION_TIMEOUT_MS)
    s = read_stream(base, cid, timeout=SESSION_TIMEOUT_MS / 1000 + 20)
    by_source, summary = check_session_events(s.events, cid)
    assert sorted(by_source) == sorted(SOURCES) and summary["respondents"] == len(SOURCES), \
        s.events
    return cid


def _listening_sockets(port):
    """How many IPv4 and IPv6 TCP sockets listen on port (one per libmicrohttpd daemon)."""
    n = 0
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with open(table) as f:
            for line in f.readlines()[1:]:
                local, state = line.split()[1], line.split()[3]
                n += state == "0A" and int(local.rsplit(":", 1)[1], 16) == port
    return n


def test_callback_port_takes_the_answers_and_the_api_port_does_not(stack, procs):
    cb_port = stackmod.free_port()
    # No AGGREGATOR_CALLBACK_URL: its default follows CALLBACK_PORT.
    g = procs.gateway({"CALLBACK_PORT": cb_port, "AGGREGATOR_CALLBACK_URL": None,
                       "HTTP_LISTENERS": "3"})
    cb = "http://127.0.0.1:%d" % cb_port
    # HTTP_LISTENERS daemons share the API port; the callback port, with no streams, has one.
    assert _listening_sockets(int(g.url.rsplit(":", 1)[1])) == 3
    assert _listening_sockets(cb_port) == 1
    for kind in ("liveness", "readiness"):
        r = requests.get(cb + "/actuator/health/" + kind, timeout=5)
        assert r.status_code == 200, (kind, r.status_code, r.text)

    accepted = g.metric("gateway_callbacks_accepted_total")
    cid = _complete_session(g.url)
    # The API port refuses answers, so these came in on the callback port.
    assert g.metric("gateway_callbacks_accepted_total") == accepted + len(SOURCES)

    r = post_callback(g.url, make_callback(cid, SOURCES[0]))
    assert r.status_code == 404, r.text
    assert "CALLBACK_PORT" in check_error_body(r)["message"]
    r = post_journals(cb, {"patientId": "patient-123", "delays": "0", "strategy": "SSE"})
    assert r.status_code == 404, r.text
    check_error_body(r)
    assert requests.get(cb + "/actuator/prometheus", timeout=5).status_code == 404
    # The callback port still takes answers (a late one for a finished session is accepted).
    assert post_callback(cb, make_callback(cid, SOURCES[0])).status_code == 202


def test_callback_port_equal_to_server_port_is_a_configuration_error(stack):
    env = dict(os.environ, KAFKA_BROKERS=stack.kafka_brokers, SERVER_PORT="18080",
               CALLBACK_PORT="18080")
    r = subprocess.run([os.path.join(stack.build_dir, "gateway")], env=env, timeout=30,
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert r.returncode == 2, (r.returncode, r.stderr)
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and "CALLBACK_PORT" in lines[0], r.stderr


def test_redis_password_apart_from_the_url(stack, procs):
    password = "p@ss:w/rd-" + uuid.uuid4().hex[:8]  # cannot be written in a URL as it is
    redis = PrivateRedis(stack, "--requirepass", password)
    try:
        # Topics and group of their own: the stack's workers (on the stack's Redis) must not
        # take these sessions.
        env = dict(private_topics(stack.kafka_brokers), REDIS_URL=redis.url,
                   REDIS_PASSWORD=password)
        w = procs.worker(env)
        g = procs.gateway(dict(env, AGGREGATOR_CALLBACK_URL=None))
        _complete_session(g.url)
        for p in (g, w):
            assert password not in p.log(), "the password is in %s" % p.log_path

        # Without it (the URL has none): Redis refuses, readiness says Redis is down.
        bare = dict(env, REDIS_PASSWORD=None, KAFKA_GROUP_ID=env["KAFKA_GROUP_ID"] + "-bare")
        for p in (procs.gateway(bare, wait="liveness"), procs.worker(bare, wait="liveness")):
            wait_until(lambda: "NOAUTH" in p.log(), 30, "NOAUTH in the log of %s" % p.log_path)
            status, body = p.health()
            assert status == 503 and body["components"]["redis"]["status"] == "DOWN", \
                describe(p)
    finally:
        redis.stop()


def test_redis_acl_user_with_its_password_apart(stack, procs):
    """An ACL user (Redis 6+, the default user off): the chart's REDIS_URL redis://user@host
    with REDIS_PASSWORD, AUTH user password; a wrong password fails clearly."""
    password = "acl-" + uuid.uuid4().hex[:12]
    redis = PrivateRedis(stack, "--user", "default", "off", "--user", "app", "on",
                         ">" + password, "~*", "&*", "+@all")
    try:
        url = "redis://app@127.0.0.1:%d/0" % redis.port
        env = dict(private_topics(stack.kafka_brokers), REDIS_URL=url, REDIS_PASSWORD=password)
        w = procs.worker(env)
        g = procs.gateway(dict(env, AGGREGATOR_CALLBACK_URL=None))
        _complete_session(g.url)
        for p in (g, w):
            assert password not in p.log(), "the password is in %s" % p.log_path

        wrong = dict(env, REDIS_PASSWORD="wrong-" + uuid.uuid4().hex[:8],
                     KAFKA_GROUP_ID=env["KAFKA_GROUP_ID"] + "-wrong")
        for p in (procs.gateway(wrong, wait="liveness"), procs.worker(wrong, wait="liveness")):
            wait_until(lambda: "WRONGPASS" in p.log(), 30, "WRONGPASS in the log of %s"
                       % p.log_path)
            status, body = p.health()
            assert status == 503 and body["components"]["redis"]["status"] == "DOWN", \
                describe(p)
            assert wrong["REDIS_PASSWORD"] not in p.log(), "the password is in %s" % p.log_path
    finally:
        redis.stop()


def test_kafka_sasl_ssl(stack, procs, tmp_path):
    """SASL PLAIN over TLS (the broker's SASL_SSL listener, its certificate from the stack's
    test CA in KAFKA_SSL_CA_LOCATION); a wrong password and a CA that did not sign the broker
    each fail clearly."""
    if stack.kafka_sasl is None:
        pytest.skip("the stack's Kafka has no SASL listener (mock cluster)")
    sasl = dict(stack.kafka_sasl)
    env = dict(private_topics(stack.kafka_brokers), **sasl)
    w = procs.worker(env)
    g = procs.gateway(dict(env, AGGREGATOR_CALLBACK_URL=None))
    _complete_session(g.url)
    for p in (g, w):
        assert sasl["KAFKA_SASL_PASSWORD"] not in p.log(), "the password is in %s" % p.log_path

    # A wrong password: the broker refuses; readiness says Kafka is down, the log says why.
    wrong = dict(env, KAFKA_SASL_PASSWORD="wrong-" + uuid.uuid4().hex,
                 KAFKA_GROUP_ID=env["KAFKA_GROUP_ID"] + "-wrong")
    for p in (procs.gateway(wrong, wait="liveness"), procs.worker(wrong, wait="liveness")):
        wait_until(lambda: "Authentication failed" in p.log(), 60,
                   "the authentication failure in the log of %s" % p.log_path)
        status, body = p.health()
        assert status == 503 and body["components"]["kafka"]["status"] == "DOWN", describe(p)
        assert wrong["KAFKA_SASL_PASSWORD"] not in p.log(), "the password is in %s" % p.log_path

    # A CA that did not sign the broker's certificate: the handshake fails, the log says so.
    other_ca = str(tmp_path / "other-ca.pem")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                    "ec_paramgen_curve:P-256", "-nodes", "-keyout", str(tmp_path / "k.pem"),
                    "-out", other_ca, "-days", "1", "-subj", "/CN=other"], check=True,
                   capture_output=True)
    untrusted = dict(env, KAFKA_SSL_CA_LOCATION=other_ca,
                     KAFKA_GROUP_ID=env["KAFKA_GROUP_ID"] + "-ca")
    for p in (procs.gateway(untrusted, wait="liveness"),
              procs.worker(untrusted, wait="liveness")):
        wait_until(lambda: "certificate verify failed" in p.log(), 60,
                   "the certificate failure in the log of %s" % p.log_path)
        status, body = p.health()
        assert status == 503 and body["components"]["kafka"]["status"] == "DOWN", describe(p)
