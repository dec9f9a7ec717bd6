"""Admission beyond the rate: MAX_SSE_STREAMS and MAX_SESSIONS_IN_FLIGHT give 503 with
Retry-After and their codes, counted by reason; RATE_LIMIT_SCOPE=cluster shares one bucket per
client between gateways through Redis, and falls back to each gateway's own bucket (said once,
counted) when the shared one fails."""

import json
import math
import time

import requests

from aggtest import SSEStream, check_error_body, metric, start_session, wait_until
from privateproc import PrivateGateway

CLIENT_KEY = "agg:rl:{127.0.0.1}"  # the tests' client address, as the gateway keys it


def post_session(base, timeout_ms=3000, delays="0,0,0"):
    return requests.post(base + "/aggregate/journals", timeout=10,
                         headers={"Content-Type": "application/json"},
                         data=json.dumps({"patientId": "patient-adm", "delays": delays,
                                          "timeoutMs": timeout_ms, "strategy": "SSE"}))


def refused(g, reason):
    return metric(g.url, "gateway_admission_refused_total", reason=reason) or 0


def expect_503(r, code):
    assert r.status_code == 503, (r.status_code, r.text)
    assert check_error_body(r)["error"] == code
    assert int(r.headers["Retry-After"]) >= 1


def admitted_until_refused(bases, rps, limit):
    """Posts sessions round-robin over bases until one gets 429 (at most limit); returns how
    many were admitted and how many tokens may have refilled meanwhile (elapsed x rps)."""
    start = time.monotonic()
    admitted = 0
    for i in range(limit):
        code = post_session(bases[i % len(bases)]).status_code
        if code == 429:
            break
        assert code == 202, code
        admitted += 1
    else:
        raise AssertionError("no 429 after %d sessions" % limit)
    return admitted, math.ceil((time.monotonic() - start) * rps)


def test_streams_over_max_sse_streams_get_503_then_room_again(stack, gw):
    g = PrivateGateway(stack, {"MAX_SSE_STREAMS": 2})
    streams = []
    try:
        # A session that stays open (resource-1 never calls back) long enough to stream.
        cid = start_session(gw[0], "-4", timeout_ms=20000)
        streams = [SSEStream(g.url, cid) for _ in range(2)]
        assert [s.status for s in streams] == [200, 200]
        third = requests.get(g.url + "/aggregate/stream", params={"correlationId": cid},
                             timeout=10)
        expect_503(third, "too_many_streams")
        assert refused(g, "too_many_streams") == 1
        assert refused(g, "too_many_sessions") == 0
        # Sessions are not streams: still admitted.
        assert post_session(g.url).status_code == 202
        streams.pop().close()

        def admitted():
            s = SSEStream(g.url, cid)
            if s.status == 200:
                streams.append(s)
                return True
            assert s.json["error"] == "too_many_streams"
            return False
        wait_until(admitted, 10, "a stream admitted once one closed")
    finally:
        for s in streams:
            s.close()
        g.stop()


def test_sessions_over_max_sessions_in_flight_get_503_until_a_deadline_passes(stack):
    g = PrivateGateway(stack, {"MAX_SESSIONS_IN_FLIGHT": 2})
    try:
        # Counted until the deadline, answered or not: these complete at once.
        assert [post_session(g.url, timeout_ms=1500).status_code for _ in range(2)] == [202, 202]
        assert g.metric("gateway_sessions_in_flight") == 2
        expect_503(post_session(g.url), "too_many_sessions")
        assert refused(g, "too_many_sessions") == 1
        # Streams are not sessions: a stream of a finished session is still served.
        wait_until(lambda: post_session(g.url, timeout_ms=1500).status_code == 202, 10,
                   "a session admitted once the first deadlines passed")
    finally:
        g.stop()


def test_zero_is_no_cap(stack):
    g = PrivateGateway(stack, {"MAX_SESSIONS_IN_FLIGHT": 0, "MAX_SSE_STREAMS": 0})
    try:
        assert [post_session(g.url).status_code for _ in range(5)] == [202] * 5
        assert g.metric("gateway_sessions_in_flight") == 0  # not counted without a cap
    finally:
        g.stop()


def test_cluster_scope_shares_one_bucket_between_gateways(stack, redis):
    burst = 4
    # One token per 100 s: nothing refills during the test.
    env = {"RATE_LIMIT_RPS": 1, "RATE_LIMIT_BURST": burst, "RATE_LIMIT_SCOPE": "cluster"}
    redis.cmd("DEL", CLIENT_KEY)
    gs = [PrivateGateway(stack, env), PrivateGateway(stack, env)]
    try:
        # Alternating between the two, the client gets the burst once in all, not once each
        # (a bucket per gateway would admit 2 x burst).
        admitted, refilled = admitted_until_refused([g.url for g in gs], 1, 4 * burst)
        assert burst <= admitted <= burst + refilled < 2 * burst, (admitted, refilled)
        assert sum(g.metric("gateway_rate_limited_total") for g in gs) == 1
        assert redis.cmd("PTTL", CLIENT_KEY) > 0  # the shared bucket has a TTL
        assert all(g.metric("gateway_rate_limit_fallbacks_total") == 0 for g in gs)
    finally:
        for g in gs:
            g.stop()
        redis.cmd("DEL", CLIENT_KEY)


def test_local_scope_is_a_bucket_per_gateway(stack):
    burst = 2
    env = {"RATE_LIMIT_RPS": 1, "RATE_LIMIT_BURST": burst}
    gs = [PrivateGateway(stack, env), PrivateGateway(stack, env)]
    try:
        admitted, _ = admitted_until_refused([g.url for g in gs], 1, 8 * burst)
        assert admitted >= 2 * burst, admitted
    finally:
        for g in gs:
            g.stop()


def test_cluster_scope_falls_back_to_the_local_bucket_when_redis_fails(stack, redis):
    burst = 3
    env = {"RATE_LIMIT_RPS": 1, "RATE_LIMIT_BURST": burst, "RATE_LIMIT_SCOPE": "cluster"}
    # A key of the wrong type makes the script fail (WRONGTYPE), as a Redis in trouble would,
    # while the sessions themselves still work.
    redis.cmd("SET", CLIENT_KEY, "not a hash", "EX", "60")
    g = PrivateGateway(stack, env)
    try:
        # The local bucket limits meanwhile.
        admitted, refilled = admitted_until_refused([g.url], 1, 4 * burst)
        assert burst <= admitted <= burst + refilled, (admitted, refilled)
        assert g.metric("gateway_rate_limit_fallbacks_total") == admitted + 1
        lines = [l for l in g.log().splitlines() if "shared rate limit in Redis failed" in l]
        assert len(lines) == 1, lines  # said once
        assert "WRONGTYPE" in lines[0]
        redis.cmd("DEL", CLIENT_KEY)
        r = post_session(g.url)  # the shared bucket answers again (a fresh, full one)
        assert r.status_code == 202, r.text
        wait_until(lambda: "shared rate limit answers again" in g.log(), 10,
                   "the gateway back on the shared bucket")
        assert redis.cmd("TYPE", CLIENT_KEY) == "hash"
        # A stream admitted after the shared bucket's answer (the request waited for Redis).
        s = SSEStream(g.url, r.json()["correlationId"])
        assert s.status == 200
        s.close()
    finally:
        g.stop()
        redis.cmd("DEL", CLIENT_KEY)


def test_bad_scope_is_a_configuration_error(stack):
    g = PrivateGateway(stack, {"RATE_LIMIT_SCOPE": "global"}, wait=None)
    assert g.popen.wait(30) == 2
    assert "RATE_LIMIT_SCOPE must be local or cluster" in g.log()


def test_connections_beyond_max_connections_get_503_and_close(stack):
    import http.client
    limit = 8
    g = PrivateGateway(stack, {"MAX_CONNECTIONS": limit})
    port = int(g.url.rsplit(":", 1)[1])
    held = []
    try:
        # limit kept-alive connections, each known to be accepted (it got an answer).
        for _ in range(limit):
            c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
            c.request("GET", "/actuator/health/liveness")
            assert c.getresponse().read() and True
            held.append(c)
        # One more: a status and a close, not a reset.
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        c.request("POST", "/aggregate/journals", body=json.dumps({"patientId": "p"}),
                  headers={"Content-Type": "application/json"})
        r = c.getresponse()
        body = json.loads(r.read())
        assert r.status == 503, (r.status, body)
        assert body["error"] == "too_many_connections"
        assert r.getheader("Retry-After") == "1"
        assert r.getheader("Connection", "").lower() == "close"
        c.close()
        # The probes are answered even beyond the limit: a full replica is not a dead one.
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        c.request("GET", "/actuator/health/liveness")
        assert c.getresponse().status == 200
        c.close()
    finally:
        for c in held:
            c.close()
    try:
        # Back under the limit once the gateway saw the held connections go.
        # Until the gateway has seen them go, a scrape may be beyond the limit too: each such
        # 503 is one more refusal.
        polls_refused = [0]

        def refused_once():
            r = requests.get(g.url + "/actuator/prometheus", timeout=10)
            if r.status_code == 503:
                polls_refused[0] += 1
                return False
            return r.status_code == 200 and \
                "\ngateway_http_connections_refused_total %d\n" % (1 + polls_refused[0]) in r.text
        wait_until(refused_once, 10, "the refusal counted, and the gateway reachable again")
        assert post_session(g.url).status_code == 202
    finally:
        g.stop()
