"""The comparison table of ``greenscore compress``: one row per model, measured alike.

Every figure says how it was measured (:data:`METHODS`):

* **params**: numbers the model holds -- a net's weights and biases (an INT8 graph's
  weights count one each, their scales too), a tree model's nodes (splits and leaves),
  summed over fold models and members;
* **bytes**: the model step pickled uncompressed (what the model is), and the bundle
  folder on disk (``bundle.joblib`` is zlib-compressed, which also squeezes the zeros of
  a magnitude-pruned dense net);
* **latency**: one applicant at a time through the serving runtime
  (:class:`~greenscore.models.runtime.ScoringRuntime`: encode raw fields, score), p50 and
  p99 over ``latency_rows`` applicants;
* **batch rows/s**: all rows in one call (the nets split them in batches of
  ``PREDICT_BATCH``, torch and ONNX Runtime alike), for the model step (model features
  in, PD out: the net's encoder, the net, the sigmoid) and for the whole bundle (raw
  columns in: feature steps + model). The original and every variant are timed
  *interleaved* (:func:`interleaved_seconds`: round-robin, the starting one rotated each
  round, median of ``BATCH_ROUNDS`` rounds), so a change in the machine's load hits all of
  them alike and their ratios hold on a shared machine, and on the same thread count
  (:func:`inference_threads`, kept per row);
* **energy per 1k predictions**: :func:`~greenscore.sustainability.energy.energy_per_1k_predictions`
  (CodeCarbon, its method string is kept) on the model step and on the whole bundle;
* **AUC** on the given rows, and the **fairness gap**: the largest approval-rate
  difference between groups of a protected attribute (fairlearn's demographic parity
  difference, approvals at the bundle's decline cut-off).
"""

from __future__ import annotations

import io
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from functools import partial
from pathlib import Path
from typing import Any

import joblib
import numpy as np
import pandas as pd

from greenscore.config import EnergySettings
from greenscore.models.bundle import ScoringBundle
from greenscore.models.torch.base import PREDICT_BATCH

#: Interleaved rounds behind each batch figure (their median is kept).
BATCH_ROUNDS = 21

METHODS = {
    "params": "net weights and biases (INT8 graph: initializer numbers); trees: split and "
    "leaf nodes; summed over fold models and members",
    "model_bytes": "model step pickled by joblib, uncompressed",
    "bundle_bytes": "bundle folder on disk (bundle.joblib zlib level 3, metadata, spec)",
    "latency": "one applicant per call through ScoringRuntime (encode + score), "
    "time.perf_counter, p50/p99",
    "batch": f"all rows in one call (nets: batches of {PREDICT_BATCH} rows, torch and ONNX "
    "Runtime alike), the original and every variant interleaved round-robin (start rotated "
    f"each round), median of {BATCH_ROUNDS} rounds each, time.perf_counter, every net on the "
    "same intra-op thread count (threads in compression.json)",
    "energy": "energy_per_1k_predictions: CodeCarbon OfflineEmissionsTracker task around "
    "repeated calls lasting >= 0.5 s",
    "auc": "ROC AUC on the evaluation rows",
    "fairness_gap": "fairlearn demographic_parity_difference of approvals (PD <= decline "
    "cut-off), largest over the spec's protected attributes",
}


@dataclass
class Measurement:
    """One row of the comparison table (see the module docstring for each method)."""

    name: str
    method: str
    params: int
    model_bytes: int
    bundle_bytes: int
    latency_p50_ms: float
    latency_p99_ms: float
    model_rows_per_s: float
    bundle_rows_per_s: float
    model_kwh_per_1k: float
    bundle_kwh_per_1k: float
    energy_method: str
    auc: float
    fairness_gap: float | None
    fairness_attribute: str | None
    explanations: str
    runtime_mode: str
    threads: int | None = None

    def to_dict(self) -> dict[str, Any]:
        """Plain data for JSON."""
        return asdict(self)


def count_params(estimator: Any) -> int:
    """Numbers a fitted model holds (see :data:`METHODS`); 0 when unknown."""
    from greenscore.models.columns import lightgbm_booster
    from greenscore.models.compress.onnx_net import OnnxNetClassifier
    from greenscore.models.torch.base import TorchCreditClassifier

    if isinstance(estimator, OnnxNetClassifier):
        import onnx

        graph = onnx.load_from_string(estimator.onnx_model_).graph
        return int(sum(int(np.prod(t.dims)) for t in graph.initializer))
    if isinstance(estimator, TorchCreditClassifier):
        return int(sum(p.numel() for p in estimator.module_.parameters()))
    booster = lightgbm_booster(estimator)
    if booster is not None:
        trees = booster.dump_model()["tree_info"]
        return int(sum(2 * t["num_leaves"] - 1 for t in trees))
    inner = getattr(estimator, "estimator_", None)
    if inner is not None:
        return count_params(inner)
    members = getattr(estimator, "estimators_", None)
    if isinstance(members, list | tuple):
        return int(sum(count_params(m[1] if isinstance(m, tuple) else m) for m in members))
    coef = getattr(estimator, "coef_", None)
    return int(np.size(coef)) if coef is not None else 0


def pickled_bytes(estimator: Any) -> int:
    """Size of the model step pickled by joblib without compression."""
    buffer = io.BytesIO()
    joblib.dump(estimator, buffer)
    return len(buffer.getvalue())


def folder_bytes(folder: Path) -> int:
    """Bytes of every file under a folder."""
    return int(sum(p.stat().st_size for p in Path(folder).rglob("*") if p.is_file()))


def interleaved_seconds(calls: dict[str, Callable[[], Any]], rounds: int) -> dict[str, float]:
    """Median wall seconds of each call over ``rounds`` interleaved rounds.

    Each call runs once to warm up, then every round runs each call once, starting one
    further along the list each round (no call always follows the same one). Timed side
    by side like this, the calls share whatever load the machine has at that moment, so
    their ratios hold under load where timings taken one model after another drift apart.
    The median, not the best: on a loaded machine a short call often runs a whole round
    untouched while a long one rarely does, so the best times favour the shorter call
    (best-of-40 ratios of the same two nets ranged 2.7x-4.2x at load 8 on 2 cores, the
    medians' 2.7x-2.9x).
    """
    names = list(calls)
    for name in names:
        calls[name]()
    samples: dict[str, list[float]] = {name: [] for name in names}
    for k in range(max(1, rounds)):
        for name in names[k % len(names) :] + names[: k % len(names)]:
            started = time.perf_counter()
            calls[name]()
            samples[name].append(time.perf_counter() - started)
    return {name: float(np.median(times)) for name, times in samples.items()}


def inference_threads(estimator: Any) -> int | None:
    """Intra-op threads a model step's nets score on (the largest of its nets); None for a
    model without a net."""
    from greenscore.config import get_settings
    from greenscore.models.compress.onnx_net import OnnxNetClassifier
    from greenscore.models.torch.base import TorchCreditClassifier

    if isinstance(estimator, OnnxNetClassifier):
        return estimator.threads
    if isinstance(estimator, TorchCreditClassifier):
        return int(estimator.n_jobs or get_settings().training.n_jobs)
    # A calibrated step holds its model in estimator_, a bag its members in estimators_.
    inner = [getattr(estimator, "estimator_", None)]
    members = getattr(estimator, "estimators_", None)
    if isinstance(members, list | tuple):
        inner += [m[1] if isinstance(m, tuple) else m for m in members]
    found = [t for t in (inference_threads(m) for m in inner if m is not None) if t]
    return max(found) if found else None


def batch_rows_per_s(
    bundles: dict[str, ScoringBundle],
    X: pd.DataFrame,  # noqa: N803
    *,
    rounds: int = BATCH_ROUNDS,
) -> dict[str, tuple[float, float]]:
    """Batch rows/s of each bundle's model step and of the whole bundle, timed interleaved.

    Returns
    -------
    dict
        ``name -> (model step rows/s, whole bundle rows/s)`` on all rows of ``X`` in one
        call each (see :func:`interleaved_seconds`).
    """
    calls: dict[str, Callable[[], Any]] = {}
    for name, bundle in bundles.items():
        estimator = bundle.estimator
        model_frame = bundle.features.transform(X) if len(bundle.pipeline) > 1 else X
        calls[f"model:{name}"] = partial(estimator.predict_proba, model_frame)
        calls[f"bundle:{name}"] = partial(bundle.predict_pd, X)
    seconds = interleaved_seconds(calls, rounds)
    return {
        name: (len(X) / seconds[f"model:{name}"], len(X) / seconds[f"bundle:{name}"])
        for name in bundles
    }


def fairness_gap(
    bundle: ScoringBundle, frame: pd.DataFrame, y: np.ndarray, pd_: np.ndarray
) -> tuple[float | None, str | None]:
    """Largest approval-rate gap over the spec's protected attributes (None without any)."""
    present = [c for c in bundle.spec.protected if c in frame.columns]
    if not present:
        return None, None
    from fairlearn.metrics import demographic_parity_difference

    from greenscore.fairness.groups import sensitive_features

    approved = (bundle.decisions(pd_) != "decline").astype(int)
    groups = sensitive_features(frame, bundle.spec, present)
    gaps = {
        column: float(demographic_parity_difference(y, approved, sensitive_features=groups[column]))
        for column in groups.columns
    }
    worst = max(gaps, key=lambda c: gaps[c])
    return gaps[worst], worst


def measure(
    name: str,
    method: str,
    bundle: ScoringBundle,
    folder: Path,
    X: pd.DataFrame,  # noqa: N803
    y: np.ndarray,
    frame: pd.DataFrame,
    *,
    latency_rows: int = 200,
    energy: EnergySettings | None = None,
    rows_per_s: tuple[float, float] | None = None,
) -> Measurement:
    """Measure one saved bundle on evaluation rows.

    Parameters
    ----------
    name, method : the row's label and what was done to make the model.
    bundle, folder : the bundle and where it is saved.
    X, y : model-input rows (raw columns) and outcomes.
    frame : the same rows as raw applications (for the protected attributes).
    latency_rows : applicants scored one at a time.
    energy : CodeCarbon settings (default: the settings').
    rows_per_s : model step and whole bundle batch rows/s already timed beside the
        bundles this one is compared with (:func:`batch_rows_per_s`); None times it alone.
    """
    from greenscore.models.runtime import ScoringRuntime
    from greenscore.models.search.objectives import single_row_latency_ms
    from greenscore.sustainability.energy import energy_per_1k_predictions

    estimator = bundle.estimator
    model_frame = bundle.features.transform(X) if len(bundle.pipeline) > 1 else X
    model_rate, bundle_rate = rows_per_s or batch_rows_per_s({name: bundle}, X)[name]
    pd_ = bundle.predict_pd(X)
    from greenscore.evaluation.metrics import auc

    gap, attribute = fairness_gap(bundle, frame, y, pd_)
    runtime = ScoringRuntime(bundle)  # once: its probes and compilation are not free
    ms = single_row_latency_ms(runtime, X, latency_rows)
    model_energy = energy_per_1k_predictions(
        lambda f: estimator.predict_proba(f), model_frame, label=f"predict:{name}", energy=energy
    )
    bundle_energy = energy_per_1k_predictions(
        bundle.predict_pd, X, label=f"predict-bundle:{name}", energy=energy
    )
    return Measurement(
        name=name,
        method=method,
        params=count_params(estimator),
        model_bytes=pickled_bytes(estimator),
        bundle_bytes=folder_bytes(folder),
        latency_p50_ms=float(np.percentile(ms, 50)),
        latency_p99_ms=float(np.percentile(ms, 99)),
        model_rows_per_s=model_rate,
        bundle_rows_per_s=bundle_rate,
        model_kwh_per_1k=float(model_energy),
        bundle_kwh_per_1k=float(bundle_energy),
        energy_method=model_energy.reading.method,
        auc=auc(y, pd_),
        fairness_gap=gap,
        fairness_attribute=attribute,
        explanations="exact" if runtime.exact else "approximate (sampled SHAP)",
        runtime_mode=runtime.mode,
        threads=inference_threads(estimator),
    )


def table(rows: list[Measurement], baseline: str) -> str:
    """Markdown table of the measurements, with ratios against the ``baseline`` row."""
    base = next(r for r in rows if r.name == baseline)
    head = (
        "| model | method | params | model bytes (x smaller) | bundle bytes | p50 / p99 ms "
        "| model rows/s (x faster) | bundle rows/s | model Wh/1k (x lower) | bundle Wh/1k "
        "| AUC (drop) | fairness gap | reasons |"
    )
    lines = [head, "|" + " --- |" * 13]
    for r in rows:
        gap = "n/a" if r.fairness_gap is None else f"{r.fairness_gap:.4f} ({r.fairness_attribute})"
        lines.append(
            f"| {r.name} | {r.method} | {r.params:,} "
            f"| {r.model_bytes:,} ({base.model_bytes / r.model_bytes:.1f}x) "
            f"| {r.bundle_bytes:,} ({base.bundle_bytes / r.bundle_bytes:.2f}x) "
            f"| {r.latency_p50_ms:.2f} / {r.latency_p99_ms:.2f} "
            f"| {r.model_rows_per_s:,.0f} ({r.model_rows_per_s / base.model_rows_per_s:.1f}x) "
            f"| {r.bundle_rows_per_s:,.0f} "
            f"| {r.model_kwh_per_1k * 1000:.3g} ({base.model_kwh_per_1k / r.model_kwh_per_1k:.1f}x) "
            f"| {r.bundle_kwh_per_1k * 1000:.3g} "
            f"| {r.auc:.4f} ({base.auc - r.auc:+.4f}) | {gap} | {r.explanations} |"
        )
    return "\n".join(lines)
