"""A pandas-free scoring path for one applicant or a few, verified against the real pipeline.

Why it exists: a bundle's feature pipeline is a chain of DataFrame-in, DataFrame-out
transformers. On one row, pandas' per-call overhead (building frames, selecting and
concatenating columns, categorical conversion) costs tens of milliseconds, hundreds of
times the arithmetic. Every GreenScore feature step derives its columns with NumPy from
float blocks of its input (``FrameTransformer._derive`` reading
``numeric_block(frame, columns)``), so this module hands those same fitted ``_derive``
methods a light column store instead of a DataFrame, then assembles the model's float
matrix directly (category levels to LightGBM's category codes). The fitted transformers
still do all the maths; only the container differs.

A bundle is compiled only when its steps are ones this path understands (a
``TypeCoercer`` first, then ``FrameTransformer`` steps and passthroughs), and the compiled
path is used only after it reproduced the real pipeline, features and probability of
default, on probe rows spread over the bundle's training ranges. Anything else scores
through the pipeline on a DataFrame, which is always correct, only slower.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from greenscore.errors import DataError, ModelError
from greenscore.explain.feature_map import model_feature_names, raw_input_columns
from greenscore.explain.tree_contrib import lightgbm_booster
from greenscore.features._base import FrameTransformer
from greenscore.features.coercion import TypeCoercer
from greenscore.logging import get_logger

log = get_logger(__name__)

#: Largest difference in probability of default the compiled path may show on probes.
PD_TOLERANCE = 1e-9
NOT_A_NUMBER = "field '{column}': expected a number, got {value!r}"
NOT_A_CATEGORY = "field '{column}': {value!r} cannot be a category value"
MODES = ("lightgbm", "compiled", "pipeline")
_UNSEEN = "__greenscore_unseen__"


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
    matrix, ``frame.index`` the applicant ids (relational features look them up),
    ``len(frame)`` the row count. The raw numeric inputs sit in one matrix, so a block of
    them is a single fancy-indexing call (the positions of each column list are cached);
    derived columns are added one by one with :meth:`add`.
    """

    def __init__(
        self,
        base: np.ndarray,
        positions: Mapping[str, int],
        index: pd.Index,
        cache: dict[tuple[str, ...], np.ndarray],
    ) -> None:
        self._base = base
        self._positions = positions
        self._cache = cache
        self._extra: dict[str, np.ndarray] = {}
        self.index = index

    def __len__(self) -> int:
        return len(self.index)

    @property
    def shape(self) -> tuple[int, int]:
        return len(self.index), len(self._positions) + len(self._extra)

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

    def __init__(self, bundle: Any) -> None:
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
        self._positions = {c: i for i, c in enumerate(self.numeric_columns)}
        self._blocks: dict[tuple[str, ...], np.ndarray] = {}
        self.model_features = model_feature_names(bundle)
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
            base = np.array([[r.get(c) for c in numeric] for r in rows], dtype=float)
        except (TypeError, ValueError):
            base = np.array([[_number(r.get(c), c) for c in numeric] for r in rows], dtype=float)
        base = base.reshape(n, len(numeric))
        codes = {
            c: np.fromiter(
                (_code(r.get(c), table, numeric_levels, c) for r in rows), dtype=float, count=n
            )
            for c, (table, numeric_levels) in self._codes.items()
        }
        frame = ColumnFrame(base, self._positions, pd.Index(list(ids)), self._blocks)
        for step in self._steps:
            derived = step._derive(frame)  # the fitted step's own NumPy maths (see module doc)
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

    def frame(self, rows: Sequence[Mapping[str, Any]], ids: Sequence[Any]) -> pd.DataFrame:
        """The model's input as the DataFrame the classifier was fitted on (categoricals typed)."""
        return self.frame_from(self.matrix(rows, ids), ids)

    def frame_from(self, matrix: np.ndarray, ids: Sequence[Any]) -> pd.DataFrame:
        """Rows of :meth:`matrix` as the classifier's DataFrame (category codes to levels)."""
        data: dict[str, Any] = {}
        for j, feature in enumerate(self.model_features):
            column = matrix[:, j]
            if feature in self.categories:
                as_int = np.where(np.isnan(column), -1, column).astype(np.int64)
                data[feature] = pd.Categorical.from_codes(as_int, self.categories[feature])
            else:
                data[feature] = column
        return pd.DataFrame(data, index=pd.Index(list(ids)))

    def values(self, matrix_row: np.ndarray) -> dict[str, Any]:
        """One row of :meth:`matrix` as feature -> value (category codes back to levels)."""
        out: dict[str, Any] = {}
        for feature, x in zip(self.model_features, matrix_row.tolist(), strict=True):
            if feature in self.categories:
                out[feature] = None if x != x else self.categories[feature][int(x)]
            else:
                out[feature] = x
        return out


def input_categories(bundle: Any) -> dict[str, list[Any]] | None:
    """Training levels of each categorical input, from the pipeline's type coercer (or None)."""
    steps = _flatten(bundle.pipeline)
    if steps and isinstance(steps[0], TypeCoercer) and hasattr(steps[0], "categories_"):
        return {c: list(v) for c, v in steps[0].categories_.items()}
    return None


# ---------------------------------------------------------------------- probes
def probe_rows(
    bundle: Any, *, n: int = 40, seed: int = 0
) -> tuple[list[dict[str, Any]], list[Any]]:
    """Synthetic applicants spread over the bundle's training ranges, with gaps and oddities.

    Values come from ``metadata["training_ranges"]`` (or the coercer's levels), each field
    missing one time in ten, with an unseen category, the range ends and an all-missing row
    among them. They exercise every branch a real applicant can reach without needing the
    training data, which a served bundle does not carry.

    Returns
    -------
    rows : list of dict
    ids : list
        Applicant ids (``None`` for the first, then integers).
    """
    rng = np.random.default_rng(seed)
    ranges: Mapping[str, Any] = bundle.metadata.get("training_ranges") or {}
    columns = raw_input_columns(bundle)
    levels = input_categories(bundle) or {}
    rows: list[dict[str, Any]] = [dict.fromkeys(columns) for _ in range(n)]
    for c in columns:
        spec = ranges.get(c, {})
        cats = levels.get(c, spec.get("levels"))
        if cats is not None:
            pool = [*cats, _UNSEEN, None]
            for i in range(n):
                rows[i][c] = pool[int(rng.integers(len(pool)))]
            continue
        lo, hi = float(spec.get("min", 0.0)), float(spec.get("max", 100.0))
        p01, p99 = float(spec.get("p01", lo)), float(spec.get("p99", hi))
        for i in range(n):
            rows[i][c] = float(rng.uniform(p01, p99)) if p99 > p01 else p01
        rows[1][c], rows[2][c], rows[3][c] = lo, hi, 0.0
    for i in range(4, n):
        for c in columns:
            if rng.random() < 0.1:
                rows[i][c] = None
    rows[0] = dict.fromkeys(columns)
    ids: list[Any] = [None, *range(1, n)]
    return rows, ids


# ---------------------------------------------------------------------- the scorer
class FastScorer:
    """Probability of default for raw applicants by the fastest path verified for a bundle.

    Parameters
    ----------
    bundle : ScoringBundle
    verify : bool, default True
        Compare the compiled path with the real pipeline on :func:`probe_rows` before
        using it; False trusts it (tests of the comparison itself).

    Attributes
    ----------
    mode : {"lightgbm", "compiled", "pipeline"}
        ``lightgbm``: compiled features into the booster's float matrix;
        ``compiled``: compiled features into the classifier's DataFrame;
        ``pipeline``: the bundle's own pipeline on a DataFrame.
    reason : str
        Why the faster modes were not taken (empty for ``lightgbm``).
    probe_error : str or None
        Set when the bundle's own pipeline fails on the probe rows (a broken model).
    features : CompiledFeatures or None
    booster : lightgbm.Booster or None
    """

    def __init__(self, bundle: Any, *, verify: bool = True) -> None:
        self.bundle = bundle
        self.raw_columns = raw_input_columns(bundle)
        self.id_name = bundle.spec.id_column
        self.booster = lightgbm_booster(bundle.estimator)
        self.features: CompiledFeatures | None = None
        self.mode, self.reason = "pipeline", ""
        self.probe_error: str | None = None
        self._expected: tuple[Any, ...] | None = None
        try:
            self.features = CompiledFeatures(bundle)
        except NotCompilableError as exc:
            self.reason = exc.message
            return
        candidates = (["lightgbm"] if self.booster is not None else []) + ["compiled"]
        failures = []
        for mode in candidates:
            why = self._check(mode) if verify else None
            if why is None:
                self.mode = mode
                self.reason = "; ".join(failures)
                self._expected = None
                return
            failures.append(f"{mode}: {why}")
        self.features = None
        self.reason = "; ".join(failures)
        self._expected = None
        log.info("fast path off", extra={"model": bundle.name, "reason": self.reason})

    # -------------------------------------------------------------- scoring
    def predict(
        self, rows: Sequence[Mapping[str, Any]], ids: Sequence[Any]
    ) -> tuple[np.ndarray, np.ndarray | None]:
        """Probabilities of default, and the booster matrix when the mode has one.

        Parameters
        ----------
        rows : sequence of dict
            Raw applicants (field -> value); extra fields are ignored.
        ids : sequence
            Applicant ids (``None`` where unknown), same order.

        Returns
        -------
        pd : ndarray of shape (n_rows,)
        matrix : ndarray of shape (n_rows, n_model_features) or None
        """
        return self._predict(self.mode, rows, ids)

    def _predict(
        self, mode: str, rows: Sequence[Mapping[str, Any]], ids: Sequence[Any]
    ) -> tuple[np.ndarray, np.ndarray | None]:
        if mode == "lightgbm":
            assert self.features is not None
            matrix = self.features.matrix(rows, ids)
            # One thread: for a handful of rows OpenMP start-up costs more than it saves.
            return self.booster.predict(matrix, num_threads=1), matrix
        if mode == "compiled":
            assert self.features is not None
            frame = self.features.frame(rows, ids)
            return self.bundle.estimator.predict_proba(frame)[:, 1], None
        frame = rows_frame(rows, ids, self.raw_columns, self.id_name)
        return self.bundle.predict_pd(frame), None

    # -------------------------------------------------------------- verification
    def _probe(self) -> tuple[Any, ...]:
        """Probe rows and the real pipeline's features and PD on them (computed once)."""
        if self._expected is None:
            rows, ids = probe_rows(self.bundle)
            frame = rows_frame(rows, ids, self.raw_columns, self.id_name)
            try:
                features = self.bundle.features.transform(frame)
                expected = self.bundle.pipeline.predict_proba(frame)[:, 1]
            except Exception as exc:  # noqa: BLE001 - a model failing its own probes
                self.probe_error = f"{type(exc).__name__}: {exc}"
                features = expected = None
            self._expected = (rows, ids, features, expected)
        return self._expected

    def _check(self, mode: str) -> str | None:
        """None when ``mode`` reproduces the pipeline on the probes, else why not."""
        rows, ids, expected_features, expected = self._probe()
        if self.probe_error is not None:
            return f"the pipeline itself fails on probe rows ({self.probe_error})"
        try:
            got, matrix = self._predict(mode, rows, ids)
        except Exception as exc:  # noqa: BLE001 - any failure means "not this shortcut"
            return f"{type(exc).__name__}: {exc}"
        if matrix is not None:
            why = self._compare_matrix(matrix, expected_features)
            if why:
                return why
        worst = float(np.max(np.abs(np.asarray(got, dtype=float) - expected)))
        if not worst <= PD_TOLERANCE:
            return f"probability differs from the pipeline by {worst:.3g} on probe rows"
        return None

    def _compare_matrix(self, matrix: np.ndarray, expected: pd.DataFrame) -> str | None:
        assert self.features is not None
        for j, feature in enumerate(self.features.model_features):
            if feature not in expected.columns:
                return f"pipeline output lacks model feature '{feature}'"
            column = expected[feature]
            if isinstance(column.dtype, pd.CategoricalDtype):
                want = column.cat.codes.to_numpy().astype(float)
                want[want < 0] = np.nan
                if list(column.cat.categories) != self.features.categories.get(feature):
                    return f"categories of '{feature}' differ from the coercer's"
            else:
                want = pd.to_numeric(column, errors="coerce").to_numpy(dtype=float)
            # The same row computed alone or in a block can differ in the last bit of a sum.
            if not np.allclose(matrix[:, j], want, rtol=1e-9, atol=1e-12, equal_nan=True):
                return f"feature '{feature}' differs from the pipeline on probe rows"
        return None
