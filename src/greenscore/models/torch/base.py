"""TorchCreditClassifier: the scikit-learn face shared by every GreenScore network.

A subclass only says which encoder layout it needs (static features only, or sequences
too) and how to build its ``nn.Module``; this class validates parameters, fits the
encoder, makes the internal stratified validation split, runs the one trainer
(:func:`~greenscore.models.torch.training.train_module`), predicts in batches and pickles
itself as plain bytes, so ``joblib.dump``/``load`` gives back a net with identical
predictions. The net's ``forward`` takes the encoder's tensors as keywords
(``num``, ``cat``, and ``seq``/``lengths`` for sequence nets) and returns logits ``[n]``.
"""

from __future__ import annotations

import hashlib
import io
import json
from abc import abstractmethod
from collections.abc import Callable
from numbers import Integral, Real
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pandas as pd
import torch
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.metrics import log_loss, roc_auc_score
from sklearn.model_selection import train_test_split
from sklearn.utils._param_validation import Interval, InvalidParameterError, StrOptions
from sklearn.utils.validation import check_is_fitted
from torch import nn

from greenscore.config import get_settings
from greenscore.errors import ConfigError, DataError
from greenscore.models.torch.encoding import MSG_NOT_FRAME, EncodedInputs, TabularEncoder
from greenscore.models.torch.training import (
    Batch,
    TrainConfig,
    TrainResult,
    autocast_context,
    minibatch_steps,
    resolve_device,
    resolve_precision,
    torch_runtime,
    train_module,
)

MSG_TARGET = "y must hold the 0/1 default flag (1 = default) for every row; got values {values}"
MSG_LENGTH = "X has {n_x} rows but y has {n_y}"
MSG_ONE_CLASS = "y holds only class {value}; a credit model needs defaulters and non-defaulters"
PREDICT_BATCH = 8192


def check_target(y: Any, n_rows: int) -> np.ndarray:
    """Validate the default flag and return it as an int64 array.

    Raises
    ------
    DataError
        If ``y`` has another length than ``X``, values other than 0/1, or one class only.
    """
    values = np.asarray(y)
    if values.shape[0] != n_rows:
        raise DataError(MSG_LENGTH.format(n_x=n_rows, n_y=values.shape[0]))
    try:
        flags = values.astype(np.float64)
    except (TypeError, ValueError) as exc:
        raise DataError(MSG_TARGET.format(values=sorted(set(values.tolist()))[:5])) from exc
    seen = np.unique(flags)
    if not np.isin(seen, [0.0, 1.0]).all():
        raise DataError(MSG_TARGET.format(values=seen[:5].tolist()))
    if seen.size < 2:
        raise DataError(MSG_ONE_CLASS.format(value=int(seen[0])))
    return flags.astype(np.int64)


def check_frame(X: Any, name: str) -> pd.DataFrame:  # noqa: N803
    """Refuse anything but a DataFrame (the index carries applicant ids)."""
    if not isinstance(X, pd.DataFrame):
        raise DataError(MSG_NOT_FRAME.format(name=name, got=type(X).__name__))
    return X


def frame_fingerprint(X: pd.DataFrame, y: np.ndarray, params: dict[str, Any]) -> str:  # noqa: N803
    """Hash of the data and parameters, so a checkpoint resumes only its own run."""
    digest = hashlib.sha256()
    digest.update(pd.util.hash_pandas_object(X, index=True).to_numpy().tobytes())
    digest.update(np.ascontiguousarray(y).tobytes())
    digest.update(json.dumps(params, sort_keys=True, default=str).encode())
    return digest.hexdigest()


class TorchCreditClassifier(ClassifierMixin, BaseEstimator):
    """Base of the neural credit classifiers (DNN, BiLSTM, TCN, GNN).

    Subclasses declare their architecture parameters in ``__init__`` next to the training
    parameters documented here, and implement :meth:`_build_module`.

    Parameters
    ----------
    spec : DatasetSpec, optional
        Declares categorical columns, sequence groups and relations.
    max_epochs : int
        Upper bound on passes over the training rows.
    batch_size : int
        Rows per optimisation step.
    lr : float
        Peak learning rate (AdamW).
    weight_decay : float
        AdamW decoupled weight decay.
    loss : {"bce", "focal"}
        Binary cross-entropy or focal loss.
    focal_gamma : float
        Focusing strength of the focal loss.
    class_weight : "balanced", float or None
        Weight of defaulters in the loss; ``"balanced"`` uses ``n_good / n_bad``. Weighting
        shifts the predicted PDs upwards: leave None when calibrated PDs matter.
    scheduler : {"onecycle", "cosine", "none"}
        Learning-rate schedule, stepped every optimisation step.
    grad_clip : float or None
        Maximum global gradient norm.
    patience : int or None
        Epochs without a better validation AUC before stopping; None disables.
    validation_fraction : float
        Share of the training rows held out (stratified) for early stopping; 0 trains for
        ``max_epochs`` and keeps the last weights.
    precision : {"fp32", "bf16", "fp16", "auto"}
        Mixed precision: bf16 autocast on CPU, fp16 with a gradient scaler on CUDA;
        ``"auto"`` picks the device's one.
    device : str
        ``"auto"`` (CUDA when present), ``"cpu"`` or ``"cuda"``.
    checkpoint_dir : str or Path, optional
        Save a resumable checkpoint there after each epoch; a later fit on the same data
        with the same parameters continues from it.
    random_state : int, optional
        Seed of initialisation, shuffling, dropout and the validation split; None uses
        ``settings.seed``.
    n_jobs : int, optional
        CPU threads for torch; None uses ``settings.training.n_jobs``.

    Attributes
    ----------
    classes_ : ndarray ``[0, 1]``.
    encoder_ : the fitted :class:`~greenscore.models.torch.encoding.TabularEncoder`.
    module_ : the trained ``nn.Module`` (best validation epoch).
    history_ : list of per-epoch records (train loss, validation AUC, lr, seconds).
    best_epoch_, best_score_ : epoch kept and its validation AUC.
    n_features_in_, feature_names_in_ : the columns seen in ``fit``.
    """

    _uses_sequences: ClassVar[bool] = False
    #: Refitted on all rows a net trains longer and lands on another scale than the
    #: inner-fold nets a calibration map or ensemble weights were learnt on: it is served
    #: as their bag (:func:`greenscore.models.ensemble_bag.served_as_bag`).
    served_as_bag: ClassVar[bool] = True
    # scikit-learn's format: a list of constraints, or the string "no_validation".
    _parameter_constraints: ClassVar[dict[str, Any]] = {
        "spec": "no_validation",
        "max_epochs": [Interval(Integral, 1, None, closed="left")],
        "batch_size": [Interval(Integral, 2, None, closed="left")],
        "lr": [Interval(Real, 0, None, closed="neither")],
        "weight_decay": [Interval(Real, 0, None, closed="left")],
        "loss": [StrOptions({"bce", "focal"})],
        "focal_gamma": [Interval(Real, 0, None, closed="left")],
        "class_weight": [None, StrOptions({"balanced"}), Interval(Real, 0, None, closed="neither")],
        "scheduler": [StrOptions({"onecycle", "cosine", "none"})],
        "grad_clip": [None, Interval(Real, 0, None, closed="neither")],
        "patience": [None, Interval(Integral, 1, None, closed="left")],
        "validation_fraction": [Interval(Real, 0, 0.5, closed="both")],
        "precision": [StrOptions({"fp32", "bf16", "fp16", "auto"})],
        "device": [str],
        "checkpoint_dir": [None, str, Path],
        "random_state": [None, Interval(Integral, 0, None, closed="left")],
        "n_jobs": [None, Interval(Integral, 1, None, closed="left")],
    }

    # ------------------------------------------------------------------ subclass hooks
    @abstractmethod
    def _build_module(self, encoder: TabularEncoder) -> tuple[nn.Module, dict[str, Any]]:
        """Return the untrained net and the keyword arguments that rebuild it."""

    @classmethod
    @abstractmethod
    def _module_class(cls) -> type[nn.Module]:
        """The ``nn.Module`` class :meth:`_build_module` instantiates."""

    # ------------------------------------------------------------------ helpers
    def _check_params(self) -> None:
        try:
            self._validate_params()
        except InvalidParameterError as exc:
            raise ConfigError(f"{type(self).__name__}: {exc}") from exc

    def _seed(self) -> int:
        return int(self.random_state if self.random_state is not None else get_settings().seed)

    def _threads(self) -> int:
        return int(self.n_jobs if self.n_jobs is not None else get_settings().training.n_jobs)

    def _train_config(self, y_train: np.ndarray) -> TrainConfig:
        pos_weight: float | None = None
        if self.class_weight == "balanced":
            pos_weight = float((y_train == 0).sum() / max((y_train == 1).sum(), 1))
        elif self.class_weight is not None:
            pos_weight = float(self.class_weight)
        return TrainConfig(
            max_epochs=self.max_epochs,
            lr=self.lr,
            weight_decay=self.weight_decay,
            loss=self.loss,
            focal_gamma=self.focal_gamma,
            pos_weight=pos_weight,
            scheduler=self.scheduler,
            grad_clip=self.grad_clip,
            patience=self.patience,
            precision=self.precision,
            device=self.device,
            checkpoint_dir=Path(self.checkpoint_dir) if self.checkpoint_dir else None,
            seed=self._seed(),
        )

    def _fingerprint(self, X: pd.DataFrame, y: np.ndarray) -> str:  # noqa: N803
        params = {
            k: v
            for k, v in self.get_params(deep=False).items()
            if k not in {"checkpoint_dir", "spec", "n_jobs", "relations"}
        }
        params["class"] = type(self).__name__
        params["spec"] = self.spec.model_dump(mode="json") if self.spec is not None else None
        return frame_fingerprint(X, y, params)

    def _split(self, y: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        index = np.arange(len(y))
        if self.validation_fraction == 0:
            return index, None
        train, val = train_test_split(
            index, test_size=self.validation_fraction, stratify=y, random_state=self._seed()
        )
        return np.sort(train), np.sort(val)

    @staticmethod
    def _score(y_true: np.ndarray, logits: np.ndarray) -> float:
        """Validation AUC, or minus the log loss when the split holds one class only."""
        if np.unique(y_true).size < 2:
            p = 1.0 / (1.0 + np.exp(-logits))
            return -float(log_loss(y_true, p, labels=[0, 1]))
        return float(roc_auc_score(y_true, logits))

    def _logits(self, module: nn.Module, data: EncodedInputs, index: np.ndarray) -> np.ndarray:
        """Logits of rows ``index`` in eval mode, in batches (called under no_grad)."""
        device = next(module.parameters()).device
        out = []
        for start in range(0, len(index), PREDICT_BATCH):
            chunk = data.tensors(index[start : start + PREDICT_BATCH])
            out.append(module(**{k: v.to(device) for k, v in chunk.items()}).float().cpu())
        return torch.cat(out).numpy() if out else np.zeros(0, dtype=np.float32)

    def _minibatches(
        self, data: EncodedInputs, y: np.ndarray, index: np.ndarray
    ) -> tuple[Any, int]:
        steps = minibatch_steps(len(index), self.batch_size)
        targets = torch.from_numpy(y.astype(np.float32))

        def batches(generator: torch.Generator) -> Any:
            order = torch.from_numpy(index)[torch.randperm(len(index), generator=generator)]
            for chunk in torch.tensor_split(order, steps):
                rows = chunk.numpy()
                yield Batch(inputs=data.tensors(rows), target=targets[rows])

        return batches, steps

    def _store_result(self, result: TrainResult) -> None:
        self.history_ = result.history
        self.best_epoch_ = result.best_epoch
        self.best_score_ = result.best_score
        self.resumed_from_ = result.resumed_from

    def _remember_columns(self, X: pd.DataFrame) -> None:  # noqa: N803
        self.n_features_in_ = X.shape[1]
        self.feature_names_in_ = np.asarray([str(c) for c in X.columns], dtype=object)
        self.classes_ = np.array([0, 1])

    # ------------------------------------------------------------------ sklearn API
    def fit(
        self,
        X: pd.DataFrame,  # noqa: N803
        y: Any,
        *,
        on_epoch_end: Callable[[dict[str, float]], None] | None = None,
    ) -> TorchCreditClassifier:
        """Fit the encoder and train the net with early stopping on validation AUC.

        Parameters
        ----------
        X : DataFrame ``[n, d]``
            Model input (feature columns, categoricals as ``category``), indexed by id.
        y : array-like ``[n]``
            1 for default, 0 otherwise.
        on_epoch_end : callable, optional
            Called with each epoch's record (``val_score`` is the validation AUC); an
            architecture search uses it to stop a hopeless trial by raising.

        Returns
        -------
        self
        """
        self._check_params()
        X = check_frame(X, type(self).__name__)
        y = check_target(y, len(X))
        with torch_runtime(seed=self._seed(), n_threads=self._threads()):
            self.encoder_ = TabularEncoder(spec=self.spec, use_sequences=self._uses_sequences)
            data = self.encoder_.fit_transform(X)
            train, val = self._split(y)
            module, self.module_config_ = self._build_module(self.encoder_)
            batches, steps = self._minibatches(data, y, train)
            validate = None
            if val is not None:
                validate = lambda m: self._score(y[val], self._logits(m, data, val))  # noqa: E731
            result = train_module(
                module,
                batches=batches,
                steps_per_epoch=steps,
                config=self._train_config(y[train]),
                validate=validate,
                fingerprint=self._fingerprint(X, y),
                on_epoch_end=on_epoch_end,
            )
        self.module_ = module.cpu()
        self._store_result(result)
        self._remember_columns(X)
        return self

    def _inference(self) -> tuple[torch.device, str]:
        device = resolve_device(self.device)
        return device, resolve_precision(self.precision, device)

    def decision_function(self, X: pd.DataFrame) -> np.ndarray:  # noqa: N803
        """Logits (log-odds of default) ``[n]``."""
        check_is_fitted(self, "module_")
        X = check_frame(X, type(self).__name__)
        data = self.encoder_.transform(X)
        device, precision = self._inference()
        with torch_runtime(seed=None, n_threads=self._threads()):
            self.module_.to(device).eval()
            with torch.no_grad(), autocast_context(precision, device):
                logits = self._logits(self.module_, data, np.arange(len(X)))
            self.module_.cpu()
        return logits.astype(np.float64)

    def predict_proba(self, X: pd.DataFrame) -> np.ndarray:  # noqa: N803
        """Probabilities ``[n, 2]``: column 1 is the probability of default."""
        p = 1.0 / (1.0 + np.exp(-self.decision_function(X)))
        return np.column_stack([1.0 - p, p])

    def predict(self, X: pd.DataFrame) -> np.ndarray:  # noqa: N803
        """0/1 at a probability of default of 0.5."""
        return (self.predict_proba(X)[:, 1] >= 0.5).astype(np.int64)

    # ------------------------------------------------------------------ pickling
    def __getstate__(self) -> dict[str, Any]:
        # A copy: object.__getstate__ may hand back the live __dict__ itself, and popping
        # from that would unfit the estimator being saved.
        state = dict(super().__getstate__())
        module = state.pop("module_", None)
        if module is not None:
            buffer = io.BytesIO()
            torch.save({k: v.detach().cpu() for k, v in module.state_dict().items()}, buffer)
            state["_module_bytes"] = buffer.getvalue()
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        raw = state.pop("_module_bytes", None)
        super().__setstate__(state)
        if raw is not None:
            module = self._module_class()(**self.module_config_)
            module.load_state_dict(torch.load(io.BytesIO(raw), weights_only=True))
            self.module_ = module.eval()
