"""Each validation rule fires on the defect it names, at its level, and stays silent on a
clean table and on the look-alike cases it must tolerate."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from greenscore.data import validation as v
from greenscore.data.spec import DatasetSpec, SequenceGroup
from greenscore.errors import DataError

N = 60


@pytest.fixture
def spec() -> DatasetSpec:
    return DatasetSpec(
        name="unit",
        target="bad",
        id_column="id",
        numeric=["income", "age", "bal_1", "bal_2", "bal_3"],
        categorical=["sex"],
        protected=["sex", "age"],
        roles={"age": "age", "income": "income"},
        amount_columns=["income"],
        sequences=[SequenceGroup(name="bal", columns=["bal_1", "bal_2", "bal_3"], kind="balance")],
    )


@pytest.fixture
def frame() -> pd.DataFrame:
    rng = np.random.default_rng(0)
    return pd.DataFrame(
        {
            "id": np.arange(1, N + 1),
            "income": rng.integers(1_000, 9_000, N).astype(float),
            "age": rng.integers(20, 70, N),
            "sex": rng.choice(["F", "M"], N),
            "bal_1": rng.integers(0, 500, N).astype(float),
            "bal_2": rng.integers(0, 500, N).astype(float),
            "bal_3": rng.integers(0, 500, N).astype(float),
            "bad": np.tile([0, 1, 0], N // 3),
        }
    )


def found(report: v.ValidationReport) -> set[tuple[str, str, str | None]]:
    return {(f.level, f.rule, f.column) for f in report.findings}


def only(report: v.ValidationReport, rule: str) -> v.Finding:
    hits = [f for f in report.findings if f.rule == rule]
    assert len(hits) == 1, report.findings
    return hits[0]


def test_clean_table_has_no_findings(frame: pd.DataFrame, spec: DatasetSpec) -> None:
    report = v.validate(frame, spec)
    assert report.findings == []
    assert report.ok and report.errors == [] and report.warnings == []


def test_declared_column_missing(frame: pd.DataFrame, spec: DatasetSpec) -> None:
    report = v.validate(frame.drop(columns="income"), spec)
    assert ("error", v.COLUMN_MISSING, "income") in found(report)
    assert not report.ok


def test_numeric_column_full_of_text_names_column_and_rows(
    frame: pd.DataFrame, spec: DatasetSpec
) -> None:
    frame["income"] = ["lots"] * N
    finding = only(v.validate(frame, spec), v.NOT_NUMERIC)
    assert (finding.level, finding.column, finding.rows) == ("error", "income", [0, 1, 2, 3, 4])
    assert (
        "'income'" in finding.message
        and "60 of 60" in finding.message
        and "'lots'" in finding.message
    )


def test_numbers_as_text_with_placeholders_are_not_an_error(
    frame: pd.DataFrame, spec: DatasetSpec
) -> None:
    text = frame["income"].astype(int).astype(str).astype(object)
    text[[3, 8]] = "?"
    text[5] = " n/a "
    frame["income"] = text
    report = v.validate(frame, spec)
    assert v.NOT_NUMERIC not in {f.rule for f in report.findings}
    frame.loc[7, "income"] = "seven"
    assert only(v.validate(frame, spec), v.NOT_NUMERIC).rows == [7]


def test_target_missing(frame: pd.DataFrame, spec: DatasetSpec) -> None:
    report = v.validate(frame.drop(columns="bad"), spec)
    assert ("error", v.TARGET_MISSING, "bad") in found(report)


def test_target_null(frame: pd.DataFrame, spec: DatasetSpec) -> None:
    frame["bad"] = frame["bad"].astype(float)
    frame.loc[[4, 9], "bad"] = np.nan
    finding = only(v.validate(frame, spec), v.TARGET_NULL)
    assert finding.level == "error" and finding.rows == [4, 9]


@pytest.mark.parametrize("values", [[0, 1, 2], [0, 0, 0]], ids=["three", "one"])
def test_target_not_binary(frame: pd.DataFrame, spec: DatasetSpec, values: list[int]) -> None:
    frame["bad"] = np.tile(values, N // 3)
    finding = only(v.validate(frame, spec), v.TARGET_NOT_BINARY)
    assert finding.level == "error"
    assert f"found {len(set(values))}" in finding.message


def test_positive_label_absent(frame: pd.DataFrame, spec: DatasetSpec) -> None:
    report = v.validate(frame, spec.model_copy(update={"positive_label": "bad"}))
    assert ("error", v.POSITIVE_LABEL_ABSENT, "bad") in found(report)


def test_duplicate_and_missing_ids(frame: pd.DataFrame, spec: DatasetSpec) -> None:
    frame["id"] = frame["id"].astype(float)
    frame.loc[10, "id"] = frame.loc[3, "id"]
    frame.loc[12, "id"] = np.nan
    report = v.validate(frame, spec)
    assert only(report, v.DUPLICATE_IDS).rows == [3, 10]
    assert only(report, v.ID_NULL).rows == [12]
    assert {f.level for f in report.findings if f.rule in {v.DUPLICATE_IDS, v.ID_NULL}} == {"error"}


def test_negative_amounts_warn_unless_most_are_negative(
    frame: pd.DataFrame, spec: DatasetSpec
) -> None:
    frame.loc[[2, 5], "income"] = -10.0
    finding = only(v.validate(frame, spec), v.NEGATIVE_AMOUNT)
    assert (finding.level, finding.column, finding.rows) == ("warning", "income", [2, 5])
    frame["income"] = -frame["income"].abs()  # a sign convention, not bad rows
    assert v.NEGATIVE_AMOUNT not in {f.rule for f in v.validate(frame, spec).findings}


def test_impossible_ages_counted(frame: pd.DataFrame, spec: DatasetSpec) -> None:
    frame.loc[[1, 6, 7], "age"] = [12, 144, 100]  # 100 is the edge: still possible
    finding = only(v.validate(frame, spec), v.IMPOSSIBLE_AGE)
    assert finding.level == "warning" and finding.rows == [1, 6]
    assert "2 impossible values" in finding.message


def test_values_outside_the_specs_bounds_warn(frame: pd.DataFrame, spec: DatasetSpec) -> None:
    spec = spec.model_copy(update={"bounds": {"bal_1": (0, 400)}})
    frame["bal_1"] = frame["bal_1"].clip(upper=400)
    assert v.validate(frame, spec).findings == []
    frame.loc[[2, 9], "bal_1"] = [-3.0, 401.0]
    finding = only(v.validate(frame, spec), v.OUTSIDE_BOUNDS)
    assert finding.level == "warning" and finding.rows == [2, 9]
    assert "2 values outside its plausible range [0, 400]" in finding.message


def test_missing_rates(frame: pd.DataFrame, spec: DatasetSpec) -> None:
    frame.loc[: int(N * 0.2) - 1, "income"] = np.nan  # exactly 20 %: tolerated
    assert v.validate(frame, spec).findings == []
    frame.loc[: int(N * 0.3) - 1, "income"] = np.nan
    finding = only(v.validate(frame, spec), v.HIGH_MISSING)
    assert (finding.level, finding.column) == ("warning", "income")
    assert "30%" in finding.message
    frame["income"] = np.nan
    report = v.validate(frame, spec)
    assert ("error", v.ALL_MISSING, "income") in found(report)
    assert v.HIGH_MISSING not in {f.rule for f in report.findings}


def test_constant_column(frame: pd.DataFrame, spec: DatasetSpec) -> None:
    frame["sex"] = "F"
    report = v.validate(frame, spec)
    assert ("warning", v.CONSTANT_COLUMN, "sex") in found(report)


def test_leakage_suspects(frame: pd.DataFrame, spec: DatasetSpec) -> None:
    rng = np.random.default_rng(1)
    frame["days_late_after_decision"] = frame["bad"] * 90 + rng.integers(0, 5, N)
    frame["collections"] = np.where(frame["bad"] == 1, "sent", "none")
    frame["weak"] = frame["bad"] * 2 + rng.normal(0, 3, N)
    report = v.validate(frame, spec)
    assert ("warning", v.LEAKAGE_SUSPECT, "days_late_after_decision") in found(report)
    assert ("warning", v.LEAKAGE_SUSPECT, "collections") in found(report)
    assert ("warning", v.LEAKAGE_SUSPECT, "weak") not in found(report)


def test_sequence_columns_missing(frame: pd.DataFrame, spec: DatasetSpec) -> None:
    finding = only(v.validate(frame.drop(columns="bal_2"), spec), v.SEQUENCE_COLUMNS_MISSING)
    assert finding.level == "error" and "bal_2" in finding.message


def test_sequence_holes_but_not_leading_gaps(frame: pd.DataFrame, spec: DatasetSpec) -> None:
    frame.loc[[0, 1], "bal_1"] = np.nan  # short histories: legitimate
    frame.loc[2, ["bal_1", "bal_2"]] = np.nan
    assert v.validate(frame, spec).findings == []
    frame.loc[5, "bal_2"] = np.nan  # a month missing between two observed ones
    frame.loc[8, "bal_3"] = np.nan  # the latest month missing after observed ones
    finding = only(v.validate(frame, spec), v.SEQUENCE_HOLES)
    assert finding.level == "warning" and finding.rows == [5, 8]


def test_duplicate_rows_ignore_the_id(frame: pd.DataFrame, spec: DatasetSpec) -> None:
    copy = frame.iloc[[4]].assign(id=999)
    report = v.validate(pd.concat([frame, copy], ignore_index=True), spec)
    finding = only(report, v.DUPLICATE_ROWS)
    assert finding.level == "warning" and finding.rows == [N]


def test_pii_column_declared_but_absent(frame: pd.DataFrame, spec: DatasetSpec) -> None:
    report = v.validate(frame, spec.model_copy(update={"pii": ["email"]}))
    assert found(report) == {("warning", v.DECLARED_ABSENT, "email")}


def test_report_api(frame: pd.DataFrame, spec: DatasetSpec) -> None:
    frame["sex"] = "F"
    report = v.validate(frame.drop(columns="bad"), spec)
    assert [f.level for f in report.findings] == ["error", "warning"]  # errors first
    data = json.loads(json.dumps(report.to_dict()))
    assert data["ok"] is False and data["errors"] == 1 and data["warnings"] == 1
    assert data["rows"] == N and data["spec"] == "unit"
    assert data["findings"][0]["rule"] == v.TARGET_MISSING
    with pytest.raises(
        DataError, match="validation failed: target column 'bad' is not in the data"
    ):
        report.raise_for_errors()
    v.validate(frame, spec).raise_for_errors()  # warnings only: no exception


def test_a_relations_table_is_checked_with_the_applications() -> None:
    """A link without an id is refused by train and score alike: validate says so first,
    naming the column and the rows; links naming none of the table's ids (say, ids read
    as text) are a warning."""
    from greenscore.data.presets import load_preset

    spec = load_preset("synthetic")
    apps = pd.DataFrame({"applicant_id": [1, 2, 3], "default": [0, 1, 0]})
    links = pd.DataFrame({"source_id": [1, 2, None], "target_id": [2, 3, 1]})
    found = v._relation_findings(apps, spec, links)
    assert [(f.level, f.rule, f.column, f.rows) for f in found] == [
        ("error", v.RELATION_ENDPOINT_MISSING, "source_id", [2])
    ]
    as_text = pd.DataFrame({"source_id": ["1", "2"], "target_id": ["2", "3"]})
    found = v._relation_findings(apps, spec, as_text)
    assert [(f.level, f.rule) for f in found] == [("warning", v.RELATIONS_UNMATCHED)]
    assert "'1', '2', '3' against 1, 2, 3" in found[0].message
    assert v._relation_findings(apps, spec, links.dropna()) == []
    assert v._relation_findings(apps, spec, None) == []
