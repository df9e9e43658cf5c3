"""Batch scoring with reasons, partition by partition, into partitioned Parquet.

Each input partition (a Parquet part, or a CSV block) is scored on a Dask worker by the
bundle's scoring runtime and reason coder — the objects the API and ``greenscore score``
use — and written as ``OUT/part-NNNNN.parquet``, NNNNN being the input partition's number.
A part is written under a temporary hidden name and renamed into place, so:

* a part is either whole or absent, never half-written;
* a task run again (its worker died, Dask retried it elsewhere) or a run started again
  writes the same name, so a row is never in the output twice;
* a run started again over the same input and model (``resume``) scores only the parts
  that are absent; ``_manifest.json`` records the input and model so a folder is never
  resumed with another;
* the caller may be told of each part on the client (``on_part``: subject lineage is
  recorded there), once per part written: ``_acknowledged.json`` lists the parts it was
  told of, so a resumed run tells only of the others — those it scores, and any part an
  earlier run wrote but died before telling of (a death between the telling and the
  listing tells of that part twice: at least once, never lost).

The pandas engine runs :func:`score_partition` on the whole frame in-process: the Dask
engine gives the same scores and reasons because each row's are computed from that row
alone, by the same function.
"""

from __future__ import annotations

import json
import os
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from greenscore.errors import ConfigError
from greenscore.explain.reason_codes import ReasonCoder, ReasonRows, scored_with_reasons
from greenscore.models.bundle import ScoringBundle
from greenscore.models.runtime import ScoringRuntime
from greenscore.scale.frames import LazyTable, read_lazy

PART_NAME = "part-{index:05d}.parquet"
MANIFEST = "_manifest.json"
#: The parts whose ``on_part`` call returned (see the module docstring).
ACKNOWLEDGED = "_acknowledged.json"
ROW_COLUMN = "row"
ERR_OTHER_RUN = (
    "--out {path} holds the scores of another input or model ({what} differs); "
    "use a new folder, or --force to start it again"
)
ERR_OUT_IS_FILE = "--out {path} is a file; the dask engine writes a folder of Parquet parts"

# One runtime and coder per bundle per worker process: building them checks the compiled
# model on probe rows, which costs seconds, not something to repeat per partition.
_PREPARED: dict[str, tuple[ScoringRuntime, ReasonCoder]] = {}


@dataclass(frozen=True)
class BatchSummary:
    """What one partitioned scoring run did.

    Attributes
    ----------
    rows : rows in the input.
    partitions : parts in the output (one per input partition).
    scored_now : parts scored by this run (the others were already written: resume).
    out : the output folder.
    seconds : wall time of this run.
    """

    rows: int
    partitions: int
    scored_now: int
    out: Path
    seconds: float


def prepared(bundle: ScoringBundle) -> tuple[ScoringRuntime, ReasonCoder]:
    """The bundle's scoring runtime and reason coder, built once per process."""
    key = f"{bundle.name}:{bundle.version}:{id(bundle) if bundle.version == 'unsaved' else ''}"
    found = _PREPARED.get(key)
    if found is None:
        runtime = ScoringRuntime(bundle)
        found = (runtime, ReasonCoder.from_bundle(bundle, runtime=runtime))
        _PREPARED[key] = found
    return found


def score_partition(
    frame: pd.DataFrame,
    bundle: ScoringBundle,
    *,
    reasons: ReasonRows = "all",
    refuse_implausible: bool = True,
    margin: float = 0.0,
) -> pd.DataFrame:
    """PD, points, decision, flags and (optionally) reasons of raw applications.

    Parameters
    ----------
    frame : DataFrame
        Raw applications; their index (the data row) becomes the ``row`` column.
    bundle : ScoringBundle
    reasons : {"all", "adverse", "none"}
        Which rows get ``reason_K_code``, ``reason_K_feature``, ``reason_K_contribution``
        and ``reason_K_text`` for K up to ``settings.scoring.reason_codes``: every row, the
        reviews and declines only (approvals' columns empty), or none (no columns).
    refuse_implausible, margin : as :meth:`ScoringRuntime.score_frame`.

    Raises
    ------
    DataError
        Naming the first row and column that cannot be scored.
    """
    runtime, coder = prepared(bundle)
    scored = scored_with_reasons(
        runtime,
        coder,
        frame,
        refuse_implausible=refuse_implausible,
        margin=margin,
        rows=reasons,
    )
    scored.insert(0, ROW_COLUMN, frame.index.to_numpy())
    return scored.reset_index(drop=True)


def part_path(out: Path, index: int) -> Path:
    """Where input partition ``index``'s scores are written."""
    return out / PART_NAME.format(index=index)


def _score_and_write(
    part: pd.DataFrame,
    index: int,
    out: str,
    bundle: ScoringBundle,
    options: dict[str, Any],
    hook: Callable[[int], None] | None,
) -> int:
    """Score one partition and move its part into place (runs on a worker)."""
    result = score_partition(part, bundle, **options)
    final = part_path(Path(out), index)
    tmp = final.with_name(f".{final.name}.tmp-{os.getpid()}-{uuid.uuid4().hex[:8]}")
    result.to_parquet(tmp, engine="pyarrow", index=False)
    if hook is not None:
        hook(index)  # between the write and the rename: where a dying worker hurts most
    os.replace(tmp, final)
    return len(result)


def _manifest(table: LazyTable, bundle: ScoringBundle, reasons: ReasonRows) -> dict[str, Any]:
    return {
        "input": table.location,
        "parts": list(table.parts),
        "lengths": list(table.lengths),
        "model": f"{bundle.name}:{bundle.version}",
        "reasons": reasons,
    }


def _remove_stale(out: Path) -> None:
    for stale in out.glob(".part-*.tmp-*"):
        stale.unlink(missing_ok=True)  # a worker died between its write and its rename


def _check_out(out: Path, manifest: dict[str, Any], *, force: bool) -> None:
    if out.exists() and not out.is_dir():
        raise ConfigError(ERR_OUT_IS_FILE.format(path=out))
    out.mkdir(parents=True, exist_ok=True)
    path = out / MANIFEST
    if path.exists():
        before = json.loads(path.read_text("utf-8"))
        differs = [k for k in manifest if before.get(k) != manifest[k]]
        if differs and not force:
            raise ConfigError(ERR_OTHER_RUN.format(path=out, what=", ".join(differs)))
        if differs or force:
            for old in out.glob("part-*.parquet"):
                old.unlink()
            (out / ACKNOWLEDGED).unlink(missing_ok=True)  # told of parts that are gone
    _remove_stale(out)
    path.write_text(json.dumps(manifest, indent=1), "utf-8")


def _acknowledged(out: Path) -> set[int]:
    path = out / ACKNOWLEDGED
    return set(json.loads(path.read_text("utf-8"))) if path.exists() else set()


def _acknowledge(out: Path, done: set[int]) -> None:
    path = out / ACKNOWLEDGED
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}-{uuid.uuid4().hex[:8]}")
    tmp.write_text(json.dumps(sorted(done)), "utf-8")
    os.replace(tmp, path)  # whole or absent, as the parts


def _tell(out: Path, index: int, on_part: Callable[[int, Path], None], done: set[int]) -> None:
    on_part(index, part_path(out, index))
    done.add(index)
    _acknowledge(out, done)


def score_partitioned(
    client: Any,
    bundle: ScoringBundle,
    data: str | Path | LazyTable,
    out: str | Path,
    *,
    reasons: ReasonRows = "all",
    refuse_implausible: bool = True,
    margin: float = 0.0,
    force: bool = False,
    progress: Callable[[int, int], Any] | None = None,
    hook: Callable[[int], None] | None = None,
    on_part: Callable[[int, Path], None] | None = None,
) -> BatchSummary:
    """Score a CSV or Parquet source on a Dask cluster into ``out/part-NNNNN.parquet``.

    Parameters
    ----------
    client : distributed.Client
    bundle : ScoringBundle
    data : CSV file, Parquet file or folder of Parquet parts, or such a source already
        opened by :func:`~greenscore.scale.frames.read_lazy` (opening a CSV counts its
        rows: a pass over the whole file not to be made twice).
    out : output folder (resumed when it holds an earlier run over the same input/model).
    reasons, refuse_implausible, margin : as :func:`score_partition`.
    force : start a folder holding another run's parts again.
    progress : called with (rows, partitions) as each part is written.
    hook : called on the worker with the partition number after its part is written
        under the temporary name and before it is renamed (tests kill a worker there).
    on_part : called on the client with the partition number and its part's path, once
        per part written (see the module docstring): as each part of this run is
        written, and first for parts of an earlier run it was never called for.

    Raises
    ------
    ConfigError
        If ``out`` is a file or holds another run's parts (without ``force``).
    DataError
        If the source cannot be read lazily, or (from a worker) a row cannot be scored.
    """
    from dask import delayed
    from distributed import as_completed

    started = time.perf_counter()
    table = data if isinstance(data, LazyTable) else read_lazy(data)
    out = Path(out)
    _check_out(out, _manifest(table, bundle, reasons), force=force)
    todo = [i for i in range(table.npartitions) if not part_path(out, i).exists()]
    options = {"reasons": reasons, "refuse_implausible": refuse_implausible, "margin": margin}
    told = _acknowledged(out) if on_part is not None else set()
    if on_part is not None:
        for index in sorted(set(range(table.npartitions)) - set(todo) - told):
            _tell(out, index, on_part, told)  # an earlier run wrote it and died untold
    if todo:
        # The bundle as a key of the graph, not scattered data: a worker that dies loses
        # its copy, and Dask can make a key again from its recipe but not scattered data.
        shared = delayed(bundle, pure=True, traverse=False)
        parts = table.frame.to_delayed()
        score = delayed(_score_and_write, pure=False)
        tasks = [score(parts[i], i, str(out), shared, options, hook) for i in todo]
        futures = client.compute(tasks)
        index_of = {future.key: index for future, index in zip(futures, todo, strict=True)}
        for future in as_completed(futures):
            rows = future.result()
            index = index_of[future.key]
            future.release()
            if on_part is not None:
                _tell(out, index, on_part, told)
            if progress is not None:
                progress(rows, 1)
        _remove_stale(out)  # every part is in place: what is left is a dead worker's
    return BatchSummary(
        rows=table.n_rows,
        partitions=table.npartitions,
        scored_now=len(todo),
        out=out,
        seconds=time.perf_counter() - started,
    )
