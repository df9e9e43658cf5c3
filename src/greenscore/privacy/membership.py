"""Membership inference: can an attacker tell whether an applicant was in the training data?

The standard loss-threshold attack (Yeom et al., 2018, "Privacy risk in machine learning:
analyzing the connection to overfitting"): a model fits its training rows better than
rows it never saw, so the lower a row's loss, the likelier it was a member. Sweeping the
threshold over every loss gives the attack's ROC curve; its **AUC** is the figure of
merit (0.5: the attacker learns nothing; 1.0: membership is plain), and the **advantage**
``max(TPR - FPR)`` is the best single threshold's edge (Yeom's membership advantage).
A model trained with DP-SGD at a small epsilon bounds what any attack can learn, so its
AUC should stay near 0.5 while an over-fitted model's climbs.

Works on any classifier's probabilities (``predict_proba`` of a scorecard, LightGBM or a
PyTorch net): the attack sees only the model's outputs and the true labels, as an
attacker with query access and a candidate's record would.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from sklearn.metrics import roc_auc_score, roc_curve

from greenscore.errors import DataError

_EPS = 1e-12
NEED_BOTH = "membership attack needs members and non-members, got {members} and {others}"
BAD_PROBA = "probabilities must be finite numbers in [0, 1] (row {row}: {value})"


def example_loss(proba: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Per-row log loss of the probability of the positive class against 0/1 labels.

    Raises
    ------
    DataError
        If a probability is not in [0, 1] or lengths differ.
    """
    p = np.asarray(proba, dtype=float).ravel()
    labels = np.asarray(y).astype(int).ravel()
    if p.shape != labels.shape:
        raise DataError(f"{p.size} probabilities for {labels.size} labels")
    bad = np.flatnonzero(~np.isfinite(p) | (p < 0) | (p > 1))
    if bad.size:
        raise DataError(BAD_PROBA.format(row=int(bad[0]), value=p[bad[0]]))
    p = np.clip(p, _EPS, 1 - _EPS)
    return -(labels * np.log(p) + (1 - labels) * np.log(1 - p))


@dataclass(frozen=True)
class MembershipResult:
    """What a loss-threshold attack achieved.

    Attributes
    ----------
    auc : area under the attack's ROC curve (0.5 = no better than guessing).
    advantage : best ``TPR - FPR`` over thresholds (Yeom's membership advantage).
    members, non_members : rows of each kind the attack was scored on.
    member_loss, non_member_loss : mean loss of each kind (the generalisation gap).
    """

    auc: float
    advantage: float
    members: int
    non_members: int
    member_loss: float
    non_member_loss: float

    def as_dict(self) -> dict[str, Any]:
        """Plain data for reports."""
        return asdict(self)


def loss_attack(
    proba_members: np.ndarray,
    y_members: np.ndarray,
    proba_non_members: np.ndarray,
    y_non_members: np.ndarray,
) -> MembershipResult:
    """Run the loss-threshold attack on a model's probabilities for known members (rows it
    was trained on) and non-members (rows from the same population it never saw).

    Parameters
    ----------
    proba_members, proba_non_members : array of shape (n,)
        The model's probability of the positive class for each row.
    y_members, y_non_members : array of shape (n,)
        The rows' true 0/1 labels.

    Returns
    -------
    MembershipResult

    Raises
    ------
    DataError
        If either group is empty or a probability is invalid.

    Examples
    --------
    >>> r = loss_attack(np.array([0.9, 0.1]), np.array([1, 0]), np.array([0.4, 0.6]), np.array([1, 0]))
    >>> r.auc
    1.0
    """
    member_loss = example_loss(proba_members, y_members)
    other_loss = example_loss(proba_non_members, y_non_members)
    if member_loss.size == 0 or other_loss.size == 0:
        raise DataError(NEED_BOTH.format(members=member_loss.size, others=other_loss.size))
    truth = np.r_[np.ones(member_loss.size), np.zeros(other_loss.size)]
    score = -np.r_[member_loss, other_loss]  # lower loss: likelier a member
    fpr, tpr, _ = roc_curve(truth, score)
    return MembershipResult(
        auc=float(roc_auc_score(truth, score)),
        advantage=float(np.max(tpr - fpr)),
        members=int(member_loss.size),
        non_members=int(other_loss.size),
        member_loss=float(member_loss.mean()),
        non_member_loss=float(other_loss.mean()),
    )
