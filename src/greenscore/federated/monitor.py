"""Convergence of a federation: the global validation AUC per round and divergence alerts.

No score leaves a lender: each returns, for its validation rows, histograms of the global
model's predicted PDs for defaulters and non-defaulters
(:func:`greenscore.federated.dnn_local.score_histograms`). Summed, they are the
federation's score distribution, from which :func:`auc_from_histograms` gives the AUC
(ties within a bin counted half, as the Mann-Whitney statistic does).

:class:`ConvergenceMonitor` keeps the curve, the best round, and raises a *divergence
alert* when the AUC falls more than ``drop`` below the best seen, or the mean training
loss is not finite: FedAdam with a large server rate, or local epochs on very skewed
lenders, can walk the global model away from where it was. The alert is logged, recorded
in the run's metrics and MLflow, and the best round's weights are the ones kept.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from greenscore.logging import get_logger

log = get_logger(__name__)


def auc_from_histograms(pos: np.ndarray, neg: np.ndarray) -> float:
    """AUC of scores binned in the same ordered bins (higher bin = higher risk).

    Returns NaN when one class is absent.
    """
    pos = np.asarray(pos, dtype=float)
    neg = np.asarray(neg, dtype=float)
    n_pos, n_neg = pos.sum(), neg.sum()
    if n_pos <= 0 or n_neg <= 0:
        return float("nan")
    below = np.concatenate([[0.0], np.cumsum(neg)[:-1]])
    return float((pos * (below + 0.5 * neg)).sum() / (n_pos * n_neg))


@dataclass
class ConvergenceMonitor:
    """The per-round record of a federation (see the module docstring).

    Parameters
    ----------
    drop : float
        AUC fall below the best that raises a divergence alert.
    patience : int or None
        Rounds without a better AUC after which training stops early.
    """

    drop: float = 0.05
    patience: int | None = None
    curve: list[dict[str, float]] = field(default_factory=list)
    alerts: list[dict[str, float | str]] = field(default_factory=list)
    best_round: int = 0
    best_auc: float = float("-inf")

    def record(self, round_: int, *, auc: float, train_loss: float) -> bool:
        """Add a round; True when it is the best so far (keep its weights)."""
        self.curve.append({"round": float(round_), "val_auc": auc, "train_loss": train_loss})
        if not math.isfinite(train_loss):
            self._alert(round_, f"training loss is {train_loss}")
        if math.isfinite(auc) and auc > self.best_auc:
            self.best_auc, self.best_round = auc, round_
            return True
        if math.isfinite(auc) and auc < self.best_auc - self.drop:
            self._alert(
                round_,
                f"validation AUC {auc:.4f} fell more than {self.drop:g} below the best "
                f"{self.best_auc:.4f} (round {self.best_round})",
            )
        return False

    def _alert(self, round_: int, why: str) -> None:
        self.alerts.append({"round": float(round_), "reason": why})
        log.warning("federated training diverging", extra={"round": round_, "reason": why})

    @property
    def diverged(self) -> bool:
        """Whether any round raised an alert."""
        return bool(self.alerts)

    def should_stop(self, round_: int) -> bool:
        """Whether ``patience`` rounds have passed without a better AUC."""
        return self.patience is not None and round_ - self.best_round >= self.patience
