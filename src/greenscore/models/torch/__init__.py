"""Neural credit models on one PyTorch trainer: DNN, BiLSTM with attention, TCN and GNN.

Every net is a scikit-learn classifier (``fit`` / ``predict_proba`` on the model-input
DataFrame, ``classes_ == [0, 1]``) built on :class:`TorchCreditClassifier`, which owns the
encoder, the training loop, checkpoints and pickling. Their Optuna search spaces live in
:mod:`greenscore.models.search.space`.

Names are imported on first use, so ``import greenscore.models.torch.dnn`` does not pay
for PyTorch Geometric.
"""

from __future__ import annotations

import importlib
from typing import Any

_PUBLIC = {
    "TorchCreditClassifier": "base",
    "DNNClassifier": "dnn",
    "BiLSTMClassifier": "lstm",
    "TCNClassifier": "tcn",
    "GNNClassifier": "gnn",
}
__all__ = sorted(_PUBLIC)


def __getattr__(name: str) -> Any:
    if name in _PUBLIC:
        module = importlib.import_module(f"{__name__}.{_PUBLIC[name]}")
        return getattr(module, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
