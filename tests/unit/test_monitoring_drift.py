"""Drift measures (PSI/CSI bins, KS, Wasserstein), quality checks, windows, and the planted
drift of the built-in generator found where it was planted and nowhere else."""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import pandas as pd
import pytest

from greenscore.config import MonitoringSettings
from greenscore.data.presets import load_preset
from greenscore.data.synthetic import DRIFT_MONTHS, MONTHS, generate
from greenscore.errors import DataError
from greenscore.monitoring.drift import (
    ACT,
    MISSING_BIN,
    STABLE,
    UNSEEN_BIN,
    WATCH,
    band,
    bin_counts,
    fit_bins,
    ks_two_sample,
    prepare,
    psi,
    quantile_bins,
    wasserstein,
)
from greenscore.monitoring.monitor import drift_report
from greenscore.monitoring.quality import column_quality
from greenscore.monitoring.reference import (
    COLUMNS_DIFFER,
    reference_from_frame,
    reference_from_metadata,
)
from greenscore.monitoring.windows import BAD_TIMES, parse_times, split_windows

SETTINGS = MonitoringSettings()
#: What the generator shifts over its last months (see data/synthetic.py: age, utilisation,
#: inquiries and the debt-consolidation share all move with the drift weight).
PLANTED = {"age", "credit_utilization", "num_inquiries_6m", "loan_purpose"}


# ---------------------------------------------------------------- PSI and bands
def test_psi_of_known_shares_and_of_identical_ones() -> None:
    assert psi([0.5, 0.5], [0.6, 0.4]) == pytest.approx(0.1 * np.log(1.5), rel=1e-3)
    assert psi([0.2, 0.3, 0.5], [0.2, 0.3, 0.5]) == 0.0
    assert np.isnan(psi([0.5, 0.5], [0.0, 0.0]))


def test_psi_floors_an_empty_bin_instead_of_going_infinite() -> None:
    value = psi([0.5, 0.5, 0.0], [0.4, 0.4, 0.2])
    assert np.isfinite(value) and value > 0.25


@pytest.mark.parametrize(
    ("value", "expected"),
    [(0.0, STABLE), (0.0999, STABLE), (0.1, WATCH), (0.2499, WATCH), (0.25, ACT), (np.nan, STABLE)],
)
def test_credit_bands(value: float, expected: str) -> None:
    assert band(value, watch=0.1, act=0.25) == expected


def test_numeric_bins_are_equal_mass_and_right_closed() -> None:
    values = prepare(pd.Series(np.arange(1, 101, dtype=float)), "numeric")
    bins = fit_bins(values, kind="numeric", n_bins=4)
    assert bins.edges == (25.0, 50.0, 75.0)
    assert bins.expected == (0.25, 0.25, 0.25, 0.25, 0.0)  # four bins and the missing one
    counts = bin_counts(np.array([25.0, 25.5, np.nan, 1e9]), bins)
    assert counts.tolist() == [1, 1, 0, 1, 1]


def test_a_count_with_few_values_gets_one_bin_per_value() -> None:
    values = prepare(pd.Series([0, 0, 0, 1, 1, 2] * 50), "numeric")
    bins = fit_bins(values, kind="numeric", n_bins=10)
    assert bins.edges == (0.0, 1.0)
    assert bins.expected[:3] == pytest.approx((0.5, 1 / 3, 1 / 6))


def test_categories_get_missing_and_unseen_bins() -> None:
    reference = prepare(pd.Series(["a", "b", "b", None]), "categorical")
    bins = fit_bins(reference, kind="categorical")
    assert bins.labels() == ["a", "b", MISSING_BIN, UNSEEN_BIN]
    assert bins.expected == (0.25, 0.5, 0.25, 0.0)
    current = prepare(pd.Series([" b", "c", "c", None, ""]), "categorical")
    assert bin_counts(current, bins).tolist() == [0, 1, 2, 2]  # blank is missing


def test_quantile_bins_from_stored_pd_quantiles_hold_equal_shares() -> None:
    bins = quantile_bins(np.linspace(0.01, 0.6, 101), 10)
    assert len(bins.edges) == 9 and sum(bins.expected) == pytest.approx(1.0)
    tied = quantile_bins([0.1] * 60 + list(np.linspace(0.1, 0.5, 41)), 10)
    assert sum(tied.expected) == pytest.approx(1.0) and len(tied.edges) < 9
    with pytest.raises(DataError):
        quantile_bins([0.1], 10)


def test_ks_and_wasserstein_grow_with_a_shift() -> None:
    rng = np.random.default_rng(0)
    reference = rng.normal(0, 1, 2000)
    same, shifted = rng.normal(0, 1, 2000), rng.normal(0.5, 1, 2000)
    assert ks_two_sample(reference, shifted)[0] > 3 * ks_two_sample(reference, same)[0]
    assert ks_two_sample(reference, shifted)[1] < 1e-6
    raw, scaled = wasserstein(reference, shifted)
    assert raw == pytest.approx(0.5, abs=0.1) and scaled == pytest.approx(raw / np.std(reference))


# ---------------------------------------------------------------- data quality
def _quality(reference: pd.Series, current: pd.Series, kind: str) -> dict:
    spec = load_preset("taiwan")
    frame = pd.DataFrame({"LIMIT_BAL" if kind == "numeric" else "EDUCATION": reference})
    ref = reference_from_frame(frame, spec).columns[frame.columns[0]]
    return column_quality(
        ref, prepare(current, ref.kind), current.isna().to_numpy(), settings=SETTINGS
    )


def test_quality_flags_a_rise_in_missing_values_only_beyond_chance() -> None:
    reference = pd.Series([1.0] * 900 + [None] * 100)
    noisy = _quality(reference, pd.Series([1.0] * 170 + [None] * 30), "numeric")
    assert noisy["missing_increase"] == pytest.approx(0.05) and noisy["findings"] == []
    broken = _quality(reference, pd.Series([1.0] * 500 + [None] * 500), "numeric")
    assert "missing_rate" in broken["findings"]


def test_quality_counts_out_of_range_and_text_in_numbers() -> None:
    reference = pd.Series(np.linspace(1000, 5000, 500))
    result = _quality(reference, pd.Series([900.0, 1000, 3000, 6000, "abc", None]), "numeric")
    assert (result["below"], result["above"], result["non_numeric"]) == (1, 1, 1)
    assert result["out_of_range_share"] == pytest.approx(0.5)
    assert {"range", "non_numeric"} <= set(result["findings"])


def test_quality_names_unseen_categories() -> None:
    result = _quality(
        pd.Series(["1", "2", "3"] * 50), pd.Series(["1", "9", "9", "x", None]), "categorical"
    )
    assert result["unseen"] == {"9": 2, "x": 1}
    assert result["unseen_share"] == pytest.approx(0.75)
    # A column never missing in the reference is missing in one row of five now.
    assert result["findings"] == ["missing_rate", "unseen"]


def test_reference_from_the_bundle_checks_ranges_and_levels() -> None:
    spec = load_preset("taiwan")
    metadata = {
        "training_ranges": {
            "LIMIT_BAL": {"min": 10.0, "max": 20.0},
            "EDUCATION": {"levels": ["1"]},
        },
        "training_pd": np.linspace(0.01, 0.9, 101).tolist(),
    }
    reference = reference_from_metadata(metadata, spec)
    assert reference.columns["LIMIT_BAL"].bins is None and reference.score is not None
    current = pd.DataFrame({"LIMIT_BAL": [5.0, 15.0], "EDUCATION": ["1", "7"], "other": [1, 2]})
    reference.check_columns(list(current.columns))  # extra columns are fine without a file
    report = drift_report(
        reference,
        current,
        settings=MonitoringSettings(min_window_rows=1),
        scores=np.array([0.5, 0.5]),
    )
    overall = report["overall"]
    assert overall["columns"]["LIMIT_BAL"]["quality"]["below"] == 1
    assert overall["columns"]["EDUCATION"]["quality"]["unseen"] == {"7": 1}
    assert overall["score"]["band"] == ACT  # every PD in one decile


def test_columns_that_differ_from_the_reference_file_are_named() -> None:
    spec = load_preset("taiwan")
    frame = pd.DataFrame({"ID": [1], "LIMIT_BAL": [1.0], "AGE": [30], spec.target: [0]})
    reference = reference_from_frame(frame, spec)
    reference.check_columns(["ID", "AGE", "LIMIT_BAL"], ignore=[spec.target])
    with pytest.raises(DataError) as err:
        reference.check_columns(["ID", "AGE", "PAY_0"], ignore=[spec.target])
    assert str(err.value) == COLUMNS_DIFFER.format(
        problems="missing columns ['LIMIT_BAL']; extra columns ['PAY_0']"
    )


# ---------------------------------------------------------------- windows
def test_windows_by_day_week_and_month() -> None:
    times = parse_times(pd.Series(["2024-01-31", "2024-02-01", "2024-02-05", None]))
    months = split_windows(times, "month")
    assert [(w.label, w.rows.tolist()) for w in months] == [("2024-01", [0]), ("2024-02", [1, 2])]
    weeks = split_windows(times, "week")
    assert [w.label for w in weeks] == ["2024-W05", "2024-W06"]  # Monday-start ISO weeks
    assert weeks[0].start == "2024-01-29" and weeks[0].rows.tolist() == [0, 1]
    assert len(split_windows(times, "day")) == 3
    with pytest.raises(DataError):
        split_windows(times, "year")


def test_a_value_that_is_not_a_date_is_named() -> None:
    with pytest.raises(DataError) as err:
        parse_times(pd.Series(["2024-01-01", "soon"]), column="application_date")
    assert str(err.value) == BAD_TIMES.format(column="application_date", row=1, value="soon")


# ---------------------------------------------------------------- the planted drift
@lru_cache(maxsize=1)
def _planted() -> dict:
    apps = generate(8000, seed=3).applications
    spec = load_preset("synthetic")
    month = apps["application_date"].dt.to_period("M")
    stable_months = sorted(month.unique())[: MONTHS - DRIFT_MONTHS]
    reference = apps[month.isin(stable_months[:12])]
    return drift_report(
        reference_from_frame(reference, spec),
        apps,
        settings=SETTINGS,
        times=parse_times(apps["application_date"]),
        window="month",
    )


def test_the_generators_planted_drift_is_flagged_in_its_last_months_only() -> None:
    windows = _planted()["windows"]
    assert len(windows) == MONTHS
    stable, drifted = windows[: MONTHS - DRIFT_MONTHS], windows[MONTHS - DRIFT_MONTHS :]
    assert all(w["judged"] for w in windows)
    assert [w["flagged"] for w in stable] == [[]] * len(stable)
    assert max(max(c["psi"] for c in w["columns"].values()) for w in stable) < 0.1
    last = drifted[-1]
    assert PLANTED <= set(last["flagged"])
    assert all(last["columns"][name]["psi"] > 0.1 for name in PLANTED)
    assert {"age", "credit_utilization"} <= set(last["act"])
    # The shift grows: the planted columns' CSI is higher at the end than at the start.
    for name in PLANTED:
        assert last["columns"][name]["psi"] > drifted[0]["columns"][name]["psi"]
