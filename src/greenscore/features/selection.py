"""Feature selection with a readable report of what was kept, dropped and why.

One transformer, several methods: univariate tests (chi-squared, mutual information),
redundancy filters (pairwise correlation, variance inflation), recursive elimination
with cross-validation, and LightGBM importance. Every method fills ``report_`` with one
row per input feature (score, kept, reason) so a model reviewer can see the decision.
"""

from __future__ import annotations

from collections.abc import Sequence
from numbers import Integral, Real

import numpy as np
import pandas as pd
from sklearn.feature_selection import RFECV, chi2, mutual_info_classif
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import check_is_fitted

from greenscore.errors import DataError
from greenscore.features._base import FrameTransformer

METHODS = ("chi2", "mutual_info", "correlation", "vif", "rfecv", "importance")
NEEDS_TARGET = "FeatureSelector(method='{method}') needs the training targets y"
#: Default cut per method when neither k nor threshold is given.
DEFAULT_THRESHOLDS = {
    "chi2": 0.05,  # p-value
    "mutual_info": 0.0,  # keep information strictly above
    "correlation": 0.95,  # |r| above which the weaker of a pair goes
    "vif": 10.0,  # variance inflation factor above which a feature goes
    "importance": 0.0,  # share of total gain strictly above
}


def numeric_view(frame: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """Features as a float matrix (categories as codes, NaN at the column median).

    Returns
    -------
    matrix : ndarray of shape (n_samples, n_features)
    is_categorical : ndarray of bool, one per column
    """
    columns, categorical = [], []
    for column in frame.columns:
        series = frame[column]
        if isinstance(series.dtype, pd.CategoricalDtype) or not pd.api.types.is_numeric_dtype(
            series
        ):
            codes = pd.Categorical(series).codes.astype(float)
            values = np.where(codes < 0, np.nan, codes)
            categorical.append(True)
        else:
            values = series.to_numpy(dtype=float, na_value=np.nan)
            categorical.append(False)
        if np.isnan(values).any():
            median = np.nanmedian(values) if (~np.isnan(values)).any() else 0.0
            values = np.where(np.isnan(values), median, values)
        columns.append(values)
    matrix = np.column_stack(columns) if columns else np.zeros((len(frame), 0))
    return matrix, np.asarray(categorical, dtype=bool)


def variance_inflation(matrix: np.ndarray) -> np.ndarray:
    """VIF of each column: the diagonal of the inverse correlation matrix (inf if constant)."""
    std = matrix.std(axis=0)
    vif = np.full(matrix.shape[1], np.inf)
    live = std > 0
    if live.sum() == 1:
        vif[live] = 1.0
    elif live.sum() > 1:
        corr = np.corrcoef(matrix[:, live], rowvar=False)
        vif[live] = np.diag(np.linalg.pinv(corr))
    return vif


def decorrelate(
    corr: np.ndarray, order: Sequence[int], cut: float
) -> list[tuple[bool, int, float]]:
    """Greedy redundancy filter: keep columns in ``order`` unless too correlated with a kept one.

    Parameters
    ----------
    corr : ndarray of shape (n, n)
        Correlation matrix (signed; NaN counts as 0).
    order : sequence of int
        Column positions, most wanted first: of a correlated pair, the earlier one stays.
    cut : float
        A column whose |r| with a kept column is above this is dropped.

    Returns
    -------
    list of (kept, partner, r), one per column in position order
        ``partner`` is the kept column it is most correlated with (-1 when none was kept
        before it), ``r`` the signed correlation with that partner.
    """
    signed = np.atleast_2d(np.nan_to_num(np.asarray(corr, dtype=float)))
    strength = np.abs(signed)
    kept: list[int] = []
    out: list[tuple[bool, int, float]] = [(True, -1, 0.0)] * signed.shape[0]
    for j in order:
        partner = max(kept, key=lambda i: strength[i, j]) if kept else -1
        r = float(signed[partner, j]) if partner >= 0 else 0.0
        keep = abs(r) <= cut
        if keep:
            kept.append(j)
        out[j] = (keep, partner, r)
    return out


def drop_by_vif(
    matrix: np.ndarray, cut: float, *, first: np.ndarray | None = None
) -> tuple[list[tuple[int, float]], np.ndarray]:
    """Repeatedly drop the column with the largest variance inflation while it exceeds ``cut``.

    Parameters
    ----------
    matrix : ndarray of shape (n_samples, n_features)
    cut : float
    first : ndarray of bool, optional
        Columns to drop before any other whenever one of them is above the cut (e.g.
        derived features, which go before the given columns they restate).

    Returns
    -------
    dropped : list of (position, VIF when dropped), in drop order
    vif : ndarray of shape (n_features,)
        The final VIF of each column (of the kept ones; NaN for the dropped).
    """
    live = list(range(matrix.shape[1]))
    preferred = np.zeros(matrix.shape[1], dtype=bool) if first is None else np.asarray(first)
    dropped: list[tuple[int, float]] = []
    final = np.full(matrix.shape[1], np.nan)
    while live:
        vif = variance_inflation(matrix[:, live])
        over = vif > cut
        if not over.any():
            final[live] = vif
            break
        # Among those above the cut, the preferred-to-drop ones go first, worst VIF first.
        candidates = [i for i in range(len(live)) if over[i] and preferred[live[i]]]
        if not candidates:
            candidates = [i for i in range(len(live)) if over[i]]
        at = max(candidates, key=lambda i: vif[i])
        dropped.append((live.pop(at), float(vif[at])))
    return dropped, final


class FeatureSelector(FrameTransformer):
    """Keep the useful columns of a feature frame, with a report of every decision.

    Parameters
    ----------
    method : {"chi2", "mutual_info", "correlation", "vif", "rfecv", "importance"}
        * ``chi2``: chi-squared test of each (min-max scaled) feature against y; score is
          the statistic; default keeps p < 0.05.
        * ``mutual_info``: mutual information with y; default keeps score > 0.
        * ``correlation``: of each pair with |r| > threshold (default 0.95), drops the one
          less correlated with y.
        * ``vif``: repeatedly drops the feature with the largest variance inflation factor
          while it exceeds threshold (default 10).
        * ``rfecv``: recursive elimination with stratified CV (logistic regression on
          standardised features, ROC AUC).
        * ``importance``: LightGBM gain share; default keeps share > 0.
    k : int, optional
        Keep the k best-scored features (scoring methods only; overrides threshold).
    threshold : float, optional
        The method's cut (see above).
    cv : int, default=3
        Folds for ``rfecv``.
    random_state : int, default=42

    Attributes
    ----------
    report_ : DataFrame with columns feature, score, kept, reason
    selected_ : list of str
    """

    _parameter_constraints: dict = {
        "method": [StrOptions(set(METHODS))],
        "k": [Interval(Integral, 1, None, closed="left"), None],
        "threshold": [Interval(Real, None, None, closed="neither"), None],
        "cv": [Interval(Integral, 2, None, closed="left")],
        "random_state": ["random_state"],
    }

    def __init__(
        self,
        *,
        method: str = "mutual_info",
        k: int | None = None,
        threshold: float | None = None,
        cv: int = 3,
        random_state: int | None = 42,
    ) -> None:
        self.method = method
        self.k = k
        self.threshold = threshold
        self.cv = cv
        self.random_state = random_state

    # --------------------------------------------------------------- fitting
    def _cut(self) -> float:
        return self.threshold if self.threshold is not None else DEFAULT_THRESHOLDS[self.method]

    def _ranked(
        self, names: list[str], scores: np.ndarray, *, above: float, label: str
    ) -> list[dict]:
        scores = np.nan_to_num(np.asarray(scores, dtype=float), nan=-np.inf)
        if self.k is not None:
            order = np.argsort(-scores, kind="stable")
            keep = set(order[: self.k].tolist())
            return [
                {
                    "feature": n,
                    "score": s,
                    "kept": i in keep,
                    "reason": f"rank {int(np.where(order == i)[0][0]) + 1} of {len(names)} by {label}",
                }
                for i, (n, s) in enumerate(zip(names, scores, strict=True))
            ]
        return [
            {
                "feature": n,
                "score": s,
                "kept": bool(s > above),
                "reason": f"{label} {s:.4g} {'>' if s > above else '<='} {above:g}",
            }
            for n, s in zip(names, scores, strict=True)
        ]

    def _fit_chi2(self, names, matrix, target):
        lo, hi = matrix.min(axis=0), matrix.max(axis=0)
        span = np.where(hi > lo, hi - lo, 1.0)
        stats, pvalues = chi2((matrix - lo) / span, target)
        if self.k is not None:
            return self._ranked(names, stats, above=0.0, label="chi2")
        cut = self._cut()
        return [
            {
                "feature": n,
                "score": float(np.nan_to_num(s)),
                "kept": bool(p < cut),
                "reason": f"p-value {p:.3g} {'<' if p < cut else '>='} {cut:g}",
            }
            for n, s, p in zip(names, stats, np.nan_to_num(pvalues, nan=1.0), strict=True)
        ]

    def _fit_correlation(self, names, matrix, target):
        cut = self._cut()
        with np.errstate(all="ignore"):
            corr = np.corrcoef(matrix, rowvar=False)
            relevance = np.nan_to_num(
                np.abs([np.corrcoef(matrix[:, j], target)[0, 1] for j in range(matrix.shape[1])])
            )
        # Visit features from most to least related to y, so the stronger of a pair stays.
        order = np.argsort(-relevance, kind="stable")
        rows = []
        for name, (keep, partner, r) in zip(names, decorrelate(corr, order, cut), strict=True):
            reason = (
                f"max |r| with kept features {abs(r):.3f} <= {cut:g}"
                if keep
                else f"|r|={abs(r):.3f} with '{names[partner]}' above {cut:g}"
            )
            rows.append({"feature": name, "score": abs(r), "kept": keep, "reason": reason})
        return rows

    def _fit_vif(self, names, matrix):
        cut = self._cut()
        dropped, final = drop_by_vif(matrix, cut)
        rows = {
            j: (v, False, "constant" if np.isinf(v) else f"VIF {v:.3g} > {cut:g}")
            for j, v in dropped
        }
        return [
            {
                "feature": n,
                "score": rows[j][0] if j in rows else float(final[j]),
                "kept": j not in rows,
                "reason": rows[j][2] if j in rows else f"VIF {final[j]:.3g} <= {cut:g}",
            }
            for j, n in enumerate(names)
        ]

    def _fit_rfecv(self, names, matrix, target):
        std = matrix.std(axis=0)
        scaled = (matrix - matrix.mean(axis=0)) / np.where(std > 0, std, 1.0)
        folds = StratifiedKFold(self.cv, shuffle=True, random_state=self.random_state)
        rfe = RFECV(
            LogisticRegression(max_iter=1000),
            cv=folds,
            scoring="roc_auc",
            min_features_to_select=self.k or 1,
        ).fit(scaled, target)
        return [
            {
                "feature": n,
                "score": float(-rank),
                "kept": bool(keep),
                "reason": "selected by RFECV" if keep else f"eliminated (rank {rank})",
            }
            for n, keep, rank in zip(names, rfe.support_, rfe.ranking_, strict=True)
        ]

    def _fit_importance(self, names, frame, target):
        from lightgbm import LGBMClassifier

        model = LGBMClassifier(
            n_estimators=100,
            importance_type="gain",
            random_state=self.random_state,
            verbose=-1,
            n_jobs=1,
        )
        # LightGBM takes categories natively; plain text columns become categories first,
        # and neutral names avoid its restrictions on column names.
        data = pd.DataFrame(
            {
                f"f{i}": frame[c]
                if pd.api.types.is_numeric_dtype(frame[c])
                or isinstance(frame[c].dtype, pd.CategoricalDtype)
                else frame[c].astype("category")
                for i, c in enumerate(frame.columns)
            },
            index=frame.index,
        )
        model.fit(data, target)
        gain = np.asarray(model.feature_importances_, dtype=float)
        share = gain / gain.sum() if gain.sum() > 0 else gain
        return self._ranked(names, share, above=self._cut(), label="gain share")

    def _fit(self, frame: pd.DataFrame, y: object) -> None:
        names = list(frame.columns)
        needs_y = self.method != "vif"
        if needs_y and y is None:
            raise DataError(NEEDS_TARGET.format(method=self.method))
        target = np.asarray(y).ravel() if y is not None else None
        matrix, is_categorical = numeric_view(frame)
        if self.method == "chi2":
            rows = self._fit_chi2(names, matrix, target)
        elif self.method == "mutual_info":
            scores = mutual_info_classif(
                matrix, target, discrete_features=is_categorical, random_state=self.random_state
            )
            rows = self._ranked(names, scores, above=self._cut(), label="mutual information")
        elif self.method == "correlation":
            rows = self._fit_correlation(names, matrix, target)
        elif self.method == "vif":
            rows = self._fit_vif(names, matrix)
        elif self.method == "rfecv":
            rows = self._fit_rfecv(names, matrix, target)
        else:
            rows = self._fit_importance(names, frame, target)
        self.report_ = pd.DataFrame(rows, columns=["feature", "score", "kept", "reason"])
        self.selected_ = [r["feature"] for r in rows if r["kept"]]
        self.derived_names_: list[str] = []

    def _derive(self, frame: pd.DataFrame) -> dict[str, np.ndarray]:
        return {}

    # --------------------------------------------------------------- output
    def transform(self, X: pd.DataFrame) -> pd.DataFrame:
        """Return only the selected columns of ``X`` (same index, same dtypes).

        Parameters
        ----------
        X : DataFrame of shape (n_samples, n_features)

        Returns
        -------
        DataFrame of shape (n_samples, len(selected_))
        """
        return self._input(X)[self.selected_]

    def get_feature_names_out(self, input_features: object = None) -> np.ndarray:
        """Names of the selected features."""
        check_is_fitted(self)
        return np.asarray(self.selected_, dtype=object)

    def selection_report(self) -> pd.DataFrame:
        """The decisions, kept features first, each group by descending score."""
        check_is_fitted(self)
        return self.report_.sort_values(
            ["kept", "score"], ascending=[False, False], kind="stable"
        ).reset_index(drop=True)
