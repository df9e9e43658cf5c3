"""Model features of raw applicants without pandas: a bundle's fitted feature steps over NumPy.

Why it exists: a bundle's feature pipeline is a chain of DataFrame-in, DataFrame-out
transformers. On one row, pandas' per-call overhead (building frames, selecting and
concatenating columns, categorical conversion) costs tens of milliseconds, hundreds of
times the arithmetic. Every GreenScore feature step derives its columns with NumPy from
float blocks of its input (``FrameTransformer._derive`` reading
``numeric_block(frame, columns)``), so :class:`CompiledFeatures` hands those same fitted
``_derive`` methods a light column store instead of a DataFrame, then assembles the
model's float matrix directly (category levels as their codes). The fitted transformers
still do all the maths; only the container differs -- except the monthly histories of the
temporal and behavioural steps, which :mod:`greenscore.models.runtime.history` computes in
compiled loops, operation for operation the steps' own (their NumPy calls' fixed cost was
most of a one-applicant encoding).

A bundle is compiled only when its steps are ones this module understands (a
``TypeCoercer`` first, then ``FrameTransformer`` steps and passthroughs); the runtime
(:mod:`greenscore.models.runtime.runtime`) uses it only after it reproduced the real
pipeline on probe rows.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from operator import itemgetter
from typing import Any

import numpy as np
import pandas as pd

from greenscore.errors import DataError, ModelError
from greenscore.features._base import FrameTransformer
from greenscore.features.coercion import TypeCoercer
from greenscore.features.relational import links_of_rows
from greenscore.models.bundle import ScoringBundle
from greenscore.models.columns import model_feature_names
from greenscore.models.runtime.history import compiled_deriver
from greenscore.models.runtime.relations import relation_deriver

NOT_A_NUMBER = "field '{column}': expected a number, got {value!r}"
NOT_A_CATEGORY = "field '{column}': {value!r} cannot be a category value"


class NotCompilableError(ModelError):
    """The bundle's feature steps are not ones the fast path can run without pandas."""


# ---------------------------------------------------------------------- the column store
class _Block:
    """What ``frame[columns]`` returns: a float block that answers ``to_numpy``."""

    __slots__ = ("_values",)

    def __init__(self, values: np.ndarray) -> None:
        self._values = values

    def to_numpy(self, dtype: Any = None, na_value: Any = None, copy: bool = False) -> np.ndarray:
        return self._values if dtype is None else self._values.astype(dtype, copy=False)


class ColumnFrame:
    """The part of the DataFrame interface feature steps read in ``_derive``.

    ``frame[list]`` gives a block whose ``to_numpy()`` is the ``(n_rows, len(list))`` float
    matrix, ``frame.ids`` the applicant ids (relational features look them up),
    ``frame.links`` each row's own links (None when no row has any) and
    ``frame.index`` the same as a pandas ``Index`` (made on first use), ``len(frame)`` the
    row count. The raw numeric inputs sit in one matrix, so a block of
    them is a single fancy-indexing call (the positions of each column list are cached);
    derived columns are added one by one with :meth:`add`.
    """

    def __init__(
        self,
        base: np.ndarray,
        positions: Mapping[str, int],
        ids: Sequence[Any],
        cache: dict[tuple[str, ...], np.ndarray],
        links: Sequence[Any] | None = None,
    ) -> None:
        self._base = base
        self._positions = positions
        self._cache = cache
        self._extra: dict[str, np.ndarray] = {}
        self._index: pd.Index | None = None
        self.ids = ids
        self.links = links

    def __len__(self) -> int:
        return len(self.ids)

    @property
    def index(self) -> pd.Index:
        if self._index is None:
            self._index = pd.Index(list(self.ids))
        return self._index

    @property
    def shape(self) -> tuple[int, int]:
        return len(self.ids), len(self._positions) + len(self._extra)

    @property
    def columns(self) -> list[str]:
        return [*self._positions, *self._extra]

    def add(self, name: str, values: np.ndarray) -> None:
        """Append a derived column."""
        self._extra[name] = values

    def column(self, name: str) -> np.ndarray:
        """One column as a 1-D float array."""
        extra = self._extra.get(name)
        return extra if extra is not None else self._base[:, self._positions[name]]

    def __getitem__(self, key: str | Sequence[str]) -> _Block:
        if isinstance(key, str):
            return _Block(self.column(key))
        key = tuple(key)
        where = self._cache.get(key)
        if where is None:
            if any(c not in self._positions for c in key):
                return _Block(np.column_stack([self.column(c) for c in key]))
            where = self._cache.setdefault(key, np.array([self._positions[c] for c in key]))
        return _Block(self._base[:, where])


# ---------------------------------------------------------------------- value conversion
def _number(value: Any, column: str) -> float:
    if value is None:
        return math.nan
    try:
        return float(value)
    except (TypeError, ValueError):
        raise DataError(NOT_A_NUMBER.format(column=column, value=value)) from None


def _level_codes(levels: Sequence[Any]) -> tuple[dict[Any, float], bool]:
    numeric = bool(levels) and all(
        isinstance(v, int | float | np.integer | np.floating) and not isinstance(v, bool)
        for v in levels
    )
    return {v: float(i) for i, v in enumerate(levels)}, numeric


def _code(value: Any, codes: dict[Any, float], numeric_levels: bool, column: str) -> float:
    if value is None or (isinstance(value, float) and value != value):
        return math.nan
    try:
        code = codes.get(value)
    except TypeError:
        raise DataError(NOT_A_CATEGORY.format(column=column, value=value)) from None
    if code is not None:
        return code
    # The coercer compares codes sent as text ("2") with numeric levels as numbers.
    if numeric_levels and isinstance(value, str):
        try:
            return codes.get(float(value), math.nan)
        except ValueError:
            return math.nan
    return math.nan


def _fields(rows: Sequence[Mapping[str, Any]], columns: Sequence[str]) -> list[Sequence[Any]]:
    """Each row's values of ``columns`` (None where a row lacks one).

    Plain dicts that hold every column (what a JSON body parses to) are read by one
    ``itemgetter`` call per row, in C; anything else field by field with ``get``.
    """
    if len(columns) > 1 and all(type(r) is dict for r in rows):
        get = itemgetter(*columns)
        try:
            return [get(r) for r in rows]
        except KeyError:  # a row lacks a field: missing, as get says
            pass
    return [tuple(map(r.get, columns)) for r in rows]


def _codes_of(
    values: list[Any], codes: dict[Any, float], numeric_levels: bool, column: str
) -> np.ndarray:
    """:func:`_code` of each value: a training level's code by one dict lookup, anything
    else (missing, text of a numeric level, unseen, unhashable) by :func:`_code`."""
    try:
        found = [codes.get(v) for v in values]
    except TypeError:  # an unhashable value: _code names the column
        found = [None] * len(values)
    return np.array(
        [
            _code(v, codes, numeric_levels, column) if code is None else code
            for v, code in zip(values, found, strict=True)
        ],
        dtype=float,
    )


def rows_frame(
    rows: Sequence[Mapping[str, Any]],
    ids: Sequence[Any],
    columns: Sequence[str],
    id_name: str | None,
) -> pd.DataFrame:
    """The raw DataFrame the real pipeline scores: ``columns`` of ``rows``, ids as index."""
    data = {c: [r.get(c) for r in rows] for c in columns}
    return pd.DataFrame(data, columns=list(columns), index=pd.Index(list(ids), name=id_name))


# ---------------------------------------------------------------------- compiled features
def _flatten(pipeline: Any) -> list[Any]:
    """The transformers before the classifier, nested pipelines spliced, passthroughs dropped."""

    def steps(node: Any) -> list[Any]:
        if node is None or (isinstance(node, str) and node == "passthrough"):
            return []
        if hasattr(node, "steps"):
            return [t for _, child in node.steps for t in steps(child)]
        return [node]

    return [t for _, step in list(pipeline.steps)[:-1] for t in steps(step)]


class CompiledFeatures:
    """A bundle's fitted feature steps run over NumPy columns instead of a DataFrame.

    Parameters
    ----------
    bundle : ScoringBundle
        A fitted bundle whose feature steps are a ``TypeCoercer`` followed by
        ``FrameTransformer`` steps.
    model_features : list of str, optional
        The classifier's columns, when the classifier does not record them itself.

    Attributes
    ----------
    raw_columns : list of str
        Input columns, in the pipeline's order.
    numeric_columns : list of str
    categories : dict of str to list
        Training levels of each categorical input column.
    model_features : list of str
        The classifier's columns, in its order.

    Raises
    ------
    NotCompilableError
        If a step is of a kind this path cannot run, or a model feature has no known source.
    """

    def __init__(self, bundle: ScoringBundle, model_features: Sequence[str] | None = None) -> None:
        steps = _flatten(bundle.pipeline)
        if not steps or not isinstance(steps[0], TypeCoercer):
            raise NotCompilableError("the feature steps do not start with a TypeCoercer")
        for step in steps[1:]:
            if not isinstance(step, FrameTransformer) or isinstance(step, TypeCoercer):
                raise NotCompilableError(f"feature step {type(step).__name__} is not compilable")
        coercer: TypeCoercer = steps[0]
        self.raw_columns = [str(c) for c in coercer.feature_names_in_]
        self.numeric_columns = list(coercer.numeric_columns_)
        self.categories = {c: list(coercer.categories_[c]) for c in coercer.categorical_columns_}
        self._codes = {c: _level_codes(levels) for c, levels in self.categories.items()}
        self._steps = [s for s in steps[1:] if s.derived_names_]
        # Monthly histories in compiled loops (the same maths, see runtime.history), the
        # graph's ids by dictionary (runtime.relations); every other step's own _derive.
        self._derivers = [
            compiled_deriver(s) or relation_deriver(s) or s._derive for s in self._steps
        ]
        self._positions = {c: i for i, c in enumerate(self.numeric_columns)}
        self._blocks: dict[tuple[str, ...], np.ndarray] = {}
        if model_features is None:
            try:
                model_features = model_feature_names(bundle)
            except ModelError as exc:
                raise NotCompilableError(exc.message) from None
        self.model_features = list(model_features)
        known = set(self.raw_columns) | {n for s in self._steps for n in s.derived_names_}
        unknown = [f for f in self.model_features if f not in known]
        if unknown:
            raise NotCompilableError(f"model features with no compiled source: {unknown[:5]}")

    def columns(
        self, rows: Sequence[Mapping[str, Any]], ids: Sequence[Any]
    ) -> tuple[ColumnFrame, dict[str, np.ndarray]]:
        """Every numeric and derived column, and the category code of each categorical one.

        Returns
        -------
        numbers : ColumnFrame
            Raw numeric and derived columns (``numbers.column(name)``).
        codes : dict of str to ndarray of shape (n_rows,)
            Index into :attr:`categories` of each value; NaN for missing or unseen levels.

        Raises
        ------
        DataError
            If a numeric field holds something that is not a number.
        """
        n = len(rows)
        numeric = self.numeric_columns
        try:
            # NumPy reads None as NaN and numeric text as numbers, as the coercer does.
            base = np.array(_fields(rows, numeric), dtype=float)
        except (TypeError, ValueError):
            base = np.array([[_number(r.get(c), c) for c in numeric] for r in rows], dtype=float)
        base = base.reshape(n, len(numeric))
        codes = {
            c: _codes_of([r.get(c) for r in rows], table, numeric_levels, c)
            for c, (table, numeric_levels) in self._codes.items()
        }
        frame = ColumnFrame(base, self._positions, ids, self._blocks, links_of_rows(rows))
        for step, derive in zip(self._steps, self._derivers, strict=True):
            derived = derive(frame)  # the fitted step's own maths (see module doc)
            for name in step.derived_names_:
                frame.add(name, np.asarray(derived[name], dtype=float))
        return frame, codes

    def matrix(self, rows: Sequence[Mapping[str, Any]], ids: Sequence[Any]) -> np.ndarray:
        """The model's input as floats, category levels as codes: shape ``(n_rows, n_features)``."""
        numbers, codes = self.columns(rows, ids)
        out = np.empty((len(rows), len(self.model_features)))
        for j, feature in enumerate(self.model_features):
            out[:, j] = codes[feature] if feature in codes else numbers.column(feature)
        return out


class MatrixLayout:
    """How model features sit in the runtime's float matrix, and the way back to a frame.

    Numeric features are their values; a categorical feature is the index of its level in
    ``categories[feature]`` (NaN for missing or unseen), which is exactly what LightGBM
    makes of a pandas categorical, so one matrix serves the booster, the exact
    contributions and the reason wording.

    Parameters
    ----------
    model_features : list of str
        The classifier's columns, in its order.
    categories : dict of str to list
        Levels of each categorical model feature.

    Attributes
    ----------
    levels : list
        Per model feature, its levels (categorical) or None (numeric).
    """

    def __init__(self, model_features: Sequence[str], categories: Mapping[str, Sequence[Any]]):
        self.model_features = list(model_features)
        self.categories = {f: list(v) for f, v in categories.items() if f in set(model_features)}
        self.levels: list[list[Any] | None] = [self.categories.get(f) for f in self.model_features]

    def encode(self, transformed: pd.DataFrame) -> np.ndarray:
        """The model features of a frame (output of the feature steps) as the matrix.

        Raises
        ------
        ModelError
            If a column the layout needs is missing, or a numeric one holds text.
        """
        columns = _columns_of(transformed, self.model_features)
        out = np.empty((len(transformed), len(self.model_features)), dtype=np.float64)
        for j, (feature, levels) in enumerate(zip(self.model_features, self.levels, strict=True)):
            values = transformed.iloc[:, columns[j]]
            if levels is not None:
                codes = pd.Categorical(values, categories=levels).codes.astype(np.float64)
                codes[codes < 0] = np.nan
                out[:, j] = codes
            else:
                try:
                    out[:, j] = pd.to_numeric(values, errors="raise").to_numpy(dtype=np.float64)
                except (TypeError, ValueError) as exc:
                    raise ModelError(f"model feature '{feature}' is not numeric: {exc}") from None
        return out

    def decode(self, matrix: np.ndarray, index: Sequence[Any] | pd.Index) -> pd.DataFrame:
        """Rows of the matrix as the classifier's DataFrame (category codes to levels)."""
        data: dict[str, Any] = {}
        for j, (feature, levels) in enumerate(zip(self.model_features, self.levels, strict=True)):
            column = matrix[:, j]
            if levels is not None:
                as_int = np.where(np.isnan(column), -1, column).astype(np.int64)
                data[feature] = pd.Categorical.from_codes(as_int, levels)
            else:
                data[feature] = column
        return pd.DataFrame(data, index=index if isinstance(index, pd.Index) else pd.Index(index))

    def value(self, x: float, j: int) -> Any:
        """Matrix entry ``x`` of feature ``j`` as its value (a category code as its level)."""
        levels = self.levels[j]
        x = float(x)
        return x if levels is None else (None if x != x else levels[int(x)])


def _columns_of(frame: pd.DataFrame, model_features: Sequence[str]) -> list[int]:
    """Where each model feature is in a frame: by name, else by position (LightGBM reads
    columns by position and renames features with characters its format cannot hold).

    Raises
    ------
    ModelError
        If the frame has neither the features' names nor their number of columns.
    """
    names = [str(c) for c in frame.columns]
    where = {c: i for i, c in enumerate(names)}
    if all(f in where for f in model_features):
        return [where[f] for f in model_features]
    if len(names) == len(model_features):
        return list(range(len(names)))
    missing = [f for f in model_features if f not in where]
    raise ModelError(f"the feature steps did not produce model features {missing[:5]}")


def input_categories(bundle: ScoringBundle) -> dict[str, list[Any]] | None:
    """Training levels of each categorical input, from the pipeline's type coercer (or None)."""
    steps = _flatten(bundle.pipeline)
    if steps and isinstance(steps[0], TypeCoercer) and hasattr(steps[0], "categories_"):
        return {c: list(v) for c, v in steps[0].categories_.items()}
    return None
