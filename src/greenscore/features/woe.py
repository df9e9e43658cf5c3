"""Weight-of-evidence binning over optbinning's ``BinningProcess``, for scorecards.

Bins are optimised on the training rows only; every feature is then replaced by the WoE
of its bin. Categorical features are binned as categories, missing values get their
own bin (its empirical WoE when training had missing values, else 0), and a category
never seen in training gets WoE 0, the neutral value.
"""

from __future__ import annotations

from numbers import Integral, Real

import numpy as np
import pandas as pd
from sklearn.utils._param_validation import Interval
from sklearn.utils.validation import check_is_fitted

from greenscore.errors import DataError, NotFoundError
from greenscore.features._base import FrameTransformer

UNKNOWN_FEATURE = "no binning for feature '{feature}'; binned features: {known}"
NEEDS_TARGET = "WoEBinner needs the training targets y at fit (got None)"


class WoEBinner(FrameTransformer):
    """Optimal binning of every feature and transformation to weight of evidence.

    Parameters
    ----------
    max_n_prebins : int, default=20
        Pre-binning resolution before optimisation.
    min_prebin_size : float, default=0.05
        Smallest pre-bin, as a share of the training rows.
    max_n_bins : int, optional
        Upper limit on bins per feature.
    min_bin_size : float, optional
        Smallest final bin, as a share of the training rows.
    special_codes : list, optional
        Values with their own bin (e.g. -999 for "not applicable").

    Attributes
    ----------
    binning_process_ : optbinning.BinningProcess
    categorical_columns_ : list of str
    derived_names_ : list of str
        Always empty: each feature is replaced by its WoE under the same name.

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> rng = np.random.default_rng(0)
    >>> X = pd.DataFrame({"x": rng.normal(size=400)})
    >>> y = (X["x"] + rng.normal(size=400) > 0).astype(int)
    >>> binner = WoEBinner().fit(X, y)
    >>> list(binner.iv_table().columns)
    ['feature', 'iv', 'n_bins']
    """

    _parameter_constraints: dict = {
        "max_n_prebins": [Interval(Integral, 2, None, closed="left")],
        "min_prebin_size": [Interval(Real, 0, 0.5, closed="right")],
        "max_n_bins": [Interval(Integral, 1, None, closed="left"), None],
        "min_bin_size": [Interval(Real, 0, 0.5, closed="right"), None],
        "special_codes": [list, None],
    }

    def __init__(
        self,
        *,
        max_n_prebins: int = 20,
        min_prebin_size: float = 0.05,
        max_n_bins: int | None = None,
        min_bin_size: float | None = None,
        special_codes: list | None = None,
    ) -> None:
        self.max_n_prebins = max_n_prebins
        self.min_prebin_size = min_prebin_size
        self.max_n_bins = max_n_bins
        self.min_bin_size = min_bin_size
        self.special_codes = special_codes

    def _prepared(self, frame: pd.DataFrame) -> pd.DataFrame:
        """Categorical columns as plain objects, which optbinning bins as categories."""
        if not self.categorical_columns_:
            return frame
        out = frame.copy()
        for column in self.categorical_columns_:
            series = out[column].astype(object)
            out[column] = series.where(series.notna(), np.nan)
        return out

    def _fit(self, frame: pd.DataFrame, y: object) -> None:
        from optbinning import BinningProcess

        if y is None:
            raise DataError(NEEDS_TARGET)
        self.categorical_columns_ = [
            c
            for c in frame.columns
            if isinstance(frame[c].dtype, pd.CategoricalDtype)
            or not pd.api.types.is_numeric_dtype(frame[c])
        ]
        process = BinningProcess(
            list(frame.columns),
            max_n_prebins=self.max_n_prebins,
            min_prebin_size=self.min_prebin_size,
            max_n_bins=self.max_n_bins,
            min_bin_size=self.min_bin_size,
            categorical_variables=self.categorical_columns_ or None,
            special_codes=self.special_codes,
        )
        self.binning_process_ = process.fit(self._prepared(frame), np.asarray(y).ravel())
        self.derived_names_: list[str] = []

    def _derive(self, frame: pd.DataFrame) -> dict[str, np.ndarray]:
        return {}

    def transform(self, X: pd.DataFrame) -> pd.DataFrame:
        """Replace every feature by the WoE of its bin; same columns, same index.

        Parameters
        ----------
        X : DataFrame of shape (n_samples, n_features)

        Returns
        -------
        DataFrame of float, shape (n_samples, n_features)
        """
        frame = self._input(X)
        woe = self.binning_process_.transform(
            self._prepared(frame),
            metric="woe",
            metric_missing="empirical",
            metric_special="empirical",
        )
        values = np.asarray(woe, dtype=float)
        return pd.DataFrame(values, index=frame.index, columns=list(frame.columns))

    def iv_table(self) -> pd.DataFrame:
        """Information value and bin count per feature, most informative first."""
        check_is_fitted(self)
        summary = self.binning_process_.summary()
        table = pd.DataFrame(
            {
                "feature": summary["name"].astype(str),
                "iv": summary["iv"].astype(float),
                "n_bins": summary["n_bins"].astype(int),
            }
        )
        return table.sort_values("iv", ascending=False, kind="stable").reset_index(drop=True)

    def binning_table(self, feature: str) -> pd.DataFrame:
        """optbinning's binning table (bins, counts, event rate, WoE, IV) of one feature.

        Raises
        ------
        NotFoundError
            If the feature was not binned.
        """
        check_is_fitted(self)
        if feature not in list(self.feature_names_in_):
            raise NotFoundError(
                UNKNOWN_FEATURE.format(feature=feature, known=", ".join(self.feature_names_in_))
            )
        return self.binning_process_.get_binned_variable(feature).binning_table.build()
