"""The drift monitor: current data (and PDs) against a reference, overall and per window.

:func:`drift_report` is a plain function of arrays and frames, so the same code serves a
file on the command line, rows read back from the prediction store, and samples the
scoring service collects: the caller decides where the numbers come from. A window with
fewer than ``monitoring.min_window_rows`` rows is listed with its figures but not held
to the bands (a PSI on a few dozen rows is mostly noise).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from greenscore.config import MonitoringSettings
from greenscore.errors import DataError
from greenscore.monitoring.drift import (
    ACT,
    STABLE,
    band,
    bin_counts,
    ks_two_sample,
    prepare,
    psi,
    wasserstein,
)
from greenscore.monitoring.quality import column_quality
from greenscore.monitoring.reference import Reference
from greenscore.monitoring.windows import split_windows

NOTHING_TO_MONITOR = "nothing to monitor: give current rows, PDs, or both"
TIMES_LENGTH = "times has {n_times} rows but the current data has {n_rows}"


def _shift(
    counts: np.ndarray,
    expected: tuple[float, ...],
    labels: list[str],
    *,
    settings: MonitoringSettings,
) -> dict[str, Any]:
    total = counts.sum()
    actual = counts / total if total else counts
    value = psi(expected, actual)
    return {
        "psi": value,
        "band": band(value, watch=settings.psi_watch, act=settings.psi_act),
        "bins": {"labels": labels, "expected": list(expected), "actual": actual.tolist()},
    }


def _numeric_tests(reference: np.ndarray, current: np.ndarray) -> dict[str, float]:
    ks_stat, ks_p = ks_two_sample(reference, current)
    distance, scaled = wasserstein(reference, current)
    return {"ks": ks_stat, "ks_p_value": ks_p, "wasserstein": distance, "wasserstein_std": scaled}


Prepared = dict[str, tuple[np.ndarray, np.ndarray]]


def prepare_frame(reference: Reference, frame: pd.DataFrame) -> Prepared:
    """Each monitored column of ``frame`` as (prepared values, raw-missing mask)."""
    return {
        name: (prepare(frame[name], ref.kind), frame[name].isna().to_numpy())
        for name, ref in reference.columns.items()
        if name in frame.columns
    }


def _rows(prepared: Prepared | None, index: np.ndarray) -> Prepared | None:
    if prepared is None:
        return None
    return {name: (values[index], missing[index]) for name, (values, missing) in prepared.items()}


def snapshot(
    reference: Reference,
    prepared: Prepared | None,
    scores: np.ndarray | None,
    *,
    rows: int,
    settings: MonitoringSettings,
) -> dict[str, Any]:
    """Drift and quality of one set of current rows and/or PDs against the reference.

    ``prepared`` is the current rows' monitored columns (:func:`prepare_frame`), or None
    when only PDs are monitored; ``rows`` is how many rows the window holds.

    Returns
    -------
    dict
        ``rows``; ``judged`` (enough rows to be held to the bands); ``score`` (PSI, band,
        bins, KS and Wasserstein of the PDs, or None); ``columns`` (per monitored column:
        kind, role, PSI/CSI, band, bins, numeric tests, ``quality``); ``flagged`` (columns
        at or above the watch band, largest PSI first), ``act`` (those in the act band)
        and ``quality`` (``{"column", "check"}`` per finding) — the last three empty when
        the window is not judged.
    """
    judged = rows >= settings.min_window_rows
    columns: dict[str, dict[str, Any]] = {}
    for name, (values, missing) in (prepared or {}).items():
        ref = reference.columns[name]
        entry: dict[str, Any] = {"kind": ref.kind, "role": ref.role, "psi": None, "band": STABLE}
        if ref.bins is not None:
            counts = bin_counts(values, ref.bins)
            entry.update(_shift(counts, ref.bins.expected, ref.bins.labels(), settings=settings))
        if ref.kind == "numeric" and ref.sample is not None:
            entry.update(_numeric_tests(ref.sample, values))
        entry["quality"] = column_quality(ref, values, missing, settings=settings)
        columns[name] = entry
    score = None
    if scores is not None and reference.score is not None:
        p = np.asarray(scores, dtype=float)
        counts = bin_counts(p, reference.score)
        score = _shift(
            counts, reference.score.expected, reference.score.labels(), settings=settings
        )
        score["mean_pd"] = float(np.nanmean(p)) if len(p) else None
        if reference.score_sample is not None:
            score.update(_numeric_tests(reference.score_sample, p))
    flagged = sorted(
        (n for n, c in columns.items() if c["band"] != STABLE),
        key=lambda n: -(columns[n]["psi"] or 0.0),
    )
    quality = [
        {"column": n, "check": check}
        for n, c in columns.items()
        for check in c["quality"]["findings"]
    ]
    return {
        "rows": rows,
        "judged": judged,
        "score": score,
        "columns": columns,
        "flagged": flagged if judged else [],
        "act": [n for n in flagged if columns[n]["band"] == ACT] if judged else [],
        "quality": quality if judged else [],
    }


def drift_report(
    reference: Reference,
    current: pd.DataFrame | None,
    *,
    settings: MonitoringSettings,
    scores: np.ndarray | None = None,
    times: pd.Series | None = None,
    window: str | None = None,
) -> dict[str, Any]:
    """Drift of current rows and PDs against a reference, overall and per calendar window.

    Parameters
    ----------
    reference : Reference
        From :func:`~greenscore.monitoring.reference.reference_from_frame` or
        :func:`~greenscore.monitoring.reference.reference_from_metadata`.
    current : DataFrame or None
        Current applications (monitored columns are read from it); None when only PDs
        are monitored (the prediction store holds no applicant fields).
    settings : MonitoringSettings
        Bands and thresholds.
    scores : array of shape (n,), optional
        The model's PDs on the current rows (same order).
    times : Series of datetime64, optional
        Row timestamps, needed with ``window``.
    window : ``day``, ``week`` or ``month``, optional

    Returns
    -------
    dict
        ``reference`` (source, rows), ``bands``, ``overall`` (a :func:`snapshot` of every
        row) and, with a window, ``windows`` (a snapshot per window with its ``label``,
        ``start`` and ``end``) and ``undated_rows``.

    Raises
    ------
    DataError
        If there is nothing to monitor, or lengths disagree.
    """
    if current is None and scores is None:
        raise DataError(NOTHING_TO_MONITOR)
    n = len(current) if current is not None else len(scores)  # type: ignore[arg-type]
    if scores is not None and len(scores) != n:
        raise DataError(f"scores has {len(scores)} rows but the current data has {n}")
    prepared = prepare_frame(reference, current) if current is not None else None
    report: dict[str, Any] = {
        "reference": {"source": reference.source, "rows": reference.rows},
        "bands": {"stable_below": settings.psi_watch, "act_from": settings.psi_act},
        "overall": snapshot(reference, prepared, scores, rows=n, settings=settings),
    }
    if window is None:
        return report
    if times is None or len(times) != n:
        raise DataError(TIMES_LENGTH.format(n_times=0 if times is None else len(times), n_rows=n))
    windows = []
    for piece in split_windows(times.reset_index(drop=True), window):
        part = scores[piece.rows] if scores is not None else None
        windows.append(
            {
                "label": piece.label,
                "start": piece.start,
                "end": piece.end,
                **snapshot(
                    reference,
                    _rows(prepared, piece.rows),
                    part,
                    rows=len(piece.rows),
                    settings=settings,
                ),
            }
        )
    report["window"] = window
    report["windows"] = windows
    report["undated_rows"] = int(times.isna().sum())
    return report
