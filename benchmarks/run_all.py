"""Run every benchmark script in this folder, one after another, then gather the tables.

``make bench`` calls this. Each ``benchmarks/*.py`` (except this file) runs in its own
process with this interpreter, so one benchmark's imports, threads or memory cannot skew
the next one's timings. Afterwards every ``results/*.md`` table (quick smoke tables
excluded) is concatenated into ``results/README.md``. The exit status is non-zero when
any benchmark failed or missed a target, naming them.

Run: ``.venv/bin/python benchmarks/run_all.py [--only train,serve] [extra args for each]``.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"
INDEX = "README.md"


def scripts(only: list[str] | None = None) -> list[Path]:
    """Benchmark scripts in name order, this runner and private helpers left out."""
    found = sorted(
        p for p in HERE.glob("*.py") if p.name != Path(__file__).name and not p.name.startswith("_")
    )
    if only:
        found = [p for p in found if p.stem in only]
    return found


def collect_tables(results: Path = RESULTS) -> Path:
    """Concatenate the result tables into ``results/README.md`` and return its path."""
    tables = sorted(
        p for p in results.glob("*.md") if p.name != INDEX and not p.stem.endswith("_quick")
    )
    parts = [
        "# Benchmark results",
        "",
        f"Gathered by `benchmarks/run_all.py` on {time.strftime('%Y-%m-%d %H:%M')}; "
        "each section comes from `results/<name>.md`, its data from `results/<name>.json`.",
        "",
    ]
    for table in tables:
        parts += [table.read_text("utf-8").rstrip(), ""]
    index = results / INDEX
    index.write_text("\n".join(parts), "utf-8")
    return index


def main(argv: list[str] | None = None) -> int:
    """Run the benchmarks and write the index; non-zero if any of them failed."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", default="", help="comma list of benchmark names (default: all)")
    args, passthrough = parser.parse_known_args(argv)
    only = [n.strip() for n in args.only.split(",") if n.strip()] or None
    failed: list[str] = []
    for script in scripts(only):
        print(f"== {script.name}", flush=True)
        started = time.perf_counter()
        code = subprocess.call([sys.executable, str(script), *passthrough], cwd=HERE.parent)
        print(
            f"== {script.name}: exit {code} after {time.perf_counter() - started:.0f} s", flush=True
        )
        if code != 0:
            failed.append(f"{script.stem} (exit {code})")
    RESULTS.mkdir(parents=True, exist_ok=True)
    index = collect_tables()
    print(f"wrote {index}")
    if failed:
        print(f"failed or missed targets: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
