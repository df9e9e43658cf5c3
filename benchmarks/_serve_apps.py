"""The two reference servers of ``benchmarks/serve.py`` (not a benchmark itself).

* ``trivial_app``: a FastAPI endpoint that returns a constant: the HTTP ceiling of this
  machine, server and client.
* ``naive_app``: what most tutorials ship: the applicant as a dict, a one-row pandas
  DataFrame, ``predict_proba`` of the whole pipeline, the probability back.

Both are uvicorn factories; the naive one reads its bundle folder from
``GREENSCORE_BENCH_BUNDLE``.
"""

from __future__ import annotations

import os
from typing import Any

from fastapi import FastAPI


def trivial_app() -> FastAPI:
    """POST /v1/score returns a constant."""
    app = FastAPI()

    @app.post("/v1/score")
    async def score() -> dict[str, Any]:
        return {"probability_of_default": 0.1}

    return app


def naive_app() -> FastAPI:
    """POST /v1/score: one-row DataFrame through the bundle's pipeline."""
    import pandas as pd

    from greenscore.data.loading import model_input
    from greenscore.models.bundle import ScoringBundle

    bundle = ScoringBundle.load(os.environ["GREENSCORE_BENCH_BUNDLE"])
    app = FastAPI()

    @app.post("/v1/score")
    def score(applicant: dict[str, Any]) -> dict[str, Any]:
        frame = model_input(pd.DataFrame([applicant]), bundle.spec)
        probability = float(bundle.pipeline.predict_proba(frame)[0, 1])
        return {"probability_of_default": probability}

    return app
