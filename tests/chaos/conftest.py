"""The chaos suite's fixtures: a stack of its own (not the integration suite's), started by
demo/stack.py, and the run's settings from the environment (make chaos sets the long form)."""

import os
import re
import sys

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(REPO, "tests", "integration"))
sys.path.insert(0, os.path.join(REPO, "demo"))
import aggtest  # noqa: E402
import stack as stackmod  # noqa: E402

SANITIZER_ERROR = re.compile(r"ERROR: AddressSanitizer|runtime error:|ERROR: ThreadSanitizer")

REPORT = []  # lines printed at the end of the run (pytest -q shows no test output)
# What the chaos stack runs on: Sentinel and a 3-broker cluster (production's shape), or one of each.
TOPOLOGIES = {"ha": {"redis": "sentinel", "kafka_brokers": 3},
              "single": {"redis": "aof", "kafka_brokers": 1}}


def _env_number(name, default, kind=float):
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        return kind(raw)
    except ValueError:
        raise pytest.UsageError("%s=%r is not a number" % (name, raw))


@pytest.fixture(scope="session")
def chaos_cfg():
    """CHAOS_DURATION_S: how long faults are made (60; make chaos: 600); CHAOS_RATE: sessions
    started per second (10; make chaos: 50); CHAOS_SEED: the schedule's seed (random, printed);
    CHAOS_WORKERS (3); CHAOS_TOPOLOGY: ha (default: Redis primary, replica and 3 sentinels, and
    3 Kafka brokers with replication factor 3, as in production) or single (one Redis with its
    append-only file, one broker)."""
    return {"duration_s": _env_number("CHAOS_DURATION_S", 60.0),
            "rate": _env_number("CHAOS_RATE", 10.0),
            "seed": _env_number("CHAOS_SEED", None, int),
            "workers": _env_number("CHAOS_WORKERS", 3, int),
            "topology": _topology()}


def _topology():
    value = os.environ.get("CHAOS_TOPOLOGY") or "ha"
    if value not in ("ha", "single"):
        raise pytest.UsageError("CHAOS_TOPOLOGY=%r: want ha or single" % value)
    return value


@pytest.fixture(scope="session")
def chaos_stack(chaos_cfg):
    build = os.environ.get("AGG_BUILD_DIR", "build")
    # The resources retry an answer refused with 503 (a broker restart) 8 times, the backoff
    # doubling from 200 ms (51 s in all): a resource that gives up after 1.4 s (the default 3)
    # would lose answers to a Kafka restart that the aggregator itself would have kept.
    s = stackmod.Stack(build_dir=build, kafka="real", gateways=2, workers=chaos_cfg["workers"],
                       free_ports=True, log_level=os.environ.get("LOG_LEVEL", "info"),
                       ready_timeout=180.0, env={"CALLBACK_RETRIES": "8"},
                       **TOPOLOGIES[chaos_cfg["topology"]])
    try:
        s.start()
    except stackmod.StackError as e:
        pytest.fail("the chaos stack did not start: %s" % e, pytrace=False)
    REPORT.append("chaos stack logs: %s" % s.run_dir)
    try:
        _warm_up(s)
        yield s
    finally:
        s.stop()
        _scan_logs(s)


def _warm_up(s):
    """Waits until a session completes through each gateway: the consumer groups have their
    partitions."""
    from faults import probe, stack_ready
    for base in s.gateway_urls:
        aggtest.wait_until(lambda: probe(base, []), 120, "a first session through %s" % base,
                           interval=0.5)
    aggtest.wait_until(lambda: stack_ready(s), 90, "every partition owned by a worker")


def _scan_logs(s):
    for p in s.procs.values():
        if p.kind not in ("gateway", "worker", "resource"):
            continue
        try:
            with open(p.log_path, errors="replace") as f:
                if SANITIZER_ERROR.search(f.read()):
                    REPORT.append("SANITIZER ERROR in %s" % p.log_path)
        except OSError:
            pass


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    if REPORT:
        terminalreporter.section("chaos")
        for line in REPORT:
            terminalreporter.write_line(line)
