"""Soak test of the scoring service: a bounded loopback load for a long time, and a verdict on trends.

One ``greenscore serve`` (one worker, the job worker on) on loopback, with the quick
benchmark model of ``serve.py`` (a 100-tree LightGBM on generated data, reason codes on).
Client threads in this process send a fixed, paced mix (not as fast as possible: the
machine is shared, and a soak looks for leaks, not for the ceiling): single scores
(about 90 %), batches of 10, contests of the caller's own earlier decisions, small jobs
polled to the end, and readiness probes. Every ``--interval`` seconds the server's
process tree is sampled: resident memory (RSS), open file descriptors, threads, and the
window's requests, errors and client-side latency (p50, p99).

Verdict, over the second half of the run (the first is warm-up: caches, the allocator's
arenas, SQLite's page cache fill): the least-squares slope of RSS and of open file
descriptors, projected over that half, must stay within a tolerance (RSS: 2 % of its
median or 4 MiB, whichever is larger; descriptors: 2), the p50 latency of the last
quarter must be under twice that of the second quarter, there must be no error answer,
and afterwards ``greenscore audit verify`` must pass with one ``decision`` audit event
and one stored prediction per decision the clients were given.

Results: ``benchmarks/results/soak.json`` (every sample) and ``soak.md``; exit 1 when the
verdict fails. ``make bench`` runs it through ``run_all.py`` (30 minutes).

Run: ``.venv/bin/python benchmarks/soak.py [--minutes 30] [--interval 10] [--rate 20]``;
``--quick`` is a 2-minute smoke run written to ``soak_quick.*``.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from serve import (  # noqa: E402 - the serving benchmark's model, server and machine helpers
    ROOT,
    Server,
    adverse_bodies,
    build_model,
    free_port,
    machine,
    serve_env,
)

RESULTS = HERE / "results"
RSS_TOLERANCE_FRACTION = 0.02
RSS_TOLERANCE_MIB = 4.0
FD_TOLERANCE = 2.0
LATENCY_RATIO_LIMIT = 2.0


# ---------------------------------------------------------------------- the process tree
def _tree(root: int) -> list[int]:
    """``root`` and every process under it (uvicorn may fork workers)."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            parents[int(entry.name)] = int(fields[1])
    tree, frontier = [root], [root]
    while frontier:
        parent = frontier.pop()
        for pid, ppid in parents.items():
            if ppid == parent and pid not in tree:
                tree.append(pid)
                frontier.append(pid)
    return tree


def process_sample(root: int) -> dict[str, float]:
    """RSS (MiB), open descriptors and threads, summed over the server's process tree."""
    rss_kib = fds = threads = 0
    for pid in _tree(root):
        try:
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    rss_kib += int(line.split()[1])
                elif line.startswith("Threads:"):
                    threads += int(line.split()[1])
            fds += len(os.listdir(f"/proc/{pid}/fd"))
        except OSError:
            continue  # a process that ended between listing and reading
    return {"rss_mib": round(rss_kib / 1024, 2), "fds": fds, "threads": threads}


# ---------------------------------------------------------------------- the load
@dataclass
class Window:
    """What the clients saw since the last sample."""

    latencies_ms: list[float] = field(default_factory=list)
    requests: int = 0
    errors: int = 0
    error_samples: list[str] = field(default_factory=list)


@dataclass
class Tally:
    """Totals over the run: decisions given to the clients, by route."""

    decisions: int = 0
    by_kind: dict[str, int] = field(default_factory=dict)
    jobs: int = 0
    contests: int = 0


class Load:
    """Paced client threads and the window they report into."""

    def __init__(
        self, url: str, key: str, bodies: list[dict[str, Any]], rate: float, threads: int
    ) -> None:
        self.url, self.key, self.bodies = url, key, bodies
        self.period = threads / rate  # seconds between one thread's requests
        self.threads = threads
        self.stop = threading.Event()
        self.lock = threading.Lock()
        self.window = Window()
        self.tally = Tally()
        self._workers: list[threading.Thread] = []

    def start(self) -> None:
        for k in range(self.threads):
            t = threading.Thread(target=self._run, args=(k,), daemon=True, name=f"soak-{k}")
            t.start()
            self._workers.append(t)

    def join(self) -> None:
        self.stop.set()
        for t in self._workers:
            t.join(120)

    def take_window(self) -> Window:
        with self.lock:
            window, self.window = self.window, Window()
        return window

    def _record(self, started: float, ok: bool, what: str) -> None:
        elapsed = (time.perf_counter() - started) * 1000
        with self.lock:
            self.window.requests += 1
            self.window.latencies_ms.append(elapsed)
            if not ok:
                self.window.errors += 1
                if len(self.window.error_samples) < 5:
                    self.window.error_samples.append(what[:300])

    def _count(self, kind: str, n: int) -> None:
        with self.lock:
            self.tally.decisions += n
            self.tally.by_kind[kind] = self.tally.by_kind.get(kind, 0) + n

    def _run(self, k: int) -> None:
        rng = random.Random(k)
        mine: list[str] = []  # this thread's decided request ids, for contests
        with httpx.Client(base_url=self.url, headers={"X-API-Key": self.key}, timeout=60) as c:
            next_at = time.monotonic()
            while not self.stop.is_set():
                next_at += self.period
                pause = next_at - time.monotonic()
                if pause > 0:
                    self.stop.wait(pause)
                else:
                    next_at = time.monotonic()  # behind: do not burst to catch up
                roll = rng.random()
                try:
                    if roll < 0.90:
                        self._score(c, rng, mine)
                    elif roll < 0.96:
                        self._batch(c, rng)
                    elif roll < 0.98 and mine:
                        self._contest(c, mine.pop(rng.randrange(len(mine))))
                    elif roll < 0.99:
                        self._job(c, rng)
                    else:
                        started = time.perf_counter()
                        r = c.get("/health/ready")
                        self._record(started, r.status_code == 200, r.text)
                except httpx.HTTPError as exc:
                    self._record(time.perf_counter(), False, repr(exc))

    def _score(self, c: httpx.Client, rng: random.Random, mine: list[str]) -> None:
        started = time.perf_counter()
        r = c.post("/v1/score", json=rng.choice(self.bodies))
        self._record(started, r.status_code == 200, f"score {r.status_code} {r.text}")
        if r.status_code == 200:
            self._count("score", 1)
            if len(mine) < 1000:
                mine.append(r.json()["request_id"])

    def _batch(self, c: httpx.Client, rng: random.Random) -> None:
        started = time.perf_counter()
        r = c.post("/v1/score/batch", json={"applicants": rng.sample(self.bodies, 10)})
        ok = r.status_code == 200 and r.json()["errors"] == 0
        self._record(started, ok, f"batch {r.status_code} {r.text}")
        if r.status_code == 200:
            self._count("batch", sum(1 for x in r.json()["results"] if x["status"] == 200))

    def _contest(self, c: httpx.Client, request_id: str) -> None:
        started = time.perf_counter()
        r = c.post(f"/v1/decisions/{request_id}/contest", json={"reason": "soak"})
        self._record(started, r.status_code == 202, f"contest {r.status_code} {r.text}")
        if r.status_code == 202:
            with self.lock:
                self.tally.contests += 1

    def _job(self, c: httpx.Client, rng: random.Random) -> None:
        started = time.perf_counter()
        r = c.post("/v1/jobs", json={"records": rng.sample(self.bodies, 20)})
        self._record(started, r.status_code == 202, f"job {r.status_code} {r.text}")
        if r.status_code != 202:
            return
        job = r.json()["id"]
        deadline = time.monotonic() + 120
        # Polled to the end even after the run stops, so every job's decisions are counted.
        while time.monotonic() < deadline:
            started = time.perf_counter()
            s = c.get(f"/v1/jobs/{job}")
            self._record(started, s.status_code == 200, f"job status {s.status_code} {s.text}")
            state = s.json().get("status") if s.status_code == 200 else None
            if state in ("done", "failed"):
                if state == "done":
                    with self.lock:
                        self.tally.jobs += 1
                    self._count("job", 20 - int(s.json().get("errors") or 0))
                else:
                    self._record(time.perf_counter(), False, f"job failed {s.text}")
                return
            time.sleep(0.5)


# ---------------------------------------------------------------------- analysis
def _percentile(values: list[float], q: float) -> float | None:
    return round(float(np.percentile(values, q)), 2) if values else None


def slope_per_second(ts: list[float], ys: list[float]) -> float:
    """Least-squares slope of ``ys`` over ``ts``."""
    if len(ts) < 3:
        return 0.0
    return float(np.polyfit(np.asarray(ts, float), np.asarray(ys, float), 1)[0])


def verdict(samples: list[dict[str, Any]], audit: dict[str, Any]) -> dict[str, Any]:
    """The trend checks over the second half of the samples (see the module docstring)."""
    half = samples[len(samples) // 2 :]
    ts = [s["t_s"] for s in half]
    span = ts[-1] - ts[0] if len(ts) > 1 else 0.0
    rss = [s["rss_mib"] for s in half]
    fds = [float(s["fds"]) for s in half]
    rss_growth = slope_per_second(ts, rss) * span
    fd_growth = slope_per_second(ts, fds) * span
    rss_limit = max(RSS_TOLERANCE_FRACTION * float(np.median(rss)), RSS_TOLERANCE_MIB)
    quarter = max(1, len(samples) // 4)
    p50_q2 = [s["p50_ms"] for s in samples[quarter : 2 * quarter] if s["p50_ms"] is not None]
    p50_q4 = [s["p50_ms"] for s in samples[-quarter:] if s["p50_ms"] is not None]
    latency_ratio = (
        float(np.median(p50_q4)) / float(np.median(p50_q2)) if p50_q2 and p50_q4 else None
    )
    errors = sum(s["errors"] for s in samples)
    checks = {
        "rss_growth_within_tolerance": abs(rss_growth) <= rss_limit or rss_growth < 0,
        "fd_growth_within_tolerance": fd_growth <= FD_TOLERANCE,
        "latency_stable": latency_ratio is not None and latency_ratio < LATENCY_RATIO_LIMIT,
        "no_errors": errors == 0,
        "audit_verifies": bool(audit.get("verify_ok")),
        "decisions_audited_and_stored": audit.get("decisions_given")
        == audit.get("decision_events")
        == audit.get("predictions"),
    }
    return {
        "second_half_seconds": round(span, 1),
        "rss_growth_mib": round(rss_growth, 2),
        "rss_limit_mib": round(rss_limit, 2),
        "rss_slope_mib_per_hour": round(slope_per_second(ts, rss) * 3600, 2),
        "fd_growth": round(fd_growth, 2),
        "fd_limit": FD_TOLERANCE,
        "fd_slope_per_hour": round(slope_per_second(ts, fds) * 3600, 2),
        "p50_ratio_last_to_second_quarter": None
        if latency_ratio is None
        else round(latency_ratio, 3),
        "errors": errors,
        "checks": checks,
        "passed": all(checks.values()),
    }


def audit_counts(home: Path, env: dict[str, str]) -> dict[str, Any]:
    """``greenscore audit verify`` and the counts of decision events and predictions."""
    from sqlalchemy import create_engine, text

    run = subprocess.run(
        [sys.executable, "-m", "greenscore.cli", "audit", "verify"],
        env=env,
        capture_output=True,
        text=True,
        cwd=str(home),
        timeout=600,
    )
    engine = create_engine(f"sqlite:///{home / 'greenscore.db'}")
    with engine.connect() as conn:
        events = conn.execute(
            text("SELECT COUNT(*) FROM security_audit_log WHERE action = 'decision'")
        ).scalar_one()
        predictions = conn.execute(text("SELECT COUNT(*) FROM predictions")).scalar_one()
        letters = conn.execute(text("SELECT COUNT(*) FROM serving_dead_letters")).scalar_one()
    engine.dispose()
    return {
        "verify_ok": run.returncode == 0,
        "verify_output": (run.stdout + run.stderr).strip()[-500:],
        "decision_events": int(events),
        "predictions": int(predictions),
        "dead_letters": int(letters),
    }


# ---------------------------------------------------------------------- report
def markdown(result: dict[str, Any]) -> str:
    v = result["verdict"]
    a = result["audit"]
    lines = [
        f"## Soak: the scoring service under a bounded load for {result['minutes']:g} minutes",
        "",
        f"`benchmarks/soak.py`: one `greenscore serve` worker (job worker on) on loopback, "
        f"{result['threads']} paced client threads at {result['rate']:g} requests/s in all "
        "(90 % single scores, 6 % batches of 10, 2 % contests, 1 % jobs of 20 polled to the "
        f"end, 1 % readiness probes), sampled every {result['interval']:g} s. Load average "
        f"before {_load(result['machine']['load_average'])}, after "
        f"{_load(result['machine_after']['load_average'])} ({result['machine']['cores']} "
        "cores, shared with other work).",
        "",
        f"**Verdict: {'PASS' if v['passed'] else 'FAIL'}** — "
        + ", ".join(f"{k} {'ok' if ok else 'FAILED'}" for k, ok in v["checks"].items()),
        "",
        "| over the second half | value | tolerance |",
        "|---|---|---|",
        f"| RSS growth (slope × {v['second_half_seconds']:g} s) | {v['rss_growth_mib']} MiB "
        f"({v['rss_slope_mib_per_hour']} MiB/h) | ≤ {v['rss_limit_mib']} MiB |",
        f"| open descriptors growth | {v['fd_growth']} ({v['fd_slope_per_hour']}/h) "
        f"| ≤ {v['fd_limit']:g} |",
        f"| p50 latency, last quarter / second quarter | "
        f"{v['p50_ratio_last_to_second_quarter']} | < {LATENCY_RATIO_LIMIT:g} |",
        f"| error answers (whole run) | {v['errors']} | 0 |",
        "",
        f"Requests {result['requests']}; decisions given {result['tally']['decisions']} "
        f"({result['tally']['by_kind']}), contests {result['tally']['contests']}, jobs "
        f"{result['tally']['jobs']}. Afterwards `greenscore audit verify`: "
        f"{'ok' if a['verify_ok'] else 'FAILED'}; decision events {a['decision_events']}, "
        f"stored predictions {a['predictions']}, dead letters {a['dead_letters']}.",
        "",
        "| t (s) | RSS MiB | fds | threads | requests | errors | p50 ms | p99 ms | load 1 min |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    samples = result["samples"]
    step = max(1, len(samples) // 30)  # the table shows about 30 rows; the JSON has all
    for s in samples[::step]:
        lines.append(
            f"| {s['t_s']:.0f} | {s['rss_mib']} | {s['fds']} | {s['threads']} | "
            f"{s['requests']} | {s['errors']} | {s['p50_ms']} | {s['p99_ms']} | {s['load_1']} |"
        )
    return "\n".join(lines) + "\n"


def _load(values: list[float]) -> str:
    return " / ".join(f"{x:.2f}" for x in values)


# ---------------------------------------------------------------------- main
def main(argv: list[str] | None = None) -> int:
    """Run the soak, write the results, exit 1 if the verdict fails."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="2-minute smoke run")
    parser.add_argument("--minutes", type=float, default=None, help="length (default 30)")
    parser.add_argument("--interval", type=float, default=10.0, help="seconds between samples")
    parser.add_argument("--rate", type=float, default=20.0, help="requests per second in all")
    parser.add_argument("--threads", type=int, default=4, help="client threads")
    parser.add_argument("--out", type=Path, default=RESULTS, help="results folder")
    args, _ = parser.parse_known_args(argv)  # run_all passes every script the same extras
    minutes = args.minutes or (2.0 if args.quick else 30.0)
    home = Path(tempfile.mkdtemp(prefix="greenscore-soak-"))
    server: Server | None = None
    try:
        from greenscore.config import Settings, use_settings
        from greenscore.security import create_key

        settings = Settings(home=home, environment="test")
        use_settings(settings)
        before = machine()
        print("training the model", flush=True)
        ds, bundle, folder = build_model(home, quick=True)
        bodies = adverse_bodies(ds, bundle)
        key = create_key(name="soak", role="scorer", settings=settings)[1]
        port = free_port()
        env = serve_env(
            home,
            {
                "GREENSCORE_SERVING__JOB_WORKER": "true",
                "GREENSCORE_SERVING__JOB_MAX_ACTIVE_PER_KEY": "1000",
            },
        )
        cmd = [sys.executable, "-m", "greenscore.cli", "serve", "--model", str(folder)]
        server = Server([*cmd, "--workers", "1", "--port", str(port)], env, port, "/health/ready")
        load = Load(server.url, key, bodies, args.rate, args.threads)
        print(f"soak: {minutes:g} minutes at {args.rate:g} requests/s", flush=True)
        started = time.monotonic()
        load.start()
        samples: list[dict[str, Any]] = []
        end = started + minutes * 60
        while time.monotonic() < end:
            time.sleep(min(args.interval, max(0.0, end - time.monotonic())))
            window = load.take_window()
            sample = {
                "t_s": round(time.monotonic() - started, 1),
                **process_sample(server.proc.pid),
                "requests": window.requests,
                "errors": window.errors,
                "p50_ms": _percentile(window.latencies_ms, 50),
                "p99_ms": _percentile(window.latencies_ms, 99),
                "load_1": round(os.getloadavg()[0], 2),
                "error_samples": window.error_samples,
            }
            samples.append(sample)
            print(
                f"  t={sample['t_s']:.0f}s rss={sample['rss_mib']}MiB fds={sample['fds']} "
                f"req={sample['requests']} err={sample['errors']} p99={sample['p99_ms']}ms",
                flush=True,
            )
        load.join()
        last = load.take_window()  # requests that ended after the last sample
        samples[-1]["requests"] += last.requests
        samples[-1]["errors"] += last.errors
        server.stop()
        server = None
        audit = audit_counts(home, env)
        audit["decisions_given"] = load.tally.decisions
        result = {
            "quick": args.quick,
            "minutes": minutes,
            "interval": args.interval,
            "rate": args.rate,
            "threads": args.threads,
            "machine": before,
            "requests": sum(s["requests"] for s in samples),
            "tally": {
                "decisions": load.tally.decisions,
                "by_kind": load.tally.by_kind,
                "contests": load.tally.contests,
                "jobs": load.tally.jobs,
            },
            "audit": audit,
            "samples": samples,
            "machine_after": machine(),
        }
        result["verdict"] = verdict(samples, audit)
    finally:
        if server is not None:
            server.stop()
        shutil.rmtree(home, ignore_errors=True)
    args.out.mkdir(parents=True, exist_ok=True)
    stem = "soak_quick" if args.quick else "soak"
    (args.out / f"{stem}.json").write_text(json.dumps(result, indent=2), "utf-8")
    (args.out / f"{stem}.md").write_text(markdown(result), "utf-8")
    print(markdown(result))
    return 0 if result["verdict"]["passed"] else 1


if __name__ == "__main__":
    assert ROOT.is_dir()
    sys.exit(main())
