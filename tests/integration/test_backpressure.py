"""A worker at WORKER_MAX_IN_FLIGHT stops taking messages from Kafka and resumes: nothing is lost."""

import concurrent.futures

from aggtest import SOURCES, check_session_events, metric_sum, read_stream, start_session

N = 30


def test_intake_held_at_max_in_flight_loses_nothing(stack, gw, workers):
    names = ["worker-%d" % i for i in range(stack.n_workers)]
    for n in names:
        stack.restart(n, env={"WORKER_MAX_IN_FLIGHT": 1})
    try:
        def one(i):
            cid = start_session(gw[i % 2], "0,0,0", timeout_ms=20000,
                                patient="patient-bp-%d" % i)
            return cid, read_stream(gw[(i + 1) % 2], cid, timeout=60)
        with concurrent.futures.ThreadPoolExecutor(N) as pool:
            results = list(pool.map(one, range(N)))
        for i, (cid, st) in enumerate(results):
            by_source, summary = check_session_events(st.events, cid, "patient-bp-%d" % i)
            assert sorted(by_source) == list(SOURCES)
            assert (summary["respondents"], summary["completedBy"]) == (3, "ALL_RESPONDED")
        # 30 sessions are 120 messages, handled one at a time: the intake was held.
        assert (metric_sum(workers, "worker_intake_holds_total") or 0) > 0
    finally:
        for n in names:
            stack.restart(n, env={"WORKER_MAX_IN_FLIGHT": None})


def test_gateway_sheds_new_sessions_past_max_pending_and_finishes_the_rest(stack, gw):
    # Gateway 1 with room for one request waiting for Kafka: of a burst, some are refused.
    stack.restart("gateway-1", env={"MAX_PENDING_PUBLISHES": 1})
    try:
        from aggtest import metric, post_journals
        body = {"patientId": "patient-shed", "delays": "0,0,0", "timeoutMs": 20000}
        with concurrent.futures.ThreadPoolExecutor(40) as pool:
            answers = list(pool.map(lambda i: post_journals(gw[1], body), range(40)))
        shed = [r for r in answers if r.status_code == 503]
        accepted = [r for r in answers if r.status_code == 202]
        assert len(shed) + len(accepted) == 40
        assert shed and accepted, [r.status_code for r in answers]
        assert all(r.json()["error"] == "overloaded" for r in shed)
        assert metric(gw[1], "gateway_sessions_shed_total") == len(shed)
        # Every session that was accepted completes normally.
        for r in accepted:
            cid = r.json()["correlationId"]
            by_source, summary = check_session_events(read_stream(gw[0], cid, timeout=60).events,
                                                      cid, "patient-shed")
            assert summary["respondents"] == 3
    finally:
        stack.restart("gateway-1", env={"MAX_PENDING_PUBLISHES": None})
