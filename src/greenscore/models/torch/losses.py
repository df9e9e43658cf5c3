"""Loss functions for the binary default target: weighted BCE and focal loss.

Both take raw logits of shape ``[n]`` and 0/1 targets of the same shape and return the
mean loss, so the trainer can swap them without knowing which is which. Class weighting
and focal down-weighting change the scale of the predicted PDs: the default of every net is
plain (unweighted) BCE, which keeps probabilities calibrated.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F  # noqa: N812 - torch's own convention


class WeightedBCELoss(nn.Module):
    """Binary cross-entropy on logits with an optional weight on the positive class.

    Parameters
    ----------
    pos_weight : float, optional
        Multiplier of the loss of defaulters (``n_negative / n_positive`` balances the
        classes); None or 1.0 is plain BCE.
    """

    def __init__(self, pos_weight: float | None = None) -> None:
        super().__init__()
        self.pos_weight = pos_weight

    def forward(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """Mean loss of ``[n]`` logits against ``[n]`` 0/1 targets."""
        weight = None
        if self.pos_weight is not None:
            weight = torch.tensor(self.pos_weight, dtype=logits.dtype, device=logits.device)
        return F.binary_cross_entropy_with_logits(logits.float(), target.float(), pos_weight=weight)


class FocalLoss(nn.Module):
    """Focal loss (Lin et al. 2017): BCE scaled by ``(1 - p_t) ** gamma``.

    Down-weights easy, well-classified rows so training concentrates on the hard ones.

    Parameters
    ----------
    gamma : float
        Focusing strength; 0 gives (alpha-weighted) BCE.
    alpha : float, optional
        Weight of the positive class in ``[0, 1]`` (negatives get ``1 - alpha``); None
        weighs both classes equally.
    """

    def __init__(self, gamma: float = 2.0, alpha: float | None = None) -> None:
        super().__init__()
        self.gamma = gamma
        self.alpha = alpha

    def forward(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """Mean focal loss of ``[n]`` logits against ``[n]`` 0/1 targets."""
        logits, target = logits.float(), target.float()
        bce = F.binary_cross_entropy_with_logits(logits, target, reduction="none")
        # p_t is the probability given to the true class; exp(-bce) computes it stably.
        p_t = torch.exp(-bce)
        loss = (1.0 - p_t) ** self.gamma * bce
        if self.alpha is not None:
            loss = (self.alpha * target + (1.0 - self.alpha) * (1.0 - target)) * loss
        return loss.mean()


def make_loss(name: str, *, gamma: float = 2.0, pos_weight: float | None = None) -> nn.Module:
    """Build the loss a net was configured with.

    Parameters
    ----------
    name : {"bce", "focal"}
        Weighted BCE or focal loss.
    gamma : float
        Focal loss focusing strength.
    pos_weight : float, optional
        Positive-class weight; for focal loss it becomes ``alpha = w / (1 + w)``.
    """
    if name == "focal":
        alpha = None if pos_weight is None else pos_weight / (1.0 + pos_weight)
        return FocalLoss(gamma=gamma, alpha=alpha)
    return WeightedBCELoss(pos_weight=pos_weight)
