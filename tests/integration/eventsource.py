"""eventsource.py: clients that behave like a browser under load: sessions started on any gateway,
streams that reconnect as EventSource does (Last-Event-ID). A refused or 503 attempt waits until
some gateway reports ready (a condition with a deadline), then tries the next one."""

import itertools
import threading
import time

import requests

import aggtest


class Gateways:
    """Round robin over the gateways, as a load balancer in front of them would spread clients."""

    def __init__(self, bases):
        self.bases = list(bases)
        self._next = itertools.count()
        self._lock = threading.Lock()

    def pick(self):
        with self._lock:
            return self.bases[next(self._next) % len(self.bases)]

    def wait_ready(self, deadline, what):
        """Waits until some gateway's readiness is UP (one that drains or died is not)."""
        def any_ready():
            return any(aggtest.is_ready(b, timeout=1) for b in self.bases)
        aggtest.wait_until(any_ready, max(0.1, deadline - time.monotonic()), what)


def start_session(gws, body, deadline, timeout=10):
    """POSTs body to the next gateway; after a refused connection or a 503 with Retry-After (a
    replica that drains or died) it waits for a ready gateway and tries the next one. Returns
    (correlationId, tries). timeout: how long one POST may take."""
    tries = 0
    while True:
        tries += 1
        base = gws.pick()
        try:
            r = requests.post(base + "/aggregate/journals", json=body, timeout=timeout)
            if r.status_code == 202:
                return r.json()["correlationId"], tries
            assert r.status_code == 503, "POST %s: %d %s" % (base, r.status_code, r.text[:200])
            aggtest.check_error_body(r)
            assert r.headers.get("Retry-After"), "503 without Retry-After from %s: %s" % (
                base, r.text[:200])
        except requests.ConnectionError:
            pass
        gws.wait_ready(deadline, "a ready gateway to start %r (%d tries)" % (body, tries))


class ResumingStream(threading.Thread):
    """Reads one session's stream to its summary across replicas: when a stream ends or breaks
    before the summary it reconnects to the next gateway with Last-Event-ID, as EventSource does.
    events: every event received, in order (repeats included, so a test can see them)."""

    def __init__(self, gws, cid, deadline):
        super().__init__(daemon=True, name="stream-" + cid[:8])
        self.gws = gws
        self.cid = cid
        self.deadline = deadline
        self.events = []
        self.connects = 0
        self.refused = 0
        self.error = None

    @property
    def done(self):
        """The summary came, or an aborted event saying the session is lost (final; an aborted
        store-unavailable is resumed like a stream that ended early)."""
        if not self.events:
            return False
        last = self.events[-1]
        return last.event == "summary" or (last.event == "aborted" and
                                           last.json.get("reason") == "session-lost")

    def run(self):
        try:
            self._run()
        except Exception as e:  # reported by the test, with the session
            self.error = e

    def _run(self):
        while not self.done:
            if time.monotonic() > self.deadline:
                raise AssertionError("stream of %s not complete by its deadline (%d connects, "
                                     "events %r)" % (self.cid, self.connects, self.events))
            last = next((e.id for e in reversed(self.events) if e.id is not None), None)
            try:
                st = aggtest.SSEStream(self.gws.pick(), self.cid, last_event_id=last,
                                       timeout=max(1.0, self.deadline - time.monotonic()))
            except OSError:  # refused: that replica is gone
                self.gws.wait_ready(self.deadline, "a ready gateway for %s" % self.cid)
                continue
            self.connects += 1
            if st.status == 503:
                self.refused += 1
                assert st.headers.get("Retry-After"), "503 without Retry-After on a stream"
                self.gws.wait_ready(self.deadline, "a ready gateway for %s" % self.cid)
                continue
            assert st.status == 200, "stream of %s: %d %r" % (self.cid, st.status, st.body)
            try:
                while True:
                    ev = st.next_event(self.deadline)
                    if ev is None:
                        break
                    self.events.append(ev)
            except aggtest.SSETimeout:
                raise
            except AssertionError as e:
                if "broke" not in str(e):  # a replica killed mid-stream: reconnect
                    raise
            finally:
                st.close()


def resume_until_summary(base, cid, last, timeout=60):
    """The events after event last up to the summary, read from base as an EventSource does (a
    stream that ends early is opened again with Last-Event-ID)."""
    events, end = [], time.monotonic() + timeout
    while not events or events[-1].event != "summary":
        assert time.monotonic() < end, "no summary after %r" % events
        st = aggtest.SSEStream(base, cid, last_event_id=last)
        assert st.status == 200, st.status
        st.read_all(max(1.0, end - time.monotonic()))
        events += st.events
        if st.events:
            last = st.events[-1].id
    return events


class SteadyLoad(threading.Thread):
    """Starts rate sessions per second (SSE, delays) until stop(), each read by a ResumingStream
    (or stream_cls, a subclass taking the same arguments)."""

    def __init__(self, gws, rate, delays, timeout_ms=10000, patient="patient-rolling",
                 stream_budget_s=60, stream_cls=ResumingStream, start_budget_s=30, catch_up=True,
                 post_timeout_s=10):
        super().__init__(daemon=True, name="steady-load")
        self.gws = gws
        self.rate = rate
        self.body = {"patientId": patient, "delays": delays, "timeoutMs": timeout_ms,
                     "strategy": "SSE"}
        self.stream_budget_s = stream_budget_s
        self.stream_cls = stream_cls
        self.start_budget_s = start_budget_s
        self.post_timeout_s = post_timeout_s
        # False: sessions a long outage kept from starting are skipped, not started in a burst.
        self.catch_up = catch_up
        self.streams = []
        self.start_failures = []
        self.retried_starts = 0
        self._halt = threading.Event()

    def stop(self):
        self._halt.set()
        self.join(30)

    def next_body(self):
        """The body of the next session; a subclass may vary it."""
        return self.body

    def run(self):
        period = 1.0 / self.rate
        t = time.monotonic()
        while not self._halt.is_set():
            body = self.next_body()
            asked = time.monotonic()
            try:
                cid, tries = start_session(self.gws, body, asked + self.start_budget_s,
                                           self.post_timeout_s)
                self.retried_starts += tries > 1
                s = self.stream_cls(self.gws, cid, time.monotonic() + self.stream_budget_s)
                # What the session asked for, and between which times it was accepted.
                s.body, s.asked, s.accepted, s.tries = body, asked, time.monotonic(), tries
                s.start()
                self.streams.append(s)
            except (AssertionError, requests.RequestException) as e:
                # A request that timed out is a failed start too, not the end of the load.
                self.start_failures.append("%s (after %.1f s)" % (e, time.monotonic() - asked))
            t += period
            if not self.catch_up:
                t = max(t, time.monotonic())
            self._halt.wait(max(0.0, t - time.monotonic()))

    def wait_streams(self, timeout):
        end = time.monotonic() + timeout
        for s in self.streams:
            s.join(max(0.1, end - time.monotonic()))
        return [s for s in self.streams if s.is_alive()]
