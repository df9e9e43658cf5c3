"""``greenscore compress``: prune, quantize or distill a bundle's model into new bundles,
validated step by step and measured side by side with the original.

The rows given (``--data``, read with the bundle's own spec) are split once, stratified:
the larger part fine-tunes pruned nets, trains students and calibrates INT8 ranges; the
held-out part validates every step against the original's AUC (the gate stops a schedule
when the loss exceeds the tolerance) and, unless ``--holdout`` rows are given, is what the
table measures on. Each variant is an ordinary bundle (same feature steps, a new last
step) saved under ``out/models/<variant>``; the smallest one that passed the gate is
also saved as ``out/model``. ``compression.json`` and ``compression.md`` hold the table,
every gate decision and the engine timings behind the choice of quantizer.
"""

from __future__ import annotations

import copy
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sklearn.model_selection import train_test_split

from greenscore.data.loading import Dataset
from greenscore.errors import ConfigError
from greenscore.json_document import write_json
from greenscore.logging import get_logger
from greenscore.models.bundle import ScoringBundle
from greenscore.models.metadata import BundleMetadata

log = get_logger(__name__)

METHODS = ("prune", "quantize", "distill")
BAD_METHOD = "unknown --method '{method}'; choose from: prune, quantize, distill, all"
NO_NET = (
    "{model} holds no DNN to {method} ({kind}); pruning and quantization work on nets "
    "(greenscore train --models dnn); use --method distill for any other model"
)
ORIGINAL = "original"

Progress = Callable[[str], None]


def parse_methods(text: str) -> list[str]:
    """``prune``, ``quantize``, ``distill``, a comma list of them, or ``all``.

    Raises
    ------
    ConfigError
        For an unknown method.
    """
    names = [n.strip() for n in text.split(",") if n.strip()]
    if names == ["all"]:
        return list(METHODS)
    unknown = [n for n in names if n not in METHODS]
    if unknown or not names:
        raise ConfigError(BAD_METHOD.format(method=text))
    return [m for m in METHODS if m in names]


@dataclass
class CompressOptions:
    """What ``greenscore compress`` was asked to do (see the command's help)."""

    methods: list[str]
    out: Path = Path("compress-out")
    prune: str = "structured"
    sparsity: float = 0.5
    prune_steps: int = 3
    quantization: str = "static"
    student: str = "lightgbm"
    temperature: float = 2.0
    alpha: float = 0.7
    student_size: int = 100
    tolerance: float = 0.005
    epochs: int = 3
    valid_fraction: float = 0.2
    seed: int = 42
    latency_rows: int = 200
    measure: bool = True


@dataclass
class CompressResult:
    """Variants made, their measurements and every gate decision."""

    bundles: dict[str, ScoringBundle]
    methods: dict[str, str]
    gate: list[dict[str, Any]]
    engines: dict[str, Any] | None
    measurements: list[Any] = field(default_factory=list)
    chosen: str | None = None
    report: dict[str, Any] = field(default_factory=dict)


@dataclass
class _Rows:
    fit_X: pd.DataFrame  # noqa: N815
    fit_y: np.ndarray
    valid_X: pd.DataFrame  # noqa: N815
    valid_y: np.ndarray
    fit_F: pd.DataFrame  # noqa: N815 - model features (after the feature steps)
    valid_F: pd.DataFrame  # noqa: N815
    valid_positions: np.ndarray


def _split(
    bundle: ScoringBundle, dataset: Dataset, options: CompressOptions, valid: Dataset | None
) -> _Rows:
    """Fit and validation rows: ``valid`` when given (all of ``dataset`` then fits), else a
    stratified split of ``dataset``."""
    X, y = dataset.X, dataset.y  # noqa: N806
    transform = bundle.features.transform if len(bundle.pipeline) > 1 else (lambda f: f)
    if valid is not None:
        return _Rows(
            X, y, valid.X, valid.y, transform(X), transform(valid.X), np.arange(len(valid.y))
        )
    fit, held = train_test_split(
        np.arange(len(y)), test_size=options.valid_fraction, stratify=y, random_state=options.seed
    )
    fit, held = np.sort(fit), np.sort(held)
    fit_X, valid_X = X.iloc[fit], X.iloc[held]  # noqa: N806
    return _Rows(fit_X, y[fit], valid_X, y[held], transform(fit_X), transform(valid_X), held)


def _with_step(bundle: ScoringBundle, step: Any, info: dict[str, Any]) -> ScoringBundle:
    """A copy of ``bundle`` with a new last step and its compression recorded."""
    new = copy.deepcopy(bundle)
    name = new.pipeline.steps[-1][0]
    new.pipeline.steps[-1] = (name, step)
    return _stamp(new, info)


def _stamp(bundle: ScoringBundle, info: dict[str, Any]) -> ScoringBundle:
    data = bundle.metadata.to_dict()
    data.update(content_id=None, registry=None, compression=info)
    bundle.metadata = BundleMetadata.read(data)
    return bundle


def _compress_net(
    net: Any,
    rows: _Rows,
    options: CompressOptions,
    gate_log: list[dict[str, Any]],
    *,
    prune: bool,
    quantize: bool,
    slot: int,
) -> tuple[Any, dict[str, Any]]:
    """One DNN pruned and/or quantized into an :class:`OnnxNetClassifier`."""
    from greenscore.models.compress.onnx_net import (
        OnnxNetClassifier,
        export_onnx,
        make_session,
        run_session,
    )
    from greenscore.models.compress.plain import count_parameters, from_dnn
    from greenscore.models.compress.pruning import prune_net
    from greenscore.models.compress.quantization import quantize_net
    from greenscore.models.compress.steps import AccuracyGate, NetData, auc_of, logits_of

    plain = from_dnn(net.module_)
    train = NetData.of(net.encoder_, rows.fit_F, rows.fit_y)
    valid = NetData.of(net.encoder_, rows.valid_F, rows.valid_y)
    gate = AccuracyGate(auc_of(logits_of(plain, valid), valid), options.tolerance)
    info: dict[str, Any] = {
        "net": slot,
        "baseline_auc": gate.baseline,
        "params_before": count_parameters(plain),
        "sizes_before": [layer.out_features for layer in plain.hidden()],
    }
    if prune:
        pruned = prune_net(
            plain,
            train,
            valid,
            gate,
            kind=options.prune,
            sparsity=options.sparsity,
            steps=options.prune_steps,
            epochs=options.epochs,
            seed=options.seed,
        )
        plain = pruned.net
        info.update(
            prune=options.prune,
            sparsity_asked=options.sparsity,
            sparsity=pruned.sparsity,
            prune_stopped_early=pruned.stopped_early,
        )
    info["sizes"] = [layer.out_features for layer in plain.hidden()]
    info["params"] = count_parameters(plain)
    model = export_onnx(plain, train.num, train.cat)
    info["int8"] = False
    if quantize:
        quantized, facts = quantize_net(
            plain, options.quantization, train, epochs=options.epochs, seed=options.seed
        )
        auc = auc_of(run_session(make_session(quantized), valid.feeds()), valid)
        if gate.check(f"quantize:{options.quantization}", auc, **facts):
            model = quantized
            info.update(int8=True, **facts)
        else:
            info["quantization_refused"] = f"AUC {auc:.4f} is beyond the tolerance"
    gate_log.extend({"net": slot, **record} for record in gate.log)
    columns = [str(c) for c in net.feature_names_in_]
    # The session runs on as many threads as the net it replaces (its n_jobs, else the
    # settings'), so the two are timed alike.
    compressed = OnnxNetClassifier.of(net.encoder_, model, columns, info, threads=net.n_jobs)
    return compressed, info


def _net_variant(
    bundle: ScoringBundle,
    rows: _Rows,
    options: CompressOptions,
    gate_log: list[dict[str, Any]],
    *,
    prune: bool,
    quantize: bool,
    label: str,
) -> ScoringBundle:
    from greenscore.models.compress.plain import net_slots

    new = copy.deepcopy(bundle)
    slots = list(net_slots(new.estimator))
    if not slots:
        raise ConfigError(
            NO_NET.format(model=bundle.name, method=label, kind=type(bundle.estimator).__name__)
        )
    infos = []
    for k, (net, put) in enumerate(slots):
        compressed, info = _compress_net(
            net, rows, options, gate_log, prune=prune, quantize=quantize, slot=k
        )
        infos.append(info)
        if net is new.estimator:
            name = new.pipeline.steps[-1][0]
            new.pipeline.steps[-1] = (name, compressed)
        else:
            put(compressed)
    return _stamp(new, {"method": label, "from": bundle.name, "nets": infos})


def _distilled(
    bundle: ScoringBundle,
    rows: _Rows,
    options: CompressOptions,
    gate_log: list[dict[str, Any]],
    quantize: bool,
) -> ScoringBundle:
    from greenscore.config import get_settings
    from greenscore.evaluation.metrics import auc
    from greenscore.models.compress.distillation import (
        BAD_STUDENT,
        STUDENTS,
        distill_lightgbm,
        distill_mlp,
        teacher_log_odds,
    )
    from greenscore.models.compress.steps import AccuracyGate

    if options.student not in STUDENTS:
        raise ConfigError(BAD_STUDENT.format(kind=options.student))
    teacher = bundle.estimator
    z = teacher_log_odds(teacher, rows.fit_F)
    gate = AccuracyGate(
        auc(rows.valid_y, teacher.predict_proba(rows.valid_F)[:, 1]), options.tolerance
    )
    info: dict[str, Any] = {
        "method": f"distill:{options.student}",
        "from": bundle.name,
        "teacher": type(teacher).__name__,
        "temperature": options.temperature,
        "alpha": options.alpha,
        "teacher_auc": gate.baseline,
    }
    if options.student == "lightgbm":
        step, facts = distill_lightgbm(
            rows.fit_F,
            rows.fit_y,
            z,
            monotone=dict(bundle.spec.monotone) or None,
            n_estimators=options.student_size,
            temperature=options.temperature,
            alpha=options.alpha,
            seed=options.seed,
            n_jobs=get_settings().training.n_jobs,
        )
        info.update(facts)
    else:
        step, losses = distill_mlp(
            rows.fit_F,
            rows.fit_y,
            z,
            spec=bundle.spec,
            hidden_units=max(8, options.student_size // 3),
            temperature=options.temperature,
            alpha=options.alpha,
            seed=options.seed,
        )
        info.update(student="mlp", distillation_loss=losses)
    student_auc = auc(rows.valid_y, step.predict_proba(rows.valid_F)[:, 1])
    info["kept"] = gate.check(f"distill:{options.student}", student_auc)
    gate_log.extend(gate.log)
    new = _with_step(bundle, step, info)
    if options.student == "mlp" and quantize:
        new = _net_variant(
            new, rows, options, gate_log, prune=False, quantize=True, label="distill+int8"
        )
    return new


def _refresh(bundle: ScoringBundle, rows: _Rows) -> None:
    """Drift references and reason codes of the new model, from its own scores."""
    from greenscore.explain.reason_codes import attach_reason_codes

    pd_ = bundle.predict_pd(rows.fit_X)
    bundle.metadata.training_pd = np.quantile(pd_, np.linspace(0, 1, 101)).tolist()
    attach_reason_codes(bundle, rows.fit_X.head(2000), rows.fit_y[:2000])


def _label(options: CompressOptions, prune: bool, quantize: bool) -> str:
    parts = []
    if prune:
        parts.append(f"{options.prune} prune {options.sparsity:g}")
    if quantize:
        parts.append(f"INT8 {options.quantization} (onnxruntime)")
    return " + ".join(parts) or "float ONNX"


def _reached(bundle: ScoringBundle, options: CompressOptions) -> str:
    """What the variant really is: the sparsity reached and whether INT8 was kept."""
    extra = bundle.metadata.model_extra or {}
    nets = extra.get("compression", {}).get("nets", [])
    parts = []
    if nets and "sparsity" in nets[0]:
        reached = min(n["sparsity"] for n in nets)
        parts.append(f"{options.prune} prune {reached:.2f} of {options.sparsity:g} asked")
    int8 = bool(nets) and all(n.get("int8") for n in nets)
    if nets and any("scheme" in n or "quantization_refused" in n for n in nets):
        parts.append(
            f"INT8 {options.quantization} (onnxruntime)"
            if int8
            else f"INT8 {options.quantization} refused by the gate"
        )
    return " + ".join(parts) + ("" if int8 else " (float ONNX)")


def compress(
    bundle: ScoringBundle,
    dataset: Dataset,
    options: CompressOptions,
    *,
    holdout: Dataset | None = None,
    valid: Dataset | None = None,
    progress: Progress | None = None,
) -> CompressResult:
    """Make the asked variants of ``bundle``, validate, save and measure them.

    ``valid`` rows, when given, are what every step is validated on (rows the original
    never trained on make a fair gate); else a stratified share of ``dataset``.

    Raises
    ------
    ConfigError
        For prune/quantize on a bundle without a DNN, or bad options.
    """
    from greenscore.models.compress.plain import from_dnn, net_slots
    from greenscore.models.compress.quantization import compare_engines
    from greenscore.models.compress.steps import NetData

    say = progress or (lambda _m: None)
    rows = _split(bundle, dataset, options, valid)
    gate_log: list[dict[str, Any]] = []
    bundles: dict[str, ScoringBundle] = {}
    methods: dict[str, str] = {ORIGINAL: f"as trained ({bundle.name})"}
    engines = None
    has_net = bool(list(net_slots(bundle.estimator)))
    net_methods = [m for m in options.methods if m in ("prune", "quantize")]
    # Without a net, quantize can still apply to an MLP student; prune has nothing to cut.
    student_net = "distill" in options.methods and options.student == "mlp"
    if student_net:
        net_methods = [m for m in net_methods if m != "quantize"]
    if net_methods and not has_net and options.methods != list(METHODS):
        raise ConfigError(
            NO_NET.format(
                model=bundle.name, method=net_methods[0], kind=type(bundle.estimator).__name__
            )
        )
    if has_net and "quantize" in options.methods:
        net = next(iter(net_slots(bundle.estimator)))[0]
        say("timing torch, torchao and ONNX Runtime on the validation rows")
        engines = compare_engines(
            from_dnn(net.module_),
            NetData.of(net.encoder_, rows.valid_F, rows.valid_y),
            NetData.of(net.encoder_, rows.fit_F, rows.fit_y),
        )
    if has_net:
        plans = []
        if "prune" in options.methods:
            plans.append(("pruned", True, False))
        if "quantize" in options.methods:
            plans.append(("int8", False, True))
        if "prune" in options.methods and "quantize" in options.methods:
            plans.append(("pruned-int8", True, True))
        for name, prune, quantize in plans:
            say(f"{name}: {_label(options, prune, quantize)}")
            bundles[name] = _net_variant(
                bundle, rows, options, gate_log, prune=prune, quantize=quantize, label=name
            )
            methods[name] = _reached(bundles[name], options)
    if "distill" in options.methods:
        say(f"distilling into a {options.student} student")
        name = f"distilled-{options.student}"
        bundles[name] = _distilled(
            bundle, rows, options, gate_log, quantize="quantize" in options.methods
        )
        methods[name] = (
            f"{options.student} student, T={options.temperature:g}, alpha={options.alpha:g}"
        )
    for variant in bundles.values():
        _refresh(variant, rows)
    result = CompressResult(bundles=bundles, methods=methods, gate=gate_log, engines=engines)
    _save_and_measure(bundle, result, rows, valid or dataset, options, holdout, say)
    return result


def _save_and_measure(
    original: ScoringBundle,
    result: CompressResult,
    rows: _Rows,
    dataset: Dataset,
    options: CompressOptions,
    holdout: Dataset | None,
    say: Progress,
) -> None:
    from greenscore.evaluation.metrics import auc
    from greenscore.models.compress.measure import METHODS as MEASURED
    from greenscore.models.compress.measure import (
        batch_rows_per_s,
        measure,
        pickled_bytes,
        table,
    )

    out = Path(options.out)
    folders = {ORIGINAL: original.save(out / "models" / ORIGINAL)}
    for name, variant in result.bundles.items():
        folders[name] = variant.save(out / "models" / name)
    if holdout is not None:
        X, y, frame = holdout.X, holdout.y, holdout.frame  # noqa: N806
    else:
        X, y = rows.valid_X, rows.valid_y  # noqa: N806
        frame = dataset.frame.iloc[rows.valid_positions]  # X's rows are the frame's, in order
    base_auc = auc(y, original.predict_pd(X))
    ok = {
        name: b
        for name, b in result.bundles.items()
        if base_auc - auc(y, b.predict_pd(X)) <= options.tolerance
    }
    if ok:
        result.chosen = min(ok, key=lambda n: pickled_bytes(ok[n].estimator))
        ok[result.chosen].save(out / "model")
    if options.measure:
        everyone = {ORIGINAL: original, **result.bundles}
        say("timing batch inference of all models side by side")
        rates = batch_rows_per_s(everyone, X)  # interleaved: their ratios hold under load
        for name, b in everyone.items():
            say(f"measuring {name}")
            result.measurements.append(
                measure(
                    name,
                    result.methods[name],
                    b,
                    folders[name],
                    X,
                    y,
                    frame,
                    latency_rows=options.latency_rows,
                    rows_per_s=rates[name],
                )
            )
    result.report = {
        "model": original.name,
        "rows": {"fit": len(rows.fit_y), "valid": len(rows.valid_y), "measured": len(y)},
        "measured_on": "holdout" if holdout is not None else "validation split",
        "tolerance": options.tolerance,
        "chosen": result.chosen,
        "methods": MEASURED,
        "variants": result.methods,
        "gate": result.gate,
        "engines": result.engines,
        "measurements": [m.to_dict() for m in result.measurements],
        "load_average": list(os.getloadavg()),
    }
    write_json(out / "compression.json", result.report)
    lines = [f"# Compression of {original.name}", ""]
    if result.measurements:
        lines += [table(result.measurements, ORIGINAL), ""]
    lines += [f"- {k}: {v}" for k, v in MEASURED.items()]
    lines.append(f"- chosen (smallest within {options.tolerance} AUC): {result.chosen}")
    (out / "compression.md").write_text("\n".join(lines) + "\n", "utf-8")
