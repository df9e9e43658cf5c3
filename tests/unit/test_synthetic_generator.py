"""The synthetic generator's frames: columns, types, histories, relations, determinism."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from greenscore.data.presets import load_preset
from greenscore.data.synthetic import (
    DPD_COLUMNS,
    ERR_RATE,
    ERR_ROWS,
    ERR_SEED,
    MAX_DEFAULT_RATE,
    MIN_DEFAULT_RATE,
    MIN_ROWS,
    RELATION_KINDS,
    SyntheticData,
    generate,
)
from greenscore.errors import ConfigError

SPEC = load_preset("synthetic")
CATEGORIES = {
    "sex": {"female", "male"},
    "marital_status": {"single", "married", "divorced", "widowed"},
    "education": {"secondary", "vocational", "bachelor", "master", "doctorate"},
    "housing": {"own", "mortgage", "rent", "family"},
    "loan_purpose": {
        "debt_consolidation",
        "home_improvement",
        "car",
        "education",
        "medical",
        "business",
        "major_purchase",
        "other",
    },
}


@pytest.fixture(scope="module")
def data() -> SyntheticData:
    return generate(3_000, seed=11)


def _spec_columns() -> set[str]:
    named = {SPEC.id_column, SPEC.time_column, SPEC.target}
    return named | {
        *SPEC.pii,
        *SPEC.protected,
        *SPEC.categorical,
        *SPEC.numeric,
        *SPEC.drop,
        *SPEC.sequence_columns,
    }


def test_columns_are_exactly_the_presets(data: SyntheticData) -> None:
    assert set(data.applications.columns) == _spec_columns()
    assert len(data.applications) == 3_000


def test_types(data: SyntheticData) -> None:
    a = data.applications
    assert pd.api.types.is_integer_dtype(a["applicant_id"]) and a["applicant_id"].is_unique
    assert pd.api.types.is_datetime64_any_dtype(a["application_date"])
    assert a["application_date"].is_monotonic_increasing
    for column in SPEC.numeric:
        assert pd.api.types.is_numeric_dtype(a[column]), column
    for column, allowed in CATEGORIES.items():
        assert set(a[column].unique()) == allowed, column
    assert a["region"].nunique() == 9
    for column in SPEC.pii:
        assert a[column].map(type).eq(str).all(), column
    assert a["national_id"].is_unique
    assert a["email"].str.fullmatch(r"[a-z0-9.]+@[a-z0-9.-]+\.[a-z]+").all()
    assert a["national_id"].str.fullmatch(r"\d{3}-\d{2}-\d{4}").all()
    assert set(a["default"].unique()) == {0, 1}


def test_plausible_ranges(data: SyntheticData) -> None:
    a = data.applications
    assert a["age"].between(21, 85).all()
    assert a["credit_utilization"].between(0, 1).all()
    assert (a["loan_amount"] % 250 == 0).all() and a["loan_amount"].min() >= 1_000
    assert set(a["loan_term_months"].unique()) <= {12, 24, 36, 48, 60}
    assert a["interest_rate"].between(3.9, 30).all()
    assert (a["employment_years"].dropna() <= a["age"][a["employment_years"].notna()] - 18).all()
    # Education raises income; loan amounts follow income.
    by_edu = a.groupby("education")["income"].median()
    assert by_edu["doctorate"] > by_edu["bachelor"] > by_edu["secondary"]
    both = a[["income", "loan_amount"]].dropna()
    assert np.corrcoef(np.log(both["income"]), np.log(both["loan_amount"]))[0, 1] > 0.5


def test_some_missing_values_but_never_in_keys(data: SyntheticData) -> None:
    a = data.applications
    assert 0.005 < a["employment_years"].isna().mean() < 0.04
    assert 0.002 < a["income"].isna().mean() < 0.03
    for column in (SPEC.id_column, SPEC.time_column, SPEC.target, *SPEC.pii, "age", "sex"):
        assert a[column].notna().all(), column


def test_histories_have_leading_gaps_only(data: SyntheticData) -> None:
    a = data.applications
    patterns = [a[group.columns].isna().to_numpy() for group in SPEC.sequences]
    for missing in patterns:
        # Once a month is observed, every later month is too: NaN only before the first.
        assert (np.diff(missing.astype(int), axis=1) <= 0).all()
        assert not missing[:, -1].any()
        assert np.array_equal(missing, patterns[0])
    newer = patterns[0][:, 0].mean()
    assert 0.15 < newer < 0.45
    assert (a[DPD_COLUMNS].fillna(0) >= 0).all().all()


def test_default_rate_is_met_exactly() -> None:
    for rate in (0.10, 0.15, 0.20):
        y = generate(1_000, seed=3, default_rate=rate).applications["default"]
        assert y.sum() == round(rate * 1_000)


def test_relations_link_existing_applicants(data: SyntheticData) -> None:
    ids = set(data.applications["applicant_id"])
    rel = data.relations
    assert list(rel.columns) == ["source_id", "target_id", "relation"]
    assert set(rel["source_id"]) <= ids and set(rel["target_id"]) <= ids
    assert set(rel["relation"]) == set(RELATION_KINDS)
    assert (rel["source_id"] != rel["target_id"]).all()
    degree = pd.concat([rel["source_id"], rel["target_id"]]).value_counts()
    degree = degree.reindex(list(ids), fill_value=0)
    assert degree.between(1, 4).mean() > 0.75


def test_co_applicants_share_region_and_address(data: SyntheticData) -> None:
    a = data.applications.set_index("applicant_id")
    pairs = data.relations[data.relations["relation"] == "co_applicant"]
    src, dst = a.loc[pairs["source_id"]], a.loc[pairs["target_id"]]
    assert (src["region"].to_numpy() == dst["region"].to_numpy()).all()
    assert (src["address"].to_numpy() == dst["address"].to_numpy()).all()


def test_population_drifts_in_the_last_six_months(data: SyntheticData) -> None:
    a = data.applications
    late = a["application_date"] >= pd.Timestamp("2024-07-01")
    assert a.loc[late, "age"].mean() < a.loc[~late, "age"].mean() - 1
    assert a.loc[late, "credit_utilization"].mean() > a.loc[~late, "credit_utilization"].mean()
    share = a["loan_purpose"].eq("debt_consolidation")
    assert share[late].mean() > share[~late].mean() + 0.03
    span = a["application_date"].max() - a["application_date"].min()
    assert span.days > 700


def test_proxy_paths_from_sex(data: SyntheticData) -> None:
    a = data.applications
    female = a["sex"] == "female"
    assert a.loc[female, "income"].median() < 0.9 * a.loc[~female, "income"].median()
    assert a.loc[female, "employment_years"].median() < a.loc[~female, "employment_years"].median()


def test_same_seed_same_data_other_seed_other_data() -> None:
    first, again = generate(400, seed=5), generate(400, seed=5)
    pd.testing.assert_frame_equal(first.applications, again.applications)
    pd.testing.assert_frame_equal(first.relations, again.relations)
    assert first.datasheet == again.datasheet
    other = generate(400, seed=6)
    assert not first.applications["name"].equals(other.applications["name"])
    assert not first.applications["income"].equals(other.applications["income"])


def test_datasheet_documents_the_data(data: SyntheticData) -> None:
    sheet = data.datasheet
    for heading in ("## Motivation", "## Composition", "## Collection process", "## Uses"):
        assert heading in sheet
    for column in ("applicant_id", "employment_years", "dpd_m01..m12", "default"):
        assert f"`{column}`" in sheet
    assert "Apache-2.0" in sheet and "fake" in sheet
    assert "Default rate 15.0% (asked for 15.0%)" in sheet
    assert "**Proxy bias.**" in sheet and "**Drift.**" in sheet and "**Graph signal.**" in sheet


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"rows": 5}, ERR_ROWS.format(minimum=MIN_ROWS, value=5)),
        ({"rows": 100.0}, ERR_ROWS.format(minimum=MIN_ROWS, value=100.0)),
        ({"rows": 100, "seed": -1}, ERR_SEED.format(value=-1)),
        (
            {"rows": 100, "default_rate": 0.9},
            ERR_RATE.format(low=MIN_DEFAULT_RATE, high=MAX_DEFAULT_RATE, value=0.9),
        ),
    ],
)
def test_bad_arguments_are_refused(kwargs: dict, message: str) -> None:
    rows = kwargs.pop("rows")
    with pytest.raises(ConfigError) as caught:
        generate(rows, **kwargs)
    assert str(caught.value) == message
