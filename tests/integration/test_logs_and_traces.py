"""Structured logs and W3C trace context through the whole stack: every log line of every
component is one JSON object with the required keys, patient ids appear only as their keyed
hash, and one session's trace id is in the gateway's, the worker's and each resource's lines
and in every SSE event of the session."""

import hashlib
import hmac
import json
import os
import re
import secrets
import sys

import pytest
import requests

import aggtest

sys.path.insert(0, os.path.join(aggtest.REPO, "demo"))
import stack as stackmod  # noqa: E402

LEVELS = {"DEBUG", "INFO", "WARN", "ERROR"}
TRACEPARENT = re.compile(r"^00-([0-9a-f]{32})-([0-9a-f]{16})-[0-9a-f]{2}$")
KINDS = ("gateway", "worker", "resource")


def check_log_lines(name, lines):
    """Asserts that every line is one JSON object with ts, level, component, msg and a fields
    object (and well-formed correlationId/traceId/spanId when present); returns the objects."""
    out = []
    for i, line in enumerate(lines):
        try:
            o = json.loads(line)
        except ValueError as e:
            raise AssertionError("%s line %d is not JSON (%s): %r" % (name, i + 1, e, line[:300]))
        assert isinstance(o, dict), "%s line %d is not an object: %r" % (name, i + 1, line[:300])
        for k in ("ts", "level", "component", "msg"):
            assert isinstance(o.get(k), str), "%s line %d has no %s: %r" % (name, i + 1, k, o)
        assert o["level"] in LEVELS, "%s line %d: level %r" % (name, i + 1, o["level"])
        assert isinstance(o.get("fields"), dict), "%s line %d: fields %r" % (name, i + 1, o)
        if "traceId" in o:
            assert re.fullmatch(r"[0-9a-f]{32}", o["traceId"]), (name, i + 1, o)
        if "spanId" in o:
            assert re.fullmatch(r"[0-9a-f]{16}", o["spanId"]), (name, i + 1, o)
        out.append(o)
    return out


def patient_hash(patient):
    key = os.environ.get("LOG_PATIENT_KEY", stackmod.DEMO_PATIENT_KEY).encode()
    return "p-" + hmac.new(key, patient.encode(), hashlib.sha256).hexdigest()[:16]


def component_logs(stack):
    """{process name: its log's lines} of every gateway, worker and resource."""
    logs = {}
    for p in stack.procs.values():
        if p.kind in KINDS:
            with open(p.log_path, errors="replace") as f:
                logs[p.name] = f.read().splitlines()
    return logs


def test_checker_rejects_what_is_not_a_log_line():
    good = '{"ts":"t","level":"INFO","component":"c","msg":"m","fields":{}}'
    assert len(check_log_lines("ok", [good])) == 1
    for bad in ("not json", "2026-01-01 INFO gateway: text", '["a"]',
                '{"ts":"t","level":"info","component":"c","msg":"m","fields":{}}',
                '{"ts":"t","level":"INFO","component":"c","msg":"m"}',
                '{"ts":"t","level":"INFO","component":"c","msg":"m","fields":{},"traceId":"X"}'):
        with pytest.raises(AssertionError):
            check_log_lines("bad", [good, bad])


@pytest.fixture(scope="module")
def traced(stack, gw):
    """One session started with a known traceparent, read to its summary."""
    if os.environ.get("LOG_FORMAT", "json") != "json":
        pytest.skip("the stack logs in LOG_FORMAT=%s" % os.environ["LOG_FORMAT"])
    trace_id = secrets.token_hex(16)
    parent = "00-%s-%s-01" % (trace_id, secrets.token_hex(8))
    patient = "trace-patient-%s" % secrets.token_hex(4)
    r = aggtest.post_journals(gw[0], {"patientId": patient, "delays": "0,0,0",
                                      "strategy": "SSE", "timeoutMs": 10000},
                              headers={"traceparent": parent})
    assert r.status_code == 202, r.text
    cid = r.json()["correlationId"]
    events = aggtest.read_stream(gw[1], cid, timeout=30).events
    aggtest.check_session_events(events, cid, patient=patient)
    return {"trace_id": trace_id, "parent": parent, "patient": patient, "cid": cid,
            "response": r, "events": events}


def test_traceparent_answered_and_in_every_event(traced):
    m = TRACEPARENT.match(traced["response"].headers.get("traceparent", ""))
    assert m, "no valid traceparent header: %r" % dict(traced["response"].headers)
    assert m.group(1) == traced["trace_id"]
    assert m.group(2) != traced["parent"].split("-")[2], "the gateway's span is a new one"
    assert len(traced["events"]) == 4
    for e in traced["events"]:
        assert e.json.get("traceId") == traced["trace_id"], e


@pytest.mark.parametrize("header", [None, "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
                                    "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
                                    "garbage"])
def test_missing_or_bad_traceparent_gets_a_new_trace(gw, header):
    headers = {"traceparent": header} if header else {}
    r = aggtest.post_journals(gw[0], {"patientId": "p-new-trace", "delays": "0",
                                      "strategy": "SSE"}, headers=headers)
    assert r.status_code == 202, r.text
    m = TRACEPARENT.match(r.headers.get("traceparent", ""))
    assert m, r.headers
    assert header is None or m.group(1) not in header.lower()
    events = aggtest.read_stream(gw[0], r.json()["correlationId"], timeout=30).events
    assert events and all(e.json.get("traceId") == m.group(1) for e in events), events


def test_trace_followed_through_every_component(stack, traced):
    tid = traced["trace_id"]

    def lines_with_trace():
        found = {}
        for name, lines in component_logs(stack).items():
            for o in check_log_lines(name, lines):
                if o.get("traceId") == tid:
                    found.setdefault(name, []).append(o)
        return found

    resources = [p.name for p in stack.procs.values() if p.kind == "resource"]
    need = lambda f: (any(n.startswith("gateway") for n in f)  # noqa: E731
                      and any(n.startswith("worker") for n in f)
                      and all(n in f for n in resources))
    aggtest.wait_until(lambda: need(lines_with_trace()), 15,
                       "the trace id in the gateway's, a worker's and every resource's log")
    found = lines_with_trace()
    for name in resources:
        msgs = [o["msg"] for o in found[name]]
        assert any(m.startswith("Processing") for m in msgs), (name, msgs)
    worker_msgs = [o["msg"] for n, os_ in found.items() if n.startswith("worker") for o in os_]
    assert "fan-out received" in worker_msgs and "answer received" in worker_msgs, worker_msgs
    gw_lines = [o for n, os_ in found.items() if n.startswith("gateway") for o in os_]
    assert any(o["msg"] == "http request" and o["fields"].get("route") == "/aggregate/journals"
               for o in gw_lines), gw_lines
    # The session's lines, in time order, for the closing note.
    rows = sorted(((o["ts"], n, o) for n, os_ in found.items() for o in os_),
                  key=lambda r: r[0])
    text = "\n".join("%-12s %s" % (n, json.dumps(o, separators=(",", ":"))) for _, n, o in rows)
    with open(os.path.join(stack.run_dir, "trace-%s.log" % tid), "w") as f:
        f.write(text + "\n")
    print("\nsession %s, trace %s:\n%s" % (traced["cid"], tid, text))


def test_every_line_is_json_and_patients_only_hashed(stack, gw, traced):
    # A client that leaves before its WAIT_FOR_EVERYONE answer: the gateway logs "cancel".
    with pytest.raises(requests.exceptions.ReadTimeout):
        requests.post(gw[0] + "/aggregate/journals",
                      json={"patientId": traced["patient"], "delays": "3000",
                            "strategy": "WAIT_FOR_EVERYONE"}, timeout=0.5)

    def gateway_text():
        return "\n".join("\n".join(v) for k, v in component_logs(stack).items()
                         if k.startswith("gateway"))
    aggtest.wait_until(lambda: "cancel" in gateway_text(), 10, "a 'cancel' line of the gateway")
    assert "SSE stream opened" in gateway_text() and "SSE stream closed" in gateway_text()

    patient, h = traced["patient"], patient_hash(traced["patient"])
    seen_hash = set()
    for name, lines in component_logs(stack).items():
        check_log_lines(name, lines)
        for line in lines:
            assert patient not in line, "patient id in clear in %s: %s" % (name, line)
            if h in line:
                seen_hash.add(name.split("-")[0])
    assert {"gateway", "worker", "resource"} <= seen_hash, seen_hash
