"""Adverse-action reasons point the way they raised risk (issue 11, item 4).

The acceptance check: over every out-of-fold decline of a cross-validation on credit_risk
and Taiwan, no principal reason is a factor whose value lies on the favourable side of
typical. "Favourable" is defined here from the training fold's outcomes alone, without
the coder: a numeric feature whose Spearman correlation with default is clear has its
favourable side below typical (rho > 0) or above it (rho < 0); a category whose default
rate is below the portfolio's is favourable.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from lightgbm import LGBMClassifier
from scipy.stats import spearmanr
from sklearn.pipeline import Pipeline

from greenscore.data.loading import Dataset, load_dataset
from greenscore.errors import DataError
from greenscore.evaluation.cv import make_folds
from greenscore.explain.adverse_action import adverse_action_notice
from greenscore.explain.feature_map import model_frame, select_model_input
from greenscore.explain.reason_codes import ReasonCoder, attach_reason_codes
from greenscore.explain.reason_sides import RiskSides, build_sides
from greenscore.features.coercion import TypeCoercer
from greenscore.features.imbalance import build_model_pipeline
from greenscore.features.pipeline import build_feature_pipeline
from greenscore.models.bundle import ScoringBundle
from greenscore.models.registry import make_estimator

DATA = {
    "credit_risk": "/work/shared/data/credit_risk_dataset.csv",
    "taiwan": "/work/shared/data/UCI_Credit_Card.csv",
}
# Fewer, faster boosting rounds than the product's early-stopped default: same model family,
# same constraints, seconds per fold.
FAST_LIGHTGBM = {"learning_rate": 0.08, "n_estimators": 200, "early_stopping_rounds": None}
MIN_RHO, MAX_P, MIN_ROWS = 0.05, 0.01, 30


def _sample(name: str, n: int | None) -> Dataset:
    full = load_dataset(DATA[name], preset=name)
    frame = full.frame if n is None else full.frame.sample(n=n, random_state=0)
    frame = frame.reset_index(drop=True)
    return Dataset(frame=frame, spec=full.spec, location=full.location, sha256="", relations=None)


def _favourable_sides(transformed: pd.DataFrame, y: np.ndarray, categorical: dict) -> dict:
    """Per feature, from outcomes only: ('num', direction) or ('cat', favourable labels)."""
    out = {}
    for column in transformed.columns:
        values = transformed[column]
        if categorical.get(column):
            frame = pd.DataFrame({"v": values.astype(str), "y": y})
            stats = frame.groupby("v")["y"].agg(["size", "mean"])
            good = stats[(stats["size"] >= MIN_ROWS) & (stats["mean"] < y.mean())].index
            out[column] = ("cat", set(good))
        else:
            numbers = pd.to_numeric(values, errors="coerce")
            known = numbers.notna().to_numpy()
            if known.sum() < MIN_ROWS or numbers.nunique() < 2:
                continue
            rho, p = spearmanr(numbers[known], y[known])
            if abs(rho) >= MIN_RHO and p <= MAX_P:
                out[column] = ("num", int(np.sign(rho)))
    return out


def _is_favourable(side, value, typical) -> bool:
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return False
    kind, what = side
    if kind == "cat":
        return str(value) in what
    return typical is not None and (float(value) - typical) * what < 0


def _cross_validated_reasons(name: str, model: str, *, n: int | None, params: dict) -> dict:
    """Every out-of-fold decline's reasons, checked against the fold's outcome sides."""
    dataset = _sample(name, n)
    X, y = dataset.X, dataset.y  # noqa: N806
    counts = {"declines": 0, "reasons": 0, "favourable": 0, "old_rule_favourable": 0}
    examples = []
    for train, valid in make_folds(y, strategy="stratified", n_splits=3, seed=0):
        estimator = make_estimator(model, spec=dataset.spec, seed=0, params=params)
        pipeline = build_model_pipeline(build_feature_pipeline(dataset.spec), estimator)
        pipeline.fit(X.iloc[train], y[train])
        bundle = ScoringBundle(name=model, spec=dataset.spec, pipeline=pipeline)
        table = attach_reason_codes(bundle, X.iloc[train], y[train])
        coder = ReasonCoder.from_bundle(bundle)
        reference = model_frame(bundle, select_model_input(bundle, X.iloc[train]))
        sides = _favourable_sides(reference, y[train], table["categorical"])
        pd_ = bundle.predict_pd(X.iloc[valid])
        declined = X.iloc[valid].iloc[np.flatnonzero(bundle.decisions(pd_) == "decline")]
        counts["declines"] += len(declined)
        contributions, transformed = coder.contributions_batch(declined)
        protected = coder.table()["protected"].to_numpy()
        for i, reasons in enumerate(coder.explain_batch(declined)):
            counts["reasons"] += len(reasons)
            for reason in reasons:
                assert reason.contribution > 0
                side = sides.get(reason.feature)
                if side and _is_favourable(
                    side, reason.value, table["typical"].get(reason.feature)
                ):
                    counts["favourable"] += 1
                    examples.append(reason.text)
            # The old rule: the four largest positive contributions, whatever their side.
            push = np.where(protected, -np.inf, contributions[i])
            for j in np.argsort(-push, kind="stable")[:4]:
                feature = coder.features[j]
                if push[j] > 0 and feature in sides:
                    value = transformed[feature].iat[i] if feature in transformed else None
                    typical = table["typical"].get(feature)
                    counts["old_rule_favourable"] += _is_favourable(sides[feature], value, typical)
    counts["examples"] = examples[:10]
    return counts


@pytest.mark.parametrize("name", ["credit_risk", "taiwan"])
def test_no_out_of_fold_decline_cites_a_favourable_value(name):
    counts = _cross_validated_reasons(name, "lightgbm", n=4000, params=FAST_LIGHTGBM)
    assert counts["declines"] > 300
    # Reasons are still given: the guard removes wrong-way factors, not the notice.
    assert counts["reasons"] >= 3 * counts["declines"]
    assert counts["favourable"] == 0, counts["examples"]
    if name == "credit_risk":
        # Without the guard, positive contributions alone cite favourable values here.
        assert counts["old_rule_favourable"] > 0


@pytest.mark.slow
@pytest.mark.parametrize("model", ["lightgbm", "scorecard"])
@pytest.mark.parametrize("name", ["credit_risk", "taiwan"])
def test_no_out_of_fold_decline_cites_a_favourable_value_full_size(name, model):
    counts = _cross_validated_reasons(name, model, n=None, params={})
    assert counts["declines"] > 1000
    assert counts["reasons"] >= 2 * counts["declines"]
    assert counts["favourable"] == 0, counts["examples"]


# ------------------------------------------------------------------ the side rules
def _sides(**sides):
    features = list(sides)
    return RiskSides(
        {f: s for f, s in sides.items() if s is not None},
        features,
        [5.0 if f.startswith("num") else None for f in features],
    )


def test_a_numeric_value_is_cited_only_on_the_side_where_risk_rises():
    sides = _sides(num_income={"model": -1, "data": 0}, num_debt={"model": 1, "data": 1})
    assert not sides.raises_risk(0, 6.0)  # income above typical: favourable
    assert sides.raises_risk(0, 4.0)
    assert not sides.raises_risk(0, 5.0)  # at typical: neither side
    assert sides.raises_risk(0, None) and sides.raises_risk(0, float("nan"))  # "not recorded"
    assert sides.raises_risk(1, 7.0) and not sides.raises_risk(1, 2.0)


def test_observed_outcomes_veto_a_side_the_model_alone_would_cite():
    sides = _sides(num_amount={"model": -1, "data": 1})
    assert not sides.raises_risk(0, 2.0)  # the model says low is risky, the data says not
    assert not sides.raises_risk(0, 8.0)


def test_without_a_clear_trend_the_dependence_is_compared_point_to_point():
    curve = {
        "model": 0,
        "data": 0,
        "grid": [0.0, 5.0, 7.0, 10.0],
        "log_odds": [0.5, -0.2, -0.2, 0.4],
    }
    sides = _sides(num_age=curve)
    assert sides.raises_risk(0, 1.0) and sides.raises_risk(0, 9.0)  # a U: both ends are risky
    assert not sides.raises_risk(0, 6.5)  # flat between 5 and 7: no higher than typical


def test_a_category_is_cited_only_when_its_own_effect_raises_risk():
    categories = {
        "Y": {"model": 0.8, "data": 0.15},
        "N": {"model": -0.2, "data": -0.05},
        "X": {"model": 0.1, "data": -0.01},
        "2": {"model": 0.3, "data": None},
    }
    sides = _sides(default_on_file={"categories": categories})
    assert sides.raises_risk(0, "Y")
    assert not sides.raises_risk(0, "N")
    assert not sides.raises_risk(0, "X")  # the model pushes it up, its default rate is lower
    assert sides.raises_risk(0, 2.0)  # 2.0 and "2" are one category
    assert sides.raises_risk(0, "never seen")


def test_partial_dependence_gives_a_direction_to_an_unconstrained_model():
    rng = np.random.default_rng(0)
    n = 2000
    X = pd.DataFrame({"income": rng.normal(50, 10, n), "noise": rng.normal(size=n)})  # noqa: N806
    y = (rng.random(n) < 1 / (1 + np.exp(0.15 * (X["income"] - 50)))).astype(int)
    model = LGBMClassifier(n_estimators=60, verbose=-1, n_jobs=1, random_state=0).fit(X, y)
    spec = load_dataset(DATA["credit_risk"], preset="credit_risk").spec
    bundle = ScoringBundle(name="lgbm", spec=spec, pipeline=Pipeline([("model", model)]))
    sides = build_sides(bundle, X, features=["income", "noise"], categorical={}, y=y)
    assert sides["income"]["model"] == -1 and sides["income"]["data"] == -1
    assert sides["income"]["source"] == "partial dependence"
    assert sides["noise"]["data"] == 0


# ------------------------------------------------------------------ wording and shown values
@pytest.fixture(scope="module")
def credit_coder():
    dataset = _sample("credit_risk", 3000)
    spec = dataset.spec
    pipeline = Pipeline(
        [
            ("coerce", TypeCoercer(spec=spec)),
            ("model", make_estimator("lightgbm", spec=spec, seed=0, params=FAST_LIGHTGBM)),
        ]
    ).fit(dataset.X, dataset.y)
    bundle = ScoringBundle(name="lightgbm", spec=spec, pipeline=pipeline)
    attach_reason_codes(bundle, dataset.X, dataset.y)
    return ReasonCoder.from_bundle(bundle), dataset


def test_reasons_quote_the_value_sent_not_the_clipped_one(credit_coder):
    coder, dataset = credit_coder
    floor = float(dataset.X["person_income"].min())
    rows = dataset.X.assign(person_income=floor).iloc[:200]
    cited = [
        i
        for i in range(len(rows))
        if "person_income" in {r.feature for r in coder.explain_one(rows.iloc[i].to_dict())}
    ]
    assert cited, "a training-minimum income is a reason for some applicant"
    row = rows.iloc[cited[0]].to_dict()
    reason = next(
        r for r in coder.explain_one(row, {"person_income": -60000}) if r.feature == "person_income"
    )
    assert reason.value == -60000
    assert reason.text.startswith("Annual income is low (-60,000; typical ")
    batch = coder.explain_batch(rows.iloc[[cited[0]]], [{"person_income": -60000}])
    assert [r.text for r in batch[0]] == [
        r.text for r in coder.explain_one(row, {"person_income": -60000})
    ]
    with pytest.raises(DataError, match="shown has 2 entries but X has 1 rows"):
        coder.explain_batch(rows.iloc[[cited[0]]], [{}, {}])
    notice = adverse_action_notice(
        coder.bundle, rows.iloc[[cited[0]]], coder=coder, shown={"person_income": -60000}
    )
    assert any(text.startswith("Annual income is low (-60,000; ") for text in notice["reasons"])


def test_income_above_typical_is_never_a_reason(credit_coder):
    coder, dataset = credit_coder
    typical = coder.typical_value("person_income")
    above = dataset.X[dataset.X["person_income"] > typical]
    for reasons in coder.explain_batch(above.iloc[:400]):
        assert "person_income" not in {r.feature for r in reasons}
    assert not coder.raises_risk("person_income", typical * 1.1)
    assert coder.raises_risk("person_income", typical * 0.5)
    assert not coder.raises_risk("cb_person_default_on_file", "N")
