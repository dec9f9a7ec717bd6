"""Each kind of bad input gets a clear 4xx with the JSON error body (naming the field where
there is one), and garbage on Kafka is skipped, counted, and harms nothing."""

import http.client
import json
import os
import socket
import urllib.parse
import uuid

import pytest
import requests

from aggtest import (TOPIC_CALLBACKS, TOPIC_REQUESTS, SSEStream, check_error_body,
                     check_session_events, make_callback, make_note, metric_sum, post_callback,
                     post_journals, produce, read_stream, session_done, start_session, wait_until)

OK = {"patientId": "patient-123", "delays": "0,0,0", "timeoutMs": 5000, "strategy": "SSE"}


def body(**kw):
    b = dict(OK)
    for k, v in kw.items():
        if v is KeyError:
            b.pop(k, None)
        else:
            b[k] = v
    return json.dumps(b)


# name, raw body, expected field (None: no field expected)
JOURNAL_400 = [
    ("missing-patientId", body(patientId=KeyError), "patientId"),
    ("empty-patientId", body(patientId=""), "patientId"),
    ("patientId-space", body(patientId="pat ient"), "patientId"),
    ("patientId-markup", body(patientId="p<script>"), "patientId"),
    ("patientId-slash", body(patientId="p/1"), "patientId"),
    ("patientId-nul", body(patientId="a\u0000b"), None),
    ("patientId-65-chars", body(patientId="a" * 65), "patientId"),
    ("patientId-number", body(patientId=123), "patientId"),
    ("patientId-null", body(patientId=None), "patientId"),
    ("delays-letters", body(delays="1,a,3"), "delays"),
    ("delays-empty-entry", body(delays="1,,3"), "delays"),
    ("delays-more-than-resources", body(delays="0,0,0,0"), "delays"),
    ("delays-below-min", body(delays="-9,0,0"), "delays"),
    ("delays-above-max", body(delays="600001"), "delays"),
    ("delays-array-of-strings", body(delays=["0"]), "delays"),
    ("delays-array-too-long", body(delays=[0, 0, 0, 0]), "delays"),
    ("delays-array-float", body(delays=[0.5]), "delays"),
    ("delays-object", body(delays={}), "delays"),
    ("timeoutMs-zero", body(timeoutMs=0), "timeoutMs"),
    ("timeoutMs-negative", body(timeoutMs=-1), "timeoutMs"),
    ("timeoutMs-string", body(timeoutMs="1000"), "timeoutMs"),
    ("timeoutMs-float", body(timeoutMs=1.5), "timeoutMs"),
    ("timeoutMs-bool", body(timeoutMs=True), "timeoutMs"),
    ("strategy-unknown", body(strategy="FOO"), "strategy"),
    ("strategy-lowercase", body(strategy="sse"), "strategy"),
    ("strategy-number", body(strategy=1), "strategy"),
    ("not-json", "hello", None),
    ("json-array", "[]", None),
    ("json-string", '"x"', None),
    ("empty-body", "", None),
    ("truncated-json", '{"patientId":"a"', None),
    ("duplicate-keys", '{"patientId":"a","patientId":"b"}', None),
    ("invalid-utf8", b'{"patientId":"p\xff\xfe"}', None),
    # Strict JSON: nesting is bounded (129 levels in an ignored member), and a NUL byte does not end
    # the body (jansson alone took it for the end of the text; found by tests/fuzz).
    ("nesting-too-deep", '{"patientId":"p","x":' + "[" * 128 + "]" * 128 + "}", None),
    ("nul-byte-then-more", b'{"patientId":"p"}\x00{"patientId":"q"}', None),
    ("nul-byte-at-end", b'{"patientId":"p"}\x00', None),
]


@pytest.mark.parametrize("name,raw,field", JOURNAL_400, ids=[c[0] for c in JOURNAL_400])
def test_bad_journal_request_is_400(gw, name, raw, field):
    r = post_journals(gw[0], raw=raw)
    assert r.status_code == 400, "%s: %d %s" % (name, r.status_code, r.text)
    err = r.json()
    if field is not None:
        assert err.get("field") == field, err
    if name.startswith("nesting"):
        assert "nesting too deep" in err["message"], err


def test_edge_values_are_accepted(gw):
    for b in (body(patientId="a" * 64), body(patientId="A-z.0:_9"), body(delays=[0, -1, 600000]),
              body(timeoutMs=1), body(timeoutMs=99999), body(strategy=KeyError),
              body(delays=KeyError, timeoutMs=KeyError),
              body(x=json.loads("[" * 127 + "]" * 127))):  # 128 levels: the deepest allowed
        r = post_journals(gw[1], raw=b)
        assert r.status_code == 202, (b, r.status_code, r.text)


def _post_big(base, path, size):
    u = urllib.parse.urlsplit(base)
    payload = b'{"patientId":"p","pad":"' + b"x" * size + b'"}'
    c = http.client.HTTPConnection(u.hostname, u.port, timeout=30)
    try:
        c.putrequest("POST", path)
        c.putheader("Content-Type", "application/json")
        c.putheader("Content-Length", str(len(payload)))
        c.endheaders()
        try:
            for i in range(0, len(payload), 65536):
                c.send(payload[i:i + 65536])
        except (BrokenPipeError, ConnectionResetError):
            pass  # the server may answer and close before reading it all
        resp = c.getresponse()
        return resp.status, resp.getheader("Content-Type", ""), resp.read()
    finally:
        c.close()


@pytest.mark.parametrize("path", ["/aggregate/journals", "/aggregate/callback"])
def test_body_over_1_mib_is_413(gw, path):
    status, ctype, data = _post_big(gw[0], path, (1 << 20) + 10)
    assert status == 413, (status, data[:200])
    assert ctype.startswith("application/json")
    err = json.loads(data)
    assert isinstance(err.get("error"), str) and isinstance(err.get("message"), str)


@pytest.fixture(scope="module")
def done_cid(gw, redis):
    cid = start_session(gw[0], "0,0,0")
    wait_until(lambda: session_done(redis, cid), 30, "session done")
    return cid


def test_stream_without_correlation_id_is_400(gw):
    st = SSEStream(gw[0])
    assert st.status == 400 and st.json.get("field") == "correlationId", st.json


@pytest.mark.parametrize("cid", ["abc", "12345678-1234-1234-1234-1234567890ab-x", "",
                                 "12345678-ABCD-1234-1234-1234567890AB", "../../etc/passwd"])
def test_stream_with_malformed_correlation_id_is_400(gw, cid):
    st = SSEStream(gw[1], params={"correlationId": cid})
    assert st.status == 400 and st.json.get("field") == "correlationId", (cid, st.json)


def test_stream_of_unknown_session_is_404(gw):
    st = SSEStream(gw[0], str(uuid.uuid4()))
    assert st.status == 404, st.status
    assert st.json["error"]


@pytest.mark.parametrize("value", ["abc", "-1", "1.5", "1e3", "0x10", "99999999999999999999"])
def test_bad_last_event_id_is_400(gw, done_cid, value):
    st = SSEStream(gw[0], done_cid, last_event_id=value)
    assert st.status == 400, (value, st.status)
    st = SSEStream(gw[1], done_cid, query_last_id=value)
    assert st.status == 400, (value, st.status)


def _cb(**kw):
    cb = make_callback(str(uuid.uuid4()), "resource-1")
    for k, v in kw.items():
        if v is KeyError:
            cb.pop(k, None)
        else:
            cb[k] = v
    return json.dumps(cb)


CALLBACK_400 = [
    ("not-json", "{oops", None),
    ("json-array", "[1]", None),
    ("missing-source", _cb(source=KeyError), "source"),
    ("source-too-long", _cb(source="r" * 65), "source"),
    ("missing-correlationId", _cb(correlationId=KeyError), "correlationId"),
    ("bad-correlationId", _cb(correlationId="abc"), "correlationId"),
    ("missing-patientId", _cb(patientId=KeyError), "patientId"),
    ("empty-patientId", _cb(patientId=""), "patientId"),
    ("bad-status", _cb(status="FOO"), "status"),
    ("missing-status", _cb(status=KeyError), "status"),
    ("notes-not-array", _cb(notes="x"), "notes"),
    ("ok-without-notes", _cb(notes=None), "notes"),
    ("note-not-object", _cb(notes=[1]), "notes"),
    ("note-missing-date", _cb(notes=[{k: v for k, v in make_note("p").items() if k != "date"}]),
     "notes"),
    ("note-bad-date", _cb(notes=[dict(make_note("p"), date="yesterday")]), "notes"),
    ("too-many-notes", _cb(notes=[make_note("p", i) for i in range(1001)]), "notes"),
    ("delayMs-string", _cb(delayMs="0"), "delayMs"),
    ("delayMs-float", _cb(delayMs=1.5), "delayMs"),
    ("source-number", _cb(source=1), "source"),
    ("correlationId-number", _cb(correlationId=1), "correlationId"),
    ("patientId-object", _cb(patientId={}), "patientId"),
    ("status-number", _cb(status=1), "status"),
    ("notes-object", _cb(notes={}), "notes"),
    ("note-field-number", _cb(notes=[dict(make_note("p"), note=1)]), "notes"),
    ("nesting-too-deep", _cb(extra=json.loads("[" * 128 + "]" * 128)), None),
    ("nul-byte-then-more", _cb().encode() + b"\x00{}", None),
]


@pytest.mark.parametrize("name,raw,field", CALLBACK_400, ids=[c[0] for c in CALLBACK_400])
def test_malformed_callback_is_400(gw, name, raw, field):
    r = post_callback(gw[1], raw=raw)
    assert r.status_code == 400, "%s: %d %s" % (name, r.status_code, r.text)
    if name.startswith("nesting"):
        assert "nesting too deep" in r.json()["message"], r.json()
    if field is not None:
        got = r.json().get("field") or ""
        assert got == field or got.startswith(field + "[") or got.startswith(field + "."), \
            (name, r.json())


def test_callback_for_unknown_session_is_accepted_then_dropped(gw, workers):
    before = metric_sum(workers, "callbacks_dropped_total", reason="unknown-session")
    r = post_callback(gw[0], make_callback(str(uuid.uuid4()), "resource-2"))
    assert r.status_code == 202 and r.json() == {"status": "accepted"}
    wait_until(lambda: metric_sum(workers, "callbacks_dropped_total",
                                  reason="unknown-session") >= before + 1,
               20, "callbacks_dropped_total{reason=unknown-session} to grow")


GARBAGE = [None, b"", b"\x00\xff\xfe\x80", b"not json", b"[]", b"{}", b'{"correlationId":"x"}',
           os.urandom(4096), b'{"correlationId":"' + b"a" * 100000 + b'"}']


def test_garbage_on_kafka_is_skipped_and_counted(stack, gw, workers, redis):
    before = {t: metric_sum(workers, "worker_bad_messages_total", topic=t)
              for t in (TOPIC_REQUESTS, TOPIC_CALLBACKS)}
    produce(stack.kafka_brokers, TOPIC_REQUESTS, GARBAGE, key=b"garbage")
    produce(stack.kafka_brokers, TOPIC_CALLBACKS, GARBAGE, key=None)
    wait_until(lambda: all(metric_sum(workers, "worker_bad_messages_total", topic=t) >=
                           before[t] + len(GARBAGE) for t in before), 30,
               "every garbage message counted in worker_bad_messages_total")
    # The workers keep working.
    cid = start_session(gw[1], "0,0,0")
    by_source, summary = check_session_events(read_stream(gw[0], cid).events, cid)
    assert summary["respondents"] == 3


def test_garbage_http_does_not_hurt_the_gateway(gw):
    u = urllib.parse.urlsplit(gw[0])
    for junk in (b"\x00\x01\x02\r\n\r\n", b"GET / HTTP/9.9\r\n\r\n", b"POST /aggregate/journals "
                 b"HTTP/1.1\r\nHost: x\r\nContent-Length: -5\r\n\r\n", b"A" * 70000 + b"\r\n\r\n"):
        with socket.create_connection((u.hostname, u.port), timeout=5) as s:
            try:
                s.sendall(junk)
                s.recv(4096)
            except OSError:
                pass
    for base in gw:
        assert requests.get(base + "/actuator/health/liveness", timeout=5).status_code == 200


def test_unknown_path_and_wrong_content(gw):
    r = requests.post(gw[0] + "/aggregate/journals", data=body(), timeout=10,
                      headers={"Content-Type": "application/json; charset=utf-8"})
    assert r.status_code == 202, r.text
    r = requests.get(gw[0] + "/aggregate/nope", timeout=10)
    assert r.status_code == 404
    check_error_body(r)


# A 405 names the methods the route takes (RFC 9110 15.5.6), on every component.
@pytest.mark.parametrize("where,path,method,allow", [
    ("gateway", "/aggregate/journals", "GET", "POST"),
    ("gateway", "/aggregate/callback", "PUT", "POST"),
    ("gateway", "/aggregate/stream", "TRACE", "GET"),
    ("gateway", "/actuator/health/readiness", "DELETE", "GET"),
    ("gateway", "/actuator/prometheus", "POST", "GET"),
    ("worker", "/actuator/health", "POST", "GET"),
    ("resource", "/journals", "GET", "POST")])
def test_wrong_method_is_405_with_allow(stack, where, path, method, allow):
    base = {"gateway": stack.gateway_urls[0], "worker": stack.worker_urls[0],
            "resource": stack.resource_urls[0]}[where]
    r = requests.request(method, base + path, timeout=10)
    assert r.status_code == 405, r.text
    assert r.headers.get("Allow") == allow
    check_error_body(r)


# Content types a JSON endpoint must refuse with 415 before reading the body: a browser sends a
# form or text/plain POST from any page without a CORS preflight.
NOT_JSON = [None, "text/plain", "application/x-www-form-urlencoded", "multipart/form-data",
            "application/jsonp", "text/json", "application/json-seq"]


def post_with(url, content_type, data):
    headers = {} if content_type is None else {"Content-Type": content_type}
    # requests adds no Content-Type to bytes data of its own accord.
    return requests.post(url, data=data.encode(), headers=headers, timeout=10)


@pytest.mark.parametrize("content_type", NOT_JSON)
def test_a_json_endpoint_refuses_other_content_types(stack, gw, content_type):
    cid = start_session(gw[0], "5000,5000,5000")
    callback = json.dumps(make_callback(cid, "resource-1"))
    direct = json.dumps({"patientId": "p-415", "delay": 0})
    journals = json.dumps({"correlationId": cid, "patientId": "patient-123", "delay": 0,
                           "callbackUrl": gw[0] + "/aggregate/callback"})
    for url, data in ((gw[0] + "/aggregate/journals", body()),
                      (gw[0] + "/aggregate/callback", callback),
                      (stack.resource_url(0) + "/journals/direct", direct),
                      (stack.resource_url(0) + "/journals", journals)):
        r = post_with(url, content_type, data)
        assert r.status_code == 415, (url, content_type, r.status_code, r.text)
        check_error_body(r)
        assert r.json()["error"] == "unsupported_media_type"
    # The same bodies as JSON are taken (parameters and case do not matter).
    r = post_with(gw[0] + "/aggregate/journals", "Application/JSON; charset=utf-8", body())
    assert r.status_code == 202, r.text
    r = post_with(stack.resource_url(0) + "/journals/direct", "application/json", direct)
    assert r.status_code == 200, r.text


def first_status_line(base, header_bytes):
    """The status line answering a GET whose one header is header_bytes long (raw socket:
    clients refuse to send such headers)."""
    host, port = base.split("//", 1)[1].rsplit(":", 1)
    with socket.create_connection((host, int(port)), timeout=10) as s:
        s.sendall(b"GET /actuator/health/liveness HTTP/1.1\r\nHost: x\r\nX-Big: " +
                  b"a" * header_bytes + b"\r\n\r\n")
        return s.recv(200).split(b"\r\n", 1)[0].decode()


def test_headers_over_the_limit_get_431_not_a_reset(stack, gw, workers):
    # The gateway's connection memory (CONNECTION_MEMORY_LIMIT_BYTES, 8 KiB) holds the headers;
    # the others keep libmicrohttpd's default (32 KiB).
    for base, small, big in ((gw[0], 2000, 9000), (stack.resource_url(0), 2000, 70000),
                             (workers[0], 2000, 70000)):
        assert first_status_line(base, small) == "HTTP/1.1 200 OK", base
        assert first_status_line(base, big) == "HTTP/1.1 431 Request Header Fields Too Large", base
