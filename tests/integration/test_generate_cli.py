"""``greenscore generate`` and ``write_synthetic`` on disk: files, bytes, reading back."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from greenscore.cli import app
from greenscore.commands.generate import ERR_OUT_IS_FILE
from greenscore.config import Settings, use_settings
from greenscore.data.loading import load_dataset
from greenscore.data.synthetic import (
    APPLICATIONS_FILE,
    DATASHEET_FILE,
    RELATIONS_FILE,
    write_synthetic,
)
from greenscore.errors import ConfigError

FILES = (APPLICATIONS_FILE, RELATIONS_FILE, DATASHEET_FILE)


@pytest.fixture(autouse=True)
def _isolated_settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("GREENSCORE_HOME", str(tmp_path / "home"))
    use_settings(Settings(home=tmp_path / "home", seed=9))
    yield
    use_settings(None)


def test_cli_writes_the_three_files(tmp_path: Path) -> None:
    out = tmp_path / "gen"
    result = CliRunner().invoke(
        app,
        ["generate", "--rows", "500", "--seed", "4", "--out", str(out), "--default-rate", "0.12"],
    )
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in out.iterdir()) == sorted(FILES)
    assert "wrote 500 applications (default rate 12.0%, seed 4)" in result.output
    dataset = load_dataset(out / APPLICATIONS_FILE, preset="synthetic")
    assert len(dataset.frame) == 500
    assert dataset.y.sum() == 60
    assert dataset.relations is not None and len(dataset.relations) > 0
    assert "Default rate 12.0% (asked for 12.0%)" in (out / DATASHEET_FILE).read_text()


def test_cli_seed_defaults_to_the_settings_seed(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["generate", "--rows", "100", "--out", str(tmp_path / "g")])
    assert result.exit_code == 0, result.output
    assert "seed 9)" in result.output


def test_cli_refuses_a_file_as_out(tmp_path: Path) -> None:
    target = tmp_path / "taken.txt"
    target.write_text("x")
    result = CliRunner().invoke(app, ["generate", "--rows", "100", "--out", str(target)])
    assert isinstance(result.exception, ConfigError)
    assert str(result.exception) == ERR_OUT_IS_FILE.format(path=target)
    assert target.read_text() == "x"


def test_same_seed_writes_byte_identical_files(tmp_path: Path) -> None:
    first = write_synthetic(tmp_path / "a", rows=800, seed=21, default_rate=0.15)
    second = write_synthetic(tmp_path / "b", rows=800, seed=21, default_rate=0.15)
    for key, path in first.items():
        assert path.read_bytes() == second[key].read_bytes(), key
    other = write_synthetic(tmp_path / "c", rows=800, seed=22, default_rate=0.15)
    assert other["applications"].read_bytes() != first["applications"].read_bytes()


@pytest.mark.parametrize("chunked", [False, True], ids=["one-file", "parts"])
def test_first_id_gives_a_later_file_ids_of_its_own(tmp_path: Path, chunked: bool) -> None:
    """Applicants generated to be scored by a model trained on another generated file
    must not reuse its ids (each would be scored with a training borrower's links): with
    ``--first-id`` the ids, and the relations' ids, run on from it; the data is the same."""
    import pandas as pd

    parts = ["--chunk-rows", "150"] if chunked else []
    for name, first in (("default", None), ("later", "200001")):
        args = ["generate", "--rows", "300", "--seed", "5", "--out", str(tmp_path / name)]
        result = CliRunner().invoke(app, args + parts + (["--first-id", first] if first else []))
        assert result.exit_code == 0, result.output
    read = {n: load_dataset(tmp_path / n, preset="synthetic") for n in ("default", "later")}
    base, later = (read[n].frame for n in ("default", "later"))
    assert base["applicant_id"].tolist() == list(range(100_001, 100_301))
    assert later["applicant_id"].tolist() == list(range(200_001, 200_301))
    shift = 100_000
    pd.testing.assert_frame_equal(
        later.drop(columns="applicant_id"), base.drop(columns="applicant_id")
    )
    links = {n: read[n].relations for n in ("default", "later")}
    for column in ("source_id", "target_id"):
        assert (links["later"][column] - links["default"][column] == shift).all()
    result = CliRunner().invoke(
        app, ["generate", "--rows", "100", "--first-id", "0", "--out", str(tmp_path / "x")]
    )
    assert result.exit_code == 2 and "--first-id" in result.output
