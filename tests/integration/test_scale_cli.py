"""The ``--engine``/``--scheduler`` options and the chunked generator, without a cluster."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from greenscore.cli import app
from greenscore.config import Settings, use_settings
from greenscore.data.synthetic import generate
from greenscore.data.synthetic_parts import chunk_sizes, write_synthetic_parts
from greenscore.scale.cluster import ERR_SCHEDULER, ERR_SCHEDULER_WITHOUT_DASK, check_engine


@pytest.fixture(autouse=True)
def _isolated_settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("GREENSCORE_HOME", str(tmp_path / "home"))
    use_settings(Settings(home=tmp_path / "home", seed=9))
    yield
    use_settings(None)


def test_generate_writes_a_portfolio_chunk_by_chunk(tmp_path: Path) -> None:
    out = tmp_path / "big"
    result = CliRunner().invoke(
        app, ["generate", "--rows", "130", "--chunk-rows", "50", "--seed", "4", "--out", str(out)]
    )
    assert result.exit_code == 0, result.output
    parts = sorted((out / "applications").glob("part-*.parquet"))
    assert [p.name for p in parts] == [f"part-0000{k}.parquet" for k in range(3)]
    frame = pd.read_parquet(out / "applications")
    assert len(frame) == 130 and frame["applicant_id"].is_unique
    edges = pd.read_parquet(out / "relations")
    assert set(edges["source_id"]) <= set(frame["applicant_id"])
    # A chunk is the generator's own output for its seed, its ids shifted.
    assert (out / "datasheet.md").exists()


def test_a_chunked_run_started_again_keeps_the_parts_written(tmp_path: Path) -> None:
    write_synthetic_parts(tmp_path, rows=100, seed=1, chunk_rows=50)
    first = (tmp_path / "applications" / "part-00001.parquet").read_bytes()
    (tmp_path / "applications" / "part-00000.parquet").unlink()
    write_synthetic_parts(tmp_path, rows=100, seed=1, chunk_rows=50)
    assert (tmp_path / "applications" / "part-00001.parquet").read_bytes() == first
    again = pd.read_parquet(tmp_path / "applications")
    assert sorted(again["applicant_id"]) == list(range(100_001, 100_101))
    assert len(generate(50, seed=1).applications.columns) == len(again.columns)


def test_chunk_sizes_fold_a_tiny_remainder_into_the_last_chunk() -> None:
    assert chunk_sizes(250, 100) == [100, 100, 50]
    assert chunk_sizes(205, 100) == [100, 105]


@pytest.mark.parametrize(
    ("engine", "scheduler", "expected"),
    [
        ("pandas", None, None),
        ("dask", None, "local:2"),
        ("dask", "local:3", "local:3"),
        ("dask", "tcp://10.0.0.5:8786", "tcp://10.0.0.5:8786"),
    ],
)
def test_engine_and_scheduler_resolve(engine: str, scheduler: str | None, expected: str) -> None:
    assert check_engine(engine, scheduler) == expected


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--scheduler", "local:2"], ERR_SCHEDULER_WITHOUT_DASK),
        (["--engine", "dask", "--scheduler", "local:0"], ERR_SCHEDULER.format(value="local:0")),
        (["--engine", "spark"], "--engine must be pandas or dask, not 'spark'"),
    ],
)
def test_validate_refuses_a_bad_engine_or_scheduler(
    tmp_path: Path, args: list[str], message: str, run_cli: Callable[..., tuple[int, str, str]]
) -> None:
    """A bad engine or scheduler is a usage mistake: usage line, the message, exit 2."""
    data = tmp_path / "d.csv"
    data.write_text("x,y\n1,0\n2,1\n", encoding="utf-8")
    code, _, err = run_cli("validate", "--data", data, "--target", "y", *args)
    assert code == 2
    assert err.startswith("Usage: greenscore validate [OPTIONS]")
    # Rich boxes the message and may wrap it: compare the words, not the lines.
    told = " ".join(w for line in err.splitlines() for w in line.strip("│ ").split())
    assert message in told, err
