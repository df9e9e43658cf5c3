"""Large synthetic portfolios written as partitioned Parquet, chunk by chunk.

:func:`greenscore.data.synthetic.generate` builds a whole dataset in memory (about 1.2 KB a
row: 10 million rows would need 12 GB). Here the portfolio is cut into chunks of
``chunk_rows`` applicants; each chunk is one call of ``generate`` with its own seed (derived
from the run's seed and the chunk number), its ids shifted to follow the previous chunk's,
and is written as ``applications/part-NNNNN.parquet`` and ``relations/part-NNNNN.parquet``
before the next is made, so memory stays that of one chunk whatever the total.

What differs from one big ``generate``: the borrower graph (households, employers,
guarantors) links applicants within a chunk only, and the default rate is met per chunk.
Each part is written to a temporary name and renamed, so an interrupted run leaves no
half-written part, and a re-run skips the parts already there (``resume``): a chunk's
bytes depend only on the seed and its number.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from greenscore.data._synthetic_params import APPLICATIONS_DIR, DATASHEET_FILE, RELATIONS_DIR
from greenscore.data.synthetic import FIRST_ID, MIN_ROWS, generate
from greenscore.errors import ConfigError

PART_NAME = "part-{index:05d}.parquet"
#: Applicants per chunk by default: about 120 MB in memory.
DEFAULT_CHUNK_ROWS = 100_000
ERR_CHUNK = "chunk_rows must be an integer of at least {minimum}, got {value!r}"

Mapper = Callable[[Callable[[int], int], Iterable[int]], Iterable[int]]


def chunk_sizes(rows: int, chunk_rows: int) -> list[int]:
    """Sizes of the chunks of ``rows`` applicants; the last one takes the remainder.

    A remainder smaller than the generator's minimum joins the chunk before it.

    Raises
    ------
    ConfigError
        If ``chunk_rows`` is below the generator's minimum.
    """
    if not isinstance(chunk_rows, int) or chunk_rows < MIN_ROWS:
        raise ConfigError(ERR_CHUNK.format(minimum=MIN_ROWS, value=chunk_rows))
    full, rest = divmod(int(rows), chunk_rows)
    sizes = [chunk_rows] * full
    if rest:
        if rest < MIN_ROWS and sizes:
            sizes[-1] += rest
        else:
            sizes.append(rest)
    return sizes


def chunk_seed(seed: int, index: int) -> int:
    """The seed of chunk ``index``: independent streams from one run seed."""
    return int(np.random.SeedSequence([int(seed), int(index)]).generate_state(1)[0])


def _atomic_parquet(frame: pd.DataFrame, path: Path) -> None:
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    frame.to_parquet(tmp, engine="pyarrow", compression="zstd", index=False)
    os.replace(tmp, path)  # readers never see a half-written part


def write_part(
    out_dir: str | Path,
    index: int,
    *,
    sizes: list[int],
    seed: int,
    default_rate: float,
    resume: bool = True,
    first_id: int = FIRST_ID,
) -> int:
    """Generate and write chunk ``index``; the number of applicants it holds.

    Parameters
    ----------
    out_dir : the dataset folder (``applications/`` and ``relations/`` inside).
    index : chunk number (0-based).
    sizes : every chunk's size (:func:`chunk_sizes`), for the ids' offset.
    seed, default_rate : as :func:`~greenscore.data.synthetic.generate`.
    resume : skip a chunk whose parts are already written.
    first_id : the portfolio's first applicant id (chunk ``index`` follows the ones before).
    """
    out = Path(out_dir)
    apps = out / APPLICATIONS_DIR / PART_NAME.format(index=index)
    rels = out / RELATIONS_DIR / PART_NAME.format(index=index)
    if resume and apps.exists() and rels.exists():
        return sizes[index]
    data = generate(
        sizes[index],
        seed=chunk_seed(seed, index),
        default_rate=default_rate,
        first_id=first_id + int(sum(sizes[:index])),
    )
    applications, relations = data.applications, data.relations
    apps.parent.mkdir(parents=True, exist_ok=True)
    rels.parent.mkdir(parents=True, exist_ok=True)
    _atomic_parquet(applications, apps)
    _atomic_parquet(relations, rels)
    if index == 0:
        note = (
            f"# Partitioned synthetic portfolio\n\n{sum(sizes):,} applicants in {len(sizes)} "
            f"chunks (seed {seed}); every chunk is generated as below, with its own seed, and "
            "its borrower links stay inside the chunk.\n\n"
        )
        (out / DATASHEET_FILE).write_text(note + data.datasheet, encoding="utf-8")
    return len(applications)


def write_synthetic_parts(
    out_dir: str | Path,
    *,
    rows: int,
    seed: int = 42,
    default_rate: float = 0.15,
    chunk_rows: int = DEFAULT_CHUNK_ROWS,
    resume: bool = True,
    mapper: Mapper | None = None,
    progress: Callable[[int], Any] | None = None,
    first_id: int = FIRST_ID,
) -> dict[str, Path]:
    """Write a portfolio of ``rows`` applicants as partitioned Parquet under ``out_dir``.

    Parameters
    ----------
    out_dir : folder to write ``applications/``, ``relations/`` and ``datasheet.md`` into.
    rows, seed, default_rate : as :func:`~greenscore.data.synthetic.generate`.
    chunk_rows : applicants per chunk (and per Parquet part).
    resume : keep parts already written by an interrupted run with the same arguments.
    mapper : ``mapper(fn, indices)`` runs ``fn`` over chunk numbers and yields their row
        counts as they finish (e.g. on Dask workers); in this process, one by one, if None.
    progress : called with each finished chunk's row count.
    first_id : the first applicant id, as :func:`~greenscore.data.synthetic.generate`'s.

    Returns
    -------
    dict
        ``{"applications": folder, "relations": folder, "datasheet": path}``.

    Raises
    ------
    ConfigError
        If an argument is out of range.
    """
    if not isinstance(rows, int) or rows < MIN_ROWS:
        raise ConfigError(f"rows must be an integer of at least {MIN_ROWS}, got {rows!r}")
    sizes = chunk_sizes(rows, chunk_rows)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)

    def one(index: int) -> int:
        return write_part(
            out,
            index,
            sizes=sizes,
            seed=seed,
            default_rate=default_rate,
            resume=resume,
            first_id=first_id,
        )

    run = mapper or (lambda fn, items: map(fn, items))
    # Chunk 0 writes the datasheet; it goes first so a parallel run has it early.
    for written in run(one, range(len(sizes))):
        if progress is not None:
            progress(written)
    return {
        "applications": out / APPLICATIONS_DIR,
        "relations": out / RELATIONS_DIR,
        "datasheet": out / DATASHEET_FILE,
    }
