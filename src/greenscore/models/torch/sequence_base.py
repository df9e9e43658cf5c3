"""What the two sequence nets (BiLSTM, TCN) share on top of TorchCreditClassifier.

Both read the spec's sequence groups as ``[n, T, F]`` tensors with per-row lengths, join
a summary of the sequence to the static features and need at least one group in ``X``.
"""

from __future__ import annotations

from numbers import Integral, Real
from typing import Any, ClassVar

from sklearn.utils._param_validation import Interval, StrOptions

from greenscore.errors import ConfigError
from greenscore.models.torch.base import TorchCreditClassifier
from greenscore.models.torch.encoding import TabularEncoder
from greenscore.models.torch.layers import ACTIVATIONS

MSG_NO_SEQUENCES = (
    "{name} needs a sequence group of spec.sequences whose columns are all in X "
    "(spec: {spec}); use DNNClassifier for data without monthly histories"
)


class SequenceCreditClassifier(TorchCreditClassifier):
    """Base of the nets that read monthly histories (see :class:`TorchCreditClassifier`)."""

    _uses_sequences: ClassVar[bool] = True
    _parameter_constraints: ClassVar[dict[str, list[Any]]] = {
        **TorchCreditClassifier._parameter_constraints,
        "head_units": [Interval(Integral, 1, None, closed="left")],
        "dropout": [Interval(Real, 0, 1, closed="left")],
        "embedding_dim": [None, Interval(Integral, 1, None, closed="left")],
        "activation": [StrOptions(set(ACTIVATIONS))],
    }

    def _require_sequences(self, encoder: TabularEncoder) -> None:
        if not encoder.has_sequences:
            name = self.spec.name if self.spec is not None else None
            raise ConfigError(MSG_NO_SEQUENCES.format(name=type(self).__name__, spec=name))

    def _static_config(self, encoder: TabularEncoder) -> dict[str, Any]:
        return {
            "num_features": encoder.num_features_,
            "cardinalities": list(encoder.cardinalities_),
            "seq_features": encoder.seq_features_,
            "head_sizes": [self.head_units, max(16, self.head_units // 2)],
            "dropout": self.dropout,
            "embedding_dim": self.embedding_dim,
            "activation": self.activation,
        }
