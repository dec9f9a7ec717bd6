"""Schemathesis (property-based tests generated from schemas/openapi.yaml) against a running
gateway with authentication on: every operation, examples, coverage and fuzzing phases; no 5xx
and no response that violates the schema.

The gateway under test is a private one with AUTH_MODE=jwt and 64 resources (RESLIST_MAX): the
schema lets `delays` name up to 64 entries, and a request with more delays than configured
resources is refused, so with fewer resources a schema-valid body would be refused. Three are the
stack's resource simulators; the others are a port where nothing listens (the call fails at once,
outcome ERROR). A private worker with the same resources and topics of its own takes the
sessions, so that streams of real sessions are checked against the schema too."""

import os
import re
import subprocess
import sys
import time

import jwt
import pytest

from aggtest import REPO
from privateproc import PrivateProc, private_topics, stackmod

SCHEMA = os.path.join(REPO, "schemas", "openapi.yaml")
SECRET = "schemathesis-test-secret-" + "x" * 24
MAX_EXAMPLES = int(os.environ.get("SCHEMATHESIS_MAX_EXAMPLES", "100"))
# What "no 5xx and no schema violation" means in Schemathesis' terms, plus the checks that a
# refused schema-valid request or an accepted invalid one would fail.
CHECKS = ",".join(["not_a_server_error", "status_code_conformance", "content_type_conformance",
                   "response_headers_conformance", "response_schema_conformance",
                   "unsupported_method", "negative_data_rejection", "positive_data_acceptance"])


def _token(sub, roles=()):
    now = int(time.time())
    return jwt.encode({"sub": sub, "iat": now, "exp": now + 3600, "roles": list(roles),
                       "iss": "agg-test", "aud": "aggregator"}, SECRET, algorithm="HS256")


@pytest.fixture
def secured_gateway(stack):
    closed = stackmod.free_port()  # nothing listens here: a call fails at once
    urls = list(stack.resource_urls) + ["http://127.0.0.1:%d/r%d" % (closed, i)
                                        for i in range(64 - len(stack.resource_urls))]
    env = dict(private_topics(stack.kafka_brokers), RESOURCE_URLS=",".join(urls),
               AUTH_MODE="jwt", JWT_SECRET=SECRET, JWT_ISSUER="agg-test",
               JWT_AUDIENCE="aggregator", RATE_LIMIT_RPS="0",
               # Every session ends within a second: a WAIT_FOR_EVERYONE request waits for its
               # deadline, and Schemathesis sends hundreds, one at a time.
               AGGREGATOR_TIMEOUT_MAX_MS="1000", AGGREGATOR_TIMEOUT_DEFAULT_MS="1000")
    worker = PrivateProc(stack, "worker", env)
    gateway = PrivateProc(stack, "gateway", dict(env, AGGREGATOR_CALLBACK_URL=None))
    yield gateway
    for p in (gateway, worker):
        assert p.stop() == 0, "the private %s did not exit 0; see %s" % (p.prog, p.log_path)


def test_schemathesis_finds_no_5xx_and_no_schema_violation(stack, secured_gateway, tmp_path):
    exe = os.path.join(os.path.dirname(sys.executable), "schemathesis")  # the venv's
    argv = [exe, "run", SCHEMA, "--url", secured_gateway.url,
            "--header", "Authorization: Bearer " + _token("schemathesis", ["aggregator-admin"]),
            "--checks", CHECKS, "--max-examples", str(MAX_EXAMPLES), "--seed", "20261201",
            "--phases", "examples,coverage,fuzzing", "--workers", "1",
            "--request-timeout", "10", "--generation-allow-x00", "false", "--no-color",
            "--report", "junit", "--report-dir", str(tmp_path)]
    r = subprocess.run(argv, cwd=str(tmp_path), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                       text=True, timeout=900)
    out = r.stdout
    report = tmp_path / "schemathesis.txt"
    report.write_text(out)
    generated = re.search(r"(\d+) generated", out)
    print("schemathesis: %s cases" % (generated.group(1) if generated else "?"))
    assert r.returncode == 0, "schemathesis failed; its output: %s\n%s" % (report, out[-3000:])
    assert generated and int(generated.group(1)) > 100, out[-3000:]
    log = secured_gateway.log()
    assert "AddressSanitizer" not in log and "runtime error" not in log, secured_gateway.log_path
