"""Authentic callbacks: a callback whose capability (the cap= the worker puts in the callback URL)
is missing, forged, signed for another source or session, or expired gets 401 at the gateway and
never reaches Kafka nor the session's stream; the worker checks the capability again on what it
consumes; the previous key is accepted while keys rotate; a bad key stops a program at start."""

import json
import secrets
import time
import uuid

import pytest
import requests

from aggtest import (NOTES_PER_RESPONSE, SOURCES, TOPIC_CALLBACKS, check_error_body,
                     check_session_events, make_callback, make_note, metric_sum, post_callback,
                     produce, read_stream, sign_capability, start_session, wait_until)
from privateproc import PrivateProc, private_topics

MARK = "FORGED-%s" % uuid.uuid4().hex[:8]


def forged(cid, source, n=1):
    """A callback with notes that only this test writes (MARK in each)."""
    cb = make_callback(cid, source, n_notes=0)
    cb["notes"] = [dict(make_note(cb["patientId"], i, source=source), note="%s %d" % (MARK, i))
                   for i in range(n)]
    cb["status"] = "ok"
    return cb


def assert_refused(r, reason, cap):
    assert r.status_code == 401, (reason, r.status_code, r.text)
    body = check_error_body(r)
    assert body["error"] == "invalid_capability" and body.get("field") == "cap", body
    assert reason in body["message"], (reason, body)
    if cap:
        assert cap not in r.text and cap.rsplit(".", 1)[-1] not in r.text, "the capability echoed"


def assert_real_outcomes(st, cid):
    """The stream ran to its summary with every source's real answer (the resource-sim's notes)
    and none of the forged notes."""
    by_source, summary = check_session_events(st.events, cid)
    assert sorted(by_source) == sorted(SOURCES), st.events
    assert summary["respondents"] == len(SOURCES), summary
    for ev in st.events:
        assert MARK not in ev.data, ev
    for src, ev in by_source.items():
        assert len(ev["notes"]) == NOTES_PER_RESPONSE, (src, ev)


def rejected(gw, reason):
    return metric_sum(gw, "gateway_callbacks_rejected_total", reason=reason)


def test_forged_replayed_and_expired_callbacks_get_401_and_never_reach_the_stream(
        gw, kafka_tap):
    cid = start_session(gw[0], "1500,1500,1500", timeout_ms=10000)
    other_cid = start_session(gw[1], "0,0,0", timeout_ms=10000)
    now = int(time.time())
    cases = [  # (what, cap, reason): every one for resource-1 of cid
        ("no capability", None, "missing"),
        ("garbage", "garbage", "malformed"),
        ("empty", "", "missing"),
        ("another key", sign_capability(cid, "resource-1", key=secrets.token_urlsafe(32)),
         "bad_signature"),
        ("replayed for another source", sign_capability(cid, "resource-2"), "bad_signature"),
        ("replayed for another session", sign_capability(other_cid, "resource-1"),
         "bad_signature"),
        ("a later expiry on a real signature",
         "v1.%d.%s" % (now + 3600, sign_capability(cid, "resource-1", exp=now - 1)
                       .rsplit(".", 1)[1]), "bad_signature"),
        ("past its expiry", sign_capability(cid, "resource-1", exp=now - 1), "expired"),
    ]
    reasons = {reason for _, _, reason in cases}
    before = {reason: rejected(gw, reason) for reason in reasons}
    for i, (what, cap, reason) in enumerate(cases):
        r = post_callback(gw[i % 2], forged(cid, "resource-1"), cap=cap)
        assert_refused(r, reason, cap)
    for reason in reasons:
        n = sum(1 for _, _, r in cases if r == reason)
        assert rejected(gw, reason) == before[reason] + n, reason
    st = read_stream(gw[1], cid, timeout=30)
    assert_real_outcomes(st, cid)
    read_stream(gw[0], other_cid, timeout=30)
    kafka_tap.caught_up()
    answers = kafka_tap.for_session(TOPIC_CALLBACKS, cid)
    assert len(answers) == len(SOURCES), answers
    for m in answers:
        assert MARK.encode() not in m["value"], "a forged callback reached Kafka"
        # The gateway passes each answer's capability on to the worker (header capability).
        source = json.loads(m["value"])["source"]
        cap = m["headers"].get("capability", "")
        assert cap.startswith("v1.") and len(cap.split(".")) == 3, m["headers"]
        exp = int(cap.split(".")[1])
        assert cap == sign_capability(cid, source, exp=exp)


def test_worker_drops_answers_on_the_topic_without_a_valid_capability(stack, gw, workers):
    cid = start_session(gw[0], "1500,1500,1500", timeout_ms=10000)
    before = metric_sum(workers, "callbacks_dropped_total", reason="invalid_capability")
    value = json.dumps(forged(cid, "resource-2")).encode()
    produce(stack.kafka_brokers, TOPIC_CALLBACKS, value, key=cid.encode())
    produce(stack.kafka_brokers, TOPIC_CALLBACKS, value, key=cid.encode(), capability="garbage")
    produce(stack.kafka_brokers, TOPIC_CALLBACKS, value, key=cid.encode(),
            capability=sign_capability(cid, "resource-3"))
    produce(stack.kafka_brokers, TOPIC_CALLBACKS, value, key=cid.encode(),
            capability=sign_capability(cid, "resource-2", key=secrets.token_urlsafe(32)))
    wait_until(lambda: metric_sum(workers, "callbacks_dropped_total",
                                  reason="invalid_capability") >= before + 4, 20,
               "4 answers dropped as invalid_capability")
    st = read_stream(gw[1], cid, timeout=30)
    assert_real_outcomes(st, cid)
    # A log line says why, and never holds the capability.
    logs = "".join(open(stack.log_path(n), errors="replace").read()
                   for n in stack.procs if n.startswith("worker-"))
    assert "invalid_capability" in logs
    assert sign_capability(cid, "resource-3").rsplit(".", 1)[1] not in logs


def test_previous_key_is_accepted_during_rotation(stack):
    """A gateway and a worker of their own with a new key and the stack's as the previous one:
    the worker signs with the new one, the gateway takes both, and nothing else."""
    old, new = stack.callback_signing_key, secrets.token_urlsafe(32)
    env = dict(private_topics(stack.kafka_brokers), CALLBACK_SIGNING_KEY=new,
               CALLBACK_SIGNING_KEY_PREVIOUS=old)
    procs = [PrivateProc(stack, "worker", env)]
    try:
        # AGGREGATOR_CALLBACK_URL unset: the resources answer this gateway itself.
        g = PrivateProc(stack, "gateway", dict(env, AGGREGATOR_CALLBACK_URL=None))
        procs.append(g)
        cid = start_session(g.url, "0,0,0", timeout_ms=10000)
        by_source, _ = check_session_events(read_stream(g.url, cid, timeout=30).events, cid)
        assert sorted(by_source) == sorted(SOURCES)
        cid = start_session(g.url, "-4,-4,0", timeout_ms=8000)  # 1 and 2 never call back
        assert post_callback(g.url, make_callback(cid, "resource-1", n_notes=1),
                             cap=sign_capability(cid, "resource-1", key=old)).status_code == 202
        assert post_callback(g.url, make_callback(cid, "resource-2", n_notes=1),
                             cap=sign_capability(cid, "resource-2", key=new)).status_code == 202
        third = sign_capability(cid, "resource-2", key=secrets.token_urlsafe(32))
        assert_refused(post_callback(g.url, forged(cid, "resource-2"), cap=third),
                       "bad_signature", third)
        st = read_stream(g.url, cid, timeout=30)
        by_source, summary = check_session_events(st.events, cid)
        assert sorted(by_source) == sorted(SOURCES), st.events
        assert [len(by_source[s]["notes"]) for s in ("resource-1", "resource-2")] == [1, 1]
        assert all(MARK not in ev.data for ev in st.events)
    finally:
        for p in procs:
            p.stop()


@pytest.mark.parametrize("prog", ["gateway", "worker"])
@pytest.mark.parametrize("key,says", [
    (None, "CALLBACK_SIGNING_KEY (or CALLBACK_SIGNING_KEY_FILE) is required"),
    ("short-key-of-31-bytes-123456789", "at least 32 bytes")])
def test_a_missing_or_short_key_exits_2_with_one_line(stack, prog, key, says):
    p = PrivateProc(stack, prog, {"CALLBACK_SIGNING_KEY": key}, wait=None)
    assert p.popen.wait(30) == 2
    log = p.log()
    assert says in log, log
    assert len([ln for ln in log.splitlines() if ln.strip()]) == 1, log
    if key:
        assert key not in log


def test_the_key_is_never_shown(stack, gw, workers):
    """/actuator/configprops names the key's variable and masks its value; no log holds it."""
    for base in list(gw) + list(workers):
        r = requests.get(base + "/actuator/configprops", timeout=10)
        assert r.status_code == 200, (base, r.status_code)
        assert stack.callback_signing_key not in r.text, base
        assert '"******"' in r.text
    for name in stack.procs:
        if name.startswith(("gateway-", "worker-")):
            with open(stack.log_path(name), errors="replace") as f:
                assert stack.callback_signing_key not in f.read(), name


def test_the_tests_signer_is_the_workers():
    """tests/unit/test_capability.c's vector: the Python signer every test uses agrees with
    libagg/capability.c, so a test's valid capability is one the worker would have made."""
    assert sign_capability("7d8e3a52-3c1b-4f7e-9a4d-2b6c8e1f0a93", "hospital-a", exp=1700000060,
                           key="0123456789abcdef0123456789abcdef") == \
        "v1.1700000060.zjzR833wDA0nAOcXDiRNPrN62gS-rg9NAgvsW5GFryU"
