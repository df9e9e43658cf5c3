"""The scorecard's points table outside Python: CSV, Excel and SQL give the bundle's points.

Every format is checked the way a reviewer or a warehouse would use it: look each
applicant's bins up in the exported table (or run the SQL) and add the points; the sum
must be the score the bundle gives for the same applicant.
"""

from __future__ import annotations

import json
import sqlite3

import numpy as np
import pandas as pd
import pytest
from sklearn.pipeline import Pipeline

from greenscore.data.spec import DatasetSpec
from greenscore.errors import ModelError
from greenscore.models.bundle import ScoringBundle
from greenscore.models.scorecard import WoEScorecardClassifier
from greenscore.models.scorecard_export import (
    SCORECARD_CSV,
    scorecard_of,
    scorecard_sql,
    write_beside_bundle,
    write_csv,
    write_xlsx,
)


def _applications(n: int, seed: int) -> tuple[pd.DataFrame, np.ndarray]:
    rng = np.random.default_rng(seed)
    X = pd.DataFrame(  # noqa: N806
        {
            "income": rng.lognormal(10, 0.5, n),
            "utilisation": rng.uniform(0, 1, n),
            "housing": rng.choice(["own", "rent", "mortgage", "o'brien"], n),
        }
    )
    missing = rng.random(n) < 0.08
    X.loc[missing, "income"] = np.nan
    logit = (
        -1.5
        + 3.0 * X["utilisation"]
        - 0.8 * (np.log(X["income"].fillna(20_000)) - 10)
        + 0.7 * (X["housing"] == "rent")
        + 1.0 * missing
    )
    y = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(int)
    return X, y


@pytest.fixture(scope="module")
def data() -> tuple[pd.DataFrame, np.ndarray]:
    return _applications(1500, seed=0)


@pytest.fixture(scope="module")
def bundle(data) -> ScoringBundle:
    X, y = data  # noqa: N806
    pipeline = Pipeline([("model", WoEScorecardClassifier())]).fit(X, y)
    spec = DatasetSpec(
        name="toy", target="default", numeric=["income", "utilisation"], categorical=["housing"]
    )
    return ScoringBundle(name="scorecard", spec=spec, pipeline=pipeline)


@pytest.fixture(scope="module")
def rows(data, bundle) -> pd.DataFrame:
    """Applicants that reach every branch: missing values, an unseen category, split points."""
    X, _ = data  # noqa: N806
    out = X.head(40).copy()
    out.loc[out.index[0], "housing"] = "castle"  # never seen in training
    out.loc[out.index[1], "housing"] = None
    out.loc[out.index[2], "utilisation"] = np.nan
    splits = bundle.estimator.splits("utilisation")
    out.loc[out.index[3 : 3 + len(splits)], "utilisation"] = splits  # exactly on a split
    return out


def _bundle_points(bundle: ScoringBundle, frame: pd.DataFrame) -> np.ndarray:
    return bundle.points(bundle.predict_pd(frame))


def test_sql_run_in_sqlite_gives_the_bundles_points(bundle, rows) -> None:
    sql = scorecard_sql(bundle.estimator, name=bundle.name, table="apps")
    with sqlite3.connect(":memory:") as con:
        rows.to_sql("apps", con, index=False)
        got = pd.read_sql(sql, con)
    assert list(got.columns[:3]) == list(rows.columns)
    np.testing.assert_allclose(got["scorecard_points"], _bundle_points(bundle, rows), atol=1e-6)


@pytest.mark.services
def test_sql_run_in_postgresql_gives_the_bundles_points(bundle, rows, postgres_schema_url) -> None:
    from sqlalchemy import create_engine, text

    engine = create_engine(postgres_schema_url)
    try:
        rows.to_sql("applications", engine, index=False)
        with engine.connect() as conn:
            got = pd.read_sql(text(scorecard_sql(bundle.estimator)), conn)
    finally:
        engine.dispose()
    np.testing.assert_allclose(got["scorecard_points"], _bundle_points(bundle, rows), atol=1e-6)


def _lookup(table: pd.DataFrame, column: str, value: object, categorical: bool) -> float:
    """The points of the bin a value falls in, read from an exported table as a person would."""
    part = table[table["characteristic"] == column]
    missing = float(part.loc[part["bin"] == "Missing", "points"].iloc[0])
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return missing
    for _, row in part.iterrows():
        if categorical and row["bin"] not in ("Special", "Missing"):
            if str(value) in json.loads(row["bin"]):
                return float(row["points"])
        elif not categorical and pd.notna(row["lower"]):
            if float(row["lower"]) <= float(value) < float(row["upper"]):
                return float(row["points"])
    return missing  # a category the table does not list scores as Missing


def _table_points(table: pd.DataFrame, frame: pd.DataFrame, estimator) -> np.ndarray:
    return np.array(
        [
            sum(
                _lookup(table, c, record[c], c in estimator.categorical_)
                for c in estimator.selected_
            )
            for record in frame.to_dict("records")
        ]
    )


def test_csv_rows_add_up_to_the_bundles_points(bundle, rows, tmp_path) -> None:
    path = write_csv(bundle.estimator, tmp_path / "points.csv")
    # Exact split points: bins are [lower, upper), and a value can sit on a split.
    table = pd.read_csv(path, float_precision="round_trip")
    assert list(table.columns[:5]) == ["characteristic", "bin_id", "bin", "lower", "upper"]
    assert {"count", "bad_rate", "woe", "coefficient", "points"} <= set(table.columns)
    got = _table_points(table, rows, bundle.estimator)
    np.testing.assert_allclose(got, _bundle_points(bundle, rows), atol=1e-6)


def test_the_missing_bin_that_holds_data_has_its_own_points(bundle) -> None:
    table = bundle.estimator.scorecard_table()
    income = table[table["characteristic"] == "income"].set_index("bin")
    assert income.loc["Missing", "count"] > 0
    assert income.loc["Missing", "woe"] < 0  # riskier than average, so fewer points
    assert income.loc["Missing", "points"] < income.loc["Special", "points"]  # Special: neutral


def test_xlsx_has_points_removed_and_scaling_sheets(bundle, rows, tmp_path) -> None:
    path = write_xlsx(bundle.estimator, tmp_path / "card.xlsx")
    sheets = pd.read_excel(path, sheet_name=None)
    assert set(sheets) == {"points", "removed", "scaling"}
    got = _table_points(sheets["points"], rows, bundle.estimator)
    np.testing.assert_allclose(got, _bundle_points(bundle, rows), atol=1e-6)
    scaling = sheets["scaling"].set_index("setting")["value"].to_dict()
    assert scaling == {"base_score": 600.0, "base_odds": 50.0, "pdo": 20.0}


def test_saving_a_bundle_writes_the_points_table_beside_it(bundle, tmp_path) -> None:
    folder = bundle.save(tmp_path / "model")
    table = pd.read_csv(folder / SCORECARD_CSV)
    assert set(table["characteristic"]) == set(bundle.estimator.selected_)
    # Another kind of model saved into the same folder takes the stale table away.
    assert write_beside_bundle(object(), folder) is None
    assert not (folder / SCORECARD_CSV).exists()


def test_a_model_without_points_is_refused_by_name() -> None:
    class _Bundle:
        name = "lightgbm"
        estimator = object()

    with pytest.raises(ModelError, match="model 'lightgbm' .* has no points table"):
        scorecard_of(_Bundle())
