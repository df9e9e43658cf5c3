"""The WoE logistic scorecard: optbinning's optimal binning, WoE encoding, a logistic
regression on the WoE values, and points scaling (base score at base odds, PDO).

This is the industry-standard, explainable baseline every bank model is compared with.
Characteristics are chosen as scorecard practice does (see
:mod:`greenscore.models.scorecard_selection`): no near-duplicates, every coefficient with
the right sign, monotonic WoE trends, a cap on their number. Missing values (and special
codes) are scored by their own bin's WoE when training had them; a category never seen
in training is scored as missing, so every applicant falls in a row of the points table
and the table's points add up to the score. The table (characteristic, bin, counts, bad
rate, WoE, coefficient, points) is exported as JSON, CSV, XLSX or SQL so a reviewer can
read the model without unpickling it.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from numbers import Integral, Real
from typing import Any

import numpy as np
import pandas as pd
from scipy.special import expit
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.linear_model import LogisticRegression
from sklearn.utils._param_validation import Interval, InvalidParameterError, StrOptions
from sklearn.utils.validation import check_is_fitted

from greenscore.errors import ConfigError, ModelError
from greenscore.json_document import plain
from greenscore.models.scorecard_lookup import WoeLookup, build_lookup
from greenscore.models.scorecard_selection import (
    Removal,
    below_min_iv,
    cap_by_iv,
    choose_characteristics,
    removal_frame,
    screen_by_iv,
    worst_wrong_sign,
)

NOT_A_FRAME = "the scorecard needs a DataFrame with named columns"
NO_CHARACTERISTIC = "no characteristic reached the minimum IV {min_iv}"
NONE_LEFT = "every characteristic was removed ({steps}); the scorecard has nothing to score"
MISSING_COLUMNS = "the scorecard's input lacks characteristics: {columns}"
#: optbinning's monotonic trends for the event rate over a characteristic's bins.
TRENDS = ("auto", "auto_heuristic", "auto_asc_desc", "ascending", "descending", "peak", "valley")
#: How missing values and special codes are coded: their own bin's WoE, as a value.
_EMPIRICAL = {"metric_missing": "empirical", "metric_special": "empirical"}
#: Points-table columns, renamed from optbinning's detailed scorecard table.
TABLE_COLUMNS = {
    "Variable": "characteristic",
    "Bin id": "bin_id",
    "Bin": "bin",
    "Count": "count",
    "Count (%)": "count_share",
    "Event": "bads",
    "Event rate": "bad_rate",
    "WoE": "woe",
    "IV": "iv",
    "Coefficient": "coefficient",
    "Points": "points",
}


def _prepare(
    X: pd.DataFrame,  # noqa: N803
    categorical: list[str],
    levels: dict[str, set[str]] | None = None,
) -> pd.DataFrame:
    """optbinning wants plain text columns for categoricals, floats for the rest.

    With ``levels`` (the training levels), a category outside them becomes missing, so it
    is scored by the Missing bin both in the probability and in the points.
    """
    out = X.copy()
    for column in out.columns:
        if column in categorical:
            values = out[column].astype(object).where(out[column].notna(), np.nan)
            values = values.map(lambda v: v if v is np.nan else str(v))
            if levels is not None:
                values = values.where(values.isin(levels[column]), np.nan)
            out[column] = values
        else:
            out[column] = pd.to_numeric(out[column], errors="coerce").astype(float)
    return out


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
        Characteristics offered to optimal binning, chosen by a quick decile IV screen
        (optimal binning costs time per characteristic).
    monotonic_trend : str or None, default="auto_asc_desc"
        optbinning's constraint on the bad rate across a numeric characteristic's bins
        (categories are always ordered by bad rate). ``"auto_asc_desc"`` picks rising or
        falling, so points move one way as a value grows; ``"auto"`` also allows a peak or
        valley; None leaves the bins unconstrained.
    max_correlation : float, default=0.8
        Largest |correlation| between two kept characteristics' WoE values.
    max_vif : float or None, default=10.0
        Largest variance inflation factor among the kept characteristics' WoE values.
    max_characteristics : int or None, default=20
        Most characteristics in the scorecard, highest IV first, after the filters.
    given_features : list of str or None
        The columns of the applications file. Any other input column is taken as derived
        by the feature pipeline and gives way to a given column it nearly duplicates.
        None: every column counts as given.

    Attributes
    ----------
    scorecard_ : optbinning.Scorecard
        Fitted on the selected characteristics only.
    feature_names_in_ : ndarray of str
        Every input column, in order (as scikit-learn records it).
    n_features_in_ : int
    categorical_ : list of str
        Input columns binned as categories.
    levels_ : dict of str to set of str
        Training levels of each selected categorical characteristic.
    candidates_ : list of str
        Characteristics that passed the IV screen and were binned.
    selected_ : list of str
        Characteristics kept in the scorecard, in input order.
    removed_ : DataFrame
        Every characteristic left out: characteristic, step, reason, partner, value.
    binning_summary_ : DataFrame
        IV and bin count of every binned candidate, and whether it was selected.
    woe_mean_ : ndarray
        Mean training WoE of each selected characteristic.

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> rng = np.random.default_rng(0)
    >>> X = pd.DataFrame({"utilisation": rng.uniform(size=2000), "noise": rng.normal(size=2000)})
    >>> y = (rng.uniform(size=2000) < 0.1 + 0.4 * X["utilisation"]).astype(int)
    >>> model = WoEScorecardClassifier().fit(X, y)
    >>> "utilisation" in model.selected_, bool((model.coefficients() < 0).all())
    (True, True)
    """

    _parameter_constraints: dict = {
        "base_score": [Real],
        "base_odds": [Interval(Real, 0, None, closed="neither")],
        "pdo": [Interval(Real, 0, None, closed="neither")],
        "max_n_bins": [Interval(Integral, 2, None, closed="left")],
        "min_bin_size": [Interval(Real, 0, 0.5, closed="right")],
        "min_iv": [Interval(Real, 0, None, closed="left")],
        "C": [Interval(Real, 0, None, closed="neither")],
        "max_features": [Interval(Integral, 1, None, closed="left"), None],
        "monotonic_trend": [StrOptions(set(TRENDS)), None],
        "max_correlation": [Interval(Real, 0, 1, closed="right")],
        "max_vif": [Interval(Real, 1, None, closed="left"), None],
        "max_characteristics": [Interval(Integral, 1, None, closed="left"), None],
        "given_features": [list, None],
    }

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
        monotonic_trend: str | None = "auto_asc_desc",
        max_correlation: float = 0.8,
        max_vif: float | None = 10.0,
        max_characteristics: int | None = 20,
        given_features: list[str] | None = None,
    ) -> None:
        self.base_score = base_score
        self.base_odds = base_odds
        self.pdo = pdo
        self.max_n_bins = max_n_bins
        self.min_bin_size = min_bin_size
        self.min_iv = min_iv
        self.C = C
        self.max_features = max_features
        self.monotonic_trend = monotonic_trend
        self.max_correlation = max_correlation
        self.max_vif = max_vif
        self.max_characteristics = max_characteristics
        self.given_features = given_features

    # ------------------------------------------------------------------ fitting
    def _binning_process(self, names: list[str], *, min_iv: bool) -> Any:
        from optbinning import BinningProcess

        return BinningProcess(
            variable_names=names,
            categorical_variables=[c for c in self.categorical_ if c in names] or None,
            max_n_bins=self.max_n_bins,
            min_bin_size=self.min_bin_size,
            selection_criteria={"iv": {"min": self.min_iv}} if min_iv else None,
            binning_fit_params={n: {"monotonic_trend": self.monotonic_trend} for n in names},
        )

    def _scorecard(self, names: list[str]) -> Any:
        from optbinning import Scorecard

        # optbinning's PDO/odds convention is points at odds good:bad, matching ours.
        return Scorecard(
            binning_process=self._binning_process(names, min_iv=False),
            estimator=LogisticRegression(C=self.C, max_iter=2000),
            scaling_method="pdo_odds",
            scaling_method_params={
                "pdo": self.pdo,
                "odds": self.base_odds,
                "scorecard_points": self.base_score,
            },
        )

    def fit(
        self,
        X: pd.DataFrame,  # noqa: N803
        y: np.ndarray,
        sample_weight: np.ndarray | None = None,
    ) -> WoEScorecardClassifier:
        """Bin, choose the characteristics, fit the logistic regression and scale to points.

        Raises
        ------
        ConfigError
            If a parameter is out of its range.
        ModelError
            If ``X`` is not a DataFrame, or no characteristic survives the selection.
        """
        try:
            self._validate_params()
        except InvalidParameterError as exc:
            raise ConfigError(str(exc).splitlines()[0]) from exc
        if not isinstance(X, pd.DataFrame):
            raise ModelError(NOT_A_FRAME)
        self.feature_names_in_ = np.asarray([str(c) for c in X.columns], dtype=object)
        self.n_features_in_ = X.shape[1]
        self.categorical_ = [
            c
            for c in X.columns
            if not pd.api.types.is_numeric_dtype(X[c])
            or isinstance(X[c].dtype, pd.CategoricalDtype)
        ]
        data = _prepare(X, self.categorical_)
        y = np.asarray(y).astype(int)
        removals: list[Removal] = []
        kept, iv, n_bins = self._choose(data, y, sample_weight, removals)
        kept = self._fit_scorecard(data, y, sample_weight, kept, removals)
        self.selected_ = kept
        self.levels_ = {c: set(data[c].dropna().unique()) for c in self.categorical_ if c in kept}
        self.removed_ = removal_frame(removals)
        self.binning_summary_ = pd.DataFrame(
            {
                "feature": iv.index,
                "iv": iv.to_numpy(),
                "n_bins": n_bins,
                "selected": iv.index.isin(kept),
            }
        )
        self.woe_mean_ = self._woe(data[kept]).mean(axis=0)
        self.classes_ = np.array([0, 1])
        self.woe_lookup_ = self._build_lookup()
        return self

    def _build_lookup(self) -> WoeLookup | None:
        """The WoE coding as NumPy lookups, checked against optbinning's (None: keep it)."""
        return build_lookup(
            self.selected_,
            self.categorical_,
            self.levels_,
            self.scorecard_.binning_process_,
            reference=lambda frame: self._woe(self._input(frame)),
        )

    def _raw_woe(self, X: pd.DataFrame) -> np.ndarray:  # noqa: N803
        """WoE of the selected characteristics of raw ``X``: by the lookup when it holds
        (a bundle saved before it existed builds it on first use), else by optbinning."""
        check_is_fitted(self, "scorecard_")
        missing = [c for c in self.selected_ if c not in X.columns]
        if missing:
            raise ModelError(MISSING_COLUMNS.format(columns=missing))
        if not hasattr(self, "woe_lookup_"):
            self.woe_lookup_ = self._build_lookup()
        if self.woe_lookup_ is None:
            return self._woe(self._input(X))
        return self.woe_lookup_.woe(X)

    def _choose(
        self,
        data: pd.DataFrame,
        y: np.ndarray,
        sample_weight: np.ndarray | None,
        removals: list[Removal],
    ) -> tuple[list[str], pd.Series, np.ndarray]:
        """Screen, bin once, and choose the characteristics; returns them, IV and bin counts."""
        candidates, screened = screen_by_iv(
            data, y, categorical=self.categorical_, keep=self.max_features
        )
        removals += screened
        self.candidates_ = candidates
        binning = self._binning_process(candidates, min_iv=True)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            binning.fit(data[candidates], y, sample_weight=sample_weight)
            passed = list(binning.get_support(names=True))
            woe = binning.transform(data[passed], metric="woe", **_EMPIRICAL) if passed else None
        summary = binning.summary()
        iv = pd.Series(summary["iv"].astype(float).to_numpy(), index=summary["name"].astype(str))
        removals += below_min_iv(iv, self.min_iv)
        if woe is None:
            raise ModelError(NO_CHARACTERISTIC.format(min_iv=self.min_iv))
        given = set(self.given_features) if self.given_features is not None else set(passed)
        kept, dropped = choose_characteristics(
            woe[passed],
            iv,
            derived={c for c in passed if c not in given},
            max_correlation=self.max_correlation,
            max_vif=self.max_vif,
        )
        removals += dropped

        # Signs on the WoE already computed (a refit is one logistic regression), before and
        # after the cap, so the cap's places go to characteristics that keep their sign.
        def refit(names: list[str]) -> np.ndarray:
            model = LogisticRegression(C=self.C, max_iter=2000)
            return model.fit(woe[names], y, sample_weight=sample_weight).coef_

        kept = self._right_signs(kept, removals, refit)
        kept, capped = cap_by_iv(kept, iv, self.max_characteristics)
        if capped:
            removals += capped
            kept = self._right_signs(kept, removals, refit)
        return kept, iv, summary["n_bins"].astype(int).to_numpy()

    def _fit_scorecard(
        self,
        data: pd.DataFrame,
        y: np.ndarray,
        sample_weight: np.ndarray | None,
        kept: list[str],
        removals: list[Removal],
    ) -> list[str]:
        """Fit optbinning's scorecard on the chosen characteristics (binning them again gives
        the same bins), checking its coefficients' signs too; returns what it kept."""

        def fit(names: list[str]) -> np.ndarray:
            self.scorecard_ = self._scorecard(names)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                self.scorecard_.fit(data[names], y, sample_weight=sample_weight, **_EMPIRICAL)
            return self.scorecard_.estimator_.coef_

        return self._right_signs(kept, removals, fit, first=fit(kept))

    @staticmethod
    def _right_signs(
        kept: list[str],
        removals: list[Removal],
        fit: Callable[[list[str]], np.ndarray],
        *,
        first: np.ndarray | None = None,
    ) -> list[str]:
        """Drop the worst wrong-sign characteristic and refit until every sign is right."""
        kept = list(kept)
        coef = first if first is not None else (fit(kept) if kept else None)
        while kept:
            assert coef is not None  # fitted whenever characteristics are left
            wrong = worst_wrong_sign(kept, coef)
            if wrong is None:
                return kept
            removals.append(wrong)
            kept.remove(wrong.characteristic)
            if kept:
                coef = fit(kept)
        steps = sorted({r.step for r in removals})
        raise ModelError(NONE_LEFT.format(steps=", ".join(steps)))

    # ------------------------------------------------------------------ scoring
    def _input(self, X: pd.DataFrame) -> pd.DataFrame:  # noqa: N803
        """The selected characteristics of ``X``, coded as at fit (unseen levels missing)."""
        check_is_fitted(self, "scorecard_")
        missing = [c for c in self.selected_ if c not in X.columns]
        if missing:
            raise ModelError(MISSING_COLUMNS.format(columns=missing))
        return _prepare(X[self.selected_], self.categorical_, self.levels_)

    def _woe(self, data: pd.DataFrame) -> np.ndarray:
        """WoE values of the selected characteristics (prepared), in the estimator's order."""
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            woe = self.scorecard_.binning_process_.transform(data, metric="woe", **_EMPIRICAL)
        return woe[self.selected_].to_numpy(dtype=float)

    def woe(self, X: pd.DataFrame) -> pd.DataFrame:  # noqa: N803
        """WoE of each selected characteristic per row (what the regression reads).

        Returns
        -------
        DataFrame of shape (n_samples, len(selected_)), same index as ``X``.
        """
        values = self._woe(self._input(X))
        return pd.DataFrame(values, index=X.index, columns=self.selected_)

    def log_odds_contributions(self, X: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:  # noqa: N803
        """Exact additive terms of the log-odds of default per input column.

        The model is ``logit(PD) = b + sum_j w_j * WoE_j``, so each selected characteristic
        contributes ``w_j * (WoE_j - mean training WoE_j)`` around the base ``b + w . mean``;
        columns not in the scorecard contribute 0. Returns (values [n, n_features_in], base [n]).
        """
        woe = self._raw_woe(X)
        coef = self.coefficients().to_numpy()
        intercept = self._intercept()
        names = list(self.feature_names_in_)
        values = np.zeros((len(X), len(names)))
        values[:, [names.index(c) for c in self.selected_]] = coef * (woe - self.woe_mean_)
        base = np.full(len(X), intercept + float(coef @ self.woe_mean_))
        return values, base

    def _intercept(self) -> float:
        return float(np.asarray(self.scorecard_.estimator_.intercept_).reshape(-1)[0])

    def predict_proba(self, X: pd.DataFrame) -> np.ndarray:  # noqa: N803
        """Probabilities of [no default, default]: the logistic regression on the WoE."""
        pd_ = expit(self._raw_woe(X) @ self.coefficients().to_numpy() + self._intercept())
        return np.column_stack([1.0 - pd_, pd_])

    def predict(self, X: pd.DataFrame) -> np.ndarray:  # noqa: N803
        """1 where the probability of default is above one half."""
        return (self.predict_proba(X)[:, 1] > 0.5).astype(int)

    def points(self, X: pd.DataFrame) -> np.ndarray:  # noqa: N803
        """Scorecard points (sum of the characteristics' points) per row."""
        return self.points_by_characteristic(X).sum(axis=1).to_numpy()

    def points_by_characteristic(self, X: pd.DataFrame) -> pd.DataFrame:  # noqa: N803
        """Points of each selected characteristic per row (they add up to :meth:`points`)."""
        data = self._input(X)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            table = self.scorecard_.transform(data)
        return table[self.selected_].set_axis(X.index, axis=0).astype(float)

    # ------------------------------------------------------------------ reading the model
    def coefficients(self) -> pd.Series:
        """Logistic coefficient of each selected characteristic's WoE (all negative)."""
        check_is_fitted(self, "scorecard_")
        coef = np.asarray(self.scorecard_.estimator_.coef_, dtype=float).reshape(-1)
        return pd.Series(coef, index=self.selected_, name="coefficient")

    def scorecard_table(self) -> pd.DataFrame:
        """The points table: one row per bin of each characteristic, Special and Missing included.

        Columns: characteristic, bin_id, bin, lower, upper (exact numeric bounds, the bin
        being ``lower <= x < upper``), count, count_share, bads, bad_rate, woe, iv,
        coefficient, points. Categorical bins list their categories in ``bin``.
        """
        check_is_fitted(self, "scorecard_")
        table = self.scorecard_.table(style="detailed")
        out = table[[c for c in TABLE_COLUMNS if c in table]].rename(columns=TABLE_COLUMNS)
        out = out.reset_index(drop=True)
        lower, upper = np.full(len(out), np.nan), np.full(len(out), np.nan)
        for name in self.selected_:
            if name in self.categorical_:
                continue
            edges = np.concatenate([[-np.inf], self.splits(name), [np.inf]])
            rows = np.flatnonzero(out["characteristic"].to_numpy() == name)
            n_bins = len(edges) - 1
            lower[rows[:n_bins]], upper[rows[:n_bins]] = edges[:-1], edges[1:]
        out.insert(3, "lower", lower)
        out.insert(4, "upper", upper)
        return out

    def splits(self, name: str) -> np.ndarray:
        """Exact split points of a numeric characteristic (bins are ``[s_i, s_i+1)``)."""
        check_is_fitted(self, "scorecard_")
        return np.asarray(self.scorecard_.binning_process_.get_binned_variable(name).splits, float)

    def removal_table(self) -> pd.DataFrame:
        """Every characteristic left out, in the order the steps ran, with the reason."""
        check_is_fitted(self, "scorecard_")
        return self.removed_.copy()

    def iv_table(self) -> pd.DataFrame:
        """Information value per binned characteristic (selected ones first)."""
        check_is_fitted(self, "scorecard_")
        out = self.binning_summary_.astype({"iv": float, "n_bins": int, "selected": bool})
        return out.sort_values(["selected", "iv"], ascending=False).reset_index(drop=True)

    def feature_importance(self) -> pd.Series:
        """IV per selected characteristic, as the scorecard's importance."""
        table = self.iv_table()
        return table[table["selected"]].set_index("feature")["iv"].astype(float)

    def to_json(self) -> dict[str, Any]:
        """The scorecard as plain data (scaling, table, removals), for review without pickle."""

        def records(frame: pd.DataFrame) -> list[dict[str, Any]]:
            return [{k: plain(v) for k, v in row.items()} for row in frame.to_dict("records")]

        return {
            "scaling": {
                "base_score": self.base_score,
                "base_odds": self.base_odds,
                "pdo": self.pdo,
            },
            "table": records(self.scorecard_table()),
            "removed": records(self.removal_table()),
        }
