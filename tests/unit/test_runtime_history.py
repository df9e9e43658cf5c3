"""The runtime's compiled history features are the fitted steps' NumPy ones, bit for bit,
on histories with gaps, infinities, empty rows and many lengths."""

from __future__ import annotations

import numpy as np
import pytest
from serving_bundle import applicant, shared

from greenscore.features import behavioural, temporal
from greenscore.features.behavioural import BehaviouralFeatures
from greenscore.features.financial import FinancialFeatures
from greenscore.features.temporal import TemporalFeatures
from greenscore.models.runtime import ScoringRuntime, history

LENGTHS = [1, 2, 3, 7, 8, 9, 12, 17, 24, 130]


def _histories(n: int, m: int, seed: int) -> np.ndarray:
    """Statuses, balances and payments alike: zeros, negatives, fractions, gaps, infinities;
    column-major, as a DataFrame hands them to the steps."""
    rng = np.random.default_rng(seed)
    values = rng.choice([-2.0, -1.0, 0.0, 0.0, 1.0, 2.0, 3.0, 0.5, 1e3, -7.25], size=(n, m))
    values *= rng.choice([1.0, 1.37, 1e-3, 123.456], size=(n, m))
    values[rng.random((n, m)) < 0.2] = np.nan
    values[rng.random(n) < 0.1] = np.nan  # no month observed
    values[0, -1] = np.nan  # the latest month missing
    values[rng.random((n, m)) < 0.01] = np.inf
    values[rng.random((n, m)) < 0.01] = -np.inf
    return np.asfortranarray(values)


def _same(got: dict[str, np.ndarray], want: dict[str, np.ndarray]) -> None:
    assert list(got) == list(want)
    for key in want:
        np.testing.assert_array_equal(got[key], want[key], err_msg=key)


@pytest.mark.parametrize("m", LENGTHS)
@pytest.mark.filterwarnings("ignore::RuntimeWarning")  # NumPy's overflow on infinities
def test_histories_equal_the_numpy_features(m: int) -> None:
    for n, seed in ((2, m), (300, 100 + m)):
        values = _histories(n, m, seed)
        for event in ("delinquent", "nonzero"):
            for recent in (1, 3, 50):
                _same(
                    history.sequence_summary(values, recent_months=recent, event=event),
                    temporal.sequence_summary(values, recent_months=recent, event=event),
                )
        _same(history.status_features(values), behavioural.status_features(values))
        payment = _histories(n, m, seed + 1)
        for share in (0.05, 1.0):
            _same(
                history.payment_features(values, payment, minimum_share=share),
                behavioural.payment_features(values, payment, minimum_share=share),
            )


def test_only_the_exact_history_steps_are_compiled() -> None:
    class Other(TemporalFeatures):
        pass

    assert history.compiled_deriver(TemporalFeatures()) is not None
    assert history.compiled_deriver(BehaviouralFeatures()) is not None
    assert history.compiled_deriver(Other()) is None  # may compute something else
    assert history.compiled_deriver(FinancialFeatures()) is None


def test_the_runtime_matrix_of_a_batch_is_the_pipelines_bit_for_bit() -> None:
    ds, bundle = shared()
    runtime = ScoringRuntime(bundle)
    assert runtime.features is not None, runtime.reason
    rows = [applicant(ds, i) for i in range(200)]
    ids = [r[ds.spec.id_column] for r in rows]
    got = runtime.features.matrix(rows, ids)
    want = runtime.layout.encode(bundle.features.transform(ds.X.iloc[:200]))
    np.testing.assert_array_equal(got, want)
