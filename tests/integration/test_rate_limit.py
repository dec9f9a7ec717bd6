"""Admission by rate: a client address over RATE_LIMIT_RPS gets 429 with Retry-After and the
RateLimit headers, on sessions and streams, and is admitted again once its bucket refilled;
callbacks and probes are never limited."""

import json

import requests

from aggtest import check_error_body, make_callback, post_callback, wait_until
from privateproc import PrivateGateway

BURST = 3


def post_session(base):
    return requests.post(base + "/aggregate/journals", timeout=10,
                         headers={"Content-Type": "application/json"},
                         data=json.dumps({"patientId": "patient-rl", "delays": "0,0,0",
                                          "timeoutMs": 3000, "strategy": "SSE"}))


def test_a_client_over_the_rate_gets_429_then_is_admitted_again(stack):
    g = PrivateGateway(stack, {"RATE_LIMIT_RPS": 1, "RATE_LIMIT_BURST": BURST})
    try:
        accepted = [post_session(g.url) for _ in range(BURST)]
        assert [r.status_code for r in accepted] == [202] * BURST, [r.text for r in accepted]
        refused = post_session(g.url)
        assert refused.status_code == 429, refused.text
        check_error_body(refused)
        assert refused.json()["error"] == "rate_limited"
        h = refused.headers
        assert int(h["Retry-After"]) >= 1
        assert h["RateLimit-Limit"] == str(BURST) and h["RateLimit-Remaining"] == "0"
        assert 1 <= int(h["RateLimit-Reset"]) <= BURST
        # A stream is a request of the same client: refused too while the bucket is empty.
        cid = accepted[0].json()["correlationId"]
        r = requests.get(g.url + "/aggregate/stream", params={"correlationId": cid}, timeout=10)
        assert r.status_code == 429, r.text
        # Callbacks and probes are not counted against anybody.
        assert post_callback(g.url, make_callback(cid, "resource-1")).status_code == 202
        assert requests.get(g.url + "/actuator/health/readiness", timeout=5).status_code == 200
        assert g.metric("gateway_rate_limited_total") == 2
        # One token a second: the client is admitted again (no fixed sleep: the condition).
        wait_until(lambda: post_session(g.url).status_code == 202, 10,
                   "the client admitted again after its bucket refilled")
    finally:
        g.stop()


def test_without_a_rate_nothing_is_limited(gw):
    # The stack's gateways run without RATE_LIMIT_RPS: a burst far above any small limit passes.
    codes = [post_session(gw[0]).status_code for _ in range(20)]
    assert codes == [202] * 20
