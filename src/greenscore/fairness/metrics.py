"""Fairness of credit decisions by protected group, over Fairlearn's ``MetricFrame``.

The favourable outcome is *approval*: a decision other than ``decline``. Rates follow
Fairlearn with "repaid" (not defaulted) as the positive label, so

- selection rate = share approved,
- TPR = share approved among applicants who repaid,
- FPR = share approved among applicants who defaulted,

and per attribute the demographic parity difference and ratio (of selection rates), the
equalized odds difference (the larger of the TPR and FPR gaps), and the four-fifths rule
(lowest selection rate at least 80 % of the highest). Point estimates are Fairlearn's;
intervals come from a seeded row bootstrap (:mod:`greenscore.fairness.bootstrap`). An
attribute is *flagged* when it fails the four-fifths rule, a gap exceeds its threshold,
the approval gap between its most and least approved groups is material and
statistically significant (the two-standard-deviation test US enforcement pairs with the
four-fifths rule), or the groups' predicted risk differs materially and significantly
(standardised mean difference of log-odds at least 0.1, the usual balance threshold, and
Welch's z above 2): a proxy bias shows there before it moves many decisions.
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
from greenscore.fairness.bootstrap import GAP_INTERVAL, RATE_INTERVAL
from greenscore.fairness.groups import group_order, sensitive_features
from greenscore.models.bundle import ScoringBundle

FOUR_FIFTHS = 0.8
DP_THRESHOLD = 0.10
EO_THRESHOLD = 0.10
MIN_GROUP = 30
SIGNIFICANT_GAP = 0.02
SIGNIFICANCE_Z = 2.0
SCORE_SMD = 0.10
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


def two_sd_test(rates: dict[str, tuple[float, int]]) -> dict[str, Any] | None:
    """Two-proportion z-test between the most and least approved groups.

    Parameters
    ----------
    rates : dict
        ``{group: (selection_rate, count)}`` of the groups large enough to compare.

    Returns
    -------
    dict or None
        ``high``, ``low``, ``difference`` and ``z``; None with fewer than two groups.
        US enforcement practice reads ``|z| > 2`` (two standard deviations) as a
        statistically significant disparity.
    """
    usable = {g: rc for g, rc in rates.items() if rc[1] > 0 and not math.isnan(rc[0])}
    if len(usable) < 2:
        return None
    high = max(usable, key=lambda g: (usable[g][0], g))
    low = min(usable, key=lambda g: (usable[g][0], g))
    (p1, n1), (p2, n2) = usable[high], usable[low]
    pooled = (p1 * n1 + p2 * n2) / (n1 + n2)
    se = math.sqrt(max(pooled * (1 - pooled), 0.0) * (1 / n1 + 1 / n2))
    z = (p1 - p2) / se if se > 0 else 0.0
    return {"high": high, "low": low, "difference": _num(p1 - p2), "z": _num(z)}


def score_disparity(
    pd_: np.ndarray, labels: np.ndarray, groups: Sequence[str]
) -> dict[str, Any] | None:
    """How far apart the groups' predicted risk is, whatever the cut-off.

    Compares the groups with the highest and lowest mean log-odds of default: the
    standardised mean difference (pooled standard deviation) and Welch's z.

    Returns
    -------
    dict or None
        ``higher_risk``, ``lower_risk``, their ``mean_pd``, ``smd`` and ``z``; None with
        fewer than two groups of at least two applicants.
    """
    p = np.clip(np.asarray(pd_, dtype=float), 1e-9, 1 - 1e-9)
    logit = np.log(p / (1 - p))
    stats = {}
    for group in groups:
        values = logit[labels == group]
        if len(values) >= 2:
            stats[group] = (values.mean(), values.var(ddof=1), len(values))
    if len(stats) < 2:
        return None
    high = max(stats, key=lambda g: (stats[g][0], g))
    low = min(stats, key=lambda g: (stats[g][0], g))
    (m1, v1, n1), (m2, v2, n2) = stats[high], stats[low]
    pooled = math.sqrt((v1 + v2) / 2)
    se = math.sqrt(v1 / n1 + v2 / n2)
    return {
        "measure": "standardised mean difference of the log-odds of default",
        "higher_risk": high,
        "lower_risk": low,
        "mean_pd": {high: _num(p[labels == high].mean()), low: _num(p[labels == low].mean())},
        "smd": _num((m1 - m2) / pooled) if pooled > 0 else 0.0,
        "z": _num((m1 - m2) / se) if se > 0 else 0.0,
    }


def attribute_report(
    y_default: np.ndarray,
    approved: np.ndarray,
    groups: pd.Series,
    *,
    pd_: np.ndarray | None = None,
    n_boot: int = 200,
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
        Groups smaller than this are marked ``small`` and left out of the significance
        test (their rates are noise).

    Returns
    -------
    dict
        JSON-ready report of the attribute. ``flagged`` is True when the four-fifths rule
        fails, a gap exceeds its threshold, or the approval gap between the most and
        least approved (non-small) groups is at least ``SIGNIFICANT_GAP`` and more than
        two standard deviations.
    """
    from fairlearn.metrics import (
        MetricFrame,
        count,
        false_positive_rate,
        selection_rate,
        true_positive_rate,
    )

    from greenscore.fairness.bootstrap import bootstrap_intervals

    y_default = np.asarray(y_default, dtype=int)
    y_good = 1 - y_default
    approved = np.asarray(approved, dtype=int)
    labels = groups.astype(str).to_numpy()
    metrics = {
        "selection_rate": selection_rate,
        "tpr": true_positive_rate,
        "fpr": false_positive_rate,
        "count": count,
    }
    with warnings.catch_warnings():
        # Fairlearn warns about groups with no positives; their TPR is reported as null.
        warnings.simplefilter("ignore")
        frame = MetricFrame(
            metrics=metrics, y_true=y_good, y_pred=approved, sensitive_features=labels
        )
        by_group = frame.by_group
    # Gaps compare the groups with enough applicants to estimate a rate (all groups if
    # fewer than two are that large): a group of seven must not decide the verdict.
    large = by_group[by_group["count"] >= min_group]
    compared = large if len(large) >= 2 else by_group
    rated = compared[["selection_rate", "tpr", "fpr"]].astype(float)
    difference = (rated.max() - rated.min()).to_dict()
    high_rate = rated["selection_rate"].max()
    ratio = {
        "selection_rate": rated["selection_rate"].min() / high_rate if high_rate > 0 else np.nan
    }
    in_compared = np.isin(labels, compared.index.astype(str))
    intervals = (
        bootstrap_intervals(
            y_good, approved, labels, n_boot=n_boot, seed=seed, quantiles=CI_QUANTILES
        )
        if n_boot
        else None
    )
    gap_intervals = (
        bootstrap_intervals(
            y_good[in_compared],
            approved[in_compared],
            labels[in_compared],
            n_boot=n_boot,
            seed=seed,
            quantiles=CI_QUANTILES,
        )["gaps"]
        if n_boot
        else None
    )
    # The reference is the most approved group compared; every group is read against it.
    reference = (
        str(rated["selection_rate"].idxmax()) if rated["selection_rate"].notna().any() else None
    )
    ref = (
        {m: float(rated.loc[reference, m]) for m in ("selection_rate", "tpr", "fpr")}
        if reference is not None
        else None
    )
    groups_out: dict[str, Any] = {}
    for group in group_order(by_group.index.astype(str)):
        mask = labels == group
        size = int(by_group.loc[group, "count"])
        rate = float(by_group.loc[group, "selection_rate"])
        entry: dict[str, Any] = {
            "count": size,
            "default_rate": _num(y_default[mask].mean()),
            "selection_rate": _num(rate),
            "tpr": _num(by_group.loc[group, "tpr"]),
            "fpr": _num(by_group.loc[group, "fpr"]),
            "small": size < min_group,
            "ratio_to_reference": (
                _num(rate / ref["selection_rate"]) if ref and ref["selection_rate"] > 0 else None
            ),
            "tpr_gap": _num(float(by_group.loc[group, "tpr"]) - ref["tpr"]) if ref else None,
            "fpr_gap": _num(float(by_group.loc[group, "fpr"]) - ref["fpr"]) if ref else None,
        }
        if pd_ is not None:
            entry["auc"] = _num(safe_auc(y_default[mask], np.asarray(pd_)[mask]))
        if intervals is not None:
            entry["ci"] = {
                m: [_num(b) for b in v] for m, v in intervals["groups"][str(group)].items()
            }
        groups_out[str(group)] = entry
    dp_difference = _num(difference["selection_rate"])
    dp_ratio = _num(ratio["selection_rate"])
    tpr_gap, fpr_gap = _num(difference["tpr"]), _num(difference["fpr"])
    eo_difference = max((g for g in (tpr_gap, fpr_gap) if g is not None), default=None)
    four_fifths = dp_ratio is not None and dp_ratio >= FOUR_FIFTHS
    test = two_sd_test(
        {
            g: (v["selection_rate"], v["count"])
            for g, v in groups_out.items()
            if not v["small"] and v["selection_rate"] is not None
        }
    )
    reasons = []
    if not four_fifths:
        reasons.append(f"selection-rate ratio {dp_ratio} is below {FOUR_FIFTHS} (four-fifths rule)")
    if dp_difference is not None and dp_difference > dp_threshold:
        reasons.append(f"demographic parity difference {dp_difference} exceeds {dp_threshold}")
    if eo_difference is not None and eo_difference > eo_threshold:
        reasons.append(f"equalized odds difference {eo_difference} exceeds {eo_threshold}")
    if test and test["difference"] >= SIGNIFICANT_GAP and test["z"] > SIGNIFICANCE_Z:
        reasons.append(
            f"approval gap {test['difference']} between '{test['high']}' and '{test['low']}' "
            f"is {test['z']} standard deviations (more than {SIGNIFICANCE_Z}: significant)"
        )
    disparity = (
        score_disparity(np.asarray(pd_, dtype=float), labels, [str(g) for g in compared.index])
        if pd_ is not None
        else None
    )
    if disparity and disparity["smd"] >= SCORE_SMD and disparity["z"] > SIGNIFICANCE_Z:
        reasons.append(
            f"predicted risk of '{disparity['higher_risk']}' is above '{disparity['lower_risk']}' "
            f"by {disparity['smd']} standard deviations of log-odds (z {disparity['z']})"
        )
    rates = {
        g: v["selection_rate"] for g, v in groups_out.items() if v["selection_rate"] is not None
    }
    out: dict[str, Any] = {
        "groups": groups_out,
        "groups_compared": group_order(compared.index.astype(str)),
        "reference_group": reference,
        "demographic_parity_difference": dp_difference,
        "demographic_parity_ratio": dp_ratio,
        "tpr_difference": tpr_gap,
        "fpr_difference": fpr_gap,
        "equalized_odds_difference": eo_difference,
        "four_fifths_rule": "pass" if four_fifths else "fail",
        "significance_test": test,
        "score_disparity": disparity,
        "least_favoured_group": min(rates, key=lambda g: (rates[g], g)) if rates else None,
        "most_favoured_group": max(rates, key=lambda g: (rates[g], g)) if rates else None,
        "flagged": bool(reasons),
        "flag_reasons": reasons,
    }
    if gap_intervals is not None:
        out["ci"] = {k: [_num(b) for b in v] for k, v in gap_intervals.items()}
    return out


def fairness_report(
    y_default: np.ndarray,
    pd_: np.ndarray,
    decisions: np.ndarray,
    sensitive: pd.DataFrame,
    *,
    n_boot: int = 200,
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
            "significant_gap": SIGNIFICANT_GAP,
            "significance_z": SIGNIFICANCE_Z,
            "score_smd": SCORE_SMD,
            "demographic_parity_difference": dp_threshold,
            "equalized_odds_difference": eo_threshold,
        },
        "bootstrap": {
            "resamples": n_boot,
            "seed": seed,
            "quantiles": list(CI_QUANTILES),
            "group_rate_intervals": RATE_INTERVAL,
            "gap_intervals": GAP_INTERVAL,
        },
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
    bundle: ScoringBundle,
    frame: pd.DataFrame,
    *,
    protected: Sequence[str] | None = None,
    n_boot: int = 200,
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
