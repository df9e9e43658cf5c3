"""Large synthetic portfolios generated on Dask workers, chunk by chunk.

:func:`dask_mapper` is the ``mapper`` that spreads
:func:`greenscore.data.synthetic_parts.write_synthetic_parts`'s chunks over a cluster's
workers: each worker generates and writes whole chunks, so no process ever holds
more than one chunk, and the client only counts rows.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import Any

from greenscore.data.synthetic_parts import Mapper


def dask_mapper(client: Any) -> Mapper:
    """``mapper(fn, items)`` running ``fn`` on ``client``'s workers, yielding as they finish."""
    from distributed import as_completed

    def run(fn: Callable[[int], int], items: Iterable[int]) -> Iterator[int]:
        futures = client.map(fn, list(items), pure=False)
        for future in as_completed(futures):
            yield int(future.result())
            future.release()  # the client keeps nothing of a finished chunk

    return run
