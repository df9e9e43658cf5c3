"""Benchmark: a calibrated LightGBM below 10,000 rows, on its own CV scores vs inner folds.

Below ``cv_below`` rows :class:`~greenscore.models.gbm.LightGBMCreditClassifier` picks its
round count by an internal k-fold ``lightgbm.cv`` and keeps those folds' out-of-fold
scores; the bundle's calibration step fits its map on them, so the calibrated model is one
fit. Before, the calibration step fitted the booster again on its own inner folds and once
more on all rows: six fits. This times both paths side by side on generated applications
(``greenscore generate``'s data, the synthetic preset's features): a 5-fold outer CV of
``CalibratedClassifier(LightGBMCreditClassifier())``, each outer fold fitted both ways in
turn so load drift hits both alike, and reports the fit time per fold and the pooled
held-out AUC, Brier and ECE of each. The speed-up is reported, not asserted; the run fails
if the new path's held-out Brier is worse by more than 0.002.

Run: ``.venv/bin/python benchmarks/small_data_calibration.py [--rows 4000] [--folds 5]``;
results go to ``results/small_data_calibration.{md,json}``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
os.environ.setdefault("DO_NOT_TRACK", "true")
import greenscore  # noqa: E402,F401
from greenscore.models.gbm import LightGBMCreditClassifier  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"
PATHS = ("inner folds", "own CV scores")


class InnerFoldsLightGBM(LightGBMCreditClassifier):
    """The booster as it was before: no out-of-fold scores of its own, so the calibration
    step fits it on inner folds and again on all rows."""

    def fit(self, *args: Any, **kwargs: Any) -> InnerFoldsLightGBM:
        super().fit(*args, **kwargs)
        if hasattr(self, "oof_log_odds_"):
            del self.oof_log_odds_
        return self


def main(argv: list[str] | None = None) -> int:
    """Fit both paths on every outer fold, in turn; write the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=4000)
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)

    from sklearn.metrics import brier_score_loss, roc_auc_score
    from sklearn.model_selection import StratifiedKFold

    from greenscore.data.loading import model_input
    from greenscore.data.presets import load_preset
    from greenscore.data.synthetic import generate
    from greenscore.evaluation.metrics import ece
    from greenscore.features.pipeline import build_feature_pipeline
    from greenscore.models.calibration import CalibratedClassifier

    load = [os.getloadavg()[0]]
    spec = load_preset("synthetic")
    data = generate(args.rows, seed=args.seed)
    frame = data.applications
    y = frame[spec.target].to_numpy().astype(int)
    X = model_input(frame, spec)  # noqa: N806 - indexed by applicant id, as train reads it
    models = {
        "inner folds": InnerFoldsLightGBM(n_jobs=1),
        "own CV scores": LightGBMCreditClassifier(n_jobs=1),
    }
    pooled = {k: np.empty(len(y)) for k in PATHS}
    seconds: dict[str, list[float]] = {k: [] for k in PATHS}
    folds = StratifiedKFold(args.folds, shuffle=True, random_state=0)
    for k, (train, valid) in enumerate(folds.split(np.zeros(len(y)), y)):
        # The features are fitted once per fold (the same for both paths); only the model
        # step is timed.
        features = build_feature_pipeline(spec, relations=data.relations)
        train_x = features.fit_transform(X.iloc[train], y[train])
        valid_x = features.transform(X.iloc[valid])
        for path in PATHS if k % 2 == 0 else PATHS[::-1]:
            started = time.perf_counter()
            model = CalibratedClassifier(models[path], random_state=0).fit(train_x, y[train])
            seconds[path].append(time.perf_counter() - started)
            pooled[path][valid] = model.predict_proba(valid_x)[:, 1]
        load.append(os.getloadavg()[0])
        print(f"fold {k + 1}: " + ", ".join(f"{p} {seconds[p][-1]:.1f} s" for p in PATHS))

    figures = {
        path: {
            "fit_seconds_median": statistics.median(seconds[path]),
            "fit_seconds": seconds[path],
            "auc": float(roc_auc_score(y, pooled[path])),
            "brier": float(brier_score_loss(y, pooled[path])),
            "ece": float(ece(y, pooled[path])),
        }
        for path in PATHS
    }
    speedup = (
        figures["inner folds"]["fit_seconds_median"]
        / figures["own CV scores"]["fit_seconds_median"]
    )
    passed = figures["own CV scores"]["brier"] <= figures["inner folds"]["brier"] + 0.002
    result = {
        "rows": args.rows,
        "folds": args.folds,
        "seed": args.seed,
        "figures": figures,
        "speedup": speedup,
        "load_average": load,
        "machine": {"cpu": platform.processor() or platform.machine(), "cpus": os.cpu_count()},
        "passed": passed,
    }
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "small_data_calibration.json").write_text(
        json.dumps(result, indent=2) + "\n", "utf-8"
    )
    table = [
        "## A calibrated LightGBM on a small file: its own CV scores vs inner folds",
        "",
        f"{args.rows:,} generated applications (seed {args.seed}, synthetic preset's "
        f"features), {args.folds}-fold outer CV; each outer fold fitted both ways in turn "
        f"(alternating which goes first). Fit = the calibrated model step only. Load "
        f"average {load[0]:.1f} at start, {load[-1]:.1f} at the end, {os.cpu_count()} CPUs.",
        "",
        "| calibration fitted on | fit per fold (s, median) | held-out AUC | Brier | ECE |",
        "|---|---:|---:|---:|---:|",
        *(
            f"| {p} | {figures[p]['fit_seconds_median']:.1f} | {figures[p]['auc']:.4f} | "
            f"{figures[p]['brier']:.4f} | {figures[p]['ece']:.4f} |"
            for p in PATHS
        ),
        "",
        f"Speed-up {speedup:.1f}x per calibrated fit ({'pass' if passed else 'FAIL'}: the "
        "own-scores path's held-out Brier must be within 0.002 of the inner folds').",
        "",
    ]
    (args.out / "small_data_calibration.md").write_text("\n".join(table), "utf-8")
    print("\n".join(table))
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(main())
