"""Performance by vintage (intervals, calibration, AUC-drop flags) and the champion/challenger
comparison."""

from __future__ import annotations

import numpy as np
import pytest

from greenscore.config import MonitoringSettings
from greenscore.errors import DataError
from greenscore.evaluation.metrics import auc
from greenscore.monitoring.champion import compare_champion_challenger
from greenscore.monitoring.performance import (
    LENGTHS_DIFFER,
    bootstrap_intervals,
    calibration_by_band,
    performance_by_vintage,
)

SETTINGS = MonitoringSettings(bootstrap_samples=60)


def _vintages(degraded: tuple[str, ...] = (), rows: int = 600, seed: int = 0):
    """Three monthly vintages of a model with AUC near 0.8; ``degraded`` ones get noise PDs."""
    rng = np.random.default_rng(seed)
    ys, ps, labels = [], [], []
    for label in ("2024-01", "2024-02", "2024-03"):
        y = (rng.random(rows) < 0.2).astype(int)
        logit = -1.6 + 1.5 * y + rng.normal(0, 1, rows)
        p = 1 / (1 + np.exp(-logit))
        if label in degraded:
            p = rng.permutation(p)  # same PDs, no longer related to who defaults
        ys.append(y)
        ps.append(p)
        labels += [label] * rows
    return np.concatenate(ys), np.concatenate(ps), np.array(labels)


def test_a_vintage_whose_auc_fell_is_flagged_and_stable_ones_are_not() -> None:
    y, p, v = _vintages(degraded=("2024-03",))
    result = performance_by_vintage(y, p, v, settings=SETTINGS, baseline_auc=0.8)
    assert [f["vintage"] for f in result["flags"]] == ["2024-03"]
    flag = result["flags"][0]
    assert flag["value"] < 0.65 and flag["interval"][1] < 0.8 and flag["drop"] > 0.05
    steady = performance_by_vintage(*_vintages(), settings=SETTINGS, baseline_auc=0.8)
    assert steady["flags"] == []


def test_without_a_baseline_the_first_judged_vintage_is_one() -> None:
    y, p, v = _vintages(degraded=("2024-02",))
    result = performance_by_vintage(y, p, v, settings=SETTINGS)
    assert result["baseline_source"] == "first judged vintage (2024-01)"
    assert result["baseline_auc"] == pytest.approx(auc(y[v == "2024-01"], p[v == "2024-01"]))
    assert [f["vintage"] for f in result["flags"]] == ["2024-02"]


def test_each_vintage_carries_every_metric_with_an_interval_around_it() -> None:
    y, p, v = _vintages()
    result = performance_by_vintage(y, p, v, settings=SETTINGS, baseline_auc=0.8)
    for entry in result["vintages"]:
        assert entry["judged"] and entry["rows"] == 600
        for name in ("auc", "gini", "ks", "brier", "calibration_in_the_large"):
            low, high = entry["intervals"][name]
            assert low <= entry[name] <= high, name
        assert entry["gini"] == pytest.approx(2 * entry["auc"] - 1)
        assert entry["intervals"]["gini"][0] == pytest.approx(2 * entry["intervals"]["auc"][0] - 1)
        assert 0 <= entry["calibration_p_value"] <= 1
        assert sum(b["count"] for b in entry["bands"]) == 600


def test_a_vintage_with_few_defaults_is_listed_but_not_judged() -> None:
    y = np.r_[np.ones(3, dtype=int), np.zeros(200, dtype=int)]
    p = np.linspace(0.01, 0.5, len(y))
    result = performance_by_vintage(y, p, np.full(len(y), "2024-05"), settings=SETTINGS)
    (entry,) = result["vintages"]
    assert not entry["judged"] and entry["auc"] is None and entry["intervals"] == {}
    assert entry["brier"] > 0 and result["flags"] == []


def test_calibration_by_band_tests_each_band_against_its_mean_pd() -> None:
    p = np.r_[np.full(500, 0.05), np.full(500, 0.4)]
    y = np.r_[np.zeros(475, dtype=int), np.ones(25, dtype=int), np.zeros(100, dtype=int),
              np.ones(400, dtype=int)]  # fmt: skip
    low, high = calibration_by_band(y, p, np.array([0.2]))
    assert (low["count"], low["defaults"], low["mean_pd"]) == (500, 25, pytest.approx(0.05))
    assert low["p_value"] > 0.5  # 5 % observed against 5 % predicted
    assert high["observed_rate"] == 0.8 and high["p_value"] < 1e-6  # 80 % against 40 %


def test_bootstrap_skips_single_class_resamples() -> None:
    y, p = np.array([0, 0, 0, 1]), np.array([0.1, 0.2, 0.3, 0.9])
    intervals = bootstrap_intervals(y, p, n_boot=50, confidence=0.9, seed=1)
    assert intervals["auc"][1] == 1.0 and intervals["brier"][0] is not None


def test_inputs_of_different_lengths_are_refused() -> None:
    with pytest.raises(DataError) as err:
        performance_by_vintage([0, 1], [0.2, 0.4], ["a"], settings=SETTINGS)
    assert str(err.value) == LENGTHS_DIFFER.format(n_y=2, n_p=2, n_v=1)


# ---------------------------------------------------------------- champion / challenger
def test_a_clearly_better_challenger_replaces_the_champion() -> None:
    rng = np.random.default_rng(3)
    y = (rng.random(3000) < 0.2).astype(int)
    good = 1 / (1 + np.exp(-(-1.6 + 2.0 * y + rng.normal(0, 1, 3000))))
    weak = 1 / (1 + np.exp(-(-1.6 + 0.6 * y + rng.normal(0, 1, 3000))))
    result = compare_champion_challenger(y, weak, good, alpha=0.05)
    assert result.promote and result.challenger_auc > result.champion_auc
    assert result.delong_p < 0.05 and result.verdict.startswith("challenger AUC")
    kept = compare_champion_challenger(y, good, weak, alpha=0.05)
    assert not kept.promote and kept.verdict.startswith("champion kept")


def test_a_challenger_no_better_than_chance_allows_is_not_promoted() -> None:
    rng = np.random.default_rng(4)
    y = (rng.random(400) < 0.2).astype(int)
    champion = 1 / (1 + np.exp(-(-1.6 + 1.2 * y + rng.normal(0, 1, 400))))
    challenger = champion + rng.normal(0, 0.01, 400)
    result = compare_champion_challenger(y, champion, np.clip(challenger, 0, 1), alpha=0.05)
    assert not result.promote and result.delong_p > 0.05
