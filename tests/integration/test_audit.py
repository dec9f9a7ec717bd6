"""The audit trail: every session leaves exactly one "requested" and one "completed" record on
the audit topic (key correlationId), valid against schemas/kafka/audit.schema.json, naming the
principal, the patient and each source's status; the patient id never appears in clear in any
process's log; and records read by a relay that died are published by another."""

import json
import os
import secrets
import signal
import time

import jwt as pyjwt
import pytest
import requests

import aggtest
from privateproc import PrivateGateway

KINDS = ("gateway", "worker", "resource")


class AuditReader(aggtest.KafkaTap):
    """The audit topic from its beginning (aggtest.KafkaTap), records by correlationId."""

    def __init__(self, brokers):
        super().__init__(brokers, topics=(aggtest.TOPIC_AUDIT,))

    def of(self, cid):
        """cid's records so far: key, value (the record, parsed) and headers."""
        return [{"key": m["key"].decode(), "value": json.loads(m["value"]), "headers": m["headers"]}
                for m in self.snapshot() if m["key"] and m["key"].decode() == cid]

    def wait_for(self, cid, types, timeout=30):
        """Waits until cid has a record of every type in types; returns cid's records."""
        return aggtest.wait_until(
            lambda: (lambda ms: ms if set(types) <= {m["value"]["type"] for m in ms} else None)(
                self.of(cid)), timeout, "audit records %s of %s" % (types, cid))


@pytest.fixture(scope="module")
def audit(stack):
    r = AuditReader(stack.kafka_brokers)
    yield r
    r.stop()


def check_records(records, cid, patient, sources, statuses, completed_by, principal="anonymous"):
    """Exactly one requested and one completed record for cid (a consumer de-duplicates by
    (correlationId, type): the relay may publish a record twice after a crash, never with other
    content), each valid, with the principal, the patient and every source's status."""
    by_type = {}
    for m in records:
        v = m["value"]
        aggtest.schemas().check_kafka(aggtest.TOPIC_AUDIT, v)
        assert m["key"] == cid == v["correlationId"]
        prev = by_type.setdefault(v["type"], v)
        assert prev == v, "two different %s records for %s: %r %r" % (v["type"], cid, prev, v)
    assert set(by_type) == {"requested", "completed"}, records
    req, done = by_type["requested"], by_type["completed"]
    for v in (req, done):
        assert v["principal"] == principal  # "anonymous" under AUTH_MODE=none
        assert v["patientId"] == patient
        assert v["strategy"] == "SSE"
    assert req["sources"] == list(sources)
    assert done["requestedAt"] == req["requestedAt"] <= done["completedAt"]
    assert done["completedBy"] == completed_by
    assert done["sources"] == [{"source": s, "status": st} for s, st in zip(sources, statuses)]
    assert done["respondents"] == sum(1 for st in statuses if st == "ok")
    assert done["errors"] == sum(1 for st in statuses if st in aggtest.ERROR_STATUSES)
    return req, done


def test_checker_refuses_wrong_records():
    """check_records and the schema fail on a missing, duplicated-and-different or wrong record."""
    cid = "3f2b8c1d-5e6a-4b7c-9d8e-0f1a2b3c4d5e"
    req = {"type": "requested", "correlationId": cid, "principal": "anonymous",
           "patientId": "p", "strategy": "SSE", "sources": ["a"], "requestedAt": 1}
    done = {"type": "completed", "correlationId": cid, "principal": "anonymous",
            "patientId": "p", "strategy": "SSE", "requestedAt": 1, "completedAt": 2,
            "completedBy": "ALL_RESPONDED", "respondents": 1, "errors": 0,
            "sources": [{"source": "a", "status": "ok"}]}
    good = [{"key": cid, "value": req}, {"key": cid, "value": done}]
    check_records(good + [good[0]], cid, "p", ["a"], ["ok"], "ALL_RESPONDED")
    bad = [
        [good[0]],                                                    # no completed record
        good + [{"key": cid, "value": dict(done, errors=1)}],         # a different duplicate
        [good[0], {"key": cid, "value": dict(done, sources=[])}],    # a source missing
        [good[0], {"key": cid, "value": dict(done, principal="")}],  # schema: empty principal
        [{"key": cid, "value": dict(req, completedBy="TIMEOUT")}, good[1]],  # schema: a field
        [{"key": cid, "value": dict(req, patientId="q")}, good[1]],  # another patient
        [{"key": cid, "value": dict(req, principal="eve")}, good[1]],  # another principal
    ]
    for records in bad:
        with pytest.raises(AssertionError):
            check_records(records, cid, "p", ["a"], ["ok"], "ALL_RESPONDED")


def test_the_principal_is_the_tokens_subject(stack, audit):
    """Under AUTH_MODE=jwt (a private gateway) both records name the token's sub."""
    secret = "audit-test-only-hs256-secret-0123456789"
    g = PrivateGateway(stack, {"AUTH_MODE": "jwt", "JWT_SECRET": secret,
                               "JWT_ISSUER": "https://idp.test", "JWT_AUDIENCE": "aggregator"})
    try:
        now = int(time.time())
        sub = "dr-audit-%s" % secrets.token_hex(3)
        token = pyjwt.encode({"iss": "https://idp.test", "aud": "aggregator", "sub": sub,
                              "iat": now, "exp": now + 300}, secret, algorithm="HS256")
        patient = "audit-jwt-%s" % secrets.token_hex(4)
        r = requests.post(g.url + "/aggregate/journals", timeout=10,
                          headers={"Content-Type": "application/json",
                                   "Authorization": "Bearer " + token},
                          data=json.dumps({"patientId": patient, "delays": [0, 0, 0],
                                           "timeoutMs": 10000, "strategy": "SSE"}))
        assert r.status_code == 202, r.text
        cid = r.json()["correlationId"]
        records = audit.wait_for(cid, ("requested", "completed"))
        check_records(records, cid, patient, aggtest.SOURCES, ["ok"] * 3, "ALL_RESPONDED",
                      principal=sub)
    finally:
        g.stop()


def component_logs(stack):
    logs = {}
    for p in stack.procs.values():
        if p.kind in KINDS:
            with open(p.log_path, errors="replace") as f:
                logs[p.name] = f.read()
    return logs


def test_every_session_leaves_its_audit_records(stack, gw, workers, audit):
    """All answered, one source timed out, one refused (401): the records of each are on the
    topic, and no process's log holds these patients' ids in clear."""
    tag = secrets.token_hex(4)
    cases = [
        ("answered", [0, 0, 0], 10000, ["ok", "ok", "ok"], "ALL_RESPONDED"),
        ("timeout", [0, -4, 0], 2000, ["ok", "TIMEOUT", "ok"], "TIMEOUT"),
        ("refused", [-1, 0, -1], 10000, ["REJECTED", "ok", "REJECTED"], "ALL_RESPONDED"),
    ]
    sessions = []
    for name, delays, timeout_ms, statuses, completed_by in cases:
        patient = "audit-%s-%s" % (name, tag)
        cid = aggtest.start_session(gw[0], delays, timeout_ms=timeout_ms, patient=patient)
        sessions.append((cid, patient, statuses, completed_by))
    for cid, patient, statuses, completed_by in sessions:
        s = aggtest.read_stream(gw[1], cid, timeout=30)
        assert s.status == 200 and s.events[-1].event == "summary", s.status
        records = audit.wait_for(cid, ("requested", "completed"))
        req, done = check_records(records, cid, patient, aggtest.SOURCES, statuses, completed_by)
        # The session's trace continues on the record (header traceparent of its trace).
        tp = records[0]["headers"].get("traceparent", "")
        assert tp.split("-")[1] == req["traceId"] == done["traceId"], (tp, req)
    # Nothing of these sessions is left in their outbox once published.
    def published():
        return all(not any(cid in e for e in _outbox(stack, cid)) for cid, _, _, _ in sessions)
    aggtest.wait_until(published, 20, "the outbox entries of the sessions to be deleted")
    logs = component_logs(stack)
    for cid, patient, _, _ in sessions:
        for name, text in logs.items():
            assert patient not in text, "%s logs patient id %s in clear" % (name, patient)
    assert aggtest.metric_sum(workers, "audit_records_published_total") >= 2 * len(sessions)


def _outbox(stack, cid):
    """The entries of cid's bucket outbox as text (one string per entry)."""
    entries = aggtest.Redis(stack.redis_url).cmd("XRANGE", aggtest.audit_key(cid), "-", "+") or []
    return [json.dumps(e, default=lambda b: b.decode(errors="replace")) for e in entries]


@pytest.mark.destructive
def test_records_of_a_dead_relay_are_published_by_another(stack, gw, audit):
    """A relay that read records and died before Kafka confirmed them (its entries pending in
    the group) loses none: a live worker claims them after AUDIT_CLAIM_IDLE_MS and publishes
    them. The dead relay is played by this test: with both workers stopped, it reads the new
    session's requested record into a consumer of its own and never acknowledges it. Then a
    worker is killed with SIGKILL in the middle of sessions, and every record still arrives."""
    workers = ["worker-0", "worker-1"]
    stack.restart("worker-1", env={"AUDIT_CLAIM_IDLE_MS": "3000"})
    r = aggtest.Redis(stack.redis_url)
    try:
        patient = "audit-dead-%s" % secrets.token_hex(4)
        for w in workers:
            stack.pause(w)
        try:
            cid = aggtest.start_session(gw[0], [0, 0, 0], timeout_ms=10000, patient=patient)
            key = aggtest.audit_key(cid)
            got = r.cmd("XREADGROUP", "GROUP", "agg-audit", "dead-relay", "COUNT", "1000",
                        "STREAMS", key, ">")
        finally:
            for w in workers:
                stack.kill(w, signal.SIGCONT)
        taken = json.dumps(got, default=lambda b: b.decode(errors="replace"))
        assert cid in taken, "the test's consumer did not take the requested record: %s" % taken
        s = aggtest.read_stream(gw[1], cid, timeout=30)
        assert s.status == 200 and s.events[-1].event == "summary", s.status
        records = audit.wait_for(cid, ("requested", "completed"), timeout=40)
        check_records(records, cid, patient, aggtest.SOURCES, ["ok"] * 3, "ALL_RESPONDED")
        aggtest.wait_until(lambda: not any(cid in e for e in _outbox(stack, cid)), 20,
                           "the claimed record to be acknowledged and deleted")

        # A real kill -9 with sessions in flight.
        tag = secrets.token_hex(4)
        cids = []
        for i in range(12):
            cids.append((aggtest.start_session(gw[i % 2], [0, 0, 0], timeout_ms=15000,
                                               patient="audit-kill-%s-%d" % (tag, i)),
                         "audit-kill-%s-%d" % (tag, i)))
            if i == 3:
                stack.kill("worker-0", signal.SIGKILL)
        for c, p in cids:
            records = audit.wait_for(c, ("requested", "completed"), timeout=60)
            req = [m for m in records if m["value"]["type"] == "requested"][0]["value"]
            assert req["patientId"] == p
            for m in records:
                aggtest.schemas().check_kafka(aggtest.TOPIC_AUDIT, m["value"])
    finally:
        stack.restart("worker-0")
        stack.restart("worker-1", env={"AUDIT_CLAIM_IDLE_MS": None})
