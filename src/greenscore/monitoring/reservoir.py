"""A bounded, uniform sample of scored applicants per calendar window, for the monitor.

The scoring service sees every applicant but must not write one row per request to watch
drift. :class:`WindowReservoir` keeps, per window (day, week or month), at most ``size``
applicants chosen uniformly at random from all it was shown (Vitter's Algorithm R: the
``k``-th applicant replaces a kept one with probability ``size / k``), with their PDs, their
subjects' keyed hashes (so erasure reaches a kept row) and how many applicants the sample
stands for. Adding is a dictionary lookup and a random number per applicant, under a lock;
memory is bounded by ``size`` per open window. :meth:`WindowReservoir.drain` hands over the
windows that have closed, for :mod:`greenscore.monitoring.live` to seal in the database and
``greenscore monitor --from-store`` to read.
"""

from __future__ import annotations

import random
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from itertools import repeat
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
    subjects: list[str | None] = field(default_factory=list)
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
        # The last window looked up, with its end: almost every offer falls in it, and a
        # comparison is much cheaper than pandas' period arithmetic on each decision.
        self._last: tuple[datetime, datetime, str] | None = None

    def _window_of(self, at: datetime) -> tuple[str, datetime]:
        moment = at.astimezone(UTC) if at.tzinfo else at.replace(tzinfo=UTC)
        last = self._last
        if last is not None and last[0] <= moment < last[1]:
            return last[2], last[0]
        period = pd.Timestamp(moment.replace(tzinfo=None)).to_period(PERIODS[self.window])
        start = period.start_time.to_pydatetime().replace(tzinfo=UTC)
        end = (period + 1).start_time.to_pydatetime().replace(tzinfo=UTC)
        label = label_of(period, self.window)
        self._last = (start, end, label)
        return label, start

    def add(
        self,
        rows: Iterable[Mapping[str, Any]],
        scores: Iterable[float],
        *,
        subjects: Iterable[str | None] | None = None,
        columns: Sequence[str] | None = None,
        at: datetime | None = None,
    ) -> None:
        """Offer scored applicants (model inputs and PD) seen at ``at`` (default: now).

        ``subjects`` gives each applicant's keyed subject hash (or None), kept with a kept
        row; with ``columns`` only those fields of a kept row are kept, those it has (copied
        only when the row is kept, so an offer that is not kept costs no copy).
        """
        who: Iterable[str | None] = subjects if subjects is not None else repeat(None)
        if columns is None:
            keep: Callable[[Mapping[str, Any]], dict[str, Any]] = dict
        else:
            fields = tuple(columns)

            def keep(row: Mapping[str, Any]) -> dict[str, Any]:
                return {c: row[c] for c in fields if c in row}

        with self._lock:
            label, start = self._window_of(at or datetime.now(UTC))
            sample = self._samples.get(label)
            if sample is None:
                sample = self._samples[label] = WindowSample(label=label, start=start)
            # ``who`` may be endless (no subjects given): rows and scores must agree.
            for (row, score), subject in zip(zip(rows, scores, strict=True), who, strict=False):
                sample.seen += 1
                if len(sample.rows) < self.size:
                    sample.rows.append(keep(row))
                    sample.scores.append(float(score))
                    sample.subjects.append(subject)
                    continue
                slot = self._random.randrange(sample.seen)
                if slot < self.size:
                    sample.rows[slot] = keep(row)
                    sample.scores[slot] = float(score)
                    sample.subjects[slot] = subject

    def drain(self, *, now: datetime | None = None, everything: bool = False) -> list[WindowSample]:
        """Remove and return the samples of closed windows (all of them with ``everything``).

        The current window stays open unless ``everything`` (at shutdown).
        """
        with self._lock:
            current, _ = self._window_of(now or datetime.now(UTC))
            done = [s for label, s in self._samples.items() if everything or label != current]
            for sample in done:
                del self._samples[sample.label]
        return sorted(done, key=lambda s: s.start)
