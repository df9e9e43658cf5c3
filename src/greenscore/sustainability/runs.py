"""Measured training runs and registered models, read back from MLflow.

``greenscore train`` logs one MLflow run per training, with each model's figures as
``<model>.<metric>`` (``lightgbm.auc``, ``lightgbm.energy_kwh`` -- the mean of the
cross-validation fits --, ``lightgbm.final_energy_kwh``, ``lightgbm.n_folds``,
``lightgbm.energy_kwh_per_1k_predictions``) and its ``metrics.json`` (fairness of the best
model). This module turns those into :class:`TrainingRun` objects for the ESG score, the
report and the dashboard. A home without a tracking store has no runs: nothing is created
to find that out.
"""

from __future__ import annotations

import json
import math
import tempfile
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path
from typing import Any

from greenscore.config import Settings, get_settings
from greenscore.logging import get_logger
from greenscore.sustainability.budgets import training_kwh

log = get_logger(__name__)

_PER_MODEL = (
    "auc",
    "auc_std",
    "energy_kwh",
    "final_energy_kwh",
    "total_energy_kwh",
    "n_folds",
    "energy_kwh_per_1k_predictions",
    "fit_seconds",
)


@dataclass
class ModelFigures:
    """One model of one training run, as measured.

    Attributes
    ----------
    name : the model (``scorecard``, ``lightgbm``, ...).
    auc : cross-validated AUC.
    train_kwh : energy of all its fits in the run (tuning included when the run has it).
    fits : how many fits that was.
    kwh_per_1k : kWh per 1,000 predictions of its final model.
    fit_seconds : mean seconds per cross-validation fit.
    """

    name: str
    auc: float
    train_kwh: float
    fits: int
    kwh_per_1k: float
    fit_seconds: float

    @property
    def auc_points(self) -> float:
        """AUC points above chance (``(auc - 0.5) x 100``)."""
        return (self.auc - 0.5) * 100.0


@dataclass
class TrainingRun:
    """One ``greenscore train`` run.

    Attributes
    ----------
    run_id, name, started, status : MLflow's.
    models : figures per model.
    best : the model with the best AUC (the one saved as ``model/``).
    rows : rows trained on.
    fairness : the run's fairness report of the best model (None if it has none).
    """

    run_id: str
    name: str
    started: datetime
    status: str
    models: dict[str, ModelFigures]
    best: str | None
    rows: int | None
    fairness: dict[str, Any] | None = field(default=None, repr=False)

    @property
    def train_kwh(self) -> float:
        """Energy of every fit of every model in the run."""
        return float(sum(m.train_kwh for m in self.models.values()))


def _store_exists(uri: str) -> bool:
    if not uri.startswith("sqlite:///"):
        return True  # a server or another database: ask it
    path = Path(uri.removeprefix("sqlite:///"))
    return path.exists() and path.stat().st_size > 0


def _client(settings: Settings) -> Any | None:
    if not settings.tracking.enabled or not _store_exists(settings.tracking_uri):
        return None
    from greenscore.tracking.mlflow_run import client_for, tracking_uri

    return client_for(tracking_uri(settings))


def _models(metrics: dict[str, float], names: list[str]) -> dict[str, ModelFigures]:
    out = {}
    for name in names:
        summary = {k: metrics.get(f"{name}.{k}") for k in _PER_MODEL}
        if summary["auc"] is None or (
            summary["energy_kwh"] is None and summary["total_energy_kwh"] is None
        ):
            continue
        kwh, fits = training_kwh(summary)
        out[name] = ModelFigures(
            name=name,
            auc=float(summary["auc"]),
            train_kwh=kwh,
            fits=fits,
            kwh_per_1k=float(summary.get("energy_kwh_per_1k_predictions") or math.nan),
            fit_seconds=float(summary.get("fit_seconds") or math.nan),
        )
    return out


@lru_cache(maxsize=512)
def _fairness(uri: str, run_id: str) -> dict[str, Any] | None:
    """The fairness section of a finished run's metrics.json (runs do not change)."""
    from greenscore.tracking.mlflow_run import client_for

    try:
        with tempfile.TemporaryDirectory(prefix="greenscore-run-") as scratch:
            path = client_for(uri).download_artifacts(run_id, "metrics.json", scratch)
            return json.loads(Path(path).read_text(encoding="utf-8")).get("fairness")
    except Exception as exc:  # noqa: BLE001 - a run without the file simply has no fairness
        log.info("no metrics.json in run", extra={"run_id": run_id, "error": repr(exc)})
        return None


def training_runs(
    *,
    since: datetime | None = None,
    until: datetime | None = None,
    settings: Settings | None = None,
) -> list[TrainingRun]:
    """Finished training runs started in ``[since, until)``, oldest first.

    Runs without per-model AUC and energy (registration-only runs, other tools' runs)
    are left out.
    """
    settings = settings or get_settings()
    client = _client(settings)
    if client is None:
        return []
    from mlflow.entities import ViewType

    experiments = [e.experiment_id for e in client.search_experiments(view_type=ViewType.ALL)]
    if not experiments:
        return []
    clauses = ["attributes.status = 'FINISHED'"]
    if since is not None:
        clauses.append(f"attributes.start_time >= {int(since.timestamp() * 1000)}")
    if until is not None:
        clauses.append(f"attributes.start_time < {int(until.timestamp() * 1000)}")
    runs = client.search_runs(
        experiments,
        filter_string=" and ".join(clauses),
        max_results=5000,
        order_by=["attributes.start_time ASC"],
    )
    out = []
    for run in runs:
        names = [n for n in run.data.params.get("models", "").split(",") if n]
        models = _models(run.data.metrics, names)
        if not models:
            continue
        rows = run.data.params.get("dataset.rows")
        out.append(
            TrainingRun(
                run_id=run.info.run_id,
                name=run.info.run_name or run.info.run_id,
                started=datetime.fromtimestamp(run.info.start_time / 1000, tz=UTC),
                status=run.info.status,
                models=models,
                best=max(models, key=lambda n: models[n].auc),
                rows=int(rows) if rows and rows.isdigit() else None,
                fairness=_fairness(settings.tracking_uri, run.info.run_id),
            )
        )
    return out


@dataclass
class RegisteredVersion:
    """One version of a registered model, with its aliases and the run it came from."""

    name: str
    version: int
    aliases: list[str]
    run_id: str | None
    created: datetime


def registered_versions(settings: Settings | None = None) -> list[RegisteredVersion]:
    """Every version of every registered model, newest first (empty without a registry)."""
    settings = settings or get_settings()
    client = _client(settings)
    if client is None:
        return []
    out = []
    for model in client.search_registered_models(max_results=1000):
        aliases: dict[str, list[str]] = {}
        for alias, version in (model.aliases or {}).items():
            aliases.setdefault(str(version), []).append(alias)
        for v in client.search_model_versions(f"name='{model.name}'"):
            out.append(
                RegisteredVersion(
                    name=model.name,
                    version=int(v.version),
                    aliases=sorted(aliases.get(str(v.version), [])),
                    run_id=v.run_id,
                    created=datetime.fromtimestamp(v.creation_timestamp / 1000, tz=UTC),
                )
            )
    return sorted(out, key=lambda r: (r.created, r.version), reverse=True)
