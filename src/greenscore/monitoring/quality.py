"""Data-quality checks of one current column against its reference.

Four checks, each with its threshold in :class:`~greenscore.config.MonitoringSettings`:
the missing share rose (a feed that stopped filling a field; by more than the threshold
and more than chance explains), values outside the
reference range (a unit change, a new product), categories the reference never had (a
new code the model reads as missing), and text in a numeric column (counted, never
silently dropped: such values enter the other checks as missing).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from greenscore.config import MonitoringSettings
from greenscore.monitoring.reference import ColumnReference

#: Unseen levels named per column in the report (the most frequent first).
SHOWN_LEVELS = 10
#: A missing share's rise is a finding only if a binomial test puts its chance below this
#: (strict: a report tests every column in every window).
SIGNIFICANCE = 0.001


def column_quality(
    reference: ColumnReference,
    values: np.ndarray,
    missing: np.ndarray,
    *,
    settings: MonitoringSettings,
) -> dict[str, Any]:
    """Missing, range, unseen-category and non-numeric checks of one column.

    Parameters
    ----------
    reference : ColumnReference
    values : array
        The column prepared as its bins read it (:func:`~greenscore.monitoring.drift.prepare`).
    missing : array of bool
        Where the raw column was missing (a number that could not be read is not missing
        but ``non_numeric``).
    settings : MonitoringSettings

    Returns
    -------
    dict
        ``missing_share``, ``missing_increase`` (None when the reference's is unknown),
        ``out_of_range_share`` and ``below``/``above`` counts (numeric), ``non_numeric``
        (numeric), ``unseen_share`` and ``unseen`` levels with counts (categorical), and
        ``findings``: the names of the checks that crossed their threshold.
    """
    n = len(values)
    missing_share = float(missing.mean()) if n else 0.0
    out: dict[str, Any] = {"missing_share": missing_share, "missing_increase": None}
    findings: list[str] = []
    if reference.missing_share is not None:
        increase = missing_share - reference.missing_share
        out["missing_increase"] = increase
        if increase > settings.missing_rate_increase and n:
            from scipy.stats import binomtest

            # A window of a few hundred rows moves a 30 % missing share by several points
            # by chance alone: a rise is a finding only when it is also unlikely by chance.
            chance = binomtest(
                int(missing.sum()), n, reference.missing_share, alternative="greater"
            ).pvalue
            out["missing_p_value"] = float(chance)
            if chance < SIGNIFICANCE:
                findings.append("missing_rate")
    if reference.kind == "numeric":
        unread = np.isnan(values)
        out["non_numeric"] = int((unread & ~missing).sum())
        if out["non_numeric"]:
            findings.append("non_numeric")
        known = values[~unread]
        below = int((known < reference.low).sum()) if reference.low is not None else 0
        above = int((known > reference.high).sum()) if reference.high is not None else 0
        share = (below + above) / len(known) if len(known) else 0.0
        out.update(below=below, above=above, out_of_range_share=share)
        if share > settings.out_of_range_share:
            findings.append("range")
    elif reference.levels is not None:
        known = values[~pd.isna(values)]
        unseen = pd.Series(known[~np.isin(known, list(reference.levels))], dtype=object)
        counts = unseen.value_counts().head(SHOWN_LEVELS)
        share = len(unseen) / len(known) if len(known) else 0.0
        out["unseen_share"] = share
        out["unseen"] = {str(k): int(v) for k, v in counts.items()}
        if share > settings.unseen_share:
            findings.append("unseen")
    out["findings"] = findings
    return out
