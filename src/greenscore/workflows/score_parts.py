"""Score on a Dask cluster with the privacy promises of :func:`~greenscore.workflows.score.score_file`.

What ``greenscore score --engine dask`` runs. The partitions are scored on workers
(:func:`greenscore.scale.run.score_source`); what the pandas engine promises about
personal data is kept here, on the client, with the pandas engine's own functions:

* consent — when ``privacy.require_consent`` is set, every subject of the input is checked
  before the cluster starts and any partition is scored, one partition's id column at a
  time (never the whole table in one frame), and a subject without consent refuses the run naming the first
  such row, as :func:`~greenscore.workflows.score.score_file` does (exit 2);
* lineage — ``scored`` is recorded for the subjects of each part as it is written (read
  back from the part's id column), once per part: a resumed run records only the parts it
  scores (or that an earlier run wrote but died before recording);
* erasure and retention — the output folder is registered with the privacy registry as
  soon as its first part is written (so a run that fails half way is reachable too), and
  again at the end, so an erasure rewrites every part that holds the subject.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd

from greenscore.config import Settings, get_settings
from greenscore.explain.reason_codes import ReasonRows
from greenscore.models.bundle import ScoringBundle
from greenscore.scale.batch import BatchSummary
from greenscore.scale.frames import LazyTable, column_slices
from greenscore.scale.run import score_source
from greenscore.workflows.score import (
    consent_column,
    lacking_consent,
    refuse_without_consent,
    register_output,
)
from greenscore.workflows.subject_lineage import record_scoring


def require_consent_by_parts(
    table: LazyTable, bundle: ScoringBundle, purpose: str, *, settings: Settings
) -> None:
    """Refuse a lazy table when a subject in it has not consented to ``purpose``.

    The verdict and message are :func:`~greenscore.workflows.score.score_file`'s: the first
    row lacking consent is named with the count of the others, so every partition's id
    column is checked (only that column is read).

    Raises
    ------
    ConsentMissingError
        As the pandas engine (exit 2).
    """
    column = consent_column(bundle, table.frame.columns, purpose)
    first: Any = None
    count = 0
    for ids in column_slices(table, column):
        lacking = lacking_consent(ids, purpose, settings=settings)
        if len(lacking) and first is None:
            first = lacking[0]
        count += len(lacking)
    refuse_without_consent(first, count, purpose)


def _part_columns(part: Path) -> list[str]:
    import pyarrow.parquet as pq  # type: ignore[import-untyped]

    return [str(c) for c in pq.read_schema(part).names]


def score_on_cluster(
    bundle: ScoringBundle,
    table: LazyTable,
    out: Path,
    scheduler: str,
    *,
    reasons: ReasonRows = "all",
    refuse_implausible: bool = True,
    margin: float = 0.0,
    force: bool = False,
    progress: Callable[[int, int], Any] | None = None,
) -> BatchSummary:
    """Score ``table`` on ``scheduler`` into ``out/part-NNNNN.parquet``, checking consent
    first, recording ``scored`` lineage per part and registering the folder for erasure.

    Raises
    ------
    ConsentMissingError
        When ``privacy.require_consent`` names a purpose a subject has not consented to
        (nothing is scored then).
    ConfigError, DataError
        As :func:`greenscore.scale.batch.score_partitioned`.
    """
    settings = get_settings()
    purpose = settings.privacy.require_consent
    id_column = bundle.spec.id_column
    registered: list[Path] = []
    if purpose:
        require_consent_by_parts(table, bundle, purpose, settings=settings)

    def record(index: int, part: Path) -> None:
        columns = _part_columns(part)
        if not registered:  # reachable by erasure from its first part on
            register_output(out, id_column, columns, settings=settings)
            registered.append(out)
        if id_column and id_column in columns:
            record_scoring(
                pd.read_parquet(part, columns=[id_column]),
                bundle.spec,
                model_name=bundle.model_name,
                model_version=bundle.version,
                dataset_sha=None,
                settings=settings,
            )

    summary = score_source(
        bundle,
        table,
        out,
        scheduler,
        reasons=reasons,
        refuse_implausible=refuse_implausible,
        margin=margin,
        force=force,
        progress=progress,
        on_part=record,
    )
    parts = sorted(out.glob("part-*.parquet"))
    if parts:  # the folder's fingerprint once every part is in place
        register_output(out, id_column, _part_columns(parts[0]), settings=settings)
    return summary
