"""What a result was produced with: code version, Python, platform and library versions.

Recorded with every tracked run and bundle so that a model-risk reviewer can rebuild
the environment years later. Versions are read from installed package metadata, so
nothing heavy is imported to learn them.
"""

from __future__ import annotations

import os
import platform
import subprocess
from importlib import metadata
from pathlib import Path
from typing import Any

from greenscore.version import __version__

#: Distributions whose versions change model results or their reading.
STACK: tuple[str, ...] = (
    "numpy",
    "pandas",
    "scipy",
    "scikit-learn",
    "lightgbm",
    "optbinning",
    "optuna",
    "imbalanced-learn",
    "torch",
    "torch-geometric",
    "shap",
    "fairlearn",
    "mlflow",
    "codecarbon",
    "pandera",
    "pydantic",
)


def package_versions(names: tuple[str, ...] | list[str] = STACK) -> dict[str, str | None]:
    """Installed version of each distribution, ``None`` where it is not installed."""
    out: dict[str, str | None] = {}
    for name in names:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = None
    return out


def _git(args: list[str], cwd: Path) -> str | None:
    try:
        done = subprocess.run(
            ["git", *args], cwd=cwd, capture_output=True, text=True, timeout=5, check=False
        )
    except (OSError, subprocess.SubprocessError):
        return None  # no git binary, or it hung: the commit is simply unknown
    return done.stdout.strip() if done.returncode == 0 else None


def git_commit(path: Path | str | None = None) -> str | None:
    """The commit checked out at ``path`` (default: the GreenScore source tree), or None.

    Parameters
    ----------
    path : path, optional
        Any folder inside a git work tree.
    """
    folder = Path(path) if path is not None else Path(__file__).parents[1]  # the package folder
    return _git(["rev-parse", "HEAD"], folder)


def git_dirty(path: Path | str | None = None) -> bool | None:
    """Whether tracked files differ from the commit (None outside a git work tree)."""
    folder = Path(path) if path is not None else Path(__file__).parents[1]  # the package folder
    status = _git(["status", "--porcelain", "--untracked-files=no"], folder)
    return None if status is None else bool(status)


def environment_info(path: Path | str | None = None) -> dict[str, Any]:
    """Everything needed to say what produced a result.

    Returns
    -------
    dict
        ``greenscore_version``, ``git_commit``, ``git_dirty``, ``python``,
        ``python_implementation``, ``platform``, ``machine``, ``cpu_count`` and
        ``packages`` (name to version).
    """
    return {
        "greenscore_version": __version__,
        "git_commit": git_commit(path),
        "git_dirty": git_dirty(path),
        "python": platform.python_version(),
        "python_implementation": platform.python_implementation(),
        "platform": platform.platform(),
        "machine": platform.machine(),
        "cpu_count": os.cpu_count(),
        "packages": package_versions(),
    }
