"""The scoring service: FastAPI app, model store with A/B and hot reload, micro-batched fast
path, resilience, batch jobs, dead letters, rate limits and metrics.

``create_app`` is the entry point (``greenscore serve`` runs it under uvicorn); the rest is
imported from its own module (``greenscore.serving.model_store`` and so on).
"""

from typing import Any

__all__ = ["create_app"]


def __getattr__(name: str) -> Any:
    # FastAPI and the model stack load only when the app is wanted, not on package import.
    if name == "create_app":
        from greenscore.serving.app import create_app

        return create_app
    raise AttributeError(f"module 'greenscore.serving' has no attribute '{name}'")
