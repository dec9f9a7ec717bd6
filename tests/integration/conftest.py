"""Integration fixtures: one stack for the whole session (real Redis, a real KRaft Kafka
broker, 3 resource-sims, 2 gateways, 2 workers, free ports), started by demo/stack.py."""

import os
import re
import sys
import time

import pytest

import aggtest

sys.path.insert(0, os.path.join(aggtest.REPO, "demo"))
import stack as stackmod  # noqa: E402

SANITIZER_ERROR = re.compile(r"ERROR: AddressSanitizer|runtime error:|ERROR: ThreadSanitizer")
LEAK_REPORT = re.compile(r"ERROR: LeakSanitizer")

_stack_report = []


def pytest_configure(config):
    config.addinivalue_line("markers", "late: runs after the other tests (reads what they left)")
    config.addinivalue_line("markers", "destructive: kills processes; runs last")


def pytest_collection_modifyitems(session, config, items):
    def rank(item):
        if item.get_closest_marker("destructive"):
            return 2
        if item.get_closest_marker("late"):
            return 1
        return 0
    items.sort(key=rank)  # stable: file order is kept within a rank


@pytest.fixture(scope="session")
def stack():
    build = os.environ.get("AGG_BUILD_DIR", "build")
    s = stackmod.Stack(build_dir=build, kafka=os.environ.get("AGG_KAFKA", "real"), gateways=2,
                       workers=2, free_ports=True, log_level=os.environ.get("LOG_LEVEL", "info"),
                       ready_timeout=90.0)
    try:
        s.start()
    except stackmod.StackError as e:
        pytest.fail("the stack did not start: %s" % e, pytrace=False)
    _stack_report.append("stack logs: %s" % s.run_dir)
    aggtest.SIGNING_KEY = s.callback_signing_key
    try:
        _warm_up(s)
        yield s
    finally:
        s.stop()
        _scan_logs(s)


def _warm_up(s):
    """Waits until a first session completes end to end: the workers' consumer group has its
    partitions. A first session that never completes is reported, then retried."""
    end = time.monotonic() + 90
    attempt = 0
    while True:
        attempt += 1
        cid = aggtest.start_session(s.gateway_url(0), "0,0,0")
        st = aggtest.SSEStream(s.gateway_url(0), cid, timeout=30)
        try:
            st.read_all(min(30.0, max(1.0, end - time.monotonic())))
            if st.events and st.events[-1].event == "summary":
                if attempt > 1:
                    _stack_report.append("warm-up: session(s) started right after start-up "
                                         "never completed; attempt %d did" % attempt)
                return
        except AssertionError:
            pass
        finally:
            st.close()
        if time.monotonic() > end:
            pytest.fail("warm-up: no session completed within 90 s of start-up; logs in %s"
                        % s.run_dir, pytrace=False)


def _scan_logs(s):
    for p in s.procs.values():
        if p.kind not in ("gateway", "worker", "resource"):
            continue
        try:
            with open(p.log_path, errors="replace") as f:
                text = f.read()
        except OSError:
            continue
        if SANITIZER_ERROR.search(text):
            _stack_report.append("SANITIZER ERROR in %s" % p.log_path)
        if LEAK_REPORT.search(text):
            _stack_report.append("LeakSanitizer report at exit in %s" % p.log_path)
        rc = p.popen.returncode if p.popen else None
        if rc not in (0, None):
            _stack_report.append("%s exited with %s on SIGTERM" % (p.name, rc))


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    if _stack_report:
        terminalreporter.section("stack")
        for line in _stack_report:
            terminalreporter.write_line(line)


@pytest.fixture(scope="session")
def gw(stack):
    return [stack.gateway_url(i) for i in range(stack.n_gateways)]


@pytest.fixture(scope="session")
def workers(stack):
    return [stack.worker_url(i) for i in range(stack.n_workers)]


@pytest.fixture(scope="session")
def redis(stack):
    return aggtest.Redis(stack.redis_url)


@pytest.fixture(scope="session")
def kafka_tap(stack):
    tap = aggtest.KafkaTap(stack.kafka_brokers)
    yield tap
    tap.stop()


@pytest.fixture(scope="session", autouse=True)
def _tap_started(kafka_tap):
    """Starts the Kafka tap with the stack so that it sees every message of the session."""
    return kafka_tap
