"""Type coercion, the first feature step: numbers become float, categoricals a fixed ``category``.

Categories are learnt from the training rows only, so a model sees the same levels in
every fold and at serving time; a level never seen in training becomes NaN (the model's
missing-value path) instead of an error, because a new product code or a typo must not
stop scoring.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd
from sklearn.utils.validation import check_is_fitted

from greenscore.data.spec import DatasetSpec
from greenscore.features._base import FrameTransformer, numeric_block
from greenscore.logging import get_logger

log = get_logger(__name__)


def _sorted_levels(values: pd.Series) -> list:
    levels = pd.unique(values.dropna())
    try:
        return sorted(levels.tolist())
    except TypeError:
        # Mixed types (e.g. 1 and "A") have no natural order; sort by text for stability.
        return sorted(levels.tolist(), key=str)


class TypeCoercer(FrameTransformer):
    """Make numeric features float and categorical features ``category`` with fixed levels.

    Parameters
    ----------
    spec : DatasetSpec, optional
        Columns listed in ``spec.categorical`` are categorical even when stored as
        numbers (Taiwan's ``EDUCATION``); any non-numeric column is categorical too.

    Attributes
    ----------
    categories_ : dict of str to list
        Training levels of each categorical column, sorted.
    numeric_columns_, categorical_columns_ : list of str
    derived_names_ : list of str
        Always empty: this step adds no columns.

    Examples
    --------
    >>> import pandas as pd
    >>> X = pd.DataFrame({"grade": ["A", "B"], "income": [10, 20]})
    >>> out = TypeCoercer().fit(X).transform(pd.DataFrame({"grade": ["C"], "income": [5]}))
    >>> out["grade"].isna().item(), out["income"].dtype.name
    (True, 'float64')
    """

    _parameter_constraints: dict = {"spec": [DatasetSpec, None]}

    def __init__(self, *, spec: DatasetSpec | None = None) -> None:
        self.spec = spec

    def _fit(self, frame: pd.DataFrame, y: object) -> None:
        declared = set(self.spec.categorical) if self.spec is not None else set()
        self.categorical_columns_ = [
            c
            for c in frame.columns
            if c in declared
            or not (pd.api.types.is_numeric_dtype(frame[c]) or pd.api.types.is_bool_dtype(frame[c]))
        ]
        categorical = set(self.categorical_columns_)
        self.numeric_columns_ = [c for c in frame.columns if c not in categorical]
        # Check the numeric columns now, so a text value in a number column fails at fit.
        if self.numeric_columns_:
            numeric_block(frame, self.numeric_columns_, type(self).__name__)
        self.categories_ = {c: _sorted_levels(frame[c]) for c in self.categorical_columns_}
        self.derived_names_: list[str] = []

    def _derive(self, frame: pd.DataFrame) -> Mapping[str, np.ndarray]:
        return {}

    def _categorical(self, values: pd.Series, levels: list) -> pd.Categorical:
        if isinstance(values.dtype, pd.CategoricalDtype):
            values = values.astype(object)
        numeric_levels = bool(levels) and all(
            isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, bool)
            for v in levels
        )
        if numeric_levels and not pd.api.types.is_numeric_dtype(values):
            # Serving payloads often carry codes as text ("2"); compare them as numbers.
            values = pd.to_numeric(values, errors="coerce")
        elif levels and not numeric_levels and pd.api.types.is_numeric_dtype(values):
            values = values.astype(object).where(values.isna(), values.astype(str))
        return pd.Categorical(values, categories=levels)

    def transform(self, X: pd.DataFrame) -> pd.DataFrame:
        """Return ``X`` with numeric columns as float and categoricals on the training levels.

        Parameters
        ----------
        X : DataFrame of shape (n_samples, n_features)

        Returns
        -------
        DataFrame of the same shape and index; unseen categories are NaN.
        """
        check_is_fitted(self)
        frame = self._input(X)
        columns: dict[str, object] = {}
        numeric = (
            numeric_block(frame, self.numeric_columns_, type(self).__name__)
            if self.numeric_columns_
            else np.empty((len(frame), 0))
        )
        positions = {c: i for i, c in enumerate(self.numeric_columns_)}
        for column in frame.columns:
            if column in positions:
                columns[column] = numeric[:, positions[column]]
            else:
                coded = self._categorical(frame[column], self.categories_[column])
                unseen = int((pd.isna(coded) & frame[column].notna().to_numpy()).sum())
                if unseen:
                    log.debug(
                        "unseen categories set to missing", extra={"column": column, "rows": unseen}
                    )
                columns[column] = coded
        return pd.DataFrame(columns, index=frame.index)
