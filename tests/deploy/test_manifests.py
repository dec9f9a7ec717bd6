"""The chart's manifests: helm lint --strict and strict validation of every rendered object (manifestcheck k8s) for each
values profile; a tiny chart of testdata/ tests the helpers themselves."""

import copy
import subprocess
import os

import pytest
import yaml

import chart
from chart import PROFILES, RenderError, kind_counts

MINICHART = os.path.join(os.path.dirname(__file__), "testdata", "minichart")


def inject_unknown_field(objects):
    """A copy of the objects whose first Deployment's first container has a field no API version knows."""
    broken = copy.deepcopy(objects)
    deployment = next(o for o in broken if o["kind"] == "Deployment")
    deployment["spec"]["template"]["spec"]["containers"][0]["imagePullPolicyy"] = "Always"
    return broken, deployment["metadata"]["name"]


def check(objects_or_text, manifestcheck_bin):
    text = objects_or_text if isinstance(objects_or_text, str) else yaml.safe_dump_all(objects_or_text)
    return chart.manifestcheck("k8s", "-", input_text=text, binary=manifestcheck_bin)


# --- the helpers, on the test chart ---

def test_render_returns_objects_without_empty_documents(render):
    objects = render(chart_dir=MINICHART)
    assert kind_counts(objects) == {"Deployment": 1}
    assert objects[0]["metadata"] == {"name": "rel-mini", "namespace": "ns"}
    assert kind_counts(render(set_values={"service.enabled": "true"}, chart_dir=MINICHART)) == \
        {"Deployment": 1, "Service": 1}


def test_render_takes_release_namespace_and_values_files(render, tmp_path):
    values = tmp_path / "three.yaml"
    values.write_text("replicas: 3\n")
    (obj,) = render(values_files=(str(values),), release="other", namespace="prod", chart_dir=MINICHART)
    assert (obj["metadata"]["name"], obj["metadata"]["namespace"], obj["spec"]["replicas"]) == ("other-mini", "prod", 3)


def test_render_error_carries_helms_message(render):
    with pytest.raises(RenderError) as failure:
        render(set_values={"replicas": "0"}, chart_dir=MINICHART)
    assert "replicas must be at least 1; set replicas to 1 or more" in failure.value.stderr


def test_manifestcheck_passes_the_test_chart(helm_bin, manifestcheck_bin):
    proc = check(chart.render_text(chart=MINICHART, helm=helm_bin), manifestcheck_bin)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "ok apps/v1 Deployment rel-mini\n" in proc.stdout


def test_manifestcheck_refuses_an_unknown_field_in_the_test_chart(render, manifestcheck_bin):
    broken, name = inject_unknown_field(render(chart_dir=MINICHART))
    proc = check(broken, manifestcheck_bin)
    assert proc.returncode == 1
    assert f'error apps/v1 Deployment {name} ' in proc.stdout
    assert 'unknown field "spec.template.spec.containers[0].imagePullPolicyy"' in proc.stdout


# --- helm/aggregator ---

@pytest.mark.parametrize("profile", PROFILES)
def test_chart_lints_strictly(helm_bin, profile):
    cmd = [helm_bin, "lint", "--strict", chart.CHART_DIR]
    for f in PROFILES[profile]:
        cmd += ["--values", os.path.join(chart.CHART_DIR, f)]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr


@pytest.mark.parametrize("profile", PROFILES)
def test_every_rendered_object_is_valid(helm_bin, manifestcheck_bin, profile):
    text = chart.render_text(PROFILES[profile], helm=helm_bin)
    proc = check(text, manifestcheck_bin)
    print(proc.stdout.splitlines()[-1] if proc.stdout else "")  # the count per kind, for the closing note
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_an_unknown_field_in_the_rendered_chart_fails(render, manifestcheck_bin):
    broken, name = inject_unknown_field(render())
    proc = check(broken, manifestcheck_bin)
    assert proc.returncode == 1
    assert f"error apps/v1 Deployment {name} " in proc.stdout and "imagePullPolicyy" in proc.stdout
