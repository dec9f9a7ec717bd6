"""aggtest: helpers of the integration tests: HTTP calls checked against schemas/, an SSE
client with deadlines, a Kafka tap and injector, a tiny Redis client, metrics and polling."""

import base64
import hashlib
import hmac
import http.client
import json
import os
import socket
import ssl
import threading
import uuid
import time
import urllib.parse

import requests
import yaml
from jsonschema import Draft202012Validator, FormatChecker
from referencing import Registry
from referencing.jsonschema import DRAFT202012

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SCHEMAS = os.environ.get("AGG_SCHEMAS_DIR") or os.path.join(REPO, "schemas")
SOURCES = ("resource-1", "resource-2", "resource-3")
TOPIC_REQUESTS = "agg.requests"
TOPIC_CALLBACKS = "agg.callbacks"
TOPIC_AUDIT = "agg.audit"
NOTES_PER_RESPONSE = 3
TIMEOUT_MAX_MS = 27000
TIMEOUT_DEFAULT_MS = 10000
ERROR_STATUSES = ("TIMEOUT", "CONNECTION_CLOSED", "ERROR")
OPENAPI_ID = "https://aggregator.local/schemas/openapi.json"


# ---- polling ---------------------------------------------------------------

def is_ready(base, timeout=2):
    """True when the service at base answers 200 to its readiness probe (False when it does
    not answer, or answers 503)."""
    try:
        return requests.get(base + "/actuator/health/readiness", timeout=timeout).status_code == 200
    except requests.RequestException:
        return False


def wait_until(cond, timeout, what, interval=0.05):
    """Polls cond() until it returns a truthy value (returned) or timeout seconds pass
    (AssertionError naming what)."""
    end = time.monotonic() + timeout
    last = None
    while True:
        last = cond()
        if last:
            return last
        if time.monotonic() > end:
            raise AssertionError("timed out after %.1f s waiting for %s (last: %r)"
                                 % (timeout, what, last))
        time.sleep(interval)


# ---- schemas ---------------------------------------------------------------

def _openapi_to_2020(node):
    """OpenAPI 3.0 schema objects -> JSON Schema 2020-12 (nullable -> type arrays)."""
    if isinstance(node, list):
        return [_openapi_to_2020(x) for x in node]
    if not isinstance(node, dict):
        return node
    out = {k: _openapi_to_2020(v) for k, v in node.items()
           if k not in ("nullable", "example", "examples")}
    if node.get("nullable") is True:
        t = out.get("type")
        if isinstance(t, str):
            out["type"] = [t, "null"]
        if "enum" in out and None not in out["enum"]:
            out["enum"] = out["enum"] + [None]
    return out


class Schemas:
    """Validators for every schema in schemas/: JSON Schema files by path, OpenAPI component
    schemas by name."""

    def __init__(self, root=SCHEMAS):
        resources = []
        self.files = {}
        for sub in ("note.schema.json", "kafka/request.schema.json", "kafka/callback.schema.json",
                    "kafka/audit.schema.json",
                    "sse/callback-event.schema.json", "sse/summary-event.schema.json",
                    "sse/aborted-event.schema.json", "actuator/metrics-names.schema.json",
                    "actuator/metric.schema.json", "actuator/info.schema.json",
                    "actuator/configprops.schema.json"):
            with open(os.path.join(root, sub)) as f:
                doc = json.load(f)
            self.files[sub] = doc
            resources.append((doc["$id"], DRAFT202012.create_resource(doc)))
        self.openapi = {}
        for name, ident in (("openapi.yaml", OPENAPI_ID),
                            ("resource-sim.openapi.yaml",
                             "https://aggregator.local/schemas/resource-sim.openapi.json"),
                            ("web-server.openapi.yaml",
                             "https://aggregator.local/schemas/web-server.openapi.json")):
            with open(os.path.join(root, name)) as f:
                doc = _openapi_to_2020(yaml.safe_load(f))
            self.openapi[name] = (ident, doc)
            resources.append((ident, DRAFT202012.create_resource(doc)))
        self.registry = Registry().with_resources(resources)
        self._cache = {}

    def _validator(self, key, schema):
        v = self._cache.get(key)
        if v is None:
            v = Draft202012Validator(schema, registry=self.registry,
                                     format_checker=FormatChecker())
            self._cache[key] = v
        return v

    def _check(self, v, instance, what):
        errs = sorted(v.iter_errors(instance), key=lambda e: list(e.absolute_path))
        if errs:
            msgs = "; ".join("%s at /%s" % (e.message, "/".join(map(str, e.absolute_path)))
                             for e in errs[:5])
            raise AssertionError("%s does not match its schema: %s\ninstance: %s"
                                 % (what, msgs, json.dumps(instance)[:2000]))

    def check_file(self, sub, instance):
        """Validates instance against schemas/<sub>."""
        self._check(self._validator(sub, self.files[sub]), instance, sub)

    def check_component(self, name, instance, spec="openapi.yaml"):
        """Validates instance against #/components/schemas/<name> of an OpenAPI file."""
        ident = self.openapi[spec][0]
        ref = {"$ref": "%s#/components/schemas/%s" % (ident, name)}
        self._check(self._validator((spec, name), ref), instance, "%s %s" % (spec, name))

    def check_event(self, ev):
        if ev.event == "callback":
            self.check_file("sse/callback-event.schema.json", ev.json)
        elif ev.event == "summary":
            self.check_file("sse/summary-event.schema.json", ev.json)
        elif ev.event == "aborted":
            self.check_file("sse/aborted-event.schema.json", ev.json)
        else:
            raise AssertionError("unexpected SSE event type %r (id %s)" % (ev.event, ev.id))

    def check_kafka(self, topic, value):
        sub = {TOPIC_REQUESTS: "kafka/request.schema.json",
               TOPIC_CALLBACKS: "kafka/callback.schema.json",
               TOPIC_AUDIT: "kafka/audit.schema.json"}[topic]
        self.check_file(sub, value)


SCHEMA = None


def schemas():
    global SCHEMA
    if SCHEMA is None:
        SCHEMA = Schemas()
    return SCHEMA


# ---- HTTP ------------------------------------------------------------------

def _json_of(resp):
    try:
        return resp.json()
    except ValueError:
        raise AssertionError("%s %s answered %d with a body that is not JSON: %r"
                             % (resp.request.method, resp.request.url, resp.status_code,
                                resp.content[:300]))


def check_error_body(resp):
    """A 4xx/5xx must have the JSON error body of the OpenAPI Error schema."""
    ctype = resp.headers.get("Content-Type", "")
    assert ctype.startswith("application/json"), \
        "error answer %d has Content-Type %r" % (resp.status_code, ctype)
    body = _json_of(resp)
    schemas().check_component("Error", body)
    return body


def post_journals(base, body=None, raw=None, headers=None, timeout=60):
    """POST /aggregate/journals; the answer is checked against schemas/openapi.yaml."""
    h = {"Content-Type": "application/json"}
    h.update(headers or {})
    data = raw if raw is not None else json.dumps(body)
    r = requests.post(base + "/aggregate/journals", data=data, headers=h, timeout=timeout)
    if r.status_code == 202:
        schemas().check_component("JournalAccepted", _json_of(r))
    elif r.status_code == 200:
        schemas().check_component("WaitResponse", _json_of(r))
    elif r.status_code >= 400:
        check_error_body(r)
    else:
        raise AssertionError("unexpected status %d from POST /aggregate/journals: %r"
                             % (r.status_code, r.text[:300]))
    return r


def start_session(base, delays, timeout_ms=10000, patient="patient-123", strategy="SSE"):
    """Starts an SSE session; returns its correlationId."""
    body = {"patientId": patient, "delays": delays, "strategy": strategy}
    if timeout_ms is not None:
        body["timeoutMs"] = timeout_ms
    r = post_journals(base, body)
    assert r.status_code == 202, "POST %s: %d %s" % (body, r.status_code, r.text)
    return r.json()["correlationId"]


# The key the stack's gateways and workers check callback capabilities with (conftest sets it
# from Stack.callback_signing_key).
SIGNING_KEY = None
# The capability's validity a test's own callbacks get (the worker's is the session's deadline
# plus a grace; a test's sessions end well within this).
TEST_CAP_VALIDITY_S = 600


def sign_capability(cid, source, exp=None, key=None):
    """The capability "v1.<exp>.<sig>" for (cid, source), as the worker signs it (libagg/
    capability.c): HMAC-SHA256 over "v1", cid, source and exp separated by NUL bytes, base64url
    without padding. exp: epoch seconds (default now + TEST_CAP_VALIDITY_S); key: the shared
    stack's (a stack of a test's own has its own: pass its Stack.callback_signing_key)."""
    key = key if key is not None else SIGNING_KEY
    assert key, "no signing key: aggtest.SIGNING_KEY is set by the stack fixture"
    exp = int(time.time()) + TEST_CAP_VALIDITY_S if exp is None else int(exp)
    msg = b"\0".join([b"v1", cid.encode(), source.encode(), str(exp).encode()])
    mac = hmac.new(key.encode() if isinstance(key, str) else key, msg, hashlib.sha256).digest()
    return "v1.%d.%s" % (exp, base64.urlsafe_b64encode(mac).rstrip(b"=").decode())


_SIGN = object()


def _capability_of(body, raw):
    """The capability post_callback gives a body by default: one for its correlationId and
    source when both are strings (a body that is not one gets none)."""
    if raw is not None:
        try:
            body = json.loads(raw)
        except (ValueError, UnicodeDecodeError):
            return None
    if not isinstance(body, dict) or not isinstance(body.get("correlationId"), str) or \
            not isinstance(body.get("source"), str) or SIGNING_KEY is None:
        return None
    try:
        return sign_capability(body["correlationId"], body["source"])
    except UnicodeEncodeError:
        return None


def post_callback(base, body=None, raw=None, timeout=30, cap=_SIGN):
    """POST /aggregate/callback; the answer is checked against schemas/openapi.yaml. cap: the
    query parameter cap (None: none); by default signed for the body's correlationId and source
    with SIGNING_KEY, as the worker gives it to a resource."""
    data = raw if raw is not None else json.dumps(body)
    if cap is _SIGN:
        cap = _capability_of(body, raw)
    r = requests.post(base + "/aggregate/callback", data=data,
                      params={"cap": cap} if cap is not None else None,
                      headers={"Content-Type": "application/json"}, timeout=timeout)
    if r.status_code == 202:
        schemas().check_component("StatusAccepted", _json_of(r))
    elif r.status_code >= 400:
        check_error_body(r)
    else:
        raise AssertionError("unexpected status %d from POST /aggregate/callback: %r"
                             % (r.status_code, r.text[:300]))
    return r


def make_note(patient, i=0, date="2024-05-01T10:00:00Z", source="test"):
    return {"id": "%s-note-%d" % (source, i), "date": date, "caregiverId": "cg-1",
            "patientId": patient, "doctorId": "dr-1", "note": "note %d from %s" % (i, source)}


def make_callback(cid, source, patient="patient-123", status="ok", n_notes=2, delay_ms=0):
    notes = [make_note(patient, i, "2024-05-%02dT%02d:00:00Z" % (1 + i % 28, i % 24), source)
             for i in range(n_notes)] if status == "ok" else []
    return {"source": source, "patientId": patient, "correlationId": cid, "delayMs": delay_ms,
            "status": status, "notes": notes}


def get_json(url, timeout=10):
    r = requests.get(url, timeout=timeout)
    return r, (_json_of(r) if r.headers.get("Content-Type", "").startswith("application/json")
               else None)


# ---- SSE -------------------------------------------------------------------

class SSEEvent:
    def __init__(self, id_, event, data):
        self.id = id_
        self.event = event
        self.data = data
        try:
            self.json = json.loads(data)
        except ValueError:
            raise AssertionError("SSE event %s (%s) data is not JSON: %r" % (id_, event, data))

    def __repr__(self):
        return "SSEEvent(id=%r, event=%r, data=%s)" % (self.id, self.event, self.data[:200])


class SSETimeout(AssertionError):
    pass


class SSEParser:
    """The event-stream field rules, in one place: feed() takes one line (without its end) and
    returns the SSEEvent that a blank line completes, else None."""

    def __init__(self):
        self.comments = 0
        self.retry = None
        self._reset()

    def _reset(self):
        self._id, self._type, self._data = None, None, []

    def feed(self, line):
        if line == "":
            ev = None
            if self._data:
                # Only "aborted" is not in the session's log, so it alone has no id.
                assert self._id is not None or self._type == "aborted", \
                    "SSE event without id: %r" % self._data
                ev = SSEEvent(int(self._id) if self._id is not None else None,
                              self._type or "message", "\n".join(self._data))
            self._reset()
            return ev
        if line.startswith(":"):
            self.comments += 1
            return None
        field, _, value = line.partition(":")
        value = value[1:] if value.startswith(" ") else value
        if field == "id":
            self._id = value
        elif field == "event":
            self._type = value
        elif field == "data":
            self._data.append(value)
        elif field == "retry" and value.isdigit():
            self.retry = int(value)
        return None


class SSEStream:
    """GET /aggregate/stream as a small SSE client: next_event() with a deadline, close()."""

    def __init__(self, base, cid=None, last_event_id=None, query_last_id=None, params=None,
                 timeout=30.0, headers=None):
        u = urllib.parse.urlsplit(base)
        q = {}
        if cid is not None:
            q["correlationId"] = cid
        if query_last_id is not None:
            q["lastEventId"] = str(query_last_id)
        q.update(params or {})
        self.path = "/aggregate/stream" + ("?" + urllib.parse.urlencode(q) if q else "")
        headers = dict({"Accept": "text/event-stream", "Cache-Control": "no-cache"},
                       **(headers or {}))
        if last_event_id is not None:
            headers["Last-Event-ID"] = str(last_event_id)
        if u.scheme == "https":  # trusting what requests trusts (REQUESTS_CA_BUNDLE)
            ctx = ssl.create_default_context(cafile=os.environ.get("REQUESTS_CA_BUNDLE"))
            self.conn = http.client.HTTPSConnection(u.hostname, u.port, timeout=timeout,
                                                    context=ctx)
        else:
            self.conn = http.client.HTTPConnection(u.hostname, u.port, timeout=timeout)
        self.conn.connect()
        self.sock = self.conn.sock
        self.conn.request("GET", self.path, headers=headers)
        self.resp = self.conn.getresponse()
        self.status = self.resp.status
        self.headers = self.resp.headers
        self.events = []
        self.parser = SSEParser()
        self.closed = False
        self.body = None
        self.json = None
        if self.status != 200:
            self.body = self.resp.read()
            self.closed = True
            ctype = self.headers.get("Content-Type", "")
            if self.status >= 400:
                assert ctype.startswith("application/json"), \
                    "stream error %d has Content-Type %r" % (self.status, ctype)
                self.json = json.loads(self.body)
                schemas().check_component("Error", self.json)
            self.close()
        else:
            ctype = self.headers.get("Content-Type", "")
            assert ctype.startswith("text/event-stream"), "stream Content-Type %r" % ctype

    def next_event(self, deadline):
        """The next event, or None when the server closed the stream. deadline is a
        time.monotonic() value; SSETimeout when it passes first."""
        if self.closed:
            return None
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise SSETimeout("no SSE event before the deadline on %s (got %r)"
                                 % (self.path, self.events))
            self.sock.settimeout(remaining)
            try:
                line = self.resp.readline()
            except (socket.timeout, TimeoutError):
                raise SSETimeout("no SSE event before the deadline on %s (got %r)"
                                 % (self.path, self.events))
            except (http.client.IncompleteRead, ConnectionError) as e:
                raise AssertionError("stream %s broke: %r (got %r)" % (self.path, e, self.events))
            if not line:
                self.closed = True
                return None
            ev = self.parser.feed(line.decode("utf-8").rstrip("\n").rstrip("\r"))
            if ev is not None:
                self.events.append(ev)
                return ev

    @property
    def comments(self):
        return self.parser.comments

    @property
    def retry(self):
        """The last retry: hint (ms), as an EventSource keeps it; None before one."""
        return self.parser.retry

    def read_events(self, n, timeout):
        """Reads n more events (AssertionError when the stream ends first)."""
        deadline = time.monotonic() + timeout
        got = []
        for _ in range(n):
            ev = self.next_event(deadline)
            assert ev is not None, "stream closed after %r, wanted %d events" % (got, n)
            got.append(ev)
        return got

    def read_all(self, timeout):
        """Reads until the server closes the stream; returns every event received."""
        deadline = time.monotonic() + timeout
        while self.next_event(deadline) is not None:
            pass
        self.close()
        return self.events

    def close(self):
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        try:
            self.resp.close()
        except Exception:
            pass
        self.conn.close()


def read_stream(base, cid, timeout=30.0, **kw):
    """Opens a stream, reads it to the end; returns the SSEStream (status, events)."""
    s = SSEStream(base, cid, timeout=timeout, **kw)
    if s.status == 200:
        s.read_all(timeout)
    return s


def parse_sse_bytes(raw):
    """The complete events (SSEEvent) in raw bytes of an event stream, without the HTTP
    head; a frame cut off at the end is left out."""
    _, sep, body = raw.partition(b"\r\n\r\n")
    text = (body if sep else raw).decode("utf-8", "replace")
    parser, out = SSEParser(), []
    for frame in text.split("\n\n")[:-1]:
        for line in frame.split("\n") + [""]:
            ev = parser.feed(line.rstrip("\r"))
            if ev is not None:
                out.append(ev)
    return out


def check_session_events(events, cid, patient=None, first_id=1, complete=True):
    """Asserts the event sequence of one session: every data matches its schema, ids are
    consecutive from first_id, callbacks name distinct sources, one summary, last, whose
    counts agree with the callbacks. Returns (callbacks by source, summary or None)."""
    s = schemas()
    ids = [e.id for e in events]
    assert ids == list(range(first_id, first_id + len(events))), "event ids %r" % ids
    by_source = {}
    summary = None
    for e in events:
        s.check_event(e)
        assert e.json["correlationId"] == cid, "event of another session: %r" % e
        if e.event == "callback":
            assert summary is None, "callback after the summary: %r" % events
            src = e.json["source"]
            assert src not in by_source, "source %s twice: %r" % (src, events)
            by_source[src] = e.json
            if patient is not None:
                assert e.json["patientId"] == patient
        else:
            assert summary is None, "two summaries: %r" % events
            summary = e.json
    if complete:
        assert summary is not None, "no summary: %r" % events
        assert events[-1].event == "summary"
    if summary is not None and first_id == 1:
        statuses = [c["status"] for c in by_source.values()]
        assert summary["respondents"] == statuses.count("ok"), (summary, statuses)
        assert summary["errors"] == sum(statuses.count(x) for x in ERROR_STATUSES), \
            (summary, statuses)
        assert (summary["completedBy"] == "TIMEOUT") == ("TIMEOUT" in statuses), \
            (summary, statuses)
    return by_source, summary


# ---- Redis -----------------------------------------------------------------

class Redis:
    """A minimal RESP client, enough for the tests' reads."""

    def __init__(self, url):
        u = urllib.parse.urlsplit(url)
        self.addr = (u.hostname or "127.0.0.1", u.port or 6379)
        self._lock = threading.Lock()
        self._sock = None
        self._buf = b""

    def _connect(self):
        self._sock = socket.create_connection(self.addr, timeout=5)
        self._buf = b""

    def _line(self):
        while b"\r\n" not in self._buf:
            chunk = self._sock.recv(65536)
            if not chunk:
                raise ConnectionError("redis closed the connection")
            self._buf += chunk
        line, self._buf = self._buf.split(b"\r\n", 1)
        return line

    def _exact(self, n):
        while len(self._buf) < n + 2:
            chunk = self._sock.recv(65536)
            if not chunk:
                raise ConnectionError("redis closed the connection")
            self._buf += chunk
        data, self._buf = self._buf[:n], self._buf[n + 2:]
        return data

    def _reply(self):
        line = self._line()
        t, rest = line[:1], line[1:]
        if t == b"+":
            return rest.decode()
        if t == b"-":
            raise RuntimeError("redis: " + rest.decode())
        if t == b":":
            return int(rest)
        if t == b"$":
            n = int(rest)
            return None if n < 0 else self._exact(n).decode("utf-8", "replace")
        if t == b"*":
            n = int(rest)
            return None if n < 0 else [self._reply() for _ in range(n)]
        raise RuntimeError("redis: unexpected reply %r" % line)

    def cmd(self, *args):
        parts = [b"*%d\r\n" % len(args)]
        for a in args:
            b = a if isinstance(a, bytes) else str(a).encode()
            parts.append(b"$%d\r\n%s\r\n" % (len(b), b))
        with self._lock:
            if self._sock is None:
                self._connect()
            try:
                self._sock.sendall(b"".join(parts))
                return self._reply()
            except (OSError, ConnectionError):
                self._sock = None
                raise

    def hgetall(self, key):
        flat = self.cmd("HGETALL", key) or []
        return dict(zip(flat[0::2], flat[1::2]))

    def session_log(self, cid):
        """[(seq, event, data json)] of the session's log."""
        out = []
        for entry_id, fields in self.cmd("XRANGE", session_key(cid, "log"), "-", "+") or []:
            f = dict(zip(fields[0::2], fields[1::2]))
            out.append((int(entry_id.split("-")[1]), f.get("e"), json.loads(f.get("d", "null"))))
        return out


# The key layout of docs/architecture.md ("Redis"), written down again on purpose: these tests
# check that the services use it, so they must not borrow it from libagg/session.c.
SESSION_BUCKETS = 16


def session_bucket(cid):
    return int(cid[:2], 16) % SESSION_BUCKETS


def session_key(cid, part):
    """agg:{bNN}:<cid>:<part> for part in meta, out, log, ev (the channel)."""
    return "agg:{b%02d}:%s:%s" % (session_bucket(cid), cid, part)


def audit_key(cid):
    """The audit outbox of cid's bucket (libagg/session.h)."""
    return "agg:{b%02d}:audit" % session_bucket(cid)


def deadlines_key(cid):
    """The deadline index of the session's bucket."""
    return "agg:{b%02d}:deadlines" % session_bucket(cid)


def session_done(redis, cid):
    return redis.cmd("HGET", session_key(cid, "meta"), "state") == "done"


# ---- metrics ---------------------------------------------------------------

def metrics(base, timeout=10, headers=None):
    """Prometheus text of base/actuator/prometheus as {(name, frozenset(labels)): value}.
    headers: e.g. an admin's Authorization under AUTH_MODE=jwt."""
    r = requests.get(base + "/actuator/prometheus", timeout=timeout, headers=headers)
    assert r.status_code == 200, "GET %s/actuator/prometheus: %d" % (base, r.status_code)
    out = {}
    for line in r.text.splitlines():
        if not line or line.startswith("#"):
            continue
        try:
            head, value = line.rsplit(" ", 1)
            val = float(value)
        except ValueError:
            raise AssertionError("bad Prometheus line %r" % line)
        name, labels = head, frozenset()
        if "{" in head:
            name, _, rest = head.partition("{")
            pairs = []
            for part in rest.rstrip("}").split(","):
                if part:
                    k, _, v = part.partition("=")
                    pairs.append((k.strip(), v.strip().strip('"')))
            labels = frozenset(pairs)
        out[(name, labels)] = val
    return out


def metric(base, name, headers=None, **labels):
    """The sum of the samples of metric name whose labels include the ones given
    (None when it has no sample)."""
    want = set(labels.items())
    vals = [v for (n, ls), v in metrics(base, headers=headers).items()
            if n == name and want <= set(ls)]
    return sum(vals) if vals else None


def metric_sum(bases, name, **labels):
    total = 0.0
    for b in bases:
        v = metric(b, name, **labels)
        total += v or 0.0
    return total


# ---- Kafka -----------------------------------------------------------------

INJECTED = set()   # values the tests produced on purpose (not checked against the schemas)
_INJECTED_LOCK = threading.Lock()


class KafkaTap:
    """Reads topics (the requests and callbacks topics unless told) from the beginning in a
    background thread and keeps every message (headers: a dict of its headers' values as
    text)."""

    def __init__(self, brokers, topics=None):
        from confluent_kafka import Consumer, TopicPartition
        self.brokers = brokers
        self.topics = tuple(topics or (TOPIC_REQUESTS, TOPIC_CALLBACKS))
        self.messages = []   # dicts topic, partition, offset, key, value
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._c = Consumer({"bootstrap.servers": brokers,
                            "group.id": "itest-tap-%d-%s" % (os.getpid(), uuid.uuid4().hex[:8]),
                            "enable.auto.commit": False, "auto.offset.reset": "earliest",
                            "enable.partition.eof": False})
        md = self._c.list_topics(timeout=15)
        tps = []
        for t in self.topics:
            assert t in md.topics, "topic %s missing" % t
            for p in md.topics[t].partitions:
                tps.append(TopicPartition(t, p, -2))  # OFFSET_BEGINNING
        self._c.assign(tps)
        self._t = threading.Thread(target=self._run, name="kafka-tap", daemon=True)
        self._t.start()

    def _run(self):
        while not self._stop.is_set():
            m = self._c.poll(0.2)
            if m is None or m.error():
                continue
            with self._lock:
                self.messages.append({"topic": m.topic(), "partition": m.partition(),
                                      "offset": m.offset(), "key": m.key(), "value": m.value(),
                                      "headers": {k: (v or b"").decode("utf-8", "replace")
                                                  for k, v in (m.headers() or [])}})
        self._c.close()

    def caught_up(self, timeout=20):
        """Waits until the tap holds every message written so far to its topics."""
        from confluent_kafka import Consumer, TopicPartition
        c = Consumer({"bootstrap.servers": self.brokers, "group.id": "itest-wm-%d" % os.getpid(),
                      "enable.auto.commit": False})
        try:
            md = c.list_topics(timeout=15)
            highs = {}
            for t in self.topics:
                for p in md.topics[t].partitions:
                    _, high = c.get_watermark_offsets(TopicPartition(t, p), timeout=10)
                    highs[(t, p)] = high
        finally:
            c.close()

        def done():
            seen = {}
            for m in self.snapshot():
                k = (m["topic"], m["partition"])
                seen[k] = max(seen.get(k, -1), m["offset"])
            return all(seen.get(k, -1) >= h - 1 for k, h in highs.items() if h > 0)
        wait_until(done, timeout, "the Kafka tap to catch up")

    def stop(self):
        self._stop.set()
        self._t.join(10)

    def snapshot(self, topic=None):
        with self._lock:
            return [m for m in self.messages if topic is None or m["topic"] == topic]

    def for_session(self, topic, cid):
        out = []
        for m in self.snapshot(topic):
            if m["key"] == cid.encode():
                out.append(m)
        return out

    def wait_for(self, topic, cid, n=1, timeout=20):
        return wait_until(lambda: (lambda ms: ms if len(ms) >= n else None)(
            self.for_session(topic, cid)), timeout, "%d %s message(s) for %s" % (n, topic, cid))


def produce(brokers, topic, value, key=None, capability=None):
    """Produces raw messages straight to Kafka (acks=all, flushed). value: bytes or list.
    capability: the header capability of each (as the gateway passes a callback's), or None."""
    from confluent_kafka import Producer
    p = Producer({"bootstrap.servers": brokers, "acks": "all"})
    values = value if isinstance(value, list) else [value]
    for v in values:
        with _INJECTED_LOCK:
            INJECTED.add(v)
        p.produce(topic, value=v, key=key,
                  headers=[("capability", capability)] if capability is not None else None)
    left = p.flush(15)
    assert left == 0, "%d messages not delivered to %s" % (left, topic)
