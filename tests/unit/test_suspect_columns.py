"""Inferred specs keep identifier-like and broken numeric columns out of the features, and
validation warns about them (issue 21, point 7)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from greenscore.data.infer import infer_spec
from greenscore.data.spec import DatasetSpec
from greenscore.data.validation import BROKEN_NUMERIC, IDENTIFIER_LIKE, validate

N = 40


def _frame() -> pd.DataFrame:
    rng = np.random.default_rng(0)
    return pd.DataFrame(
        {
            # Distinct text keys not named like an id: inference cannot tell them by name.
            "contract": [f"C-{7000 + 13 * i:05d}-X" for i in range(N)],
            # Money as text with currency and thousands separators: not numbers at all.
            "monthly_income": [f"{1000 + 37 * i:,} EUR" for i in range(N)],
            "purpose": rng.choice(["car", "home", "study"], N),
            "duration": rng.integers(6, 48, N),
            "bad": np.tile([0, 1, 0, 0], N // 4),
        }
    )


def test_an_inferred_spec_drops_both_and_says_why() -> None:
    spec = infer_spec(_frame(), target="bad")
    features = spec.feature_columns(list(_frame().columns))
    assert "contract" not in features and "monthly_income" not in features
    assert {"contract", "monthly_income"} <= set(spec.drop)
    assert "distinct text" in spec.descriptions["contract"]
    assert "named like an amount" in spec.descriptions["monthly_income"]
    assert "'1,000 EUR'" in spec.descriptions["monthly_income"]
    assert features == ["purpose", "duration"]


def test_validation_with_the_inferred_spec_warns_and_names_the_columns() -> None:
    frame = _frame()
    report = validate(frame, infer_spec(frame, target="bad"))
    by_rule = {f.rule: f for f in report.warnings}
    assert by_rule[IDENTIFIER_LIKE].column == "contract"
    assert "kept out of the features" in by_rule[IDENTIFIER_LIKE].message
    assert by_rule[BROKEN_NUMERIC].column == "monthly_income"
    assert "kept out of the features" in by_rule[BROKEN_NUMERIC].message
    assert report.ok


def test_a_written_spec_that_uses_them_keeps_them_and_is_still_warned() -> None:
    frame = _frame()
    spec = DatasetSpec(target="bad", categorical=["contract", "purpose"], numeric=["duration"])
    assert "contract" in spec.feature_columns(list(frame.columns))
    report = validate(frame, spec, max_category_levels=100)
    (finding,) = [f for f in report.warnings if f.rule == IDENTIFIER_LIKE]
    assert "is a feature because the spec does not drop it" in finding.message


def test_ordinary_columns_are_not_suspects() -> None:
    frame = _frame().drop(columns=["contract", "monthly_income"])
    # Numbers with one text marker stay numeric; a short table's distinct values are no key.
    frame["loan_amount"] = [str(500 + i) for i in range(N - 1)] + ["unknown"]
    frame["branch"] = [f"b{i}" for i in range(N)]
    small = frame.head(10)
    assert {f.rule for f in validate(small, infer_spec(small, target="bad")).warnings}.isdisjoint(
        {IDENTIFIER_LIKE, BROKEN_NUMERIC}
    )
    spec = infer_spec(frame, target="bad")
    assert "loan_amount" in spec.numeric
    assert "branch" in spec.drop  # 40 distinct texts in 40 rows: a key after all
