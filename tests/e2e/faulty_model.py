"""A classifier that fits but always fails to predict, for the fallback tests (not a test module).

It lives in its own importable module because the served bundle is unpickled by the server
subprocess, which gets this folder on its PYTHONPATH.
"""

from __future__ import annotations

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin


class RaisingClassifier(ClassifierMixin, BaseEstimator):
    """Fits like any classifier; ``predict_proba`` raises, as a corrupted model would."""

    def fit(self, X, y):  # noqa: N803
        self.classes_ = np.array([0, 1])
        self.feature_names_in_ = np.asarray(X.columns, dtype=object)
        return self

    def predict_proba(self, X):  # noqa: N803
        raise RuntimeError("this model is broken on purpose")
