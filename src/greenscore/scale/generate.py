"""Large synthetic portfolios generated on Dask workers, chunk by chunk.

:func:`greenscore.data.synthetic_parts.write_synthetic_parts` with its chunks spread over a
cluster's workers: each worker generates and writes whole chunks, so no process ever holds
more than one chunk, and the client only counts rows.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

from greenscore.data.synthetic_parts import DEFAULT_CHUNK_ROWS, write_synthetic_parts


def dask_mapper(client: Any) -> Callable[[Callable[[int], int], Iterable[int]], Iterator[int]]:
    """``mapper(fn, items)`` running ``fn`` on ``client``'s workers, yielding as they finish."""
    from distributed import as_completed

    def run(fn: Callable[[int], int], items: Iterable[int]) -> Iterator[int]:
        futures = client.map(fn, list(items), pure=False)
        for future in as_completed(futures):
            yield int(future.result())
            future.release()  # the client keeps nothing of a finished chunk

    return run


def generate_on_cluster(
    client: Any,
    out_dir: str | Path,
    *,
    rows: int,
    seed: int = 42,
    default_rate: float = 0.15,
    chunk_rows: int = DEFAULT_CHUNK_ROWS,
    progress: Callable[[int], Any] | None = None,
) -> dict[str, Path]:
    """Write a partitioned portfolio with chunks generated on the cluster's workers.

    The folder must be one the workers can write (this machine's disk for ``local:N``,
    shared storage for a remote cluster).
    """
    return write_synthetic_parts(
        out_dir,
        rows=rows,
        seed=seed,
        default_rate=default_rate,
        chunk_rows=chunk_rows,
        mapper=dask_mapper(client),
        progress=progress,
    )
