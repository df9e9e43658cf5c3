"""MLflow from the command line: everything lands in the home folder's store.

``greenscore train --register`` run from some other folder (a checkout) used to leave an
empty ``mlflow.db`` there (MLflow's own default registry URI) beside the home folder's
store. Here one small training with registration runs in-process from a scratch working
folder with the home elsewhere; the model is then loaded back through the registry,
scored with cut-offs overridden, and MLflow's UI is started over the same store.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pandas as pd
import pytest

from greenscore import cli as cli_module
from greenscore.config import Settings, use_settings
from greenscore.data.synthetic import generate

MODEL = "usage-pd"
ROWS = 400
_MLFLOW_URI_VARIABLES = ("MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI")


def _main(*args: str) -> int:
    try:
        cli_module.main(list(args))
    except SystemExit as stopped:
        return int(stopped.code or 0)
    return 0


def _forget_mlflow_uris() -> None:
    """Start from MLflow's defaults, as a new process does: an earlier test in this process
    may have set its global URIs (which MLflow also copies into these variables)."""
    import mlflow

    mlflow.set_tracking_uri(None)
    mlflow.set_registry_uri(None)
    for name in _MLFLOW_URI_VARIABLES:
        os.environ.pop(name, None)


@pytest.fixture(scope="module")
def place(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Path]]:
    root = tmp_path_factory.mktemp("tracking")
    paths = {"root": root, "cwd": root / "checkout", "home": root / "home"}
    paths["cwd"].mkdir()
    paths["data"] = generate(ROWS, seed=3).write(root / "data")["applications"]
    use_settings(Settings(home=paths["home"]))
    _forget_mlflow_uris()
    before = Path.cwd()
    os.chdir(paths["cwd"])
    try:
        yield paths
    finally:
        os.chdir(before)
        use_settings(None)
        _forget_mlflow_uris()


@pytest.fixture(scope="module")
def trained(place: dict[str, Path]) -> dict[str, Path]:
    out = place["root"] / "run"
    code = _main(
        "train",
        "-d",
        str(place["data"]),
        "-p",
        "synthetic",
        "--models",
        "scorecard",
        "--cv",
        "2",
        "--register",
        MODEL,
        "-o",
        str(out),
        "--approve-below",
        "0.05",
        "--decline-above",
        "0.5",
    )
    assert code == 0
    return {**place, "out": out}


def test_train_register_leaves_nothing_in_the_working_folder(trained: dict[str, Path]) -> None:
    assert sorted(p.name for p in trained["cwd"].iterdir()) == []
    assert (trained["home"] / "mlflow.db").is_file()
    assert (trained["out"] / "model" / "bundle.joblib").is_file()


def test_the_registered_model_loads_from_the_home_store_with_its_cutoffs(
    trained: dict[str, Path],
) -> None:
    # A new process, so that nothing this one set points MLflow at the home store for it.
    env = {k: v for k, v in os.environ.items() if k not in _MLFLOW_URI_VARIABLES}
    env["GREENSCORE_HOME"] = str(trained["home"])
    code = (
        "import greenscore; "
        f"b = greenscore.load_model('models:/{MODEL}@champion'); "
        "print(b.scoring.approve_below, b.scoring.decline_above, b.metadata.registry.version)"
    )
    done = subprocess.run(
        [sys.executable, "-c", code],
        cwd=trained["cwd"],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.split() == ["0.05", "0.5", "1"]
    assert sorted(p.name for p in trained["cwd"].iterdir()) == []


def test_score_overrides_the_models_cutoffs_with_a_warning(
    trained: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    model = f"models:/{MODEL}@champion"
    data = str(trained["data"])
    own, other = trained["root"] / "own.csv", trained["root"] / "other.csv"
    assert _main("score", "-m", model, "-d", data, "-o", str(own)) == 0
    assert "cut-offs overridden" not in capsys.readouterr().err
    args = ("--approve-below", "0.2", "--decline-above", "0.6")
    assert _main("score", "-m", model, "-d", data, "-o", str(other), *args) == 0
    err = capsys.readouterr().err
    assert "cut-offs overridden for this run: approve below 0.2, decline above 0.6" in err
    assert "(the model was trained with 0.05 / 0.5)" in err
    first, second = pd.read_csv(own), pd.read_csv(other)
    pd_ = first["probability_of_default"]
    pd.testing.assert_series_equal(pd_, second["probability_of_default"])
    for frame, (low, high) in ((first, (0.05, 0.5)), (second, (0.2, 0.6))):
        expected = ["approve" if p < low else "decline" if p > high else "review" for p in pd_]
        assert frame["decision"].tolist() == expected
    assert sorted(p.name for p in trained["cwd"].iterdir()) == []


def test_mlflow_ui_serves_the_home_store(trained: dict[str, Path]) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {k: v for k, v in os.environ.items() if k not in _MLFLOW_URI_VARIABLES}
    env["GREENSCORE_HOME"] = str(trained["home"])
    proc = subprocess.Popen(
        [sys.executable, "-m", "greenscore.cli", "mlflow", "ui", "--port", str(port)],
        cwd=trained["cwd"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 180  # MLflow's server imports slowly on a busy machine
        page = None
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                page = httpx.get(f"{url}/", timeout=2)
                break
            except httpx.HTTPError:
                time.sleep(0.5)
        assert page is not None and page.status_code == 200, proc.poll()
        assert "<html" in page.text.lower()
        found = httpx.get(f"{url}/ajax-api/2.0/mlflow/registered-models/search", timeout=10)
        assert [m["name"] for m in found.json()["registered_models"]] == [MODEL]
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)
    assert sorted(p.name for p in trained["cwd"].iterdir()) == []
