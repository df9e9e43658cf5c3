"""Synthetic portfolios: the column plan and its round trip, the Gaussian copula, Faker PII,
no copies of real rows, the spec that travels, and the three families of quality."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from greenscore.config import Settings, use_settings
from greenscore.data.loading import Dataset, load_dataset
from greenscore.data.presets import load_preset
from greenscore.data.spec import DatasetSpec
from greenscore.data.synthesize import plan_layout, spec_path, synthesize, write_spec
from greenscore.data.synthesize.copula import GaussianCopulaSynthesizer
from greenscore.data.synthesize.layout import FLAG_SUFFIX, MISSING_LEVEL
from greenscore.data.synthesize.pii import fake_column, provider_for
from greenscore.data.synthesize.report import assess, write_quality_report
from greenscore.data.synthesize.synthesizer import (
    BAD_METHOD,
    KEEPS_COPYING,
    MAX_REDRAWS,
    _without_copies,
)
from greenscore.data.synthetic import generate
from greenscore.errors import ConfigError, ModelError

TAIWAN = "/work/shared/data/UCI_Credit_Card.csv"


@lru_cache(maxsize=1)
def _generated() -> Dataset:
    data = generate(1500, seed=2)
    return Dataset(
        frame=data.applications,
        spec=load_preset("synthetic"),
        location="generated",
        sha256="t",
        relations=data.relations,
    )


# ---------------------------------------------------------------- the plan
def test_the_plan_learns_features_target_protected_and_dates_but_not_ids_pii_or_drops() -> None:
    ds = _generated()
    layout = plan_layout(ds.frame, ds.spec)
    assert layout.id_column == "applicant_id"
    assert set(layout.pii) == {"name", "email", "phone", "national_id", "address"}
    assert layout.left_out == ["employer_id"]
    assert {"age", "sex", "marital_status", "default", "application_date"} <= set(layout.learnt)
    assert layout.time_column == "application_date"
    assert "loan_term_months" in layout.discrete  # five integer values: learnt as levels
    assert "income" in layout.flags and layout.flags["income"] == f"income{FLAG_SUFFIX}"


def test_encode_then_decode_gives_the_real_columns_back() -> None:
    ds = _generated()
    layout = plan_layout(ds.frame, ds.spec)
    table = layout.encode(ds.frame)
    assert not table[layout.numeric].isna().any().any()  # learners get no missing numbers
    assert (table["income" + FLAG_SUFFIX] == "1").sum() == ds.frame["income"].isna().sum()
    assert MISSING_LEVEL not in set(table["sex"])
    back = layout.decode(table)
    for column in layout.learnt:
        real, decoded = ds.frame[column].reset_index(drop=True), back[column]
        if column == "application_date":
            assert (pd.to_datetime(decoded) == real.dt.normalize()).all()
        elif pd.api.types.is_numeric_dtype(real):
            np.testing.assert_allclose(decoded.astype(float), real.astype(float), err_msg=column)
            assert decoded.dtype == real.dtype, column
        else:
            assert (decoded.astype(str) == real.astype(str)).all(), column


def test_decode_holds_numbers_to_the_real_domain() -> None:
    ds = _generated()
    layout = plan_layout(ds.frame, ds.spec)
    table = layout.encode(ds.frame.head(5))
    table["credit_history_years"] = [-50.0, 1e6, 3.3, 4.4, 5.5]
    table["age"] = (
        ["17", "200", "30", "31", "32"] if "age" in layout.discrete else [15.2, 300.7, 30, 31, 32]
    )
    decoded = layout.decode(table)
    low, high = layout.bounds["credit_history_years"]
    assert decoded["credit_history_years"].between(low, high).all()
    if "age" not in layout.discrete:
        assert decoded["age"].between(*layout.bounds["age"]).all()
        assert (decoded["age"] % 1 == 0).all()


# ---------------------------------------------------------------- the copula
def test_the_copula_keeps_marginals_and_correlation() -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(0, 1, 4000)
    table = pd.DataFrame(
        {
            "x": np.exp(x),  # skewed
            "y": 2 * x + rng.normal(0, 1, 4000),
            "level": np.where(x > 1, "high", np.where(rng.random(4000) < 0.3, "a", "b")),
        }
    )
    model = GaussianCopulaSynthesizer(seed=1).fit(table, ["level"])
    sample = model.sample(4000)
    assert abs(np.median(sample["x"]) - np.median(table["x"])) < 0.05
    assert sample["x"].min() >= table["x"].min() and sample["x"].max() <= table["x"].max()
    assert abs(np.corrcoef(np.log(sample["x"]), sample["y"])[0, 1] - 0.894) < 0.03
    shares = sample["level"].value_counts(normalize=True)
    real = table["level"].value_counts(normalize=True)
    assert (shares - real).abs().max() < 0.03
    high = sample[sample["level"] == "high"]["x"]
    assert high.median() > 2.0  # the level follows its column, as in the real rows


# ---------------------------------------------------------------- PII
def test_pii_is_made_up_by_faker_reproducibly_and_by_what_the_column_holds() -> None:
    assert provider_for("email")[0] == "email" and provider_for("Home_Address")[0] == "address"
    assert provider_for("national_id")[0] == "national"
    first = fake_column("email", 50, seed=7)
    assert (first == fake_column("email", 50, seed=7)).all()
    assert not (first == fake_column("email", 50, seed=8)).all()
    assert all("@" in value for value in first)


# ---------------------------------------------------------------- a whole run
@pytest.fixture(scope="module")
def generated_run():
    return synthesize(_generated(), rows=800, method="copula", seed=3, hold_out=True)


def test_synthetic_rows_keep_the_columns_and_domain_but_no_real_row_or_person(
    generated_run,
) -> None:
    real, result = _generated().frame, generated_run
    frame = result.frame
    assert list(frame.columns) == [c for c in real.columns if c != "employer_id"]
    assert frame["applicant_id"].tolist() == list(range(1, 801))
    # Never a real value (names are left out: the generator's are Faker's too, and common
    # names recur by chance).
    for column in ("email", "phone", "national_id", "address"):
        assert not set(frame[column]) & set(real[column]), column
    assert frame["name"].str.contains(" ").all()
    for column in ("sex", "marital_status", "education", "region", "loan_purpose"):
        assert set(frame[column].dropna()) <= set(real[column].dropna()), column
    assert frame["age"].between(real["age"].min(), real["age"].max()).all()
    assert (frame["age"] % 1 == 0).all() and frame["default"].isin([0, 1]).all()
    assert 0 < frame["income"].isna().sum() < 60  # missing values kept, about 1 %
    learnt = result.layout.learnt
    real_rows = set(map(tuple, real[learnt].astype(str).to_numpy()))
    assert not any(tuple(r) in real_rows for r in frame[learnt].astype(str).to_numpy())


def test_the_spec_travels_with_the_data(generated_run, tmp_path: Path) -> None:
    spec = _generated().spec
    out = tmp_path / "synthetic.parquet"
    generated_run.frame.to_parquet(out, index=False)
    written = write_spec(generated_run, out)
    assert written == spec_path(out) == tmp_path / "synthetic.spec.yaml"
    text = written.read_text()
    assert "PII columns hold Faker values, never real ones" in text
    travelled = DatasetSpec.from_yaml(written)
    for field in ("protected", "pii", "immutable", "categorical", "numeric", "target", "roles"):
        assert getattr(travelled, field) == getattr(spec, field), field
    assert travelled.relations is None and travelled.drop == []
    assert yaml.safe_load(text)["name"] == "synthetic-synthetic"
    again = load_dataset(out, spec_path=written)
    assert len(again.frame) == 800 and again.y.sum() > 0


def test_a_learner_that_copies_real_rows_is_redrawn_and_then_refused() -> None:
    ds = _generated()
    layout = plan_layout(ds.frame, ds.spec)
    real_table = layout.encode(ds.frame)

    class Copier:
        """Returns real rows: the worst learner there is."""

        def sample(self, rows: int, *, seed: int | None = None) -> pd.DataFrame:
            return real_table.head(rows).reset_index(drop=True)

    class Repentant:
        def __init__(self) -> None:
            self.fresh = GaussianCopulaSynthesizer(seed=0).fit(
                real_table, layout.learner_categorical
            )

        def sample(self, rows: int, *, seed: int | None = None) -> pd.DataFrame:
            return self.fresh.sample(rows, seed=seed)

    copies = layout.decode(real_table.head(5))
    fixed, replaced = _without_copies(copies.copy(), ds.frame, Repentant(), layout, seed=0)
    assert replaced == 5
    with pytest.raises(ModelError) as err:
        _without_copies(copies.copy(), ds.frame, Copier(), layout, seed=0)
    assert str(err.value) == KEEPS_COPYING.format(n=5, rounds=MAX_REDRAWS)


def test_an_unknown_method_is_refused() -> None:
    with pytest.raises(ConfigError) as err:
        synthesize(_generated(), rows=10, method="gan")
    assert str(err.value) == BAD_METHOD.format(choices="ctgan, copula", method="gan")


# ---------------------------------------------------------------- quality
def test_the_quality_report_shows_all_three_families(generated_run, tmp_path: Path) -> None:
    use_settings(Settings(home=tmp_path / "home"))
    try:
        quality = assess(generated_run)
    finally:
        use_settings(None)
    fidelity, privacy, utility = quality["fidelity"], quality["privacy"], quality["utility"]
    assert (
        0.8 < fidelity["column_shapes"]["score"] <= 1
        and 0.5 < fidelity["pair_trends"]["score"] <= 1
    )
    assert {c["column"] for c in fidelity["column_shapes"]["columns"]} == set(
        generated_run.layout.learnt
    )
    assert privacy["exact_copies"] == 0
    assert privacy["dcr"]["synthetic_median"] > 0 and privacy["dcr"]["holdout_median"] > 0
    assert 0.3 < privacy["membership_inference_auc"] < 0.7
    assert 0.5 < utility["tstr_auc"] <= 1 and 0.5 < utility["trtr_auc"] <= 1
    assert utility["ratio"] == pytest.approx(utility["tstr_auc"] / utility["trtr_auc"])
    assert "sex" not in utility["features"] and "default" not in utility["features"]
    files = write_quality_report(quality, tmp_path / "report")
    page = files["html"].read_text()
    for heading in ("<h2>Fidelity</h2>", "<h2>Privacy</h2>", "<h2>Utility</h2>"):
        assert heading in page


def test_a_small_taiwan_sample_is_useful_after_the_copula() -> None:
    ds = load_dataset(TAIWAN, preset="taiwan")
    ds.frame = ds.frame.sample(3000, random_state=0).reset_index(drop=True)
    result = synthesize(ds, rows=3000, method="copula", seed=0, hold_out=True)
    quality = assess(result)
    assert quality["utility"]["ratio"] > 0.85, quality["utility"]
    assert quality["privacy"]["exact_copies"] == 0
