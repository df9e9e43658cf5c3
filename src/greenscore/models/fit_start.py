"""The start every DataFrame model's ``fit`` shares: parameters checked, a named-column
frame required, the column names recorded (scikit-learn's ``feature_names_in_``)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from sklearn.utils._param_validation import InvalidParameterError

from greenscore.errors import ConfigError, ModelError


def start_fit(estimator: Any, X: Any, *, not_a_frame: str) -> pd.DataFrame:  # noqa: N803
    """Check ``estimator``'s parameters and ``X``; record its column names; return ``X``
    with those names as strings.

    Raises
    ------
    ConfigError
        If a parameter is out of range (scikit-learn's first line of the reason).
    ModelError
        ``not_a_frame``, if ``X`` is not a DataFrame.
    """
    try:
        estimator._validate_params()
    except InvalidParameterError as exc:
        raise ConfigError(str(exc).splitlines()[0]) from exc
    if not isinstance(X, pd.DataFrame):
        raise ModelError(not_a_frame)
    estimator.feature_names_in_ = np.asarray([str(c) for c in X.columns], dtype=object)
    estimator.n_features_in_ = X.shape[1]
    return X.set_axis(estimator.feature_names_in_, axis=1)
