"""The stack's single Kafka broker fails: restarted under steady load, nothing acknowledged is lost
(every accepted session completes, or ends by its deadline when the outage outlasted an answer
it waited for), no event repeats, no fan-out message is written twice; and a broker that takes
no request (stopped with SIGSTOP) gets each request a 503 with Retry-After after
KAFKA_PRODUCE_TIMEOUT_MS."""

import concurrent.futures
import signal
import time

import pytest
import requests

import aggtest
from eventsource import Gateways, SteadyLoad, start_session
from kafkaload import (IntakePoller, Prober, TimedStream, all_ready, event_times, longest_gap,
                       request_copies, verdict)

RATE = 10                # sessions/s, each with three resources
DELAYS = "300,1000,2000"
TIMEOUT_MS = 8000
# Sessions accepted just before the restart whose last answer comes due well after it: their
# state (fan-out message, claims, answers so far) must carry them to a complete summary.
LONG_DELAYS, LONG_DUE_S, LONG_TIMEOUT_MS, N_LONG = "0,0,25000", 25.0, 27000, 4
PRODUCE_TIMEOUT_S = 5.0  # the gateways' KAFKA_PRODUCE_TIMEOUT_MS default
READY_TIMEOUT_S = 90


def _services(stack):
    return stack.gateway_urls + stack.worker_urls


def _back_to_normal(stack):
    """Leaves the stack as the other tests expect it: the broker running, every service ready."""
    if not stack.alive("kafka"):
        stack.restart("kafka")
    aggtest.wait_until(lambda: all_ready(_services(stack)), READY_TIMEOUT_S,
                       "every gateway and worker ready after the broker came back")


@pytest.mark.destructive
def test_broker_restart_under_load_loses_nothing_acknowledged(stack, kafka_tap):
    gws = Gateways(stack.gateway_urls)
    load = SteadyLoad(gws, RATE, DELAYS, timeout_ms=TIMEOUT_MS, patient="patient-broker",
                      stream_budget_s=90, stream_cls=TimedStream)
    intake = IntakePoller(stack.worker_urls)
    intake.start()
    load.start()
    long, probe = [], None
    try:
        aggtest.wait_until(lambda: len(load.streams) >= 2 * RATE, 30, "load under way")
        body = {"patientId": "patient-broker-long", "delays": LONG_DELAYS,
                "timeoutMs": LONG_TIMEOUT_MS, "strategy": "SSE"}
        for _ in range(N_LONG):
            cid, _ = start_session(gws, body, time.monotonic() + 30)
            st = TimedStream(gws, cid, time.monotonic() + 60)
            st.timeout_ms = LONG_TIMEOUT_MS
            st.start()
            long.append(st)
        aggtest.wait_until(lambda: all(len(st.events) >= 2 for st in long), 30,
                           "the long sessions' immediate answers")
        probe = Prober(stack.gateway_url(0))
        probe.start()
        t_down = time.monotonic()
        stack.restart("kafka")  # SIGTERM, then the same ports and data; waits for the port
        t_port = time.monotonic()
        aggtest.wait_until(lambda: all_ready(_services(stack)), READY_TIMEOUT_S,
                           "every gateway and worker ready after the restart")
        t_up = time.monotonic()
        probe.stop()
        n = len(load.streams)
        aggtest.wait_until(lambda: len(load.streams) >= n + 2 * RATE, 60,
                           "load goes on after the restart")
    finally:
        load.stop()
        if probe is not None:
            probe.stop()
        _back_to_normal(stack)
    stuck = load.wait_streams(120)
    for st in long:
        st.join(max(1.0, st.deadline - time.monotonic()))
    stuck += [st for st in long if st.is_alive()]
    intake.stop()
    streams = load.streams + long
    v = verdict(streams, TIMEOUT_MS, t_down, t_up)
    cids = [s.cid for s in streams]
    kafka_tap.caught_up(60)
    copies = request_copies(kafka_tap, cids)
    in_flight = [s for s in streams if s.accepted_at < t_down and s.events.times[-1] > t_down]
    # a long session must complete when every service was back before its last answer was due
    long_due = [s for s in long if t_up + 1 < s.accepted_at + LONG_DUE_S]
    gap, _ = longest_gap(event_times(load), t_down - 1, t_up + 5)
    stall, _ = intake.longest_stall(t_down - 1, t_up + 5)
    print("broker restart: down to port open %.1f s, to every service ready %.1f s; %d sessions: "
          "%d complete, %d ended by deadline during the outage (%d in flight across it; %d of %d "
          "long ones complete), %d lost, %d broken; %d starts retried after a 503; longest gap "
          "between events %.1f s, in the workers' intake %.1f s"
          % (t_port - t_down, t_up - t_down, len(cids), len(v["complete"]),
             len(v["by_deadline"]), len(in_flight),
             sum(1 for s in long if s.cid in v["complete"]), len(long), len(v["lost"]),
             len(v["broken"]), load.retried_starts, gap, stall))
    # the bound: a request Kafka cannot take in KAFKA_PRODUCE_TIMEOUT_MS gets a 503
    # with Retry-After then, never a longer wait (the restart's in-flight requests included)
    late = [a for a in probe.answers if a[2] > PRODUCE_TIMEOUT_S + 3]
    bad = [a for a in probe.answers if a[1] != 202 and (a[1] != 503 or not a[3])]
    refused = [a for a in probe.answers if a[1] == 503]
    print("broker restart: %d probe requests, %d answered 503 with Retry-After, the slowest in "
          "%.1f s" % (len(probe.answers), len(refused), max(a[2] for a in probe.answers)))
    assert not late and not bad, (late[:5], bad[:5])
    assert refused, "no probe request was refused during the outage: it proved nothing"
    assert not load.start_failures, load.start_failures[:3]
    assert not stuck, "streams not complete: %r" % [(s.cid, s.events) for s in stuck[:3]]
    assert not v["broken"], v["broken"][:3]
    assert not v["lost"], v["lost"][:3]
    assert not copies, "fan-out messages not written exactly once: %r" % list(copies.items())[:5]
    assert in_flight, "no session was in flight across the restart: the test proved nothing"
    assert all(s.cid in v["complete"] for s in long_due), \
        [(s.cid, s.events) for s in long_due if s.cid not in v["complete"]]
    assert load.retried_starts > 0, "no start was refused during the outage: it proved nothing"


@pytest.mark.destructive
def test_a_broker_that_takes_nothing_gets_503_with_retry_after(stack):
    """SIGSTOP keeps the broker's connections open and answers nothing: the gateway still sees
    it UP, so the request waits on the delivery report that KAFKA_PRODUCE_TIMEOUT_MS ends."""
    gw = stack.gateway_url(0)
    failures = aggtest.metric(gw, "gateway_kafka_produce_failures_total")
    body = {"patientId": "patient-stopped", "delays": "0,0,0", "timeoutMs": 5000,
            "strategy": "SSE"}
    answer = aggtest.make_callback("00000000-0000-4000-8000-00000000cafe", "resource-1")

    cap = {"cap": aggtest.sign_capability(answer["correlationId"], answer["source"])}

    def post(path, payload):
        t = time.monotonic()
        r = requests.post(gw + path, json=payload, timeout=60,
                          params=cap if path == "/aggregate/callback" else None)
        return r, time.monotonic() - t
    stack.pause("kafka")
    try:
        with concurrent.futures.ThreadPoolExecutor(2) as ex:
            fj = ex.submit(post, "/aggregate/journals", body)
            fc = ex.submit(post, "/aggregate/callback", answer)
            results = [("journals", *fj.result()), ("callback", *fc.result())]
    finally:
        stack.kill("kafka", signal.SIGCONT)
    for what, r, took in results:
        print("stopped broker: POST %s answered %d after %.1f s" % (what, r.status_code, took))
        assert r.status_code == 503, (what, r.status_code, r.text[:200])
        aggtest.check_error_body(r)
        assert r.json()["error"] == "unavailable", r.text
        assert int(r.headers["Retry-After"]) >= 1, r.headers
        # the bound: answered once the producer's timeout ends, not held for longer
        assert took <= PRODUCE_TIMEOUT_S + 10, (what, took)
    assert aggtest.metric(gw, "gateway_kafka_produce_failures_total") >= failures + 2, \
        "the 503s did not come from failed deliveries"
    _back_to_normal(stack)
    cid = aggtest.start_session(gw, "0,0,0", timeout_ms=10000, patient="patient-stopped")
    st = aggtest.read_stream(gw, cid, timeout=30)
    _, summary = aggtest.check_session_events(st.events, cid)
    assert summary["respondents"] == 3, summary
