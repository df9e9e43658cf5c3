"""Benchmark: a served WoE scorecard, its NumPy WoE lookup against optbinning's coding.

The scorecard is trained by ``greenscore train --models scorecard`` on a public file
(German credit by default) and served the way ``greenscore serve`` serves it
(:class:`~greenscore.serving.served_model.ServedModel`, reason codes included). The same
bundle is then timed twice, side by side in one process, rounds interleaved so that load
drift hits both alike: as trained (WoE by :mod:`greenscore.models.scorecard_lookup`) and
with the lookup switched off (optbinning's pandas coding, the path before it). Measured: a
single-applicant call with reasons, and the PDs of 1,000 rows. Both must give the same PDs
(the benchmark fails otherwise); the speed-up is reported, not asserted.

Run: ``.venv/bin/python benchmarks/scorecard_scoring.py [--dataset german] [--rounds 5]``;
results go to ``results/scorecard_scoring.{md,json}``.
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
os.environ.setdefault("DO_NOT_TRACK", "true")
import greenscore  # noqa: E402,F401

sys.path.insert(0, str(Path(__file__).resolve().parent))
from train import DATASETS  # noqa: E402

DATA_DIR = Path(__file__).resolve().parents[1].parent / "shared" / "data"
RESULTS = Path(__file__).resolve().parent / "results"


def _per_call_ms(fn: Any, calls: int) -> float:
    fn()
    started = time.perf_counter()
    for _ in range(calls):
        fn()
    return (time.perf_counter() - started) / calls * 1000.0


def main(argv: list[str] | None = None) -> int:
    """Train a scorecard, time both codings side by side, write the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="german", choices=sorted(DATASETS))
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)

    from greenscore.config import Settings, TrackingSettings, use_settings
    from greenscore.models.runtime.probes import probe_rows
    from greenscore.serving.served_model import ServedModel
    from greenscore.workflows.train import train
    from greenscore.workflows.train_plan import plan_training

    load = [os.getloadavg()[0]]
    with tempfile.TemporaryDirectory(prefix="gs-bench-scorecard-") as tmp:
        use_settings(Settings(home=Path(tmp), tracking=TrackingSettings(enabled=False)))
        try:
            dataset, options, _ = plan_training(
                DATA_DIR / DATASETS[args.dataset],
                preset=args.dataset,
                models="scorecard",
                tune_trials=0,
                out=Path(tmp) / "run",
                seed=0,
            )
            bundle = train(dataset, options).results["scorecard"].bundle
            assert bundle.estimator.woe_lookup_ is not None, "the lookup did not hold"
            before = copy.deepcopy(bundle)
            before.estimator.woe_lookup_ = None  # optbinning's coding, as before the lookup
            served = {
                "lookup": ServedModel(bundle, uri="lookup", max_reasons=4),
                "optbinning": ServedModel(before, uri="optbinning", max_reasons=4),
            }
            rows, ids = probe_rows(bundle, n=8)
            frame = dataset.frame.head(1000)
            pds = {k: m.bundle.predict_pd(frame) for k, m in served.items()}
            max_diff = float(np.max(np.abs(pds["lookup"] - pds["optbinning"])))
            single: dict[str, list[float]] = {k: [] for k in served}
            batch: dict[str, list[float]] = {k: [] for k in served}
            for _ in range(args.rounds):
                for key, model in served.items():
                    single[key].append(
                        _per_call_ms(lambda m=model: m.score(rows[:1], ids[:1], explain=[True]), 30)
                    )
                    batch[key].append(_per_call_ms(lambda m=model: m.bundle.predict_pd(frame), 3))
            load.append(os.getloadavg()[0])
        finally:
            use_settings(None)

    med = {
        k: {"single_ms": statistics.median(single[k]), "batch_1000_ms": statistics.median(batch[k])}
        for k in served
    }
    result = {
        "dataset": args.dataset,
        "characteristics": len(bundle.estimator.selected_),
        "rounds": args.rounds,
        "median": med,
        "single_speedup": med["optbinning"]["single_ms"] / med["lookup"]["single_ms"],
        "batch_speedup": med["optbinning"]["batch_1000_ms"] / med["lookup"]["batch_1000_ms"],
        "max_pd_difference": max_diff,
        "rounds_ms": {"single": single, "batch_1000": batch},
        "load_average": load,
        "machine": {"cpu": platform.processor() or platform.machine(), "cpus": os.cpu_count()},
        "passed": max_diff <= 1e-12,
    }
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "scorecard_scoring.json").write_text(json.dumps(result, indent=2) + "\n", "utf-8")
    table = [
        "## Serving a WoE scorecard: NumPy lookup vs optbinning's coding",
        "",
        f"`greenscore train --models scorecard` on {args.dataset} "
        f"({result['characteristics']} characteristics); the same bundle served both ways in one "
        f"process, {args.rounds} interleaved rounds, medians. Load average {load[0]:.1f} at "
        f"start, {load[-1]:.1f} at the end, {os.cpu_count()} CPUs.",
        "",
        "| path | one applicant with reasons (ms) | PDs of 1,000 rows (ms) |",
        "|---|---:|---:|",
        *(
            f"| {k} | {med[k]['single_ms']:.2f} | {med[k]['batch_1000_ms']:.1f} |"
            for k in ("optbinning", "lookup")
        ),
        "",
        f"Speed-up: {result['single_speedup']:.1f}x per single call, "
        f"{result['batch_speedup']:.1f}x on 1,000 rows; largest PD difference "
        f"{max_diff:.1e} ({'pass' if result['passed'] else 'FAIL'}: must be <= 1e-12).",
        "",
    ]
    (args.out / "scorecard_scoring.md").write_text("\n".join(table), "utf-8")
    print("\n".join(table))
    return 0 if result["passed"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
