"""Federated learning across lenders on Flower: one model, no shared rows.

The ServerApp (:mod:`.server_app`) and ClientApp (:mod:`.client_app`) run the same way in
a simulation (:mod:`.simulation`, an in-process Flower grid) and in a deployment
(:mod:`.deployment`: a TLS SuperLink and authenticated SuperNodes). What a federation
does is one :class:`~.plan.FederationPlan`; the phases are in :mod:`.federation`.

Names are imported on first use, so ``import greenscore.federated`` does not load Flower.
"""

from __future__ import annotations

import importlib
from typing import Any

_PUBLIC = {
    "FederationPlan": "plan",
    "FederationResult": "federation",
    "run_federation": "federation",
    "simulate": "simulation",
    "prepare_lenders": "simulation",
    "split_lenders": "partition",
    "check_columns": "lender_data",
}
__all__ = sorted(_PUBLIC)


def __getattr__(name: str) -> Any:
    if name in _PUBLIC:
        module = importlib.import_module(f"{__name__}.{_PUBLIC[name]}")
        return getattr(module, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
