"""Helpers of the deployment tests: where helm, manifestcheck and the chart are, `helm template` as parsed objects."""

import os
import subprocess
from collections import Counter

import yaml

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
CHART_DIR = os.path.join(REPO, "helm", "aggregator")
# The values profiles every chart test renders (files relative to the chart).
PROFILES = {
    "default": (),
    "production": ("ci/production-values.yaml",),
    "minimal": ("ci/minimal-values.yaml",),
    "demo": ("ci/demo-values.yaml",),
}


def tools_dir():
    """`make` builds the tools into $(BUILD_DIR)/tools and passes it as AGG_TOOLS_DIR; by hand, build/tools."""
    return os.environ.get("AGG_TOOLS_DIR") or os.path.join(REPO, "build", "tools")


def tool_path(env_name, name):
    """A tool's path: the variable env_name (AGG_HELM, AGG_MANIFESTCHECK) if set, else tools_dir()/name."""
    return os.environ.get(env_name) or os.path.join(tools_dir(), name)


HELM = tool_path("AGG_HELM", "helm")
MANIFESTCHECK = tool_path("AGG_MANIFESTCHECK", "manifestcheck")


class RenderError(Exception):
    """`helm template` failed; .stderr holds helm's message (e.g. the chart's validateValues text)."""

    def __init__(self, cmd, returncode, stderr):
        super().__init__(f"{' '.join(cmd)} exited {returncode}:\n{stderr}")
        self.returncode = returncode
        self.stderr = stderr


def template_command(values_files=(), set_values=None, release="rel", namespace="ns", chart=CHART_DIR, helm=None):
    """The `helm template` command line; relative values files are taken from the chart's folder."""
    cmd = [helm or HELM, "template", release, chart, "--namespace", namespace]
    for f in values_files:
        cmd += ["--values", f if os.path.isabs(f) else os.path.join(chart, f)]
    for key, value in (set_values or {}).items():
        cmd += ["--set", f"{key}={value}"]
    return cmd


def render_text(values_files=(), set_values=None, release="rel", namespace="ns", chart=CHART_DIR, helm=None):
    """helm template's output as text; raises RenderError when helm fails."""
    cmd = template_command(values_files, set_values, release, namespace, chart, helm)
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    if proc.returncode != 0:
        raise RenderError(cmd, proc.returncode, proc.stderr)
    return proc.stdout


def render(values_files=(), set_values=None, release="rel", namespace="ns", chart=CHART_DIR, helm=None):
    """The objects (dicts) helm template renders; the empty documents of disabled templates are dropped."""
    text = render_text(values_files, set_values, release, namespace, chart, helm)
    return [doc for doc in yaml.safe_load_all(text) if doc]


def kind_counts(objects):
    """{kind: how many} of rendered objects."""
    return dict(Counter(obj["kind"] for obj in objects))


def manifestcheck(*args, input_text=None, binary=None):
    """Runs manifestcheck; returns the CompletedProcess (text)."""
    return subprocess.run([binary or MANIFESTCHECK, *args], input=input_text, capture_output=True, text=True,
                          timeout=120)
