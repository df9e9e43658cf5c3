"""Helpers of the infrastructure tests (not a test module): where the checkers are, how to
run them, the rendered Kubernetes overlays, and the metric names the service exposes.

The checkers live in ``.venv-infra`` (``make infra-tools``), promtool there or on PATH,
the Istio CRD validators in ``tests/infra/crd/node_modules``. A missing checker skips its
test with the reason, or fails it under ``GREENSCORE_REQUIRE_SERVICES=1`` (CI), the rule
``tests/conftest.py`` applies to the database servers.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from functools import cache, lru_cache
from pathlib import Path
from typing import Any

import yaml

from conftest import service_missing

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
K8S = DEPLOY / "k8s"
INFRA_BIN = ROOT / ".venv-infra" / "bin"
CRD_DIR = Path(__file__).resolve().parent / "crd"
OVERLAYS = ("staging", "production")
RUNBOOK_URL = re.compile(r"/blob/main/(docs/runbooks/[\w.-]+\.md)$")

#: Series Prometheus makes itself.
PROMETHEUS_SERIES = {"up", "ALERTS", "ALERTS_FOR_STATE"}


def tool(name: str) -> str:
    """Path of a checker: the infra venv first, then PATH; skip or fail when missing."""
    candidate = INFRA_BIN / name
    if candidate.is_file() and os.access(candidate, os.X_OK):
        return str(candidate)
    found = shutil.which(name)
    if found:
        return found
    service_missing(f"{name} not found (run `make infra-tools`)")
    raise AssertionError("unreachable")


def run(
    args: list[str], *, cwd: Path | None = None, timeout: float = 300
) -> subprocess.CompletedProcess:
    """Run a checker; its output is kept for the assertion message."""
    env = {**os.environ, "PATH": f"{INFRA_BIN}{os.pathsep}{os.environ.get('PATH', '')}"}
    return subprocess.run(
        args, cwd=cwd or ROOT, env=env, capture_output=True, text=True, timeout=timeout
    )


def output(result: subprocess.CompletedProcess) -> str:
    """Both streams of a finished checker, for assertion messages."""
    return f"exit {result.returncode}\n{result.stdout}\n{result.stderr}"


def render(kustomization: Path) -> str:
    """The manifests of a kustomization, rendered by kubectl's built-in kustomize."""
    result = run([tool("kubectl"), "kustomize", str(kustomization)])
    assert result.returncode == 0, output(result)
    return result.stdout


@cache
def rendered(name: str) -> str:
    """Rendered manifests of ``base`` or an overlay (cached: rendering takes ~0.5 s)."""
    return render(K8S / "base" if name == "base" else K8S / "overlays" / name)


def documents(text: str) -> list[dict[str, Any]]:
    """The non-empty YAML documents of a multi-document string."""
    return [d for d in yaml.safe_load_all(text) if d]


def checkov(directory: Path, frameworks: tuple[str, ...]) -> dict[str, set[str]]:
    """checkov on a folder, offline, with the skips of deploy/k8s/.checkov.yaml.

    Returns the failed check ids by file, relative to the folder (every scanned file is
    a key). One scan of several files costs about the same as one file: checkov's start-up
    dominates.
    """
    result = run(
        [
            tool("checkov"),
            "--directory",
            str(directory),
            "--framework",
            *frameworks,
            "--config-file",
            str(K8S / ".checkov.yaml"),
            "--skip-download",
            "--quiet",
            "--output",
            "json",
        ]
    )
    assert result.returncode in (0, 1), output(result)
    reports = json.loads(result.stdout)
    failed: dict[str, set[str]] = {
        str(p.relative_to(directory)): set() for p in directory.rglob("*") if p.is_file()
    }
    for report in reports if isinstance(reports, list) else [reports]:
        for check in report["results"]["failed_checks"]:
            failed.setdefault(check["file_path"].lstrip("/"), set()).add(check["check_id"])
    return failed


def relabel(docs: list[dict[str, Any]], *, namespace: str) -> list[dict[str, Any]]:
    """Copies of ``docs`` moved to another namespace, so scans of several sets never mix."""
    out = []
    for doc in docs:
        doc = yaml.safe_load(yaml.safe_dump(doc))
        if doc["kind"] == "Namespace":
            doc["metadata"]["name"] = namespace
        else:
            doc["metadata"]["namespace"] = namespace
        out.append(doc)
    return out


@lru_cache(maxsize=1)
def exposed_metrics() -> frozenset[str]:
    """Every series name GreenScore can expose, from the real registries: the scoring
    service's /metrics and the carbon-budget gauges (written to
    ``sustainability.prometheus_textfile`` for node-exporter's textfile collector)."""
    from greenscore.config import ServingSettings
    from greenscore.serving.monitoring import Monitor
    from greenscore.sustainability.budgets import BudgetGauges

    suffixes = {
        "counter": ("_total", "_created"),
        "histogram": ("_bucket", "_sum", "_count", "_created"),
        "gauge": ("",),
        "info": ("_info",),
    }
    names = set()
    families = [*Monitor(ServingSettings()).registry.collect(), *BudgetGauges().registry.collect()]
    for family in families:
        for suffix in suffixes.get(family.type, ("",)):
            names.add(family.name + suffix)
    return frozenset(names)


def recording_rules() -> dict[str, str]:
    """Recording rules of deploy/prometheus/rules.yml: name -> expression."""
    rules = yaml.safe_load((DEPLOY / "prometheus" / "rules.yml").read_text())
    return {r["record"]: r["expr"] for g in rules["groups"] for r in g["rules"] if "record" in r}


_NAME = re.compile(r"\b(greenscore[a-zA-Z0-9_:]*|up|ALERTS)\b")
_STRING = re.compile(r'"[^"]*"')


def metric_names(expr: str) -> set[str]:
    """GreenScore metric (and recording-rule) names a PromQL expression selects."""
    return set(_NAME.findall(_STRING.sub('""', expr)))


def unknown_metrics(expr: str) -> set[str]:
    """Names in ``expr`` that neither the service, the rules nor Prometheus provide."""
    known = exposed_metrics() | set(recording_rules()) | PROMETHEUS_SERIES
    return metric_names(expr) - known
