"""kafkaload.py: what the Kafka fault tests share: streams that note when each event arrived, a
poller of the workers' intake, and the verdict on every session of a load run through an outage."""

import json
import threading
import time

import requests

import aggtest
from eventsource import ResumingStream

SLACK_S = 1.0  # clocks: accepted_at is taken after the 202, the gateway's deadline before


class _Arrivals(list):
    """A list that notes when each item was appended (time.monotonic())."""

    def __init__(self):
        super().__init__()
        self.times = []

    def append(self, item):
        self.times.append(time.monotonic())
        super().append(item)


class TimedStream(ResumingStream):
    """A ResumingStream (made right after its session's 202) that notes when each event came."""

    def __init__(self, gws, cid, deadline):
        super().__init__(gws, cid, deadline)
        self.accepted_at = time.monotonic()
        self.events = _Arrivals()


def longest_gap(times, since, until):
    """The longest time in [since, until] with nothing in times: (seconds, start of the gap)."""
    ts = [since] + sorted(t for t in times if since < t < until) + [until]
    best = max(range(1, len(ts)), key=lambda i: ts[i] - ts[i - 1])
    return ts[best] - ts[best - 1], ts[best - 1]


def event_times(load):
    return [t for s in load.streams for t in s.events.times]


class IntakePoller(threading.Thread):
    """Reads worker_messages_total (both topics, every worker) every interval seconds; samples
    holds (time, total) for each read in which every worker answered."""

    def __init__(self, worker_urls, interval=0.1):
        super().__init__(daemon=True, name="intake-poller")
        self.urls = list(worker_urls)
        self.interval = interval
        self.samples = []
        self._halt = threading.Event()

    def run(self):
        with requests.Session() as http:
            while not self._halt.wait(self.interval):
                total = 0
                try:
                    for u in self.urls:
                        text = http.get(u + "/actuator/prometheus", timeout=1).text
                        total += sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
                                     if line.startswith("worker_messages_total{"))
                except (requests.RequestException, ValueError, IndexError):
                    continue
                self.samples.append((time.monotonic(), total))

    def stop(self):
        self._halt.set()
        self.join(10)

    def longest_stall(self, since, until):
        """The longest time in [since, until] in which no worker took a message: (s, start)."""
        moved, last = [], None
        for t, total in self.samples:
            if last is not None and total > last:
                moved.append(t)
            last = total
        return longest_gap(moved, since, until)


class Prober(threading.Thread):
    """Every interval seconds, while it runs, starts a session (POST /aggregate/journals) and
    posts an answer for an unknown session (POST /aggregate/callback, dropped by the workers) on
    one gateway, with no retry; answers holds (what, status, seconds taken, Retry-After)."""

    def __init__(self, base, interval=0.25):
        super().__init__(daemon=True, name="prober")
        self.base = base
        self.interval = interval
        self.answers = []
        self._halt = threading.Event()

    def run(self):
        body = {"patientId": "patient-probe", "delays": "0,0,0", "timeoutMs": 3000,
                "strategy": "SSE"}
        n = 0
        while not self._halt.wait(self.interval):
            n += 1
            answer = aggtest.make_callback("00000000-0000-4000-8000-%012d" % n, "resource-1")
            cap = {"cap": aggtest.sign_capability(answer["correlationId"], answer["source"])}
            for what, path, payload, params in (("journals", "/aggregate/journals", body, None),
                                                ("callback", "/aggregate/callback", answer, cap)):
                t = time.monotonic()
                try:
                    r = requests.post(self.base + path, json=payload, params=params, timeout=60)
                except requests.RequestException as e:
                    self.answers.append((what, repr(e)[:100], time.monotonic() - t, None))
                    continue
                self.answers.append((what, r.status_code, time.monotonic() - t,
                                     r.headers.get("Retry-After")))

    def stop(self):
        self._halt.set()
        self.join(70)


def verdict(streams, timeout_ms, outage_start, outage_end, sources=3):
    """Sorts every session of streams (TimedStreams; timeout_ms, unless one has its own
    timeout_ms): complete (every source answered), by_deadline (ended by its
    deadline's summary, which is right only when the outage overlapped its life: an answer was
    due while no gateway could take it), and the failures: broken (event ids not consecutive,
    a repeat, no summary, a stream error), lost (a source missing though the outage did not
    touch the session)."""
    out = {"complete": [], "by_deadline": [], "broken": [], "lost": []}
    for s in streams:
        if s.error is not None:
            out["broken"].append((s.cid, repr(s.error)[:300]))
            continue
        try:
            # ids consecutive from 1 (no gap, no repeat), each source once, one summary, last
            by_source, summary = aggtest.check_session_events(s.events, s.cid)
        except AssertionError as e:
            out["broken"].append((s.cid, str(e)[:300]))
            continue
        if summary["respondents"] == sources:
            out["complete"].append(s.cid)
            continue
        deadline = s.accepted_at + (getattr(s, "timeout_ms", None) or timeout_ms) / 1000.0
        touched = s.accepted_at - SLACK_S <= outage_end and deadline + SLACK_S >= outage_start
        missing = [src for src, cb in by_source.items() if cb["status"] != "ok"]
        if summary["completedBy"] == "TIMEOUT" and touched:
            out["by_deadline"].append((s.cid, missing))
        else:
            out["lost"].append((s.cid, summary, missing))
    return out


def request_copies(tap, cids):
    """{cid: n} for every session whose fan-out message is not in agg.requests exactly once."""
    counts = {}
    for m in tap.snapshot(aggtest.TOPIC_REQUESTS):
        k = m["key"].decode() if m["key"] else None
        counts[k] = counts.get(k, 0) + 1
    return {c: counts.get(c, 0) for c in cids if counts.get(c, 0) != 1}


def callback_copies(tap, cids):
    """How many (session, source) answers are in agg.callbacks more than once: a resource that
    retried after a 503 whose message Kafka had in fact written (the workers apply one)."""
    want = set(cids)
    seen = {}
    for m in tap.snapshot(aggtest.TOPIC_CALLBACKS):
        k = m["key"].decode() if m["key"] else None
        if k not in want:
            continue
        try:
            src = json.loads(m["value"])["source"]
        except (ValueError, KeyError, TypeError):
            continue
        seen[(k, src)] = seen.get((k, src), 0) + 1
    return sum(1 for n in seen.values() if n > 1)


def all_ready(urls):
    return all(aggtest.is_ready(u) for u in urls)
