"""Benchmark of the Dask engine (issue 19): batch scoring with reasons out of core, LightGBM
on Dask against one machine, and Optuna tuning by 2 workers on PostgreSQL against serial.

One run, on this machine:

* **data**: a synthetic portfolio of ``--rows`` applicants written as partitioned Parquet
  (``--chunk-rows`` a part) by :func:`greenscore.data.synthetic_parts.write_synthetic_parts`,
  chunks generated on 2 Dask workers; parts already written by an earlier run with the
  same seed are kept (the generator is resumable);
* **model**: a LightGBM bundle (feature pipeline + 100 trees, reason-code table) fitted on
  the first 10,000 applicants;
* **batch scoring with reasons** of every row with 2 local workers
  (:func:`greenscore.scale.batch.score_partitioned`), then of the first ``--one-worker-rows``
  rows with 1 worker: rows/s of each; the peak RSS of the client and of every worker
  process, sampled every 0.5 s with psutil;
* **distributed LightGBM**: on ``--lgbm-rows`` rows (through the fitted feature pipeline),
  :class:`greenscore.scale.lgbm.DaskLightGBMClassifier` on 2 workers against
  :class:`~greenscore.models.gbm.LightGBMCreditClassifier` in this process, same
  parameters (fixed 300 rounds), AUC on the next 50,000 rows, wall time of each fit;
* **parallel tuning**: ``--trials`` Optuna trials of the LightGBM search serially
  (:func:`greenscore.models.tuning.tune_lightgbm`, in this process) and by 2 workers
  sharing one study on PostgreSQL (:func:`greenscore.scale.tuning.tune_lightgbm_parallel`):
  trials per minute of each.

Results: ``benchmarks/results/scale.json`` and ``scale.md``, with the load average before
and after each part (the machine's 2 cores are shared). Exit 1 when a target is missed.

Run: ``.venv/bin/python benchmarks/scale.py [--rows 10000000] [--data DIR]``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import pandas as pd

os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
# Before any engine loads: the package sets OpenMP's spin count (see greenscore/__init__).
import greenscore  # noqa: E402,F401

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"
POSTGRES = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
TARGETS = {"rows": 10_000_000, "peak_rss_gib": 2.0, "auc_gap": 0.002}
GIB = 1024**3


def load() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def machine() -> dict[str, Any]:
    return {
        "cores": os.cpu_count(),
        "load_average": load(),
        "python": platform.python_version(),
        "platform": platform.platform(),
    }


class RssSampler:
    """Peak resident memory of this process and of the cluster's worker processes."""

    def __init__(self, client: Any) -> None:
        import psutil

        self.processes = {"client": psutil.Process()}
        for address, pid in client.run(os.getpid).items():
            self.processes[f"worker {address}"] = psutil.Process(pid)
        self.peak = dict.fromkeys(self.processes, 0)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            for name, process in self.processes.items():
                try:
                    self.peak[name] = max(self.peak[name], process.memory_info().rss)
                except Exception:  # noqa: BLE001 - a restarted worker's old pid
                    pass
            self._stop.wait(0.5)

    def __enter__(self) -> RssSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def gib(self) -> dict[str, float]:
        return {name: round(value / GIB, 3) for name, value in self.peak.items()}


def generate(data: Path, rows: int, chunk: int) -> dict[str, Any]:
    from greenscore.data.synthetic_parts import write_synthetic_parts
    from greenscore.scale.cluster import dask_client
    from greenscore.scale.generate import dask_mapper

    before, started = load(), time.perf_counter()
    with dask_client("local:2") as client:
        write_synthetic_parts(data, rows=rows, seed=7, chunk_rows=chunk, mapper=dask_mapper(client))
    return {
        "rows": rows,
        "seconds": round(time.perf_counter() - started, 1),
        "load": [before, load()],
    }


def model(data: Path, home: Path) -> tuple[Any, Any]:
    from sklearn.pipeline import Pipeline

    from greenscore.data.cleaning import clean_frame
    from greenscore.data.loading import encode_target, model_input
    from greenscore.data.presets import load_preset
    from greenscore.explain.reason_codes import attach_reason_codes
    from greenscore.features.pipeline import build_feature_pipeline
    from greenscore.models.bundle import ScoringBundle
    from greenscore.models.gbm import LightGBMCreditClassifier

    spec = load_preset("synthetic").model_copy(update={"relations": None})
    frame = clean_frame(pd.read_parquet(data / "applications" / "part-00000.parquet"), spec)
    frame = frame.head(10_000)
    X, y = model_input(frame, spec), encode_target(frame[spec.target], spec)  # noqa: N806
    pipe = Pipeline(
        [
            ("features", build_feature_pipeline(spec)),
            ("model", LightGBMCreditClassifier(n_estimators=100, early_stopping_rounds=None)),
        ]
    )
    pipe.fit(X, y)
    bundle = ScoringBundle(name="lightgbm", spec=spec, pipeline=pipe)
    attach_reason_codes(bundle, X, y)
    return ScoringBundle.load(bundle.save(home / "model")), spec


def score(bundle: Any, source: Path, out: Path, workers: int) -> dict[str, Any]:
    from greenscore.scale.batch import score_partitioned
    from greenscore.scale.cluster import dask_client

    before = load()
    with dask_client(f"local:{workers}") as client, RssSampler(client) as rss:
        summary = score_partitioned(client, bundle, source, out, force=True)
    written = sum(len(pd.read_parquet(p, columns=["row"])) for p in out.glob("part-*.parquet"))
    return {
        "workers": workers,
        "rows": summary.rows,
        "rows_written": written,
        "partitions": summary.partitions,
        "seconds": round(summary.seconds, 1),
        "rows_per_s": round(summary.rows / summary.seconds, 1),
        "peak_rss_gib": rss.gib(),
        "load": [before, load()],
    }


def subset(data: Path, rows: int, home: Path, chunk: int) -> Path:
    """A folder linking the first parts holding ``rows`` applicants."""
    folder = home / f"first-{rows}"
    folder.mkdir(exist_ok=True)
    parts = sorted((data / "applications").glob("part-*.parquet"))[: max(1, rows // chunk)]
    for part in parts:
        link = folder / part.name
        if not link.exists():
            link.symlink_to(part)
    return folder


def lightgbm(bundle: Any, data: Path, rows: int, chunk: int) -> dict[str, Any]:
    from greenscore.data.cleaning import clean_frame
    from greenscore.data.loading import encode_target, model_input
    from greenscore.evaluation.metrics import credit_metrics
    from greenscore.models.gbm import LightGBMCreditClassifier
    from greenscore.scale.cluster import dask_client
    from greenscore.scale.lgbm import DaskLightGBMClassifier

    spec = bundle.spec
    parts = sorted((data / "applications").glob("part-*.parquet"))
    need = (rows + 50_000) // chunk + 1
    frame = clean_frame(pd.concat([pd.read_parquet(p) for p in parts[:need]]), spec)
    frame = frame.reset_index(drop=True)
    train, test = frame.iloc[:rows], frame.iloc[rows : rows + 50_000]
    features = bundle.features
    X, y = features.transform(model_input(train, spec)), encode_target(train[spec.target], spec)  # noqa: N806
    Xt = features.transform(model_input(test, spec))  # noqa: N806
    yt = encode_target(test[spec.target], spec)
    params = {"n_estimators": 300, "early_stopping_rounds": None}
    before = load()
    started = time.perf_counter()
    alone = LightGBMCreditClassifier(**params).fit(X, y)
    alone_s = time.perf_counter() - started
    with dask_client("local:2"):
        started = time.perf_counter()
        cluster = DaskLightGBMClassifier(**params).fit(X, y)
        cluster_s = time.perf_counter() - started
    auc_alone = credit_metrics(yt, alone.predict_proba(Xt)[:, 1])["auc"]
    auc_cluster = credit_metrics(yt, cluster.predict_proba(Xt)[:, 1])["auc"]
    return {
        "train_rows": len(X),
        "test_rows": len(Xt),
        "rounds": 300,
        "auc_single_machine": round(float(auc_alone), 5),
        "auc_dask_2_workers": round(float(auc_cluster), 5),
        "auc_gap": round(abs(float(auc_cluster) - float(auc_alone)), 5),
        "seconds_single_machine": round(alone_s, 1),
        "seconds_dask_2_workers": round(cluster_s, 1),
        "load": [before, load()],
    }


def tuning(bundle: Any, data: Path, trials: int) -> dict[str, Any]:
    from greenscore.data.cleaning import clean_frame
    from greenscore.data.loading import encode_target, model_input
    from greenscore.models.tuning import tune_lightgbm
    from greenscore.scale.cluster import dask_client
    from greenscore.scale.tuning import tune_lightgbm_parallel

    spec = bundle.spec
    frame = clean_frame(pd.read_parquet(data / "applications" / "part-00001.parquet"), spec)
    frame = frame.head(10_000)
    X = bundle.features.transform(model_input(frame, spec))  # noqa: N806
    y = encode_target(frame[spec.target], spec)
    base = {"n_estimators": 300}
    before = load()
    started = time.perf_counter()
    _, serial = tune_lightgbm(X, y, n_trials=trials, seed=1, base_params=base)
    serial_s = time.perf_counter() - started
    with dask_client("local:2") as client:
        started = time.perf_counter()
        _, shared = tune_lightgbm_parallel(
            client, X, y, n_trials=trials, storage=POSTGRES, seed=1, base_params=base
        )
        parallel_s = time.perf_counter() - started
    import optuna

    shared_trials = len(shared.trials)  # read before the study is deleted
    shared_best = float(shared.best_value)
    optuna.delete_study(study_name=shared.study_name, storage=POSTGRES)
    return {
        "rows": len(X),
        "trials": trials,
        "serial_trials_per_min": round(len(serial.trials) / serial_s * 60, 2),
        "parallel_2_workers_trials_per_min": round(shared_trials / parallel_s * 60, 2),
        "speedup": round(serial_s / parallel_s, 2),
        "serial_best_auc": round(float(serial.best_value), 5),
        "parallel_best_auc": round(shared_best, 5),
        "storage": "PostgreSQL 127.0.0.1:5432/test",
        "load": [before, load()],
    }


def markdown(result: dict[str, Any]) -> str:
    lines = [
        "# Scale-out on Dask (issue 19)",
        "",
        f"Machine: {result['machine']['cores']} cores; 1-minute, 5-minute and 15-minute "
        f"load averages at start {result['machine']['load_average']}, at end "
        f"{result.get('load_end')}.",
        "",
        result.get("note", ""),
        "",
    ]
    if "scoring_2_workers" in result:
        lines += [
            f"## Batch scoring with reasons (partitioned Parquet, {result['chunk_rows']:,} "
            "rows a part)",
            "",
            "| workers | rows | seconds | rows/s | peak RSS GiB (client, workers) "
            "| load before / after |",
            "| --- | --- | --- | --- | --- | --- |",
        ]
        for key in ("scoring_2_workers", "scoring_1_worker"):
            run = result.get(key)
            if run is None:
                continue
            rss = ", ".join(f"{v:.2f}" for v in run["peak_rss_gib"].values())
            lines.append(
                f"| {run['workers']} | {run['rows']:,} | {run['seconds']} "
                f"| {run['rows_per_s']:,} | {rss} | {run['load'][0]} / {run['load'][1]} |"
            )
        if "scaling_2_vs_1" in result:
            lines += ["", f"Rows/s, 2 workers / 1 worker: {result['scaling_2_vs_1']}x."]
        lines.append("")
    lg = result.get("lightgbm")
    if lg:
        lines += [
            "## LightGBM on Dask against one machine (same rows, same parameters, 300 rounds)",
            "",
            "| fit | train rows | AUC on the next 50,000 | seconds |",
            "| --- | --- | --- | --- |",
            f"| single machine | {lg['train_rows']:,} | {lg['auc_single_machine']} "
            f"| {lg['seconds_single_machine']} |",
            f"| lightgbm.dask, 2 workers | {lg['train_rows']:,} | {lg['auc_dask_2_workers']} "
            f"| {lg['seconds_dask_2_workers']} |",
            "",
            f"AUC gap {lg['auc_gap']} (target <= {TARGETS['auc_gap']}); load "
            f"{lg['load'][0]} / {lg['load'][1]}.",
            "",
        ]
    tu = result.get("tuning")
    if tu:
        lines += [
            "## Optuna tuning, serial against 2 workers sharing a PostgreSQL study",
            "",
            "| search | trials | trials/min | best AUC |",
            "| --- | --- | --- | --- |",
            f"| serial (in process) | {tu['trials']} | {tu['serial_trials_per_min']} "
            f"| {tu['serial_best_auc']} |",
            f"| 2 Dask workers, PostgreSQL storage | {tu['trials']} "
            f"| {tu['parallel_2_workers_trials_per_min']} | {tu['parallel_best_auc']} |",
            "",
            f"Speed-up {tu['speedup']}x on {tu['rows']:,} rows; load {tu['load'][0]} / "
            f"{tu['load'][1]}.",
            "",
        ]
    return "\n".join(lines)


def checks(result: dict[str, Any]) -> dict[str, bool]:
    """The issue's targets met by the sections that ran."""
    out: dict[str, bool] = {}
    s2 = result.get("scoring_2_workers")
    if s2:
        out["rows_at_least_10m"] = s2["rows"] >= TARGETS["rows"]
        out["every_row_written_once"] = s2["rows_written"] == s2["rows"]
        out["peak_rss_under_2_gib"] = max(s2["peak_rss_gib"].values()) < TARGETS["peak_rss_gib"]
    if result.get("lightgbm"):
        out["auc_within_0_002"] = result["lightgbm"]["auc_gap"] <= TARGETS["auc_gap"]
    return out


def finish(result: dict[str, Any], name: str) -> int:
    """Write results/NAME.json and .md; 1 when a target is missed."""
    result["load_end"] = load()
    result["checks"] = checks(result)
    missed = [k for k, ok in result["checks"].items() if not ok]
    rows = result.get("scoring_2_workers", {}).get("rows", 0)
    result["note"] = (
        "Every target met."
        if not missed
        else "Missed: " + ", ".join(missed) + f" (rows scored with 2 workers: {rows:,})."
    )
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"{name}.json").write_text(json.dumps(result, indent=2), "utf-8")
    (RESULTS / f"{name}.md").write_text(markdown(result), "utf-8")
    print(markdown(result))
    return 1 if missed else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=TARGETS["rows"])
    parser.add_argument("--one-worker-rows", type=int, default=1_000_000)
    parser.add_argument("--lgbm-rows", type=int, default=200_000)
    parser.add_argument("--trials", type=int, default=8)
    parser.add_argument("--chunk-rows", type=int, default=100_000, help="Rows a part.")
    parser.add_argument("--data", type=Path, default=None, help="Portfolio folder (kept).")
    parser.add_argument("--name", default="scale")
    parser.add_argument(
        "--only", default="scoring,lightgbm,tuning", help="Sections to run (comma list)."
    )
    args = parser.parse_args(argv)
    only = set(args.only.split(","))
    home = Path(tempfile.mkdtemp(prefix="gs-scale-bench-"))
    data = args.data or home / "portfolio"
    result: dict[str, Any] = {
        "machine": machine(),
        "rows_asked": args.rows,
        "chunk_rows": args.chunk_rows,
        "sections": sorted(only),
    }
    try:
        result["generate"] = generate(data, args.rows, args.chunk_rows)
        print("generated", result["generate"], flush=True)
        bundle, _ = model(data, home)
        if "scoring" in only:
            # The first --rows applicants (a portfolio folder may hold more parts).
            source = subset(data, args.rows, home, args.chunk_rows)
            result["scoring_2_workers"] = score(bundle, source, home / "scores-2", 2)
            print("scored with 2 workers", result["scoring_2_workers"], flush=True)
            one = subset(data, args.one_worker_rows, home, args.chunk_rows)
            result["scoring_1_worker"] = score(bundle, one, home / "scores-1", 1)
            print("scored with 1 worker", result["scoring_1_worker"], flush=True)
            result["scaling_2_vs_1"] = round(
                result["scoring_2_workers"]["rows_per_s"]
                / result["scoring_1_worker"]["rows_per_s"],
                2,
            )
        if "lightgbm" in only:
            result["lightgbm"] = lightgbm(bundle, data, args.lgbm_rows, args.chunk_rows)
            print("lightgbm", result["lightgbm"], flush=True)
        if "tuning" in only:
            result["tuning"] = tuning(bundle, data, args.trials)
            print("tuning", result["tuning"], flush=True)
    finally:
        shutil.rmtree(home / "scores-2", ignore_errors=True)
        shutil.rmtree(home / "scores-1", ignore_errors=True)
    return finish(result, args.name)


if __name__ == "__main__":
    raise SystemExit(main())
