"""One way to a Dask client from ``--engine`` and ``--scheduler``.

``local:N`` starts a :class:`distributed.LocalCluster` of N single-threaded worker
*processes* (real processes: a worker that dies is restarted by its nanny, and its tasks
are run again elsewhere); anything else is the address of a running scheduler
(``tcp://10.0.0.5:8786``). The default engine stays pandas in-process: nothing here is
imported unless ``--engine dask`` is asked for.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from greenscore.errors import ConfigError

ENGINES = ("pandas", "dask")
ERR_ENGINE = "--engine must be pandas or dask, not '{value}'"
ERR_SCHEDULER = (
    "--scheduler must be local:N (N worker processes here, 1-64) or a scheduler address "
    "such as tcp://host:8786, not '{value}'"
)
ERR_SCHEDULER_WITHOUT_DASK = "--scheduler is only used with --engine dask"
ERR_CONNECT = "cannot reach the Dask scheduler at {address}: {reason}"
#: The scheduler used by ``--engine dask`` when ``--scheduler`` is not given.
DEFAULT_SCHEDULER = "local:2"
#: Memory each local worker may use before Dask pauses, spills and finally restarts it.
LOCAL_MEMORY_LIMIT = "2GiB"
_LOCAL = re.compile(r"^local:(\d+)$")
_ADDRESS = re.compile(r"^(tcp|tls|inproc|ws|wss|ucx)://\S+$")


def check_engine(engine: str, scheduler: str | None) -> str | None:
    """Check ``--engine``/``--scheduler`` before any data is read; the scheduler to use.

    Returns
    -------
    str or None
        None for the pandas engine, else the scheduler (``local:2`` by default).

    Raises
    ------
    ConfigError
        For an unknown engine, a malformed scheduler, or a scheduler without ``dask``.
    """
    if engine not in ENGINES:
        raise ConfigError(ERR_ENGINE.format(value=engine))
    if engine == "pandas":
        if scheduler is not None:
            raise ConfigError(ERR_SCHEDULER_WITHOUT_DASK)
        return None
    scheduler = scheduler or DEFAULT_SCHEDULER
    local = _LOCAL.match(scheduler)
    if local is None and _ADDRESS.match(scheduler) is None:
        raise ConfigError(ERR_SCHEDULER.format(value=scheduler))
    if local is not None and not 1 <= int(local.group(1)) <= 64:
        raise ConfigError(ERR_SCHEDULER.format(value=scheduler))
    return scheduler


def local_workers(scheduler: str) -> int | None:
    """N of ``local:N``, None for an address."""
    local = _LOCAL.match(scheduler)
    return int(local.group(1)) if local else None


@contextmanager
def dask_client(scheduler: str, *, memory_limit: str = LOCAL_MEMORY_LIMIT) -> Iterator[Any]:
    """A :class:`distributed.Client` for ``scheduler``, closed (with its cluster) on exit.

    Parameters
    ----------
    scheduler : str
        ``local:N`` or a scheduler address (see :func:`check_engine`).
    memory_limit : str
        Per local worker; ignored for a remote cluster, which has its own.

    Raises
    ------
    ConfigError
        If the scheduler address cannot be reached.
    """
    from distributed import Client, LocalCluster

    scheduler = check_engine("dask", scheduler) or DEFAULT_SCHEDULER
    n = local_workers(scheduler)
    if n is not None:
        # One thread per worker: LightGBM and the scoring runtime use their own threads,
        # and two workers on two cores should not oversubscribe them.
        cluster = LocalCluster(
            n_workers=n,
            threads_per_worker=1,
            processes=True,
            memory_limit=memory_limit,
            dashboard_address=":0",  # a free port: several clusters may run here
        )
        client = Client(cluster)
        try:
            yield client
        finally:
            client.close()
            cluster.close()
        return
    try:
        client = Client(scheduler, timeout="10s")
    except OSError as exc:
        raise ConfigError(ERR_CONNECT.format(address=scheduler, reason=exc)) from exc
    try:
        yield client
    finally:
        client.close()
