"""Benchmark of the scoring service: latency and throughput over HTTP, and batch scoring.

One run, on loopback, with bounded load from ``wrk`` (closed loop: a fixed number of
connections, each sending its next request when the last one is answered):

* ``/v1/score`` of the real service (``greenscore serve``): LightGBM as ``greenscore
  train`` makes it (one booster refitted on all rows after its inner folds, and the
  calibration map fitted on their out-of-fold log-odds; ``--model booster`` for one
  bare booster), API-key auth, rate limiting, input checks, reason codes for review
  and decline decisions, a hash-chained audit event and a prediction row per decision
  (written behind, committed before the answer), answer cache off;
* the same service with ``serving.reasons = "all"``;
* beside them, same machine, same client: (a) a trivial FastAPI endpoint returning a
  constant (the HTTP ceiling here) and (b) a naive endpoint that builds a one-row pandas
  DataFrame and calls the pipeline's ``predict_proba`` (what most tutorials ship);
* the service and the naive endpoint again with one worker process each (per-worker ratio);
* for each, p50/p99 latency at 1 connection and requests/s at 10 connections (phases
  alternate between the servers over 3 rounds; the median round is reported), plus the
  servers' CPU time per request (from ``/proc``, all worker processes).

The request bodies are 500 distinct applicants the model refers or declines, so every
answer carries 4 reason codes. Then, in this process with one LightGBM thread each, batch
rows/s on the same rows: the runtime's exact contributions (checked equal to LightGBM's
``pred_contrib`` to 1e-9 on every row) and the service's batch scoring with top-4 reasons
for every row, beside LightGBM's bare ``predict`` and its ``pred_contrib``. Last, a cProfile
of single requests through the app in process says where a decision's time goes.

Results go to ``benchmarks/results/serve.json`` and ``serve.md``; the exit status is 1 when
a target of issue 12 is missed (the note says which, by how much, and the machine's load).

Run: ``.venv/bin/python benchmarks/serve.py [--quick] [--model booster]``; ``--quick`` is a
smoke run (small model, 3-second phases, one round) written to ``serve_quick.json``;
``--model booster`` writes ``serve_booster.json``; ``--only batch`` runs the batch figures
alone (no servers, no wrk) into ``serve_batch.json``. A full run takes about 8 minutes on 2
quiet cores (6 servers, 3 rounds of 5-second phases at 1 and 10 connections each).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
os.environ.setdefault("DO_NOT_TRACK", "true")

ROOT = Path(__file__).resolve().parents[1]
HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"
#: Issue 12's acceptance: 2 workers per server unless named otherwise.
TARGETS = {
    "requests_per_s_10_connections": 800.0,
    "ratio_to_naive_10_connections": 8.0,
    # The same ratio per core each server obtained (naive's CPU per request over ours): the
    # servers' workers share one listening socket, and when one naive worker takes most of
    # wrk's connections the raw ratio flatters GreenScore; both must hold.
    "ratio_to_naive_10_connections_per_core": 8.0,
    "p99_ms_1_connection": 5.0,
    "requests_per_s_10_connections_reasons_all": 500.0,
    "ratio_to_naive_10_connections_one_worker": 6.0,
    "batch_every_row_ratio_to_pred_contrib": 5.0,
}
#: Exact contributions must equal LightGBM's pred_contrib to this.
EXACT_TOLERANCE = 1e-9
NO_WRK = (
    "wrk is not installed: this benchmark drives the servers with wrk so that the client "
    "does not compete with them for the CPU. Install it with 'apt-get install -y wrk' "
    "(Debian/Ubuntu) and run again."
)
_TICKS = os.sysconf("SC_CLK_TCK")
_LUA_DONE = r"""
done = function(summary, latency, requests)
  io.write(string.format(
    "RESULT {\"p50_us\": %d, \"p90_us\": %d, \"p99_us\": %d, \"requests\": %d, "
    .. "\"duration_us\": %d, \"non_2xx\": %d, \"socket_errors\": %d}\n",
    latency:percentile(50), latency:percentile(90), latency:percentile(99), summary.requests,
    summary.duration, summary.errors.status,
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout))
end
"""


# ---------------------------------------------------------------------- machine context
def machine() -> dict[str, Any]:
    """What the numbers were measured on, and how busy it was."""
    started = time.perf_counter()
    sum(range(10_000_000))
    calibration = time.perf_counter() - started
    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        platform.processor(),
    )
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "load_average": list(os.getloadavg()),
        "python_sum_1e7_ms": round(calibration * 1000, 1),
        "python": platform.python_version(),
        "platform": platform.platform(),
    }


# ---------------------------------------------------------------------- model and data
def build_model(home: Path, quick: bool, kind: str = "calibrated") -> tuple[Any, Any, Path]:
    """Fit the LightGBM bundle: ``calibrated``, as ``greenscore train`` makes it (a
    calibrated booster refitted on all rows), or ``booster``, one bare booster."""
    from greenscore.data.loading import Dataset
    from greenscore.data.presets import load_preset
    from greenscore.data.synthetic import generate
    from greenscore.explain.reason_codes import attach_reason_codes

    rows = 3000 if quick else 12_000
    data = generate(rows, seed=7)
    ds = Dataset(
        frame=data.applications,
        spec=load_preset("synthetic"),
        location="synthetic",
        sha256="benchmark",
        relations=data.relations,
    )
    # LightGBM with 100 trees (quick) or 160 (the reference model), fitted
    # directly rather than through the train job (no tuning, report or MLflow run): the
    # same model step, so the same runtime path.
    from sklearn.pipeline import Pipeline

    from greenscore.features.pipeline import build_feature_pipeline
    from greenscore.models.bundle import ScoringBundle
    from greenscore.models.calibration import CalibratedClassifier
    from greenscore.models.gbm import LightGBMCreditClassifier

    estimator: Any = LightGBMCreditClassifier(
        n_estimators=100 if quick else 160, early_stopping_rounds=None
    )
    if kind == "calibrated":
        # As workflows.train builds it: calibrated on inner folds, scored by the refit.
        estimator = CalibratedClassifier(estimator, random_state=0)
    pipe = Pipeline(
        [
            ("features", build_feature_pipeline(ds.spec, relations=ds.relations)),
            ("model", estimator),
        ]
    )
    pipe.fit(ds.X, ds.y)
    bundle = ScoringBundle(name="lightgbm", spec=ds.spec, pipeline=pipe)
    p = pipe.predict_proba(ds.X)[:, 1]
    bundle.metadata.training_pd = np.quantile(p, np.linspace(0, 1, 101)).tolist()
    # The reason-code table with training medians, so sentences say high or low.
    attach_reason_codes(bundle, reference=ds.X.head(2000))
    folder = bundle.save(home / "model")
    return ds, bundle, folder


def adverse_bodies(ds: Any, bundle: Any, n: int = 500) -> list[dict[str, Any]]:
    """``n`` distinct applicants the model refers or declines, as JSON-ready dicts."""
    pd_ = bundle.predict_pd(ds.X)
    adverse = np.flatnonzero(bundle.decisions(pd_) != "approve")[:n]
    columns = [*ds.spec.feature_columns(list(ds.frame.columns)), ds.spec.id_column]
    frame = ds.frame.iloc[adverse][columns]
    frame = frame.astype(object).where(frame.notna(), None)
    return [
        {k: (v.item() if isinstance(v, np.generic) else v) for k, v in r.items()}
        for r in frame.to_dict("records")
    ]


# ---------------------------------------------------------------------- servers and load
def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """A server subprocess, its readiness and its CPU time."""

    def __init__(self, cmd: list[str], env: dict[str, str], port: int, ready: str) -> None:
        self.port = port
        self.log = tempfile.NamedTemporaryFile(prefix="serve-bench-", suffix=".log", delete=False)
        self.proc = subprocess.Popen(cmd, env=env, stdout=self.log, stderr=self.log, cwd=ROOT)
        self.url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 600  # a shared, loaded machine starts slowly
        import httpx

        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited: {Path(self.log.name).read_text()[-3000:]}")
            try:
                if ready == "post" or httpx.get(self.url + ready, timeout=1).status_code == 200:
                    if ready != "post":
                        return
                    httpx.post(self.url + "/v1/score", json={}, timeout=1)
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.25)
        raise RuntimeError("server did not start within 600 s")

    def cpu_seconds(self) -> float:
        """CPU time of the server and every process under it (uvicorn's workers)."""
        stats: dict[int, tuple[int, int]] = {}
        for entry in Path("/proc").iterdir():
            if entry.name.isdigit():
                try:
                    fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
                except OSError:
                    continue
                stats[int(entry.name)] = (int(fields[1]), int(fields[11]) + int(fields[12]))
        tree, frontier = {self.proc.pid}, [self.proc.pid]
        while frontier:
            parent = frontier.pop()
            for pid, (ppid, _) in stats.items():
                if ppid == parent and pid not in tree:
                    tree.add(pid)
                    frontier.append(pid)
        return sum(stats[pid][1] for pid in tree if pid in stats) / _TICKS

    def stop(self) -> None:
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def lua_script(path: Path, bodies: list[dict[str, Any]], key: str) -> Path:
    """A wrk script cycling through the bodies, with the API key, reporting JSON."""
    lines = ["bodies = {"]
    lines += ["[==[" + json.dumps(b) + "]==]," for b in bodies]
    lines += [
        "}",
        "i = 0",
        'wrk.method = "POST"',
        'wrk.headers["Content-Type"] = "application/json"',
        f'wrk.headers["X-API-Key"] = "{key}"',
        "request = function() i = i % #bodies + 1; return wrk.format(nil, nil, nil, bodies[i]) end",
        _LUA_DONE,
    ]
    path.write_text("\n".join(lines), "utf-8")
    return path


def wrk(server: Server, script: Path, connections: int, seconds: float) -> dict[str, Any]:
    """One closed-loop load phase; latency in ms, rates per second, server CPU per request."""
    cpu = server.cpu_seconds()
    out = subprocess.run(
        [
            "wrk",
            "-t1",
            f"-c{connections}",
            f"-d{seconds:g}s",
            "--timeout",
            "10s",
            "-s",
            str(script),
            f"{server.url}/v1/score",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    cpu = server.cpu_seconds() - cpu
    raw = json.loads(next(line for line in out.splitlines() if line.startswith("RESULT"))[7:])
    seconds_run = raw["duration_us"] / 1e6
    return {
        "connections": connections,
        "requests": raw["requests"],
        "requests_per_s": round(raw["requests"] / seconds_run, 1),
        "p50_ms": raw["p50_us"] / 1000,
        "p90_ms": raw["p90_us"] / 1000,
        "p99_ms": raw["p99_us"] / 1000,
        "errors": raw["non_2xx"] + raw["socket_errors"],
        "server_cpu_ms_per_request": round(cpu / max(raw["requests"], 1) * 1000, 3),
    }


def _median_round(phases: list[dict[str, Any]]) -> dict[str, Any]:
    """The phase with the median throughput, and every round's throughput beside it."""
    ranked = sorted(phases, key=lambda p: p["requests_per_s"])
    chosen = dict(ranked[len(ranked) // 2])
    chosen["requests_per_s_each_round"] = [p["requests_per_s"] for p in phases]
    chosen["errors"] = sum(p["errors"] for p in phases)
    return chosen


def serve_env(home: Path, extra: dict[str, str] | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GREENSCORE_")}
    env.update(
        {
            "GREENSCORE_HOME": str(home),
            "GREENSCORE_ENVIRONMENT": "test",
            "GREENSCORE_LOG_LEVEL": "WARNING",
            "GREENSCORE_SERVING__CACHE_SIZE": "0",
            "GREENSCORE_SERVING__ENERGY_CALIBRATION": "false",
            "GREENSCORE_SERVING__JOB_WORKER": "false",
            "GREENSCORE_SERVING__RATE_LIMIT_PER_MINUTE": "100000000",
            "GREENSCORE_SERVING__RATE_LIMIT_BURST": "1000000",
            "OMP_NUM_THREADS": "1",
            "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), str(HERE)]),
        }
    )
    env.update(extra or {})
    return env


def http_benchmarks(
    home: Path,
    folder: Path,
    bodies: list[dict[str, Any]],
    key: str,
    seconds: float,
    workers: int,
    rounds: int,
) -> dict[str, Any]:
    """The three servers, one after another, under the same client."""
    script = lua_script(home / "score.lua", bodies, key)
    uvicorn = [
        sys.executable,
        "-m",
        "uvicorn",
        "--host",
        "127.0.0.1",
        "--log-level",
        "warning",
        "--no-access-log",
        "--factory",
        "--app-dir",
        str(HERE),
    ]
    out: dict[str, Any] = {}
    greenscore = [sys.executable, "-m", "greenscore.cli", "serve", "--model", str(folder)]
    naive_env = {"GREENSCORE_BENCH_BUNDLE": str(folder)}
    plans = [
        ("greenscore", [*greenscore, "--workers", str(workers)], "/health/ready", {}),
        ("trivial", [*uvicorn, "--workers", str(workers), "_serve_apps:trivial_app"], "post", {}),
        (
            "naive",
            [*uvicorn, "--workers", str(workers), "_serve_apps:naive_app"],
            "post",
            naive_env,
        ),
        (
            "greenscore_reasons_all",
            [*greenscore, "--workers", str(workers)],
            "/health/ready",
            {"GREENSCORE_SERVING__REASONS": "all"},
        ),
    ]
    if workers > 1:  # the per-worker comparison: one process each
        plans += [
            ("greenscore_one_worker", [*greenscore, "--workers", "1"], "/health/ready", {}),
            ("naive_one_worker", [*uvicorn, "--workers", "1", "_serve_apps:naive_app"], "post",
             naive_env),
        ]  # fmt: skip
    servers: dict[str, Server] = {}
    try:
        # All three are up before any is measured, and the phases alternate between them
        # round by round: load from other work on a shared host then drifts over all three
        # alike instead of favouring whichever ran at a quiet moment.
        for name, cmd, ready, extra in plans:
            port = free_port()
            print(f"  {name}: starting", flush=True)
            servers[name] = Server([*cmd, "--port", str(port)], serve_env(home, extra), port, ready)
            wrk(servers[name], script, 2, min(3.0, seconds))  # warm-up, not recorded
        phases: dict[str, dict[str, list[dict[str, Any]]]] = {
            name: {"c1": [], "c10": []} for name in servers
        }
        for k in range(rounds):
            for connections, label in ((1, "c1"), (10, "c10")):
                for name, server in servers.items():
                    phases[name][label].append(wrk(server, script, connections, seconds))
            print(f"  round {k + 1}/{rounds} done", flush=True)
    finally:
        for server in servers.values():
            server.stop()
    for name in servers:
        out[name] = {label: _median_round(runs) for label, runs in phases[name].items()}
        c1, c10 = out[name]["c1"], out[name]["c10"]
        print(
            f"  {name}: 1 conn p50 {c1['p50_ms']:.2f} ms p99 {c1['p99_ms']:.2f} ms; "
            f"10 conn {c10['requests_per_s']:.0f} req/s, errors {c10['errors']}",
            flush=True,
        )
    return out


# ---------------------------------------------------------------------- batch
def _rate(fn: Any, rows: int, min_seconds: float) -> float:
    fn()
    calls, started = 0, time.perf_counter()
    while True:
        fn()
        calls += 1
        elapsed = time.perf_counter() - started
        if elapsed >= min_seconds:
            return rows * calls / elapsed


def batch_benchmarks(bundle: Any, ds: Any, rows: int, seconds: float) -> dict[str, Any]:
    """Rows/s of the service's batch scoring beside LightGBM's own predict and pred_contrib,
    one thread each, and the exact contributions checked against ``pred_contrib``."""
    import ctypes

    from lightgbm.basic import _LIB

    from greenscore.models.ensemble_contrib import contributions_of
    from greenscore.serving.served_model import ServedModel

    _LIB.LGBM_SetMaxThreads(ctypes.c_int(1))  # as the service runs it; same for all
    served = ServedModel(bundle, uri="benchmark", max_reasons=4)
    runtime = served.runtime
    records = ds.frame.iloc[:rows]
    columns = served.input_columns
    data = records[columns].astype(object).where(records[columns].notna(), None)
    payloads = data.to_dict("records")
    ids = records[bundle.spec.id_column].tolist()
    encoded = runtime.encode(payloads, ids)
    matrix = encoded.matrix
    assert runtime.trees is not None, f"the runtime did not compile the trees: {runtime.reason}"
    # Every booster of the model: one, or one per inner fold of a calibrated bag.
    boosters = runtime.trees.model.boosters
    # Exactness first: the runtime's contributions against the classifier's own (LightGBM's
    # pred_contrib; for the bag, their mean restated by the calibration), every row.
    values, base = runtime.contributions(encoded)
    reference = contributions_of(bundle.estimator, runtime.model_frame(encoded))
    gap = float(max(np.abs(values - reference.values).max(), np.abs(base - reference.base).max()))
    results = served.score(payloads, ids)
    with_reasons = sum(1 for r in results if r.reasons)
    every = [True] * rows
    rates = {
        "lightgbm_predict": _rate(
            lambda: [b.predict(matrix, num_threads=1) for b in boosters], rows, seconds
        ),
        "lightgbm_pred_contrib": _rate(
            lambda: [b.predict(matrix, pred_contrib=True, num_threads=1) for b in boosters],
            rows,
            seconds,
        ),
        "runtime_exact_contributions": _rate(lambda: runtime.contributions(encoded), rows, seconds),
        "greenscore_batch_reasons_where_owed": _rate(
            lambda: served.score(payloads, ids), rows, seconds
        ),
        "greenscore_batch_top4_reasons_every_row": _rate(
            lambda: served.score(payloads, ids, explain=every), rows, seconds
        ),
        "pipeline_predict_proba_dataframe": _rate(
            lambda: bundle.predict_pd(records[columns]), rows, seconds
        ),
    }
    return {
        "rows": rows,
        "rows_with_reasons": with_reasons,
        "model": runtime.trees.model.kind,
        "boosters": len(boosters),
        "trees": sum(b.num_trees() for b in boosters),
        "model_features": len(runtime.model_features),
        "rows_per_s": {k: round(v, 1) for k, v in rates.items()},
        "max_abs_difference_to_pred_contrib": gap,
        "ratio_every_row_to_pred_contrib": round(
            rates["greenscore_batch_top4_reasons_every_row"] / rates["lightgbm_pred_contrib"], 3
        ),
        "runtime_mode": runtime.mode,
        "contribution_terms": runtime.terms,
    }


async def _post(app: Any, path: str, body: bytes, headers: list[tuple[bytes, bytes]]) -> int:
    """One POST through the ASGI app, no client library: its status code."""
    received = [{"type": "http.request", "body": body, "more_body": False}]
    status = 0

    async def receive() -> dict[str, Any]:
        return received.pop() if received else {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = message["status"]

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [*headers, (b"content-length", str(len(body)).encode())],
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 8000),
    }
    await app(scope, receive, send)
    return status


def profile_decisions(folder: Path, bodies: list[dict[str, Any]], key: str) -> dict[str, Any]:
    """Where one decision's server time goes: the app in this thread (ASGI called directly:
    no network, no client library), one request at a time, under cProfile; the functions
    with the most own time. The event loop's wait in ``poll`` (for the writer thread's
    commit) is wall time, not work: it is reported apart, not ranked. (cProfile on the
    thread's CPU clock would leave it out by itself, but that clock is a system call on a
    VM and its cost, paid at every call, drowned the profile.)

    The audit and prediction rows commit on the service's writer thread, which cProfile
    does not see: its share is the gap between the process's CPU time per request and the
    profiled thread's.
    """
    import asyncio
    import cProfile
    import pstats

    from greenscore.config import get_settings
    from greenscore.serving.app import create_app

    settings = get_settings().model_copy(deep=True)
    settings.serving.model = str(folder)
    settings.serving.cache_size = 0
    settings.serving.energy_calibration = False
    settings.serving.job_worker = False
    settings.serving.rate_limit_per_minute = 100_000_000
    settings.serving.rate_limit_burst = 1_000_000
    n = 300
    app = create_app(settings)
    headers = [(b"content-type", b"application/json"), (b"x-api-key", key.encode())]
    payloads = [json.dumps(b).encode() for b in bodies]
    profiler = cProfile.Profile()
    timing: dict[str, float] = {}

    async def run() -> None:
        async with app.router.lifespan_context(app):
            for body in payloads[:50]:  # warm-up
                await _post(app, "/v1/score", body, headers)
            process, thread = time.process_time(), time.thread_time()
            profiler.enable()
            for i in range(n):
                status = await _post(app, "/v1/score", payloads[i % len(payloads)], headers)
                if status != 200:
                    raise RuntimeError(f"/v1/score answered {status} in the profile run")
            profiler.disable()
            timing["process"] = time.process_time() - process
            timing["thread"] = time.thread_time() - thread

    asyncio.run(run())
    stats = pstats.Stats(profiler)
    ranked = sorted(
        stats.stats.items(),  # type: ignore[attr-defined]
        key=lambda kv: kv[1][2],
        reverse=True,
    )
    # The loop's wait in poll (a built-in, file "~") for the writer's commits: time, not work.
    waits = [kv for kv in ranked if kv[0][0] == "~" and "poll" in kv[0][2]]
    busy = [kv for kv in ranked if not (kv[0][0] == "~" and "poll" in kv[0][2])]
    top = []
    for (file, line, name), (_, calls, own, total, _) in busy[:20]:
        where = file.split("site-packages/")[-1].split("/src/")[-1]
        top.append(
            {
                "function": f"{where}:{line}({name})",
                "calls_per_request": round(calls / n, 2),
                "own_ms_per_request": round(own / n * 1000, 3),
                "cumulative_ms_per_request": round(total / n * 1000, 3),
            }
        )
    return {
        "requests": n,
        "cpu_ms_per_request_in_process": round(timing["process"] / n * 1000, 3),
        "cpu_ms_per_request_request_thread": round(timing["thread"] / n * 1000, 3),
        "wait_ms_per_request": round(sum(kv[1][2] for kv in waits) / n * 1000, 3),
        "top_own_time": top,
    }


# ---------------------------------------------------------------------- report
def checks(http: dict[str, Any], batch: dict[str, Any]) -> dict[str, Any]:
    ours, naive = http["greenscore"], http["naive"]

    def ratio(a: dict[str, Any], b: dict[str, Any]) -> float:
        return round(a["c10"]["requests_per_s"] / max(b["c10"]["requests_per_s"], 1e-9), 2)

    def per_core(a: dict[str, Any], b: dict[str, Any]) -> float:
        cpu = a["c10"]["server_cpu_ms_per_request"]
        return round(b["c10"]["server_cpu_ms_per_request"] / max(cpu, 1e-9), 2)

    figures = {
        "requests_per_s_10_connections": ours["c10"]["requests_per_s"],
        "ratio_to_naive_10_connections": ratio(ours, naive),
        "ratio_to_naive_10_connections_per_core": per_core(ours, naive),
        "p99_ms_1_connection": ours["c1"]["p99_ms"],
        "requests_per_s_10_connections_reasons_all": http["greenscore_reasons_all"]["c10"][
            "requests_per_s"
        ],
        "ratio_to_naive_10_connections_one_worker": (
            ratio(http["greenscore_one_worker"], http["naive_one_worker"])
            if "greenscore_one_worker" in http
            else ratio(ours, naive)
        ),
        "batch_every_row_ratio_to_pred_contrib": batch["ratio_every_row_to_pred_contrib"],
    }
    errors = sum(h["c10"]["errors"] + h["c1"]["errors"] for h in http.values())
    passed = {
        key: (figures[key] <= goal if key.startswith("p99") else figures[key] >= goal)
        for key, goal in TARGETS.items()
    }
    passed["no_errors"] = errors == 0
    passed["exact_to_pred_contrib"] = batch["max_abs_difference_to_pred_contrib"] <= EXACT_TOLERANCE
    figures["no_errors"] = errors
    figures["exact_to_pred_contrib"] = batch["max_abs_difference_to_pred_contrib"]
    targets = {**TARGETS, "no_errors": 0, "exact_to_pred_contrib": EXACT_TOLERANCE}
    return {"figures": figures, "targets": targets, "passed": passed}


def note(result: dict[str, Any]) -> str:
    c = result["checks"]
    http = result["http"]
    m = result["machine"]
    missed = [k for k, ok in c["passed"].items() if not ok]
    parts = [
        f"Measured on {m['cores']} cores ({m['cpu']}), load average "
        f"{m['load_average'][0]:.1f} before the run and {result['machine_after']['load_average'][0]:.1f} "
        f"after; a pure-Python loop of 1e7 additions took {m['python_sum_1e7_ms']:.0f} ms "
        "(this machine's speed: compare it before comparing the figures of two runs).",
        f"The HTTP ceiling here (constant endpoint) was p99 {http['trivial']['c1']['p99_ms']:.1f} ms "
        f"at 1 connection and {http['trivial']['c10']['requests_per_s']:.0f} req/s at 10.",
    ]
    for name, label in (("greenscore", "/v1/score"), ("naive", "the naive endpoint")):
        c10 = http[name]["c10"]
        cpu = c10["server_cpu_ms_per_request"]
        share = cpu * c10["requests_per_s"] / 1000
        parts.append(
            f"Server CPU per request of {label} at 10 connections: {cpu:.2f} ms, i.e. "
            f"{1000 / cpu:.0f} req/s per fully available core; it obtained {share:.2f} cores "
            "of CPU during the phase."
        )
    for key in missed:
        target = c["targets"][key]
        got = c["figures"][key]
        parts.append(f"MISSED {key}: {got} against a target of {target}.")
    if not missed:
        parts.append("Every target met.")
    return " ".join(parts)


def markdown(result: dict[str, Any]) -> str:
    http, batch, c = result["http"], result["batch"], result["checks"]
    lines = [
        "## Scoring service (`benchmarks/serve.py`)",
        "",
        f"LightGBM model: {batch.get('model', 'booster')} of {batch.get('boosters', 1)} "
        f"booster(s), {batch['trees']} trees in all, {batch['model_features']} model features; "
        "each `/v1/score` answer carries 4 reason codes and one audit event; wrk on loopback; "
        f"{result['workers_per_server']} worker process(es) per server.",
        "",
        "| server | 1 conn p50 ms | 1 conn p99 ms | 10 conn req/s | 10 conn p99 ms | errors "
        "| server CPU ms/request (10 conn) |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    labels = {
        "greenscore": "GreenScore /v1/score",
        "trivial": "trivial constant",
        "naive": "naive one-row DataFrame",
        "greenscore_reasons_all": "GreenScore, serving.reasons = all",
        "greenscore_one_worker": "GreenScore, 1 worker",
        "naive_one_worker": "naive, 1 worker",
    }
    for name, h in http.items():
        label = labels.get(name, name)
        lines.append(
            f"| {label} | {h['c1']['p50_ms']:.2f} | {h['c1']['p99_ms']:.2f} | "
            f"{h['c10']['requests_per_s']:.0f} | {h['c10']['p99_ms']:.1f} | {h['c10']['errors']} | "
            f"{h['c10']['server_cpu_ms_per_request']:.2f} |"
        )
    rounds = "; ".join(f"{name} {http[name]['c10']['requests_per_s_each_round']}" for name in http)
    lines += ["", f"10-connection req/s in each round: {rounds}."]
    lines += [
        "",
        f"Batch of {batch['rows']} applicants ({batch['rows_with_reasons']} with reasons), "
        "one LightGBM thread (LightGBM's rows/s run every booster); exact contributions differ "
        "from the classifier's own (`pred_contrib`, for a bag their mean calibrated) by at most "
        f"{batch['max_abs_difference_to_pred_contrib']:.1e} (runtime {batch['runtime_mode']}, "
        f"terms {batch['contribution_terms']}):",
        "",
        "| scoring | rows/s |",
        "| --- | --- |",
    ]
    for name, rate in batch["rows_per_s"].items():
        lines.append(f"| {name} | {rate:,.0f} |")
    lines += ["", "| target | figure | goal | met |", "| --- | --- | --- | --- |"]
    for key, goal in c["targets"].items():
        lines.append(
            f"| {key} | {c['figures'][key]} | {goal} | {'yes' if c['passed'][key] else 'NO'} |"
        )
    prof = result.get("profile")
    if prof:
        lines += [
            "",
            "Where a decision's server time goes (the app called over ASGI in process, no "
            "network or client library, one request at a time, cProfile): "
            f"{prof['cpu_ms_per_request_in_process']} ms CPU per request in the process, "
            f"{prof['cpu_ms_per_request_request_thread']} ms of it on the request's thread "
            "(profiler overhead included; the rest is the writer thread committing audit and "
            "prediction rows), while the loop waited "
            f"{prof.get('wait_ms_per_request', 0)} ms for those commits; functions by own "
            "time, the wait left out:",
            "",
            "| function | calls/request | own ms/request | cumulative ms/request |",
            "| --- | --- | --- | --- |",
        ]
        for row in prof["top_own_time"]:
            lines.append(
                f"| `{row['function']}` | {row['calls_per_request']} | "
                f"{row['own_ms_per_request']} | {row['cumulative_ms_per_request']} |"
            )
    lines += ["", result["note"], ""]
    return "\n".join(lines)


def _stem(args: argparse.Namespace) -> str:
    return ("serve_quick" if args.quick else "serve") + (
        "" if args.model == "calibrated" else "_booster"
    )


def batch_only(args: argparse.Namespace) -> int:
    """The batch figures alone (``--only batch``): exit 1 when the batch target is missed."""
    seconds = args.seconds or (3.0 if args.quick else 5.0)
    home = Path(tempfile.mkdtemp(prefix="greenscore-serve-bench-"))
    try:
        from greenscore.config import Settings, use_settings

        use_settings(Settings(home=home, environment="test"))
        before = machine()
        print("training the model", flush=True)
        ds, bundle, _ = build_model(home, args.quick, args.model)
        print("batch scoring", flush=True)
        batch = batch_benchmarks(bundle, ds, 500 if args.quick else 2000, min(seconds, 3.0))
        after = machine()
    finally:
        shutil.rmtree(home, ignore_errors=True)
    goal = TARGETS["batch_every_row_ratio_to_pred_contrib"]
    passed = {
        "batch_every_row_ratio_to_pred_contrib": batch["ratio_every_row_to_pred_contrib"] >= goal,
        "exact_to_pred_contrib": batch["max_abs_difference_to_pred_contrib"] <= EXACT_TOLERANCE,
    }
    result = {
        "quick": args.quick,
        "model": args.model,
        "machine": before,
        "batch": batch,
        "passed": passed,
        "machine_after": after,
    }
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / f"{_stem(args)}_batch.json").write_text(json.dumps(result, indent=2), "utf-8")
    print(json.dumps(batch, indent=2))
    print(
        f"load average {before['load_average'][0]:.1f} before, "
        f"{after['load_average'][0]:.1f} after; every-row ratio to pred_contrib "
        f"{batch['ratio_every_row_to_pred_contrib']} (goal {goal}); passed {passed}"
    )
    return 0 if all(passed.values()) else 1


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark, write the results, exit 1 if a target was missed."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smoke run: small model, short phases")
    parser.add_argument("--seconds", type=float, default=None, help="length of each load phase")
    parser.add_argument("--out", type=Path, default=RESULTS, help="results folder")
    parser.add_argument(
        "--model",
        choices=("calibrated", "booster"),
        default="calibrated",
        help="LightGBM as greenscore train makes it (a calibrated booster refitted on all "
        "rows, default) or one bare booster",
    )
    parser.add_argument(
        "--workers",
        type=int,
        default=min(2, os.cpu_count() or 1),
        help="worker processes of every server (default: cores, at most 2)",
    )
    parser.add_argument(
        "--only",
        choices=("all", "batch"),
        default="all",
        help="batch: only the in-process batch figures (no servers, no wrk; about a minute), "
        "written to serve_batch.json (serve_quick_batch / serve_booster_batch alike)",
    )
    args = parser.parse_args(argv)
    if args.only == "batch":
        return batch_only(args)
    if shutil.which("wrk") is None:
        print(NO_WRK, file=sys.stderr)
        return 2
    seconds = args.seconds or (3.0 if args.quick else 5.0)
    home = Path(tempfile.mkdtemp(prefix="greenscore-serve-bench-"))
    try:
        from greenscore.config import Settings, use_settings
        from greenscore.security import create_key

        settings = Settings(home=home, environment="test")
        use_settings(settings)
        before = machine()
        print("training the model", flush=True)
        ds, bundle, folder = build_model(home, args.quick, args.model)
        bodies = adverse_bodies(ds, bundle)
        key = create_key(name="benchmark", role="scorer", settings=settings)[1]
        print("HTTP load", flush=True)
        http = http_benchmarks(
            home, folder, bodies, key, seconds, args.workers, 1 if args.quick else 3
        )
        print("batch scoring", flush=True)
        batch = batch_benchmarks(bundle, ds, 500 if args.quick else 2000, min(seconds, 3.0))
        print("profile", flush=True)
        profile = profile_decisions(folder, bodies, key)
        result = {
            "quick": args.quick,
            "model": args.model,
            "workers_per_server": args.workers,
            "machine": before,
            "http": http,
            "batch": batch,
            "profile": profile,
            "request_bodies": {"distinct": len(bodies), "decisions": "review or decline only"},
            "machine_after": machine(),
        }
        result["checks"] = checks(http, batch)
        result["note"] = note(result)
    finally:
        shutil.rmtree(home, ignore_errors=True)
    args.out.mkdir(parents=True, exist_ok=True)
    stem = _stem(args)
    (args.out / f"{stem}.json").write_text(json.dumps(result, indent=2), "utf-8")
    (args.out / f"{stem}.md").write_text(markdown(result), "utf-8")
    print(markdown(result))
    return 0 if all(result["checks"]["passed"].values()) else 1


if __name__ == "__main__":
    sys.exit(main())
