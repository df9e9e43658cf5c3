"""One lender's share of federated DNN training: the same network, trained on its rows.

The net is GreenScore's :class:`~greenscore.models.torch.dnn.DNNNet`, built by
:class:`~greenscore.models.torch.dnn.DNNClassifier` from the federation's encoder, and a
round of local training is the product's one trainer,
:func:`~greenscore.models.torch.training.train_module`, started from the global weights.
FedProx's proximal term ``mu/2 ||w - w_global||^2`` enters as a gradient hook on each
parameter (its gradient ``mu (w - w_global)``), so the trainer itself is unchanged.
Local differential privacy replaces the trainer by Opacus DP-SGD (per-example clipping
and Gaussian noise), which owns its optimiser (see :mod:`greenscore.federated.dp_local`).

Only floating-point tensors travel (weights and batch-norm statistics): a step counter
averaged across lenders means nothing.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch import nn

from greenscore.models.torch.dnn import DNNClassifier
from greenscore.models.torch.encoding import EncodedInputs, TabularEncoder
from greenscore.models.torch.training import (
    Batch,
    TrainConfig,
    minibatch_steps,
    torch_runtime,
    train_module,
)

#: Bins of the predicted-PD histograms lenders return for the federation's AUC.
AUC_BINS = 400


@dataclass(frozen=True)
class LocalTraining:
    """How a lender trains in one round (sent by the server each round)."""

    epochs: int = 1
    lr: float = 2e-3
    batch_size: int = 256
    weight_decay: float = 1e-4
    mu: float = 0.0
    grad_clip: float | None = 1.0
    seed: int = 0


def build_classifier(encoder: TabularEncoder, params: dict[str, Any]) -> DNNClassifier:
    """An untrained-but-built DNN classifier on the federation's encoder.

    The network is built by the classifier's own ``_build_module`` so its architecture is
    exactly what ``DNNClassifier.fit`` would build for the same encoder and parameters.
    """
    clf = DNNClassifier(**params)
    clf._check_params()  # the classifier's own parameter table, as its fit would check
    with torch_runtime(seed=int(clf.random_state or 0), n_threads=_threads(clf)):
        module, config = clf._build_module(encoder)
    clf.encoder_ = encoder
    clf.module_ = module.eval()
    clf.module_config_ = config
    clf.n_features_in_ = len(encoder.columns_)
    clf.feature_names_in_ = np.asarray(encoder.columns_, dtype=object)
    clf.classes_ = np.array([0, 1])
    clf.history_, clf.best_epoch_, clf.best_score_, clf.resumed_from_ = [], 0, None, None
    return clf


def _threads(clf: DNNClassifier) -> int:
    return int(clf.n_jobs or 1)


def float_keys(module: nn.Module) -> list[str]:
    """State entries that are averaged: every floating-point tensor, in state order."""
    return [k for k, v in module.state_dict().items() if v.is_floating_point()]


def statistics_mask(module: nn.Module) -> list[bool]:
    """Per entry of :func:`float_keys`: True for a running statistic (a buffer such as batch
    normalisation's running mean or variance), False for a learned parameter."""
    learned = {name for name, _ in module.named_parameters()}
    return [key not in learned for key in float_keys(module)]


def get_arrays(module: nn.Module) -> list[np.ndarray]:
    """The module's floating-point state as float32 arrays (see :func:`float_keys`)."""
    state = module.state_dict()
    return [state[k].detach().cpu().numpy().astype(np.float32) for k in float_keys(module)]


def set_arrays(module: nn.Module, arrays: list[np.ndarray]) -> None:
    """Load arrays produced by :func:`get_arrays` (same module layout) into ``module``."""
    keys = float_keys(module)
    if len(keys) != len(arrays):
        raise ValueError(f"expected {len(keys)} arrays for the network, got {len(arrays)}")
    state = module.state_dict()
    for key, value in zip(keys, arrays, strict=True):
        state[key] = torch.as_tensor(np.asarray(value), dtype=state[key].dtype).reshape(
            state[key].shape
        )
    module.load_state_dict(state)


def minibatches(data: EncodedInputs, y: np.ndarray, batch_size: int) -> tuple[Any, int]:
    """A batch factory over all rows for :func:`train_module` and its steps per epoch."""
    steps = minibatch_steps(len(y), batch_size)
    targets = torch.from_numpy(y.astype(np.float32))

    def batches(generator: torch.Generator) -> Iterator[Batch]:
        order = torch.randperm(len(y), generator=generator)
        for chunk in torch.tensor_split(order, steps):
            rows = chunk.numpy()
            yield Batch(inputs=data.tensors(rows), target=targets[rows])

    return batches, steps


def _proximal_hooks(module: nn.Module, mu: float) -> list[Any]:
    if mu <= 0:
        return []
    anchors = {name: p.detach().clone() for name, p in module.named_parameters()}
    handles = []
    for name, param in module.named_parameters():
        anchor = anchors[name]
        handles.append(
            param.register_hook(lambda grad, p=param, a=anchor: grad + mu * (p.detach() - a))
        )
    return handles


def train_round(
    clf: DNNClassifier, data: EncodedInputs, y: np.ndarray, plan: LocalTraining
) -> dict[str, float]:
    """Train ``clf.module_`` in place for one round; return the mean training loss.

    The module starts from whatever weights it holds (the global model).
    """
    module = clf.module_
    batches, steps = minibatches(data, y, plan.batch_size)
    config = TrainConfig(
        max_epochs=plan.epochs,
        lr=plan.lr,
        weight_decay=plan.weight_decay,
        scheduler="none",
        grad_clip=plan.grad_clip,
        patience=None,
        seed=plan.seed,
    )
    with torch_runtime(seed=plan.seed, n_threads=_threads(clf)):
        handles = _proximal_hooks(module, plan.mu)
        try:
            result = train_module(module, batches=batches, steps_per_epoch=steps, config=config)
        finally:
            for handle in handles:
                handle.remove()
    module.cpu().eval()
    losses = [r["train_loss"] for r in result.history]
    return {"train_loss": float(np.mean(losses)) if losses else float("nan")}


def predict(clf: DNNClassifier, X: pd.DataFrame) -> np.ndarray:  # noqa: N803
    """Probability of default of model-input rows (after the feature steps)."""
    return clf.predict_proba(X)[:, 1]


def score_histograms(pd_: np.ndarray, y: np.ndarray) -> tuple[list[float], list[float]]:
    """Counts of predicted PDs in :data:`AUC_BINS` bins, for defaulters and the rest.

    Bins are equal on the log-odds scale (-10 to 10), fine where credit PDs live. Summed
    over lenders they give the federation's ROC curve without any score leaving a lender
    (:func:`greenscore.federated.monitor.auc_from_histograms`).
    """
    edges = 1.0 / (1.0 + np.exp(-np.linspace(-10.0, 10.0, AUC_BINS + 1)))
    edges[0], edges[-1] = 0.0, 1.0
    pos = np.histogram(pd_[y == 1], bins=edges)[0].astype(float)
    neg = np.histogram(pd_[y == 0], bins=edges)[0].astype(float)
    return pos.tolist(), neg.tolist()
