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
