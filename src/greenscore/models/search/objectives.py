"""The four objectives of an architecture search, measured on a fitted candidate.

A candidate is measured as it would serve: as a :class:`ScoringBundle` scored through the
:class:`~greenscore.models.runtime.ScoringRuntime` that ``score``, ``explain`` and
``serve`` use (raw applicant in, probability of default out, feature steps included), on
the study's hold-out rows, which no candidate ever trains on.

* ``auc`` (maximise): ROC AUC of the hold-out PDs.
* ``p99_latency_ms`` (minimise): the 99th percentile of single-applicant scoring time,
  ``runtime.score([applicant])`` as the API calls it, over ``latency_rows`` hold-out
  applicants one at a time after a short warm-up (wall time, ``time.perf_counter_ns``).
* ``kwh_per_1k`` (minimise): energy of scoring hold-out rows in batches, per 1,000
  predictions (:func:`greenscore.sustainability.energy.energy_per_1k_predictions`:
  CodeCarbon's offline tracker; where the machine has no energy counters, as here, its
  CPU-load estimate, named in ``energy_method``).
* ``fairness_gap`` (minimise): the demographic-parity difference of decline decisions
  between the groups of the protected attribute, by Fairlearn
  (:func:`greenscore.fairness.mitigation.decision_gap`: the largest difference in decline
  rates, the gap ``--fairness-constraint`` bounds in train), with the riskiest applicants
  declined up to the hold-out's default rate. Declining at a *matched rate* rather than at
  the bundle's PD cut-off compares candidates' rankings, not their calibration: a search
  trial is not calibrated, and on Taiwan an under-trained net put 90-99.6 % of applicants
  above the 0.30 cut-off, where "decline nearly everyone" made its gap look small. The
  decline rate at the cut-off is kept beside it (``decline_rate_at_cutoff``).

Latency and energy are measured on a machine others may share: they carry its load,
which the study records (``load_average``) beside each trial.
"""

from __future__ import annotations

import math
import os
import time
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import pandas as pd
from sklearn.metrics import roc_auc_score

from greenscore.models.bundle import ScoringBundle

#: Objective names, in the study's order, and their directions.
OBJECTIVES = ("auc", "p99_latency_ms", "kwh_per_1k", "fairness_gap")
DIRECTIONS: tuple[Literal["maximize", "minimize"], ...] = (
    "maximize",
    "minimize",
    "minimize",
    "minimize",
)
#: The fairness metric (see the module docstring).
GAP_METRIC = "demographic_parity"
_WARM_UP = 5


@dataclass
class Holdout:
    """The rows every candidate is measured on.

    Attributes
    ----------
    X : model-input rows (raw columns, id as index).
    y : 0/1 default flags.
    groups : the protected attribute's group label of each row.
    attribute : which protected attribute ``groups`` holds.
    """

    X: pd.DataFrame
    y: np.ndarray
    groups: pd.Series
    attribute: str


@dataclass
class Measurement:
    """A candidate's four objectives and how they were obtained."""

    auc: float
    p99_latency_ms: float
    kwh_per_1k: float
    fairness_gap: float
    p50_latency_ms: float
    decline_rate: float
    decline_rate_at_cutoff: float
    energy_method: str
    runtime_mode: str

    def values(self) -> tuple[float, float, float, float]:
        """The objectives in :data:`OBJECTIVES` order."""
        return (self.auc, self.p99_latency_ms, self.kwh_per_1k, self.fairness_gap)

    def to_dict(self) -> dict[str, Any]:
        """Plain data for the front's JSON and the study's trial attributes."""
        return dict(self.__dict__)


def matched_declines(pd_: np.ndarray, rate: float) -> np.ndarray:
    """Decline the riskiest applicants, about ``rate`` of them: PD above its
    ``1 - rate`` quantile (ties at the threshold are approved, so a model giving every
    applicant the same PD declines no one)."""
    threshold = np.quantile(pd_, 1.0 - rate)
    return np.asarray(pd_ > threshold)


def single_row_latency_ms(runtime: Any, X: pd.DataFrame, rows: int) -> np.ndarray:  # noqa: N803
    """Milliseconds of ``runtime.score`` on one applicant at a time, for ``rows`` applicants."""
    sample = X.iloc[: max(1, rows)]
    records = sample.to_dict("records")
    ids = sample.index.tolist()
    for i in range(min(_WARM_UP, len(records))):  # first calls fill caches
        runtime.score([records[i]], [ids[i]])
    times = np.empty(len(records))
    for i, (record, row_id) in enumerate(zip(records, ids, strict=True)):
        started = time.perf_counter_ns()
        runtime.score([record], [row_id])
        times[i] = (time.perf_counter_ns() - started) / 1e6
    return times


def measure(
    bundle: ScoringBundle,
    holdout: Holdout,
    *,
    latency_rows: int = 200,
    energy_rows: int = 1000,
    energy_seconds: float = 0.5,
) -> Measurement:
    """Score the hold-out with a fitted candidate and return its four objectives.

    Parameters
    ----------
    bundle : the candidate as a bundle (feature steps and model, cut-offs, training ranges).
    holdout : rows, outcomes and protected groups.
    latency_rows : applicants timed one at a time for the p99.
    energy_rows : rows per batch in the energy measurement (repeated for ``energy_seconds``).
    energy_seconds : how long the energy measurement lasts at least.
    """
    from greenscore.fairness.mitigation import decision_gap
    from greenscore.models.runtime import ScoringRuntime
    from greenscore.sustainability.energy import energy_per_1k_predictions

    runtime = ScoringRuntime(bundle)
    pd_ = runtime.predict_frame(holdout.X)
    auc = float(roc_auc_score(holdout.y, pd_))
    declined = matched_declines(pd_, float(np.mean(holdout.y)))
    gap = decision_gap(GAP_METRIC, holdout.y, declined, holdout.groups.to_numpy())
    times = single_row_latency_ms(runtime, holdout.X, latency_rows)
    energy = energy_per_1k_predictions(
        runtime.predict_frame,
        holdout.X.iloc[:energy_rows],
        min_seconds=energy_seconds,
        label=f"search:{bundle.name}",
    )
    return Measurement(
        auc=auc,
        p99_latency_ms=float(np.percentile(times, 99)),
        kwh_per_1k=float(energy.kwh_per_1k),
        fairness_gap=float(gap),
        p50_latency_ms=float(np.percentile(times, 50)),
        decline_rate=float(declined.mean()),
        decline_rate_at_cutoff=float(np.mean(pd_ > bundle.scoring.decline_above)),
        energy_method=energy.reading.method,
        runtime_mode=runtime.mode,
    )


def load_average() -> float:
    """The machine's 1-minute load average (NaN where the OS has none)."""
    try:
        return float(os.getloadavg()[0])
    except OSError:
        return math.nan
