"""A rolling restart of every gateway, then every worker, one at a time, under steady load with
clients that reconnect as EventSource does: no session is lost, no stream misses or repeats an
event, and every replica stopped with SIGTERM exits 0 within SHUTDOWN_TIMEOUT_S."""

import signal
import time

import pytest

import aggtest
from eventsource import Gateways, SteadyLoad

RATE = 20              # sessions/s, every one with three resources
DELAYS = "400,1500,3000"
SHUTDOWN_TIMEOUT_S = 25  # the services' default


def _sigterm_and_restart(stack, load, name, report):
    t0 = time.monotonic()
    stack.kill(name, signal.SIGTERM)
    rc = stack.wait_exit(name, SHUTDOWN_TIMEOUT_S + 5)
    took = time.monotonic() - t0
    assert rc == 0, "%s exited with %r after SIGTERM (%.1f s)" % (name, rc, took)
    assert took <= SHUTDOWN_TIMEOUT_S + 1, "%s took %.1f s to stop" % (name, took)
    stack.restart(name)  # same port and environment; waits until it is ready
    report.append("%s: stopped in %.1f s, back in %.1f s" % (name, took, time.monotonic() - t0))
    n = len(load.streams)  # sessions keep starting on the restarted set before the next one goes
    aggtest.wait_until(lambda: len(load.streams) >= n + RATE, 30, "load after %s" % name)


@pytest.mark.destructive
def test_rolling_restart_loses_no_session_and_no_event(stack):
    assert stack.n_gateways >= 2 and stack.n_workers >= 2
    gws = Gateways([stack.gateway_url(i) for i in range(stack.n_gateways)])
    load = SteadyLoad(gws, RATE, DELAYS)
    report = []
    load.start()
    try:
        aggtest.wait_until(lambda: len(load.streams) >= 2 * RATE, 30, "load under way")
        for i in range(stack.n_gateways):
            _sigterm_and_restart(stack, load, "gateway-%d" % i, report)
        for i in range(stack.n_workers):
            _sigterm_and_restart(stack, load, "worker-%d" % i, report)
        n_before = len(load.streams)
        aggtest.wait_until(lambda: len(load.streams) >= n_before + 2 * RATE, 30,
                           "load goes on after the restarts")
    finally:
        load.stop()
    stuck = load.wait_streams(90)
    assert not load.start_failures, load.start_failures[:3]
    assert not stuck, "streams not complete: %r" % [(s.cid, s.events) for s in stuck[:3]]
    lost, broken = [], []
    for s in load.streams:
        if s.error is not None:
            broken.append((s.cid, repr(s.error)[:300]))
            continue
        # check_session_events: ids consecutive from 1 (no gap, no repeat), one summary, last.
        try:
            _, summary = aggtest.check_session_events(s.events, s.cid)
        except AssertionError as e:
            broken.append((s.cid, str(e)[:300]))
            continue
        if summary["respondents"] != 3:
            lost.append((s.cid, summary))
    reconnected = sum(1 for s in load.streams if s.connects > 1)
    print("rolling restart: %d sessions, %d lost, %d streams broken, %d reconnected, "
          "%d starts retried on another gateway; %s"
          % (len(load.streams), len(lost), len(broken), reconnected, load.retried_starts,
             "; ".join(report)))
    assert not broken, broken[:3]
    assert not lost, lost[:3]
    assert reconnected > 0, "no stream was handed over: the test proved nothing"
