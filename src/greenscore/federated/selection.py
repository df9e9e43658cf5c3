"""Which lenders train in a round: at random, by data size, or by availability.

The policy only chooses node ids; the Flower strategy then configures exactly those (it
is handed a :class:`SubsetGrid` that shows it nothing else), so FedAvg, FedProx, FedAdam
and the DP wrappers keep their own round logic.

- ``random``: a uniform sample;
- ``size``: a sample weighted by training rows (large lenders move the model most);
- ``availability``: a sample weighted by each lender's record of answering (an
  exponentially weighted share of messages answered), so lenders that keep dropping out
  are asked less often and rounds fill with lenders that reply.

``fraction`` of the currently connected lenders (at least ``min_lenders``) is chosen;
with ``fraction=1`` every policy chooses everyone.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

import numpy as np
from flwr.app import Message, RecordDict
from flwr.serverapp import Grid
from flwr.supercore.run import Run

from greenscore.errors import ConfigError

POLICIES = ("random", "size", "availability")
ERR_POLICY = "--selection must be one of {choices}, not '{value}'"
ERR_FRACTION = "--fraction must be in (0, 1], got {value}"


@dataclass
class Selector:
    """Choose lenders per round (see the module docstring).

    Parameters
    ----------
    policy : ``random``, ``size`` or ``availability``.
    fraction : share of connected lenders to choose.
    min_lenders : never fewer than this (when that many are connected).
    sizes : node id -> training rows (for ``size``).
    seed : seed of the sampling.
    decay : weight of the past in the availability record.
    """

    policy: str = "random"
    fraction: float = 1.0
    min_lenders: int = 2
    sizes: Mapping[int, int] = field(default_factory=dict)
    seed: int = 0
    decay: float = 0.7

    def __post_init__(self) -> None:
        if self.policy not in POLICIES:
            raise ConfigError(ERR_POLICY.format(choices=", ".join(POLICIES), value=self.policy))
        if not 0.0 < self.fraction <= 1.0:
            raise ConfigError(ERR_FRACTION.format(value=self.fraction))
        self._rng = np.random.default_rng(self.seed)
        self.reliability: dict[int, float] = {}

    def choose(self, connected: Iterable[int], *, excluded: Iterable[int] = ()) -> list[int]:
        """Node ids for the next round, from those connected and not excluded."""
        gone = set(excluded)
        pool = sorted(n for n in connected if n not in gone)
        if not pool:
            return []
        k = min(len(pool), max(self.min_lenders, math.ceil(self.fraction * len(pool))))
        if k == len(pool):
            return pool
        if self.policy == "size":
            weights = np.array([float(self.sizes.get(n, 1)) for n in pool])
        elif self.policy == "availability":
            weights = np.array([self.reliability.get(n, 1.0) for n in pool]) + 1e-3
        else:
            weights = np.ones(len(pool))
        chosen = self._rng.choice(len(pool), size=k, replace=False, p=weights / weights.sum())
        return sorted(pool[i] for i in chosen)

    def observe(self, asked: Iterable[int], answered: Iterable[int]) -> None:
        """Update each asked lender's answering record."""
        ok = set(answered)
        for node in asked:
            past = self.reliability.get(node, 1.0)
            self.reliability[node] = self.decay * past + (1 - self.decay) * float(node in ok)


class SubsetGrid(Grid):
    """A view of a grid that shows only ``node_ids`` (what the strategy may choose from)."""

    def __init__(self, inner: Grid, node_ids: Iterable[int]) -> None:
        self.inner = inner
        self.node_ids = list(node_ids)

    def set_run(self, run: Run) -> None:
        """Delegate."""
        self.inner.set_run(run)

    @property
    def run(self) -> Run:
        """Delegate."""
        return self.inner.run

    def create_message(
        self,
        content: RecordDict,
        message_type: str,
        dst_node_id: int,
        group_id: str,
        ttl: float | None = None,
    ) -> Message:
        """Delegate."""
        return self.inner.create_message(content, message_type, dst_node_id, group_id, ttl)

    def get_node_ids(self) -> Iterable[int]:
        """Only the chosen nodes."""
        return list(self.node_ids)

    def push_messages(self, messages: Iterable[Message]) -> Iterable[str]:
        """Delegate."""
        return self.inner.push_messages(messages)

    def pull_messages(self, message_ids: Iterable[str]) -> Iterable[Message]:
        """Delegate."""
        return self.inner.pull_messages(message_ids)

    def send_and_receive(
        self, messages: Iterable[Message], *, timeout: float | None = None
    ) -> Iterable[Message]:
        """Delegate."""
        return self.inner.send_and_receive(messages, timeout=timeout)
