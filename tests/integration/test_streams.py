"""When the client connects: after the summary, before any callback, mid-way; and resuming with
Last-Event-ID (header and query) on another gateway."""

import pytest

from aggtest import (SOURCES, SSEStream, check_session_events, read_stream, session_done,
                     session_key, start_session, wait_until)


def test_client_connects_after_summary_gets_full_replay(gw, redis):
    cid = start_session(gw[0], "0,0,0")
    wait_until(lambda: session_done(redis, cid), 30, "session %s done" % cid)
    for base in gw:  # every gateway replays it, and closes the stream after the summary
        st = read_stream(base, cid, timeout=15)
        assert st.status == 200
        assert st.closed
        by_source, summary = check_session_events(st.events, cid)
        assert sorted(by_source) == list(SOURCES)
        assert summary["respondents"] == 3 and summary["completedBy"] == "ALL_RESPONDED"


def test_client_connects_before_any_callback(gw, redis):
    cid = start_session(gw[0], "1500,1500,1500")
    st = SSEStream(gw[1], cid)
    assert st.status == 200
    # Connected while nothing is logged yet (every delay is 1.5 s).
    assert int(redis.cmd("XLEN", session_key(cid, "log"))) == 0
    st.read_all(30)
    by_source, summary = check_session_events(st.events, cid)
    assert sorted(by_source) == list(SOURCES) and summary["respondents"] == 3


def test_client_connects_mid_way(gw, redis):
    cid = start_session(gw[1], "0,1500,3000")
    key = session_key(cid, "log")
    wait_until(lambda: int(redis.cmd("XLEN", key)) >= 1, 20, "first event logged")
    assert not session_done(redis, cid)
    st = SSEStream(gw[0], cid)
    st.read_all(30)
    by_source, summary = check_session_events(st.events, cid)
    assert sorted(by_source) == list(SOURCES) and summary["respondents"] == 3


@pytest.mark.parametrize("how", ["header", "query"])
def test_resume_with_last_event_id_on_another_gateway(gw, how):
    cid = start_session(gw[0], "0,1000,2000")
    first = SSEStream(gw[0], cid)
    got = first.read_events(2, 20)
    first.close()
    assert [e.id for e in got] == [1, 2]
    last = got[-1].id
    if how == "header":
        second = SSEStream(gw[1], cid, last_event_id=last)
    else:
        second = SSEStream(gw[1], cid, query_last_id=last)
    assert second.status == 200
    rest = second.read_all(30)
    assert [e.id for e in rest] == [3, 4], "exactly the rest, no duplicates: %r" % rest
    check_session_events(got + rest, cid)


def test_resume_from_the_middle_of_a_finished_session(gw, redis):
    cid = start_session(gw[1], "0,0,0")
    wait_until(lambda: session_done(redis, cid), 30, "session done")
    st = read_stream(gw[0], cid, last_event_id=1)
    assert [e.id for e in st.events] == [2, 3, 4]
    check_session_events(st.events, cid, first_id=2)


def test_resume_after_the_summary_ends_at_once(gw, redis):
    """An EventSource reconnects after the server closes; Last-Event-ID = the summary's id must
    not hang: either 204 (stop reconnecting) or 200 with nothing, closed."""
    cid = start_session(gw[0], "0,0,0")
    wait_until(lambda: session_done(redis, cid), 30, "session done")
    st = SSEStream(gw[1], cid, last_event_id=4, timeout=10)
    if st.status == 200:
        st.read_all(10)
    assert st.status in (200, 204), st.status
    assert st.events == []
