"""Building blocks shared by the nets: the static-feature input, an MLP stack, activations."""

from __future__ import annotations

import torch
from torch import nn

#: Hidden-layer activations a net may use. ReLU and ReLU6 are the quantization-friendly
#: ones: ONNX Runtime fuses them into the int8 matrix product, and ReLU6's bounded range
#: keeps static activation scales tight; GELU and SiLU stay float around int8 kernels.
ACTIVATIONS: dict[str, type[nn.Module]] = {
    "relu": nn.ReLU,
    "relu6": nn.ReLU6,
    "gelu": nn.GELU,
    "silu": nn.SiLU,
}


def make_activation(name: str) -> nn.Module:
    """A fresh activation module by name (see :data:`ACTIVATIONS`)."""
    return ACTIVATIONS[name]()


def embedding_size(cardinality: int, cap: int | None = None) -> int:
    """Embedding width for a categorical with ``cardinality`` slots (fast.ai's rule of thumb)."""
    size = int(round(1.6 * cardinality**0.56))
    return max(1, min(size, cap if cap is not None else 16))


class StaticInput(nn.Module):
    """Numerics and categorical embeddings, concatenated.

    Parameters
    ----------
    num_features : int
        Width of the numeric block.
    cardinalities : list of int
        Embedding rows per categorical (slot 0 = missing/unknown).
    embedding_dim : int, optional
        Cap on each embedding's width (default 16).

    Notes
    -----
    ``forward(num [n, d_num], cat [n, d_cat]) -> [n, out_dim]``.
    """

    def __init__(
        self, *, num_features: int, cardinalities: list[int], embedding_dim: int | None = None
    ) -> None:
        super().__init__()
        embeddings = [nn.Embedding(k, embedding_size(k, embedding_dim)) for k in cardinalities]
        self.embeddings = nn.ModuleList(embeddings)
        self.out_dim = num_features + sum(e.embedding_dim for e in embeddings)

    def forward(self, num: torch.Tensor, cat: torch.Tensor) -> torch.Tensor:
        """Concatenate ``num`` with one embedding per column of ``cat``."""
        parts = [num] + [emb(cat[:, j]) for j, emb in enumerate(self.embeddings)]
        return torch.cat(parts, dim=1) if len(parts) > 1 else num


class MLP(nn.Sequential):
    """``Linear -> [BatchNorm] -> activation -> Dropout`` repeated; out width ``sizes[-1]``.

    Parameters
    ----------
    in_dim : int
        Input width.
    sizes : sequence of int
        Width of each hidden layer (empty: identity).
    dropout : float
        Dropout after each layer.
    batch_norm : bool
        Batch normalisation after each linear layer.
    activation : str
        Name in :data:`ACTIVATIONS`.
    """

    def __init__(
        self,
        in_dim: int,
        sizes: list[int],
        *,
        dropout: float = 0.0,
        batch_norm: bool = True,
        activation: str = "relu",
    ) -> None:
        layers: list[nn.Module] = []
        for size in sizes:
            layers.append(nn.Linear(in_dim, size))
            if batch_norm:
                layers.append(nn.BatchNorm1d(size))
            layers.append(make_activation(activation))
            if dropout > 0:
                layers.append(nn.Dropout(dropout))
            in_dim = size
        super().__init__(*layers)
        self.out_dim = in_dim


def step_mask(lengths: torch.Tensor, steps: int) -> torch.Tensor:
    """Boolean ``[n, steps]``: True on observed steps (those before ``lengths[i]``)."""
    return torch.arange(steps, device=lengths.device)[None, :] < lengths[:, None]


class Head(nn.Module):
    """MLP over ``[summary, static]`` ending in one logit.

    Parameters
    ----------
    in_dim : int
        Width of the joined input.
    sizes : list of int
        Hidden widths.
    dropout : float
        Dropout after each hidden layer.
    batch_norm : bool
        Batch normalisation after each hidden linear layer.
    activation : str
        Name in :data:`ACTIVATIONS`.
    """

    def __init__(
        self,
        in_dim: int,
        sizes: list[int],
        *,
        dropout: float,
        batch_norm: bool,
        activation: str = "relu",
    ) -> None:
        super().__init__()
        self.body = MLP(
            in_dim, sizes, dropout=dropout, batch_norm=batch_norm, activation=activation
        )
        self.out = nn.Linear(self.body.out_dim, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits ``[n]``."""
        return self.out(self.body(x)).squeeze(-1)
