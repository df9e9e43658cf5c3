"""What is planted in the synthetic data is learnable: AUC band, graph signal, proxy bias.

One 20,000-row dataset and one 3-fold LightGBM run over the preset's feature columns are
shared by the tests in this file (about 15 s on one thread).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import pytest
from scipy import sparse

from greenscore.data.loading import model_input
from greenscore.data.presets import load_preset
from greenscore.data.synthetic import generate

SPEC = load_preset("synthetic")
FOLDS = 3


@dataclass
class Fitted:
    X: pd.DataFrame
    y: np.ndarray
    frame: pd.DataFrame
    adjacency: sparse.csr_matrix
    folds: list[tuple[np.ndarray, np.ndarray]]
    oof: np.ndarray


def _lgbm():
    import lightgbm as lgb

    return lgb.LGBMClassifier(n_estimators=200, n_jobs=1, random_state=0, verbose=-1)


def _cross_validate(X: pd.DataFrame, y: np.ndarray, folds, extra=None) -> np.ndarray:
    oof = np.zeros(len(y))
    for train, test in folds:
        features = X if extra is None else X.assign(**extra(train))
        model = _lgbm().fit(features.iloc[train], y[train])
        oof[test] = model.predict_proba(features.iloc[test])[:, 1]
    return oof


def _fold_auc(y: np.ndarray, score: np.ndarray, folds) -> float:
    from sklearn.metrics import roc_auc_score

    return float(np.mean([roc_auc_score(y[test], score[test]) for _, test in folds]))


@pytest.fixture(scope="module")
def fitted() -> Fitted:
    from sklearn.model_selection import StratifiedKFold

    data = generate(20_000, seed=42)
    frame = data.applications
    X = model_input(frame, SPEC).copy()
    for column in SPEC.categorical:
        if column in X:
            X[column] = X[column].astype("category")
    y = frame["default"].to_numpy()
    position = pd.Series(np.arange(len(frame)), index=frame["applicant_id"].to_numpy())
    src = position[data.relations["source_id"].to_numpy()].to_numpy()
    dst = position[data.relations["target_id"].to_numpy()].to_numpy()
    n = len(frame)
    adjacency = sparse.csr_matrix(
        (np.ones(2 * len(src)), (np.r_[src, dst], np.r_[dst, src])), shape=(n, n)
    )
    folds = list(StratifiedKFold(FOLDS, shuffle=True, random_state=0).split(X, y))
    oof = _cross_validate(X, y, folds)
    return Fitted(X=X, y=y, frame=frame, adjacency=adjacency, folds=folds, oof=oof)


def test_features_exclude_protected_and_pii(fitted: Fitted) -> None:
    for column in (*SPEC.protected, *SPEC.pii, "employer_id", "default"):
        assert column not in fitted.X.columns
    assert fitted.X.index.name == "applicant_id"


def test_lightgbm_auc_is_in_the_realistic_band(fitted: Fitted) -> None:
    auc = _fold_auc(fitted.y, fitted.oof, fitted.folds)
    assert 0.70 <= auc <= 0.90, auc


def test_linked_default_rate_from_training_folds_adds_signal(fitted: Fitted) -> None:
    adjacency, y = fitted.adjacency, fitted.y

    def linked(train: np.ndarray) -> dict[str, np.ndarray]:
        known = np.zeros(len(y))
        known[train] = 1.0
        labels = np.where(known > 0, y, 0.0)
        count = adjacency @ known
        rate = np.where(count > 0, (adjacency @ labels) / np.maximum(count, 1), np.nan)
        return {"linked_default_rate": rate, "linked_known": count}

    with_links = _cross_validate(fitted.X, y, fitted.folds, extra=linked)
    gain = _fold_auc(y, with_links, fitted.folds) - _fold_auc(y, fitted.oof, fitted.folds)
    assert gain >= 0.01, gain


def test_model_without_sex_still_declines_women_more(fitted: Fitted) -> None:
    female = (fitted.frame["sex"] == "female").to_numpy()
    declined = fitted.oof >= np.quantile(fitted.oof, 0.7)
    parity_gap = declined[female].mean() - declined[~female].mean()
    assert parity_gap > 0.05, parity_gap


def test_sex_has_little_direct_effect(fitted: Fitted) -> None:
    # Adding sex to the features barely moves the AUC: it acts through the proxies only.
    with_sex = _cross_validate(
        fitted.X,
        fitted.y,
        fitted.folds[:1],
        extra=lambda _: {"female": (fitted.frame["sex"] == "female").to_numpy().astype(float)},
    )
    test = fitted.folds[0][1]
    from sklearn.metrics import roc_auc_score

    delta = roc_auc_score(fitted.y[test], with_sex[test]) - roc_auc_score(
        fitted.y[test], fitted.oof[test]
    )
    assert abs(delta) < 0.005, delta


def test_default_risk_is_u_shaped_in_age(fitted: Fitted) -> None:
    frame = fitted.frame
    rate = frame.groupby(pd.cut(frame["age"], [20, 25, 40, 55, 65, 90]), observed=True)[
        "default"
    ].mean()
    middle = rate.iloc[1:3].max()
    assert rate.iloc[0] > middle + 0.02 and rate.iloc[-1] > middle + 0.02, rate.to_dict()
