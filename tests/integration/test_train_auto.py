"""``greenscore train --models auto`` and named ensembles on a file the CLI has never seen.

The messy export of :mod:`test_train_cli` (only ``--target`` given) trains an ensemble
without edits; a member that cannot fit this data (an LSTM, with no monthly histories to
read) is dropped with its reason logged, not a crash. Real subprocesses, as a user runs it.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
from test_train_cli import TARGET, _run, unfamiliar_file  # noqa: E402


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("auto")


@pytest.fixture(scope="module")
def small_file(workdir: Path) -> Path:
    path = workdir / "export.csv"
    unfamiliar_file(path, rows=500, seed=5)
    return path


def test_a_failing_member_is_dropped_with_a_logged_reason(workdir: Path, small_file: Path) -> None:
    run = _run(
        [
            "train",
            "--data",
            str(small_file),
            "--target",
            TARGET,
            "--models",
            "ensemble:scorecard+logistic+lstm",
            "--cv",
            "2",
            "--tune-trials",
            "0",
            "--out",
            "dropped",
        ],
        workdir,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    metrics = json.loads((workdir / "dropped" / "metrics.json").read_text("utf-8"))
    section = metrics["ensemble"]
    assert set(section["members"]) == {"scorecard", "logistic"}
    assert "sequence" in section["dropped"]["lstm"]  # why: the file has no monthly histories
    assert "ensemble member dropped" in run.stdout + run.stderr
    assert metrics["best"] == "ensemble"
    assert 0.6 < metrics["models"]["ensemble"]["auc"] <= 1.0
    assert (workdir / "dropped" / "models" / "scorecard" / "bundle.joblib").is_file()


@pytest.mark.slow
def test_auto_trains_an_unfamiliar_file_within_its_plan(workdir: Path, small_file: Path) -> None:
    run = _run(
        [
            "train",
            "--data",
            str(small_file),
            "--target",
            TARGET,
            "--models",
            "auto",
            "--time-budget",
            "90s",
            "--cv",
            "3",
            "--out",
            "auto",
        ],
        workdir,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    metrics = json.loads((workdir / "auto" / "metrics.json").read_text("utf-8"))
    plan = metrics["ensemble"]["plan"]
    assert plan["budget_s"] == 90 and "scorecard" in plan["members"]
    # Every candidate is either planned or skipped with a reason.
    probed = {p["name"] for p in plan["probes"]}
    assert probed == set(plan["members"]) | set(plan["skipped"])
    assert all(plan["skipped"].values())
    assert metrics["best"] == "ensemble"
    assert set(metrics["ensemble"]["members"]) <= set(plan["members"])
    assert 0.6 < metrics["models"]["ensemble"]["auc"] <= 1.0
    # The scorecard is kept beside the ensemble as the single-model fallback.
    assert metrics["models"]["scorecard"]["fallback_for"] == "ensemble"
    assert (workdir / "auto" / "model" / "bundle.joblib").is_file()
