"""The network's input encoder, fitted from statistics the lenders aggregate.

A :class:`~greenscore.models.torch.encoding.TabularEncoder` learns, per numeric column,
whether to log it (skewness), its centre and scale, and whether it ever has gaps; per
categorical column, the levels frequent enough to get their own embedding row. All of it
follows from weighted means over rows, which is what federated aggregation (plain FedAvg
or SecAgg+) computes. Two rounds:

1. :func:`first_moments`: per numeric column the share of missing values, the lender's
   own log decision (a vote, weighted by rows), and the mean and mean square of
   ``sign(x) log1p(|x|)`` (scaled into [-1, 1] so SecAgg+ can carry them); per
   categorical column the share of rows at each level of the federation's vocabulary.
2. :func:`second_moments`: with the federation's log decisions, the mean and mean square
   of each numeric column as the encoder will read it. Under SecAgg+ values are divided
   by a public scale and clipped into [-1, 1] (its quantiser clips there anyway); in the
   clear they are sent as they are, so a one-lender federation reproduces
   ``TabularEncoder.fit`` exactly (tested).

:func:`assemble_encoder` turns the aggregates into a fitted encoder.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from greenscore.data.spec import DatasetSpec

# The encoder's own rules, reused so federated and central encoders agree by construction.
from greenscore.models.torch.encoding import (
    MIN_CATEGORY_COUNT,
    TabularEncoder,
    _as_float,
    _category_keys,
    _signed_log,
    _skewed,
)

#: ``sign(x) log1p(|x|)`` stays below 32 for any float32-representable money amount.
LOG_SCALE = 32.0


@dataclass
class EncoderLayout:
    """Which model columns are numeric or categorical, and the categorical vocabulary.

    Built by the server from the shared feature pipeline's output on the schema frame,
    sent to the lenders as JSON.
    """

    columns: list[str]
    numeric: list[str]
    categorical: list[str]
    vocab: dict[str, list[str]]

    @classmethod
    def from_frame(cls, frame: pd.DataFrame, spec: DatasetSpec) -> EncoderLayout:
        """Layout of a transformed schema frame (it holds every level once or more)."""
        probe = TabularEncoder(spec=spec, use_sequences=False).fit(frame)
        vocab = {
            c: sorted(_category_keys(frame[c]).dropna().unique().tolist())
            for c in probe.categorical_columns_
        }
        return cls(
            list(probe.columns_),
            list(probe.numeric_columns_),
            list(probe.categorical_columns_),
            vocab,
        )

    def first_size(self) -> int:
        """Length of the first-moments vector."""
        return 4 * len(self.numeric) + sum(len(v) for v in self.vocab.values())


def _numeric(frame: pd.DataFrame, layout: EncoderLayout) -> np.ndarray:
    frame = frame.set_axis([str(c) for c in frame.columns], axis=1)
    return _as_float(frame, layout.numeric)


def first_moments(frame: pd.DataFrame, layout: EncoderLayout) -> np.ndarray:
    """A lender's first-round vector: per-row means (see the module docstring).

    Layout: for each numeric column ``[missing, log vote, s / 32, (s / 32)^2]`` (``s`` the
    signed log, 0 where missing), then for each categorical column its level shares.
    """
    values = _numeric(frame, layout)
    n = max(len(frame), 1)
    parts: list[float] = []
    for j in range(values.shape[1]):
        x = values[:, j]
        present = np.isfinite(x)
        s = np.where(present, _signed_log(np.nan_to_num(x)), 0.0) / LOG_SCALE
        vote = 1.0 if _skewed(x) else 0.0
        parts += [1.0 - present.mean() if n else 0.0, vote, s.sum() / n, (s**2).sum() / n]
    frame = frame.set_axis([str(c) for c in frame.columns], axis=1)
    for column in layout.categorical:
        keys = _category_keys(frame[column])
        counts = keys.value_counts()
        parts += [float(counts.get(level, 0)) / n for level in layout.vocab[column]]
    return np.asarray(parts, dtype=np.float64)


@dataclass
class FirstRound:
    """What the federation learnt in round one (server side)."""

    log_mask: np.ndarray
    missing: np.ndarray
    scales: np.ndarray
    level_shares: dict[str, np.ndarray]


def read_first(mean: np.ndarray, layout: EncoderLayout) -> FirstRound:
    """Decode the federation's averaged first-round vector."""
    k = len(layout.numeric)
    block = mean[: 4 * k].reshape(k, 4) if k else np.zeros((0, 4))
    missing = np.clip(block[:, 0], 0.0, 1.0)
    present = np.maximum(1.0 - missing, 1e-12)
    log_mask = block[:, 1] > 0.5
    mean_s = block[:, 2] * LOG_SCALE / present
    sd_s = np.sqrt(np.maximum(block[:, 3] * LOG_SCALE**2 / present - mean_s**2, 0.0))
    # A bound on |x| for the second round's scaling: three deviations above the typical
    # magnitude on the log scale; logged columns already live within LOG_SCALE.
    bound = np.expm1(np.abs(mean_s) + 3.0 * sd_s)
    scales = np.where(log_mask, LOG_SCALE, np.maximum(bound, 1e-6))
    shares: dict[str, np.ndarray] = {}
    at = 4 * k
    for column in layout.categorical:
        size = len(layout.vocab[column])
        shares[column] = mean[at : at + size]
        at += size
    return FirstRound(log_mask, missing, scales, shares)


def second_moments(
    frame: pd.DataFrame, layout: EncoderLayout, *, log_mask: np.ndarray, scales: np.ndarray | None
) -> np.ndarray:
    """A lender's second-round vector: per numeric column ``[v / c, (v / c)^2]`` row means.

    ``v`` is the column as the encoder reads it (signed log where ``log_mask``), 0 where
    missing; ``c`` is ``scales`` with values clipped into [-1, 1], or 1 and no clipping
    when ``scales`` is None (aggregation in the clear).
    """
    values = _numeric(frame, layout)
    values = np.where(log_mask, _signed_log(values), values)
    present = np.isfinite(values)
    v = np.where(present, values, 0.0)
    if scales is not None:
        v = np.clip(v / scales, -1.0, 1.0)
    n = max(len(frame), 1)
    return np.column_stack([v.sum(axis=0) / n, (v**2).sum(axis=0) / n]).ravel()


def assemble_encoder(
    *,
    layout: EncoderLayout,
    spec: DatasetSpec,
    first: FirstRound,
    second_mean: np.ndarray,
    scales: np.ndarray | None,
    rows: int,
) -> TabularEncoder:
    """A fitted :class:`TabularEncoder` from the federation's aggregates.

    Parameters
    ----------
    layout : the column layout.
    spec : the federation's spec.
    first : decoded round one.
    second_mean : averaged round-two vector.
    scales : the scales used in round two (None in the clear).
    rows : total training rows of the federation (level counts are shares times rows).
    """
    k = len(layout.numeric)
    block = second_mean.reshape(k, 2) if k else np.zeros((0, 2))
    c = np.ones(k) if scales is None else np.asarray(scales, dtype=float)
    present = np.maximum(1.0 - first.missing, 1e-12)
    center = block[:, 0] * c / present
    second = block[:, 1] * c**2 / present
    scale = np.sqrt(np.maximum(second - center**2, 0.0))
    all_missing = first.missing > 1.0 - 0.5 / max(rows, 1)
    center = np.where(all_missing, 0.0, center)
    scale = np.where(np.isfinite(scale) & (scale > 1e-12) & ~all_missing, scale, 1.0)

    encoder = TabularEncoder(spec=spec, use_sequences=False)
    encoder.columns_ = list(layout.columns)
    encoder.sequence_groups_ = []
    encoder.categorical_columns_ = list(layout.categorical)
    encoder.numeric_columns_ = list(layout.numeric)
    encoder.log_mask_ = np.asarray(first.log_mask, dtype=bool)
    encoder.center_ = center
    encoder.scale_ = scale
    encoder.nan_indicator_ = first.missing * rows >= 0.5
    encoder.category_maps_ = []
    for column in layout.categorical:
        counts = first.level_shares[column] * rows
        # Counts come back as shares times rows: round before comparing with the threshold.
        kept = sorted(
            level
            for level, count in zip(layout.vocab[column], counts, strict=True)
            if round(float(count)) >= MIN_CATEGORY_COUNT
        )
        encoder.category_maps_.append({v: i + 1 for i, v in enumerate(kept)})
    encoder.cardinalities_ = [len(m) + 1 for m in encoder.category_maps_]
    encoder.seq_len_ = 0
    encoder.seq_log_, encoder.seq_center_, encoder.seq_scale_ = [], [], []
    encoder.num_features_ = len(layout.numeric) + int(encoder.nan_indicator_.sum())
    return encoder
