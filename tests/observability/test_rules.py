"""The alert rules (helm/aggregator/files/prometheus-rules.yaml): promtool check rules, promtool test rules, and what each rule must carry."""

import os
import re

import pytest
import yaml

import promql
from promql import RULES_FILE, RULES_TEST_FILE, load_rules, run_promtool

# The operations guide's rules (shared/seed/DEPLOYMENT.md, "Alerting"): names and expressions unchanged.
GUIDE_RULES = {
    "HighErrorRate": 'rate(http_server_requests_seconds_count{status=~"5..",job="aggregator"}[5m]) > 0.1',
    "HighTimeoutRate": "rate(aggregator_timeouts_total[5m]) > 0.5",
    "SlowResponseTime": 'histogram_quantile(0.95, rate(http_server_requests_seconds_bucket{job="aggregator"}[5m])) > 30',
}
OPERATIONS_MD = os.path.join(promql.REPO, "docs", "operations.md")


def rules_by_alert(rules):
    return {r["alert"]: r for g in rules["groups"] for r in g["rules"]}


def write_rules(tmp_path, rules):
    """A copy of the rule file and of its unit tests in tmp_path, the tests pointing at the copy."""
    path = tmp_path / "rules.yaml"
    path.write_text(yaml.safe_dump(rules, sort_keys=False))
    with open(RULES_TEST_FILE) as f:
        tests = yaml.safe_load(f)
    tests["rule_files"] = [str(path)]
    test_path = tmp_path / "rules_test.yaml"
    test_path.write_text(yaml.safe_dump(tests, sort_keys=False))
    return path, test_path


def markdown_anchors(text):
    """GitHub's anchors of a Markdown file's headings: lower case, punctuation dropped, spaces to '-'."""
    anchors = set()
    for m in re.finditer(r"^#+\s+(.*?)\s*$", text, re.M):
        a = re.sub(r"[^\w\- ]", "", m.group(1).lower()).replace(" ", "-")
        anchors.add(a)
    return anchors


def test_rule_file_passes_promtool_check():
    proc = run_promtool("check", "rules", RULES_FILE)
    assert proc.returncode == 0, proc.stdout
    assert "SUCCESS: %d rules found" % len(promql.rule_exprs(load_rules())) in proc.stdout


def test_a_broken_expression_is_refused(tmp_path):
    rules = load_rules()
    rules_by_alert(rules)["HighErrorRate"]["expr"] = 'rate(http_server_requests_seconds_count{job="aggregator"[5m]) > 0.1'
    path, _ = write_rules(tmp_path, rules)
    proc = run_promtool("check", "rules", str(path))
    assert proc.returncode != 0, proc.stdout
    assert "FAILED" in proc.stdout and "parse error" in proc.stdout


def test_unit_tests_pass():
    proc = run_promtool("test", "rules", os.path.basename(RULES_TEST_FILE), cwd=os.path.dirname(RULES_TEST_FILE))
    assert proc.returncode == 0, proc.stdout
    assert "SUCCESS" in proc.stdout


@pytest.mark.parametrize("alert,old,new", [
    ("HighErrorRate", "> 0.1", "> 100"),
    ("AggregatorCircuitOpen", "[2m]", "[1s]"),
    ("AggregatorWorkerUnavailable", 'or absent(up{job="aggregator-worker"})', ""),
])
def test_a_changed_rule_fails_the_unit_tests(tmp_path, alert, old, new):
    rules = load_rules()
    rule = rules_by_alert(rules)[alert]
    assert old in rule["expr"]
    rule["expr"] = rule["expr"].replace(old, new)
    _, test_path = write_rules(tmp_path, rules)
    proc = run_promtool("test", "rules", str(test_path))
    assert proc.returncode != 0, proc.stdout
    assert "alertname: %s" % alert in proc.stdout


def test_every_alert_fires_and_stays_quiet_in_the_unit_tests():
    with open(RULES_TEST_FILE) as f:
        unit_tests = yaml.safe_load(f)
    assert promql.uncovered_alerts(load_rules(), unit_tests) == {}


def test_an_alert_never_seen_firing_is_reported():
    with open(RULES_TEST_FILE) as f:
        unit_tests = yaml.safe_load(f)
    for test in unit_tests["tests"]:
        test["alert_rule_test"] = [c for c in test.get("alert_rule_test", [])
                                   if not (c["alertname"] == "AggregatorConsumerLag" and c.get("exp_alerts"))]
    assert promql.uncovered_alerts(load_rules(), unit_tests) == {"AggregatorConsumerLag": ["fires"]}


def test_the_guides_rules_are_unchanged():
    rules = rules_by_alert(load_rules())
    for name, expr in GUIDE_RULES.items():
        assert rules[name]["expr"] == expr, name


def test_every_rule_has_severity_summary_description_and_a_runbook_section():
    with open(OPERATIONS_MD) as f:
        anchors = markdown_anchors(f.read())
    for name, rule in rules_by_alert(load_rules()).items():
        assert rule["labels"]["severity"] in ("critical", "warning"), name
        for key in ("summary", "description", "runbook"):
            assert rule["annotations"].get(key), (name, key)
        doc, _, anchor = rule["annotations"]["runbook"].partition("#")
        assert doc == "docs/operations.md", name
        assert anchor in anchors, "%s: no section #%s in docs/operations.md" % (name, anchor)


def test_markdown_anchors_are_githubs():
    assert markdown_anchors("# Alerts\n### `HighErrorRate`\n## Kafka: broker restart\n") == {
        "alerts", "higherrorrate", "kafka-broker-restart"}
    assert "nosuchsection" not in markdown_anchors("## Some section\n")


def test_the_jobs_are_the_scrape_jobs():
    jobs = set()
    for expr in promql.rule_exprs(load_rules()):
        for m in re.finditer(r'job=~?"([^"]*)"', expr):
            jobs.update(m.group(1).split("|"))
    assert jobs == {"aggregator", "aggregator-worker", "aggregator-resource"}


def scrape_example():
    """The prometheus.yml example of docs/operations.md ("Alerts"), parsed."""
    with open(OPERATIONS_MD) as f:
        text = f.read()
    blocks = [b for b in re.findall(r"```yaml\n(.*?)```", text, re.S) if "scrape_configs:" in b]
    assert len(blocks) == 1, "one prometheus.yml example expected in docs/operations.md"
    return yaml.safe_load(blocks[0])


def check_config(tmp_path, config):
    path = tmp_path / "prometheus.yml"
    path.write_text(yaml.safe_dump(dict(config, rule_files=[RULES_FILE])))
    return run_promtool("check", "config", str(path))


def test_the_documented_scrape_config_is_valid_and_names_the_rules_jobs(tmp_path):
    config = scrape_example()
    r = check_config(tmp_path, config)
    assert r.returncode == 0, r.stdout
    jobs = {c["job_name"] for c in config["scrape_configs"]}
    used = set(re.findall(r'job="([^"]+)"', open(RULES_FILE).read()))
    assert used <= jobs, "the rules select jobs the example does not scrape: %s" % (used - jobs)
    # The checker refuses a broken config.
    broken = dict(config, scrape_configs=[dict(config["scrape_configs"][0], scrape_interval="soon")])
    assert check_config(tmp_path, broken).returncode != 0
