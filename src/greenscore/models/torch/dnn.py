"""DNN: a feed-forward credit net on every column as a static feature.

Numerics (sequence months included, flattened) plus categorical embeddings feed an MLP
of configurable depth and width with batch normalisation and dropout.
"""

from __future__ import annotations

from numbers import Integral, Real
from pathlib import Path
from typing import Any, ClassVar

import torch
from sklearn.utils._param_validation import Interval, StrOptions
from torch import nn

from greenscore.data.spec import DatasetSpec
from greenscore.models.torch.base import TorchCreditClassifier
from greenscore.models.torch.encoding import TabularEncoder
from greenscore.models.torch.layers import ACTIVATIONS, MLP, StaticInput


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
        activation: str = "relu",
    ) -> None:
        super().__init__()
        self.static = StaticInput(
            num_features=num_features, cardinalities=cardinalities, embedding_dim=embedding_dim
        )
        self.body = MLP(
            self.static.out_dim,
            sizes,
            dropout=dropout,
            batch_norm=batch_norm,
            activation=activation,
        )
        self.head = nn.Linear(self.body.out_dim, 1)

    def forward(self, num: torch.Tensor, cat: torch.Tensor, **_: torch.Tensor) -> torch.Tensor:
        """Logits of default for each row."""
        return self.head(self.body(self.static(num, cat))).squeeze(-1)


def funnel(width: int, depth: int) -> list[int]:
    """Layer widths ``width, width/2, …`` (never below 16) for ``depth`` layers."""
    return [max(16, width // 2**i) for i in range(depth)]


class DNNClassifier(TorchCreditClassifier):
    """Feed-forward credit classifier with categorical embeddings.

    Parameters
    ----------
    hidden_layers : int
        Depth of the MLP.
    hidden_units : int
        Width of the first layer; each next layer is half as wide (at least 16).
    dropout : float
        Dropout after every hidden layer.
    batch_norm : bool
        Batch normalisation after every linear layer.
    embedding_dim : int, optional
        Cap on categorical embedding widths (default 16).
    activation : {"relu", "relu6", "gelu", "silu"}
        Hidden-layer activation; ReLU and ReLU6 quantize best (see
        :data:`~greenscore.models.torch.layers.ACTIVATIONS`).
    spec, max_epochs, batch_size, lr, weight_decay, loss, focal_gamma, class_weight, \
scheduler, grad_clip, patience, validation_fraction, precision, device, checkpoint_dir, \
random_state, n_jobs
        Training parameters, see :class:`TorchCreditClassifier`.

    Examples
    --------
    >>> model = DNNClassifier(spec=spec, random_state=42).fit(X, y)  # doctest: +SKIP
    >>> model.predict_proba(X)[:, 1]  # doctest: +SKIP
    """

    _parameter_constraints: ClassVar[dict[str, list[Any]]] = {
        **TorchCreditClassifier._parameter_constraints,
        "hidden_layers": [Interval(Integral, 1, None, closed="left")],
        "hidden_units": [Interval(Integral, 1, None, closed="left")],
        "dropout": [Interval(Real, 0, 1, closed="left")],
        "batch_norm": ["boolean"],
        "embedding_dim": [None, Interval(Integral, 1, None, closed="left")],
        "activation": [StrOptions(set(ACTIVATIONS))],
    }

    def __init__(
        self,
        *,
        spec: DatasetSpec | None = None,
        hidden_layers: int = 3,
        hidden_units: int = 256,
        dropout: float = 0.2,
        batch_norm: bool = True,
        embedding_dim: int | None = None,
        activation: str = "relu",
        max_epochs: int = 25,
        batch_size: int = 512,
        lr: float = 2e-3,
        weight_decay: float = 1e-4,
        loss: str = "bce",
        focal_gamma: float = 2.0,
        class_weight: str | float | None = None,
        scheduler: str = "onecycle",
        grad_clip: float | None = 1.0,
        patience: int | None = 6,
        validation_fraction: float = 0.15,
        precision: str = "fp32",
        device: str = "cpu",
        checkpoint_dir: str | Path | None = None,
        random_state: int | None = None,
        n_jobs: int | None = None,
    ) -> None:
        self.spec = spec
        self.hidden_layers = hidden_layers
        self.hidden_units = hidden_units
        self.dropout = dropout
        self.batch_norm = batch_norm
        self.embedding_dim = embedding_dim
        self.activation = activation
        self.max_epochs = max_epochs
        self.batch_size = batch_size
        self.lr = lr
        self.weight_decay = weight_decay
        self.loss = loss
        self.focal_gamma = focal_gamma
        self.class_weight = class_weight
        self.scheduler = scheduler
        self.grad_clip = grad_clip
        self.patience = patience
        self.validation_fraction = validation_fraction
        self.precision = precision
        self.device = device
        self.checkpoint_dir = checkpoint_dir
        self.random_state = random_state
        self.n_jobs = n_jobs

    @classmethod
    def _module_class(cls) -> type[nn.Module]:
        return DNNNet

    def _build_module(self, encoder: TabularEncoder) -> tuple[nn.Module, dict[str, Any]]:
        config: dict[str, Any] = {
            "num_features": encoder.num_features_,
            "cardinalities": list(encoder.cardinalities_),
            "sizes": funnel(self.hidden_units, self.hidden_layers),
            "dropout": self.dropout,
            "batch_norm": self.batch_norm,
            "embedding_dim": self.embedding_dim,
            "activation": self.activation,
        }
        return DNNNet(**config), config
