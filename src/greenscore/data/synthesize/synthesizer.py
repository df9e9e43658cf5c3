"""``synthesize``: learn a real portfolio and draw synthetic applications, with their spec.

The steps: plan the columns from the spec (:mod:`.layout`), optionally hold out a share of
the real rows for the quality report, fit the chosen learner (CTGAN or the Gaussian
copula) on the rest, sample, decode back to real-looking columns, replace any synthetic
row that equals a real one (counted, never silently), give new ids and Faker PII, and
build the spec that travels with the file.

The hold-out is taken only when a quality report is asked for: privacy and utility must be
measured on rows the learner never saw, and without a report every row is learnt.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from greenscore.data.loading import Dataset, encode_target
from greenscore.data.spec import DatasetSpec
from greenscore.data.synthesize.copula import GaussianCopulaSynthesizer
from greenscore.data.synthesize.ctgan_model import CTGANSynthesizer
from greenscore.data.synthesize.layout import Layout, plan_layout
from greenscore.data.synthesize.pii import fake_column, provider_for
from greenscore.errors import ConfigError, DataError, ModelError

METHODS = ("ctgan", "copula")
BAD_METHOD = "method must be one of {choices}, got '{method}'"
BAD_ROWS = "rows must be a positive integer, got {rows!r}"
TOO_FEW = "{rows} real rows are too few to learn from: at least {minimum} are needed"
KEEPS_COPYING = (
    "the synthesiser keeps reproducing real rows ({n} still equal after {rounds} redraws): "
    "train longer or on more rows"
)
MIN_REAL_ROWS = 50
#: Share of real rows held out for the privacy and utility measures of a quality report.
HOLDOUT_SHARE = 0.2
#: Redraws of synthetic rows that equal a real row before giving up.
MAX_REDRAWS = 20


@dataclass
class SynthesisResult:
    """Synthetic rows, their spec, and what was done to make them."""

    frame: pd.DataFrame
    spec: DatasetSpec
    layout: Layout
    method: str
    seed: int
    fit_rows: int
    copies_replaced: int
    seconds: float
    train: pd.DataFrame = field(repr=False)
    holdout: pd.DataFrame | None = field(default=None, repr=False)
    settings: dict[str, Any] = field(default_factory=dict)

    def summary(self) -> dict[str, Any]:
        """What the report and the spec file's header say about the run."""
        return {
            "method": self.method,
            "rows": len(self.frame),
            "seed": self.seed,
            "fit_rows": self.fit_rows,
            "holdout_rows": 0 if self.holdout is None else len(self.holdout),
            "copies_replaced": self.copies_replaced,
            "seconds": round(self.seconds, 1),
            "learnt": self.layout.learnt,
            "pii_generated": {c: provider_for(c)[0] for c in self.layout.pii},
            "id_regenerated": self.layout.id_column,
            "left_out": self.layout.left_out,
            **self.settings,
        }


def make_learner(method: str, *, seed: int, epochs: int | None) -> Any:
    """The learner of a method name (``ctgan`` or ``copula``)."""
    if method == "ctgan":
        return CTGANSynthesizer(epochs=epochs or 300, seed=seed)
    if method == "copula":
        return GaussianCopulaSynthesizer(seed=seed)
    raise ConfigError(BAD_METHOD.format(choices=", ".join(METHODS), method=method))


def _split(dataset: Dataset, seed: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """A hold-out of ``HOLDOUT_SHARE`` of the rows, stratified by the target."""
    rng = np.random.default_rng(seed)
    y = dataset.y
    held = np.zeros(len(y), dtype=bool)
    for label in (0, 1):
        rows = np.flatnonzero(y == label)
        held[rng.choice(rows, int(round(len(rows) * HOLDOUT_SHARE)), replace=False)] = True
    frame = dataset.frame.reset_index(drop=True)
    return frame[~held].reset_index(drop=True), frame[held].reset_index(drop=True)


def _keys(frame: pd.DataFrame, columns: list[str]) -> np.ndarray:
    """A hash per row of the learnt columns, equal for rows with equal values."""
    parts = {}
    for column in columns:
        values = frame[column]
        if pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values):
            parts[column] = np.round(values.to_numpy(dtype=float), 9).astype(str)
        else:
            parts[column] = values.astype(str).to_numpy()
    return pd.util.hash_pandas_object(pd.DataFrame(parts), index=False).to_numpy()


def _without_copies(
    synthetic: pd.DataFrame, real: pd.DataFrame, learner: Any, layout: Layout, seed: int
) -> tuple[pd.DataFrame, int]:
    """Redraw every synthetic row that equals a real row on all learnt columns."""
    real_keys = set(_keys(real, layout.learnt).tolist())
    replaced = 0
    for round_ in range(MAX_REDRAWS + 1):
        copies = np.flatnonzero(np.isin(_keys(synthetic, layout.learnt), list(real_keys)))
        if not len(copies):
            return synthetic, replaced
        if round_ == MAX_REDRAWS:
            break
        if round_ == 0:
            replaced = len(copies)  # later rounds redraw some of these same rows again
        fresh = layout.decode(learner.sample(len(copies), seed=seed + 1000 + round_))
        for column in layout.learnt:
            synthetic.loc[synthetic.index[copies], column] = fresh[column].to_numpy()
    raise ModelError(KEEPS_COPYING.format(n=len(copies), rounds=MAX_REDRAWS))


def synthetic_spec(spec: DatasetSpec, layout: Layout) -> DatasetSpec:
    """The spec of the synthetic file: the real one, less the relations and what was left out.

    Protected attributes, PII columns (now Faker values), immutable columns, sequences,
    roles and bounds travel unchanged; derived columns are re-derived from their source.
    """
    return spec.model_copy(
        update={
            "name": f"{spec.name}-synthetic",
            "relations": None,
            "drop": [c for c in spec.drop if c not in layout.left_out],
        }
    )


def synthesize(
    dataset: Dataset,
    *,
    rows: int,
    method: str,
    seed: int = 0,
    epochs: int | None = None,
    hold_out: bool = False,
) -> SynthesisResult:
    """Learn ``dataset`` and draw ``rows`` synthetic applications.

    Parameters
    ----------
    dataset : Dataset
        The real portfolio with its spec (from :func:`greenscore.data.loading.load_dataset`).
    rows : int
        Synthetic rows to draw.
    method : ``ctgan`` or ``copula``
    seed : int
        Seed of the split, the learner, the draws and the Faker values.
    epochs : int, optional
        CTGAN's training passes (default 300); ignored by the copula.
    hold_out : bool
        Learn only from ``1 - HOLDOUT_SHARE`` of the rows (stratified by the target) and
        keep the rest for the quality report.

    Raises
    ------
    ConfigError
        For an unknown method or a bad row count.
    DataError
        If there are too few real rows, or the spec's columns cannot be learnt.
    ModelError
        If the learner keeps reproducing real rows.
    """
    if method not in METHODS:
        raise ConfigError(BAD_METHOD.format(choices=", ".join(METHODS), method=method))
    if isinstance(rows, bool) or not isinstance(rows, int) or rows < 1:
        raise ConfigError(BAD_ROWS.format(rows=rows))
    if len(dataset.frame) < MIN_REAL_ROWS:
        raise DataError(TOO_FEW.format(rows=len(dataset.frame), minimum=MIN_REAL_ROWS))
    started = time.perf_counter()
    spec = dataset.spec
    frame = dataset.frame.reset_index(drop=True)
    train, holdout = _split(dataset, seed) if hold_out else (frame, None)
    layout = plan_layout(train, spec)
    learner = make_learner(method, seed=seed, epochs=epochs)
    learner.fit(layout.encode(train), layout.learner_categorical)
    learnt = layout.decode(learner.sample(rows))
    learnt, replaced = _without_copies(learnt, frame, learner, layout, seed)
    out: dict[str, Any] = {}
    for column in frame.columns:
        if column == layout.id_column:
            out[column] = np.arange(1, rows + 1)
        elif column in layout.pii:
            out[column] = fake_column(column, rows, seed=seed)
        elif column in layout.learnt:
            out[column] = learnt[column].to_numpy()
    settings = {"epochs": epochs or 300} if method == "ctgan" else {}
    return SynthesisResult(
        frame=pd.DataFrame(out),
        spec=synthetic_spec(spec, layout),
        layout=layout,
        method=method,
        seed=seed,
        fit_rows=len(train),
        copies_replaced=replaced,
        seconds=time.perf_counter() - started,
        train=train,
        holdout=holdout,
        settings=settings,
    )


def spec_path(out: Path) -> Path:
    """Where the spec of a synthetic file goes: beside it, ``NAME.spec.yaml``."""
    return out.with_name(f"{out.stem}.spec.yaml")


def write_spec(result: SynthesisResult, out: Path) -> Path:
    """Write the synthetic file's spec beside it, with a header saying how it was made."""
    summary = result.summary()
    pii = ", ".join(f"{c} ({how})" for c, how in summary["pii_generated"].items()) or "none"
    header = [
        f"# Synthetic data made by greenscore synthesize --method {result.method} "
        f"(seed {result.seed}) from {result.fit_rows} real rows.",
        f"# PII columns hold Faker values, never real ones: {pii}.",
        f"# Ids are new ({result.layout.id_column or 'no id column'}); left out: "
        f"{', '.join(result.layout.left_out) or 'nothing'}; borrower relations not synthesised.",
    ]
    path = spec_path(out)
    path.write_text("\n".join(header) + "\n" + result.spec.to_yaml(), encoding="utf-8")
    return path


def quality_inputs(result: SynthesisResult) -> dict[str, Any]:
    """The 0/1 targets and model features the utility measure needs."""
    spec = result.spec
    assert result.holdout is not None
    return {
        "y": {
            "train": encode_target(result.train[spec.target], spec),
            "holdout": encode_target(result.holdout[spec.target], spec),
            "synthetic": encode_target(result.frame[spec.target], spec),
        },
        "features": [c for c in spec.feature_columns(result.layout.learnt) if c != spec.target],
    }
