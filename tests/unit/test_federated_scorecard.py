"""The federated scorecard's pieces against their central counterparts.

Binning a pooled histogram must give what optbinning gives on the pooled rows (same
candidate splits); federated Newton steps must give scikit-learn's L2 logistic regression
on the pooled WoE; the WoE surrogate must carry the exact correlation; and the fitted
model must read like the central scorecard (points add up, exact contributions, the same
points-table columns, CSV export).
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from optbinning import OptimalBinning
from sklearn.linear_model import LogisticRegression

from greenscore.errors import ModelError
from greenscore.federated import scorecard_server as server
from greenscore.federated.scorecard_client import histogram_shares, newton_terms
from greenscore.federated.scorecard_model import ERR_FIT, FederatedScorecardClassifier
from greenscore.models.scaling import points_from_pd
from greenscore.models.scorecard_export import write_csv


def _lender(seed: int, n: int) -> tuple[pd.DataFrame, np.ndarray]:
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(
        {
            "util": rng.uniform(0, 1, n),
            "late": rng.poisson(0.5, n).astype(float),
            "grade": rng.choice(["A", "B", "C"], n),
        }
    )
    frame.loc[rng.random(n) < 0.05, "util"] = np.nan
    logit = (
        -2.0 + 2.5 * frame["util"].fillna(0.5) + 0.8 * frame["late"] + (frame["grade"] == "C") * 0.7
    )
    y = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(int)
    return frame, y


LENDERS = [_lender(1, 900), _lender(2, 1400), _lender(3, 700)]
POOLED = pd.concat([f for f, _ in LENDERS], ignore_index=True)
Y = np.concatenate([y for _, y in LENDERS])
SPLITS = {
    "util": np.quantile(POOLED["util"].dropna(), np.arange(1, 20) / 20).tolist(),
    "late": [1.0, 2.0, 3.0],
}
VOCAB = {"grade": ["A", "B", "C"]}


def _pooled_counts() -> np.ndarray:
    shares = [histogram_shares(f, y, splits=SPLITS, vocab=VOCAB) * len(y) for f, y in LENDERS]
    return np.sum(shares, axis=0)


def test_binning_a_pooled_histogram_equals_binning_the_pooled_rows() -> None:
    counts = _pooled_counts()
    size = 2 * (len(SPLITS["util"]) + 2)
    woe_map = server._fit_binning(
        "util", counts[:size], categorical=False, splits=SPLITS["util"], levels=[]
    )
    central = OptimalBinning(
        name="util",
        max_n_bins=server.MAX_N_BINS,
        min_bin_size=server.MIN_BIN_SIZE,
        monotonic_trend=server.MONOTONIC,
        user_splits=np.asarray(SPLITS["util"]),
    ).fit(POOLED["util"].to_numpy(), Y)
    table = central.binning_table.build()
    np.testing.assert_allclose(woe_map.splits, central.splits)
    np.testing.assert_allclose(
        woe_map.woe, table["WoE"].iloc[: len(central.splits) + 1].astype(float)
    )
    assert woe_map.iv == pytest.approx(float(table.loc["Totals", "IV"]))
    assert woe_map.counts[-1] == POOLED["util"].isna().sum()


class _FakeFederation:
    """Stands in for the lenders: the row-weighted mean of their Newton terms."""

    def __init__(self) -> None:
        self.calls = 0

    def mean(self, task: str, config: dict, *, clip: float) -> tuple[np.ndarray, int]:
        self.calls += 1
        maps = json.loads(config["maps"])
        from greenscore.federated.scorecard_model import WoeMap

        maps = {k: WoeMap(**v) for k, v in maps.items()}
        columns = json.loads(config["columns"])
        beta = np.asarray(json.loads(config["beta"]))
        terms = [newton_terms(f, y, maps, columns, beta) * len(y) for f, y in LENDERS]
        return np.sum(terms, axis=0) / len(Y), len(Y)


def _maps() -> dict:
    counts = _pooled_counts()
    at = 0
    maps = {}
    for column in ("util", "late"):
        size = 2 * (len(SPLITS[column]) + 2)
        maps[column] = server._fit_binning(
            column, counts[at : at + size], categorical=False, splits=SPLITS[column], levels=[]
        )
        at += size
    maps["grade"] = server._fit_binning(
        "grade", counts[at:], categorical=True, splits=[], levels=VOCAB["grade"]
    )
    return maps


def test_federated_newton_steps_give_sklearns_logistic_regression() -> None:
    maps = _maps()
    columns = ["util", "late", "grade"]
    beta = server._newton(_FakeFederation(), maps, columns, len(Y))
    woe = np.column_stack([maps[c].transform(POOLED[c]) for c in columns])
    central = LogisticRegression(C=server.C, max_iter=5000, tol=1e-10).fit(woe, Y)
    np.testing.assert_allclose(beta[1:], central.coef_[0], atol=1e-5)
    assert beta[0] == pytest.approx(float(central.intercept_[0]), abs=1e-5)


def test_the_surrogate_carries_the_exact_woe_correlation() -> None:
    maps = _maps()
    woe = np.column_stack([maps[c].transform(POOLED[c]) for c in ("util", "late", "grade")])
    mean, second = woe.mean(axis=0), woe.T @ woe / len(woe)
    surrogate = server._surrogate(mean, second, ["util", "late", "grade"])
    np.testing.assert_allclose(
        np.corrcoef(surrogate.to_numpy(), rowvar=False), np.corrcoef(woe, rowvar=False), atol=1e-10
    )


def _model() -> FederatedScorecardClassifier:
    maps = _maps()
    columns = ["util", "late", "grade"]
    beta = server._newton(_FakeFederation(), maps, columns, len(Y))
    model = FederatedScorecardClassifier()
    model.scorecard_ = maps
    model.selected_ = columns
    model.intercept_, model.coef_ = float(beta[0]), beta[1:]
    woe = np.column_stack([maps[c].transform(POOLED[c]) for c in columns])
    model.woe_mean_ = woe.mean(axis=0)
    model.removed_ = pd.DataFrame()
    model.feature_names_in_ = np.asarray(columns, dtype=object)
    model.n_features_in_ = 3
    model.classes_ = np.array([0, 1])
    return model


def test_the_model_reads_like_the_central_scorecard(tmp_path) -> None:
    model = _model()
    X = POOLED.iloc[:200]
    pd_ = model.predict_proba(X)[:, 1]
    np.testing.assert_allclose(model.points(X), points_from_pd(pd_), atol=1e-6)
    values, base = model.log_odds_contributions(X)
    np.testing.assert_allclose(values.sum(axis=1) + base, np.log(pd_ / (1 - pd_)), atol=1e-9)
    table = model.scorecard_table()
    assert list(table.columns) == [
        "characteristic", "bin_id", "bin", "lower", "upper", "count", "count_share",
        "bads", "bad_rate", "woe", "iv", "coefficient", "points",
    ]  # fmt: skip
    assert table.groupby("characteristic")["count"].sum().eq(len(POOLED)).all()
    assert (model.coefficients() < 0).all()
    exported = pd.read_csv(write_csv(model, tmp_path / "scorecard.csv"))
    assert len(exported) == len(table)
    unseen = X.assign(grade="Z")  # an unseen level is scored as missing, never an error
    assert np.isfinite(model.predict_proba(unseen)).all()


def test_it_cannot_be_fitted_on_rows() -> None:
    with pytest.raises(ModelError) as err:
        FederatedScorecardClassifier().fit(POOLED, Y)
    assert err.value.message == ERR_FIT
