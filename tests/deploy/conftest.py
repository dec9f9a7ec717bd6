"""Deployment-test fixtures: the helm and manifestcheck binaries (AGG_HELM, AGG_MANIFESTCHECK, else AGG_TOOLS_DIR or build/tools) and render()."""

import os
import sys

import pytest

# tests/projectinfo.py: the facts every suite reads from the project's sources.
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import chart  # noqa: E402


def _existing(path, what):
    if not (os.path.isfile(path) and os.access(path, os.X_OK)):
        pytest.fail(f"{what} not found at {path}: run `make deps-test` (builds it into $(BUILD_DIR)/tools) "
                    f"or point the variable at it")
    return path


@pytest.fixture(scope="session")
def helm_bin():
    return _existing(chart.HELM, "helm (AGG_HELM)")


@pytest.fixture(scope="session")
def manifestcheck_bin():
    return _existing(chart.MANIFESTCHECK, "manifestcheck (AGG_MANIFESTCHECK)")


@pytest.fixture(scope="session")
def render(helm_bin):
    """chart.render with the checked helm: render(values_files=(), set_values=None, release="rel", namespace="ns")."""
    def _render(values_files=(), set_values=None, release="rel", namespace="ns", chart_dir=chart.CHART_DIR):
        return chart.render(values_files, set_values, release, namespace, chart=chart_dir, helm=helm_bin)
    return _render

