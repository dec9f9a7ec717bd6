"""No SSRF: the URLs the system calls come only from configuration. Requests that name URLs
in extra fields (resources, callbackUrl, url) are answered as the schema says (the fields are
ignored) and nothing ever connects to those URLs; the fan-out message carries the configured
RESOURCE_URLS and AGGREGATOR_CALLBACK_URL only; a gateway configured with a resource the
workers' RESOURCE_URLS does not list cannot make a worker call it; a worker with its own
AGGREGATOR_CALLBACK_URL gives resources that URL only, whatever a fan-out message names."""

import json
import socket
import threading

import pytest

from aggtest import (TOPIC_CALLBACKS, TOPIC_REQUESTS, check_session_events, make_callback,
                     post_callback, post_journals, read_stream)
from privateproc import PrivateGateway, PrivateProc, private_topics


class Listener:
    """A TCP port that must see no connection: it counts every one it accepts."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.url = "http://127.0.0.1:%d" % self.sock.getsockname()[1]
        self.accepted = 0
        self._stop = False
        self._t = threading.Thread(target=self._run, daemon=True)
        self._t.start()

    def _run(self):
        self.sock.settimeout(0.2)
        while not self._stop:
            try:
                c, _ = self.sock.accept()
            except OSError:
                continue
            self.accepted += 1
            c.close()

    def close(self):
        self._stop = True
        self._t.join(5)
        self.sock.close()


@pytest.fixture
def listener():
    lst = Listener()
    yield lst
    lst.close()


def hostile_bodies(url):
    base = {"patientId": "patient-ssrf", "delays": "0,0,0", "timeoutMs": 5000, "strategy": "SSE"}
    return [
        dict(base, resources=[{"source": "evil", "url": url}]),
        dict(base, callbackUrl=url + "/aggregate/callback"),
        dict(base, url=url),
        dict(base, resourceUrls=url, RESOURCE_URLS=url, callback={"url": url}),
    ]


def test_urls_in_a_journal_request_are_ignored_and_never_called(stack, gw, kafka_tap, listener):
    configured_callback = (stack.service_url or stack.gateway_url(0)) + "/aggregate/callback"
    for body in hostile_bodies(listener.url):
        # JournalRequest allows other members and ignores them: accepted, as without them.
        r = post_journals(gw[0], body)
        assert r.status_code == 202, (body, r.text)
        cid = r.json()["correlationId"]
        assert r.json()["resources"] == 3  # the configured ones; "evil" is not among them
        s = read_stream(gw[0], cid, timeout=20)
        by_source, summary = check_session_events(s.events, cid)
        assert sorted(by_source) == ["resource-1", "resource-2", "resource-3"]
        assert summary["respondents"] == 3
        (msg,) = kafka_tap.wait_for(TOPIC_REQUESTS, cid)
        fanout = json.loads(msg["value"])
        assert fanout["callbackUrl"] == configured_callback, fanout
        assert [x["url"] for x in fanout["resources"]] == stack.resource_urls, fanout
        assert listener.url.encode() not in msg["value"]
    # Every session completed, so every call that was ever made has been made.
    assert listener.accepted == 0


def test_urls_in_an_answer_are_dropped(gw, kafka_tap, listener):
    r = post_journals(gw[0], {"patientId": "patient-123", "delays": "-4,-4,-4", "timeoutMs": 3000})
    cid = r.json()["correlationId"]
    answer = dict(make_callback(cid, "resource-1"), url=listener.url,
                  callbackUrl=listener.url, resources=[{"url": listener.url}])
    assert post_callback(gw[0], answer).status_code == 202
    (msg,) = kafka_tap.wait_for(TOPIC_CALLBACKS, cid)
    assert listener.url.encode() not in msg["value"]  # the normalised answer has no such field
    read_stream(gw[0], cid, timeout=20)  # the session ends (resource-2 and -3 by the deadline)
    assert listener.accepted == 0


def test_a_resource_the_workers_do_not_list_is_never_called(stack, listener):
    # A gateway (mis)configured with a resource outside the workers' RESOURCE_URLS: the
    # workers refuse to call it (outcome ERROR) and the session goes on with the others.
    urls = ",".join(stack.resource_urls + ["evil=" + listener.url])
    g = PrivateGateway(stack, {"RESOURCE_URLS": urls})
    try:
        r = post_journals(g.url, {"patientId": "patient-ssrf", "delays": "0,0,0,0",
                                  "timeoutMs": 5000})
        assert r.status_code == 202, r.text
        cid = r.json()["correlationId"]
        s = read_stream(g.url, cid, timeout=20)
        by_source, summary = check_session_events(s.events, cid)
        assert by_source["evil"]["status"] == "ERROR", by_source["evil"]
        assert summary["respondents"] == 3
        assert listener.accepted == 0
    finally:
        g.stop()


def test_a_worker_gives_resources_only_its_own_callback_url(stack, listener):
    # A fan-out message that names another callbackUrl (here a gateway configured with the
    # listener's, as a forged message on the requests topic would): the worker's own
    # AGGREGATOR_CALLBACK_URL is what the resources get, so their answers never reach it.
    topics = private_topics(stack.kafka_brokers)
    g = PrivateGateway(stack, dict(topics, AGGREGATOR_CALLBACK_URL=listener.url +
                                   "/aggregate/callback"))
    w = None
    try:
        w = PrivateProc(stack, "worker", dict(topics, AGGREGATOR_CALLBACK_URL=g.url +
                                              "/aggregate/callback"))
        r = post_journals(g.url, {"patientId": "patient-ssrf", "delays": "0,0,0",
                                  "timeoutMs": 5000})
        assert r.status_code == 202, r.text
        cid = r.json()["correlationId"]
        _, summary = check_session_events(read_stream(g.url, cid, timeout=20).events, cid)
        assert summary["respondents"] == 3 and summary["completedBy"] == "ALL_RESPONDED"
        assert listener.accepted == 0
        lines = [l for l in w.log().splitlines() if "resources are given" in l]
        assert len(lines) == 1 and listener.url in lines[0], lines
    finally:
        if w:
            assert w.stop() == 0
        g.stop()
