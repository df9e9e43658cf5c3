"""Fairness of credit decisions by protected group, over Fairlearn's ``MetricFrame``.

The favourable outcome is *approval*: a decision other than ``decline``. Rates follow
Fairlearn with "repaid" (not defaulted) as the positive label, so

- selection rate = share approved,
- TPR = share approved among applicants who repaid,
- FPR = share approved among applicants who defaulted,

and per attribute the demographic parity difference and ratio (of selection rates), the
equalized odds difference (the larger of the TPR and FPR gaps), and the four-fifths rule
(lowest selection rate at least 80 % of the highest). Intervals are Fairlearn's seeded
bootstrap. An attribute is *flagged* when it fails the four-fifths rule or a gap exceeds
its threshold.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
from sklearn.metrics import roc_auc_score

from greenscore.errors import DataError
from greenscore.fairness.groups import sensitive_features

FOUR_FIFTHS = 0.8
DP_THRESHOLD = 0.10
EO_THRESHOLD = 0.10
MIN_GROUP = 30
CI_QUANTILES = (0.025, 0.975)
FAVOURABLE = "approval (decision other than 'decline')"
CONVENTION = (
    "positive label = repaid; selection rate = approval rate; TPR = approval rate among "
    "applicants who repaid; FPR = approval rate among applicants who defaulted"
)


def _num(value: Any) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return None if math.isnan(number) or math.isinf(number) else round(number, 6)


def safe_auc(y_default: np.ndarray, pd_: np.ndarray) -> float:
    """ROC AUC of PD against default, NaN when only one class is present."""
    y = np.asarray(y_default)
    if len(np.unique(y)) < 2:
        return float("nan")
    return float(roc_auc_score(y, pd_))


def attribute_report(
    y_default: np.ndarray,
    approved: np.ndarray,
    groups: pd.Series,
    *,
    pd_: np.ndarray | None = None,
    n_boot: int = 100,
    seed: int = 0,
    dp_threshold: float = DP_THRESHOLD,
    eo_threshold: float = EO_THRESHOLD,
    min_group: int = MIN_GROUP,
) -> dict[str, Any]:
    """Group rates, gaps, four-fifths verdict and bootstrap intervals for one attribute.

    Parameters
    ----------
    y_default : array of 0/1
        Observed default (1) or repayment (0).
    approved : array of 0/1 or bool
        Whether each applicant was approved (not declined).
    groups : Series
        Group label of each applicant.
    pd_ : array, optional
        Probabilities of default, for AUC by group.
    n_boot : int
        Bootstrap resamples (0 for none).
    seed : int
        Seed of the bootstrap.
    dp_threshold, eo_threshold : float
        Largest acceptable demographic parity and equalized odds differences.
    min_group : int
        Groups smaller than this are marked ``small`` (their rates are noisy).

    Returns
    -------
    dict
        JSON-ready report of the attribute.
    """
    from fairlearn.metrics import (
        MetricFrame,
        count,
        false_positive_rate,
        selection_rate,
        true_positive_rate,
    )

    y_good = 1 - np.asarray(y_default, dtype=int)
    approved = np.asarray(approved, dtype=int)
    labels = groups.astype(str).to_numpy()
    metrics = {
        "selection_rate": selection_rate,
        "tpr": true_positive_rate,
        "fpr": false_positive_rate,
    }
    boot = {"n_boot": n_boot, "ci_quantiles": list(CI_QUANTILES), "random_state": seed} if n_boot else {}
    with warnings.catch_warnings():
        # Fairlearn warns about groups with no positives; their TPR is reported as null.
        warnings.simplefilter("ignore")
        frame = MetricFrame(
            metrics=metrics, y_true=y_good, y_pred=approved, sensitive_features=labels, **boot
        )
        sizes = MetricFrame(metrics=count, y_true=y_good, y_pred=approved, sensitive_features=labels)
        by_group = frame.by_group
        difference = frame.difference(method="between_groups")
        ratio = frame.ratio(method="between_groups")
        if n_boot:
            by_group_ci = frame.by_group_ci
            difference_ci = frame.difference_ci(method="between_groups")
            ratio_ci = frame.ratio_ci(method="between_groups")
    groups_out: dict[str, Any] = {}
    for group in by_group.index:
        mask = labels == group
        entry = {
            "count": int(sizes.by_group[group]),
            "default_rate": _num(np.asarray(y_default)[mask].mean()),
            "selection_rate": _num(by_group.loc[group, "selection_rate"]),
            "tpr": _num(by_group.loc[group, "tpr"]),
            "fpr": _num(by_group.loc[group, "fpr"]),
            "small": bool(sizes.by_group[group] < min_group),
        }
        if pd_ is not None:
            entry["auc"] = _num(safe_auc(np.asarray(y_default)[mask], np.asarray(pd_)[mask]))
        if n_boot:
            entry["ci"] = {
                m: [_num(by_group_ci[k].loc[group, m]) for k in range(len(CI_QUANTILES))]
                for m in metrics
            }
        groups_out[str(group)] = entry
    dp_difference = _num(difference["selection_rate"])
    dp_ratio = _num(ratio["selection_rate"])
    tpr_gap, fpr_gap = _num(difference["tpr"]), _num(difference["fpr"])
    eo_difference = max((g for g in (tpr_gap, fpr_gap) if g is not None), default=None)
    four_fifths = dp_ratio is not None and dp_ratio >= FOUR_FIFTHS
    reasons = []
    if not four_fifths:
        reasons.append(f"selection-rate ratio {dp_ratio} is below {FOUR_FIFTHS} (four-fifths rule)")
    if dp_difference is not None and dp_difference > dp_threshold:
        reasons.append(f"demographic parity difference {dp_difference} exceeds {dp_threshold}")
    if eo_difference is not None and eo_difference > eo_threshold:
        reasons.append(f"equalized odds difference {eo_difference} exceeds {eo_threshold}")
    rates = {g: v["selection_rate"] for g, v in groups_out.items() if v["selection_rate"] is not None}
    out: dict[str, Any] = {
        "groups": groups_out,
        "demographic_parity_difference": dp_difference,
        "demographic_parity_ratio": dp_ratio,
        "tpr_difference": tpr_gap,
        "fpr_difference": fpr_gap,
        "equalized_odds_difference": eo_difference,
        "four_fifths_rule": "pass" if four_fifths else "fail",
        "least_favoured_group": min(rates, key=lambda g: (rates[g], g)) if rates else None,
        "most_favoured_group": max(rates, key=lambda g: (rates[g], g)) if rates else None,
        "flagged": bool(reasons),
        "flag_reasons": reasons,
    }
    if n_boot:
        out["ci"] = {
            "demographic_parity_difference": [_num(c["selection_rate"]) for c in difference_ci],
            "demographic_parity_ratio": [_num(c["selection_rate"]) for c in ratio_ci],
            "tpr_difference": [_num(c["tpr"]) for c in difference_ci],
            "fpr_difference": [_num(c["fpr"]) for c in difference_ci],
        }
    return out


def fairness_report(
    y_default: np.ndarray,
    pd_: np.ndarray,
    decisions: np.ndarray,
    sensitive: pd.DataFrame,
    *,
    n_boot: int = 100,
    seed: int = 0,
    dp_threshold: float = DP_THRESHOLD,
    eo_threshold: float = EO_THRESHOLD,
) -> dict[str, Any]:
    """The fairness report of a set of decisions, attribute by attribute.

    Parameters
    ----------
    y_default : array of 0/1
        Observed outcomes (1 = default).
    pd_ : array
        Probabilities of default.
    decisions : array of str
        ``approve`` / ``review`` / ``decline`` per applicant.
    sensitive : DataFrame
        One column of group labels per protected attribute (see
        :func:`greenscore.fairness.groups.sensitive_features`).
    n_boot, seed, dp_threshold, eo_threshold : see :func:`attribute_report`.

    Returns
    -------
    dict
        ``overall`` figures, ``attributes`` (one :func:`attribute_report` each),
        ``flagged`` attribute names, and the conventions used.

    Raises
    ------
    DataError
        If the arrays and the group frame differ in length.
    """
    n = len(y_default)
    if not (len(pd_) == len(decisions) == len(sensitive) == n):
        raise DataError(
            f"fairness inputs differ in length: y={n}, pd={len(pd_)}, decisions={len(decisions)}, "
            f"groups={len(sensitive)}"
        )
    if n == 0:
        raise DataError("no applicants to assess")
    approved = (np.asarray(decisions) != "decline").astype(int)
    attributes = {
        column: attribute_report(
            y_default,
            approved,
            sensitive[column],
            pd_=pd_,
            n_boot=n_boot,
            seed=seed,
            dp_threshold=dp_threshold,
            eo_threshold=eo_threshold,
        )
        for column in sensitive.columns
    }
    return {
        "favourable_outcome": FAVOURABLE,
        "convention": CONVENTION,
        "thresholds": {
            "four_fifths": FOUR_FIFTHS,
            "demographic_parity_difference": dp_threshold,
            "equalized_odds_difference": eo_threshold,
        },
        "bootstrap": {"resamples": n_boot, "seed": seed, "quantiles": list(CI_QUANTILES)},
        "overall": {
            "applicants": n,
            "auc": _num(safe_auc(y_default, pd_)),
            "default_rate": _num(np.mean(y_default)),
            "approval_rate": _num(approved.mean()),
        },
        "attributes": attributes,
        "flagged": [a for a, r in attributes.items() if r["flagged"]],
    }


def fairness_summary(
    bundle: Any,
    frame: pd.DataFrame,
    *,
    protected: Sequence[str] | None = None,
    n_boot: int = 100,
    seed: int | None = None,
) -> dict[str, Any]:
    """Score a labelled applications frame with a bundle and report fairness by group.

    Parameters
    ----------
    bundle : ScoringBundle
        The model (its cut-offs make the decisions).
    frame : DataFrame
        Raw applications with the target and the protected columns.
    protected : sequence of str, optional
        Attributes to assess; defaults to the spec's protected list.
    n_boot : int
        Bootstrap resamples.
    seed : int, optional
        Bootstrap seed; defaults to ``settings.seed``.

    Returns
    -------
    dict
        :func:`fairness_report` plus the model's name.

    Raises
    ------
    DataError
        If the target or a protected column is missing.
    """
    from greenscore.data.loading import encode_target
    from greenscore.explain.feature_map import select_model_input

    spec = bundle.spec
    if spec.target not in frame.columns:
        raise DataError(f"fairness needs the outcome column '{spec.target}' in the data")
    if seed is None:
        from greenscore.config import get_settings

        seed = get_settings().seed
    y = encode_target(frame[spec.target], spec)
    pd_ = bundle.predict_pd(select_model_input(bundle, frame))
    report = fairness_report(
        y,
        pd_,
        bundle.decisions(pd_),
        sensitive_features(frame, spec, protected),
        n_boot=n_boot,
        seed=seed,
    )
    return {"model": bundle.name, **report}
