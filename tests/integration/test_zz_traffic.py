"""After the other tests: all the Kafka traffic they caused matches the schemas, and every
process survived them without a sanitizer report."""

import json
import re

import pytest
import requests

from aggtest import INJECTED, TOPIC_CALLBACKS, TOPIC_REQUESTS, schemas

pytestmark = pytest.mark.late


def test_kafka_traffic_matches_schemas(kafka_tap):
    kafka_tap.caught_up()
    counts = {TOPIC_REQUESTS: 0, TOPIC_CALLBACKS: 0}
    for m in kafka_tap.snapshot():
        if m["value"] in INJECTED:
            continue
        value = json.loads(m["value"])
        schemas().check_kafka(m["topic"], value)
        assert m["key"] == value["correlationId"].encode(), \
            "message key must be the correlationId: %r" % m
        counts[m["topic"]] += 1
    assert counts[TOPIC_REQUESTS] > 0 and counts[TOPIC_CALLBACKS] > 0, counts


def test_every_process_survived(stack):
    dead = [p.name for p in stack.procs.values() if not p.alive()]
    assert dead == [], "exited: %s (logs in %s)" % (dead, stack.run_dir)
    for url in stack.gateway_urls + stack.worker_urls + stack.resource_urls:
        r = requests.get(url + "/actuator/health/readiness", timeout=10)
        assert r.status_code == 200, (url, r.text)


def test_no_sanitizer_report_in_logs(stack):
    pat = re.compile(r"ERROR: AddressSanitizer|runtime error:")
    found = []
    for p in stack.procs.values():
        if p.kind in ("gateway", "worker", "resource"):
            with open(p.log_path, errors="replace") as f:
                for line in f:
                    if pat.search(line):
                        found.append("%s: %s" % (p.name, line.strip()))
    assert found == [], "\n".join(found[:20])
