"""Turn a model-input DataFrame into the tensors a credit net reads.

Every net fits one :class:`TabularEncoder` inside ``fit`` (so nothing leaks across CV folds)
and uses it again at predict time:

- **numerics** are standardised (heavy-tailed money columns first get a signed
  ``log1p``), NaN/inf become 0 after standardisation plus a 0/1 indicator column for every
  column that had gaps in the training rows;
- **categoricals** (pandas ``category``/``object``/``string`` dtype, or listed in
  ``spec.categorical``) become integer indices ``1..K`` with ``0`` the slot for missing,
  unseen and rare values, so an unseen category at scoring time is not an error;
- **sequences** (the spec's groups present in ``X``, oldest month first, one feature per
  group per step) become ``[n, T, F]`` arrays. A shorter history shows up as leading NaNs;
  the encoder moves each row's observed steps to the front (oldest first) and returns the
  number of observed steps, so recurrent nets can pack and others can mask: steps at and
  after ``lengths[i]`` are padding and are zero.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch

from greenscore.data.spec import DatasetSpec
from greenscore.errors import DataError

#: A numeric column whose absolute skewness exceeds this gets a signed log1p first.
SKEW_LIMIT = 2.0
#: Categories seen fewer times than this in the training rows share the unknown slot, so
#: that slot is trained and unseen values at scoring time get a learned embedding.
MIN_CATEGORY_COUNT = 5

MSG_NOT_FRAME = "{name} expects a pandas DataFrame as X, got {got}"
MSG_MISSING = "X lacks the column(s) {columns} the model was fitted with"
MSG_NOT_NUMERIC = "column '{column}' must be numeric (or declared categorical), got dtype {dtype}"


@dataclass
class EncodedInputs:
    """The encoded rows: arrays ready to become tensors.

    Attributes
    ----------
    num : float32 ``[n, d_num]`` standardised numerics and NaN indicators.
    cat : int64 ``[n, d_cat]`` category indices (0 = missing/unknown).
    seq : float32 ``[n, T, F]`` sequences, observed steps first, or None.
    lengths : int64 ``[n]`` observed steps per row (at least 1), or None.
    """

    num: np.ndarray
    cat: np.ndarray
    seq: np.ndarray | None = None
    lengths: np.ndarray | None = None

    def __len__(self) -> int:
        return self.num.shape[0]

    def tensors(self, index: np.ndarray | None = None) -> dict[str, torch.Tensor]:
        """The rows (all, or ``index``) as the keyword tensors of a net's ``forward``."""
        take = (lambda a: a) if index is None else (lambda a: a[index])
        out = {
            "num": torch.from_numpy(np.ascontiguousarray(take(self.num))),
            "cat": torch.from_numpy(np.ascontiguousarray(take(self.cat))),
        }
        if self.seq is not None and self.lengths is not None:
            out["seq"] = torch.from_numpy(np.ascontiguousarray(take(self.seq)))
            out["lengths"] = torch.from_numpy(np.ascontiguousarray(take(self.lengths)))
        return out


def _signed_log(values: np.ndarray) -> np.ndarray:
    return np.sign(values) * np.log1p(np.abs(values))


def _skewed(values: np.ndarray) -> bool:
    finite = values[np.isfinite(values)]
    if finite.size < 3:
        return False
    std = finite.std()
    if std == 0:
        return False
    skew = float(np.mean(((finite - finite.mean()) / std) ** 3))
    return abs(skew) > SKEW_LIMIT


def _category_key(value: object) -> str:
    # 1, 1.0 and np.int64(1) must be the same category whatever dtype the column arrives in.
    if isinstance(value, (int, float, np.number)) and float(value).is_integer():
        return str(int(value))
    return str(value)


def _category_keys(values: pd.Series) -> pd.Series:
    """String keys of a column's values (NaN stays NaN), computed once per distinct value."""
    keys = {v: _category_key(v) for v in pd.unique(values.dropna())}
    return values.astype(object).map(keys)


def _category_codes(values: pd.Series, mapping: dict[str, int]) -> np.ndarray:
    """Embedding indices of a column's values (0 for missing, unseen and rare values).

    A ``category`` column is mapped through its few levels and its integer codes instead
    of value by value: the same indices, a fraction of the time on a large batch.
    """
    if isinstance(values.dtype, pd.CategoricalDtype):
        levels = values.cat.categories
        table = np.array([mapping.get(_category_key(v), 0) for v in levels] + [0], np.int64)
        codes = values.cat.codes.to_numpy()
        return table[np.where(codes < 0, len(levels), codes)]
    return _category_keys(values).map(mapping).fillna(0).to_numpy(dtype=np.int64)


def _as_float(frame: pd.DataFrame, columns: list[str]) -> np.ndarray:
    if not columns:
        return np.zeros((len(frame), 0), dtype=np.float64)
    dtypes = frame.dtypes
    for column in columns:
        dtype = dtypes[column]
        # dtype.kind answers for numpy and pandas' nullable numbers at once (a tenth of the
        # time of the pandas predicates, which then only judge the other dtypes).
        if getattr(dtype, "kind", "O") in "biufc":
            continue
        if not (pd.api.types.is_numeric_dtype(dtype) or pd.api.types.is_bool_dtype(dtype)):
            raise DataError(MSG_NOT_NUMERIC.format(column=column, dtype=dtype))
    values = frame[columns].to_numpy(dtype=np.float64, na_value=np.nan)
    # Derived ratios can divide by zero; inf is treated as missing, not as a huge number.
    values[~np.isfinite(values)] = np.nan
    return values


class TabularEncoder:
    """Fit-once encoder from a model-input DataFrame to :class:`EncodedInputs`.

    Parameters
    ----------
    spec : DatasetSpec, optional
        Declares categorical columns and sequence groups.
    use_sequences : bool
        Build ``[n, T, F]`` sequences from the spec's groups (their columns then leave the
        static block); False keeps every column static (DNN, GNN).

    Attributes
    ----------
    numeric_columns_, categorical_columns_ : static columns by kind.
    sequence_groups_ : ``(name, columns)`` of the groups used, all right-aligned to ``T``.
    cardinalities_ : number of embedding rows per categorical (including slot 0).
    num_features_ : width of the numeric block.
    """

    def __init__(self, *, spec: DatasetSpec | None = None, use_sequences: bool = False) -> None:
        self.spec = spec
        self.use_sequences = use_sequences

    # ------------------------------------------------------------------ fit
    def fit(self, X: pd.DataFrame) -> TabularEncoder:  # noqa: N803
        """Learn column kinds, scaling, category maps and sequence layout from ``X``."""
        if not isinstance(X, pd.DataFrame):
            raise DataError(MSG_NOT_FRAME.format(name="TabularEncoder", got=type(X).__name__))
        self.columns_ = [str(c) for c in X.columns]
        X = X.set_axis(self.columns_, axis=1)
        declared_cat = set(self.spec.categorical) if self.spec is not None else set()
        self.sequence_groups_: list[tuple[str, list[str]]] = []
        if self.use_sequences and self.spec is not None:
            present = set(self.columns_)
            self.sequence_groups_ = [
                (g.name, list(g.columns))
                for g in self.spec.sequences
                if all(c in present for c in g.columns)
            ]
        in_sequences = {c for _, cols in self.sequence_groups_ for c in cols}
        static = [c for c in self.columns_ if c not in in_sequences]
        self.categorical_columns_ = [
            c
            for c in static
            if c in declared_cat
            or not (
                pd.api.types.is_numeric_dtype(X[c].dtype) or pd.api.types.is_bool_dtype(X[c].dtype)
            )
        ]
        self.numeric_columns_ = [c for c in static if c not in self.categorical_columns_]

        values = _as_float(X, self.numeric_columns_)
        self.log_mask_ = np.array([_skewed(values[:, j]) for j in range(values.shape[1])], bool)
        values = np.where(self.log_mask_, _signed_log(values), values)
        self.center_, self.scale_ = self._moments(values)
        self.nan_indicator_ = np.isnan(values).any(axis=0)

        self.category_maps_: list[dict[str, int]] = []
        for column in self.categorical_columns_:
            counts = _category_keys(X[column]).dropna().value_counts()
            kept = sorted(counts.index[counts >= MIN_CATEGORY_COUNT])
            self.category_maps_.append({v: i + 1 for i, v in enumerate(kept)})
        self.cardinalities_ = [len(m) + 1 for m in self.category_maps_]

        self.seq_len_ = max((len(cols) for _, cols in self.sequence_groups_), default=0)
        self.seq_log_, self.seq_center_, self.seq_scale_ = [], [], []
        for _, cols in self.sequence_groups_:
            flat = _as_float(X, cols).ravel()
            log = _skewed(flat)
            flat = _signed_log(flat) if log else flat
            center, scale = self._moments(flat[:, None])
            self.seq_log_.append(log)
            self.seq_center_.append(float(center[0]))
            self.seq_scale_.append(float(scale[0]))
        self.num_features_ = (
            len(self.numeric_columns_) + int(self.nan_indicator_.sum()) + int(self.has_sequences)
        )
        return self

    @staticmethod
    def _moments(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        with warnings.catch_warnings():
            # An all-missing column has no moments; it is centred at 0 with scale 1.
            warnings.simplefilter("ignore", RuntimeWarning)
            center = np.nanmean(values, axis=0)
            scale = np.nanstd(values, axis=0)
        center = np.nan_to_num(center, nan=0.0)
        scale = np.where(np.isfinite(scale) & (scale > 1e-12), scale, 1.0)
        return center, scale

    # ------------------------------------------------------------------ properties
    @property
    def has_sequences(self) -> bool:
        """Whether the encoder builds sequences (some spec group is present in X)."""
        return bool(self.sequence_groups_)

    @property
    def seq_features_(self) -> int:
        """Features per time step (one per sequence group)."""
        return len(self.sequence_groups_)

    # ------------------------------------------------------------------ transform
    def transform(self, X: pd.DataFrame) -> EncodedInputs:  # noqa: N803
        """Encode rows with the fitted layout.

        Raises
        ------
        DataError
            If ``X`` is not a DataFrame or lacks a fitted column.
        """
        if not isinstance(X, pd.DataFrame):
            raise DataError(MSG_NOT_FRAME.format(name="TabularEncoder", got=type(X).__name__))
        if not all(isinstance(c, str) for c in X.columns):
            X = X.set_axis([str(c) for c in X.columns], axis=1)
        present = set(X.columns)
        missing = [c for c in self.columns_ if c not in present]
        if missing:
            raise DataError(MSG_MISSING.format(columns=missing))

        values = _as_float(X, self.numeric_columns_)  # a fresh array: changed in place
        # Only the skewed columns take the log (all of them did, then half were thrown away).
        values[:, self.log_mask_] = _signed_log(values[:, self.log_mask_])
        gaps = np.isnan(values)
        values -= self.center_
        values /= self.scale_
        values[gaps] = 0.0
        blocks = [values, gaps[:, self.nan_indicator_]]

        cat = np.zeros((len(X), len(self.categorical_columns_)), dtype=np.int64)
        for j, (column, mapping) in enumerate(
            zip(self.categorical_columns_, self.category_maps_, strict=True)
        ):
            cat[:, j] = _category_codes(X[column], mapping)

        seq = lengths = None
        if self.has_sequences:
            seq, lengths = self._sequences(X)
            blocks.append((lengths / self.seq_len_)[:, None])
        # One pass to float32 (the 0/1 gaps too); the layout stays pandas' column-major one,
        # and each consumer makes it row-major once (tensors, ONNX Runtime's feeds).
        num = np.concatenate(blocks, axis=1, dtype=np.float32)
        return EncodedInputs(num=num, cat=cat, seq=seq, lengths=lengths)

    def _sequences(self, X: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:  # noqa: N803
        n, steps = len(X), self.seq_len_
        raw = np.full((n, steps, self.seq_features_), np.nan)
        for f, (_, cols) in enumerate(self.sequence_groups_):
            v = _as_float(X, cols)
            v = _signed_log(v) if self.seq_log_[f] else v
            # Groups of different lengths are aligned on the most recent month.
            raw[:, steps - len(cols) :, f] = (v - self.seq_center_[f]) / self.seq_scale_[f]
        observed = ~np.isnan(raw).all(axis=2)
        first = np.where(observed.any(axis=1), observed.argmax(axis=1), steps - 1)
        lengths = (steps - first).astype(np.int64)
        # Shift each row so its first observed month lands on step 0 (packing wants that).
        take = np.minimum(first[:, None] + np.arange(steps)[None, :], steps - 1)
        shifted = np.take_along_axis(raw, take[:, :, None], axis=1)
        valid = np.arange(steps)[None, :] < lengths[:, None]
        shifted = np.where(valid[:, :, None], np.nan_to_num(shifted, nan=0.0), 0.0)
        return shifted.astype(np.float32), lengths

    def calendar_positions(self, lengths: np.ndarray) -> np.ndarray:
        """Map each row's packed steps back to calendar steps of the spec's groups.

        Returns
        -------
        ndarray of int, shape ``[n, T]``
            ``out[i, s]`` is the calendar step (0 = oldest month) of packed step ``s``,
            or -1 for padding.
        """
        steps = np.arange(self.seq_len_)[None, :]
        first = self.seq_len_ - lengths[:, None]
        return np.where(steps < lengths[:, None], first + steps, -1)

    def fit_transform(self, X: pd.DataFrame) -> EncodedInputs:  # noqa: N803
        """Fit, then encode ``X``."""
        return self.fit(X).transform(X)
