"""The chaos test: a steady load of sessions read by clients that reconnect with Last-Event-ID as
EventSource does, while a seeded random schedule kills with -9 and restarts gateways, workers,
Redis and the Kafka broker (faults.py), one fault at a time, each followed until the stack has
recovered. Then: every session has exactly one summary, no client lost or repeated an event id,
every outcome matches its delay wherever the deadline allowed, and each resource was called once
per (session, source) apart from repeats a fault forced, which are counted.

Short form in make test (60 s of faults at 10 sessions/s); make chaos: CHAOS_DURATION_S=600
CHAOS_RATE=50. A failure is replayed with the printed CHAOS_SEED: the same faults on the same
targets in the same order, and the same sessions (the timing is the machine's)."""

import random
import statistics
import threading
import time

import requests

import aggtest
from aggtest import NOTES_PER_RESPONSE, SOURCES
from conftest import REPORT
from eventsource import Gateways, SteadyLoad
from faults import FAULTS

TIMEOUT_MS = 10000
LATE_MS = 12000            # an answer after the deadline: that source is TIMEOUT
OK_MAX_MS = 3000
# An answer due at t counts as "the deadline allowed" when t plus this is before the deadline:
# the pipeline's own latency on a loaded 2-core machine, and the backlog after a recovery.
MARGIN_S = 3.0
# Something due this long before a kill may still be in flight when it comes: the fan-out lags
# the 202 (by a second and more on a loaded machine), so an answer is sent later than its delay
# says, and an answer not yet acknowledged by Kafka is refused: it counts as caught in the outage.
IN_FLIGHT_S = 3.0
PAUSE_S = (1.0, 4.0)       # between one fault's recovery and the next fault
START_BUDGET_S = 90        # a client retries a refused start this long (503 while Kafka is down)
# One POST may take this long: a gateway answers once Kafka took the request or
# KAFKA_PRODUCE_TIMEOUT_MS (5 s) passed; what it took at most is reported.
POST_TIMEOUT_S = 30
STREAM_BUDGET_S = 150      # a stream must reach its summary within this from its start
AUDIT_EVERY_S = 2.0


class RandomGateways(Gateways):
    """Gateways picked at random (seeded): round robin would give a session's POST and its
    stream always the same pair, so that a killed gateway might hold no stream at all."""

    def __init__(self, bases, rng):
        super().__init__(bases)
        self.rng = rng

    def pick(self):
        with self._lock:
            return self.rng.choice(self.bases)


class ChaosLoad(SteadyLoad):
    """SteadyLoad with delays drawn per session: mostly answers within OK_MAX_MS, some REJECTED
    (-1), some after the deadline (LATE_MS). No error modes: they would open the circuit
    breakers, and then whether a resource is called depends on timing."""

    def __init__(self, gws, rate, rng):
        super().__init__(gws, rate, None, timeout_ms=TIMEOUT_MS, patient="patient-chaos",
                         stream_budget_s=STREAM_BUDGET_S, start_budget_s=START_BUDGET_S,
                         catch_up=False, post_timeout_s=POST_TIMEOUT_S)
        self.rng = rng

    def next_body(self):
        delays = []
        for _ in SOURCES:
            r = self.rng.random()
            delays.append(-1 if r < 0.08 else LATE_MS if r < 0.13 else
                          self.rng.randint(0, OK_MAX_MS))
        return dict(self.body, delays=delays)


class Loads:
    """Several ChaosLoads, STARTER_RATE sessions/s each at most: one load starts its sessions
    one after the other, and a POST on a loaded machine can take longer than 1/rate."""

    STARTER_RATE = 10.0

    def __init__(self, gws, rate, rng):
        n = max(1, int(-(-rate // self.STARTER_RATE)))
        self.loads = [ChaosLoad(gws, rate / n, random.Random(rng.getrandbits(64)))
                      for _ in range(n)]

    @property
    def streams(self):
        return [s for load in self.loads for s in load.streams]

    @property
    def start_failures(self):
        return [f for load in self.loads for f in load.start_failures]

    @property
    def retried_starts(self):
        return sum(load.retried_starts for load in self.loads)

    def start(self):
        for load in self.loads:
            load.start()

    def stop(self):
        for load in self.loads:
            load.stop()
        for load in self.loads:  # a start retried through an outage may still be under way
            load.join(START_BUDGET_S + 10)

    def wait_streams(self, timeout):
        end = time.monotonic() + timeout
        return [s for load in self.loads for s in load.wait_streams(max(0.1, end - time.monotonic()))]


class Auditor(threading.Thread):
    """Reads each resource's calls for every finished session (GET /journals/calls) while the
    load runs: a resource-sim remembers the last 16,384 correlation ids only, fewer than a long
    run makes. A later repeat still shows in the resource's total of repeated calls, which the
    test compares with the repeats found here."""

    def __init__(self, resource_urls, load, probes):
        super().__init__(daemon=True, name="chaos-audit")
        self.urls = list(resource_urls)
        self.load, self.probes = load, probes
        self.calls = {}   # cid -> {source: n}
        self._http = [requests.Session() for _ in self.urls]
        self._halt = threading.Event()
        self.error = None

    def _calls_of(self, cid):
        out = {}
        for src, url, http in zip(SOURCES, self.urls, self._http):
            r = http.get(url + "/journals/calls", params={"correlationId": cid}, timeout=10)
            assert r.status_code == 200, r.text
            out[src] = r.json()["calls"]
        return out

    def sweep(self, final=False):
        for s in list(self.load.streams):
            if s.cid not in self.calls and (final or not s.is_alive()):
                self.calls[s.cid] = self._calls_of(s.cid)
        for cid in list(self.probes):
            if cid not in self.calls:
                self.calls[cid] = self._calls_of(cid)

    def run(self):
        try:
            while not self._halt.wait(AUDIT_EVERY_S):
                self.sweep()
        except Exception as e:  # noqa: BLE001 (reported by the test)
            self.error = e

    def finish(self):
        self._halt.set()
        self.join(60)
        self.sweep(final=True)


def resource_totals(urls):
    """Summed over the resources: (calls, repeated) since each started (GET /journals/calls)."""
    calls = repeated = 0
    for u in urls:
        body = requests.get(u + "/journals/calls", timeout=10).json()
        calls, repeated = calls + body["calls"], repeated + body["repeated"]
    return calls, repeated


def expected_status(delay):
    if delay == -1:
        return "REJECTED"
    return "TIMEOUT" if delay >= TIMEOUT_MS else "ok"


def push(t, outages):
    """When something due at t can happen: after the end (plus the kind's slack) of any outage
    that t falls in (or comes just before, still in flight at the kill)."""
    for start, end, fault in outages:
        if start - IN_FLIGHT_S <= t <= end:
            t = end + fault.answer_slack_s
    return t


def run_schedule(stack, cfg, rng, probes, load):
    """Faults until cfg's duration has passed and every kind was made at least once (the
    kinds first in a seeded random order, then drawn at random). Returns the faults made."""
    kinds = [f for f in FAULTS if f.targets(stack)]
    order = list(kinds)
    rng.shuffle(order)
    made = []
    end = time.monotonic() + cfg["duration_s"]
    while time.monotonic() < end or order:
        # The schedule's pace: the random pause is the point, nothing is awaited.
        time.sleep(rng.uniform(*PAUSE_S))
        fault = order.pop(0) if order else rng.choice(kinds)
        target = rng.choice(fault.targets(stack))
        n = len(load.streams)
        t_kill, t_rec = fault.run(stack, target, probes)
        made.append({"fault": fault, "target": target, "start": t_kill, "end": t_rec,
                     "sessions": len(load.streams) - n})
    return made


def check_session(s, outages, calls, tally, failures):
    """Checks one load session; counts into tally, appends what is wrong to failures."""
    deadline = s.asked + TIMEOUT_MS / 1000.0
    aborted = [e for e in s.events if e.event == "aborted"]
    # A session whose state a failover lost: its stream ends "aborted" (session-lost), or, when
    # Redis was unreachable at its deadline (store-unavailable), its resume gets 404.
    if aborted and (not s.is_alive()) and (s.error is None or "404" in str(s.error)):
        if any(f.loses_sessions and a <= deadline + MARGIN_S and b >= s.asked
               for a, b, f in outages) and (s.error is not None or
                                            aborted[-1].json.get("reason") == "session-lost"):
            tally["lost_by_failover"] += 1
            return
    if s.is_alive() or s.error is not None:
        failures.append("%s: stream not complete: %s; events %r" % (s.cid, s.error, s.events))
        tally["incomplete"] += 1
        return
    if s.events and s.events[-1].event == "aborted":
        # Only a fault that loses acknowledged state (a promoted asynchronous replica) may end
        # a session so (counted above); any other is a failure.
        failures.append("%s: aborted %r and no fault could lose its state" % (
            s.cid, s.events[-1].json))
        return
    # An "aborted" store-unavailable event (no id: it is not in the session's log) ends a stream
    # whose store was unreachable at the deadline; the client resumed after it, as the web UI does.
    events = [e for e in s.events if e.event != "aborted"]
    ids = [e.id for e in events]
    tally["duplicated"] += len(ids) - len(set(ids))
    tally["lost"] += len(set(range(1, len(SOURCES) + 2)) - set(ids))
    summaries = sum(1 for e in events if e.event == "summary")
    if summaries != 1:
        failures.append("%s: %d summaries: %r" % (s.cid, summaries, s.events))
    seen, unique = set(), []
    for e in events:
        if e.id not in seen:
            seen.add(e.id)
            unique.append(e)
    try:
        by_source, _ = aggtest.check_session_events(unique, s.cid)
    except AssertionError as e:
        failures.append("%s: %s" % (s.cid, str(e)[:400]))
        return
    # The fan-out can start once any outage its start fell in is over.
    fanout = push(s.accepted, outages)
    call_allowed = fanout + MARGIN_S <= deadline
    redelivering = any(f.redelivers and a <= deadline + MARGIN_S and b >= s.asked
                       for a, b, f in outages)
    n_calls = calls.get(s.cid)
    for src, delay in zip(SOURCES, s.body["delays"]):
        want, got = expected_status(delay), by_source[src]["status"]
        allowed = push(fanout + max(delay, 0) / 1000.0, outages) + MARGIN_S <= deadline
        if got == want:
            tally["strict" if allowed else "lenient"] += 1
        elif not allowed and got == "TIMEOUT":
            tally["timed_out_by_fault"] += 1
        else:
            failures.append("%s %s: delay %d gave %s, want %s (deadline %s)" % (
                s.cid, src, delay, got, want, "allowed" if allowed else "did not allow"))
        if got == "ok" and len(by_source[src]["notes"]) != NOTES_PER_RESPONSE:
            failures.append("%s %s: %d notes" % (s.cid, src, len(by_source[src]["notes"])))
        n = None if n_calls is None else n_calls[src]
        if n is None:
            failures.append("%s: calls never audited" % s.cid)
        elif n == 1:
            tally["called_once"] += 1
        elif n == 0 and not call_allowed and got == "TIMEOUT":
            tally["not_called_deadline_first"] += 1
        elif n == 0:
            failures.append("%s %s: never called (status %s, the deadline allowed the call)"
                            % (s.cid, src, got))
        elif redelivering:
            tally["repeats_forced"] += n - 1
        else:
            failures.append("%s %s: called %d times, no fault could re-deliver it"
                            % (s.cid, src, n))
    tally["sessions_checked"] += 1


def test_chaos(chaos_stack, chaos_cfg):
    stack = chaos_stack
    seed = chaos_cfg["seed"]
    if seed is None:
        seed = random.SystemRandom().randrange(1 << 32)
    head = ("chaos: seed %d (replay: CHAOS_SEED=%d), %.0f s of faults at %g sessions/s, "
            "%d gateways, %d workers" % (seed, seed, chaos_cfg["duration_s"], chaos_cfg["rate"],
                                          stack.n_gateways, stack.n_workers))
    REPORT.append(head)
    print(head, flush=True)
    rng = random.Random(seed)
    probes = []
    base_calls, base_repeated = resource_totals(stack.resource_urls)
    gws = RandomGateways(stack.gateway_urls, random.Random(rng.getrandbits(64)))
    load = Loads(gws, chaos_cfg["rate"], random.Random(rng.getrandbits(64)))
    auditor = Auditor(stack.resource_urls, load, probes)
    load.start()
    auditor.start()
    made = []
    try:
        aggtest.wait_until(lambda: len(load.streams) >= 2 * chaos_cfg["rate"], 60,
                           "the load under way")
        made = run_schedule(stack, chaos_cfg, rng, probes, load)
        n = len(load.streams)  # the load goes on a while on the recovered stack
        aggtest.wait_until(lambda: len(load.streams) >= n + 2 * chaos_cfg["rate"], 60,
                           "the load after the last fault")
    finally:
        load.stop()
        stuck = load.wait_streams(STREAM_BUDGET_S)
        auditor.finish()
    end_calls, end_repeated = resource_totals(stack.resource_urls)

    outages = sorted((m["start"], m["end"], m["fault"]) for m in made)
    tally = dict.fromkeys(("incomplete", "lost", "duplicated", "strict", "lenient",
                           "timed_out_by_fault", "called_once", "not_called_deadline_first",
                           "repeats_forced", "sessions_checked", "lost_by_failover"), 0)
    failures = []
    for s in load.streams:
        check_session(s, outages, auditor.calls, tally, failures)
    probe_repeats = sum(max(0, n - 1) for cid in probes for n in auditor.calls[cid].values())
    load_repeats = sum(max(0, n - 1) for s in load.streams
                       for n in auditor.calls.get(s.cid, {}).values())
    # Repeats the audits did not see: calls after a session's audit, or of sessions no client
    # knew (a POST cut by a gateway kill after its fan-out was sent).
    unseen = (end_repeated - base_repeated) - probe_repeats - load_repeats

    by_kind = {}
    for m in made:
        by_kind.setdefault(m["fault"].kind, []).append(m["end"] - m["start"])
    lines = [
        "sessions run: %d (+%d probes), %d start failures, %d starts retried, %d streams "
        "reconnected; resource calls %d" % (
            len(load.streams), len(probes), len(load.start_failures), load.retried_starts,
            sum(1 for s in load.streams if s.connects > 1), end_calls - base_calls),
        "longest start (POST to 202, 503 retries included): %.1f s" % max(
            [s.accepted - s.asked for s in load.streams] or [0]),
        "kills made: %d: %s" % (len(made), ", ".join(
            "%s %d" % (k, len(v)) for k, v in sorted(by_kind.items()))),
        "lost=%d duplicated=%d incomplete=%d; sessions ended aborted by a failover's "
        "unreplicated writes: %d" % (tally["lost"], tally["duplicated"], tally["incomplete"],
                                      tally["lost_by_failover"]),
        "outcomes: %d as their delays said where the deadline allowed, %d as said where it did "
        "not, %d TIMEOUT because a fault used up the deadline" % (
            tally["strict"], tally["lenient"], tally["timed_out_by_fault"]),
        "calls per (session, source): %d once, %d never (the deadline passed before the "
        "fan-out), repeats forced by a fault %d (probes %d, unseen %d)" % (
            tally["called_once"], tally["not_called_deadline_first"], tally["repeats_forced"],
            probe_repeats, unseen),
    ]
    for kind, times in sorted(by_kind.items()):
        lines.append("recovery, %s: longest %.2f s, median %.2f s over %d" % (
            kind, max(times), statistics.median(times), len(times)))
    lines.append("schedule: " + ", ".join("%s@%.1fs=%.1fs" % (m["target"], m["start"] -
                                                              made[0]["start"], m["end"] -
                                                              m["start"]) for m in made))
    REPORT.extend(lines)
    print("\n".join(lines))
    if failures:
        REPORT.append("first failures: " + " | ".join(failures[:5]))

    assert auditor.error is None, "the audit failed: %r" % auditor.error
    assert not load.start_failures, load.start_failures[:3]
    assert not stuck, "streams not complete: %r" % [(s.cid, s.events) for s in stuck[:3]]
    assert {f.kind for f in FAULTS if f.targets(stack)} <= set(by_kind), by_kind
    assert tally["lost"] == 0 and tally["duplicated"] == 0, tally
    assert not failures, "%d failures, first: %s" % (len(failures), "\n".join(failures[:10]))
    assert unseen <= 0 or any(m["fault"].redelivers for m in made), (
        "%d repeated calls that no audit saw and no fault could force" % unseen)
    assert tally["strict"] > 0, "no outcome was checked strictly: the test proved nothing"
    assert sum(1 for s in load.streams if s.connects > 1) > 0, "no stream was handed over"
