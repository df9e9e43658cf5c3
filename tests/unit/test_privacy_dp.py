"""Differential privacy mechanisms: the noise has the scale epsilon says it has."""

from __future__ import annotations

import numpy as np
import pytest

from greenscore.errors import ConfigError, DataError
from greenscore.privacy.dp import noisy_count, noisy_histogram, noisy_mean

DRAWS = 4000


@pytest.mark.parametrize("epsilon", [1.0, 0.5])
def test_laplace_count_std_is_sqrt2_over_epsilon(epsilon: float) -> None:
    rng = np.random.RandomState(7)
    draws = np.array([noisy_count(100, epsilon=epsilon, random_state=rng) for _ in range(DRAWS)])
    expected = np.sqrt(2) / epsilon
    # Relative standard error of a Laplace sample std with 4000 draws is about 1.8%.
    assert draws.std() == pytest.approx(expected, rel=0.08)
    assert draws.mean() == pytest.approx(100, abs=4 * expected / np.sqrt(DRAWS))
    # Laplace, not Gaussian: mean absolute deviation is b = 1/epsilon.
    assert np.abs(draws - 100).mean() == pytest.approx(1 / epsilon, rel=0.08)


def test_bounded_mean_noise_shrinks_with_epsilon_and_clips() -> None:
    values = np.linspace(0, 100, 1000)
    rng = np.random.RandomState(3)
    loose = [noisy_mean(values, epsilon=0.1, bounds=(0, 100), random_state=rng) for _ in range(300)]
    tight = [
        noisy_mean(values, epsilon=10.0, bounds=(0, 100), random_state=rng) for _ in range(300)
    ]
    assert np.std(loose) > 20 * np.std(tight)
    assert np.mean(tight) == pytest.approx(50, abs=0.5)
    # Values outside the bounds are clipped, so an outlier cannot move the mean past them.
    clipped = noisy_mean([1e9] * 1000, epsilon=10.0, bounds=(0, 100), random_state=rng)
    assert clipped <= 101


def test_histogram_counts_are_noisy_but_close() -> None:
    values = np.repeat([0.5, 1.5, 2.5], [100, 200, 300])
    counts, edges = noisy_histogram(values, epsilon=1.0, bins=3, range=(0, 3), random_state=1)
    np.testing.assert_allclose(edges, [0, 1, 2, 3])
    assert np.all(np.abs(counts - [100, 200, 300]) < 15)


def test_bad_parameters_are_refused() -> None:
    with pytest.raises(ConfigError, match="epsilon must be a positive number"):
        noisy_count(1, epsilon=0)
    with pytest.raises(ConfigError, match="low < high"):
        noisy_mean([1.0], epsilon=1, bounds=(5, 5))
    with pytest.raises(ConfigError, match="needs range"):
        noisy_histogram([1.0], epsilon=1, bins=3)
    with pytest.raises(DataError, match="1 missing values"):
        noisy_mean([1.0, np.nan], epsilon=1, bounds=(0, 2))


def test_diffprivlib_models_placeholder_is_safe_to_inspect() -> None:
    import sys

    from greenscore.privacy.dp import _diffprivlib

    _diffprivlib()
    models = sys.modules["diffprivlib.models"]
    # torch and inspect walk sys.modules with hasattr(): it must answer, not raise.
    assert isinstance(hasattr(models, "__file__"), bool)
    assert isinstance(hasattr(models, "LogisticRegression"), bool)
