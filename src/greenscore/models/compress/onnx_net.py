"""A net served by ONNX Runtime as a bundle's last step: :class:`OnnxNetClassifier`.

The fitted :class:`~greenscore.models.torch.encoding.TabularEncoder` of the original net
turns the model-input frame into tensors; an ONNX graph (float, or INT8 from
:mod:`.quantization`) turns them into logits. The graph's bytes are the pickled state;
the inference session is rebuilt on first use after loading, so ``joblib`` round trips
give the same predictions and a bundle needs nothing but ONNX Runtime to score.

A compressed net runs like the net it replaces, so that timings compare like with like:
the same intra-op thread count (the original net's ``n_jobs``, else
``settings.training.n_jobs``) and the same batches (``PREDICT_BATCH`` rows per call, as
the torch estimator splits them). The session applies all of ONNX Runtime's graph
optimisations (``ORT_ENABLE_ALL``: the QDQ pairs around each ``Gemm`` fuse into one
integer ``QGemm``) when it is built, once per process; the bundle keeps the portable,
unoptimised graph, since a graph optimised at that level may hold kernels specific to the
CPU it was optimised on.
"""

from __future__ import annotations

import io
import threading
import warnings
from typing import Any, cast

import numpy as np
import pandas as pd
import torch
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.utils.validation import check_is_fitted
from torch import nn

from greenscore.config import get_settings
from greenscore.errors import ModelError
from greenscore.models.torch.base import PREDICT_BATCH, check_frame
from greenscore.models.torch.encoding import TabularEncoder

#: Opset of exported graphs: ONNX Runtime's quantizer handles it with per-channel weights.
OPSET = 17


def export_onnx(module: nn.Module, num: torch.Tensor, cat: torch.Tensor) -> bytes:
    """The net as an ONNX graph with a dynamic row count (inputs ``num``, ``cat``).

    Uses torch's TorchScript-based exporter: a fixed MLP needs no graph capture, and it
    exports in a second where the dynamo exporter takes several.
    """
    module = module.eval()
    buffer = io.BytesIO()
    rows = {0: "rows"}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the exporter's deprecation notice
        torch.onnx.export(
            module,
            (num[:2], cat[:2]),
            cast(Any, buffer),  # a file object is accepted, though typed as a path
            input_names=["num", "cat"],
            output_names=["logit"],
            dynamic_axes={"num": rows, "cat": rows, "logit": rows},
            opset_version=OPSET,
            dynamo=False,
        )
    return buffer.getvalue()


def make_session(model: bytes, threads: int | None = None) -> Any:
    """An ONNX Runtime CPU session on a graph's bytes, on ``threads`` intra-op threads
    (None: ``settings.training.n_jobs``), every graph optimisation on, ops run in order."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = int(threads or get_settings().training.n_jobs)
    options.inter_op_num_threads = 1
    # A chain of matrix products has no parallel branches for the parallel executor.
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.log_severity_level = 3
    return ort.InferenceSession(model, options, providers=["CPUExecutionProvider"])


def session_threads(session: Any) -> int:
    """The intra-op thread count a session was built with."""
    return int(session.get_session_options().intra_op_num_threads)


def run_session(
    session: Any, feeds: dict[str, np.ndarray], batch: int = PREDICT_BATCH
) -> np.ndarray:
    """Logits from a session, ``batch`` rows per call (the torch estimator's batches),
    feeding only the inputs the graph kept (a net without categoricals has no ``cat``).

    Inputs are made C-contiguous here once; ONNX Runtime would otherwise copy a
    column-major array (as pandas hands them over) inside every call.
    """
    names = {i.name for i in session.get_inputs()}
    kept = {k: np.ascontiguousarray(v) for k, v in feeds.items() if k in names}
    rows = len(next(iter(kept.values()))) if kept else 0
    parts = [
        session.run(None, {k: v[start : start + batch] for k, v in kept.items()})[0]
        for start in range(0, max(rows, 1), batch)
    ]
    out = np.concatenate([np.asarray(p).reshape(-1) for p in parts])
    return out.astype(np.float64, copy=False)


class OnnxNetClassifier(ClassifierMixin, BaseEstimator):
    """A compressed net as a scikit-learn classifier on the model-input frame.

    Build with :meth:`of`; ``fit`` is not offered (compression makes the graph).

    Attributes
    ----------
    encoder_ : the original net's fitted encoder.
    onnx_model_ : bytes of the ONNX graph.
    compression_ : what was done to make it (method, sparsity, INT8 scheme, ...).
    threads_ : the original net's ``n_jobs`` (None: ``settings.training.n_jobs``).
    classes_, feature_names_in_, n_features_in_ : as every GreenScore classifier.
    """

    def __init__(self) -> None:
        pass

    @classmethod
    def of(
        cls,
        encoder: TabularEncoder,
        model: bytes,
        columns: list[str],
        compression: dict[str, Any],
        threads: int | None = None,
    ) -> OnnxNetClassifier:
        """Wrap a fitted encoder and a graph; ``threads`` is the original net's ``n_jobs``
        (None: the settings' count, read when the session is built)."""
        out = cls()
        out.encoder_ = encoder
        out.onnx_model_ = bytes(model)
        out.threads_ = threads
        out.compression_ = dict(compression)
        out.classes_ = np.array([0, 1])
        out.feature_names_in_ = np.asarray(columns, dtype=object)
        out.n_features_in_ = len(columns)
        return out

    def fit(self, X: Any, y: Any) -> OnnxNetClassifier:  # noqa: N803
        """Refused with a :class:`ModelError`: a graph cannot be refitted on new rows.

        A retrain (``greenscore retrain``, a cross-validation ``clone``) of a compressed
        bundle must retrain the original net and compress it again; saying so beats a
        silently unchanged graph.
        """
        raise ModelError(
            "a compressed net (ONNX graph) cannot be refitted: retrain the original "
            "model, then run greenscore compress on it again"
        )

    def _session(self) -> Any:
        session = self.__dict__.get("_session_")
        if session is None:
            with _LOCK:
                session = self.__dict__.get("_session_")
                if session is None:
                    session = make_session(self.onnx_model_, self.threads)
                    self.__dict__["_session_"] = session
        return session

    @property
    def threads(self) -> int:
        """Intra-op threads of the session: the original net's ``n_jobs`` when it set one,
        else ``settings.training.n_jobs`` (as the original resolves its own)."""
        check_is_fitted(self, "onnx_model_")
        threads = self.__dict__.get("threads_")  # bundles saved before it was kept: None
        return int(threads or get_settings().training.n_jobs)

    def decision_function(self, X: pd.DataFrame) -> np.ndarray:  # noqa: N803
        """Logits (log-odds of default) ``[n]``."""
        check_is_fitted(self, "onnx_model_")
        data = self.encoder_.transform(check_frame(X, type(self).__name__))
        if len(X) == 0:
            return np.zeros(0)
        return run_session(self._session(), {"num": data.num, "cat": data.cat})

    def predict_proba(self, X: pd.DataFrame) -> np.ndarray:  # noqa: N803
        """Probabilities ``[n, 2]``: column 1 is the probability of default."""
        p = 1.0 / (1.0 + np.exp(-self.decision_function(X)))
        return np.column_stack([1.0 - p, p])

    def predict(self, X: pd.DataFrame) -> np.ndarray:  # noqa: N803
        """0/1 at a probability of default of 0.5."""
        return (self.predict_proba(X)[:, 1] >= 0.5).astype(np.int64)

    def __getstate__(self) -> dict[str, Any]:
        state = dict(super().__getstate__())
        state.pop("_session_", None)  # a native session is rebuilt from the bytes
        return state


_LOCK = threading.Lock()
