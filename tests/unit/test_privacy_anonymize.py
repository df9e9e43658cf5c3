"""Anonymisation: k-anonymity and l-diversity checked independently with pycanon, loss reported."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from pycanon import anonymity

from greenscore.config import Settings, use_settings
from greenscore.errors import ConfigError, DataError
from greenscore.privacy.anonymize import anonymize_frame, k_anonymize
from greenscore.privacy.hierarchies import (
    CategoricalHierarchy,
    IntervalHierarchy,
    PrefixHierarchy,
    default_hierarchy,
)
from greenscore.privacy.tokens import mask, token_for, tokenize

QUASI = ["age", "sex", "marital_status", "region", "income"]


@pytest.fixture(autouse=True)
def settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.delenv("GREENSCORE_HOME", raising=False)
    monkeypatch.setenv("GREENSCORE_MASTER_KEY", "ab" * 32)
    use_settings(Settings(home=tmp_path))
    yield
    use_settings(None)


@pytest.fixture(scope="module")
def synthetic() -> pd.DataFrame:
    from greenscore.data.synthetic import generate

    return generate(1500, seed=5).applications


def _pycanon_k(frame: pd.DataFrame, quasi: list[str]) -> int:
    # pycanon indexes rows by position: give it a fresh RangeIndex.
    return anonymity.k_anonymity(frame.reset_index(drop=True), quasi)


def test_k_and_l_hold_by_pycanon_with_loss_reported(synthetic: pd.DataFrame) -> None:
    assert _pycanon_k(synthetic, QUASI) == 1  # raw data is not anonymous
    result = k_anonymize(synthetic, quasi=QUASI, k=5, l_diversity=2, sensitive="default")
    out = result.frame
    assert _pycanon_k(out, QUASI) >= 5
    assert anonymity.l_diversity(out.reset_index(drop=True), QUASI, ["default"]) >= 2
    report = result.report
    assert report["achieved_k"] == _pycanon_k(out, QUASI)
    assert report["rows_out"] == len(out) == report["rows_in"] - report["suppressed_rows"]
    assert report["suppressed_rows"] == len(result.suppressed_index) <= 0.05 * len(synthetic)
    assert not set(result.suppressed_index) & set(out.index)
    assert 0 < report["ncp"] < 1 and report["discernibility"] >= 5 * len(out)
    assert set(report["ncp_by_column"]) == set(QUASI) and report["generalisation_height"] > 0
    # Non-quasi columns pass through unchanged for the rows kept.
    pd.testing.assert_series_equal(out["loan_amount"], synthetic.loc[out.index, "loan_amount"])


def test_taiwan_real_data_k10(tmp_path: Path) -> None:
    frame = pd.read_csv("/work/shared/data/UCI_Credit_Card.csv")
    quasi = ["AGE", "SEX", "MARRIAGE", "EDUCATION", "LIMIT_BAL"]
    result = k_anonymize(frame, quasi=quasi, k=10)
    assert _pycanon_k(result.frame, quasi) >= 10
    assert result.report["suppressed_rows"] <= 0.05 * len(frame)
    assert 0 < result.report["ncp"] < 1


def test_already_anonymous_data_is_left_alone() -> None:
    frame = pd.DataFrame({"age": [30, 30, 40, 40] * 3, "sex": ["f", "f", "m", "m"] * 3})
    result = k_anonymize(frame, quasi=["age", "sex"], k=3)
    assert result.levels == {"age": 0, "sex": 0}
    assert result.report["ncp"] == 0 and result.report["suppressed_rows"] == 0
    pd.testing.assert_frame_equal(result.frame, frame)


def test_outlier_is_suppressed_and_reported_not_silently_dropped() -> None:
    ages = [31, 32, 33, 34] * 5 + [97]
    frame = pd.DataFrame(
        {"age": ages, "default": [0, 1] * 10 + [1]}, index=[f"r{i}" for i in range(21)]
    )
    hierarchy = {"age": IntervalHierarchy((5, 10, 20), domain=(30, 100))}
    result = k_anonymize(frame, quasi=["age"], k=5, hierarchies=hierarchy, max_suppression=0.05)
    assert list(result.suppressed_index) == ["r20"]
    assert result.report["suppressed_rows"] == 1 and result.report["rows_out"] == 20
    # Suppressing one row was within budget, so no value had to be coarsened.
    assert result.levels == {"age": 0} and set(result.frame["age"]) == {31, 32, 33, 34}
    strict = k_anonymize(frame, quasi=["age"], k=5, hierarchies=hierarchy, max_suppression=0)
    assert strict.report["suppressed_rows"] == 0 and strict.levels == {"age": 4}
    assert set(strict.frame["age"]) == {"*"} and strict.report["ncp"] == 1.0


def test_l_diversity_forces_more_generalisation() -> None:
    frame = pd.DataFrame(
        {"age": [25] * 5 + [35] * 5 + [45] * 5, "default": [0] * 5 + [1] * 5 + [0, 1, 0, 1, 0]}
    )
    k_only = k_anonymize(frame, quasi=["age"], k=5, max_suppression=0)
    assert k_only.levels["age"] == 0
    hierarchy = {"age": IntervalHierarchy((10, 20, 40), domain=(20, 50))}
    diverse = k_anonymize(
        frame,
        quasi=["age"],
        k=5,
        l_diversity=2,
        sensitive="default",
        hierarchies=hierarchy,
        max_suppression=0,
    )
    assert anonymity.l_diversity(diverse.frame.reset_index(drop=True), ["age"], ["default"]) >= 2
    assert diverse.levels["age"] > 0 and diverse.report["ncp"] > k_only.report["ncp"]


def test_hierarchies_generalise_and_measure_loss() -> None:
    ages = pd.Series([18, 34, 35, 80], name="age")
    bands = IntervalHierarchy.for_ages(ages)
    assert bands.generalise(ages, 1).tolist() == ["[15, 20)", "[30, 35)", "[35, 40)", "[80, 85)"]
    assert bands.generalise(ages, bands.height).tolist() == ["*"] * 4
    np.testing.assert_allclose(bands.loss(ages, 1), 5 / 62)

    codes = pd.Series(["SW1A 1AA", "SW1A 2BB", "EC1A 1BB", None])
    prefix = PrefixHierarchy.for_codes(codes)
    assert prefix.generalise(codes, 3).tolist()[:3] == ["SW1A ***", "SW1A ***", "EC1A ***"]
    assert prefix.generalise(codes, 3).iloc[3] is None
    np.testing.assert_allclose(prefix.loss(codes, 3)[:3], [0.5, 0.5, 0.0])

    amounts = pd.Series(np.r_[0.0, 1234.0, np.linspace(5_000, 99_000, 10)], name="loan_amount")
    ranges = default_hierarchy(amounts)
    assert isinstance(ranges, IntervalHierarchy) and ranges.widths[:3] == (2000, 10_000, 20_000)
    assert ranges.generalise(amounts, 1).tolist()[:2] == ["[0, 2000)", "[0, 2000)"]
    assert ranges.generalise(amounts, 1).iloc[-1] == "[98000, 100000)"
    assert isinstance(
        default_hierarchy(pd.Series([1, 2, 3], name="num_children")), CategoricalHierarchy
    )

    groups = CategoricalHierarchy([{"married": "partnered", "cohabiting": "partnered"}])
    status = pd.Series(["married", "cohabiting", "single"])
    assert groups.generalise(status, 1).tolist() == ["partnered", "partnered", "single"]
    with pytest.raises(ConfigError, match="outside 0..2"):
        groups.generalise(status, 3)


def test_bad_arguments_are_named(synthetic: pd.DataFrame) -> None:
    with pytest.raises(ConfigError, match="k must be at least 2"):
        k_anonymize(synthetic, quasi=QUASI, k=1)
    with pytest.raises(
        ConfigError, match="column 'postcode' named as quasi-identifier is not in the data"
    ):
        k_anonymize(synthetic, quasi=["postcode"], k=2)
    with pytest.raises(ConfigError, match="l-diversity needs the sensitive column"):
        k_anonymize(synthetic, quasi=QUASI, k=2, l_diversity=2)
    with pytest.raises(DataError, match="needs at least 2000"):
        k_anonymize(synthetic, quasi=QUASI, k=2000)


def test_mask_and_deterministic_tokens() -> None:
    ids = pd.Series(["536-22-8726", "536-22-8726", "123-45-6789", None])
    assert mask(ids).tolist() == ["*******8726", "*******8726", "*******6789", None]
    tokens = tokenize(ids)
    assert tokens[0] == tokens[1] != tokens[2] and tokens[3] is None
    assert all(t.startswith("tok_") and "8726" not in t for t in tokens[:3])
    assert tokenize(ids, key=b"another key")[0] != tokens[0]
    assert token_for("536-22-8726") == tokens[0]


def test_anonymize_frame_drops_and_tokenises_identifiers(synthetic: pd.DataFrame) -> None:
    result = anonymize_frame(
        synthetic,
        quasi=QUASI,
        k=5,
        drop=["name", "email", "phone", "national_id", "address"],
        tokenize_columns=["applicant_id"],
    )
    out = result.frame
    assert not {"name", "email", "phone", "national_id", "address"} & set(out.columns)
    assert out["applicant_id"].str.startswith("tok_").all()
    assert result.report["dropped_columns"][0] == "name" and result.report["tokenised_columns"] == [
        "applicant_id"
    ]
    assert _pycanon_k(out, QUASI) >= 5
