"""Tracking: MLflow runs and the model registry, seeds and environment capture.

The registry functions are loaded on first use (they import the model bundle and
scikit-learn); everything else here is light to import, and MLflow itself is only
imported when a run is actually opened.
"""

from typing import Any

from greenscore.tracking.environment import environment_info, git_commit, package_versions
from greenscore.tracking.mlflow_run import NullRun, TrackedRun, start_run, tracking_uri
from greenscore.tracking.seeds import seed_everything

_REGISTRY = ("register_bundle", "load_bundle", "list_versions", "set_alias")

__all__ = [
    "NullRun",
    "TrackedRun",
    "environment_info",
    "git_commit",
    "list_versions",
    "load_bundle",
    "package_versions",
    "register_bundle",
    "seed_everything",
    "set_alias",
    "start_run",
    "tracking_uri",
]


def __getattr__(name: str) -> Any:
    if name in _REGISTRY:
        from greenscore.tracking import registry

        return getattr(registry, name)
    raise AttributeError(f"module 'greenscore.tracking' has no attribute '{name}'")
