"""faults: the chaos test's kinds of fault, one small class each: make the fault (kill -9 and
restart), wait until the stack has recovered, and say what the fault may cause.

A kind is a subclass of Fault listed in FAULTS; the schedule (test_chaos.py) picks among those
whose targets() is not empty. To add one (e.g. a Sentinel failover of the Redis primary, or
kill -9 of one broker of three): write targets() and inject(); unrecovered() by default waits
for the whole stack (every gateway and worker ready, every partition owned, a session through
each gateway complete), which is what "recovered" means for every kind; add to it what is
particular to the kind (the new primary elected, the broker back in the ISR). A recovery that
times out names what was still not so and shows the log tails of the kind's evidence()."""

import signal
import time

import requests

import aggtest
import stack as stackmod  # demo/stack.py, on the path from conftest
from eventsource import resume_until_summary

PROBE_DELAYS = "0,0,0"
PROBE_TIMEOUT_MS = 5000




def _partitions(url):
    """{"requests": n, "callbacks": n} a worker owns (its readiness body), or None."""
    try:
        comp = requests.get(url + "/actuator/health/readiness",
                            timeout=2).json()["components"]["partitions"]
        return {"requests": comp["requests"], "callbacks": comp["callbacks"]}
    except (requests.RequestException, ValueError, KeyError, TypeError):
        return None


def stack_unready(stack):
    """None when every gateway and worker is ready and every partition of both topics is owned
    by a live worker (a worker killed with -9 keeps its partitions until the group drops it: a
    restarted worker can be ready while sessions on the dead member's partitions still wait);
    otherwise what is not so yet."""
    for u in stack.gateway_urls:
        if not aggtest.is_ready(u):
            return "gateway %s not ready" % u
    owned = {"requests": 0, "callbacks": 0}
    for u in stack.worker_urls:
        p = _partitions(u)
        if p is None or not p["requests"] or not p["callbacks"]:
            return "worker %s not ready or owns no partition (%r)" % (u, p)
        for t in owned:
            owned[t] += p[t]
    if not all(n == stackmod.TOPIC_PARTITIONS for n in owned.values()):
        return "partitions owned %r of %d each" % (owned, stackmod.TOPIC_PARTITIONS)
    return None


def stack_ready(stack):
    return stack_unready(stack) is None


def probe(base, probes):
    """One session through gateway base (started and streamed there): True when it completes
    with every resource answered. Its correlationId goes to probes, so that its calls are
    audited like the load's."""
    try:
        r = requests.post(base + "/aggregate/journals", timeout=10,
                          json={"patientId": "patient-chaos-probe", "delays": PROBE_DELAYS,
                                "timeoutMs": PROBE_TIMEOUT_MS, "strategy": "SSE"})
        if r.status_code != 202:
            return False
        cid = r.json()["correlationId"]
        probes.append(cid)
        events = resume_until_summary(base, cid, None, timeout=PROBE_TIMEOUT_MS / 1000 + 5)
    except (AssertionError, OSError, requests.RequestException, ValueError):
        return False
    return events[-1].json["respondents"] == 3


def _log_tail(stack, name, lines=12):
    """The last lines of process name's log, headed by its name."""
    try:
        with open(stack.log_path(name), errors="replace") as f:
            tail = f.readlines()[-lines:]
    except (OSError, KeyError) as e:
        tail = ["(no log: %s)\n" % e]
    return "--- %s:\n%s" % (name, "".join(tail))


class Fault:
    """A kind of fault. kind: its name in the report. redelivers: it may deliver a fan-out
    message again (the claim in Redis should still stop a second call; a repeated call in a
    session that overlapped such a fault is counted as forced). answer_slack_s: how long after
    the recovery an answer caught in the outage may still take through no fault of ours (the
    resource's own retry backoff)."""

    kind = None
    redelivers = False
    loses_sessions = False  # it may lose acknowledged state: sessions that end "aborted"
    answer_slack_s = 0.0
    recovery_timeout_s = 120.0

    def targets(self, stack):
        return []

    def inject(self, stack, target):
        """Kills target with -9 and starts it again (not waiting until it is ready)."""
        stack.kill(target, signal.SIGKILL)
        assert stack.wait_exit(target, 30) is not None, "%s did not die on kill -9" % target
        stack.restart(target, wait_ready=False)

    def unrecovered(self, stack, target, probes):
        """None once the stack has recovered from the fault on target; otherwise what is not
        so yet (named in the failure when the recovery times out)."""
        if not stack.alive(target):
            raise AssertionError("%s exited after its restart; see %s"
                                 % (target, stack.log_path(target)))
        why = stack_unready(stack)
        if why:
            return why
        for b in stack.gateway_urls:
            if not probe(b, probes):
                return "a probe session through %s did not complete" % b
        return None

    def evidence(self, stack, target):
        """The processes whose log tails a timed-out recovery shows."""
        return [target]

    def run(self, stack, target, probes):
        """Makes the fault and waits until the stack recovered; returns (kill time, recovery
        time), both time.monotonic()."""
        t_kill = time.monotonic()
        self.inject(stack, target)
        why = ["nothing checked yet"]

        def recovered():
            why[0] = self.unrecovered(stack, target, probes)
            return why[0] is None
        try:
            aggtest.wait_until(recovered, self.recovery_timeout_s,
                               "recovery from %s of %s" % (self.kind, target), interval=0.2)
        except AssertionError as e:
            raise AssertionError("%s; still: %s\n%s" % (
                e, why[0], "\n".join(_log_tail(stack, n) for n in self.evidence(stack, target))))
        return t_kill, time.monotonic()


class GatewayKill(Fault):
    """kill -9 of a gateway: its streams resume on the other one (Last-Event-ID), answers reach
    the other through the service; restarted, it serves sessions again."""
    kind = "gateway kill -9"

    def targets(self, stack):
        return ["gateway-%d" % i for i in range(stack.n_gateways)]


class WorkerKill(Fault):
    """kill -9 of a worker: what it had not committed is delivered again to the others once the
    group drops it (KAFKA_SESSION_TIMEOUT_MS); restarted, it joins again."""
    kind = "worker kill -9"
    redelivers = True

    def targets(self, stack):
        return ["worker-%d" % i for i in range(stack.n_workers)]


class RedisRestart(Fault):
    """kill -9 of the Redis server and a restart on its port and its append-only file: every
    acknowledged write is in the file (written before the reply; only fsync waits a second),
    so state survives; meanwhile readiness is DOWN and calls wait and retry."""
    kind = "redis kill -9"
    redelivers = True

    def targets(self, stack):
        # With Sentinel, a dead primary is a failover (SentinelFailover), not a restart.
        return ["redis"] if "redis" in stack.procs and stack.redis_mode != "sentinel" else []


class KafkaRestart(Fault):
    """kill -9 of the single Kafka broker and a restart on its log: producers retry, consumers
    resume from their committed offsets (so messages are delivered again). An answer that a
    gateway could not produce in KAFKA_PRODUCE_TIMEOUT_MS was refused with 503; the
    resource-sim retries it with a backoff doubling from 200 ms (CALLBACK_RETRIES), so after
    the broker is back it may still wait out one backoff: answer_slack_s."""
    kind = "kafka broker kill -9"
    redelivers = True
    answer_slack_s = 30.0

    def targets(self, stack):
        return ["kafka"] if stack.kafka_mode == "real" and "kafka" in stack.procs else []


class SentinelFailover(Fault):
    """kill -9 of the Redis primary: the sentinels promote the replica (down after 1 s); every
    gateway and worker asks the sentinels, checks ROLE and reconnects to it; the old primary,
    started again, becomes the new one's replica. Replication is asynchronous: writes the old
    primary acknowledged but had not yet sent are lost with it, and a session that lost its
    state ends with `aborted` (session-lost); those are counted, not failed."""
    kind = "redis primary kill -9 (sentinel failover)"
    redelivers = True
    loses_sessions = True

    def targets(self, stack):
        if stack.redis_mode != "sentinel":
            return []
        name = stack.redis_primary_name()
        return [name] if name else []

    def inject(self, stack, target):
        old = stack.redis_primary()
        stack.kill(target, signal.SIGKILL)
        assert stack.wait_exit(target, 30) is not None, "%s did not die on kill -9" % target
        stack.wait_redis_failover(old, timeout=60)
        stack.restart(target, wait_ready=False)

    def unrecovered(self, stack, target, probes):
        port = int(stack.procs[target].argv[stack.procs[target].argv.index("--port") + 1])
        # A replica, and synced: a failover to a replica still in its first full sync would
        # promote an empty server (two faults at once).
        info = stackmod.redis_cmd(port, "INFO", "replication") or ""
        if "role:slave" not in info or "master_link_status:up" not in info:
            return "%s not a synced replica yet: %s" % (
                target, " ".join(ln for ln in info.split() if ln.startswith(
                    ("role:", "master_host", "master_port", "master_link_status",
                     "master_sync_in_progress"))) or "no INFO")
        return super().unrecovered(stack, target, probes)

    def evidence(self, stack, target):
        return ["redis", "redis-replica"] + [n for n in stack.procs if n.startswith("sentinel-")]


class KafkaBrokerKill(Fault):
    """kill -9 of one broker of three (replication factor 3, min.insync.replicas 2): its
    partitions' leadership moves to the others once it is fenced; producers and consumers go on
    there; the restarted broker catches up and rejoins the ISRs. Answers refused meanwhile are
    retried by the resource (answer_slack_s, as for a single broker)."""
    kind = "kafka broker kill -9 (1 of 3)"
    redelivers = True
    answer_slack_s = 30.0

    def targets(self, stack):
        return stack.kafka_broker_names() if stack.kafka_mode == "real" and \
            stack.n_kafka_brokers > 1 else []

    def unrecovered(self, stack, target, probes):
        # Back in every ISR too: a second broker killed while one is still behind would leave
        # partitions below min.insync.replicas, which is two faults at once.
        return super().unrecovered(stack, target, probes) or (
            None if stack.kafka_isr_full() else "%s not back in every ISR" % target)


FAULTS = [GatewayKill(), WorkerKill(), RedisRestart(), KafkaRestart(), SentinelFailover(),
          KafkaBrokerKill()]
