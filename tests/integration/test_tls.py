"""TLS with certificates the test makes: a gateway serving HTTPS end to end (sessions, streams,
callbacks from a resource over https), TLS 1.0/1.1 and plain HTTP refused, the certificate
reloaded on SIGHUP under an open stream; a worker verifying its resources (an untrusted one
fails the call) and mutual TLS with a resource that demands client certificates."""

import datetime
import ipaddress
import os
import signal
import socket
import ssl
import tempfile
import threading
import time

import pytest
import requests
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from aggtest import SSEStream, post_journals, wait_until
from privateproc import PrivateProc, private_topics

TIMEOUT_MS = 15000  # new consumer groups join first: generous on a loaded machine


class Pki:
    """A CA and certificates it signed, as PEM files in a directory."""

    def __init__(self, directory, name):
        self.dir = directory
        self.key = ec.generate_private_key(ec.SECP256R1())
        now = datetime.datetime.now(datetime.timezone.utc)
        subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
        self.cert = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject)
                     .public_key(self.key.public_key()).serial_number(x509.random_serial_number())
                     .not_valid_before(now - datetime.timedelta(minutes=5))
                     .not_valid_after(now + datetime.timedelta(days=2))
                     .add_extension(x509.BasicConstraints(ca=True, path_length=None), True)
                     .sign(self.key, hashes.SHA256()))
        self.ca_file = self._write(name + "-ca.pem", self.cert.public_bytes(
            serialization.Encoding.PEM))

    def _write(self, name, data):
        path = os.path.join(self.dir, name)
        with open(path, "wb") as f:
            f.write(data)
        return path

    def issue(self, name, days=1, server=True):
        """(cert_file, key_file, certificate) of a new leaf: a server one for 127.0.0.1."""
        key = ec.generate_private_key(ec.SECP256R1())
        now = datetime.datetime.now(datetime.timezone.utc)
        b = (x509.CertificateBuilder()
             .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)]))
             .issuer_name(self.cert.subject).public_key(key.public_key())
             .serial_number(x509.random_serial_number())
             .not_valid_before(now - datetime.timedelta(minutes=5))
             .not_valid_after(now + datetime.timedelta(days=days)))
        if server:
            b = b.add_extension(x509.SubjectAlternativeName(
                [x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False)
        cert = b.sign(self.key, hashes.SHA256())
        cert_file = self._write(name + ".pem", cert.public_bytes(serialization.Encoding.PEM))
        key_file = self._write(name + ".key", key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption()))
        return cert_file, key_file, cert


@pytest.fixture(scope="module")
def pki():
    d = tempfile.mkdtemp(prefix="agg-tls-")
    trusted, other = Pki(d, "test"), Pki(d, "untrusted")
    return {"dir": d, "ca": trusted, "other": other,
            "server": trusted.issue("server"), "server2": trusted.issue("server2", days=2),
            "client": trusted.issue("client", server=False),
            "untrusted": other.issue("untrusted-server"),
            "untrusted_client": other.issue("untrusted-client", server=False)}


@pytest.fixture
def procs(stack, pki, monkeypatch):
    """Private processes (procs.start(prog, env, tls)) that must exit 0 on SIGTERM; requests
    and SSEStream trust the test CA meanwhile."""
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", pki["ca"].ca_file)
    made = []

    class Factory:
        @staticmethod
        def start(prog, env, tls=False, wait="readiness"):
            made.append(PrivateProc(stack, prog, env, wait, tls=tls))
            return made[-1]
    yield Factory
    codes = [(p.stop(), p) for p in made]
    for rc, p in codes:
        assert rc == 0, "private %s exited %s on SIGTERM; see %s" % (p.prog, rc, p.log_path)


def tls_env(cert):
    return {"TLS_CERT_FILE": cert[0], "TLS_KEY_FILE": cert[1]}


def served_serial(port, cafile):
    """The serial number of the certificate a new TLS connection to port gets."""
    ctx = ssl.create_default_context(cafile=cafile)
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        with ctx.wrap_socket(s, server_hostname="127.0.0.1") as t:
            return x509.load_der_x509_certificate(t.getpeercert(binary_form=True)).serial_number


def run_session(gateway, source, timeout_ms=TIMEOUT_MS):
    """One SSE session through gateway with one resource (source); returns its callback event."""
    r = post_journals(gateway.url, {"patientId": "patient-tls", "delays": "0",
                                    "timeoutMs": timeout_ms, "strategy": "SSE"})
    assert r.status_code == 202, r.text
    cid = r.json()["correlationId"]
    s = SSEStream(gateway.url, cid, timeout=timeout_ms / 1000 + 20)
    assert s.status == 200
    events = s.read_all(timeout_ms / 1000 + 20)
    s.close()
    answers = [e.json for e in events if e.event == "callback"]
    assert len(answers) == 1 and answers[0]["source"] == source, events
    return answers[0]


def pipeline(stack, procs, pki, resource_env, worker_env, resource_tls=True):
    """A resource-sim, a worker and a TLS gateway of the test's own topics: (gateway, resource,
    worker). The resource answers over https to the gateway, trusting the test CA."""
    topics = private_topics(stack.kafka_brokers)
    procs.topics = topics
    # Its probes may want a client certificate or a CA requests does not trust: its log says.
    res = procs.start("resource-sim", dict({"RESOURCE_ID": "tls-res",
                                            "CALLBACK_TLS_CA_FILE": pki["ca"].ca_file},
                                           **resource_env), tls=resource_tls, wait=None)
    wait_until(lambda: res.popen.poll() is not None or "listening on" in res.log(), 30,
               "the private resource-sim listening")
    assert res.popen.poll() is None, res.log()
    w = procs.start("worker", dict(topics, RESOURCE_URLS=res.url, **worker_env))
    g = procs.start("gateway", dict(topics, RESOURCE_URLS="tls-res=" + res.url,
                                    AGGREGATOR_CALLBACK_URL=None, **tls_env(pki["server"])),
                    tls=True)
    return g, res, w


def test_https_end_to_end_and_only_tls_1_2_or_later(stack, procs, pki):
    g, res, w = pipeline(stack, procs, pki, tls_env(pki["server"]),
                         {"RESOURCE_TLS_CA_FILE": pki["ca"].ca_file})
    # POST, stream and the resource's callback all over https (the default callback URL
    # follows TLS: https://127.0.0.1:<port>).
    assert run_session(g, "tls-res")["status"] == "ok"
    # Plain HTTP to the TLS port gets no HTTP answer.
    with pytest.raises(requests.ConnectionError):
        requests.get("http://127.0.0.1:%d/actuator/health" % g.port, timeout=5)
    # TLS 1.1 is refused by the gateway, from a client that can speak it (a Python TLS 1.1
    # server accepts the same client context: the refusal is the gateway's).
    old = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    old.load_verify_locations(pki["ca"].ca_file)
    old.minimum_version, old.maximum_version = ssl.TLSVersion.TLSv1, ssl.TLSVersion.TLSv1_1
    old.set_ciphers("DEFAULT:@SECLEVEL=0")
    assert _tls11_server_accepts(old, pki), "the client cannot speak TLS 1.1: test invalid"
    for port in (g.port, res.port):
        with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
            with pytest.raises(ssl.SSLError):
                old.wrap_socket(s, server_hostname="127.0.0.1")
    # TLS 1.2 is served.
    v12 = ssl.create_default_context(cafile=pki["ca"].ca_file)
    v12.maximum_version = ssl.TLSVersion.TLSv1_2
    with socket.create_connection(("127.0.0.1", g.port), timeout=10) as s:
        with v12.wrap_socket(s, server_hostname="127.0.0.1") as t:
            assert t.version() == "TLSv1.2"
    assert g.metric("tls_certificate_expiry_seconds") == int(
        pki["server"][2].not_valid_after_utc.timestamp())


def _tls11_server_accepts(client_ctx, pki):
    srv = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    srv.load_cert_chain(pki["server"][0], pki["server"][1])
    srv.minimum_version = srv.maximum_version = ssl.TLSVersion.TLSv1_1
    srv.set_ciphers("DEFAULT:@SECLEVEL=0")
    a, b = socket.socketpair()
    a.settimeout(10)
    b.settimeout(10)
    result = {}

    def serve():
        try:
            with srv.wrap_socket(b, server_side=True) as t:
                result["server"] = t.version()
        except (ssl.SSLError, OSError) as e:
            result["server"] = e
    th = threading.Thread(target=serve)
    th.start()
    try:
        with client_ctx.wrap_socket(a, server_hostname="127.0.0.1") as t:
            version = t.version()
    except ssl.SSLError:
        version = None
    th.join(10)
    return version == "TLSv1.1"


def test_sighup_reloads_the_certificate_under_an_open_stream(stack, procs, pki):
    ca = pki["ca"].ca_file
    cert = os.path.join(pki["dir"], "live.pem")
    key = os.path.join(pki["dir"], "live.key")

    def install(which):
        for src, dst in ((pki[which][0], cert), (pki[which][1], key)):
            with open(src, "rb") as f, open(dst + ".tmp", "wb") as o:
                o.write(f.read())
            os.replace(dst + ".tmp", dst)  # as a Secret's files change: whole
    install("server")
    g = procs.start("gateway", {"TLS_CERT_FILE": cert, "TLS_KEY_FILE": key,
                                "SSE_KEEPALIVE_MS": 200}, tls=True)
    assert served_serial(g.port, ca) == pki["server"][2].serial_number
    r = post_journals(g.url, {"patientId": "patient-tls", "delays": "0", "timeoutMs": 27000,
                              "strategy": "SSE"})
    assert r.status_code == 202, r.text
    s = SSEStream(g.url, r.json()["correlationId"])
    assert s.status == 200

    install("server2")
    g.popen.send_signal(signal.SIGHUP)
    new = pki["server2"][2]
    wait_until(lambda: served_serial(g.port, ca) == new.serial_number, 10,
               "the new certificate served")
    assert "TLS certificate reloaded" in g.log()
    assert g.metric("tls_certificate_reloads_total") == 1
    assert g.metric("tls_certificate_expiry_seconds") == int(new.not_valid_after_utc.timestamp())
    # The stream opened before the reload still gets its keep-alives on the old session.
    _read_keepalive(s)

    # A broken file: refused, logged, the previous certificate still served.
    with open(cert, "w") as f:
        f.write("not a certificate\n")
    g.popen.send_signal(signal.SIGHUP)
    wait_until(lambda: g.metric("tls_certificate_reload_failures_total") == 1, 10,
               "the failed reload counted")
    assert "TLS certificate reload failed" in g.log()
    assert served_serial(g.port, ca) == new.serial_number
    _read_keepalive(s)
    s.close()


def _read_keepalive(stream):
    """Reads the stream until a keep-alive comment line arrives (the stream is alive)."""
    deadline = time.monotonic() + 10
    stream.sock.settimeout(10)  # one timeout spoils the socket: no shorter reads
    while True:
        line = stream.resp.readline()
        assert line, "the stream ended"
        if line.startswith(b":"):
            return
        assert time.monotonic() < deadline, "no keep-alive on the stream"


def test_worker_refuses_an_untrusted_resource(stack, procs, pki):
    g, res, w = pipeline(stack, procs, pki, tls_env(pki["untrusted"]),
                         {"RESOURCE_TLS_CA_FILE": pki["ca"].ca_file})
    ev = run_session(g, "tls-res")
    assert ev["status"] == "ERROR", ev
    assert "certificate" in w.log().lower(), w.log_path


def test_mutual_tls_with_a_resource(stack, procs, pki):
    mtls = dict(tls_env(pki["server"]), TLS_CLIENT_CA_FILE=pki["ca"].ca_file)
    trust = {"RESOURCE_TLS_CA_FILE": pki["ca"].ca_file}
    # A worker without a client certificate is refused in the handshake. With TLS 1.3 the
    # refusal comes after the client's request is sent: the worker sees the connection reset
    # (CONNECTION_CLOSED) rather than a TLS error (ERROR); either way the call fails.
    refused = ("ERROR", "CONNECTION_CLOSED")
    g, res, w = pipeline(stack, procs, pki, mtls, trust)
    assert run_session(g, "tls-res")["status"] in refused
    # One with a certificate of another CA is refused too; one of the trusted CA is served.
    for client, status in (("untrusted_client", refused), ("client", ("ok",))):
        w.stop()
        w = procs.start("worker", dict(procs.topics, RESOURCE_URLS=res.url,
                                       RESOURCE_TLS_CERT_FILE=pki[client][0],
                                       RESOURCE_TLS_KEY_FILE=pki[client][1], **trust))
        assert run_session(g, "tls-res")["status"] in status, client
