"""Seeds and environment capture."""

from __future__ import annotations

import os
import random
import subprocess
from pathlib import Path

import numpy as np
import pytest

import greenscore
from greenscore.errors import ConfigError
from greenscore.tracking.environment import (
    environment_info,
    git_commit,
    git_dirty,
    package_versions,
)
from greenscore.tracking.seeds import seed_everything


def _draws() -> tuple[float, float]:
    return random.random(), float(np.random.rand())


def test_seed_everything_repeats_python_and_numpy(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PYTHONHASHSEED", raising=False)
    report = seed_everything(123, torch=False)
    first = _draws()
    seed_everything(123, torch=False)
    assert _draws() == first
    seed_everything(124, torch=False)
    assert _draws() != first
    assert report == {
        "seed": 123,
        "python": True,
        "numpy": True,
        "torch": False,
        "hash_seed_fixed": report["hash_seed_fixed"],
    }
    assert os.environ["PYTHONHASHSEED"] == "124"


def test_seed_everything_seeds_torch() -> None:
    import torch

    assert seed_everything(5)["torch"] is True
    a = torch.rand(3)
    seed_everything(5)
    assert torch.equal(a, torch.rand(3))


@pytest.mark.parametrize("seed", [-1, 2**32])
def test_seed_out_of_range(seed: int) -> None:
    with pytest.raises(ConfigError, match="seed must be an integer in"):
        seed_everything(seed, torch=False)


def test_git_commit_of_the_source_tree() -> None:
    src = Path(greenscore.__file__).parent
    done = subprocess.run(["git", "rev-parse", "HEAD"], cwd=src, capture_output=True, text=True)
    expected = done.stdout.strip() if done.returncode == 0 else None
    assert git_commit() == expected
    if expected:
        assert len(expected) == 40 and isinstance(git_dirty(), bool)


def test_git_commit_outside_a_work_tree(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GIT_CEILING_DIRECTORIES", str(tmp_path.parent))
    assert git_commit(tmp_path) is None
    assert git_dirty(tmp_path) is None


def test_environment_info_and_versions() -> None:
    info = environment_info()
    assert info["greenscore_version"] == greenscore.__version__
    assert info["python"].count(".") == 2
    assert info["packages"]["numpy"] == np.__version__
    assert set(info["packages"]) >= {"scikit-learn", "mlflow", "codecarbon", "lightgbm"}
    assert package_versions(["no-such-package-here"]) == {"no-such-package-here": None}
