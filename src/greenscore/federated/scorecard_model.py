"""The federated WoE scorecard: bins, WoE and logistic coefficients agreed by lenders.

It scores like :class:`greenscore.models.scorecard.WoEScorecardClassifier` (``logit(PD) =
b + sum_j c_j WoE_j``, points scaled by base score, base odds and PDO) and offers the same
reading methods (points table, exact log-odds contributions, IV, removals), so serving,
explanations and ``greenscore scorecard export`` take it unchanged. What differs is how it
was fitted: the bins come from optbinning run on the federation's aggregated histograms,
the WoE from the aggregated bin counts and the coefficients from federated Newton steps
(:mod:`greenscore.federated.scorecard_server`); it cannot be fitted on rows, so ``fit``
refuses.

Each characteristic's coding is a :class:`WoeMap`: numeric bins are ``[s_i, s_{i+1})`` as
optbinning's, categorical bins lists of levels; missing values and levels never seen take
the Missing bin's WoE.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.utils.validation import check_is_fitted

from greenscore.errors import ModelError
from greenscore.models.scorecard import TABLE_COLUMNS
from greenscore.models.scorecard_selection import REMOVAL_COLUMNS

ERR_FIT = "a federated scorecard is fitted by a federation (greenscore federate), not on rows"
ERR_MISSING = "the scorecard's input lacks characteristics: {columns}"


@dataclass
class WoeMap:
    """How one characteristic is binned and coded.

    Attributes
    ----------
    name : the characteristic.
    categorical : whether bins are lists of levels.
    splits : numeric split points (bins ``[s_i, s_i+1)``).
    levels : categorical bins, each a list of level keys (text).
    woe : WoE of each bin, in order.
    missing_woe : WoE of missing values and unseen levels.
    counts, bads : rows and defaulters per bin, then the Missing bin (federation totals).
    iv : the characteristic's information value.
    """

    name: str
    categorical: bool
    splits: list[float] = field(default_factory=list)
    levels: list[list[str]] = field(default_factory=list)
    woe: list[float] = field(default_factory=list)
    missing_woe: float = 0.0
    counts: list[float] = field(default_factory=list)
    bads: list[float] = field(default_factory=list)
    iv: float = 0.0

    def bin_index(self, values: pd.Series) -> np.ndarray:
        """Bin of each value; ``len(woe)`` for missing or unseen."""
        if self.categorical:
            lookup = {level: b for b, group in enumerate(self.levels) for level in group}
            keys = (
                values.astype(object)
                .where(values.notna(), None)
                .map(lambda v: None if v is None else _key(v))
            )
            return keys.map(
                lambda k: lookup.get(k, len(self.woe)) if k is not None else len(self.woe)
            ).to_numpy(dtype=int)
        x = pd.to_numeric(values, errors="coerce").to_numpy(dtype=float)
        index = np.digitize(x, np.asarray(self.splits, dtype=float), right=False)
        return np.where(np.isfinite(x), index, len(self.woe))

    def transform(self, values: pd.Series) -> np.ndarray:
        """WoE of each value."""
        table = np.asarray([*self.woe, self.missing_woe], dtype=float)
        return table[self.bin_index(values)]

    def to_dict(self) -> dict[str, Any]:
        """Plain data (JSON-able)."""
        return asdict(self)


def _key(value: Any) -> str:
    """A level as text: 1, 1.0 and "1" are one level whatever the column's dtype."""
    if isinstance(value, int | float | np.number) and float(value).is_integer():
        return str(int(value))
    return str(value)


def _plain(value: Any) -> Any:
    """JSON-native value (NumPy scalars to Python, NaN to None, arrays to lists)."""
    if isinstance(value, np.ndarray | list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not np.isfinite(value):
        return None
    return value


def woe_frame(X: pd.DataFrame, maps: dict[str, WoeMap], names: list[str]) -> np.ndarray:  # noqa: N803
    """WoE matrix ``[n, len(names)]`` of the named characteristics."""
    missing = [c for c in names if c not in X.columns]
    if missing:
        raise ModelError(ERR_MISSING.format(columns=missing))
    if not names:
        return np.zeros((len(X), 0))
    return np.column_stack([maps[c].transform(X[c]) for c in names])


class FederatedScorecardClassifier(ClassifierMixin, BaseEstimator):
    """A WoE scorecard fitted by a federation (see the module docstring).

    Parameters
    ----------
    base_score, base_odds, pdo : float
        Points scaling, as :class:`~greenscore.models.scorecard.WoEScorecardClassifier`.

    Attributes
    ----------
    scorecard_ : dict of str to WoeMap
        Coding of every binned characteristic (the scorecard's fitted core).
    selected_ : list of str
        Characteristics in the scorecard.
    coef_ : ndarray
        Logistic coefficient of each selected characteristic's WoE.
    intercept_ : float
    woe_mean_ : ndarray
        Federation mean WoE of each selected characteristic.
    removed_ : DataFrame
        Characteristics left out, with the step and reason.
    feature_names_in_, n_features_in_, classes_
    """

    def __init__(
        self, *, base_score: float = 600.0, base_odds: float = 50.0, pdo: float = 20.0
    ) -> None:
        self.base_score = base_score
        self.base_odds = base_odds
        self.pdo = pdo

    def fit(self, X: Any, y: Any = None) -> FederatedScorecardClassifier:  # noqa: N803
        """Refuse: this model is fitted by a federation."""
        raise ModelError(ERR_FIT)

    # ------------------------------------------------------------------ scoring
    def _logit(self, X: pd.DataFrame) -> np.ndarray:  # noqa: N803
        check_is_fitted(self, "scorecard_")
        woe = woe_frame(X, self.scorecard_, self.selected_)
        return self.intercept_ + woe @ self.coef_

    def predict_proba(self, X: pd.DataFrame) -> np.ndarray:  # noqa: N803
        """Probabilities of [no default, default]."""
        p = 1.0 / (1.0 + np.exp(-self._logit(X)))
        return np.column_stack([1.0 - p, p])

    def predict(self, X: pd.DataFrame) -> np.ndarray:  # noqa: N803
        """1 where the probability of default is above one half."""
        return (self.predict_proba(X)[:, 1] > 0.5).astype(int)

    def woe(self, X: pd.DataFrame) -> pd.DataFrame:  # noqa: N803
        """WoE of each selected characteristic per row."""
        check_is_fitted(self, "scorecard_")
        return pd.DataFrame(
            woe_frame(X, self.scorecard_, self.selected_), index=X.index, columns=self.selected_
        )

    def log_odds_contributions(self, X: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:  # noqa: N803
        """Exact additive log-odds terms per input column, around the mean WoE."""
        check_is_fitted(self, "scorecard_")
        woe = woe_frame(X, self.scorecard_, self.selected_)
        names = list(self.feature_names_in_)
        values = np.zeros((len(X), len(names)))
        values[:, [names.index(c) for c in self.selected_]] = self.coef_ * (woe - self.woe_mean_)
        base = np.full(len(X), self.intercept_ + float(self.coef_ @ self.woe_mean_))
        return values, base

    def _factor_offset(self) -> tuple[float, float]:
        factor = self.pdo / np.log(2.0)
        return factor, self.base_score - factor * np.log(self.base_odds)

    def points_by_characteristic(self, X: pd.DataFrame) -> pd.DataFrame:  # noqa: N803
        """Points of each selected characteristic per row (they add up to :meth:`points`)."""
        factor, offset = self._factor_offset()
        m = max(len(self.selected_), 1)
        woe = woe_frame(X, self.scorecard_, self.selected_)
        points = -factor * (woe * self.coef_ + self.intercept_ / m) + offset / m
        return pd.DataFrame(points, index=X.index, columns=self.selected_)

    def points(self, X: pd.DataFrame) -> np.ndarray:  # noqa: N803
        """Scorecard points per row."""
        return self.points_by_characteristic(X).sum(axis=1).to_numpy()

    # ------------------------------------------------------------------ reading
    def coefficients(self) -> pd.Series:
        """Logistic coefficient of each selected characteristic's WoE."""
        check_is_fitted(self, "scorecard_")
        return pd.Series(self.coef_, index=self.selected_, name="coefficient")

    def splits(self, name: str) -> np.ndarray:
        """Split points of a numeric characteristic."""
        check_is_fitted(self, "scorecard_")
        return np.asarray(self.scorecard_[name].splits, dtype=float)

    def scorecard_table(self) -> pd.DataFrame:
        """The points table, one row per bin (Missing included), with the same columns as
        :meth:`WoEScorecardClassifier.scorecard_table`."""
        check_is_fitted(self, "scorecard_")
        factor, _offset = self._factor_offset()
        m = max(len(self.selected_), 1)
        offset = _offset
        rows = []
        for name, coef in zip(self.selected_, self.coef_, strict=True):
            woe_map = self.scorecard_[name]
            total = float(sum(woe_map.counts)) or 1.0
            n_bins = len(woe_map.woe)
            edges = [-np.inf, *woe_map.splits, np.inf]
            for b in range(n_bins + 1):
                missing = b == n_bins
                woe = woe_map.missing_woe if missing else woe_map.woe[b]
                count = woe_map.counts[b] if b < len(woe_map.counts) else 0.0
                bads = woe_map.bads[b] if b < len(woe_map.bads) else 0.0
                if missing:
                    label: Any = "Missing"
                elif woe_map.categorical:
                    label = list(woe_map.levels[b])
                else:
                    label = f"[{edges[b]:.6g}, {edges[b + 1]:.6g})"
                rows.append(
                    {
                        "characteristic": name,
                        "bin_id": b,
                        "bin": label,
                        "lower": np.nan if (missing or woe_map.categorical) else edges[b],
                        "upper": np.nan if (missing or woe_map.categorical) else edges[b + 1],
                        "count": count,
                        "count_share": count / total,
                        "bads": bads,
                        "bad_rate": bads / count if count else 0.0,
                        "woe": woe,
                        "iv": woe_map.iv,
                        "coefficient": coef,
                        "points": -factor * (coef * woe + self.intercept_ / m) + offset / m,
                    }
                )
        columns = [TABLE_COLUMNS[k] for k in TABLE_COLUMNS]
        columns[3:3] = ["lower", "upper"]
        return pd.DataFrame(rows)[columns]

    def removal_table(self) -> pd.DataFrame:
        """Every characteristic left out, with the step and reason."""
        check_is_fitted(self, "scorecard_")
        return self.removed_.reindex(columns=REMOVAL_COLUMNS).copy()

    def iv_table(self) -> pd.DataFrame:
        """IV per binned characteristic (selected first)."""
        check_is_fitted(self, "scorecard_")
        rows = [
            {"feature": n, "iv": m.iv, "n_bins": len(m.woe), "selected": n in self.selected_}
            for n, m in self.scorecard_.items()
        ]
        out = pd.DataFrame(rows, columns=["feature", "iv", "n_bins", "selected"])
        return out.sort_values(["selected", "iv"], ascending=False).reset_index(drop=True)

    def feature_importance(self) -> pd.Series:
        """IV per selected characteristic."""
        table = self.iv_table()
        return table[table["selected"]].set_index("feature")["iv"].astype(float)

    def to_json(self) -> dict[str, Any]:
        """The scorecard as plain data (scaling, table, removals)."""

        def records(frame: pd.DataFrame) -> list[dict[str, Any]]:
            return [{k: _plain(v) for k, v in row.items()} for row in frame.to_dict("records")]

        return {
            "scaling": {
                "base_score": self.base_score,
                "base_odds": self.base_odds,
                "pdo": self.pdo,
            },
            "table": records(self.scorecard_table()),
            "removed": records(self.removal_table()),
        }
