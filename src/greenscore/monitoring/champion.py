"""Champion and challenger: may a retrained model replace the one in use?

Both models score the same labelled applicants, ones neither was fitted on (the champion
never saw the new data; the challenger's figures are its out-of-fold PDs). The challenger
replaces the champion only when its AUC is higher and the DeLong test on the paired PDs
(:func:`greenscore.evaluation.stats.delong_test`) says the difference is unlikely to be
chance (p below ``monitoring.challenger_alpha``). Brier scores are reported beside it.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from greenscore.evaluation.metrics import auc, brier, check_binary_scores
from greenscore.evaluation.stats import delong_test

PROMOTED = (
    "challenger AUC {challenger:.4f} > champion {champion:.4f}, DeLong p = {p:.3g} < {alpha:g}"
)
KEPT = "champion kept: challenger AUC {challenger:.4f} vs {champion:.4f}, DeLong p = {p:.3g}"


@dataclass(frozen=True)
class Comparison:
    """The champion and the challenger on the same rows, and the verdict."""

    rows: int
    defaults: int
    champion_auc: float
    challenger_auc: float
    champion_brier: float
    challenger_brier: float
    delong_z: float
    delong_p: float
    alpha: float
    promote: bool
    verdict: str

    def to_dict(self) -> dict[str, Any]:
        """Plain data for the job's result and the audit log."""
        return asdict(self)


def compare_champion_challenger(
    y: object, champion_pd: object, challenger_pd: object, *, alpha: float
) -> Comparison:
    """Compare two models' PDs on the same applicants and decide whether to promote.

    Raises
    ------
    DataError
        If the inputs are not outcomes and probabilities of the same rows, or a class is
        missing.
    """
    y_arr, champion = check_binary_scores(y, champion_pd)
    _, challenger = check_binary_scores(y_arr, challenger_pd)
    champion_auc, challenger_auc = auc(y_arr, champion), auc(y_arr, challenger)
    z, p = delong_test(y_arr, challenger, champion)
    promote = bool(challenger_auc > champion_auc and p < alpha)
    template = PROMOTED if promote else KEPT
    verdict = template.format(challenger=challenger_auc, champion=champion_auc, p=p, alpha=alpha)
    return Comparison(
        rows=len(y_arr),
        defaults=int(np.sum(y_arr)),
        champion_auc=champion_auc,
        challenger_auc=challenger_auc,
        champion_brier=brier(y_arr, champion),
        challenger_brier=brier(y_arr, challenger),
        delong_z=z,
        delong_p=p,
        alpha=alpha,
        promote=promote,
        verdict=verdict,
    )
