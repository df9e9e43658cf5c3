"""``greenscore score -m PATH`` where the path holds no model: the caller's mistake, exit 2
with the path named (a train run folder is pointed at its ``model/``); a bundle that is
there but unsigned is still refused as a model problem, exit 3."""

from __future__ import annotations

import pickle
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline

from greenscore.data.spec import DatasetSpec
from greenscore.errors import NotFoundError
from greenscore.models.bundle import (
    BUNDLE_FILE,
    NO_BUNDLE,
    RUN_FOLDER_HINT,
    NoBundleError,
    ScoringBundle,
)

Cli = Callable[..., tuple[int, str, str]]
X = pd.DataFrame({"x": [0.0, 1.0, 2.0, 3.0]})


@pytest.fixture
def data(greenscore_home: Path) -> Path:
    path = greenscore_home / "apps.csv"
    X.assign(y=[0, 0, 1, 1]).to_csv(path, index=False)
    return path


def _score(run_cli: Cli, model: Path, data: Path) -> tuple[int, str, str]:
    return run_cli("score", "-m", model, "-d", data, "-o", data.parent / "scored.csv")


def test_a_missing_model_folder_exits_2_naming_it(run_cli: Cli, data: Path) -> None:
    missing = data.parent / "nosuch"
    code, _, err = _score(run_cli, missing, data)
    assert code == 2
    assert f"error: {NO_BUNDLE.format(folder=missing)}\n" in err
    # Still a NotFoundError (HTTP 404) for the code that catches one.
    with pytest.raises(NotFoundError):
        ScoringBundle.load(missing)
    assert NoBundleError.http_status == 404


def test_a_run_folder_is_pointed_at_its_model(run_cli: Cli, data: Path) -> None:
    run = data.parent / "run"
    pipe = Pipeline([("clf", LogisticRegression())]).fit(X, [0, 0, 1, 1])
    ScoringBundle(name="logit", spec=DatasetSpec(target="y", numeric=["x"]), pipeline=pipe).save(
        run / "model"
    )
    code, _, err = _score(run_cli, run, data)
    assert code == 2
    assert RUN_FOLDER_HINT.format(folder=run, model=run / "model") in err
    assert err.rstrip().endswith(f"did you mean {run / 'model'}?")
    assert _score(run_cli, run / "model", data)[0] == 0


def test_an_unsigned_bundle_keeps_its_exit_code(run_cli: Cli, data: Path) -> None:
    folder = data.parent / "unsigned"
    folder.mkdir()
    (folder / BUNDLE_FILE).write_bytes(pickle.dumps({"not": "a bundle"}))
    code, _, err = _score(run_cli, folder, data)
    assert code == 3 and "is not signed" in err


@pytest.mark.parametrize(
    "command",
    [("card", "-m"), ("model", "sign", "--user", "nobody", "--totp", "000000", "-m")],
    ids=["card", "model sign"],
)
def test_other_commands_given_no_model_exit_2_too(
    run_cli: Cli, data: Path, command: tuple[str, ...]
) -> None:
    code, _, err = run_cli(*command, data.parent / "nosuch")
    assert code == 2, err
    assert "nosuch" in err
