"""What every compression step shares: encoded rows, fine-tuning, and the accuracy gate.

A step changes a net (prunes it, quantizes it, trains a student), fine-tunes it on the
training rows and is then validated on held-out rows: :class:`AccuracyGate` keeps the
step only while the AUC lost against the original stays within the tolerance (default
0.005), so an iterative schedule stops at the last step that was good enough.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import torch
from sklearn.metrics import roc_auc_score
from torch import nn

from greenscore.errors import ConfigError
from greenscore.models.torch.encoding import TabularEncoder

#: AUC a step may lose against the original before the schedule stops.
DEFAULT_TOLERANCE = 0.005
BAD_TOLERANCE = "the AUC tolerance must be between 0 and 1, got {value}"


@dataclass
class NetData:
    """Rows as the net reads them: the encoder's tensors and the 0/1 outcome.

    Attributes
    ----------
    num, cat : encoder tensors ``[n, d_num]`` float32 and ``[n, d_cat]`` int64.
    y : float32 outcomes ``[n]`` (1 = default).
    target : float32 training targets ``[n]`` (the outcomes, or a teacher's soft targets).
    """

    num: torch.Tensor
    cat: torch.Tensor
    y: torch.Tensor
    target: torch.Tensor

    @classmethod
    def of(cls, encoder: TabularEncoder, X: pd.DataFrame, y: np.ndarray) -> NetData:  # noqa: N803
        """Encode model-input rows with a fitted encoder."""
        encoded = encoder.transform(X)
        outcome = torch.from_numpy(np.asarray(y, dtype=np.float32))
        return cls(
            num=torch.from_numpy(encoded.num),
            cat=torch.from_numpy(encoded.cat),
            y=outcome,
            target=outcome.clone(),
        )

    def __len__(self) -> int:
        return int(self.y.shape[0])

    def feeds(self) -> dict[str, np.ndarray]:
        """The rows as ONNX Runtime inputs."""
        return {"num": self.num.numpy(), "cat": self.cat.numpy()}


@torch.no_grad()
def logits_of(module: nn.Module, data: NetData) -> np.ndarray:
    """A net's logits on all rows, in eval mode."""
    module.eval()
    return module(num=data.num, cat=data.cat).float().numpy().astype(np.float64)


def auc_of(scores: np.ndarray, data: NetData) -> float:
    """AUC of scores (any monotone scale) against the rows' outcomes."""
    return float(roc_auc_score(data.y.numpy(), scores))


Loss = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


def hard_loss(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Binary cross-entropy against the targets (0/1 outcomes or soft probabilities)."""
    return nn.functional.binary_cross_entropy_with_logits(logits, target)


def fine_tune(
    module: nn.Module,
    data: NetData,
    *,
    epochs: int,
    lr: float = 1e-3,
    batch_size: int = 512,
    seed: int = 0,
    loss: Loss = hard_loss,
) -> list[float]:
    """Train ``module`` in place with AdamW; return the mean loss of each epoch.

    Pruning masks (``torch.nn.utils.prune``) and fake quantizers stay in force while it
    trains, so what it learns is what the compressed net will compute.
    """
    if epochs <= 0 or len(data) == 0:
        return []
    generator = torch.Generator().manual_seed(seed)
    optimizer = torch.optim.AdamW(module.parameters(), lr=lr, weight_decay=0.0)
    steps = max(1, round(len(data) / batch_size))
    losses = []
    for _ in range(epochs):
        module.train()
        total, count = 0.0, 0
        for chunk in torch.tensor_split(torch.randperm(len(data), generator=generator), steps):
            optimizer.zero_grad(set_to_none=True)
            value = loss(module(num=data.num[chunk], cat=data.cat[chunk]), data.target[chunk])
            value.backward()
            nn.utils.clip_grad_norm_(module.parameters(), 1.0)
            optimizer.step()
            total += float(value.item()) * len(chunk)
            count += len(chunk)
        losses.append(total / max(count, 1))
    module.eval()
    return losses


@dataclass
class AccuracyGate:
    """Keeps a step only while its AUC is within ``tolerance`` of the original's.

    Attributes
    ----------
    baseline : the original model's AUC on the validation rows.
    tolerance : largest AUC loss allowed.
    log : one record per validated step (what, AUC, drop, kept).
    """

    baseline: float
    tolerance: float = DEFAULT_TOLERANCE
    log: list[dict[str, Any]] = field(default_factory=list)

    def __post_init__(self) -> None:
        if not 0.0 <= self.tolerance < 1.0:
            raise ConfigError(BAD_TOLERANCE.format(value=self.tolerance))

    def check(self, step: str, auc: float, **facts: Any) -> bool:
        """Record a step's validation AUC; True when it may be kept."""
        drop = self.baseline - auc
        kept = drop <= self.tolerance
        self.log.append({"step": step, "auc": auc, "auc_drop": drop, "kept": kept, **facts})
        return kept
