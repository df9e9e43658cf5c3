"""Fair share of the batch threads: one tenant's batches cannot take every thread.

``/v1/score/batch`` scores in threads so a large batch never holds up the event loop
(where single-applicant requests are scored). Without a bound, every batch call got a
thread of the server's pool: twenty calls of one tenant meant twenty threads fighting
for the GIL and everyone else's latency in seconds. Here batches run on their own pool
of ``serving.batch_threads`` threads, and each tenant may have at most
``serving.batch_concurrency_per_key`` of its batches in it; the rest of its calls wait
(without holding a thread) behind its own, so the waiting line for a free thread holds
at most that many entries per tenant and tenants take turns.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

R = TypeVar("R")


class BatchGate:
    """Runs blocking work on a bounded pool with a per-tenant limit.

    Parameters
    ----------
    threads : int
        Threads for all tenants together.
    per_tenant : int
        Most calls of one tenant running at once.

    Attributes
    ----------
    running : dict
        Calls running now, per tenant (for tests and metrics).
    """

    def __init__(self, *, threads: int, per_tenant: int) -> None:
        self.threads = max(1, int(threads))
        self.per_tenant = max(1, int(per_tenant))
        self._pool = ThreadPoolExecutor(self.threads, thread_name_prefix="greenscore-batch")
        self._loop: asyncio.AbstractEventLoop | None = None
        self._free = asyncio.Semaphore(self.threads)
        self._tenants: dict[str, tuple[asyncio.Semaphore, int]] = {}
        self.running: dict[str, int] = {}

    def _bind(self) -> asyncio.AbstractEventLoop:
        # Semaphores belong to one event loop; an app served again (tests) gets fresh ones.
        loop = asyncio.get_running_loop()
        if loop is not self._loop:
            self._loop = loop
            self._free = asyncio.Semaphore(self.threads)
            self._tenants = {}
        return loop

    def _enter(self, tenant: str) -> asyncio.Semaphore:
        gate, users = self._tenants.get(tenant, (None, 0))
        gate = gate or asyncio.Semaphore(self.per_tenant)
        self._tenants[tenant] = (gate, users + 1)
        return gate

    def _leave(self, tenant: str) -> None:
        gate, users = self._tenants[tenant]
        if users <= 1:
            del self._tenants[tenant]  # forget idle tenants: the map stays small
        else:
            self._tenants[tenant] = (gate, users - 1)

    async def run(self, tenant: str, fn: Callable[..., R], *args: Any, **kwargs: Any) -> R:
        """Run ``fn(*args, **kwargs)`` on the pool when it is ``tenant``'s turn."""
        loop = self._bind()
        gate = self._enter(tenant)
        try:
            async with gate, self._free:
                self.running[tenant] = self.running.get(tenant, 0) + 1
                try:
                    # In the caller's context, as asyncio.to_thread runs it (the request's
                    # trace span is current there).
                    context = contextvars.copy_context()
                    return await loop.run_in_executor(
                        self._pool, functools.partial(context.run, fn, *args, **kwargs)
                    )
                finally:
                    self.running[tenant] -= 1
                    if not self.running[tenant]:
                        del self.running[tenant]
        finally:
            self._leave(tenant)

    def close(self) -> None:
        """Stop the threads once their work is done."""
        self._pool.shutdown(wait=False)
