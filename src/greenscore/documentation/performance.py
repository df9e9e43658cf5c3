"""Out-of-fold performance with confidence intervals, overall, by segment and by protected
group, and the calibration table: the ``performance.json`` a run writes for its model card.

Every figure is computed on out-of-fold PDs (each applicant scored by the fold model that
did not train on them), the same predictions ``metrics.json`` summarises. AUC intervals
are DeLong's (normal approximation, 95 %); a group with only one outcome class has no AUC.
Segments are the spec's categorical, non-protected features with a handful of levels.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from greenscore.data.spec import DatasetSpec

#: 95 % two-sided normal quantile.
Z95 = 1.959963984540054
#: Categorical features with at most this many levels become segments.
MAX_SEGMENT_LEVELS = 8
#: At most this many segment columns are reported.
MAX_SEGMENTS = 4
PERFORMANCE_FILE = "performance.json"
#: A group needs this many defaults and non-defaults for an AUC interval.
MIN_CLASS_ROWS = 5


def auc_interval(y: np.ndarray, p: np.ndarray) -> dict[str, Any]:
    """AUC, Gini, their 95 % DeLong intervals, rows and default rate of one group."""
    from greenscore.evaluation.stats import delong_covariance

    out: dict[str, Any] = {"rows": int(len(y)), "default_rate": float(y.mean()) if len(y) else None}
    if len(y) < 2 or y.min() == y.max():
        out.update(auc=None, auc_ci=None, gini=None, gini_ci=None)
        return out
    aucs, cov = delong_covariance(y, p)
    auc, se = float(aucs[0]), float(np.sqrt(max(cov[0, 0], 0.0)))
    if min(int(y.sum()), int(len(y) - y.sum())) < MIN_CLASS_ROWS:
        # The normal approximation means nothing with a handful of either outcome.
        out.update(auc=auc, auc_ci=None, gini=2 * auc - 1, gini_ci=None)
        return out
    low, high = max(0.0, auc - Z95 * se), min(1.0, auc + Z95 * se)
    out.update(
        auc=auc,
        auc_ci=[low, high],
        gini=2 * auc - 1,
        gini_ci=[2 * low - 1, 2 * high - 1],
    )
    return out


def _by_labels(y: np.ndarray, p: np.ndarray, labels: pd.Series) -> dict[str, Any]:
    values = labels.to_numpy()
    return {
        str(level): auc_interval(y[values == level], p[values == level])
        for level in sorted(pd.unique(values), key=str)
    }


def segment_columns(frame: pd.DataFrame, spec: DatasetSpec) -> list[str]:
    """Low-cardinality categorical features that are not protected, in spec order."""
    names = [
        c
        for c in spec.categorical
        if c in frame.columns
        and c not in spec.protected
        and 1 < frame[c].nunique(dropna=True) <= MAX_SEGMENT_LEVELS
    ]
    return names[:MAX_SEGMENTS]


def calibration_table(y: np.ndarray, p: np.ndarray, bins: int = 10) -> list[dict[str, Any]]:
    """Observed default rate against mean PD per PD decile (equal-count bins)."""
    order = np.argsort(p, kind="mergesort")
    rows = []
    for k, chunk in enumerate(np.array_split(order, bins)):
        if len(chunk) == 0:
            continue
        rows.append(
            {
                "decile": k + 1,
                "rows": int(len(chunk)),
                "pd_from": float(p[chunk].min()),
                "pd_to": float(p[chunk].max()),
                "mean_pd": float(p[chunk].mean()),
                "observed_rate": float(y[chunk].mean()),
            }
        )
    return rows


def model_performance(
    y: np.ndarray, oof: np.ndarray, frame: pd.DataFrame, spec: DatasetSpec
) -> dict[str, Any]:
    """Overall, per-segment and per-protected-group figures, and calibration, of one model."""
    from greenscore.fairness.groups import sensitive_features

    scored = np.isfinite(oof)
    y_s, p_s = y[scored], oof[scored]
    rows = frame.iloc[np.flatnonzero(scored)]
    out: dict[str, Any] = {
        "overall": auc_interval(y_s, p_s),
        "segments": {
            c: _by_labels(y_s, p_s, rows[c].astype(str)) for c in segment_columns(rows, spec)
        },
        "protected_groups": {},
        "calibration": calibration_table(y_s, p_s),
    }
    present = [c for c in spec.protected if c in rows.columns]
    if present:
        groups = sensitive_features(rows, spec, present)
        out["protected_groups"] = {c: _by_labels(y_s, p_s, groups[c]) for c in groups.columns}
    return out


def run_performance(
    y: np.ndarray, oofs: dict[str, np.ndarray], frame: pd.DataFrame, spec: DatasetSpec
) -> dict[str, Any]:
    """The ``performance.json`` document: one entry per model of the run."""
    return {
        "predictions": "out-of-fold: each applicant scored by the cross-validation model that "
        "did not train on them",
        "interval": "95 % DeLong (normal approximation); Gini = 2 AUC - 1",
        "models": {name: model_performance(y, oof, frame, spec) for name, oof in oofs.items()},
    }
