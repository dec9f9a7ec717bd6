"""Health and metrics endpoints of every process, checked against the schemas."""

import requests

from aggtest import TOPIC_CALLBACKS, TOPIC_REQUESTS, metric, schemas


def _health(url, spec="openapi.yaml"):
    for path in ("/actuator/health", "/actuator/health/liveness", "/actuator/health/readiness"):
        r = requests.get(url + path, timeout=10)
        assert r.status_code == 200, (url + path, r.status_code, r.text)
        assert r.headers.get("Content-Type", "").startswith("application/json")
        body = r.json()
        schemas().check_component("Health", body, spec)
        assert body["status"] == "UP", body


def test_gateway_health_and_metrics(gw):
    for base in gw:
        _health(base)
        r = requests.get(base + "/actuator/health", timeout=10)
        comps = r.json().get("components", {})
        assert {"redis", "kafka"} <= set(comps), comps
        assert metric(base, "sse_active_connections") is not None


def test_worker_health_and_metrics(workers):
    for base in workers:
        _health(base)
        assert metric(base, "worker_messages_total", topic=TOPIC_REQUESTS) is not None
        assert metric(base, "worker_bad_messages_total", topic=TOPIC_CALLBACKS) is not None
        assert metric(base, "callbacks_dropped_total", reason="duplicate") is not None


def test_resource_health(stack):
    for i in range(stack.n_resources):
        _health(stack.resource_url(i), "resource-sim.openapi.yaml")


def test_resource_sim_direct_api(stack):
    base = stack.resource_url(0)
    r = requests.post(base + "/journals/direct", json={"patientId": "p-direct", "delay": 0},
                      timeout=10)
    assert r.status_code == 200, r.text
    body = r.json()
    schemas().check_component("DirectResponse", body, "resource-sim.openapi.yaml")
    assert body["status"] == "ok" and len(body["notes"]) == 3 and body["source"] == "resource-1"
    r = requests.post(base + "/journals/direct", json={"patientId": "p-direct", "delay": -1},
                      timeout=10)
    assert r.status_code == 200, r.text
    body = r.json()
    schemas().check_component("DirectResponse", body, "resource-sim.openapi.yaml")
    assert body["status"] == "REJECTED" and body["notes"] is None


def test_cors_preflight_allows_the_web_origin(gw):
    r = requests.options(gw[0] + "/aggregate/journals", timeout=10, headers={
        "Origin": "http://localhost:8082", "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "content-type"})
    assert r.status_code in (200, 204), r.status_code
    assert r.headers.get("Access-Control-Allow-Origin") == "http://localhost:8082"
