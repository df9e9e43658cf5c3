"""``greenscore retrain run-pending``: train a challenger for each pending training job and
let it replace the champion only if it is better.

For each job the monitor filed (:mod:`greenscore.store.training_jobs`), in order: claim it
(a second runner skips it), load the champion it names, train the same kind of model on
the data given (:func:`greenscore.workflows.train.train`: cross-validation, energy, report,
MLflow run), and compare the two on those rows (the champion never saw them; the
challenger by its out-of-fold PDs) with :func:`~greenscore.monitoring.champion.
compare_champion_challenger`. A registered champion (``models:/NAME...``) gets the
challenger as a new version under the alias ``challenger``, and the ``champion`` alias
moves to it only when the comparison says so. A champion that is a folder is never
overwritten: the challenger stays in the job's output folder with the verdict. The audit
log records every comparison and promotion; the job ends ``done`` with its result, or
``failed`` with the reason.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import numpy as np

from greenscore.config import Settings
from greenscore.data.loading import Dataset
from greenscore.errors import GreenScoreError
from greenscore.logging import get_logger
from greenscore.monitoring.champion import compare_champion_challenger
from greenscore.security.audit import record_event
from greenscore.store import database
from greenscore.store.training_jobs import (
    DONE,
    FAILED,
    PENDING,
    TrainingJob,
    claim_training_job,
    finish_training_job,
    training_jobs,
)

log = get_logger(__name__)

COMPARED = "monitor.retrain.compared"
PROMOTED = "monitor.retrain.promoted"
FOLDER_CHAMPION = (
    "the champion is a folder and is never overwritten: the challenger is in {folder}; "
    "register the champion (models:/NAME) to let retraining replace it"
)
_REGISTERED = re.compile(r"^models:/(?P<name>[^/@]+)")


def _registered_name(model: str) -> str | None:
    found = _REGISTERED.match(model)
    return found["name"] if found else None


def retrain(
    job: TrainingJob, dataset: Dataset, *, out: Path, settings: Settings, actor: str
) -> dict[str, Any]:
    """Train a challenger for one job, compare it with the champion, promote if better.

    Returns
    -------
    dict
        ``champion`` (its URI and name), ``challenger`` (folder, registered version or
        None), ``comparison`` (see :class:`~greenscore.monitoring.champion.Comparison`),
        ``promoted``, ``note`` (why a better challenger was not promoted, else None) and
        ``train_out``.
    """
    from greenscore.tracking.registry import load_bundle, register_bundle, set_alias
    from greenscore.workflows.train import TrainOptions, train

    champion = load_bundle(job.model, settings=settings)
    options = TrainOptions(
        models=[champion.name],
        cv=settings.training.cv_folds,
        out=out,
        seed=settings.seed,
        scoring=champion.scoring,
    )
    result = train(dataset, options)
    challenger = result.results[champion.name]
    scored = np.isfinite(challenger.oof)
    champion_pd = champion.predict_pd(champion.model_input(dataset.frame))
    comparison = compare_champion_challenger(
        dataset.y[scored],
        champion_pd[scored],
        challenger.oof[scored],
        alpha=settings.monitoring.challenger_alpha,
    )
    name = _registered_name(job.model)
    version = None
    if name is not None and settings.tracking.enabled:
        version = register_bundle(
            out / "model", name=name, run_id=result.run_id, alias="challenger", settings=settings
        )
    promoted = bool(comparison.promote and version is not None)
    details = {
        "job_id": job.id,
        "model": job.model,
        "challenger_version": version,
        "comparison": comparison.to_dict(),
        "promoted": promoted,
    }
    record_event(COMPARED, actor=actor, details=details, settings=settings)
    if promoted:
        assert name is not None and version is not None
        set_alias(name, version, "champion", settings=settings)
        record_event(
            PROMOTED,
            actor=actor,
            details={"job_id": job.id, "model": name, "version": version},
            settings=settings,
        )
    note = None
    if comparison.promote and not promoted:
        note = FOLDER_CHAMPION.format(folder=out / "model")
    return {
        "champion": {"uri": job.model, "name": champion.name},
        "challenger": {"folder": str(out / "model"), "registered_version": version},
        "comparison": comparison.to_dict(),
        "promoted": promoted,
        "note": note,
        "train_out": str(out),
    }


def run_pending(
    dataset: Dataset, *, out: Path, settings: Settings, actor: str
) -> list[dict[str, Any]]:
    """Run every pending training job on ``dataset``; one result (or error) per job.

    A job that fails on something the user can fix (a :class:`GreenScoreError`) ends
    ``failed`` with the message and the next job still runs; anything else ends it
    ``failed`` too and is raised.
    """
    results = []
    db = database(settings)
    for job in training_jobs(status=PENDING, db=db):
        if not claim_training_job(job.id, db=db):
            continue  # another runner took it
        try:
            result = retrain(job, dataset, out=out / job.id, settings=settings, actor=actor)
        except GreenScoreError as exc:
            finish_training_job(job.id, status=FAILED, error=exc.message, db=db)
            results.append({"job_id": job.id, "status": FAILED, "error": exc.message})
            continue
        except Exception as exc:
            finish_training_job(job.id, status=FAILED, error=f"{type(exc).__name__}: {exc}", db=db)
            raise
        finish_training_job(job.id, status=DONE, result=result, db=db)
        results.append({"job_id": job.id, "status": DONE, **result})
    return results
