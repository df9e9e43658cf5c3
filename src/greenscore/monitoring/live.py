"""The scoring service's feed to the monitor: a sample of scored applicants per model and window.

The service offers every decision it writes to a :class:`LiveSamples` (one
:class:`~greenscore.monitoring.reservoir.WindowReservoir` per model name: a dictionary
lookup and a random draw per applicant, no database work). Every
``monitoring.live_flush_seconds`` the writing thread seals the samples of the windows
that have closed, and the service seals the open ones when it shuts down; so the
database sees one write per model and window, never one per request.

What is kept follows the privacy design of the service's other applicant rows: only the
columns the monitor reads (:func:`sampled_columns`: the model's inputs and the protected
attributes the caller sent, never ids, PII or dates), stored as sealed units (:mod:`greenscore.privacy.sealed`, kind
``monitor_samples``: encrypted at rest, indexed by the subjects' keyed hashes so erasure
reaches them, purged by retention like ``jobs`` and ``dead_letters``).

A unit is one model's sample of one window from one process: its ref is
``<model>/<window>/<window start>/<token>``, and each row says how many decisions it
stands for (``weight``: seen / kept). Several processes (replicas, a restart inside a
window) leave several units for one window; :func:`load_samples` merges them into one
uniform sample by drawing from each in proportion to the decisions it stands for.
"""

from __future__ import annotations

import secrets
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import numpy as np
import pandas as pd

from greenscore.config import MonitoringSettings
from greenscore.data.spec import DatasetSpec
from greenscore.logging import get_logger
from greenscore.monitoring.reference import monitored_columns
from greenscore.monitoring.reservoir import WindowReservoir, WindowSample
from greenscore.monitoring.windows import PERIODS, label_of
from greenscore.privacy import sealed
from greenscore.store import Database

log = get_logger(__name__)

#: The sealed kind (and retention target) of the samples.
KIND = "monitor_samples"


def sampled_columns(spec: DatasetSpec, inputs: Sequence[str]) -> tuple[str, ...]:
    """What the sample keeps of a model's applicants: its inputs and the spec's protected
    attributes that the monitor reads (:func:`monitored_columns`), never an id, PII or date."""
    offered = [*inputs, *(c for c in spec.protected if c not in set(inputs))]
    return tuple(monitored_columns(spec, offered))


def _ref(model: str, window: str, start: datetime) -> str:
    return f"{model}/{window}/{start:%Y-%m-%d}/{secrets.token_hex(8)}"


def _unit(model: str, window: str, sample: WindowSample) -> sealed.Unit:
    weight = sample.seen / len(sample.rows)
    rows = [
        {"pd": score, "weight": weight, "row": row}
        for row, score in zip(sample.rows, sample.scores, strict=True)
    ]
    return sealed.Unit(
        ref=_ref(model, window, sample.start), rows=rows, subject_hashes=sample.subjects
    )


class LiveSamples:
    """Samples of the applicants a service scores, per model name and calendar window.

    Parameters
    ----------
    settings : MonitoringSettings
        ``live_sample_size`` (0 keeps nothing), ``live_window``, ``live_flush_seconds``.
    db : Database
        Where the samples are sealed.
    seed : int, optional
        Seed of the reservoirs' draws (tests).
    clock : callable, optional
        Monotonic seconds (tests); ``time.monotonic`` by default.
    """

    def __init__(
        self,
        settings: MonitoringSettings,
        *,
        db: Database,
        seed: int | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.size = settings.live_sample_size
        self.window = settings.live_window
        self.interval = settings.live_flush_seconds
        self.db = db
        self._seed = seed
        self._reservoirs: dict[str, WindowReservoir] = {}
        self._lock = threading.Lock()
        self._clock = clock
        self._next_flush = clock() + self.interval

    @property
    def enabled(self) -> bool:
        """Whether applicants are sampled at all."""
        return self.size > 0

    def _reservoir(self, model: str) -> WindowReservoir:
        reservoir = self._reservoirs.get(model)
        if reservoir is None:
            with self._lock:
                reservoir = self._reservoirs.setdefault(
                    model, WindowReservoir(size=self.size, window=self.window, seed=self._seed)
                )
        return reservoir

    def offer(
        self,
        model: str,
        rows: Iterable[Mapping[str, Any]],
        scores: Iterable[float],
        *,
        columns: Sequence[str],
        subjects: Iterable[str | None] | None = None,
        at: datetime | None = None,
    ) -> None:
        """Offer decisions of ``model`` (inputs, PDs, subject hashes); seal closed windows
        when a flush is due. Only ``columns`` of a kept row are kept."""
        if not self.enabled:
            return
        self._reservoir(model).add(rows, scores, subjects=subjects, columns=columns, at=at)
        if self._clock() >= self._next_flush:
            self.flush(now=at)

    def flush(self, *, everything: bool = False, now: datetime | None = None) -> int:
        """Seal the samples of closed windows (every window with ``everything``: shutdown).

        Returns
        -------
        int
            Rows sealed.
        """
        self._next_flush = self._clock() + self.interval
        units = [
            _unit(model, self.window, sample)
            for model, reservoir in list(self._reservoirs.items())
            for sample in reservoir.drain(now=now, everything=everything)
            if sample.rows
        ]
        if not units:
            return 0
        return sealed.seal(KIND, units, db=self.db)


@dataclass
class LoadedSamples:
    """The merged samples of one model: rows, PDs and window starts, and what they stand for.

    Attributes
    ----------
    frame : the kept applicants' monitored columns.
    scores : their PDs.
    times : each row's window start (naive UTC).
    decisions : how many decisions the units stood for in all.
    units : how many sealed units were read.
    windows : the labels of the windows merged (``all`` without a window).
    """

    frame: pd.DataFrame
    scores: np.ndarray
    times: pd.Series
    decisions: int = 0
    units: int = 0
    windows: list[str] = field(default_factory=list)


def _group(start: pd.Timestamp, window: str | None) -> str:
    if window is None:
        return "all"
    return label_of(start.to_period(PERIODS[window]), window)


def load_samples(
    model: str, *, window: str | None = None, db: Database, seed: int = 0
) -> LoadedSamples | None:
    """The service's samples of ``model``, merged into one uniform sample per ``window``.

    Within each window asked for (all of them together when None) every unit gives rows
    in proportion to the decisions it stands for, at the lowest sampling rate among them,
    so a busy replica's sample is not outweighed by a quiet one's. A row's time is its
    sample window's start: a window finer than ``monitoring.live_window`` sees each sample
    on its first day.

    Returns
    -------
    LoadedSamples or None
        None when the service has sealed no sample of the model.
    """
    units: dict[str, list[tuple[pd.Timestamp, list[dict[str, Any]]]]] = {}
    count = 0
    for ref in sealed.refs(KIND, f"{model}/", db=db):
        name, _, start_text, _ = ref.rsplit("/", 3)
        if name != model:
            continue  # a longer model name that starts with this one and a slash
        rows = [r for r in sealed.unseal(KIND, ref, db=db) if r != sealed.ERASED]
        if not rows:
            continue
        start = pd.Timestamp(start_text)
        units.setdefault(_group(start, window), []).append((start, rows))
        count += 1
    if not units:
        return None
    rng = np.random.default_rng(seed)
    kept: list[dict[str, Any]] = []
    scores: list[float] = []
    times: list[pd.Timestamp] = []
    decisions = 0
    for label in sorted(units):
        group = units[label]
        rate = min(1.0 / float(rows[0]["weight"]) for _, rows in group)
        for start, rows in group:
            stands_for = float(rows[0]["weight"]) * len(rows)
            decisions += round(stands_for)
            take = min(len(rows), max(1, round(stands_for * rate)))
            for k in sorted(rng.choice(len(rows), size=take, replace=False)):
                kept.append(rows[k]["row"])
                scores.append(float(rows[k]["pd"]))
                times.append(start)
    return LoadedSamples(
        frame=pd.DataFrame.from_records(kept),
        scores=np.asarray(scores, dtype=float),
        times=pd.Series(pd.to_datetime(times), name="window_start"),
        decisions=decisions,
        units=count,
        windows=sorted(units),
    )
