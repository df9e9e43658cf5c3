"""Benchmark of ``greenscore train --models auto`` against single models on the anchors' folds.

For each public dataset (Taiwan, German, credit_risk, read in place from ``../shared/data``
with their presets) and each seed (``--seeds``; 0 by default, the anchors' folds: scikit-
learn's ``StratifiedKFold(n_splits=5, shuffle=True, random_state=seed)``, which is what
``greenscore train --seed SEED`` uses), on the SAME folds:

* **auto**: ``greenscore train --models auto --time-budget BUDGET`` (the workflow the CLI
  runs): its ensemble's mean AUC, its wall time against the budget, the DeLong test of the
  ensemble against its best member on the same folds and rows, and the members' weights;
* **bare LightGBM** (``LGBMClassifier()``) and **bare CatBoost** (``CatBoostClassifier()``,
  native categoricals), default parameters;
* **the WoE scorecard** and **tuned LightGBM** (``--trials`` Optuna trials nested in each
  training fold), as ``greenscore train --models scorecard,lightgbm`` trains them;

and the expected calibration error of every model (ours after the bundle's calibration
step; the scorecard is calibrated by its own logistic fit; the bare models as they come).
The issue 13 targets are checked on the whole files: mean AUC (the best public anchor +
0.003), auto within its budget, the ensemble at least its best member, and on Taiwan every
model of ours at ECE <= 0.02. Results go to ``benchmarks/results/auto.json`` and
``auto.md``; the load average is recorded, since the wall times depend on it.

Run: ``.venv/bin/python benchmarks/auto.py [--datasets german] [--seeds 0,1,2]
[--time-budget 20m] [--trials 30]``. ``--quick`` is a smoke run (German, seed 0, a 3-minute
budget, 5 trials) written to ``auto_quick.json`` / ``auto_quick.md``, with no checks.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
os.environ.setdefault("DO_NOT_TRACK", "true")
# Before any engine loads: the package sets OpenMP's spin count (see greenscore/__init__).
import greenscore  # noqa: E402,F401

sys.path.insert(0, str(Path(__file__).resolve().parent))
from train import DATASETS, _categorical_columns, _code_version, bare_lightgbm  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
DATA_DIR = ROOT.parent / "shared" / "data"
RESULTS = Path(__file__).resolve().parent / "results"

#: Issue 13's targets: the best public anchor's mean AUC on seed 0's folds, plus 0.003.
TARGETS = {"taiwan": 0.789, "german": 0.809, "credit_risk": 0.955}
#: ``--time-budget`` of auto per dataset (Taiwan's is the issue's default on 2 cores).
BUDGETS = {"taiwan": "20m", "german": "10m", "credit_risk": "20m"}
#: Largest ECE allowed after calibration, checked on Taiwan (issue 13).
MAX_ECE = 0.02
FOLDS = 5


def _summary(aucs: list[float], eces: list[float] | None = None) -> dict[str, Any]:
    return {
        "auc": float(np.mean(aucs)),
        "auc_std": float(np.std(aucs, ddof=1)) if len(aucs) > 1 else 0.0,
        "fold_auc": [float(a) for a in aucs],
        **({"ece": float(np.mean(eces))} if eces is not None else {}),
    }


def bare_catboost(
    X: pd.DataFrame,  # noqa: N803
    y: np.ndarray,
    folds: list[tuple[np.ndarray, np.ndarray]],
    *,
    spec: Any,
    n_jobs: int,
) -> dict[str, Any]:
    """``CatBoostClassifier()`` with default parameters and native categoricals."""
    from catboost import CatBoostClassifier
    from sklearn.metrics import roc_auc_score

    from greenscore.evaluation.metrics import ece

    categorical = _categorical_columns(X, spec)
    data = X.copy()
    for column in categorical:
        # CatBoost takes categories as text; missing is a level of its own.
        data[column] = data[column].astype(object).where(data[column].notna(), "nan").astype(str)
    aucs, eces, seconds = [], [], []
    pooled = np.full(len(y), np.nan)
    for train_idx, valid_idx in folds:
        model = CatBoostClassifier(
            verbose=0,
            thread_count=n_jobs,
            random_seed=0,
            cat_features=categorical,
            allow_writing_files=False,  # no catboost_info/ folder in the working directory
        )
        started = time.perf_counter()
        model.fit(data.iloc[train_idx], y[train_idx])
        seconds.append(time.perf_counter() - started)
        p = model.predict_proba(data.iloc[valid_idx])[:, 1]
        pooled[valid_idx] = p
        aucs.append(roc_auc_score(y[valid_idx], p))
        eces.append(ece(y[valid_idx], p))
    return {
        **_summary(aucs, eces),
        "ece_pooled": pooled_ece(y, pooled),
        "fit_seconds": float(np.mean(seconds)),
    }


def _bare_lightgbm_with_ece(
    X: pd.DataFrame,  # noqa: N803
    y: np.ndarray,
    folds: list[tuple[np.ndarray, np.ndarray]],
    *,
    spec: Any,
    n_jobs: int,
) -> dict[str, Any]:
    """benchmarks/train.py's bare LightGBM, plus its ECE (refitted here for the PDs)."""
    import lightgbm as lgb

    from greenscore.evaluation.metrics import ece

    out = bare_lightgbm(X, y, folds, spec=spec, n_jobs=n_jobs)
    data = X.copy()
    for column in _categorical_columns(data, spec):
        data[column] = data[column].astype("category")
    eces = []
    pooled = np.full(len(y), np.nan)
    for train_idx, valid_idx in folds:
        model = lgb.LGBMClassifier(n_jobs=n_jobs, verbose=-1).fit(
            data.iloc[train_idx], y[train_idx]
        )
        pooled[valid_idx] = model.predict_proba(data.iloc[valid_idx])[:, 1]
        eces.append(ece(y[valid_idx], pooled[valid_idx]))
    return {**out, "ece": float(np.mean(eces)), "ece_pooled": pooled_ece(y, pooled)}


def pooled_ece(y: np.ndarray, p: np.ndarray) -> float:
    """ECE the standard way: 10 equal-width bins on every outer fold's validation PDs
    pooled (each row scored once, by the model that did not train on it). The mean of
    per-fold ECEs is kept beside it, but on German's 200-row folds binning noise alone
    makes that about 0.05 for a perfectly calibrated model."""
    from greenscore.evaluation.metrics import ece

    scored = np.isfinite(p)
    return float(ece(y[scored], p[scored], n_bins=10))


def _train(
    name: str, *, models: str, seed: int, home: Path, **extra: Any
) -> tuple[Any, float, list[float]]:
    """``greenscore train`` on a dataset (the CLI's workflow), its wall time and the load
    average before and after."""
    from greenscore.workflows.train import train
    from greenscore.workflows.train_plan import plan_training

    load = [os.getloadavg()[0]]
    started = time.perf_counter()
    dataset, options, _ = plan_training(
        DATA_DIR / DATASETS[name],
        preset=name,
        models=models,
        cv=FOLDS,
        seed=seed,
        out=home / f"{name}-{seed}-{models.replace(',', '-')}",
        force=True,
        **extra,
    )
    result = train(dataset, options)
    wall = time.perf_counter() - started
    load.append(os.getloadavg()[0])
    return result, wall, load


def bench_one(
    name: str, *, seed: int, budget: str, trials: int, n_jobs: int, home: Path
) -> dict[str, Any]:
    """Auto, the bare boosters, the scorecard and tuned LightGBM on one dataset and seed."""
    from greenscore.data.loading import load_dataset
    from greenscore.evaluation.cv import make_folds
    from greenscore.models.ensemble_plan import parse_duration

    dataset = load_dataset(DATA_DIR / DATASETS[name], preset=name)
    X, y = dataset.X, dataset.y  # noqa: N806
    folds = make_folds(y, strategy="stratified", n_splits=FOLDS, seed=seed)
    print(f"[{name} seed {seed}] {len(y):,} rows, default rate {y.mean():.2%}", flush=True)

    auto, auto_wall, auto_load = _train(
        name, models="auto", seed=seed, home=home, time_budget=budget
    )
    section = auto.metrics["ensemble"]
    ensemble = auto.metrics["models"]["ensemble"]
    comparison = section["comparison"]
    print(
        f"[{name} seed {seed}] auto {ensemble['auc']:.4f} in {auto_wall:.0f} s "
        f"(budget {budget}); best member {comparison.get('best_member')} "
        f"{comparison.get('best_member_auc') or float('nan'):.4f}, DeLong p "
        f"{comparison.get('delong_p', float('nan')):.3g}",
        flush=True,
    )
    singles, singles_wall, singles_load = _train(
        name, models="scorecard,lightgbm", seed=seed, home=home, tune_trials=trials
    )
    bare_lgbm = _bare_lightgbm_with_ece(X, y, folds, spec=dataset.spec, n_jobs=n_jobs)
    bare_cat = bare_catboost(X, y, folds, spec=dataset.spec, n_jobs=n_jobs)

    def ours(summary: dict[str, Any], oof: np.ndarray) -> dict[str, Any]:
        return {
            "auc": summary["auc"],
            "auc_std": summary["auc_std"],
            "ece": summary["ece"],
            "ece_pooled": pooled_ece(y, oof),
            "total_energy_kwh": summary.get("total_energy_kwh"),
        }

    models = {
        "auto": {
            **ours(ensemble, auto.results["ensemble"].oof),
            "wall_seconds": auto_wall,
            "budget_s": parse_duration(budget),
            "energy_total_kwh": auto.metrics["energy"]["total_kwh"],
        },
        "auto_fallback_scorecard": ours(
            auto.metrics["models"]["scorecard"], auto.results["scorecard"].oof
        ),
        "scorecard": ours(singles.metrics["models"]["scorecard"], singles.results["scorecard"].oof),
        "tuned_lightgbm": ours(
            singles.metrics["models"]["lightgbm"], singles.results["lightgbm"].oof
        ),
        "bare_lightgbm": bare_lgbm,
        "bare_catboost": bare_cat,
    }
    members = {
        n: {
            "weight": m["weight"],
            "auc": m["auc"],
            "folds": m.get("folds"),
            "exact": m["exact_contributions"],
            "ece_scaled": m.get("ece_scaled"),
        }
        for n, m in section["members"].items()
    }
    best_member_auc = comparison.get("best_member_auc")
    checks = {
        "auc_target": ensemble["auc"] >= TARGETS[name],
        "within_budget": auto_wall <= parse_duration(budget),
        "ensemble_at_least_best_member": best_member_auc is None
        or ensemble["auc"] >= best_member_auc,
    }
    if name == "taiwan":
        # Pooled ECE of every model of ours, and of every member on the ensemble's scale.
        checks["ece_after_calibration"] = all(
            models[m]["ece_pooled"] <= MAX_ECE
            for m in ("auto", "auto_fallback_scorecard", "scorecard", "tuned_lightgbm")
        ) and all(m["ece_scaled"] is None or m["ece_scaled"] <= MAX_ECE for m in members.values())
    return {
        "rows": int(len(y)),
        "seed": seed,
        "models": models,
        "ensemble": {
            "method": section["method"],
            "fallback": section.get("fallback"),
            "fold_methods": section.get("fold_methods"),
            "fold_fallbacks": section.get("fold_fallbacks"),
            "members": members,
            "dropped": section["dropped"],
            "inexact_members": section["inexact_members"],
            "comparison": comparison,
            "plan": {
                k: section["plan"].get(k)
                for k in (
                    "members",
                    "trials",
                    "skipped",
                    "cut",
                    "estimates",
                    "planned_s",
                    "probe_s",
                )
            }
            if section.get("plan")
            else None,
        },
        "singles_wall_seconds": singles_wall,
        "target": TARGETS[name],
        "checks": checks,
        "load_average_1m": {"auto": auto_load, "singles": singles_load},
    }


def _verdict(checks: dict[str, bool]) -> str:
    if not checks:
        return "smoke run: not checked"
    failed = [k for k, v in checks.items() if not v]
    return "yes" if not failed else "NO: " + ", ".join(failed)


def markdown(results: dict[str, Any]) -> str:
    """The Markdown tables of a results document."""
    from greenscore.workflows.train_report import fewer_folds

    meta = results["meta"]
    lines = [
        "## greenscore train --models auto vs single models",
        "",
        f"Same stratified {FOLDS}-fold split per seed for every model (`StratifiedKFold("
        f"shuffle=True, random_state=seed)`, as `greenscore train --seed`); tuned LightGBM = "
        f"{meta['trials']} Optuna trials nested in each training fold. {meta['cpu_count']} CPUs, "
        f"load average {meta['load_average_1m_start']:.1f} at start, "
        f"{meta['load_average_1m_end']:.1f} at the end. Mean AUC ± std over folds; ECE after the "
        "bundle's calibration (bare models uncalibrated).",
        "",
        "| dataset | seed | auto | wall / budget (s) | best member | DeLong p | scorecard "
        "| tuned LightGBM | bare LightGBM | bare CatBoost | target | pass |",
        "|---|---:|---:|---:|---|---:|---:|---:|---:|---:|---:|---|",
    ]
    for key, r in results["runs"].items():
        name = key.rsplit(":", 1)[0]
        m = r["models"]
        c = r["ensemble"]["comparison"]

        def cell(model: str, m: dict[str, Any] = m) -> str:
            return f"{m[model]['auc']:.4f} ± {m[model]['auc_std']:.4f}"

        best = f"{c['best_member']} {c['best_member_auc']:.4f}" if c.get("best_member") else "(one)"
        lines.append(
            f"| {name} | {r['seed']} | {cell('auto')} "
            f"| {m['auto']['wall_seconds']:.0f} / {m['auto']['budget_s']:.0f} | {best} "
            f"| {c.get('delong_p', float('nan')):.3g} | {cell('scorecard')} "
            f"| {cell('tuned_lightgbm')} | {cell('bare_lightgbm')} | {cell('bare_catboost')} "
            f"| {r['target']} | {_verdict(r['checks'])} |"
        )
    lines += [
        "",
        "### ECE of every model, and the ensembles",
        "",
        "ECE = 10 equal-width bins on the pooled outer-fold PDs (each row scored once, by the "
        "model that did not train on it); in brackets the mean of the five per-fold ECEs, "
        "which on a 200-row fold is mostly binning noise. Members: weight / outer-fold AUC / "
        "pooled ECE of the member's Platt-scaled PDs (its scale in the ensemble).",
        "",
        "| dataset | seed | auto | auto's scorecard | scorecard | tuned LightGBM | bare LightGBM "
        "| bare CatBoost | combiner (per fold) | members (weight / AUC / ECE) "
        "| dropped / skipped / cut |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---|---|---|",
    ]
    for key, r in results["runs"].items():
        name = key.rsplit(":", 1)[0]
        m = r["models"]
        e = r["ensemble"]

        def ece_cell(model: str, m: dict[str, Any] = m) -> str:
            pooled = m[model].get("ece_pooled")
            head = f"{pooled:.4f}" if pooled is not None else "-"
            return f"{head} ({m[model]['ece']:.4f})"

        members = ", ".join(
            f"{n} {v['weight']:.2f} / {v['auc']:.4f}{fewer_folds(v.get('folds'), FOLDS)} / "
            + (f"{v['ece_scaled']:.4f}" if v.get("ece_scaled") is not None else "-")
            for n, v in e["members"].items()
            if v["auc"]
        )
        plan = e["plan"] or {}
        skipped = {**e["dropped"], **(plan.get("skipped") or {}), **(plan.get("cut") or {})}
        folds = ", ".join(str(x) for x in (e.get("fold_methods") or []))
        lines.append(
            f"| {name} | {r['seed']} | {ece_cell('auto')} "
            f"| {ece_cell('auto_fallback_scorecard')} | {ece_cell('scorecard')} "
            f"| {ece_cell('tuned_lightgbm')} | {ece_cell('bare_lightgbm')} "
            f"| {ece_cell('bare_catboost')} | {e['method']} ({folds}) | {members} "
            f"| {', '.join(skipped) or '-'} |"
        )
    lines += [
        "",
        "wall = the whole `train --models auto` job (probing, planning, every fold, the final "
        "fit, reason codes, report) on this machine as loaded as it was; DeLong p = the "
        "ensemble against its best member on pooled out-of-fold predictions of the same folds.",
        "",
    ]
    return "\n".join(lines)


def merge(folders: list[Path], out: Path) -> int:
    """One results document from runs made apart (say one process per seed): the runs
    side by side, each with its own load averages; meta from the first, with every part's."""
    parts = [json.loads((f / "auto.json").read_text("utf-8")) for f in folders]
    merged: dict[str, Any] = {"meta": dict(parts[0]["meta"]), "runs": {}}
    merged["meta"]["parts"] = [p["meta"] for p in parts]
    merged["meta"]["load_average_1m_start"] = max(p["meta"]["load_average_1m_start"] for p in parts)
    merged["meta"]["load_average_1m_end"] = max(p["meta"]["load_average_1m_end"] for p in parts)
    merged["meta"]["seeds"] = sorted({s for p in parts for s in p["meta"]["seeds"]})
    for part in parts:
        merged["runs"].update(part["runs"])
    out.mkdir(parents=True, exist_ok=True)
    (out / "auto.json").write_text(json.dumps(merged, indent=2, default=str), "utf-8")
    table = markdown(merged)
    (out / "auto.md").write_text(table, "utf-8")
    print(table)
    return 0 if all(all(r["checks"].values()) for r in merged["runs"].values()) else 1


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and write its JSON and Markdown results."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smoke run: German, seed 0, 3m")
    parser.add_argument("--datasets", default=",".join(DATASETS), help="comma list of datasets")
    parser.add_argument("--seeds", default="0", help="comma list of fold seeds (0 = anchors')")
    parser.add_argument("--time-budget", default=None, help="auto's budget (default per dataset)")
    parser.add_argument("--trials", type=int, default=None, help="tuned LightGBM's trials (30)")
    parser.add_argument("--n-jobs", type=int, default=None, help="threads (default: settings)")
    parser.add_argument("--out", type=Path, default=RESULTS, help="results folder")
    parser.add_argument(
        "--merge",
        type=Path,
        nargs="+",
        default=None,
        help="merge the auto.json of these results folders (runs made apart) into --out",
    )
    args = parser.parse_args(argv)
    if args.merge:
        return merge(args.merge, args.out)

    from greenscore.config import (
        Settings,
        TrackingSettings,
        TrainingSettings,
        get_settings,
        use_settings,
    )

    names = ["german"] if args.quick else [n.strip() for n in args.datasets.split(",") if n]
    unknown = [n for n in names if n not in DATASETS]
    if unknown:
        parser.error(f"unknown datasets {unknown}; choose from {', '.join(DATASETS)}")
    seeds = [0] if args.quick else [int(s) for s in args.seeds.split(",") if s.strip()]
    trials = args.trials if args.trials is not None else (5 if args.quick else 30)
    n_jobs = args.n_jobs if args.n_jobs is not None else get_settings().training.n_jobs
    started = time.time()
    results: dict[str, Any] = {
        "meta": {
            "benchmark": "auto",
            "quick": args.quick,
            "folds": FOLDS,
            "seeds": seeds,
            "trials": trials,
            "n_jobs": n_jobs,
            "cpu_count": os.cpu_count(),
            "python": platform.python_version(),
            "platform": platform.platform(),
            "load_average_1m_start": os.getloadavg()[0],
            "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            **_code_version(),
        },
        "runs": {},
    }
    with tempfile.TemporaryDirectory(prefix="gs-bench-auto-") as tmp:
        home = Path(tmp)
        use_settings(
            Settings(
                home=home,
                training=TrainingSettings(n_jobs=n_jobs),
                tracking=TrackingSettings(enabled=False),
            )
        )
        try:
            for name in names:
                budget = args.time_budget or ("3m" if args.quick else BUDGETS[name])
                for seed in seeds:
                    results["runs"][f"{name}:{seed}"] = bench_one(
                        name, seed=seed, budget=budget, trials=trials, n_jobs=n_jobs, home=home
                    )
        finally:
            use_settings(None)
    results["meta"]["total_seconds"] = time.time() - started
    results["meta"]["load_average_1m_end"] = os.getloadavg()[0]
    if args.quick:
        for run in results["runs"].values():
            run["checks"] = {}  # a smoke run: the targets are for the full budget
    args.out.mkdir(parents=True, exist_ok=True)
    stem = "auto_quick" if args.quick else "auto"
    (args.out / f"{stem}.json").write_text(json.dumps(results, indent=2, default=str), "utf-8")
    table = markdown(results)
    (args.out / f"{stem}.md").write_text(table, "utf-8")
    print(table)
    return 0 if all(all(r["checks"].values()) for r in results["runs"].values()) else 1


if __name__ == "__main__":
    sys.exit(main())
