"""``greenscore synthesize`` end to end: files, the spec beside them, the quality report, bad
input; and the acceptance on the whole Taiwan file (slow): train-on-synthetic AUC at least
0.9 of train-on-real, no synthetic row equal to a real one, all three families reported."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pandas as pd
import pytest

from greenscore import cli
from greenscore.config import Settings, use_settings
from greenscore.data.loading import load_dataset
from greenscore.data.spec import DatasetSpec

TAIWAN = "/work/shared/data/UCI_Credit_Card.csv"
#: CTGAN passes for the whole-file acceptance (what fits a few minutes here; see the README).
TAIWAN_EPOCHS = 30


@pytest.fixture(autouse=True)
def home(tmp_path: Path):
    use_settings(Settings(home=tmp_path / "home"))
    yield tmp_path
    use_settings(None)


@pytest.fixture
def run(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]):
    def _run(*args: object) -> tuple[int, str, str]:
        monkeypatch.setattr(sys, "argv", ["greenscore", *map(str, args)])
        try:
            cli.main()
            code = 0
        except SystemExit as exc:
            code = exc.code or 0
        captured = capsys.readouterr()
        return code, captured.out, captured.err

    return _run


def _sample(tmp_path: Path, rows: int) -> Path:
    path = tmp_path / f"taiwan-{rows}.csv"
    pd.read_csv(TAIWAN).sample(rows, random_state=0).to_csv(path, index=False)
    return path


def _no_real_row(real: pd.DataFrame, synthetic: pd.DataFrame, id_column: str) -> bool:
    columns = [c for c in real.columns if c != id_column]
    seen = set(map(tuple, real[columns].astype(str).to_numpy()))
    return not any(tuple(r) in seen for r in synthetic[columns].astype(str).to_numpy())


def _check_report(folder: Path) -> dict:
    quality = json.loads((folder / "quality.json").read_text())
    assert {"fidelity", "privacy", "utility"} <= set(quality)
    assert (
        quality["fidelity"]["column_shapes"]["columns"]
        and quality["fidelity"]["pair_trends"]["pairs"]
    )
    assert quality["privacy"]["exact_copies"] == 0
    assert 0 <= quality["privacy"]["membership_inference_auc"] <= 1
    page = (folder / "quality.html").read_text()
    for heading in ("Fidelity", "Privacy", "Utility"):
        assert f"<h2>{heading}</h2>" in page
    return quality


def test_copula_writes_the_file_its_spec_and_the_quality_report(tmp_path: Path, run) -> None:
    data = _sample(tmp_path, 2500)
    out = tmp_path / "out" / "synthetic.csv"
    code, stdout, err = run(
        "synthesize", "-d", data, "-p", "taiwan", "--rows", "1000", "--method", "copula",
        "-o", out, "--report", tmp_path / "report", "--seed", "1",
    )  # fmt: skip
    assert code == 0, err
    synthetic = pd.read_csv(out)
    real = pd.read_csv(data)
    assert len(synthetic) == 1000 and list(synthetic.columns) == list(real.columns)
    assert synthetic["ID"].tolist() == list(range(1, 1001))
    assert _no_real_row(real, synthetic, "ID")
    spec = DatasetSpec.from_yaml(tmp_path / "out" / "synthetic.spec.yaml")
    assert spec.name == "taiwan-synthetic" and spec.protected == ["SEX", "MARRIAGE", "AGE"]
    assert spec.immutable == ["AGE", "SEX", "MARRIAGE", "EDUCATION"]
    assert load_dataset(out, spec=spec).y.sum() > 0  # readable with the spec it came with
    quality = _check_report(tmp_path / "report")
    assert quality["run"]["fit_rows"] == 2000 and quality["run"]["holdout_rows"] == 500
    assert "utility: TSTR" in stdout and "report" in stdout


def test_ctgan_runs_through_the_same_path(tmp_path: Path, run) -> None:
    data = _sample(tmp_path, 400)
    out = tmp_path / "ctgan.parquet"
    code, _, err = run(
        "synthesize", "-d", data, "-p", "taiwan", "--rows", "300", "--method", "ctgan",
        "--epochs", "1", "-o", out,
    )  # fmt: skip
    assert code == 0, err
    synthetic = pd.read_parquet(out)
    assert len(synthetic) == 300 and (tmp_path / "ctgan.spec.yaml").exists()
    real = pd.read_csv(data)
    assert synthetic["AGE"].between(real["AGE"].min(), real["AGE"].max()).all()
    assert set(synthetic["EDUCATION"]) <= set(real["EDUCATION"])
    assert "--method ctgan" in (tmp_path / "ctgan.spec.yaml").read_text()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--method", "gan"], "Invalid value for '--method'"),
        (["-o", "synthetic.txt"], "--out must end in .csv, .parquet, .json or .jsonl, not '.txt'"),
        (["--rows", "0"], "Invalid value for '--rows'"),
    ],
)
def test_bad_options_exit_2_naming_them(tmp_path: Path, run, args: list[str], message: str) -> None:
    base = {"-o": str(tmp_path / "s.csv"), "--rows": "10", "--method": "copula"}
    for flag, value in zip(args[::2], args[1::2], strict=True):
        base[flag] = value
    code, _, err = run("synthesize", "-d", TAIWAN, "-p", "taiwan", *sum(base.items(), ()))
    assert code == 2
    assert message in " ".join(err.replace("│", " ").split())


# CTGAN misses the utility bar here (0.870 x TRTR at 30 epochs, 0.804 x at 80; measured
# 2026-12-03), which is why the copula is the default. Strict: should CTGAN reach the bar,
# this fails and says so, and the default can be reconsidered.
CTGAN_BELOW_BAR = pytest.mark.xfail(
    strict=True, reason="CTGAN's train-on-synthetic AUC is below 0.9 x train-on-real on Taiwan"
)


@pytest.mark.slow
@pytest.mark.parametrize(
    ("method", "epochs"),
    [("copula", None), pytest.param("ctgan", TAIWAN_EPOCHS, marks=CTGAN_BELOW_BAR)],
)
def test_taiwan_synthetic_data_is_useful_and_private(
    tmp_path: Path, run, method: str, epochs: int | None
) -> None:
    out = tmp_path / f"{method}.csv"
    extra = ["--epochs", str(epochs)] if epochs else []
    code, stdout, err = run(
        "synthesize", "-d", TAIWAN, "-p", "taiwan", "--rows", "30000", "--method", method,
        "-o", out, "--report", tmp_path / "report", *extra,
    )  # fmt: skip
    assert code == 0, err
    print(stdout)
    quality = _check_report(tmp_path / "report")
    utility = quality["utility"]
    assert utility["tstr_auc"] >= 0.9 * utility["trtr_auc"], utility
    assert _no_real_row(pd.read_csv(TAIWAN), pd.read_csv(out), "ID")
