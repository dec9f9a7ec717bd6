"""A gateway that goes away under open streams: drained by SIGTERM (readiness DOWN, 503 with
Retry-After, streams handed over with a retry hint, callbacks and WAIT_FOR_EVERYONE answered,
exit 0), or killed with -9; clients resuming with Last-Event-ID on the other replica get every
event exactly once. Each test restarts the gateway it stopped."""

import signal
import threading
import time

import pytest
import requests

from aggtest import (SSEStream, check_error_body, check_session_events, metric, post_journals,
                     start_session, wait_until)
from eventsource import resume_until_summary

RETRY_MS = 1000  # the gateway's default SHUTDOWN_RETRY_MS


class Reader(threading.Thread):
    """Reads one stream until it ends or breaks, keeping the events and the retry hint."""

    def __init__(self, base, cid):
        super().__init__(daemon=True)
        self.cid = cid
        self.stream = SSEStream(base, cid, timeout=60)
        assert self.stream.status == 200
        self.events = []
        self.ended = None  # "closed" (a proper end) or "broken"

    def run(self):
        try:
            while True:
                ev = self.stream.next_event(time.monotonic() + 60)
                if ev is None:
                    self.ended = "closed"
                    return
                self.events.append(ev)
        except AssertionError:
            self.ended = "broken"
        finally:
            self.stream.close()


@pytest.mark.destructive
def test_sigterm_drains_the_gateway(stack, gw):
    name, other = "gateway-0", gw[1]  # gateway-0 receives every resource's callback
    # Streams on gateway-0 whose sessions still have events to come when it is told to stop.
    cids = [start_session(other, "300,1200,%d" % (1500 + 100 * i), timeout_ms=10000)
            for i in range(10)]
    readers = [Reader(gw[0], c) for c in cids]
    for r in readers:
        r.start()
    # A WAIT_FOR_EVERYONE request in flight: its answers come back to gateway-0 while it drains.
    wait_result = {}
    waits_before = metric(gw[0], "gateway_sessions_started_total",
                          strategy="WAIT_FOR_EVERYONE") or 0

    def wait_request():
        wait_result["r"] = post_journals(gw[0], {"patientId": "patient-123",
                                                 "delays": "1500,1500,1500",
                                                 "strategy": "WAIT_FOR_EVERYONE"})
    waiter = threading.Thread(target=wait_request, daemon=True)
    waiter.start()
    # In flight: Kafka took its fan-out message (the counter), its answers are 1.5 s away.
    wait_until(lambda: (metric(gw[0], "gateway_sessions_started_total",
                               strategy="WAIT_FOR_EVERYONE") or 0) >= waits_before + 1, 10,
               "the WAIT_FOR_EVERYONE request accepted")
    t0 = time.monotonic()
    stack.kill(name, signal.SIGTERM)
    try:
        wait_until(lambda: requests.get(gw[0] + "/actuator/health/readiness",
                                        timeout=5).status_code == 503, 5, "readiness DOWN")
        ready = requests.get(gw[0] + "/actuator/health/readiness", timeout=5).json()
        assert ready["status"] == "DOWN" and ready["components"]["shutdown"]["status"] == "DOWN"
        r = post_journals(gw[0], {"patientId": "patient-123", "delays": "0,0,0"})
        assert r.status_code == 503 and int(r.headers["Retry-After"]) >= 1, r.headers
        assert check_error_body(r)["error"] == "shutting_down"
        st = SSEStream(gw[0], cids[0])
        assert st.status == 503 and int(st.headers["Retry-After"]) >= 1
        assert st.json["error"] == "shutting_down"
        for rd in readers:
            rd.join(30)
            assert rd.ended == "closed", (rd.cid, rd.ended)  # handed over, not broken
            assert rd.stream.retry == RETRY_MS, (rd.cid, rd.stream.retry)
        waiter.join(40)
        assert "r" in wait_result, "the WAIT_FOR_EVERYONE request got no answer"
        wr = wait_result["r"]
        assert wr.status_code == 200, (wr.status_code, wr.text[:300])
        assert wr.json()["respondents"] == 3, wr.json()  # its callbacks were taken while draining
        rc = stack.wait_exit(name, 30)
        drained_s = time.monotonic() - t0
        assert rc == 0, "gateway exited %s after SIGTERM" % rc
        assert drained_s < 25 + 2, drained_s
        print("SIGTERM: %d streams handed over, WAIT answered, exit 0 after %.2f s"
              % (len(readers), drained_s))
        resumed_with_rest = 0
        for rd in readers:
            last = rd.events[-1].id if rd.events else 0
            rest = resume_until_summary(other, rd.cid, last)
            resumed_with_rest += bool(rest) and len(rest) > 1
            check_session_events(rd.events + rest, rd.cid)
        assert resumed_with_rest >= 1, "no stream had events left after the hand-over"
    finally:
        stack.restart(name)


@pytest.mark.destructive
def test_kill_9_with_100_open_streams(stack, gw):
    name, other = "gateway-1", gw[0]  # gateway-1 receives no callback (see AGGREGATOR_CALLBACK_URL)
    cids = [start_session(other, "%d,%d,%d" % (300 + 10 * i, 2500 + 20 * i, 4000 + 20 * i),
                          timeout_ms=15000) for i in range(100)]
    readers = [Reader(gw[1], c) for c in cids]
    for r in readers:
        r.start()
    wait_until(lambda: sum(1 for r in readers if r.events) >= 50, 30,
               "half the streams have their first event")
    try:
        stack.kill(name, signal.SIGKILL)
        assert stack.wait_exit(name, 10) is not None
        for rd in readers:
            rd.join(30)
            assert rd.ended is not None, rd.cid
        after_kill = 0
        for rd in readers:
            last = rd.events[-1].id if rd.events else 0
            rest = resume_until_summary(other, rd.cid, last)
            after_kill += len(rest)
            by_source, summary = check_session_events(rd.events + rest, rd.cid)
            assert summary["respondents"] == 3, summary
        print("kill -9 with 100 streams: %d events received before, %d after resuming on the "
              "other replica, none missed or repeated"
              % (sum(len(r.events) for r in readers), after_kill))
        assert after_kill >= 200, after_kill  # most sessions still had events to come
    finally:
        stack.restart(name)
