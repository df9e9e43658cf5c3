"""Scorecards on the three public datasets (issue 11): every WoE coefficient has the right
sign, no two kept characteristics nearly duplicate each other, derived features give way to
the given columns they restate, and the points add up to the bundle's score.

The default suite fits on a stratified sample of each file (German: all 1,000 rows); the
``slow`` variants fit on every row, as ``greenscore train`` does for its final model.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from greenscore.data.loading import load_dataset
from greenscore.features.pipeline import build_feature_pipeline
from greenscore.models.registry import make_estimator
from greenscore.models.scaling import points_from_pd

DATA = Path("/work/shared/data")
CASES = [
    ("german", "german_credit.csv"),
    ("taiwan", "UCI_Credit_Card.csv"),
    ("credit_risk", "credit_risk_dataset.csv"),
]
SAMPLE_ROWS = 3000
MAX_CORRELATION = 0.9


def _fit(preset: str, file: str, rows: int | None):
    path = DATA / file
    if not path.exists():
        pytest.skip(f"public dataset not found: {path}")
    dataset = load_dataset(path, preset=preset)
    X, y = dataset.X, dataset.y  # noqa: N806
    if rows is not None and len(y) > rows:
        # Stratified: the same default rate as the file.
        rng = np.random.default_rng(0)
        picked = np.concatenate(
            [
                rng.choice(np.flatnonzero(y == k), round(rows * (y == k).mean()), replace=False)
                for k in (0, 1)
            ]
        )
        picked.sort()
        X, y = X.iloc[picked], y[picked]  # noqa: N806
    features = build_feature_pipeline(dataset.spec).fit(X, y)
    transformed = features.transform(X)
    model = make_estimator("scorecard", spec=dataset.spec).fit(transformed, y)
    return model, transformed, dataset.spec


def _check(model, transformed: pd.DataFrame, spec) -> None:
    coef = model.coefficients()
    assert (coef < 0).all(), f"wrong-sign coefficients: {coef[coef >= 0].to_dict()}"
    assert len(model.selected_) <= 20
    woe = model.woe(transformed)
    corr = np.corrcoef(woe.to_numpy(), rowvar=False) if woe.shape[1] > 1 else np.eye(1)
    np.fill_diagonal(corr, 0.0)
    worst = float(np.nanmax(np.abs(corr)))
    assert worst <= MAX_CORRELATION, f"kept characteristics correlate at |r| = {worst:.4f}"
    # Derived features restating a given column are gone; the given column stays.
    given = set(spec.feature_columns(list(transformed.columns)))
    removed = model.removal_table()
    for row in removed[removed["step"] == "near-duplicate"].itertuples():
        if row.characteristic not in given:
            assert row.partner in model.selected_ or row.partner in set(removed["characteristic"])
    # Every shown point adds up to the score the probability gives.
    per_row = model.points_by_characteristic(transformed)
    pd_ = model.predict_proba(transformed)[:, 1]
    np.testing.assert_allclose(per_row.sum(axis=1), points_from_pd(pd_), atol=1e-6)


def _issue_facts(preset: str, model) -> None:
    """The specific defects the issue reported, per dataset."""
    removed = model.removal_table().set_index("characteristic")
    table = model.scorecard_table()
    if preset == "credit_risk":
        assert removed.loc["loan_to_income", "partner"] == "loan_percent_income"
        bins = table[(table["characteristic"] == "loan_percent_income") & table["lower"].notna()]
        assert np.all(np.diff(bins["points"].to_numpy()) <= 0)  # more of income owed, fewer points
        if "cb_person_default_on_file" in model.selected_:
            card = table[table["characteristic"] == "cb_person_default_on_file"]
            yes = card[card["bin"].map(lambda b: "Y" in list(b))]["points"].iloc[0]
            no = card[card["bin"].map(lambda b: "N" in list(b))]["points"].iloc[0]
            assert yes < no
    if preset == "taiwan":
        assert "PAY_0" in model.selected_
        assert removed.loc["repayment_status_last", "partner"] == "PAY_0"


@pytest.mark.parametrize(("preset", "file"), CASES, ids=[c[0] for c in CASES])
def test_scorecard_signs_and_duplicates_on_a_sample(preset: str, file: str) -> None:
    model, transformed, spec = _fit(preset, file, rows=SAMPLE_ROWS)
    _check(model, transformed, spec)
    _issue_facts(preset, model)


@pytest.mark.slow
@pytest.mark.parametrize(("preset", "file"), CASES, ids=[c[0] for c in CASES])
def test_scorecard_signs_and_duplicates_on_every_row(preset: str, file: str) -> None:
    model, transformed, spec = _fit(preset, file, rows=None)
    _check(model, transformed, spec)
    _issue_facts(preset, model)
