"""AUTH_MODE=jwt on private gateways: HS256, RS256, ES256 and JWKS tokens accepted; every kind of
bad token refused with 401 and an RFC 6750 challenge; a stream read only by its session's
principal, on any replica; the actuator for admins, the probes open; the rate limit per subject;
configuration errors exit 2; the token never in a log line."""

import base64
import hashlib
import hmac
import json
import os
import subprocess
import time

import jwt as pyjwt
import pytest
import requests
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from aggtest import (TOPIC_REQUESTS, SSEStream, check_error_body, check_session_events, metric,
                     schemas)
from privateproc import PrivateGateway

ISSUER = "https://idp.test"
AUDIENCE = "aggregator"
SKEW_S = 30
SECRET = "test-only-hs256-secret-0123456789abcdef"
ADMIN_ROLE = "aggregator-admin"


def b64(n, size=None):
    size = size or (n.bit_length() + 7) // 8
    return base64.urlsafe_b64encode(n.to_bytes(size, "big")).rstrip(b"=").decode()


def pem_public(key):
    return key.public_key().public_bytes(serialization.Encoding.PEM,
                                         serialization.PublicFormat.SubjectPublicKeyInfo)


class Keys:
    """Keys made for this run, written where the gateways read them."""

    def __init__(self, d):
        self.rsa = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.ec = ec.generate_private_key(ec.SECP256R1())
        self.dir = d
        self.files = {}
        for name, data in (("secret", SECRET.encode() + b"\n"), ("rsa.pem", pem_public(self.rsa)),
                           ("ec.pem", pem_public(self.ec)), ("jwks.json", self.jwks())):
            path = os.path.join(d, name)
            with open(path, "wb") as f:
                f.write(data)
            self.files[name] = path

    def jwks(self):
        rn, en = self.rsa.public_key().public_numbers(), self.ec.public_key().public_numbers()
        keys = [{"kty": "RSA", "kid": "rsa-1", "use": "sig", "alg": "RS256", "n": b64(rn.n),
                 "e": b64(rn.e)},
                {"kty": "EC", "kid": "ec-1", "crv": "P-256", "x": b64(en.x, 32), "y": b64(en.y, 32)}]
        return json.dumps({"keys": keys}).encode()


def claims(sub="alice", roles=(), **over):
    now = int(time.time())
    c = {"iss": ISSUER, "aud": AUDIENCE, "sub": sub, "iat": now, "exp": now + 300,
         "roles": list(roles)}
    c.update(over)
    return {k: v for k, v in c.items() if v is not None}


def hs(**kw):
    return pyjwt.encode(claims(**kw), SECRET, algorithm="HS256")


def bearer(token):
    return {"Authorization": "Bearer " + token}


def admin_headers():
    return bearer(hs(sub="ops", roles=[ADMIN_ROLE]))


def post(base, headers=None, patient="patient-auth", delays="0,0,0"):
    h = {"Content-Type": "application/json"}
    h.update(headers or {})
    return requests.post(base + "/aggregate/journals", headers=h, timeout=10,
                         data=json.dumps({"patientId": patient, "delays": delays,
                                          "timeoutMs": 5000, "strategy": "SSE"}))


def jwt_env(**extra):
    env = {"AUTH_MODE": "jwt", "JWT_ISSUER": ISSUER, "JWT_AUDIENCE": AUDIENCE,
           "JWT_CLOCK_SKEW_S": SKEW_S}
    env.update(extra)
    return env


@pytest.fixture(scope="module")
def keys(tmp_path_factory):
    return Keys(str(tmp_path_factory.mktemp("jwt-keys")))


@pytest.fixture(scope="module")
def gws(stack, keys):
    """Two replicas with the HS256 secret (from a file), one each with the RSA PEM, the EC PEM
    and the JWKS."""
    specs = {"hs": {"JWT_SECRET_FILE": keys.files["secret"]},
             "hs2": {"JWT_SECRET": SECRET},
             "rs": {"JWT_PUBLIC_KEY_FILE": keys.files["rsa.pem"]},
             "es": {"JWT_PUBLIC_KEY_FILE": keys.files["ec.pem"]},
             "jwks": {"JWT_JWKS_FILE": keys.files["jwks.json"]}}
    started = {}
    try:
        for name, env in specs.items():
            started[name] = PrivateGateway(stack, jwt_env(**env))
        yield started
    finally:
        for g in started.values():
            g.stop()


def token_never_logged(g, token):
    # The signature part alone is the secret a log line must not leak.
    sig = token.rsplit(".", 1)[-1]
    assert sig not in g.log(), "the token appears in %s" % g.log_path


def test_each_kind_of_key_accepts_its_tokens(gws, keys, kafka_tap):
    now = int(time.time())
    cases = [("hs", hs(sub="hs-user")),
             ("hs2", hs(sub="hs-user")),
             ("rs", pyjwt.encode(claims(sub="rs-user"), keys.rsa, algorithm="RS256")),
             ("es", pyjwt.encode(claims(sub="es-user"), keys.ec, algorithm="ES256")),
             ("jwks", pyjwt.encode(claims(sub="jwks-rs"), keys.rsa, algorithm="RS256",
                                   headers={"kid": "rsa-1"})),
             ("jwks", pyjwt.encode(claims(sub="jwks-ec"), keys.ec, algorithm="ES256",
                                   headers={"kid": "ec-1"})),
             # exp and nbf inside JWT_CLOCK_SKEW_S are accepted
             ("hs", hs(sub="skewed", exp=now - SKEW_S // 2)),
             ("hs", hs(sub="skewed", nbf=now + SKEW_S // 2))]
    for name, token in cases:
        r = post(gws[name].url, bearer(token))
        assert r.status_code == 202, (name, r.status_code, r.text)
        sub = pyjwt.decode(token, options={"verify_signature": False})["sub"]
        msg = json.loads(kafka_tap.wait_for(TOPIC_REQUESTS, r.json()["correlationId"])[0]["value"])
        schemas().check_kafka(TOPIC_REQUESTS, msg)
        assert msg["principal"] == sub, msg
        token_never_logged(gws[name], token)


def refusals(keys):
    """(gateway, headers, reason) of requests that must get 401."""
    now = int(time.time())
    rsa_pub = pem_public(keys.rsa)
    none_token = pyjwt.encode(claims(), None, algorithm="none")
    # HS256 signed with the RSA public key as the secret: PyJWT refuses to make it, so by hand.
    head = base64.urlsafe_b64encode(b'{"alg":"HS256","typ":"JWT"}').rstrip(b"=")
    body = base64.urlsafe_b64encode(json.dumps(claims()).encode()).rstrip(b"=")
    mac = hmac.new(rsa_pub, head + b"." + body, hashlib.sha256).digest()
    confused = (head + b"." + body + b"." + base64.urlsafe_b64encode(mac).rstrip(b"=")).decode()
    good = hs()
    h, p, _ = good.split(".")
    other_sig = hs(sub="mallory").split(".")[2]
    return [
        ("hs", {}, "missing"),
        ("hs", {"Authorization": "Basic YWxpY2U6cHc="}, "malformed"),
        ("hs", bearer("garbage"), "malformed"),
        ("hs", bearer("a.b.c"), "malformed"),
        ("hs", bearer(h + "." + p + "." + other_sig), "bad_signature"),
        ("hs", bearer(pyjwt.encode(claims(), "another-secret-of-32-bytes-or-more!!",
                                   algorithm="HS256")), "bad_signature"),
        ("hs", bearer(hs(iss="https://evil.test")), "wrong_issuer"),
        ("hs", bearer(hs(aud="someone-else")), "wrong_audience"),
        ("hs", bearer(hs(aud=["x", "y"])), "wrong_audience"),
        ("hs", bearer(hs(exp=now - SKEW_S - 60)), "expired"),
        ("hs", bearer(hs(nbf=now + SKEW_S + 60)), "not_yet_valid"),
        ("hs", bearer(hs(exp=None)), "malformed"),
        ("hs", bearer(none_token), "unsupported_algorithm"),
        ("rs", bearer(none_token), "unsupported_algorithm"),
        ("rs", bearer(confused), "unsupported_algorithm"),
        ("rs", bearer(good), "unsupported_algorithm"),
        ("es", bearer(pyjwt.encode(claims(), keys.rsa, algorithm="RS256")),
         "unsupported_algorithm"),
        ("jwks", bearer(pyjwt.encode(claims(), keys.rsa, algorithm="RS256",
                                     headers={"kid": "rsa-9"})), "unknown_key"),
        ("jwks", bearer(pyjwt.encode(claims(), keys.rsa, algorithm="RS256",
                                     headers={"kid": "ec-1"})), "unsupported_algorithm"),
    ]


def admin_of(name, keys):
    """An admin's Authorization for gateway name (its key kind)."""
    c = claims(sub="ops", roles=[ADMIN_ROLE])
    if name == "rs":
        return bearer(pyjwt.encode(c, keys.rsa, algorithm="RS256"))
    if name == "es":
        return bearer(pyjwt.encode(c, keys.ec, algorithm="ES256"))
    if name == "jwks":
        return bearer(pyjwt.encode(c, keys.ec, algorithm="ES256", headers={"kid": "ec-1"}))
    return admin_headers()


def failures(gws, keys, name, reason):
    return metric(gws[name].url, "gateway_auth_failures_total", headers=admin_of(name, keys),
                  reason=reason) or 0


def test_bad_tokens_get_401_with_a_bearer_challenge(gws, keys):
    cases = refusals(keys)
    before = {(n, why): failures(gws, keys, n, why) for n, _, why in cases}
    counted = {}
    for name, headers, reason in cases:
        r = post(gws[name].url, headers)
        assert r.status_code == 401, (name, reason, r.status_code, r.text)
        body = check_error_body(r)
        assert body["error"] == "unauthorized" and reason in body["message"], (reason, body)
        challenge = r.headers["WWW-Authenticate"]
        assert challenge.startswith('Bearer realm="aggregator"'), challenge
        if reason == "missing":
            assert "error=" not in challenge, challenge
        else:
            assert 'error="invalid_token"' in challenge and "error_description=" in challenge
        counted[(name, reason)] = counted.get((name, reason), 0) + 1
    for (name, reason), n in counted.items():
        assert failures(gws, keys, name, reason) == before[(name, reason)] + n, (name, reason)
    # A bad token on the stream is refused before the session is looked at.
    r = requests.get(gws["hs"].url + "/aggregate/stream", timeout=10,
                     params={"correlationId": "0b7e6d3c-1f2a-4b5c-8d9e-0a1b2c3d4e5f",
                             "access_token": "garbage"})
    assert r.status_code == 401 and r.json()["error"] == "unauthorized", r.text
    # On POST the query parameter is no token (it would end up in logs and proxies).
    r = requests.post(gws["hs"].url + "/aggregate/journals", params={"access_token": hs()},
                      headers={"Content-Type": "application/json"}, timeout=10,
                      data=json.dumps({"patientId": "p", "delays": "0"}))
    assert r.status_code == 401, r.text


def test_a_stream_is_its_owners_only_on_any_replica(gws):
    alice, bob = hs(sub="alice"), hs(sub="bob")
    r = post(gws["hs"].url, bearer(alice), delays="0,100,200")
    assert r.status_code == 202, r.text
    cid = r.json()["correlationId"]
    # Bob, on the other replica, with a valid token: the session is not his.
    st = SSEStream(gws["hs2"].url, cid, headers=bearer(bob))
    assert st.status == 403 and st.json["error"] == "forbidden", (st.status, st.body)
    # Bob's query token, as a browser sends it: the same.
    st = SSEStream(gws["hs2"].url, cid, params={"access_token": bob})
    assert st.status == 403, st.body
    # No token at all: 401, not a hint whether the session exists.
    st = SSEStream(gws["hs2"].url, cid)
    assert st.status == 401, st.body
    # Alice reads it on the other replica with the query parameter (EventSource's way) ...
    st = SSEStream(gws["hs2"].url, cid, params={"access_token": alice})
    assert st.status == 200, st.body
    st.read_all(30)
    check_session_events(st.events, cid, patient="patient-auth")
    # ... and with the header on the replica that took it.
    st = SSEStream(gws["hs"].url, cid, headers=bearer(alice))
    assert st.status == 200, st.body
    st.read_all(30)
    check_session_events(st.events, cid, patient="patient-auth")
    assert metric(gws["hs2"].url, "gateway_auth_failures_total", headers=admin_headers(),
                  reason="forbidden") >= 2
    # The query token is in no log line (accesslog logs the route, never the query).
    token_never_logged(gws["hs2"], alice)
    token_never_logged(gws["hs2"], bob)


def test_the_actuator_needs_the_admin_role_but_the_probes_do_not(gws):
    base = gws["hs"].url
    for path in ("/actuator/prometheus", "/actuator/configprops", "/actuator/info",
                 "/actuator/metrics"):
        r = requests.get(base + path, timeout=10)
        assert r.status_code == 401, (path, r.status_code)
        r = requests.get(base + path, headers=bearer(hs(roles=["reader"])), timeout=10)
        assert r.status_code == 403 and r.json()["error"] == "forbidden", (path, r.text)
        check_error_body(r)
        r = requests.get(base + path, headers=admin_headers(), timeout=10)
        assert r.status_code == 200, (path, r.status_code, r.text)
    for path in ("/actuator/health", "/actuator/health/liveness", "/actuator/health/readiness"):
        assert requests.get(base + path, timeout=10).status_code == 200, path
    # The secret is in the configuration, never in configprops.
    props = requests.get(gws["hs2"].url + "/actuator/configprops", headers=admin_headers(),
                         timeout=10)
    assert SECRET not in props.text and '"******"' in props.text
    assert json.loads(props.text)["auth"]["mode"] == "jwt"


def test_cors_preflight_stays_open_and_allows_authorization(gws):
    r = requests.options(gws["hs"].url + "/aggregate/journals", timeout=10,
                         headers={"Origin": "http://localhost:8082",
                                  "Access-Control-Request-Method": "POST",
                                  "Access-Control-Request-Headers": "authorization,content-type"})
    assert r.status_code == 204, r.status_code
    allowed = [h.strip().lower() for h in r.headers["Access-Control-Allow-Headers"].split(",")]
    assert "authorization" in allowed, allowed


def test_the_rate_limit_is_per_subject(stack, keys):
    g = PrivateGateway(stack, jwt_env(JWT_SECRET=SECRET, RATE_LIMIT_RPS=1, RATE_LIMIT_BURST=2))
    try:
        alice, bob = bearer(hs(sub="alice")), bearer(hs(sub="bob"))
        codes = [post(g.url, alice).status_code for _ in range(2)]
        assert codes == [202, 202], codes
        r = post(g.url, alice)
        assert r.status_code == 429 and "principal" in r.json()["message"], r.text
        # Bob comes from the same address: his own bucket.
        assert post(g.url, bob).status_code == 202
        # A refused token reaches no bucket: 401, however many.
        assert [post(g.url, bearer("x.y.z")).status_code for _ in range(3)] == [401] * 3
    finally:
        g.stop()


@pytest.mark.parametrize("env,says", [
    ({}, "needs a key"),
    ({"JWT_SECRET": "short"}, "at least 32 bytes"),
    ({"JWT_SECRET": SECRET, "JWT_JWKS_FILE": "/etc/hostname"}, "not several"),
    ({"JWT_PUBLIC_KEY_FILE": "/nonexistent/key.pem"}, "JWT_PUBLIC_KEY_FILE"),
    ({"JWT_JWKS_FILE": "/etc/hostname"}, "JWT_JWKS_FILE"),
    ({"JWT_CLOCK_SKEW_S": "-1", "JWT_SECRET": SECRET}, "JWT_CLOCK_SKEW_S"),
    ({"AUTH_MODE": "ldap"}, "AUTH_MODE"),
])
def test_configuration_errors_exit_2_with_one_line(stack, env, says):
    full = dict(os.environ, KAFKA_BROKERS=stack.kafka_brokers, AUTH_MODE="jwt",
                CALLBACK_SIGNING_KEY=stack.callback_signing_key)
    for k in ("JWT_SECRET", "JWT_SECRET_FILE", "JWT_PUBLIC_KEY_FILE", "JWT_JWKS_FILE"):
        full.pop(k, None)
    full.update(env)
    p = subprocess.run([os.path.join(stack.build_dir, "gateway")], env=full, capture_output=True,
                       text=True, timeout=30)
    assert p.returncode == 2, (p.returncode, p.stderr)
    lines = p.stderr.strip().splitlines()
    assert len(lines) == 1 and says in lines[0], lines
    assert SECRET not in p.stderr
