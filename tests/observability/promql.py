"""Helpers of the observability checks: the rule file, the dashboard's queries, the metric names a PromQL expression reads, promtool."""

import json
import os
import re
import shutil
import subprocess

import yaml

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
RULES_FILE = os.path.join(REPO, "helm", "aggregator", "files", "prometheus-rules.yaml")
RULES_TEST_FILE = os.path.join(REPO, "tests", "observability", "rules_test.yaml")
DASHBOARD_FILE = os.path.join(REPO, "helm", "aggregator", "files", "grafana-dashboard.json")

# What Grafana puts in for the dashboard's variables when everything is selected; $__rate_interval
# is any valid range for a syntax check.
DASHBOARD_VARIABLES = {
    "$namespace": ".*",
    "$job": "aggregator|aggregator-worker|aggregator-resource",
    "$__rate_interval": "1m",
    "$__interval": "1m",
}

# Series Prometheus makes itself for every target: no program exposes them.
PROMETHEUS_SERIES = {"up", "scrape_duration_seconds", "scrape_samples_scraped"}

_KEYWORDS = {"and", "or", "unless", "bool", "offset", "by", "without", "on", "ignoring",
             "group_left", "group_right", "inf", "nan", "atan2"}


def promtool():
    """promtool's path (Debian's prometheus package; `make deps-test` installs it)."""
    path = os.environ.get("AGG_PROMTOOL") or shutil.which("promtool")
    if not path:
        raise AssertionError("promtool not found: install Debian's prometheus package (make deps-test)")
    return path


def run_promtool(*args, cwd=None):
    """Runs promtool; returns the CompletedProcess (text, stdout and stderr merged)."""
    return subprocess.run([promtool(), *args], cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          text=True, timeout=60)


def load_rules(path=RULES_FILE):
    with open(path) as f:
        return yaml.safe_load(f)


def alert_names(rules):
    return [r["alert"] for g in rules["groups"] for r in g["rules"] if "alert" in r]


def rule_exprs(rules):
    return [r["expr"] for g in rules["groups"] for r in g["rules"]]


def load_dashboard(path=DASHBOARD_FILE):
    with open(path) as f:
        return json.load(f)


def dashboard_targets(dashboard):
    """(panel title, target) of every query of every panel, rows' nested panels included."""
    found = []
    for panel in dashboard.get("panels", []):
        for p in [panel] + panel.get("panels", []):
            for t in p.get("targets", []):
                found.append((p.get("title", ""), t))
    return found


def substitute(expr, variables=DASHBOARD_VARIABLES):
    """The expression as Prometheus receives it from Grafana (longest variable names first)."""
    for name in sorted(variables, key=len, reverse=True):
        expr = expr.replace("${%s}" % name[1:], variables[name]).replace(name, variables[name])
    return expr


def recording_rules_of(exprs):
    """A rule file with one recording rule per expression: promtool check rules parses each."""
    rules = [{"record": "dashboard:expr_%d" % i, "expr": e} for i, e in enumerate(exprs)]
    return yaml.safe_dump({"groups": [{"name": "dashboard", "rules": rules}]}, sort_keys=False)


def metric_names(expr):
    """The metric names an expression reads: bare selectors and __name__ matchers (= and =~ alternatives)."""
    names = set()
    for m in re.finditer(r'__name__\s*=~?\s*"([^"]*)"', expr):
        names.update(n for n in m.group(1).split("|") if n)
    s = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)
    s = re.sub(r"\{[^}]*\}", " ", s)
    s = re.sub(r"\[[^\]]*\]", " ", s)
    s = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", " ", s)
    for m in re.finditer(r"(?<![\w.:])([a-zA-Z_:][a-zA-Z0-9_:]*)(?![\w:])(?!\s*\()", s):
        word = m.group(1)
        if word.lower() not in _KEYWORDS and not re.fullmatch(r"[0-9.eE+-]+", word):
            names.add(word)
    return names


def exposed_names(text):
    """Sample names of a Prometheus text exposition (histograms as _bucket, _sum, _count)."""
    names = set()
    for line in text.splitlines():
        if line and not line.startswith("#"):
            names.add(re.split(r"[{\s]", line, 1)[0])
    return names


def uncovered_alerts(rules, unit_tests):
    """{alert: what is missing} for every alert of rules that the promtool unit tests never see
    firing ("fires") or never see quiet when asked ("quiet")."""
    fires, quiet = set(), set()
    for test in unit_tests.get("tests", []):
        for case in test.get("alert_rule_test", []):
            (fires if case.get("exp_alerts") else quiet).add(case["alertname"])
    missing = {}
    for name in alert_names(rules):
        lacks = [what for what, seen in (("fires", fires), ("quiet", quiet)) if name not in seen]
        if lacks:
            missing[name] = lacks
    return missing
