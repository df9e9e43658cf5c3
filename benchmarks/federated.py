"""Benchmark of federated learning across lenders against centralised training (issue 15).

Taiwan (``../shared/data/UCI_Credit_Card.csv``, preset ``taiwan``, read in place) cut into
5 lenders by the federated package's own splitter (``portfolios``: sizes and default rates
drawn from Dirichlet(alpha = 0.5), every lender's default rate held within 5-50 %, seed 42)
and written to a temporary folder by ``greenscore.federated.simulation.prepare_lenders``
(each lender's file and home, as ``greenscore federate simulate`` does; deleted afterwards).
Every lender's rows are split by the package (``lender_rows``: 20 % test, then 15 % of the
rest validation, seeded and stratified). The **held-out test split** is the union of the
lenders' test rows, the same for every model; no model, round or setting is chosen on it.

* **Centralised** baselines on the pooled training rows: the DNN (``make_estimator('dnn')``
  with the federation's network parameters, fitted on the pooled training + validation rows
  with its own 15 % early-stopping hold-out) and the WoE scorecard
  (``make_estimator('scorecard')``, on the pooled training rows, as the federated one uses);
  both after the product's feature pipeline fitted on the same rows.
* **Federated** runs through ``greenscore.federated.simulation.simulate`` (Flower ServerApp
  and ClientApp on the in-process grid): FedAvg and FedProx DNN; FedAvg with local
  differential privacy (Opacus DP-SGD on each lender, epsilon = 3, delta = 1e-5, record
  level); FedAvg with int8 and with top-k (10 %) update compression; the federated WoE
  scorecard. The model of each run (best round by the federation's validation AUC) is the
  ordinary bundle the run writes, scored on the held-out test split.
* **Per lender**: the package's final phase on each lender's own test rows: the federated
  model, its personalised version (fine-tuned on the lender's rows, kept only when the
  lender's validation AUC says it helps) and a model trained on the lender's rows alone.

Targets: FedAvg and FedProx >= central DNN - 0.01 AUC; DP >= central DNN - 0.03 with the
spent epsilon <= 3; federated scorecard >= central scorecard - 0.005; every lender's
(personalised) federated model beats its local-only model on its own test rows (lenders
whose test rows hold fewer than 10 of either class are shown but cannot be measured).
Also recorded: bytes per round with and without compression, the per-round validation AUC,
wall and CPU time, energy (``measure_energy``; the JSON says how it was measured) and the
load average before and after (the machine is shared: read the CPU seconds). The exit
status is 1 when a target is missed; the table says which, and by how much.

Run: ``.venv/bin/python benchmarks/federated.py [--quick] [--rounds N]``. ``--quick`` is a
smoke run (6,000 rows, 3 rounds, no targets) written to ``federated_quick.*``.
Results: ``benchmarks/results/federated.json`` and ``federated.md``.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import sys
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

# Before any engine loads: the package sets OpenMP's spin count (see greenscore/__init__).
import greenscore  # noqa: E402,F401

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data" / "UCI_Credit_Card.csv"
RESULTS = Path(__file__).resolve().parent / "results"
SEED = 42
LENDERS = 5
ALPHA = 0.5
TEST_FRACTION = 0.2
ROUNDS = 20
LOCAL_EPOCHS = 1
DP_EPSILON, DP_DELTA = 3.0, 1e-5
DNN_MARGIN, DP_MARGIN, SCORECARD_MARGIN = 0.01, 0.03, 0.005
#: Fewest defaulters (and non-defaulters) in a lender's test rows for its AUC to count.
MIN_TEST_CLASS = 10
QUICK_ROWS, QUICK_ROUNDS = 6_000, 3

#: The federated runs: name -> FederationPlan settings beside the common ones.
RUNS: dict[str, dict[str, Any]] = {
    "fedavg": {"strategy": "fedavg"},
    "fedprox": {"strategy": "fedprox"},
    "fedavg_dp": {"strategy": "fedavg", "dp_mode": "local", "dp_epsilon": DP_EPSILON},
    "fedavg_int8": {"strategy": "fedavg", "compression": "int8"},
    "fedavg_topk": {"strategy": "fedavg", "compression": "topk", "topk_ratio": 0.1},
    "scorecard": {"model": "scorecard"},
}
LABELS = {
    "fedavg": "FedAvg DNN",
    "fedprox": "FedProx DNN (mu 0.01)",
    "fedavg_dp": f"FedAvg DNN, local DP (epsilon {DP_EPSILON:g}, delta {DP_DELTA:g})",
    "fedavg_int8": "FedAvg DNN, int8 updates",
    "fedavg_topk": "FedAvg DNN, top-k 10 % updates",
    "scorecard": "federated WoE scorecard",
}
PER_LENDER_RUNS = ("fedavg", "fedprox")


def _load() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def _auc(y: np.ndarray, p: np.ndarray) -> float:
    from sklearn.metrics import roc_auc_score

    return float(roc_auc_score(y, p)) if np.unique(y).size == 2 else float("nan")


def _clean(value: Any) -> Any:
    """JSON-ready (NaN as null, NumPy scalars as numbers)."""
    if isinstance(value, dict):
        return {str(k): _clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_clean(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


# ---------------------------------------------------------------------- data
def lenders(root: Path, rows: int | None) -> tuple[Any, dict[str, dict[str, str]], dict[str, Any]]:
    """The dataset, each lender's node config and each lender's package-made splits."""
    from greenscore.data.loading import load_dataset
    from greenscore.federated.lender import lender_rows
    from greenscore.federated.simulation import prepare_lenders

    dataset = load_dataset(DATA, preset="taiwan")
    if rows is not None and rows < len(dataset.frame):
        keep = np.sort(np.random.default_rng(SEED).choice(len(dataset.frame), rows, replace=False))
        dataset.frame = dataset.frame.iloc[keep]
    configs = prepare_lenders(
        dataset, out=root, lenders=LENDERS, split="portfolios", alpha=ALPHA, seed=SEED
    )
    from greenscore.federated.plan import FederationPlan

    val_fraction = FederationPlan().validation_fraction
    splits = {
        name: lender_rows(
            config["data"],
            dataset.spec,
            lender=name,
            test_fraction=TEST_FRACTION,
            val_fraction=val_fraction,
            seed=SEED,
        )
        for name, config in configs.items()
    }
    return dataset, configs, splits


def describe(splits: dict[str, Any]) -> dict[str, dict[str, float]]:
    """Rows, default rate and test-row classes of every lender."""
    out = {}
    for name, s in splits.items():
        y = np.concatenate([s.y_train, s.y_val, s.y_test])
        out[name] = {
            "rows": int(len(y)),
            "default_rate": float(y.mean()),
            "train_rows": int(len(s.y_train)),
            "val_rows": int(len(s.y_val)),
            "test_rows": int(len(s.y_test)),
            "test_defaults": int(s.y_test.sum()),
            "test_non_defaults": int(len(s.y_test) - s.y_test.sum()),
        }
    return out


def pooled(splits: dict[str, Any], parts: tuple[str, ...]) -> tuple[pd.DataFrame, np.ndarray]:
    """The lenders' rows of the given splits (``train``, ``val``, ``test``), stacked."""
    frames, targets = [], []
    for s in splits.values():
        for part in parts:
            frames.append(getattr(s, f"X_{part}"))
            targets.append(getattr(s, f"y_{part}"))
    return pd.concat(frames), np.concatenate(targets)


# ---------------------------------------------------------------------- central
def central(
    kind: str,
    X: pd.DataFrame,  # noqa: N803
    y: np.ndarray,
    test: tuple[pd.DataFrame, np.ndarray],
    splits: dict[str, Any],
    *,
    spec: Any,
    params: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Fit a centralised baseline on pooled rows; AUC on the test split and per lender."""
    from greenscore.features.pipeline import build_feature_pipeline
    from greenscore.models.registry import make_estimator
    from greenscore.sustainability.energy import measure_energy

    load_before = _load()
    cpu, wall = time.process_time(), time.perf_counter()
    with measure_energy(f"benchmark:central:{kind}") as reading:
        pipeline = build_feature_pipeline(spec).fit(X, y)
        model = make_estimator(kind, spec=spec, seed=SEED, params=params)
        model.fit(pipeline.transform(X), y)

    def score(frame: pd.DataFrame) -> np.ndarray:
        return model.predict_proba(pipeline.transform(frame))[:, 1]

    record = {
        "test_auc": _auc(test[1], score(test[0])),
        "per_lender_test_auc": {
            name: _auc(s.y_test, score(s.X_test)) if len(s.y_test) else float("nan")
            for name, s in splits.items()
        },
        "train_rows": int(len(y)),
        "wall_seconds": time.perf_counter() - wall,
        "cpu_seconds": time.process_time() - cpu,
        "kwh": float(reading.kwh),
        "co2_kg": float(reading.co2_kg),
        "energy_method": reading.method,
        "load_before": load_before,
        "load_after": _load(),
    }
    if hasattr(model, "best_epoch_"):
        record["best_epoch"] = int(model.best_epoch_)
        record["epochs_run"] = len(model.history_)
    if hasattr(model, "selected_"):
        record["characteristics"] = list(model.selected_)
    print(f"  central {kind}: test AUC {record['test_auc']:.4f}", flush=True)
    return record


# ---------------------------------------------------------------------- federated
def federate(
    name: str,
    settings: dict[str, Any],
    *,
    root: Path,
    spec: Any,
    configs: dict[str, dict[str, str]],
    test: tuple[pd.DataFrame, np.ndarray],
    rounds: int,
) -> dict[str, Any]:
    """One federated run through the package's simulation; its bundle on the test split."""
    from greenscore.federated.plan import FederationPlan
    from greenscore.federated.simulation import simulate
    from greenscore.models.bundle import ScoringBundle

    plan = FederationPlan(
        federation=f"bench-{name}",
        rounds=rounds,
        local_epochs=LOCAL_EPOCHS,
        test_fraction=TEST_FRACTION,
        dp_delta=DP_DELTA,
        seed=SEED,
        out=str(root / name),
        spec=spec.to_yaml(),
        **settings,
    ).check()
    load_before = _load()
    cpu, wall = time.process_time(), time.perf_counter()
    result = simulate(plan, configs)
    wall_s, cpu_s = time.perf_counter() - wall, time.process_time() - cpu
    assert result.model_dir is not None
    bundle = ScoringBundle.load(result.model_dir)
    test_auc = _auc(test[1], bundle.predict_pd(test[0]))
    rounds_out = [
        {
            "round": r["round"],
            "val_auc": r["val_auc"],
            "train_loss": r["train_loss"],
            "bytes_down": r["bytes_down"],
            "bytes_up": r["bytes_up"],
            "kwh": r["kwh"],
            "answered": len(r["answered"]),
        }
        for r in result.rounds
    ]
    training = [u for phase, u in result.usage.items() if phase.startswith("round-")]
    record: dict[str, Any] = {
        "plan": {k: v for k, v in json.loads(plan.to_json()).items() if k not in {"spec", "out"}},
        "test_auc": test_auc,
        "best_round": result.best_round,
        "best_val_auc": result.best_val_auc,
        "rounds": rounds_out,
        "bytes_per_round_down": float(np.mean([u["bytes_down"] for u in training]))
        if training
        else float("nan"),
        "bytes_per_round_up": float(np.mean([u["bytes_up"] for u in training]))
        if training
        else float("nan"),
        "bytes_total": int(sum(u["bytes_down"] + u["bytes_up"] for u in result.usage.values())),
        "usage": result.usage,
        "per_lender": result.per_lender,
        "privacy": result.privacy,
        "alerts": result.alerts,
        "refused": {result.name_of(n): why for n, why in result.refused.items()},
        "energy": result.energy,
        "extra": {k: v for k, v in result.extra.items() if k != "mlflow_run_id"},
        "wall_seconds": wall_s,
        "cpu_seconds": cpu_s,
        "load_before": load_before,
        "load_after": _load(),
    }
    best = f"best round {result.best_round}, " if plan.model == "dnn" else ""
    print(
        f"  {name}: test AUC {test_auc:.4f} ({best}validation AUC {result.best_val_auc:.4f}), "
        f"{wall_s:.0f} s wall",
        flush=True,
    )
    return record


# ---------------------------------------------------------------------- checks
def _epsilon_spent(run: dict[str, Any]) -> float:
    per_lender = run["privacy"].get("per_lender", {})
    spent = [entries[-1]["epsilon"] for entries in per_lender.values() if entries]
    return float(max(spent)) if spent else float("nan")


def measurable(lender: dict[str, Any]) -> bool:
    """Whether a lender's test rows hold enough of both classes for an AUC to mean much."""
    return min(lender["test_defaults"], lender["test_non_defaults"]) >= MIN_TEST_CLASS


def check_targets(payload: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Issue 15's acceptance checks on the measured figures."""
    c, runs = payload["central"], payload["runs"]
    checks: dict[str, dict[str, Any]] = {}

    def at_least(key: str, value: float, floor: float, target: str) -> None:
        checks[key] = {
            "value": value,
            "floor": floor,
            "target": target,
            "margin": value - floor,
            "pass": bool(value >= floor),
        }

    dnn = c["dnn"]["test_auc"]
    for name in ("fedavg", "fedprox"):
        if name in runs:
            at_least(
                f"{name}_auc",
                runs[name]["test_auc"],
                dnn - DNN_MARGIN,
                f">= central DNN {dnn:.4f} - {DNN_MARGIN}",
            )
    if "fedavg_dp" in runs:
        at_least(
            "dp_auc",
            runs["fedavg_dp"]["test_auc"],
            dnn - DP_MARGIN,
            f">= central DNN {dnn:.4f} - {DP_MARGIN}",
        )
        spent = _epsilon_spent(runs["fedavg_dp"])
        checks["dp_epsilon_spent"] = {
            "value": spent,
            "floor": DP_EPSILON,
            "target": f"<= {DP_EPSILON:g} (delta {DP_DELTA:g}), every lender",
            "margin": DP_EPSILON - spent,
            "pass": bool(spent <= DP_EPSILON + 1e-9),
        }
    if "scorecard" in runs:
        sc = c["scorecard"]["test_auc"]
        at_least(
            "scorecard_auc",
            runs["scorecard"]["test_auc"],
            sc - SCORECARD_MARGIN,
            f">= central scorecard {sc:.4f} - {SCORECARD_MARGIN}",
        )
    for name in PER_LENDER_RUNS:
        if name not in runs:
            continue
        for lender, row in runs[name]["per_lender"].items():
            if not measurable(payload["lenders"][lender]):
                continue
            joined, alone = row.get("auc-personalised", math.nan), row.get("auc-local", math.nan)
            checks[f"{name}_{lender}_beats_local"] = {
                "value": joined,
                "floor": alone,
                "target": f"> local-only {alone:.4f} on {lender}'s test rows",
                "margin": joined - alone,
                "pass": bool(joined > alone),
            }
    return checks


# ---------------------------------------------------------------------- report
def _f(value: Any, digits: int = 4) -> str:
    if isinstance(value, int | float) and math.isfinite(value):
        return f"{value:.{digits}f}"
    return "n/a"


def table(payload: dict[str, Any]) -> str:
    """Markdown tables of the results."""
    c, runs, lenders_ = payload["central"], payload["runs"], payload["lenders"]
    lines = [
        "## Federated learning across lenders (`benchmarks/federated.py`)",
        "",
        f"Taiwan, {sum(v['rows'] for v in lenders_.values()):,} rows cut into {LENDERS} "
        f"lenders by the package's `portfolios` splitter (sizes and default rates from "
        f"Dirichlet(alpha = {ALPHA}), default rates held within 5-50 %, seed {SEED}); each "
        f"lender's rows split {TEST_FRACTION * 100:.0f} % test / 15 % of the rest validation. "
        f"Held-out test split: the union of the lenders' test rows "
        f"({payload['test_rows']:,} rows), the same for every model. "
        f"{payload['rounds']} rounds x {LOCAL_EPOCHS} local epoch (the central DNN: up to "
        "25 epochs with early stopping), every lender every round, in-process Flower grid "
        "(lenders one after another). "
        f"Load average {payload['load_before']} before, {payload['load_after']} after, on "
        f"{payload['machine']['cpus']} cores shared with other engineers' jobs: read CPU "
        f"seconds rather than wall time. Whole run {payload['total_seconds']:.0f} s wall, "
        f"{payload['energy_total_kwh'] * 1000:.2f} Wh. Energy: {payload['energy_method']}; "
        "in this simulation every lender runs in the benchmark's process, so a run's Wh "
        "includes its lenders' work (the per-lender column is each lender's own fits).",
        "",
        "### Lenders",
        "",
        "| lender | rows | default rate | train / val / test rows | test defaults |",
        "| --- | --- | --- | --- | --- |",
    ]
    for name, v in lenders_.items():
        lines.append(
            f"| {name} | {v['rows']:,} | {v['default_rate']:.1%} | {v['train_rows']:,} / "
            f"{v['val_rows']:,} / {v['test_rows']:,} | {v['test_defaults']} |"
        )
    lines += [
        "",
        "### Test AUC (held-out split)",
        "",
        "| model | test AUC | vs central | best round (validation AUC) | wall / CPU s | Wh |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for kind, label in (("dnn", "central DNN"), ("scorecard", "central WoE scorecard")):
        r = c[kind]
        lines.append(
            f"| {label} | {_f(r['test_auc'])} | - | - | {r['wall_seconds']:.0f} / "
            f"{r['cpu_seconds']:.0f} | {r['kwh'] * 1000:.3f} |"
        )
    for name, r in runs.items():
        base = c["scorecard" if name == "scorecard" else "dnn"]["test_auc"]
        best = (
            f"{r['best_round']} ({_f(r['best_val_auc'])})"
            if name != "scorecard"
            else f"- ({_f(r['best_val_auc'])})"
        )
        lines.append(
            f"| {LABELS[name]} | {_f(r['test_auc'])} | {r['test_auc'] - base:+.4f} | {best} | "
            f"{r['wall_seconds']:.0f} / {r['cpu_seconds']:.0f} | "
            f"{r['energy']['server_total_kwh'] * 1000:.3f} |"
        )
    notes = []
    if "best_epoch" in c["dnn"]:
        notes.append(
            f"Central DNN: best epoch {c['dnn']['best_epoch']} of {c['dnn']['epochs_run']} run "
            "(the product's `DNNClassifier.fit`: one-cycle schedule, early stopping on its own "
            "15 % hold-out); federated rounds train with a constant learning rate, and the "
            "kept model is the round with the best federation-wide validation AUC."
        )
    if "scorecard" in runs and "characteristics" in c["scorecard"]:
        fed = runs["scorecard"]["extra"].get("scorecard", {}).get("characteristics", [])
        notes.append(
            f"Scorecards: central {len(c['scorecard']['characteristics'])} characteristics, "
            f"federated {len(fed)}."
        )
    if notes:
        lines += ["", " ".join(notes)]
    if "fedavg_dp" in runs:
        dp = runs["fedavg_dp"]
        lines += [
            "",
            f"DP run: record-level guarantee (DP-SGD on each lender, Opacus RDP accounting); "
            f"largest epsilon spent by a lender {_f(_epsilon_spent(dp), 3)} (delta "
            f"{DP_DELTA:g}); networks under DP have no batch normalisation (per-example "
            "clipping cannot bound it). Personalised models (fine-tuned locally, kept by "
            "the lender) are not part of the DP guarantee.",
        ]
    lines += [
        "",
        "### Bytes per training round (all lenders, as Flower serialises the messages)",
        "",
        "Compression applies to the lenders' updates (up); the server sends full weights "
        "(down). Evaluation messages are not counted here (they are in the JSON's `usage`).",
        "",
    ]
    lines += [
        "| run | down / round | up / round | up vs uncompressed |",
        "| --- | --- | --- | --- |",
    ]
    plain_up = runs.get("fedavg", {}).get("bytes_per_round_up", math.nan)
    for name in ("fedavg", "fedavg_int8", "fedavg_topk", "fedavg_dp", "fedprox"):
        if name in runs:
            r = runs[name]
            lines.append(
                f"| {LABELS[name]} | {r['bytes_per_round_down']:,.0f} | "
                f"{r['bytes_per_round_up']:,.0f} | {r['bytes_per_round_up'] / plain_up:.2f} |"
            )
    if "scorecard" in runs:
        lines.append(
            f"| {LABELS['scorecard']} (whole fit, "
            f"{runs['scorecard']['extra'].get('scorecard', {}).get('federated_steps', '?')} "
            f"aggregations) | total {runs['scorecard']['bytes_total']:,} bytes | | |"
        )
    dnn_runs = [n for n in runs if n != "scorecard"]
    lines += [
        "",
        "### Validation AUC per round (federation-wide, from lenders' score histograms)",
        "",
        "| round | " + " | ".join(LABELS[n] for n in dnn_runs) + " |",
        "| --- |" + " --- |" * len(dnn_runs),
    ]
    for k in range(max((len(runs[n]["rounds"]) for n in dnn_runs), default=0)):
        cells = [
            _f(runs[n]["rounds"][k]["val_auc"]) if k < len(runs[n]["rounds"]) else ""
            for n in dnn_runs
        ]
        lines.append(f"| {k + 1} | " + " | ".join(cells) + " |")
    lines += [
        "",
        "### Per lender, on the lender's own test rows",
        "",
        "Federated = the global model; personalised = fine-tuned on the lender's rows "
        f"({payload['personalise_epochs']} epochs), kept only when the lender's validation "
        "AUC improves (yes/no); local only = the same network trained on the lender's rows "
        "alone; central = the pooled central DNN (for scale). Lenders with fewer than "
        f"{MIN_TEST_CLASS} test rows of a class are shown but not counted.",
        "",
        "| lender | test rows (defaults) | run | federated | personalised | kept | "
        "local only | gain | central DNN | Wh in rounds |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for lender, v in lenders_.items():
        for name in PER_LENDER_RUNS:
            if name not in runs or lender not in runs[name]["per_lender"]:
                continue
            row = runs[name]["per_lender"][lender]
            gain = row.get("auc-personalised", math.nan) - row.get("auc-local", math.nan)
            note = "" if measurable(v) else " (too few to measure)"
            lines.append(
                f"| {lender} | {v['test_rows']} ({v['test_defaults']}){note} | {name} | "
                f"{_f(row.get('auc-federated'))} | {_f(row.get('auc-personalised'))} | "
                f"{'yes' if row.get('personalised') else 'no'} | {_f(row.get('auc-local'))} | "
                f"{gain:+.4f} | {_f(c['dnn']['per_lender_test_auc'][lender])} | "
                f"{runs[name]['energy']['per_lender'].get(lender, {}).get('kwh', 0.0) * 1000:.3f} |"
            )
    if payload["checks"]:
        lines += [
            "",
            "### Targets",
            "",
            "| check | value | target | margin | pass |",
            "| --- | --- | --- | --- | --- |",
        ]
        for name, ch in payload["checks"].items():
            lines.append(
                f"| {name} | {_f(ch['value'])} | {ch['target']} | {ch['margin']:+.4f} | "
                f"{ch['pass']} |"
            )
        missed = [n for n, ch in payload["checks"].items() if not ch["pass"]]
        lines += [""]
        if missed:
            lines.append(
                "MISSED: "
                + "; ".join(f"{n} by {-payload['checks'][n]['margin']:.4f}" for n in missed)
                + "."
            )
        else:
            lines.append("Every target met.")
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------------- main
def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; non-zero if a target is missed (full run only)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="6,000 rows, 3 rounds, no targets")
    parser.add_argument("--rounds", type=int, default=None, help=f"rounds (default {ROUNDS})")
    parser.add_argument("--runs", default=",".join(RUNS), help="comma list of federated runs")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args, _ = parser.parse_known_args(argv)

    from greenscore.config import get_settings, use_settings
    from greenscore.federated.plan import FederationPlan

    # Opacus warns once per lender and round about hooks it installs on purpose.
    warnings.filterwarnings("ignore", module=r"opacus(\.|$)")
    warnings.filterwarnings("ignore", message=r".*full_backward_hook.*")
    rounds = args.rounds or (QUICK_ROUNDS if args.quick else ROUNDS)
    names = [n.strip() for n in args.runs.split(",") if n.strip()]
    unknown = [n for n in names if n not in RUNS]
    if unknown:
        print(f"unknown run(s) {unknown}; choose from {', '.join(RUNS)}", file=sys.stderr)
        return 2
    load_before = _load()
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="greenscore-federated-bench-") as tmp:
        root = Path(tmp)
        # The server's home (MLflow, energy) is temporary too; lenders get theirs from
        # prepare_lenders, beside their files.
        use_settings(get_settings().model_copy(update={"home": root / "server-home"}))
        try:
            dataset, configs, splits = lenders(root, QUICK_ROWS if args.quick else None)
            spec = dataset.spec
            info = describe(splits)
            for name, v in info.items():
                print(f"{name}: {v['rows']:,} rows, default rate {v['default_rate']:.1%}")
            test = pooled(splits, ("test",))
            model_params = {
                k: v
                for k, v in FederationPlan(seed=SEED).model_params().items()
                if k != "random_state"
            }
            central_runs = {
                "dnn": central(
                    "dnn", *pooled(splits, ("train", "val")), test, splits, spec=spec,
                    params=model_params,
                ),
                "scorecard": central(
                    "scorecard", *pooled(splits, ("train",)), test, splits, spec=spec
                ),
            }  # fmt: skip
            runs = {
                name: federate(
                    name, RUNS[name], root=root, spec=spec, configs=configs, test=test,
                    rounds=rounds,
                )
                for name in names
            }  # fmt: skip
        finally:
            use_settings(None)
    methods = {r["energy_method"] for r in central_runs.values()}
    methods |= {r["energy"]["method"] for r in runs.values() if r["energy"].get("method")}
    payload: dict[str, Any] = {
        "benchmark": "federated",
        "quick": args.quick,
        "seed": SEED,
        "rounds": rounds,
        "local_epochs": LOCAL_EPOCHS,
        "personalise_epochs": FederationPlan().personalise_epochs,
        "test_rows": int(len(test[1])),
        "machine": {"platform": platform.platform(), "cpus": os.cpu_count()},
        "load_before": load_before,
        "load_after": _load(),
        "total_seconds": time.perf_counter() - started,
        "energy_method": "; ".join(sorted(methods)),
        "energy_total_kwh": float(
            sum(r["kwh"] for r in central_runs.values())
            + sum(r["energy"]["server_total_kwh"] for r in runs.values())
        ),
        "lenders": info,
        "central": central_runs,
        "runs": runs,
        "checks": {},
    }
    if not args.quick:
        payload["checks"] = check_targets(payload)
    stem = "federated_quick" if args.quick else "federated"
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / f"{stem}.json").write_text(json.dumps(_clean(payload), indent=2), "utf-8")
    text = table(payload)
    (args.out / f"{stem}.md").write_text(text, "utf-8")
    print(text)
    missed = [name for name, c in payload["checks"].items() if not c["pass"]]
    if missed:
        print(
            "missed targets: "
            + ", ".join(f"{n} (by {-payload['checks'][n]['margin']:.4f})" for n in missed),
            file=sys.stderr,
        )
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
