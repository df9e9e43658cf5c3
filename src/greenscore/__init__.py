"""GreenScore: build, explain, audit and serve probability-of-default models, and measure
what each one costs in energy and carbon.

The Python API (:mod:`greenscore.api`) is available from here and loads on first use, so
``import greenscore`` stays instant::

    import greenscore as gs

    run = gs.train("applications.csv", target="default", out="runs/first")
    model = gs.load_model("runs/first/model")
    scored = gs.score(model, "new_applications.csv")
"""

from __future__ import annotations

import os

from greenscore.version import __version__

# OpenMP threads (libgomp: LightGBM, XGBoost, PyTorch) wait this many spins before they
# sleep. libgomp's default (300,000) burns a shared core: steps 20-30x slower on 2 busy
# cores; never spinning (OMP_WAIT_POLICY=PASSIVE) made two threads slower than one
# (`train --models lightgbm` on Taiwan, fits 26.0 s with 2 threads, 12.6 s with one, 8.8 s
# with this). Set here, on import of the package, so that the CLI, the library and the
# benchmarks all get it before an engine loads (libgomp reads it once); an explicit setting wins.
os.environ.setdefault("GOMP_SPINCOUNT", "20000")

# Not ``from typing import TYPE_CHECKING``: importing typing took ``import greenscore``
# from under 1 ms to about 60 ms here. Type checkers honour this spelling too.
TYPE_CHECKING = False

#: Names served from greenscore.api on first access.
_API = (
    "train",
    "load_model",
    "score",
    "explain_applicants",
    "member_contributions",
    "TrainResult",
    "ScoringBundle",
)

__all__ = [
    "ScoringBundle",
    "TrainResult",
    "__version__",
    "explain_applicants",
    "load_model",
    "member_contributions",
    "score",
    "train",
]

if TYPE_CHECKING:
    from greenscore.api import (
        ScoringBundle,
        TrainResult,
        explain_applicants,
        load_model,
        member_contributions,
        score,
        train,
    )


def __getattr__(name: str) -> object:
    if name in _API:
        from greenscore import api

        return getattr(api, name)
    raise AttributeError(f"module 'greenscore' has no attribute '{name}'")


def __dir__() -> list[str]:
    return sorted({*globals(), *_API})
