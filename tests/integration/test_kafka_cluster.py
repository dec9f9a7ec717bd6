"""A 3-broker KRaft cluster (replication factor 3, min.insync.replicas 2, the producers' acks=all
and idempotence): kill -9 of the broker leading the busiest partitions under steady load loses
no acknowledged request or answer, repeats no event, writes no fan-out message twice, and the
consumers go on; the broker restarted catches up. Prints how long the consumers paused.

The cluster has its own stack (module scope: 3 brokers, Redis, a gateway, 2 workers, the 3
resources), started only for this module; the session's stack is not touched."""

import os
import signal
import time

import pytest

import aggtest
import conftest
import stack as stackmod  # demo/stack.py, on the path from conftest
from eventsource import Gateways, SteadyLoad
from kafkaload import (IntakePoller, TimedStream, all_ready, callback_copies, event_times,
                       longest_gap, request_copies, verdict)

BROKERS = 3
RATE = 10                 # sessions/s, each with three resources
DELAYS = "200,600,1200"
TIMEOUT_MS = 20000        # room for an answer refused during the election to be retried
READY_TIMEOUT_S = 120


@pytest.fixture(scope="module")
def cluster():
    t0 = time.monotonic()
    s = stackmod.Stack(build_dir=os.environ.get("AGG_BUILD_DIR", "build"), kafka="real",
                       kafka_brokers=BROKERS, gateways=1, workers=2, free_ports=True,
                       log_level=os.environ.get("LOG_LEVEL", "info"), ready_timeout=150.0,
                       # a resource retries an answer refused while leaders move (backoff
                       # from 200 ms, doubling), as a real resource should
                       env={"CALLBACK_RETRIES": "10"})
    try:
        s.start()
    except stackmod.StackError as e:
        pytest.fail("the 3-broker stack did not start: %s" % e, pytrace=False)
    tap = None
    try:
        def one_session():
            cid = aggtest.start_session(s.gateway_url(0), "0,0,0", timeout_ms=5000,
                                        patient="patient-warm-up")
            st = aggtest.read_stream(s.gateway_url(0), cid, timeout=15)
            return st.events and st.events[-1].event == "summary" and \
                st.events[-1].json["respondents"] == 3
        aggtest.wait_until(one_session, READY_TIMEOUT_S, "a first session on the cluster",
                           interval=0.5)
        took = time.monotonic() - t0
        conftest._stack_report.append("kafka cluster (%d brokers): started and warm in %.1f s; "
                                      "logs %s" % (BROKERS, took, s.run_dir))
        print("kafka cluster: %d brokers started, first session complete, in %.1f s"
              % (BROKERS, took))
        tap = aggtest.KafkaTap(s.kafka_brokers)
        yield s, tap
    finally:
        if tap is not None:
            tap.stop()
        s.stop()
        conftest._scan_logs(s)


def test_kill_9_of_the_busiest_leader_loses_nothing(cluster):
    s, tap = cluster
    services = s.gateway_urls + s.worker_urls
    load = SteadyLoad(Gateways(s.gateway_urls), RATE, DELAYS, timeout_ms=TIMEOUT_MS,
                      patient="patient-cluster", stream_budget_s=90, stream_cls=TimedStream)
    intake = IntakePoller(s.worker_urls)
    intake.start()
    before = s.kafka_high_watermarks()
    load.start()
    victim = None
    try:
        aggtest.wait_until(lambda: len(load.streams) >= 2 * RATE, 30, "load under way")
        leader, by_broker = s.kafka_busiest_broker(since=before)
        assert by_broker[leader] > 0, by_broker
        victim = s.kafka_broker_name(leader)
        admin = s.kafka_admin()
        led = sum(1 for x in s.kafka_leaders(admin=admin).values() if x == leader)
        t_kill = time.monotonic()
        s.kill(victim, signal.SIGKILL)
        assert s.wait_exit(victim, 10) is not None

        def moved():
            ls = s.kafka_leaders(timeout=1.0, admin=admin)
            return ls if ls and all(x not in (leader, -1) for x in ls.values()) else None
        leaders = aggtest.wait_until(moved, 60, "every partition led by a live broker")
        t_moved = time.monotonic()
        n = len(load.streams)
        aggtest.wait_until(lambda: len(load.streams) >= n + 3 * RATE, 60,
                           "load goes on with %s dead" % victim)
        t_restart = time.monotonic()
        s.restart(victim)  # same ports and data: it fetches what it missed
        t_listening = time.monotonic()
        aggtest.wait_until(s.kafka_isr_full, 90, "every replica back in sync")
        t_synced = time.monotonic()
        n = len(load.streams)
        aggtest.wait_until(lambda: len(load.streams) >= n + 2 * RATE, 60,
                           "load goes on after the restart")
        aggtest.wait_until(lambda: all_ready(services), 30, "every gateway and worker ready")
    finally:
        load.stop()
        if victim and not s.alive(victim):
            s.restart(victim)
    stuck = load.wait_streams(120)
    intake.stop()
    v = verdict(load.streams, TIMEOUT_MS, t_kill, t_moved)
    cids = [st.cid for st in load.streams]
    tap.caught_up(60)
    copies = request_copies(tap, cids)
    answer_repeats = callback_copies(tap, cids)
    gap, gap_at = longest_gap(event_times(load), t_kill - 1, t_moved + 10)
    stall, stall_at = intake.longest_stall(t_kill - 1, t_moved + 10)
    print("kafka cluster: killed %s (leader of %d of %d partitions; messages by leader since "
          "the load began: %s); leaders moved in %.1f s; %d sessions: %d complete, %d ended by "
          "deadline, %d lost, %d broken; %d starts retried after a 503; %d answers written "
          "twice (a resource's retry, applied once); longest gap between events %.1f s "
          "(from %+.1f s of the kill), in the workers' intake %.1f s (from %+.1f s); restarted "
          "broker listening after %.1f s, in sync after %.1f s"
          % (victim, led, 2 * stackmod.TOPIC_PARTITIONS,
             by_broker, t_moved - t_kill, len(cids), len(v["complete"]), len(v["by_deadline"]),
             len(v["lost"]), len(v["broken"]), load.retried_starts, answer_repeats, gap,
             gap_at - t_kill, stall, stall_at - t_kill, t_listening - t_restart,
             t_synced - t_restart))
    assert not load.start_failures, load.start_failures[:3]
    assert not stuck, "streams not complete: %r" % [(st.cid, st.events) for st in stuck[:3]]
    assert not v["broken"], v["broken"][:3]
    # RF 3 and acks=all: every accepted session's answers reached the summary, none by deadline
    assert not v["lost"] and not v["by_deadline"], (v["lost"][:3], v["by_deadline"][:3])
    assert not copies, "fan-out messages not written exactly once: %r" % list(copies.items())[:5]
    assert all(v2 != leader for v2 in leaders.values())
    for name in ["gateway-0", "worker-0", "worker-1"]:
        assert s.procs[name].restarts == 0 and s.alive(name), name
