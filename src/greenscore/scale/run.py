"""What the commands call for ``--engine dask``: each opens the cluster, runs, closes it.

Kept apart from the command modules so they stay thin (parse, call, print) and import
nothing of Dask unless the engine is asked for.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

from greenscore.data.cleaning import clean_name
from greenscore.data.loading import resolve_spec
from greenscore.data.spec import DatasetSpec
from greenscore.data.validation import ValidationReport
from greenscore.errors import ConfigError
from greenscore.explain.reason_codes import ReasonRows
from greenscore.models.bundle import ScoringBundle
from greenscore.scale.batch import BatchSummary, score_partitioned
from greenscore.scale.cluster import dask_client
from greenscore.scale.frames import LazyTable, read_lazy
from greenscore.scale.lgbm import distributed_lightgbm
from greenscore.scale.profile import profile_lazy
from greenscore.scale.validate import validate_lazy

T = TypeVar("T")
ERR_QUERY = "--query reads a database into memory: use --engine pandas for SQL sources"
ERR_SKIP = "--on-error skip is not available with --engine dask: fix or drop the rows first"
#: Rows of the first partition a spec is inferred from (``--target`` with ``--engine dask``).
INFER_ROWS = 50_000


def check_query(query: str | None) -> None:
    """Refuse ``--query`` with the Dask engine.

    Raises
    ------
    ConfigError
    """
    if query is not None:
        raise ConfigError(ERR_QUERY)


def lazy_spec(
    table: LazyTable,
    *,
    preset: str | None,
    spec_path: Path | None,
    target: str | None,
) -> DatasetSpec:
    """The spec from a preset, a file, or inferred from the first rows (``--target``)."""
    head = table.frame.partitions[0].compute().head(INFER_ROWS)
    named = head.set_axis([clean_name(c) for c in head.columns], axis=1)
    return resolve_spec(named, preset=preset, spec_path=spec_path, target=target)


def validate_source(
    data: str,
    scheduler: str,
    *,
    preset: str | None = None,
    spec_path: Path | None = None,
    target: str | None = None,
) -> ValidationReport:
    """Validate a CSV or Parquet source out of core on ``scheduler``."""
    with dask_client(scheduler):
        table = read_lazy(data)
        spec = lazy_spec(table, preset=preset, spec_path=spec_path, target=target)
        return validate_lazy(table, spec)


def profile_source(
    data: str,
    out: Path,
    scheduler: str,
    *,
    preset: str | None = None,
    spec_path: Path | None = None,
    target: str | None = None,
) -> dict[str, Any]:
    """Profile a CSV or Parquet source on ``scheduler`` (findings out of core)."""
    with dask_client(scheduler):
        table = read_lazy(data)
        spec = lazy_spec(table, preset=preset, spec_path=spec_path, target=target)
        return profile_lazy(table, spec, out)


def score_source(
    bundle: ScoringBundle,
    data: str | LazyTable,
    out: Path,
    scheduler: str,
    *,
    reasons: ReasonRows = "all",
    refuse_implausible: bool = True,
    margin: float = 0.0,
    force: bool = False,
    progress: Callable[[int, int], Any] | None = None,
    on_part: Callable[[int, Path], None] | None = None,
) -> BatchSummary:
    """Score a source partition by partition into ``out/part-NNNNN.parquet`` (``on_part``
    as :func:`~greenscore.scale.batch.score_partitioned`)."""
    with dask_client(scheduler) as client:
        return score_partitioned(
            client,
            bundle,
            data,
            out,
            reasons=reasons,
            refuse_implausible=refuse_implausible,
            margin=margin,
            force=force,
            progress=progress,
            on_part=on_part,
        )


@contextmanager
def lightgbm_on_cluster(scheduler: str) -> Iterator[Any]:
    """A cluster open, and the registry's ``lightgbm`` trained on it, while inside."""
    with dask_client(scheduler) as client, distributed_lightgbm():
        yield client


def open_lazy(data: str) -> LazyTable:
    """A source opened lazily, once: its partitions give a progress bar's total, and
    :func:`score_source` takes it as it is (opening a CSV counts its rows, a whole pass)."""
    return read_lazy(data)


def run_on(scheduler: str | None, job: Callable[[], T]) -> T:
    """``job()`` with LightGBM on the cluster when a scheduler is given, else as it is."""
    if scheduler is None:
        return job()
    with lightgbm_on_cluster(scheduler):
        return job()
