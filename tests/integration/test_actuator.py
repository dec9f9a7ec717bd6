"""The shared actuator routes of every component: Prometheus text that promtool accepts, the
Spring-shaped metrics JSON, build info and the effective configuration, checked against
schemas/actuator/."""

import os
import re
import subprocess
import sys

import pytest
import requests

from aggtest import REPO, schemas
from privateproc import PrivateProc

sys.path.insert(0, os.path.join(REPO, "tests"))
from projectinfo import project_version  # noqa: E402

PROM_TYPE = "text/plain; version=0.0.4; charset=utf-8"


@pytest.fixture(scope="module")
def components(stack, gw, workers):
    return [("gateway", gw[0]), ("worker", workers[0]), ("resource-sim", stack.resource_url(0))]


def promtool_check(text):
    """(returncode, output) of promtool check metrics on text."""
    r = subprocess.run(["promtool", "check", "metrics"], input=text, capture_output=True,
                       text=True, timeout=30)
    return r.returncode, r.stdout + r.stderr


def built_commit(stack):
    """The commit the programs were built with (the generated header of the build)."""
    with open(os.path.join(stack.build_dir, "gen", "buildinfo_gen.h")) as f:
        return re.search(r'AGG_GIT_COMMIT "([^"]*)"', f.read()).group(1)


def test_promtool_rejects_a_broken_exposition():
    rc, _ = promtool_check("# TYPE x counter\nx{a=\"1\" 1\n")
    assert rc != 0
    rc, out = promtool_check("# HELP ok_total Fine.\n# TYPE ok_total counter\nok_total 1\n")
    assert rc == 0, out


def test_prometheus_passes_promtool_on_every_component(components):
    for name, base in components:
        requests.get(base + "/actuator/health", timeout=10)  # a request of another route
        r = requests.get(base + "/actuator/prometheus", timeout=10)
        assert r.status_code == 200, (name, r.status_code)
        assert r.headers["Content-Type"] == PROM_TYPE, (name, r.headers["Content-Type"])
        rc, out = promtool_check(r.text)
        assert rc == 0, "%s: promtool check metrics: %s" % (name, out)
        text = r.text
        for family in ("process_resident_memory_bytes", "process_virtual_memory_bytes",
                       "process_open_fds", "process_max_fds", "process_cpu_seconds_total",
                       "process_start_time_seconds", "aggregator_ready"):
            assert re.search(r"^%s [0-9.e+]+$" % family, text, re.M), (name, family)
        assert re.search(r'^build_info\{component="%s",version="%s",commit="[^"]+",'
                         r'build_time="[^"]+"\} 1$' % (name, re.escape(project_version())),
                         text, re.M), name
        assert re.search(r'^aggregator_ready 1$', text, re.M), name
        # Requests counted by route template, with Spring's outcome.
        assert re.search(r'^http_server_requests_seconds_count\{method="GET",'
                         r'uri="/actuator/health",status="200",outcome="SUCCESS"\} [1-9]',
                         text, re.M), name
        assert 'http_server_requests_seconds_bucket{method="GET",uri="/actuator/health",' \
               'status="200",outcome="SUCCESS",le="60"}' in text, name


def test_raw_paths_never_become_labels(components):
    for name, base in components:
        requests.get(base + "/no/such/path/x1y2z3", timeout=10)
        requests.get(base + "/actuator/metrics/no.such.metric.q9", timeout=10)
        text = requests.get(base + "/actuator/prometheus", timeout=10).text
        assert "x1y2z3" not in text and "q9" not in text, name
        assert re.search(r'uri="NOT_FOUND",status="404",outcome="CLIENT_ERROR"', text), name
        assert 'uri="/actuator/metrics/{name}",status="404"' in text, name


def test_metrics_names_and_one_metric_in_springs_shape(components):
    for name, base in components:
        r = requests.get(base + "/actuator/metrics", timeout=10)
        assert r.status_code == 200, name
        body = r.json()
        schemas().check_file("actuator/metrics-names.schema.json", body)
        assert {"http.server.requests", "process.memory.rss", "build.info",
                "aggregator.ready"} <= set(body["names"]), (name, body)
        # The guide's command, on each component.
        r = requests.get(base + "/actuator/metrics/http.server.requests", timeout=10)
        assert r.status_code == 200, (name, r.text)
        one = r.json()
        schemas().check_file("actuator/metric.schema.json", one)
        assert one["name"] == "http.server.requests" and one["baseUnit"] == "seconds"
        stats = {m["statistic"]: m["value"] for m in one["measurements"]}
        assert set(stats) == {"COUNT", "TOTAL_TIME", "MAX"} and stats["COUNT"] >= 1, (name, one)
        tags = {t["tag"]: t["values"] for t in one["availableTags"]}
        assert set(tags) == {"method", "uri", "status", "outcome"}, (name, tags)
        assert "/actuator/metrics" in tags["uri"], (name, tags)
        r = requests.get(base + "/actuator/metrics/http.server.requests",
                         params={"tag": "uri:/actuator/metrics"}, timeout=10)
        assert r.status_code == 200, (name, r.text)
        narrowed = r.json()
        schemas().check_file("actuator/metric.schema.json", narrowed)
        assert "uri" not in {t["tag"] for t in narrowed["availableTags"]}
        assert requests.get(base + "/actuator/metrics/no.such.metric",
                            timeout=10).status_code == 404, name
        assert requests.get(base + "/actuator/metrics/http.server.requests",
                            params={"tag": "nocolon"}, timeout=10).status_code == 400, name
    # The gateway's alias of Spring's name for the open streams.
    r = requests.get(components[0][1] + "/actuator/metrics/sse.active.sinks", timeout=10)
    assert r.status_code == 200 and r.json()["measurements"][0]["statistic"] == "VALUE"


def test_info_has_version_commit_and_build_time(stack, components):
    commit = built_commit(stack)
    for name, base in components:
        r = requests.get(base + "/actuator/info", timeout=10)
        assert r.status_code == 200, name
        body = r.json()
        schemas().check_file("actuator/info.schema.json", body)
        assert body["build"]["name"] == name
        assert body["build"]["version"] == project_version()
        assert body["git"]["commit"]["id"] == commit


def test_actuator_schemas_reject_wrong_bodies():
    bad = [("actuator/info.schema.json", {"build": {"name": "gateway", "version": "0.1.0",
                                                   "time": "yesterday"},
                                         "git": {"commit": {"id": "abc1234"}}}),
           ("actuator/metric.schema.json", {"name": "x", "description": "", "baseUnit": None,
                                            "measurements": [{"statistic": "P99", "value": 1}],
                                            "availableTags": []}),
           ("actuator/metrics-names.schema.json", {"names": ["Not_Dotted"]}),
           ("actuator/configprops.schema.json", {"_defaulted": [], "a": {"b": 1.5}})]
    for sub, instance in bad:
        with pytest.raises(AssertionError):
            schemas().check_file(sub, instance)


def test_configprops_of_each_component(components):
    for name, base in components:
        r = requests.get(base + "/actuator/configprops", timeout=10)
        assert r.status_code == 200, name
        body = r.json()
        schemas().check_file("actuator/configprops.schema.json", body)
        assert "BIND_ADDR" in body["_defaulted"] or body["bind"]["addr"], name
    gw_props = requests.get(components[0][1] + "/actuator/configprops", timeout=10).json()
    timeout = gw_props["aggregator"]["timeout"]
    assert set(timeout) == {"maxMs", "defaultMs"}, timeout
    assert all(isinstance(v, int) for v in timeout.values()), timeout
    assert isinstance(gw_props["server"]["port"], int)
    worker_props = requests.get(components[1][1] + "/actuator/configprops", timeout=10).json()
    assert isinstance(worker_props["resource"]["read"]["timeoutMs"], int)


def test_configprops_redacts_secrets_and_shows_settings(stack):
    secret = "pw-not-to-be-shown-7731"
    # Redis refuses the password (it has none): the gateway stays unready but answers.
    g = PrivateProc(stack, "gateway", {"REDIS_PASSWORD": secret,
                                       "AGGREGATOR_TIMEOUT_MAX_MS": "21000",
                                       "AGGREGATOR_TIMEOUT_DEFAULT_MS": "7000"}, wait="liveness")
    try:
        r = requests.get(g.url + "/actuator/configprops", timeout=10)
        assert r.status_code == 200
        assert secret not in r.text
        body = r.json()
        schemas().check_file("actuator/configprops.schema.json", body)
        assert body["redis"]["password"] == "******"
        assert body["aggregator"]["timeout"] == {"maxMs": 21000, "defaultMs": 7000}
        assert "AGGREGATOR_TIMEOUT_MAX_MS" not in body["_defaulted"]
        assert "SESSION_RETENTION_S" in body["_defaulted"]
        assert body["session"]["retentionS"] == 300
        # Unset secrets are null: nothing to hide, and the operator sees they are unset.
        assert body["kafka"]["sasl"]["password"] is None
    finally:
        g.stop()


# ---- CPU_SCHED_POLICY ------------------------------------------------------------------------

def thread_policies(pid):
    """{thread id: scheduling policy} of every thread of process pid."""
    out = {}
    for tid in os.listdir("/proc/%d/task" % pid):
        try:
            out[int(tid)] = os.sched_getscheduler(int(tid))
        except ProcessLookupError:
            pass  # the thread ended meanwhile
    return out


def test_every_process_of_the_stack_runs_sched_batch_on_every_thread(stack):
    """The programs set it on themselves before their first thread (librdkafka's, curl's); the
    stack starts Redis and Kafka with it."""
    kinds = {"gateway", "worker", "resource", "redis", "kafka"}
    procs = [p for p in stack.procs.values() if p.kind in kinds and p.alive()]
    assert {p.kind for p in procs} == kinds
    for p in procs:
        policies = thread_policies(p.pid)
        assert len(policies) > 1 or p.kind in ("resource", "redis"), (p.name, policies)
        assert set(policies.values()) == {os.SCHED_BATCH}, (p.name, policies)


def test_cpu_sched_policy_normal_keeps_the_kernels_default(stack):
    os.sched_setscheduler(0, os.SCHED_BATCH, os.sched_param(0))  # a parent's batch is undone
    try:
        g = PrivateProc(stack, "gateway", {"CPU_SCHED_POLICY": "normal"})
    finally:
        os.sched_setscheduler(0, os.SCHED_OTHER, os.sched_param(0))
    try:
        policies = thread_policies(g.popen.pid)
        assert len(policies) > 1 and set(policies.values()) == {os.SCHED_OTHER}, policies
        props = requests.get(g.url + "/actuator/configprops", timeout=10).json()
        assert props["cpu"]["sched"]["policy"] == "normal"
    finally:
        g.stop()


# ---- docs/operations.md's metrics list against the real expositions -------------------------

def exposed_families(text):
    """{family: (type, set of label names)} of a Prometheus text (le and quantile left out)."""
    out = {}
    for name, typ in re.findall(r"^# TYPE (\S+) (\S+)$", text, re.M):
        labels = set()
        for m in re.finditer(r"^%s(?:_bucket|_sum|_count)?\{([^}]*)\}" % re.escape(name), text,
                             re.M):
            labels |= set(re.findall(r'(\w+)="', m.group(1)))
        out[name] = (typ, labels - {"le", "quantile"})
    return out


def documented_families(doc_text):
    """{family: (type, set of label names, set of components)} of the table between the
    metrics markers of docs/operations.md."""
    begin, end = "<!-- metrics:begin -->", "<!-- metrics:end -->"
    assert begin in doc_text and end in doc_text, "the metrics markers are missing"
    out = {}
    for line in doc_text.split(begin, 1)[1].split(end, 1)[0].splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) < 5 or not cells[0].startswith("`"):
            continue
        name = cells[0].strip("`")
        assert name not in out, "%s listed twice" % name
        labels = set(re.findall(r"`([^`]+)`", cells[2]))
        comps = ({"gateway", "worker", "resource-sim"} if cells[3] == "every component"
                 else {c.strip() for c in cells[3].split(",")})
        out[name] = (cells[1], labels, comps)
    return out


def doc_mismatches(documented, exposed_by_component):
    """What the documented list gets wrong against {component: exposed_families(...)}."""
    problems = []
    for comp, fams in exposed_by_component.items():
        for name, (typ, labels) in fams.items():
            doc = documented.get(name)
            if doc is None:
                problems.append("%s (%s) is not documented" % (name, comp))
                continue
            if doc[0] != typ:
                problems.append("%s: documented as %s, is a %s" % (name, doc[0], typ))
            if labels and doc[1] != labels:
                problems.append("%s: documented labels %s, exposed %s"
                                % (name, sorted(doc[1]), sorted(labels)))
            if comp not in doc[2]:
                problems.append("%s: exposed by %s, documented for %s"
                                % (name, comp, sorted(doc[2])))
    for name, (_, _, comps) in documented.items():
        for comp in comps & set(exposed_by_component):
            if name not in exposed_by_component[comp]:
                problems.append("%s: documented for %s, not exposed there" % (name, comp))
    return problems


def test_operations_doc_lists_exactly_the_exposed_metrics(components):
    with open(os.path.join(REPO, "docs", "operations.md")) as f:
        documented = documented_families(f.read())
    exposed = {name: exposed_families(requests.get(base + "/actuator/prometheus", timeout=10).text)
               for name, base in components}
    problems = doc_mismatches(documented, exposed)
    assert not problems, "docs/operations.md's metrics list is stale:\n" + "\n".join(problems)


def test_doc_check_finds_a_stale_list():
    documented = {"a_total": ("counter", set(), {"gateway"}),
                  "gone": ("gauge", set(), {"gateway"}),
                  "h_seconds": ("histogram", {"x"}, {"gateway"})}
    exposed = {"gateway": {"a_total": ("gauge", set()), "new_total": ("counter", set()),
                           "h_seconds": ("histogram", {"x", "y"})},
               "worker": {"a_total": ("counter", set())}}
    problems = doc_mismatches(documented, exposed)
    assert any("new_total" in p and "not documented" in p for p in problems)
    assert any("gone" in p and "not exposed" in p for p in problems)
    assert any("a_total: documented as counter" in p for p in problems)
    assert any("h_seconds: documented labels" in p for p in problems)
    assert any("a_total: exposed by worker" in p for p in problems)
    text = ('# TYPE h_seconds histogram\nh_seconds_bucket{x="1",le="+Inf"} 1\n'
            'h_seconds_sum{x="1"} 1\nh_seconds_count{x="1"} 1\n# TYPE c_total counter\nc_total 2\n')
    assert exposed_families(text) == {"h_seconds": ("histogram", {"x"}),
                                      "c_total": ("counter", set())}
