"""Find and read a train run's files from what ``--model`` names.

A run folder (holding ``metrics.json``), its served bundle (``RUN/model``) or one of its
per-model bundles (``RUN/models/NAME``) all lead to the same run. Documents are generated
from these files only: ``metrics.json``, ``performance.json`` and ``lineage.json`` of the
run, the bundle's ``metadata.json`` and ``spec.yaml``, and ``card.yaml``, the facts a
person adds (intended use, limitations, approvals), never figures.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from greenscore.data.spec import DatasetSpec
from greenscore.errors import ConfigError
from greenscore.models.bundle import NoBundleError

FACTS_FILE = "card.yaml"
NOT_A_RUN = (
    "--model {path}: no metrics.json in it or beside it; a card is generated from the folder "
    "'greenscore train' wrote (the run folder, RUN/model or RUN/models/NAME)"
)
FACTS_TEMPLATE = """\
# Facts a person adds to the model card and compliance documents of this run. Figures are
# never written here: they come from the run's files. Leave a field empty to use the default.
owner: ""                # team accountable for the model
intended_use: ""         # replaces the default intended-use paragraph
out_of_scope: []         # uses beyond the defaults that are not allowed
limitations: []          # known weaknesses beyond those the run's figures show
mitigations: []          # fairness or other mitigations decided after review
approvals: []            # - {role: model validation, name: ..., date: 2026-12-01, decision: approved}
"""


@dataclass
class RunFiles:
    """The files of one train run, as read, and which model of it is documented."""

    run_dir: Path
    model_dir: Path
    model: str
    metrics: dict[str, Any]
    metadata: dict[str, Any]
    spec: DatasetSpec
    performance: dict[str, Any] | None
    lineage: dict[str, Any] | None
    facts: dict[str, Any] = field(default_factory=dict)

    @property
    def summary(self) -> dict[str, Any]:
        """This model's cross-validated figures in ``metrics.json``."""
        return dict(self.metrics["models"].get(self.model, self.metadata.get("metrics", {})))


def _read_json(path: Path) -> dict[str, Any] | None:
    return json.loads(path.read_text("utf-8")) if path.is_file() else None


def _locate(path: Path) -> tuple[Path, Path]:
    """(run folder, bundle folder) for a run, its model/ or one of its models/NAME."""
    if not path.exists():
        raise NoBundleError(f"--model {path}: no such folder")  # the caller's typo: exit 2
    if (path / "metrics.json").is_file():
        return path, path / "model"
    for run in (path.parent, path.parent.parent):
        if (path / "metadata.json").is_file() and (run / "metrics.json").is_file():
            return run, path
    raise ConfigError(NOT_A_RUN.format(path=path))


def read_facts(run_dir: Path, *, create: bool = False) -> dict[str, Any]:
    """``card.yaml`` of the run (written as an empty template first when ``create``)."""
    path = run_dir / FACTS_FILE
    if not path.is_file():
        if create:
            path.write_text(FACTS_TEMPLATE, encoding="utf-8")
        return {}
    data = yaml.safe_load(path.read_text("utf-8")) or {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping of facts, got {type(data).__name__}")
    return data


def open_run(model: str | Path, *, create_facts: bool = False) -> RunFiles:
    """Read the run that ``model`` (a run folder or one of its bundles) belongs to."""
    text = str(model)
    if text.startswith("models:/") or "://" in text:
        raise ConfigError(
            f"--model {text}: give the run folder or its bundle folder (a card is generated "
            "from the run's files; a registered version's run folder is named by its run id "
            "in 'greenscore mlflow ui')"
        )
    run_dir, model_dir = _locate(Path(text))
    metrics = _read_json(run_dir / "metrics.json") or {}
    metadata = _read_json(model_dir / "metadata.json") or {}
    if not metadata:
        raise ConfigError(f"--model {model}: {model_dir} holds no metadata.json")
    return RunFiles(
        run_dir=run_dir,
        model_dir=model_dir,
        model=str(metadata.get("name", metrics.get("best"))),
        metrics=metrics,
        metadata=metadata,
        spec=DatasetSpec.from_yaml(model_dir / "spec.yaml"),
        performance=_read_json(run_dir / "performance.json"),
        lineage=_read_json(run_dir / "lineage.json"),
        facts=read_facts(run_dir, create=create_facts),
    )
