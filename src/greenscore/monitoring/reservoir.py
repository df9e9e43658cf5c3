"""A bounded, uniform sample of scored applicants per calendar window, for the monitor.

The scoring service sees every applicant but must not write one row per request to watch
drift. :class:`WindowReservoir` keeps, per window (day, week or month), at most ``size``
applicants chosen uniformly at random from all it was shown (Vitter's Algorithm R: the
``k``-th applicant replaces a kept one with probability ``size / k``), with their PDs and
how many applicants the sample stands for. Adding is a dictionary lookup and a random
number per applicant, under a lock; memory is bounded by ``size`` per open window.
:meth:`WindowReservoir.drain` hands over the windows that have closed, for
:func:`greenscore.store.monitor_samples.save_sample` to keep and ``greenscore monitor
--from-store`` to read.
"""

from __future__ import annotations

import random
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import pandas as pd

from greenscore.errors import ConfigError
from greenscore.monitoring.windows import BAD_WINDOW, PERIODS, WINDOWS, label_of

BAD_SIZE = "a reservoir needs room for at least one applicant, got {size}"


@dataclass
class WindowSample:
    """The sample of one window: kept applicants, their PDs, and how many were seen."""

    label: str
    start: datetime
    rows: list[dict[str, Any]] = field(default_factory=list)
    scores: list[float] = field(default_factory=list)
    seen: int = 0


class WindowReservoir:
    """Uniform samples of at most ``size`` applicants per calendar window.

    Parameters
    ----------
    size : int
        Applicants kept per window.
    window : ``day``, ``week`` or ``month``
    seed : int, optional
        Seed of the replacement draws (tests); None draws from the system.
    """

    def __init__(self, *, size: int = 2000, window: str = "day", seed: int | None = None) -> None:
        if size < 1:
            raise ConfigError(BAD_SIZE.format(size=size))
        if window not in PERIODS:
            raise ConfigError(BAD_WINDOW.format(choices=", ".join(WINDOWS), window=window))
        self.size = size
        self.window = window
        self._random = random.Random(seed)
        self._samples: dict[str, WindowSample] = {}
        self._lock = threading.Lock()

    def _window_of(self, at: datetime) -> tuple[str, datetime]:
        moment = at.astimezone(UTC).replace(tzinfo=None) if at.tzinfo else at
        period = pd.Timestamp(moment).to_period(PERIODS[self.window])
        return label_of(period, self.window), period.start_time.to_pydatetime().replace(tzinfo=UTC)

    def add(
        self,
        rows: Iterable[Mapping[str, Any]],
        scores: Iterable[float],
        *,
        at: datetime | None = None,
    ) -> None:
        """Offer scored applicants (model inputs and PD) seen at ``at`` (default: now)."""
        label, start = self._window_of(at or datetime.now(UTC))
        with self._lock:
            sample = self._samples.get(label)
            if sample is None:
                sample = self._samples[label] = WindowSample(label=label, start=start)
            for row, score in zip(rows, scores, strict=True):
                sample.seen += 1
                if len(sample.rows) < self.size:
                    sample.rows.append(dict(row))
                    sample.scores.append(float(score))
                    continue
                slot = self._random.randrange(sample.seen)
                if slot < self.size:
                    sample.rows[slot] = dict(row)
                    sample.scores[slot] = float(score)

    def drain(self, *, now: datetime | None = None, everything: bool = False) -> list[WindowSample]:
        """Remove and return the samples of closed windows (all of them with ``everything``).

        The current window stays open unless ``everything`` (at shutdown).
        """
        current, _ = self._window_of(now or datetime.now(UTC))
        with self._lock:
            done = [s for label, s in self._samples.items() if everything or label != current]
            for sample in done:
                del self._samples[sample.label]
        return sorted(done, key=lambda s: s.start)
