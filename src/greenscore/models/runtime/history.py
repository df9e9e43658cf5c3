"""The monthly-history features of a micro-batch in compiled loops, for the runtime.

Why it exists: :class:`~greenscore.features.temporal.TemporalFeatures` and
:class:`~greenscore.features.behavioural.BehaviouralFeatures` summarise each history with
some fifty NumPy calls over the whole batch. That is cheap per row on a training file
but, for the one to ten applicants of a service's micro-batch, the calls' fixed cost is
the work: about 2 ms of a decision's CPU (temporal and behavioural together, synthetic
preset, 3 histories of 12 months). Here each history of the batch is one pass of a
compiled loop per row.

The loops reproduce the NumPy code operation by operation, with ``nan_to_num``'s
treatment of infinities and each sum over a history's months in the order NumPy takes it
for a DataFrame of several rows: the frame hands the steps column-major blocks, whose
rows NumPy sums in sequence, except the two sums of the slope, over arrays NumPy makes
row-major, which it sums pairwise. So the features are bit for bit those the pipeline
computed at training and computes for a batch. (A lone row's block is row-major too, and
NumPy sums 8 or more months pairwise: the pipeline's own answer for one applicant differs
from its answer in a batch in the last bits; the runtime's checks allow 1e-9.) The runtime takes
these loops only after the whole encoding reproduced the pipeline on probe rows
(:mod:`greenscore.models.runtime.runtime`); the unit tests compare them with the NumPy
functions on histories with gaps, infinities and many lengths.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from functools import partial
from typing import Any

import numba
import numpy as np

from greenscore.features import temporal
from greenscore.features.behavioural import (
    PAYMENT_FEATURES,
    STATUS_FEATURES,
    BehaviouralFeatures,
)
from greenscore.features.temporal import TEMPORAL_FEATURES, TemporalFeatures

Deriver = Callable[[Any], Mapping[str, np.ndarray]]
_MAX = np.finfo(np.float64).max
#: Longest history the temporal loops take (NumPy's pairwise-summation block).
MAX_MONTHS = 128


@numba.njit(cache=True)
def _sum(a: np.ndarray, n: int) -> float:
    """``a[:n].sum()`` in sequence: how NumPy sums a row of a column-major block."""
    res = 0.0
    for i in range(n):
        res += a[i]
    return res


@numba.njit(cache=True)
def _pairwise_sum(a: np.ndarray, n: int) -> float:
    """``a[:n].sum()`` as NumPy sums a row of a row-major array (its ``pairwise_sum``), for
    ``n <= 128``: below 8 in sequence, else 8 accumulators combined pairwise, then the rest.
    (NumPy recurses beyond 128, and a recursive numba function cannot be cached: longer
    histories are left to NumPy, see :data:`MAX_MONTHS`.)"""
    if n < 8:
        return _sum(a, n)
    r0, r1, r2, r3, r4, r5, r6, r7 = a[0], a[1], a[2], a[3], a[4], a[5], a[6], a[7]
    i = 8
    while i < n - (n % 8):
        r0 += a[i]
        r1 += a[i + 1]
        r2 += a[i + 2]
        r3 += a[i + 3]
        r4 += a[i + 4]
        r5 += a[i + 5]
        r6 += a[i + 6]
        r7 += a[i + 7]
        i += 8
    res = ((r0 + r1) + (r2 + r3)) + ((r4 + r5) + (r6 + r7))
    while i < n:
        res += a[i]
        i += 1
    return res


@numba.njit(cache=True)
def _nan_to_num(x: float) -> float:
    if np.isnan(x):
        return 0.0
    if np.isinf(x):
        return _MAX if x > 0 else -_MAX
    return x


@numba.njit(cache=True)
def _masked_mean(values: np.ndarray, r: int, lo: int, hi: int, buf: np.ndarray) -> float:
    """``temporal._masked_mean`` of columns ``lo:hi`` of row ``r``."""
    count = 0
    for t in range(lo, hi):
        x = values[r, t]
        if np.isnan(x):
            buf[t - lo] = 0.0
        else:
            buf[t - lo] = x
            count += 1
    if count == 0:
        return np.nan
    return _sum(buf, hi - lo) / count


@numba.njit(cache=True, error_model="numpy")
def _sequence_summary(values: np.ndarray, recent_months: int, delinquent: bool) -> np.ndarray:
    """``temporal.sequence_summary``: rows of the result in ``TEMPORAL_FEATURES`` order."""
    n, m = values.shape
    out = np.empty((7, n))
    buf = np.empty(max(m, 1))
    centred = np.empty(max(m, 1))
    dx = np.empty(max(m, 1))
    window = max(1, min(recent_months, m - 1))
    for r in range(n):
        count = 0
        for t in range(m):
            if not np.isnan(values[r, t]):
                count += 1
        mean = _masked_mean(values, r, 0, m, buf)
        mean0 = _nan_to_num(mean)
        for t in range(m):
            x = values[r, t]
            centred[t] = 0.0 if np.isnan(x) else x - mean0
            buf[t] = centred[t] * centred[t]
        std = np.sqrt(_sum(buf, m) / float(count))
        if count < 2:
            std = np.nan
        # x = 0..m-1 over the observed months: their mean, deviations, variance, covariance.
        for t in range(m):
            buf[t] = 0.0 if np.isnan(values[r, t]) else float(t)
        x_mean0 = _nan_to_num(_sum(buf, m) / count if count > 0 else np.nan)
        for t in range(m):
            dx[t] = 0.0 if np.isnan(values[r, t]) else float(t) - x_mean0
            buf[t] = dx[t] * dx[t]
        # NumPy makes dx (and so dx * centred) row-major: these two sums are pairwise.
        var_x = _pairwise_sum(buf, m)
        for t in range(m):
            buf[t] = dx[t] * centred[t]
        slope = _pairwise_sum(buf, m) / var_x if var_x > 0 else np.nan
        last = np.nan
        since = -1
        for t in range(m):
            x = values[r, t]
            if not np.isnan(x):
                last = x
                if (x > 0) if delinquent else (x != 0):
                    since = m - 1 - t
        split = max(m - window, 0)  # values[:, -window:] and values[:, :-window]
        recent = _masked_mean(values, r, split, m, buf)
        older = _masked_mean(values, r, 0, split, buf)
        out[0, r] = last
        out[1, r] = mean
        out[2, r] = std
        out[3, r] = slope
        out[4, r] = recent - older
        out[5, r] = np.nan if count == 0 else float(since if since >= 0 else count)
        out[6, r] = float(count)
    return out


@numba.njit(cache=True)
def _status_features(status: np.ndarray) -> np.ndarray:
    """``behavioural.status_features``: rows in ``STATUS_FEATURES`` order."""
    n, m = status.shape
    out = np.empty((5, n))
    for r in range(n):
        count = 0
        delinquent_months = 0
        worst = -np.inf
        run = 0.0
        longest = 0.0
        last = np.nan
        previous = np.nan
        for t in range(m):
            x = status[r, t]
            bad = x > 0  # NaN is no delay
            if bad:
                delinquent_months += 1
                run += 1.0
            else:
                run = 0.0
            if run > longest:
                longest = run
            if not np.isnan(x):
                count += 1
                floored = max(x, 0.0)
                if floored > worst:
                    worst = floored
                previous = last
                last = floored
        if count == 0:
            for k in range(4):
                out[k, r] = np.nan
        else:
            out[0, r] = float(delinquent_months)
            out[1, r] = worst
            out[2, r] = run  # the run still alive at the latest month
            out[3, r] = longest
        out[4, r] = np.nan if np.isnan(previous) else (1.0 if last > previous else 0.0)
    return out


@numba.njit(cache=True)
def _payment_features(balance: np.ndarray, payment: np.ndarray, minimum_share: float) -> np.ndarray:
    """``behavioural.payment_features``: rows in ``PAYMENT_FEATURES`` order."""
    n, m = balance.shape
    out = np.empty((4, n))
    for r in range(n):
        comparable = 0
        due = 0
        full = 0
        under = 0
        since = -1
        streak = 0.0
        for t in range(1, m):
            owed = balance[r, t - 1]
            paid = payment[r, t]
            is_due = False
            is_full = False
            is_under = False
            if not np.isnan(owed) and not np.isnan(paid):
                comparable += 1
                owed0 = _nan_to_num(owed)
                paid0 = _nan_to_num(paid)
                if owed0 > 0:
                    is_due = True
                    is_full = paid0 >= owed0
                    is_under = paid0 < minimum_share * owed0
            if is_due:
                due += 1
            if is_full:
                full += 1
                since = m - 1 - t
            if is_under:
                under += 1
                streak += 1.0
            else:
                streak = 0.0
        out[0, r] = full / float(due) if due > 0 else np.nan
        out[1, r] = under / float(due) if due > 0 else np.nan
        out[2, r] = np.nan if comparable == 0 else float(since if since >= 0 else comparable)
        out[3, r] = streak
    return out


def sequence_summary(
    values: np.ndarray, *, recent_months: int, event: str
) -> dict[str, np.ndarray]:
    """:func:`greenscore.features.temporal.sequence_summary`, compiled (same keys)."""
    if values.shape[1] > MAX_MONTHS:
        return temporal.sequence_summary(values, recent_months=recent_months, event=event)
    rows = _sequence_summary(
        np.ascontiguousarray(values, dtype=np.float64), recent_months, event == "delinquent"
    )
    return dict(zip(TEMPORAL_FEATURES, rows, strict=True))


def status_features(status: np.ndarray) -> dict[str, np.ndarray]:
    """:func:`greenscore.features.behavioural.status_features`, compiled (same keys)."""
    rows = _status_features(np.ascontiguousarray(status, dtype=np.float64))
    return dict(zip(STATUS_FEATURES, rows, strict=True))


def payment_features(
    balance: np.ndarray, payment: np.ndarray, *, minimum_share: float
) -> dict[str, np.ndarray]:
    """:func:`greenscore.features.behavioural.payment_features`, compiled (same keys)."""
    rows = _payment_features(
        np.ascontiguousarray(balance, dtype=np.float64),
        np.ascontiguousarray(payment, dtype=np.float64),
        float(minimum_share),
    )
    return dict(zip(PAYMENT_FEATURES, rows, strict=True))


def compiled_deriver(step: Any) -> Deriver | None:
    """The compiled ``_derive`` of a fitted temporal or behavioural step (exactly those
    classes: a subclass may compute something else), None for any other step."""
    if type(step) is TemporalFeatures:
        return partial(step.derive_with, summary_of=sequence_summary)
    if type(step) is BehaviouralFeatures:
        return partial(step.derive_with, status=status_features, payment=payment_features)
    return None
