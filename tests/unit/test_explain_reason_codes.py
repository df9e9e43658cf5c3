"""Adverse-action reason codes: count, protected attributes, determinism, agreement with SHAP."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import shap
from lightgbm import LGBMClassifier
from sklearn.compose import ColumnTransformer
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import FunctionTransformer, OneHotEncoder

from greenscore.data.loading import load_dataset
from greenscore.errors import DataError
from greenscore.explain.adverse_action import adverse_action_notice
from greenscore.explain.reason_codes import (
    ReasonCoder,
    attach_reason_codes,
    reason_code,
    reason_code_table,
)
from greenscore.explain.wording import feature_phrase, reason_sentence
from greenscore.features.coercion import TypeCoercer
from greenscore.models.bundle import ScoringBundle

GERMAN = "/work/shared/data/german_credit.csv"


def _german_bundle(*, use_protected: bool = False, n_estimators: int = 100):
    dataset = load_dataset(GERMAN, preset="german")
    spec = dataset.spec.model_copy(update={"use_protected_as_features": use_protected})
    X = dataset.frame[spec.feature_columns(list(dataset.frame.columns))]  # noqa: N806
    pipeline = Pipeline(
        [
            ("coerce", TypeCoercer(spec=spec)),
            (
                "model",
                LGBMClassifier(n_estimators=n_estimators, verbose=-1, n_jobs=1, random_state=0),
            ),
        ]
    ).fit(X, dataset.y)
    return ScoringBundle(name="lightgbm", spec=spec, pipeline=pipeline), dataset.frame


@pytest.fixture(scope="module")
def german():
    return _german_bundle()


@pytest.fixture(scope="module")
def german_protected():
    return _german_bundle(use_protected=True)


def _declined(bundle, frame):
    pd_ = bundle.predict_pd(bundle.model_input(frame))
    return np.flatnonzero(bundle.decisions(pd_) == "decline")


def test_four_reasons_per_declined_applicant(german):
    bundle, frame = german
    coder = ReasonCoder.from_bundle(bundle, reference=frame)
    declined = _declined(bundle, frame)
    assert len(declined) > 20
    for position in declined[:40]:
        reasons = coder.explain_one(frame.iloc[position].to_dict())
        assert len(reasons) == 4
        assert all(r.contribution > 0 for r in reasons)
        assert [r.contribution for r in reasons] == sorted(
            (r.contribution for r in reasons), reverse=True
        )
        assert all(r.code.startswith("GS") and r.text for r in reasons)


def test_never_cites_a_protected_attribute_even_when_the_model_uses_it(german_protected):
    bundle, frame = german_protected
    coder = ReasonCoder.from_bundle(bundle, reference=frame)
    contributions, _ = coder.contributions_batch(frame)
    features = coder.model_features
    # The model really leans on protected inputs, so exclusion is doing work here.
    protected_push = contributions[:, [features.index(c) for c in ("age", "personal_status")]]
    assert (protected_push > 0.05).any()
    protected = {"age", "personal_status", "foreign_worker", "sex"}
    for reasons in coder.explain_batch(frame.iloc[_declined(bundle, frame)]):
        assert len(reasons) == 4
        assert not {r.feature for r in reasons} & protected


def test_same_reasons_on_repeated_calls_and_new_coders(german):
    bundle, frame = german
    row = frame.iloc[int(_declined(bundle, frame)[0])].to_dict()
    first = ReasonCoder.from_bundle(bundle, reference=frame).explain_one(row)
    again = ReasonCoder.from_bundle(bundle, reference=frame)
    assert all(again.explain_one(row) == first for _ in range(3))


def test_contributions_agree_with_tree_explainer_in_sign_and_order(german):
    bundle, frame = german
    coder = ReasonCoder.from_bundle(bundle, reference=frame)
    transformed = bundle.features.transform(bundle.model_input(frame))
    reference = np.asarray(shap.TreeExplainer(bundle.estimator).shap_values(transformed))
    names = list(transformed.columns)
    for position in _declined(bundle, frame)[:25]:
        reasons = coder.explain_one(frame.iloc[position].to_dict())
        expected = reference[position, [names.index(r.feature) for r in reasons]]
        np.testing.assert_allclose(
            [r.contribution for r in reasons], expected, rtol=1e-6, atol=1e-9
        )
        row = frame.iloc[position]
        allowed = [
            j
            for j, n in enumerate(names)
            if reference[position, j] > 0 and coder.raises_risk(n, row[n])
        ]
        top = sorted(allowed, key=lambda j: -reference[position, j])[:4]
        assert [r.feature for r in reasons] == [names[j] for j in top]


def test_a_dict_and_a_frame_give_the_pipelines_contributions(german):
    bundle, frame = german
    coder = ReasonCoder.from_bundle(bundle, reference=frame)
    runtime = coder.runtime
    assert runtime.mode == "lightgbm" and coder.method == "treeshap" and coder.exact
    rows = [frame.iloc[p].to_dict() for p in range(0, 60, 7)]
    fast = runtime.encode(rows, [None] * len(rows))
    slow = runtime.layout.encode(bundle.features.transform(bundle.model_input(frame.iloc[0:60:7])))
    np.testing.assert_array_equal(fast.matrix, slow)
    np.testing.assert_allclose(
        coder.contributions(fast),
        bundle.estimator.booster_.predict(slow, pred_contrib=True)[:, :-1],
        rtol=0,
        atol=1e-9,
    )


def test_a_pipeline_that_changes_values_is_encoded_by_the_pipeline(german):
    bundle, frame = german
    X = bundle.model_input(frame)  # noqa: N806
    cats = [c for c in X.columns if not pd.api.types.is_numeric_dtype(X[c])]

    def scaled(d: pd.DataFrame) -> pd.DataFrame:
        out = d.astype({c: "category" for c in cats})
        out["duration"] = out["duration"] * 2.0
        return out

    pipeline = Pipeline(
        [
            ("f", FunctionTransformer(scaled)),
            ("m", LGBMClassifier(n_estimators=20, verbose=-1, n_jobs=1)),
        ]
    ).fit(X, load_dataset(GERMAN, preset="german").y)
    other = ScoringBundle(name="scaled", spec=bundle.spec, pipeline=pipeline)
    coder = ReasonCoder.from_bundle(other)
    assert coder.runtime.mode == "pipeline" and coder.exact
    contributions, _ = coder.contributions_batch(frame.iloc[[3]])
    expected = pipeline[-1].booster_.predict(
        coder.runtime.layout.encode(pipeline[:-1].transform(X.iloc[[3]])), pred_contrib=True
    )[0]
    np.testing.assert_allclose(contributions[0], expected[:-1], atol=1e-9)


def test_batch_equals_one_by_one_and_frame_layout(german):
    bundle, frame = german
    coder = ReasonCoder.from_bundle(bundle, reference=frame)
    sample = frame.iloc[:30]
    batch = coder.explain_batch(sample)
    assert batch == [coder.explain_one(sample.iloc[i].to_dict()) for i in range(30)]
    table = coder.explain_frame(sample)
    assert list(table.columns[:4]) == [
        "reason_1_code",
        "reason_1_feature",
        "reason_1_contribution",
        "reason_1_text",
    ]
    assert table["reason_1_code"].tolist() == [r[0].code if r else None for r in batch]


@pytest.mark.parametrize("max_reasons", [1, 4, 7])
def test_batch_coding_walks_each_row_as_the_row_walk_does(german, max_reasons):
    """The batch coder (ranked candidates, values judged feature by feature) gives what the
    row-by-row walk gives: on the model's scores, and on rounded scores full of ties
    across its cut and rows whose leading candidates are all on the favourable side."""
    bundle, frame = german
    coder = ReasonCoder.from_bundle(bundle, reference=frame, max_reasons=max_reasons)
    encoded, shown = coder.encode(frame.iloc[:400])
    model = np.where(coder._excluded, -np.inf, coder.contributions(encoded))
    rng = np.random.default_rng(0)
    ties = np.round(rng.normal(size=model.shape), 1)
    ties[:40, :] = 1.0  # every column tied
    for scores in (model, ties):
        order = np.argsort(-scores, axis=1, kind="stable")
        expected = [
            coder._reasons(encoded, i, scores[i], order[i], shown[i]) for i in range(len(scores))
        ]
        assert coder._coded(encoded, scores, shown) == expected
    # On the tied scores, leading candidates on the favourable side were passed over.
    assert any(r and r[0].feature != coder.features[order[i][0]] for i, r in enumerate(expected))


def test_reasons_of_a_scored_frame_are_those_of_the_frame_encoded_again(german):
    """The batch job codes reasons from the encoding (and contributions) its PD came from
    (explain_scored); the same reasons, quoting the values the input rules changed, as
    encoding the frame again for explain_batch."""
    from greenscore.data.cleaning import clean_frame
    from greenscore.data.loading import model_input

    bundle, frame = german
    coder = ReasonCoder.from_bundle(bundle, reference=frame)
    sample = frame.iloc[:120].copy()
    for column in ("checking_status", "savings_status", "credit_history"):
        # Sent in capitals: the input rules fold the case, the reasons quote what was sent.
        sample[column] = sample[column].str.upper()
    done = coder.runtime.scored_frame(sample, contributions=True)
    assert done.scored.contributions is not None
    got = coder.explain_scored(done)
    assert got == coder.explain_batch(model_input(clean_frame(sample, bundle.spec), bundle.spec))
    quoted = [r.value for row in got for r in row if r.feature == "checking_status"]
    assert quoted and all(v == v.upper() for v in quoted)


def test_codes_are_stable_hashes_and_stored_at_fit_time(german):
    bundle, frame = german
    assert reason_code("duration") == reason_code("duration") != reason_code("credit_amount")
    table = attach_reason_codes(bundle, frame)
    try:
        assert bundle.metadata.reason_codes["codes"]["duration"] == reason_code("duration")
        coder = ReasonCoder.from_bundle(bundle)
        assert coder.codes[coder.features.index("duration")] == table["codes"]["duration"]
        assert table["typical"]["duration"] == float(frame["duration"].median())
    finally:
        bundle.metadata.reason_codes = None
    codes = reason_code_table([f"feature_{i}" for i in range(2000)])
    assert len(set(codes.values())) == 2000


def test_sentences_are_specific_and_derived_features_get_plain_names(german):
    bundle, frame = german
    coder = ReasonCoder.from_bundle(bundle, reference=frame)
    row = frame.iloc[int(_declined(bundle, frame)[0])].to_dict()
    texts = {r.feature: r.text for r in coder.explain_one(row)}
    for feature, text in texts.items():
        assert bundle.spec.describe(feature).lower() in text.lower()
    assert feature_phrase("utilisation_mean", bundle.spec) == "average credit utilisation"
    assert (
        feature_phrase("dpd_max_6m", bundle.spec) == "highest days past due over the last 6 months"
    )
    assert reason_sentence("average credit utilisation", 0.92, typical=0.41).startswith(
        "Average credit utilisation is high (0.92; typical 0.41)"
    )


def test_one_hot_columns_are_reported_under_their_category():
    dataset = load_dataset(GERMAN, preset="german")
    X = dataset.X  # noqa: N806
    numeric = [c for c in X.columns if pd.api.types.is_numeric_dtype(X[c])]
    encode = ColumnTransformer(
        [
            (
                "oh",
                OneHotEncoder(sparse_output=False, handle_unknown="ignore"),
                ["purpose", "checking_status"],
            ),
            ("num", "passthrough", numeric),
        ]
    ).set_output(transform="pandas")
    pipeline = Pipeline(
        [("f", encode), ("m", LGBMClassifier(n_estimators=30, verbose=-1, n_jobs=1))]
    ).fit(X, dataset.y)
    bundle = ScoringBundle(name="onehot", spec=dataset.spec, pipeline=pipeline)
    coder = ReasonCoder.from_bundle(bundle, reference=dataset.frame)
    assert "purpose" in coder.features and "duration" in coder.features
    assert not any("purpose_" in f for f in coder.features)
    contributions, transformed = coder.contributions_batch(dataset.frame.iloc[:5])
    matrix = coder.runtime.layout.encode(transformed)
    raw = pipeline[-1].booster_.predict(matrix, pred_contrib=True)[:, :-1]
    members = [j for j, n in enumerate(coder.model_features) if n.startswith("oh__purpose_")]
    assert len(members) > 3
    np.testing.assert_allclose(
        contributions[:, coder.features.index("purpose")], raw[:, members].sum(1)
    )
    reasons = coder.explain_batch(dataset.frame.iloc[:5])
    for row, found in zip(range(5), reasons, strict=True):
        for reason in found:
            if reason.feature == "purpose":
                assert reason.value == dataset.frame["purpose"].iloc[row]


def test_missing_input_column_is_named(german):
    bundle, frame = german
    coder = ReasonCoder.from_bundle(bundle, reference=frame)
    row = frame.iloc[0].to_dict()
    del row["duration"]
    with pytest.raises(DataError, match="duration"):
        coder.explain_one(row)


def test_adverse_action_notice_for_a_declined_applicant(german):
    bundle, frame = german
    position = int(_declined(bundle, frame)[0])
    notice = adverse_action_notice(bundle, frame.iloc[[position]], reference=frame)
    assert notice["adverse_action"] is True and notice["decision"] == "decline"
    assert len(notice["key_factors"]) == 4 and len(notice["reasons"]) == 4
    low, high = notice["score_range"]["low"], notice["score_range"]["high"]
    assert low < notice["score"] < high
    assert "contest" in notice["rights"]


def test_model_agnostic_reasons_exclude_protected_attributes(german_protected):
    bundle, frame = german_protected
    pipeline = Pipeline([("coerce", bundle.pipeline[0]), ("model", _wrap(bundle.estimator))])
    opaque = ScoringBundle(name="opaque", spec=bundle.spec, pipeline=pipeline)
    coder = ReasonCoder.from_bundle(opaque, background=frame, seed=0)
    assert coder.method == "kernel"
    protected = {"age", "personal_status", "foreign_worker", "sex"}
    for position in _declined(bundle, frame)[:2]:
        reasons = coder.explain_one(frame.iloc[[position]])
        assert 1 <= len(reasons) <= 4
        assert not {r.feature for r in reasons} & protected
        assert all(r.contribution > 0 for r in reasons)


def _wrap(estimator):
    class Wrapped:
        classes_ = estimator.classes_
        feature_names_in_ = estimator.feature_names_in_

        def predict_proba(self, X):  # noqa: N803, ANN001, ANN201
            return estimator.predict_proba(X)

        def __sklearn_is_fitted__(self) -> bool:
            return True

    return Wrapped()


def test_every_synthetic_monthly_column_reads_as_a_plain_phrase():
    """A sequence's description is read inside a sentence ("Month-end balance owed 6 months
    before the latest is low"): it must be a noun phrase, not a note on the column order
    (which read "... owed, m01 oldest, m12 most recent 6 months before the latest")."""
    from greenscore.data.presets import load_preset

    spec = load_preset("synthetic")
    for group in spec.sequences:
        for months_ago, column in enumerate(reversed(group.columns)):
            phrase = feature_phrase(column, spec)
            assert "," not in phrase and "m01" not in phrase and "m12" not in phrase, phrase
            assert phrase.endswith(
                "in the latest month" if months_ago == 0 else "before the latest"
            )
    assert (
        feature_phrase("balance_m06", spec) == "month-end balance owed 6 months before the latest"
    )


def test_features_greenscore_derives_read_as_plain_phrases():
    """The history summaries and relational features of GreenScore's own steps, which a
    word-by-word reading garbled ("change in balance owed recent", "rate of relational
    linked borrowers' default")."""
    from greenscore.data.presets import load_preset

    spec = load_preset("synthetic")
    assert feature_phrase("balance_recent_change", spec) == "recent change in balance owed"
    assert feature_phrase("days_past_due_months_since_delinquent", spec) == (
        "months since the last delinquency"
    )
    assert feature_phrase("relational_neighbour_default_rate", spec) == (
        "default rate among linked borrowers"
    )
    assert (
        feature_phrase("relational_neighbour_defaults", spec) == "defaults among linked borrowers"
    )
    assert feature_phrase("payment_observed_months", spec) == "months of payments on record"
