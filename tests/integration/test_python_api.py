"""The Python API a notebook uses: ``from greenscore import train, load_model, score,
explain_applicants``. Same workflows as the command line, so the same files, PDs and
decisions; ``import greenscore`` itself stays instant (the API loads on first use)."""

from __future__ import annotations

import json
import subprocess
import sys
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

import greenscore as gs
from greenscore import cli as cli_module
from greenscore.config import Settings, TrackingSettings, use_settings
from greenscore.data.io import read_table
from greenscore.data.synthetic import generate
from greenscore.errors import ConfigError

ROWS = 400
COMPARED = ["probability_of_default", "score", "decision"]


def test_import_greenscore_loads_no_library() -> None:
    probe = (
        "import sys, greenscore; "
        "heavy = {'typing', 'pandas', 'numpy', 'sklearn', 'mlflow', 'typer', 'greenscore.api'}; "
        "print(sorted(m for m in sys.modules if m in heavy or m.split('.')[0] in heavy))"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


def test_every_public_name_resolves() -> None:
    for name in gs.__all__:
        assert getattr(gs, name) is not None
    assert {"train", "load_model", "score", "explain_applicants"} <= set(dir(gs))
    with pytest.raises(AttributeError):
        gs.no_such_function  # noqa: B018


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    root = tmp_path_factory.mktemp("api")
    data = generate(ROWS, seed=5).write(root / "data")["applications"]
    # Tracking has its own tests (test_cli_tracking); here it would only add MLflow's start-up.
    use_settings(Settings(home=root / "home", tracking=TrackingSettings(enabled=False)))
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            result = gs.train(
                data,
                preset="synthetic",
                models=["scorecard"],
                cv=2,
                out=root / "run",
                seed=5,
                approve_below=0.08,
            )
        yield {"root": root, "data": data, "result": result, "warnings": caught}
    finally:
        use_settings(None)


def test_train_returns_the_runs_figures_and_writes_its_files(run: dict[str, Any]) -> None:
    result = run["result"]
    assert isinstance(result, gs.TrainResult)
    assert result.best == "scorecard"
    assert result.metrics["dataset"]["rows"] == ROWS
    assert result.metrics["cv"]["folds"] == 2
    assert 0.5 < result.metrics["models"]["scorecard"]["auc"] <= 1.0
    assert result.results["scorecard"].oof.shape == (ROWS,)
    saved = json.loads((result.out / "metrics.json").read_text("utf-8"))
    assert saved["models"]["scorecard"]["auc"] == result.metrics["models"]["scorecard"]["auc"]
    assert (result.out / "report.html").is_file()
    bundle = gs.load_model(result.out / "model")
    assert isinstance(bundle, gs.ScoringBundle)
    assert (bundle.scoring.approve_below, bundle.scoring.decline_above) == (0.08, 0.30)


def test_train_refuses_a_non_empty_out_without_force(run: dict[str, Any]) -> None:
    out = run["result"].out
    before = (out / "metrics.json").read_bytes()
    with pytest.raises(ConfigError, match="is not empty.*force=True"):
        gs.train(run["data"], preset="synthetic", out=out)
    assert (out / "metrics.json").read_bytes() == before


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"cv": 1}, "cv must be between 2 and 20 folds, not 1"),
        ({"cv_strategy": "random"}, "--cv-strategy must be stratified or time, not 'random'"),
        ({"approve_below": 0.5}, "must not exceed decline_above"),
    ],
)
def test_train_refuses_bad_options(
    run: dict[str, Any], tmp_path: Path, options: dict[str, Any], message: str
) -> None:
    with pytest.raises(ConfigError, match=message):
        gs.train(run["data"], preset="synthetic", out=tmp_path / "x", **options)


def test_score_gives_the_same_rows_as_the_cli(run: dict[str, Any], tmp_path: Path) -> None:
    model = str(run["result"].out / "model")
    scored = gs.score(model, run["data"])
    assert len(scored) == ROWS
    out = tmp_path / "scored.parquet"
    try:
        cli_module.main(["score", "-m", model, "-d", str(run["data"]), "-o", str(out)])
    except SystemExit as stopped:
        assert not stopped.code
    from_cli = pd.read_parquet(out)
    pd.testing.assert_frame_equal(
        scored[COMPARED].reset_index(drop=True), from_cli[COMPARED].reset_index(drop=True)
    )
    # A frame the notebook already holds scores the same as its file.
    from_frame = gs.score(gs.load_model(model), read_table(run["data"]))
    pd.testing.assert_frame_equal(from_frame[COMPARED], scored[COMPARED])
    low, high = 0.08, 0.30  # the cut-offs train stored
    pd_ = scored["probability_of_default"].to_numpy()
    expected = np.where(pd_ < low, "approve", np.where(pd_ > high, "decline", "review"))
    assert (scored["decision"].to_numpy() == expected).all()


def test_score_with_other_cutoffs_warns(run: dict[str, Any]) -> None:
    bundle = gs.load_model(run["result"].out / "model")
    with pytest.warns(UserWarning, match="cut-offs overridden for this run: approve below 0.2"):
        scored = gs.score(bundle, run["data"], approve_below=0.2, decline_above=0.6)
    pd_ = scored["probability_of_default"].to_numpy()
    expected = np.where(pd_ < 0.2, "approve", np.where(pd_ > 0.6, "decline", "review"))
    assert (scored["decision"].to_numpy() == expected).all()
    assert bundle.scoring.approve_below == 0.08  # the loaded model keeps its own


def test_explain_applicants_writes_the_cli_report(run: dict[str, Any], tmp_path: Path) -> None:
    bundle = gs.load_model(run["result"].out / "model")
    report = gs.explain_applicants(
        bundle,
        run["data"],
        out=tmp_path / "explain",
        rows=[0, 1],
        shap_rows=50,
        lime=False,
        counterfactuals=False,
    )
    assert (tmp_path / "explain" / "explanation.json").is_file()
    assert [row["row"] for row in report["rows"]] == [0, 1]
    scored = gs.score(bundle, run["data"])
    for row in report["rows"]:
        assert row["probability_of_default"] == pytest.approx(
            scored["probability_of_default"].iloc[row["row"]], abs=1e-12
        )
