"""``greenscore search --time-budget 10m`` on Taiwan: the Pareto front it finds and its knee.

Runs the real command (a subprocess, in a fresh GreenScore home under a temporary folder,
so the study starts empty and the knee is registered there), then writes
``results/search.json`` (the command's ``pareto.json`` plus the wall time and the load
average before and after) and ``results/search.md`` (every front point with its four
objectives, the knee, the wall time). Exit 1 when the issue's acceptance is missed: fewer
than 5 non-dominated points, no Pareto HTML, or no registered knee.

There is no baseline to take a ratio against: the front *is* the comparison (each point
against the others, measured side by side in one study on one machine). Latency and
energy carry the machine's load, recorded beside them.

Run: ``.venv/bin/python benchmarks/search.py [--time-budget 10m] [--out DIR]``, or
``--from PATH/pareto.json --wall-s S --load-before L --load-after L`` to record a run
made by hand with the same command.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"
TAIWAN = HERE.parent.parent / "shared" / "data" / "UCI_Credit_Card.csv"
MIN_POINTS = 5


def _load() -> float:
    return float(os.getloadavg()[0])


def run(budget: str, out: Path, extra: list[str]) -> dict[str, Any]:
    """Run the command in a fresh home; return its pareto.json with wall time and load."""
    home = Path(tempfile.mkdtemp(prefix="gs-search-home-"))
    command = [
        sys.executable, "-m", "greenscore.cli", "search", "--data", str(TAIWAN),
        "--preset", "taiwan", "--time-budget", budget, "--out", str(out), "--force", *extra,
    ]  # fmt: skip
    before, started = _load(), time.perf_counter()
    done = subprocess.run(
        command, env={**os.environ, "GREENSCORE_HOME": str(home)}, capture_output=True, text=True
    )
    wall, after = time.perf_counter() - started, _load()
    if done.returncode != 0:
        sys.stderr.write(done.stderr[-4000:])
        raise SystemExit(f"greenscore search failed with exit {done.returncode}")
    doc = json.loads((out / "pareto.json").read_text())
    doc["benchmark"] = {
        "command": " ".join(command[1:]),
        "wall_s": wall,
        "load_before": before,
        "load_after": after,
        "html_bytes": (out / "pareto.html").stat().st_size,
    }
    return doc


def markdown(doc: dict[str, Any]) -> str:
    """The front as a table, then the knee and the run's figures."""
    bench = doc["benchmark"]
    knee = doc["knee"] or {}
    lines = [
        "# Architecture search on Taiwan (`greenscore search --time-budget 10m`)",
        "",
        f"Command: `{bench['command']}`. Wall time {bench['wall_s']:.0f} s for a "
        f"{doc['timing']['budget_s']:.0f} s budget; load average {bench['load_before']:.1f} "
        f"before, {bench['load_after']:.1f} after (1-minute load averages; {os.cpu_count()} "
        "cores).",
        "",
        f"Study `{doc['study']['name']}` ({doc['study']['sampler']} sampler): "
        f"{doc['study']['trials_total']} trials, {doc['study']['this_run']['trials']}; "
        f"stopped by: {doc['study']['this_run']['stopped']}. Families: "
        f"{', '.join(doc['families'])}. Hold-out: {doc['data']['holdout_rows']} of "
        f"{doc['data']['rows']} rows. Protected attribute: {doc['protected_attribute']}.",
        "",
        f"**{doc['non_dominated']} non-dominated points** (target >= {MIN_POINTS}):",
        "",
        "| trial | candidate | AUC | p99 single-row ms | kWh per 1k predictions | "
        "fairness gap | p50 ms | decline rate | int8-friendly | load |",
        "| ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | --- | ---: |",
    ]
    for p in doc["front"]:
        o, m = p["objectives"], p["measured"]
        mark = " **(knee)**" if p["trial"] == knee.get("trial") else ""
        lines.append(
            f"| {p['trial']}{mark} | {p['candidate']} | {o['auc']:.4f} | "
            f"{o['p99_latency_ms']:.1f} | {o['kwh_per_1k']:.3e} | {o['fairness_gap']:.4f} | "
            f"{m['p50_latency_ms']:.1f} | {m['decline_rate']:.3f} | {p['int8_friendly']} | "
            f"{p['load_average']:.1f} |"
        )
    bundle = doc["knee_bundle"]
    lines += [
        "",
        f"**Knee**: trial {knee.get('trial')}, {knee.get('candidate')} ({doc['knee_definition']}). "
        f"Refitted on all rows in {bundle.get('refit_seconds', float('nan')):.1f} s, "
        f"registered as `{bundle.get('registered')}`.",
        "",
        "How each objective is measured:",
        "",
        *[f"- {o['name']} ({o['direction']}): {o['method']}" for o in doc["objectives"]],
        f"- energy method: {doc['front'][0]['measured']['energy_method'] if doc['front'] else 'n/a'}",
        f"- pruning: {doc['pruning']}",
        "",
        f"Pareto HTML: {bench['html_bytes']:,} bytes (plotly embedded, opens offline).",
        "",
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--time-budget", default="10m")
    parser.add_argument("--out", type=Path, default=None, help="The command's output folder.")
    parser.add_argument("--from", dest="source", type=Path, help="Record this pareto.json instead.")
    parser.add_argument(
        "--command", default="search --data UCI_Credit_Card.csv --preset taiwan --time-budget 10m"
    )
    parser.add_argument("--wall-s", type=float)
    parser.add_argument("--load-before", type=float)
    parser.add_argument("--load-after", type=float)
    parser.add_argument("extra", nargs="*", help="More greenscore search options, after --.")
    args, _ = parser.parse_known_args()
    if args.source is not None:
        doc = json.loads(args.source.read_text())
        html = args.source.parent / "pareto.html"
        doc["benchmark"] = {
            "command": args.command,
            "wall_s": args.wall_s if args.wall_s is not None else doc["timing"]["wall_s"],
            "load_before": args.load_before
            if args.load_before is not None
            else doc["load_average"]["start"],
            "load_after": args.load_after
            if args.load_after is not None
            else doc["load_average"]["end"],
            "html_bytes": html.stat().st_size if html.exists() else 0,
        }
    else:
        out = args.out or Path(tempfile.mkdtemp(prefix="gs-search-out-"))
        doc = run(args.time_budget, out, args.extra)
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "search.json").write_text(json.dumps(doc, indent=2, default=str), "utf-8")
    (RESULTS / "search.md").write_text(markdown(doc), "utf-8")
    missed = []
    if doc["non_dominated"] < MIN_POINTS:
        missed.append(f"{doc['non_dominated']} non-dominated points, fewer than {MIN_POINTS}")
    if not doc["benchmark"]["html_bytes"]:
        missed.append("no Pareto HTML")
    if not doc["knee_bundle"].get("registered"):
        missed.append(f"knee not registered ({doc['knee_bundle'].get('not_registered')})")
    print(markdown(doc))
    if missed:
        raise SystemExit("missed: " + "; ".join(missed))


if __name__ == "__main__":
    main()
