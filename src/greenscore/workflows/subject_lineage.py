"""Subject lineage of the data commands: which subjects trained which model, which were scored.

``greenscore train`` records ``trained_on`` for every subject of its dataset against the
model it saved (the name and version the service will report when it serves the bundle,
and the registry's name and version when it was registered); ``greenscore score`` records
``scored`` against the bundle it scored with. The service and its jobs record ``scored``
with each decision (:mod:`greenscore.serving.recorder`). Subjects are the values of the
spec's id column, kept only as their pseudonyms
(:func:`greenscore.security.pseudonym.subject_hashes`); a dataset without an id column has
no subjects to record, which :func:`record_training` reports as 0 rows.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from greenscore.config import Settings
from greenscore.data.spec import DatasetSpec
from greenscore.models.bundle import METADATA_FILE
from greenscore.models.metadata import UNSAVED
from greenscore.privacy.lineage import record_lineage
from greenscore.security.pseudonym import subject_hashes
from greenscore.store import database


def subject_ids(values: pd.Series) -> list[str | None]:
    """An id column's values as the text each subject is hashed from, row by row (None
    where missing): what lineage and the consent check of a scored file both hash."""
    present = values.dropna()
    # Integer ids read as floats (a CSV with gaps) are the integers, not '1234.0'.
    whole = pd.api.types.is_float_dtype(present) and bool(
        (np.isfinite(present) & (present == present.round())).all()
    )
    return [None if pd.isna(v) else str(int(v)) if whole else str(v).strip() for v in values]


def subjects_of(frame: pd.DataFrame, spec: DatasetSpec, *, settings: Settings) -> list[str]:
    """The pseudonyms of a frame's subjects (its id column), distinct, in row order."""
    column = spec.id_column
    if not column or column not in frame.columns:
        return []
    ids = [i for i in subject_ids(frame[column]) if i is not None]
    return [h for h in dict.fromkeys(subject_hashes(ids, settings=settings)) if h is not None]


def record_training(
    frame: pd.DataFrame,
    spec: DatasetSpec,
    *,
    dataset_sha: str,
    model_folder: Path,
    registered: tuple[str, int] | None = None,
    settings: Settings,
) -> int:
    """Record that every subject of ``frame`` trained the bundle saved in ``model_folder``.

    Returns
    -------
    int
        Lineage rows written (one per subject and model identity).
    """
    subjects = subjects_of(frame, spec, settings=settings)
    if not subjects:
        return 0
    meta = json.loads((Path(model_folder) / METADATA_FILE).read_text("utf-8"))
    identities = [(str(meta["name"]), str(meta.get("content_id") or UNSAVED))]
    if registered is not None:
        identities.append((registered[0], str(registered[1])))
    db = database(settings)
    return sum(
        record_lineage(
            subjects,
            action="trained_on",
            dataset_sha=dataset_sha,
            model_name=name,
            model_version=version,
            db=db,
        )
        for name, version in identities
    )


def record_scoring(
    frame: pd.DataFrame,
    spec: DatasetSpec,
    *,
    model_name: str,
    model_version: str,
    dataset_sha: str | None,
    settings: Settings,
) -> int:
    """Record that a model scored every subject of ``frame``; returns the rows written."""
    subjects = subjects_of(frame, spec, settings=settings)
    if not subjects:
        return 0  # no id column: nobody to record, and no database to open for it
    return record_lineage(
        subjects,
        action="scored",
        dataset_sha=dataset_sha,
        model_name=model_name,
        model_version=model_version,
        db=database(settings),
    )
