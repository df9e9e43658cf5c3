"""What ``import greenscore`` sets up for the engines it loads later: OpenMP's spin count.

libgomp reads ``GOMP_SPINCOUNT`` once, when the first engine that uses it loads, so the
package sets it on import; a benchmark once set ``OMP_WAIT_POLICY=PASSIVE`` itself instead
and fitted LightGBM with two threads 2.4x slower than with one. Checked in a fresh
interpreter: this one imported greenscore long ago.
"""

from __future__ import annotations

import os
import subprocess
import sys

PRINT_SPINCOUNT = "import os, greenscore; print(os.environ['GOMP_SPINCOUNT'])"


def _spincount_after_import(env: dict[str, str]) -> str:
    done = subprocess.run(
        [sys.executable, "-c", PRINT_SPINCOUNT],
        env=env,
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    return done.stdout.strip()


def test_importing_the_package_sets_a_short_openmp_spin() -> None:
    env = {k: v for k, v in os.environ.items() if k != "GOMP_SPINCOUNT"}
    assert _spincount_after_import(env) == "20000"


def test_an_explicit_spin_count_wins() -> None:
    assert _spincount_after_import({**os.environ, "GOMP_SPINCOUNT": "7"}) == "7"
