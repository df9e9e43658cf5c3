"""The spline logistic member: its strength search run in parallel is the same search."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from greenscore.errors import ConfigError
from greenscore.models.linear import SplineLogisticClassifier


def _data(n: int = 600) -> tuple[pd.DataFrame, np.ndarray]:
    rng = np.random.default_rng(3)
    X = pd.DataFrame(  # noqa: N806
        {
            "income": rng.lognormal(10, 0.5, n),
            "utilisation": rng.uniform(0, 1, n),
            "region": pd.Categorical(rng.choice(["north", "south", "east"], n)),
        }
    )
    logit = -1.0 + 2.0 * X["utilisation"] - 0.5 * (X["region"] == "south")
    y = (rng.uniform(size=n) < 1 / (1 + np.exp(-logit))).astype(int).to_numpy()
    return X, y


def test_the_strength_search_in_two_processes_finds_the_same_model() -> None:
    X, y = _data()  # noqa: N806
    alone = SplineLogisticClassifier().fit(X, y)
    shared = SplineLogisticClassifier(n_jobs=2).fit(X, y)
    assert alone.model_.C_ == shared.model_.C_
    np.testing.assert_allclose(alone.model_.coef_, shared.model_.coef_, rtol=0, atol=1e-12)
    np.testing.assert_allclose(alone.predict_proba(X), shared.predict_proba(X), atol=1e-12)


def test_a_bad_number_of_processes_is_named() -> None:
    X, y = _data(100)  # noqa: N806
    with pytest.raises(ConfigError, match="n_jobs"):
        SplineLogisticClassifier(n_jobs="two").fit(X, y)  # type: ignore[arg-type]
