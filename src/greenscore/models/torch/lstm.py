"""BiLSTM with attention over the spec's monthly histories.

Each time step carries one value per sequence group (e.g. Taiwan's payment status, bill
and payment of a month). Rows are packed by their observed length, so padding never
enters the recurrence; additive attention (Bahdanau-style) over the bidirectional outputs
gives zero weight to padded steps. The attended summary is joined to the static features
(embeddings + numerics) and an MLP head gives the logit. :meth:`BiLSTMClassifier.attention_weights`
returns the weight of every calendar month for explanations.
"""

from __future__ import annotations

from numbers import Integral
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pandas as pd
import torch
from sklearn.utils._param_validation import Interval
from sklearn.utils.validation import check_is_fitted
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from greenscore.data.spec import DatasetSpec
from greenscore.models.torch.base import check_frame
from greenscore.models.torch.encoding import TabularEncoder
from greenscore.models.torch.layers import Head, StaticInput, step_mask
from greenscore.models.torch.sequence_base import SequenceCreditClassifier
from greenscore.models.torch.training import torch_runtime


class BiLSTMNet(nn.Module):
    """Packed bidirectional LSTM + masked additive attention + static features + MLP.

    Notes
    -----
    ``forward(num [n, d_num], cat [n, d_cat], seq [n, T, F], lengths [n]) -> logits [n]``.
    Steps ``t >= lengths[i]`` are padding and never influence the output.
    """

    def __init__(
        self,
        *,
        num_features: int,
        cardinalities: list[int],
        seq_features: int,
        hidden_size: int,
        num_layers: int,
        attention_size: int,
        head_sizes: list[int],
        dropout: float,
        embedding_dim: int | None,
        activation: str = "relu",
        attention: bool = True,
    ) -> None:
        super().__init__()
        self.static = StaticInput(
            num_features=num_features, cardinalities=cardinalities, embedding_dim=embedding_dim
        )
        self.lstm = nn.LSTM(
            seq_features,
            hidden_size,
            num_layers=num_layers,
            batch_first=True,
            bidirectional=True,
            dropout=dropout if num_layers > 1 else 0.0,
        )
        # Without attention the summary is the plain mean of the observed steps.
        self.score = (
            nn.Sequential(
                nn.Linear(2 * hidden_size, attention_size),
                nn.Tanh(),
                nn.Linear(attention_size, 1, bias=False),
            )
            if attention
            else None
        )
        self.head = Head(
            2 * hidden_size + self.static.out_dim,
            head_sizes,
            dropout=dropout,
            batch_norm=True,
            activation=activation,
        )

    def attend(self, seq: torch.Tensor, lengths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Sequence summary ``[n, 2h]`` and attention weights ``[n, T]`` (0 on padding)."""
        steps = seq.shape[1]
        packed = pack_padded_sequence(seq, lengths.cpu(), batch_first=True, enforce_sorted=False)
        out, _ = self.lstm(packed)
        out, _ = pad_packed_sequence(out, batch_first=True, total_length=steps)
        if self.score is None:
            scores = torch.zeros(out.shape[:2], device=out.device)
        else:
            scores = self.score(out).squeeze(-1).float()
        scores = scores.masked_fill(~step_mask(lengths, steps), float("-inf"))
        weights = torch.softmax(scores, dim=1)
        summary = torch.bmm(weights.unsqueeze(1).to(out.dtype), out).squeeze(1)
        return summary, weights

    def forward(
        self,
        num: torch.Tensor,
        cat: torch.Tensor,
        seq: torch.Tensor,
        lengths: torch.Tensor,
    ) -> torch.Tensor:
        """Logits of default for each row."""
        summary, _ = self.attend(seq, lengths)
        static = self.static(num, cat)
        return self.head(torch.cat([summary.to(static.dtype), static], dim=1))


class BiLSTMClassifier(SequenceCreditClassifier):
    """Bidirectional LSTM with attention over monthly histories, plus static features.

    Parameters
    ----------
    hidden_size : int
        LSTM units per direction.
    num_layers : int
        Stacked LSTM layers.
    attention_size : int
        Width of the additive attention's hidden layer.
    head_units : int
        Width of the first layer of the MLP head (the second is half as wide).
    dropout : float
        Dropout in the head (and between LSTM layers).
    embedding_dim : int, optional
        Cap on categorical embedding widths.
    activation : {"relu", "relu6", "gelu", "silu"}
        Activation of the head.
    attention : bool
        Additive attention over the months (True) or their plain mean (False: cheaper).
    spec, max_epochs, batch_size, lr, weight_decay, loss, focal_gamma, class_weight, \
scheduler, grad_clip, patience, validation_fraction, precision, device, checkpoint_dir, \
random_state, n_jobs
        Training parameters, see :class:`TorchCreditClassifier`.
    """

    _parameter_constraints: ClassVar[dict[str, list[Any]]] = {
        **SequenceCreditClassifier._parameter_constraints,
        "hidden_size": [Interval(Integral, 1, None, closed="left")],
        "num_layers": [Interval(Integral, 1, None, closed="left")],
        "attention_size": [Interval(Integral, 1, None, closed="left")],
        "attention": ["boolean"],
    }

    def __init__(
        self,
        *,
        spec: DatasetSpec | None = None,
        hidden_size: int = 32,
        num_layers: int = 1,
        attention_size: int = 16,
        head_units: int = 128,
        dropout: float = 0.2,
        embedding_dim: int | None = None,
        activation: str = "relu",
        attention: bool = True,
        max_epochs: int = 20,
        batch_size: int = 1024,
        lr: float = 3e-3,
        weight_decay: float = 1e-4,
        loss: str = "bce",
        focal_gamma: float = 2.0,
        class_weight: str | float | None = None,
        scheduler: str = "onecycle",
        grad_clip: float | None = 1.0,
        patience: int | None = 5,
        validation_fraction: float = 0.15,
        precision: str = "fp32",
        device: str = "cpu",
        checkpoint_dir: str | Path | None = None,
        random_state: int | None = None,
        n_jobs: int | None = None,
    ) -> None:
        self.spec = spec
        self.hidden_size = hidden_size
        self.num_layers = num_layers
        self.attention_size = attention_size
        self.head_units = head_units
        self.dropout = dropout
        self.embedding_dim = embedding_dim
        self.activation = activation
        self.attention = attention
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
        return BiLSTMNet

    def _build_module(self, encoder: TabularEncoder) -> tuple[nn.Module, dict[str, Any]]:
        self._require_sequences(encoder)
        config: dict[str, Any] = {
            **self._static_config(encoder),
            "hidden_size": self.hidden_size,
            "num_layers": self.num_layers,
            "attention_size": self.attention_size,
            "attention": self.attention,
        }
        return BiLSTMNet(**config), config

    def attention_weights(self, X: pd.DataFrame) -> np.ndarray:  # noqa: N803
        """Attention weight of every month, calendar-aligned with the spec's groups.

        Returns
        -------
        ndarray, shape ``[n, T]``
            Column ``t`` is month ``t`` of the groups (0 = oldest); each row sums to 1 and
            months a row has no history for (leading NaNs) get weight 0.
        """
        check_is_fitted(self, "module_")
        data = self.encoder_.transform(check_frame(X, type(self).__name__))
        n, steps = len(data), self.encoder_.seq_len_
        packed = np.zeros((n, steps), dtype=np.float64)
        net = self.module_
        assert isinstance(net, BiLSTMNet)  # what _build_module made
        assert data.lengths is not None  # a sequence encoder always gives lengths
        with torch_runtime(seed=None, n_threads=self._threads()), torch.no_grad():
            net.eval()
            for start in range(0, n, 8192):
                t = data.tensors(np.arange(start, min(start + 8192, n)))
                _, w = net.attend(t["seq"], t["lengths"])
                packed[start : start + len(w)] = w.double().numpy()
        positions = self.encoder_.calendar_positions(data.lengths)
        out = np.zeros_like(packed)
        rows, cols = np.nonzero(positions >= 0)
        out[rows, positions[rows, cols]] = packed[rows, cols]
        return out
