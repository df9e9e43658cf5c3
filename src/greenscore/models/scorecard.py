"""The WoE logistic scorecard: optbinning's optimal binning, WoE encoding, a logistic
regression on the WoE values, and points scaling (base score at base odds, PDO).

This is the industry-standard, explainable baseline every bank model is compared with.
The scorecard table (bin, WoE, IV, points per characteristic) is exported as JSON so a
reviewer can read the model without unpickling it.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.linear_model import LogisticRegression
from sklearn.utils.validation import check_is_fitted

from greenscore.errors import ModelError


def _prepare(X: pd.DataFrame, categorical: list[str]) -> pd.DataFrame:  # noqa: N803
    """optbinning wants plain object columns for categoricals, floats for the rest."""
    out = X.copy()
    for column in out.columns:
        if column in categorical:
            out[column] = out[column].astype(object).where(out[column].notna(), np.nan)
            out[column] = out[column].map(lambda v: v if v is np.nan else str(v))
        else:
            out[column] = pd.to_numeric(out[column], errors="coerce").astype(float)
    return out


def _decile_iv(values: pd.Series, y: np.ndarray, categorical: bool) -> float:
    """Information value over deciles (or levels), missing as its own bin: a quick screen."""
    if categorical:
        bins = values.fillna("__missing__").astype(str)
    else:
        ranked = values.rank(method="first")
        bins = pd.qcut(ranked, q=min(10, max(1, ranked.nunique())), labels=False, duplicates="drop")
        bins = bins.astype("float").fillna(-1)
    table = pd.crosstab(bins, y).reindex(columns=[0, 1], fill_value=0) + 0.5
    good, bad = table[0] / table[0].sum(), table[1] / table[1].sum()
    return float(((good - bad) * np.log(good / bad)).sum())


def _screen_by_iv(
    data: pd.DataFrame, y: np.ndarray, categorical: list[str], keep: int | None
) -> list[str]:
    columns = list(data.columns)
    if keep is None or len(columns) <= keep:
        return columns
    iv = {c: _decile_iv(data[c], y, c in categorical) for c in columns}
    chosen = set(sorted(columns, key=lambda c: iv[c], reverse=True)[:keep])
    return [c for c in columns if c in chosen]  # keep the data's order for stable tables


class WoEScorecardClassifier(ClassifierMixin, BaseEstimator):
    """Logistic regression on optimally binned WoE features, with points scaling.

    Parameters
    ----------
    base_score : float
        Points at ``base_odds`` (good:bad).
    base_odds : float
        Good:bad odds that score ``base_score`` points.
    pdo : float
        Points to double the odds.
    max_n_bins : int
        Most bins per characteristic.
    min_bin_size : float
        Smallest bin as a share of rows.
    min_iv : float
        Characteristics with a lower information value are left out.
    C : float
        Inverse L2 strength of the logistic regression.
    max_features : int or None
        Characteristics offered to optimal binning, chosen by a quick decile IV screen;
        a scorecard reviewers can read has tens of characteristics, not hundreds, and
        optimal binning costs time per characteristic.

    Attributes
    ----------
    scorecard_ : optbinning.Scorecard
    categorical_ : list of str
        Columns binned as categories.
    features_in_ : list of str
    candidates_ : list of str
        Characteristics that passed the IV screen and were binned.
    selected_ : list of str
        Characteristics kept in the scorecard.
    """

    def __init__(
        self,
        *,
        base_score: float = 600.0,
        base_odds: float = 50.0,
        pdo: float = 20.0,
        max_n_bins: int = 8,
        min_bin_size: float = 0.03,
        min_iv: float = 0.01,
        C: float = 1.0,  # noqa: N803 - scikit-learn's name
        max_features: int | None = 40,
    ) -> None:
        self.base_score = base_score
        self.base_odds = base_odds
        self.pdo = pdo
        self.max_n_bins = max_n_bins
        self.min_bin_size = min_bin_size
        self.min_iv = min_iv
        self.C = C
        self.max_features = max_features

    def fit(
        self, X: pd.DataFrame, y: np.ndarray, sample_weight: np.ndarray | None = None
    ) -> WoEScorecardClassifier:  # noqa: N803
        """Bin every characteristic, fit the logistic regression and scale to points."""
        from optbinning import BinningProcess, Scorecard

        if not isinstance(X, pd.DataFrame):
            raise ModelError("the scorecard needs a DataFrame with named columns")
        self.features_in_ = list(X.columns)
        self.categorical_ = [
            c
            for c in X.columns
            if not pd.api.types.is_numeric_dtype(X[c])
            or isinstance(X[c].dtype, pd.CategoricalDtype)
        ]
        data = _prepare(X, self.categorical_)
        y = np.asarray(y).astype(int)
        candidates = _screen_by_iv(data, y, self.categorical_, self.max_features)
        binning = BinningProcess(
            variable_names=candidates,
            categorical_variables=[c for c in self.categorical_ if c in candidates] or None,
            max_n_bins=self.max_n_bins,
            min_bin_size=self.min_bin_size,
            selection_criteria={"iv": {"min": self.min_iv}},
        )
        estimator = LogisticRegression(C=self.C, max_iter=2000)
        # optbinning's PDO/odds convention is points at odds good:bad, matching ours.
        self.scorecard_ = Scorecard(
            binning_process=binning,
            estimator=estimator,
            scaling_method="pdo_odds",
            scaling_method_params={
                "pdo": self.pdo,
                "odds": self.base_odds,
                "scorecard_points": self.base_score,
            },
        )
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            self.scorecard_.fit(data[candidates], y, sample_weight=sample_weight)
        self.candidates_ = candidates
        support = self.scorecard_.binning_process_.get_support(names=True)
        self.selected_ = list(support)
        if not self.selected_:
            raise ModelError(f"no characteristic reached the minimum IV {self.min_iv}")
        woe = self._woe(data[candidates])
        self.woe_mean_ = woe.mean(axis=0)
        self.classes_ = np.array([0, 1])
        return self

    def _woe(self, data: pd.DataFrame) -> np.ndarray:
        """WoE values of the selected characteristics, in the estimator's column order."""
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            woe = self.scorecard_.binning_process_.transform(data, metric="woe")
        return woe[self.selected_].to_numpy(dtype=float)

    def log_odds_contributions(self, X: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:  # noqa: N803
        """Exact additive terms of the log-odds of default per input column.

        The model is ``logit(PD) = b + sum_j w_j * WoE_j``, so each selected characteristic
        contributes ``w_j * (WoE_j - mean training WoE_j)`` around the base ``b + w . mean``;
        columns not in the scorecard contribute 0. Returns (values [n, n_features_in], base [n]).
        """
        check_is_fitted(self, "scorecard_")
        woe = self._woe(_prepare(X[self.candidates_], self.categorical_))
        estimator = self.scorecard_.estimator_
        coef = np.asarray(estimator.coef_, dtype=float).reshape(-1)
        intercept = float(np.asarray(estimator.intercept_, dtype=float).reshape(-1)[0])
        values = np.zeros((len(X), len(self.features_in_)))
        positions = [self.features_in_.index(c) for c in self.selected_]
        values[:, positions] = coef * (woe - self.woe_mean_)
        base = np.full(len(X), intercept + float(coef @ self.woe_mean_))
        return values, base

    def predict_proba(self, X: pd.DataFrame) -> np.ndarray:  # noqa: N803
        """Probabilities of [no default, default]."""
        check_is_fitted(self, "scorecard_")
        data = _prepare(X[self.candidates_], self.categorical_)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return self.scorecard_.predict_proba(data)

    def predict(self, X: pd.DataFrame) -> np.ndarray:  # noqa: N803
        """1 where the probability of default is above one half."""
        return (self.predict_proba(X)[:, 1] > 0.5).astype(int)

    def points(self, X: pd.DataFrame) -> np.ndarray:  # noqa: N803
        """Scorecard points (sum of the characteristics' points) per row."""
        check_is_fitted(self, "scorecard_")
        data = _prepare(X[self.candidates_], self.categorical_)
        return np.asarray(self.scorecard_.score(data), dtype=float)

    def scorecard_table(self) -> pd.DataFrame:
        """Characteristic, bin, counts, WoE, IV and points per bin."""
        check_is_fitted(self, "scorecard_")
        table = self.scorecard_.table(style="detailed")
        keep = [
            c
            for c in ("Variable", "Bin", "Count", "Count (%)", "Event rate", "WoE", "IV", "Points")
            if c in table
        ]
        return table[keep].reset_index(drop=True)

    def iv_table(self) -> pd.DataFrame:
        """Information value per characteristic (selected ones first)."""
        check_is_fitted(self, "scorecard_")
        summary = self.scorecard_.binning_process_.summary()
        out = summary[["name", "iv", "n_bins", "selected"]].rename(columns={"name": "feature"})
        # optbinning's summary holds every column as object; plots and sorting need numbers.
        out = out.astype({"iv": float, "n_bins": int, "selected": bool})
        return out.sort_values(["selected", "iv"], ascending=False).reset_index(drop=True)

    def feature_importance(self) -> pd.Series:
        """IV per selected characteristic, as the scorecard's importance."""
        table = self.iv_table()
        return table[table["selected"]].set_index("feature")["iv"].astype(float)

    def to_json(self) -> dict[str, Any]:
        """The scorecard as plain data (scaling plus table), for review without pickle."""
        return {
            "scaling": {
                "base_score": self.base_score,
                "base_odds": self.base_odds,
                "pdo": self.pdo,
            },
            "table": [
                {key: _plain(value) for key, value in row.items()}
                for row in self.scorecard_table().to_dict("records")
            ],
        }


def _plain(value: Any) -> Any:
    """JSON-native value: categorical bins are arrays, counts NumPy integers, NaN is null."""
    if isinstance(value, np.ndarray | list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not np.isfinite(value):
        return None
    return value
