"""Neural credit models on one PyTorch trainer: DNN, BiLSTM with attention, TCN and GNN.

Every net is a scikit-learn classifier (``fit`` / ``predict_proba`` on the model-input
DataFrame, ``classes_ == [0, 1]``) built on :class:`TorchCreditClassifier`, which owns the
encoder, the training loop, checkpoints and pickling.
"""

from __future__ import annotations

import os

# OpenMP threads that spin while waiting burn a shared CPU (and the energy we measure):
# with two busy cores, spinning made a small net's step twenty times slower. Effective only
# if torch has not been imported yet; an explicit OMP_WAIT_POLICY wins.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

from greenscore.models.torch.base import TorchCreditClassifier  # noqa: E402
from greenscore.models.torch.dnn import DNNClassifier  # noqa: E402
from greenscore.models.torch.gnn import GNNClassifier  # noqa: E402
from greenscore.models.torch.lstm import BiLSTMClassifier  # noqa: E402
from greenscore.models.torch.tcn import TCNClassifier  # noqa: E402

__all__ = ["BiLSTMClassifier", "DNNClassifier", "GNNClassifier", "TCNClassifier", "TorchCreditClassifier"]
