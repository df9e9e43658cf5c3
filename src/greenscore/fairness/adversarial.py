"""Adversarial debiasing (Zhang, Lemoine & Mitchell, 2018) as a small PyTorch classifier.

A predictor network learns the probability of default while an adversary tries to
recover the protected group from the predictor's output; the predictor is penalised by
the adversary's success (weight ``alpha``), so its scores carry less group information
(demographic parity). Fairlearn's ``AdversarialFairnessClassifier`` works with torch here
but exposes no ``predict_proba``, which AUC and the score cut-offs need; this one does.

Inputs are encoded at fit time: categories one-hot, numbers median-filled and
standardised.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.utils.validation import check_is_fitted

from greenscore.errors import DataError


class AdversarialDebiasingClassifier(ClassifierMixin, BaseEstimator):
    """Binary classifier trained against an adversary that predicts the protected group.

    Parameters
    ----------
    hidden_units : int
        Width of the predictor's hidden layer.
    alpha : float
        Weight of the adversary's gradient in the predictor's update (0 = no debiasing).
        It is large by default because on credit data the score carries little group
        information per row, so the adversary's gradient is small.
    epochs : int
        Passes over the training data.
    batch_size : int
        Rows per step.
    learning_rate : float
        Adam step size of the predictor; the adversary's is three times larger so that it
        keeps up.
    random_state : int
        Seed of initialisation and shuffling.

    Attributes
    ----------
    classes_ : ndarray of shape (2,)
    groups_ : ndarray
        Protected group labels seen in fit.
    columns_ : list of str
        Encoded input columns.
    """

    def __init__(
        self,
        *,
        hidden_units: int = 32,
        alpha: float = 30.0,
        epochs: int = 40,
        batch_size: int = 256,
        learning_rate: float = 3e-3,
        random_state: int = 0,
    ) -> None:
        self.hidden_units = hidden_units
        self.alpha = alpha
        self.epochs = epochs
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.random_state = random_state

    # ------------------------------------------------------------------ encoding
    def _encode(self, X: pd.DataFrame, *, fit: bool) -> np.ndarray:  # noqa: N803
        frame = X if isinstance(X, pd.DataFrame) else pd.DataFrame(np.asarray(X))
        frame = frame.copy()
        frame.columns = [str(c) for c in frame.columns]
        if fit:
            self.categorical_ = [
                c
                for c in frame.columns
                if isinstance(frame[c].dtype, pd.CategoricalDtype)
                or not pd.api.types.is_numeric_dtype(frame[c])
            ]
            self.numeric_ = [c for c in frame.columns if c not in self.categorical_]
            self.categories_ = {
                c: sorted(map(str, pd.unique(frame[c].dropna()))) for c in self.categorical_
            }
            numbers = frame[self.numeric_].apply(pd.to_numeric, errors="coerce").astype(float)
            self.medians_ = numbers.median().fillna(0.0).to_numpy()
            filled = numbers.fillna(pd.Series(self.medians_, index=self.numeric_))
            self.means_ = filled.mean().to_numpy()
            scales = filled.std().fillna(1.0).to_numpy()
            self.scales_ = np.where(scales > 0, scales, 1.0)
        missing = [c for c in (*self.numeric_, *self.categorical_) if c not in frame.columns]
        if missing:
            raise DataError(f"adversarial model input lacks columns {missing}")
        numbers = frame[self.numeric_].apply(pd.to_numeric, errors="coerce").to_numpy(dtype=float)
        numbers = np.where(np.isnan(numbers), self.medians_, numbers)
        parts = [(numbers - self.means_) / self.scales_]
        for column in self.categorical_:
            values = frame[column].astype(object).map(lambda v: None if pd.isna(v) else str(v))
            parts.append(
                np.column_stack(
                    [(values == level).to_numpy(dtype=float) for level in self.categories_[column]]
                )
                if self.categories_[column]
                else np.zeros((len(frame), 0))
            )
        out = np.hstack(parts).astype(np.float32)
        if fit:
            self.columns_ = [*self.numeric_] + [
                f"{c}={level}" for c in self.categorical_ for level in self.categories_[c]
            ]
        return out

    # ------------------------------------------------------------------ fit / predict
    def fit(
        self, X: pd.DataFrame, y: Any, *, sensitive_features: Any
    ) -> AdversarialDebiasingClassifier:  # noqa: N803
        """Train predictor and adversary in alternating steps.

        Raises
        ------
        DataError
            If ``y`` is not binary or the lengths differ.
        """
        import torch
        from torch import nn

        target = np.asarray(y)
        groups = np.asarray(sensitive_features).astype(str)
        if len(target) != len(groups) or len(target) != len(X):
            raise DataError("X, y and sensitive_features must have the same number of rows")
        self.classes_ = np.unique(target)
        if len(self.classes_) != 2:
            raise DataError(
                f"adversarial debiasing needs a binary target, got classes {self.classes_.tolist()}"
            )
        self.groups_, group_codes = np.unique(groups, return_inverse=True)
        x = torch.from_numpy(self._encode(X, fit=True))
        t = torch.from_numpy((target == self.classes_[1]).astype(np.float32))
        a = torch.from_numpy(group_codes.astype(np.int64))
        generator = torch.Generator().manual_seed(int(self.random_state))
        torch.manual_seed(int(self.random_state))
        self.predictor_ = nn.Sequential(
            nn.Linear(x.shape[1], self.hidden_units), nn.ReLU(), nn.Linear(self.hidden_units, 1)
        )
        adversary = nn.Sequential(nn.Linear(1, 16), nn.ReLU(), nn.Linear(16, len(self.groups_)))
        opt_p = torch.optim.Adam(self.predictor_.parameters(), lr=self.learning_rate)
        opt_a = torch.optim.Adam(adversary.parameters(), lr=self.learning_rate * 3)
        bce, ce = nn.BCEWithLogitsLoss(), nn.CrossEntropyLoss()
        n = len(x)
        for _ in range(self.epochs):
            order = torch.randperm(n, generator=generator)
            for start in range(0, n, self.batch_size):
                batch = order[start : start + self.batch_size]
                logit = self.predictor_(x[batch]).squeeze(1)
                # The adversary learns to read the group from the (detached) score...
                opt_a.zero_grad()
                ce(adversary(logit.detach().unsqueeze(1)), a[batch]).backward()
                opt_a.step()
                # ...and the predictor follows Zhang et al.'s update: its own gradient
                # without the part that helps the adversary, minus alpha times the
                # adversary's gradient (so the adversary's loss grows).
                pred_loss = bce(logit, t[batch])
                adv_loss = ce(adversary(logit.unsqueeze(1)), a[batch])
                params = list(self.predictor_.parameters())
                grads_p = torch.autograd.grad(pred_loss, params, retain_graph=True)
                grads_a = torch.autograd.grad(adv_loss, params)
                for param, g_p, g_a in zip(params, grads_p, grads_a, strict=True):
                    unit = g_a / (g_a.norm() + 1e-8)
                    param.grad = g_p - (g_p * unit).sum() * unit - self.alpha * g_a
                opt_p.step()
        self.predictor_.eval()
        return self

    def predict_proba(self, X: pd.DataFrame) -> np.ndarray:  # noqa: N803
        """Probabilities of the two classes, shape ``(n, 2)``."""
        import torch

        check_is_fitted(self, "predictor_")
        with torch.no_grad():
            logit = self.predictor_(torch.from_numpy(self._encode(X, fit=False))).squeeze(1).numpy()
        p = 1.0 / (1.0 + np.exp(-logit.astype(float)))
        return np.column_stack([1 - p, p])

    def predict(self, X: pd.DataFrame) -> np.ndarray:  # noqa: N803
        """Class labels at probability 0.5."""
        return self.classes_[(self.predict_proba(X)[:, 1] >= 0.5).astype(int)]
