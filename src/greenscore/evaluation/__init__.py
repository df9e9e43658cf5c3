"""Evaluation: credit metrics, cross-validation folds and statistical tests.

Pure functions on numpy arrays, at the bottom of the dependency graph (nothing here
imports models, features or serving). Figures live in
:mod:`greenscore.evaluation.plots` and HTML reports in :mod:`greenscore.evaluation.report`;
they are not re-exported so that importing metrics never loads Plotly.
"""

from greenscore.evaluation.cv import NestedFold, make_folds, nested_folds, summarise
from greenscore.evaluation.metrics import (
    auc,
    brier,
    calibration_curve,
    check_binary_scores,
    credit_metrics,
    ece,
    gini,
    ks,
    ks_curve,
    pr_auc,
    score_band_table,
)
from greenscore.evaluation.stats import (
    DelongCVResult,
    delong_covariance,
    delong_cv,
    delong_test,
)

__all__ = [
    "DelongCVResult",
    "NestedFold",
    "auc",
    "brier",
    "calibration_curve",
    "check_binary_scores",
    "credit_metrics",
    "delong_covariance",
    "delong_cv",
    "delong_test",
    "ece",
    "gini",
    "ks",
    "ks_curve",
    "make_folds",
    "nested_folds",
    "pr_auc",
    "score_band_table",
    "summarise",
]
