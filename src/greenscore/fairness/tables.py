"""The by-group fairness table as a reader sees it, shared by every fairness page.

One row per group of a protected attribute, in reading order (age bands by age): size,
approval rate, ratio of its approval rate to the reference group's (the most approved
group compared), AUC of the PD within the group, gaps in TPR and FPR to the reference,
default rate and a verdict.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from greenscore.fairness.metrics import EO_THRESHOLD, FOUR_FIFTHS, MIN_GROUP

REFERENCE = "reference"
TOO_SMALL = f"too few to judge (under {MIN_GROUP})"
BELOW_FOUR_FIFTHS = f"approval ratio below {FOUR_FIFTHS:g} (four-fifths rule)"
ODDS_GAP = f"TPR or FPR gap above {EO_THRESHOLD:g}"
OK = "ok"


def _pct(value: float | None) -> str:
    return "" if value is None else f"{value:.1%}"


def _num(value: float | None, digits: int = 3) -> str:
    return "" if value is None else f"{value:.{digits}f}"


def _signed(value: float | None) -> str:
    return "" if value is None else f"{value:+.3f}"


def group_verdict(group: str, entry: dict[str, Any], reference: str | None) -> str:
    """Verdict of one group against the reference group."""
    if entry["small"]:
        return TOO_SMALL
    if group == reference:
        return REFERENCE
    problems = []
    ratio = entry.get("ratio_to_reference")
    if ratio is not None and ratio < FOUR_FIFTHS:
        problems.append(BELOW_FOUR_FIFTHS)
    gaps = [abs(g) for g in (entry.get("tpr_gap"), entry.get("fpr_gap")) if g is not None]
    if gaps and max(gaps) > EO_THRESHOLD:
        problems.append(ODDS_GAP)
    return "; ".join(problems) or OK


def group_table(result: dict[str, Any]) -> pd.DataFrame:
    """The table of one attribute of :func:`greenscore.fairness.metrics.attribute_report`.

    Returns
    -------
    DataFrame
        Columns ``group``, ``n``, ``approval rate``, ``ratio to reference``, ``AUC``,
        ``TPR gap``, ``FPR gap``, ``default rate``, ``verdict``; formatted strings.
    """
    reference = result.get("reference_group")
    rows = [
        {
            "group": group,
            "n": entry["count"],
            "approval rate": _pct(entry["selection_rate"]),
            "ratio to reference": _num(entry.get("ratio_to_reference")),
            "AUC": _num(entry.get("auc")),
            "TPR gap": _signed(entry.get("tpr_gap")),
            "FPR gap": _signed(entry.get("fpr_gap")),
            "default rate": _pct(entry["default_rate"]),
            "verdict": group_verdict(group, entry, reference),
        }
        for group, entry in result["groups"].items()
    ]
    return pd.DataFrame(rows)


def attribute_summary(name: str, result: dict[str, Any]) -> str:
    """One sentence: the attribute's verdict, four-fifths ratio and why it is flagged."""
    verdict = "FLAGGED" if result["flagged"] else "not flagged"
    why = f": {'; '.join(result['flag_reasons'])}" if result["flag_reasons"] else ""
    return (
        f"{name}: {verdict} (approval ratio {result['demographic_parity_ratio']}, four-fifths "
        f"rule {result['four_fifths_rule']}, reference group {result.get('reference_group')})"
        f"{why}."
    )
