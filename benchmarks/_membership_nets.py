"""The over-fit-prone setup of the membership-inference test and benchmark (not a benchmark).

German credit (read in place), one-hot categoricals and standardised numbers, cut into
*members* (the rows a net is trained on) and *non-members* (rows of the same population it
never sees). Two nets of the same shape: one trained long with plain Adam (it memorises
its few rows), one trained with the product's DP-SGD (:func:`greenscore.federated.dp_local.dp_train_round`,
Opacus per-example clipping and noise, RDP accounting for the epsilon asked).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from torch import nn

from greenscore.federated.dp_local import dp_train_round, plan_local_dp

GERMAN = Path("/work/shared/data/german_credit.csv")


@dataclass
class Split:
    """Members and non-members, features as float32 and 0/1 labels."""

    x_in: np.ndarray
    y_in: np.ndarray
    x_out: np.ndarray
    y_out: np.ndarray


def german_split(members: int, non_members: int, *, seed: int) -> Split:
    """Disjoint random members and non-members of German credit (bad = 1)."""
    frame = pd.read_csv(GERMAN)
    y = (frame.pop("class").astype(str).str.strip("'") == "bad").to_numpy(np.int64)
    x = pd.get_dummies(frame, dtype=float).to_numpy(np.float64)
    x = (x - x.mean(axis=0)) / np.where(x.std(axis=0) > 0, x.std(axis=0), 1.0)
    order = np.random.default_rng(seed).permutation(len(y))
    inside, outside = order[:members], order[members : members + non_members]
    return Split(x[inside].astype(np.float32), y[inside], x[outside].astype(np.float32), y[outside])


class _Net(nn.Module):
    def __init__(self, width: int, hidden: int) -> None:
        super().__init__()
        self.layers = nn.Sequential(
            nn.Linear(width, hidden), nn.ReLU(), nn.Linear(hidden, hidden), nn.ReLU(),
            nn.Linear(hidden, 1),
        )  # fmt: skip

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layers(x).squeeze(-1)


@dataclass
class _Rows:
    """What :func:`dp_train_round` reads: keyword tensors of the chosen rows."""

    x: torch.Tensor

    def tensors(self, rows: np.ndarray) -> dict[str, torch.Tensor]:
        return {"x": self.x[torch.from_numpy(rows)]}


def train_net(
    split: Split,
    *,
    epochs: int,
    seed: int,
    dp_epsilon: float | None = None,
    delta: float = 1e-5,
    hidden: int = 128,
    batch_size: int = 32,
    lr: float = 1e-3,
) -> tuple[nn.Module, float | None]:
    """Train a net on the members; with ``dp_epsilon``, DP-SGD spending that epsilon.

    Returns the net (eval mode) and the epsilon spent (None without DP).
    """
    torch.manual_seed(seed)
    net = _Net(split.x_in.shape[1], hidden)
    x = torch.from_numpy(split.x_in)
    y = split.y_in
    if dp_epsilon is not None:
        plan = plan_local_dp(
            rows=len(y), batch_size=batch_size, epochs=epochs, rounds=1,
            epsilon=dp_epsilon, delta=delta,
        )  # fmt: skip
        dp_train_round(net, _Rows(x), y, plan, lr=lr, seed=seed)  # type: ignore[arg-type]
        return net.eval(), plan.epsilon(1, delta)
    optimizer = torch.optim.Adam(net.parameters(), lr=lr)
    loss_fn = nn.BCEWithLogitsLoss()
    targets = torch.from_numpy(y.astype(np.float32))
    generator = torch.Generator().manual_seed(seed)
    net.train()
    for _ in range(epochs):
        for rows in torch.randperm(len(y), generator=generator).split(batch_size):
            optimizer.zero_grad()
            loss_fn(net(x[rows]), targets[rows]).backward()
            optimizer.step()
    return net.eval(), None


def proba(net: nn.Module, x: np.ndarray) -> np.ndarray:
    """The net's probability of default for each row."""
    with torch.no_grad():
        return torch.sigmoid(net(torch.from_numpy(x))).numpy().astype(float)
