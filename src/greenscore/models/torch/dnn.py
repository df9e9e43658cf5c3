"""DNN: a feed-forward credit net on every column as a static feature.

Numerics (sequence months included, flattened) plus categorical embeddings feed an MLP
of configurable depth and width with batch normalisation and dropout.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

import torch
from torch import nn

from greenscore.data.spec import DatasetSpec
from greenscore.models.torch.base import TorchCreditClassifier
from greenscore.models.torch.encoding import TabularEncoder
from greenscore.models.torch.layers import MLP, StaticInput
from greenscore.utils_params import hidden_sizes


class DNNNet(nn.Module):
    """Embeddings + MLP + a one-logit head.

    Notes
    -----
    ``forward(num [n, d_num], cat [n, d_cat]) -> logits [n]``; sequence tensors, if
    passed, are ignored (this net reads the months as flat columns).
    """

    def __init__(
        self,
        *,
        num_features: int,
        cardinalities: list[int],
        sizes: list[int],
        dropout: float,
        batch_norm: bool,
        embedding_dim: int | None,
    ) -> None:
        super().__init__()
        self.static = StaticInput(
            num_features=num_features, cardinalities=cardinalities, embedding_dim=embedding_dim
        )
        self.body = MLP(self.static.out_dim, sizes, dropout=dropout, batch_norm=batch_norm)
        self.head = nn.Linear(self.body.out_dim, 1)

    def forward(self, num: torch.Tensor, cat: torch.Tensor, **_: torch.Tensor) -> torch.Tensor:
        """Logits of default for each row."""
        return self.head(self.body(self.static(num, cat))).squeeze(-1)
