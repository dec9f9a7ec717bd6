"""200 concurrent SSE sessions over both gateways: all complete, correct, without duplicates."""

import concurrent.futures

from aggtest import (SOURCES, check_session_events, metric, read_stream, start_session,
                     wait_until)

N = 200


def test_200_concurrent_sessions(gw):
    baseline = [metric(b, "sse_active_connections") or 0 for b in gw]

    def one(i):
        cid = start_session(gw[i % 2], "0,100,200", timeout_ms=20000,
                            patient="patient-load-%d" % i)
        st = read_stream(gw[(i + 1) % 2], cid, timeout=90)
        return cid, st
    with concurrent.futures.ThreadPoolExecutor(N) as pool:
        results = list(pool.map(one, range(N)))
    assert len({cid for cid, _ in results}) == N, "correlationIds must be unique"
    for i, (cid, st) in enumerate(results):
        assert st.status == 200
        by_source, summary = check_session_events(st.events, cid, "patient-load-%d" % i)
        assert len({e.id for e in st.events}) == len(st.events) == 4
        assert sorted(by_source) == list(SOURCES)
        assert (summary["respondents"], summary["errors"], summary["completedBy"]) == \
            (3, 0, "ALL_RESPONDED")
    for b, base in zip(gw, baseline):
        wait_until(lambda b=b, base=base: (metric(b, "sse_active_connections") or 0) <= base, 15,
                   "closed streams released on %s" % b)
