"""``greenscore train`` and ``greenscore score`` from the command line.

An unfamiliar credit file (mixed types, missing values, odd category labels, a text id,
a date, a ``Y``/``N`` target named ``Defaulted?``) must train with nothing but
``--target`` and then score row for row. Usage mistakes exit 2 with one line on stderr.
The train and score runs are real subprocesses; the usage errors run ``cli.main``
in-process, since they stop before any work.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from greenscore.config import Settings, use_settings

ROWS = 1200
TARGET = "Defaulted?"


def unfamiliar_file(path: Path, *, rows: int = ROWS, seed: int = 11) -> pd.DataFrame:
    """Write a messy applications CSV of the kind a lender exports from a spreadsheet."""
    rng = np.random.default_rng(seed)
    debt_ratio = rng.beta(2, 5, rows)
    late = rng.poisson(0.6, rows)
    employed = rng.random(rows) < 0.8
    income = rng.lognormal(10.6, 0.45, rows)
    logit = -2.2 + 3.5 * debt_ratio + 0.7 * late - 0.9 * employed - 0.5 * (np.log(income) - 10.6)
    defaulted = rng.random(rows) < 1 / (1 + np.exp(-logit))

    def messy(values: np.ndarray, variants: dict[str, list[str]]) -> list[str]:
        return [str(rng.choice(variants[v])) for v in values]

    frame = pd.DataFrame(
        {
            "Loan Ref": [f"LN-{i:06d}" for i in rng.permutation(rows) + 1],
            "Application Date": (
                pd.Timestamp("2023-01-01") + pd.to_timedelta(rng.integers(0, 700, rows), unit="D")
            ).strftime("%Y-%m-%d"),
            "Annual Income": np.round(income, 2).astype(object),
            "Debt Ratio": np.round(debt_ratio, 4),
            "Late Payments (12m)": late.astype(float),
            "Employed": messy(
                np.where(employed, "yes", "no"),
                {"yes": ["  Yes", "yes", "YES ", "Yes"], "no": ["No", "no ", " NO"]},
            ),
            "Home": messy(
                rng.choice(["rent", "own", "mortgage"], rows),
                {
                    "rent": ["Rent", "rent ", "RENT"],
                    "own": ["Own", "OWN"],
                    "mortgage": ["Mortgage"],
                },
            ),
            "Purpose": rng.choice(["Car", "car", " Medical", "Debt consolidation", "other"], rows),
            TARGET: np.where(defaulted, "Y", "N"),
        }
    )
    # Missing values as spreadsheets write them: empty cells, "n/a", "?".
    holes = rng.random(rows)
    frame.loc[holes < 0.04, "Annual Income"] = "n/a"
    frame.loc[(holes >= 0.04) & (holes < 0.07), "Annual Income"] = None
    frame.loc[rng.random(rows) < 0.05, "Late Payments (12m)"] = np.nan
    frame.loc[rng.random(rows) < 0.03, "Employed"] = "n/a"
    frame.loc[rng.random(rows) < 0.03, "Home"] = None
    frame.loc[rng.random(rows) < 0.02, "Debt Ratio"] = np.nan
    frame.to_csv(path, index=False)
    return frame


def _run(args: list[str], home: Path, **settings: str) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        **settings,
        "GREENSCORE_HOME": str(home / ".greenscore"),
        # Tracking is covered by test_train_workflow; here it would only add MLflow start-up.
        "GREENSCORE_TRACKING__ENABLED": "false",
        "OMP_NUM_THREADS": "1",
    }
    return subprocess.run(
        [sys.executable, "-m", "greenscore.cli", *args],
        cwd=home,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("cli")


@pytest.fixture(scope="module")
def messy(workdir: Path) -> tuple[Path, pd.DataFrame]:
    path = workdir / "applications export.csv"
    return path, unfamiliar_file(path)


@pytest.fixture(scope="module")
def trained(workdir: Path, messy: tuple[Path, pd.DataFrame]) -> subprocess.CompletedProcess[str]:
    path, _ = messy
    # No --cv: the folds come from the settings (training.cv_folds), not a fixed 5.
    return _run(
        ["train", "--data", str(path), "--target", TARGET, "--out", "out"],
        workdir,
        GREENSCORE_TRAINING__CV_FOLDS="3",
    )


def test_unfamiliar_file_trains_with_only_a_target(
    trained: subprocess.CompletedProcess[str], workdir: Path
) -> None:
    import json

    assert trained.returncode == 0, trained.stderr[-3000:]
    metrics = json.loads((workdir / "out" / "metrics.json").read_text("utf-8"))
    assert set(metrics["models"]) == {"scorecard", "lightgbm"}
    assert metrics["dataset"]["rows"] == ROWS
    assert metrics["cv"]["folds"] == 3
    for figures in metrics["models"].values():
        assert 0.6 < figures["auc"] <= 1.0  # the planted risk is found, not noise
    assert (workdir / "out" / "report.html").is_file()
    assert (workdir / "out" / "model" / "bundle.joblib").is_file()


def test_unfamiliar_file_gets_a_sensible_spec(
    trained: subprocess.CompletedProcess[str], workdir: Path
) -> None:
    from greenscore.models.bundle import ScoringBundle

    assert trained.returncode == 0, trained.stderr[-3000:]
    use_settings(Settings(home=workdir / ".greenscore"))  # the home that trained (and signed) it
    try:
        spec = ScoringBundle.load(workdir / "out" / "model").spec
    finally:
        use_settings(None)
    assert spec.target == TARGET and spec.positive_label == "Y"
    assert spec.id_column == "Loan Ref"
    assert spec.time_column == "Application Date"
    features = spec.feature_columns()
    assert "Loan Ref" not in features and "Application Date" not in features
    assert {"Debt Ratio", "Employed", "Home"} <= set(features)
    assert {"Annual Income", "Late Payments (12m)"} <= set(spec.numeric)  # "n/a" is missing
    assert {"Employed", "Home", "Purpose"} <= set(spec.categorical)


def test_score_writes_pd_score_and_decision_for_every_row(
    trained: subprocess.CompletedProcess[str], workdir: Path, messy: tuple[Path, pd.DataFrame]
) -> None:
    path, frame = messy
    assert trained.returncode == 0, trained.stderr[-3000:]
    scored = _run(
        ["score", "--model", "out/model", "--data", str(path), "--out", "preds.csv"], workdir
    )
    assert scored.returncode == 0, scored.stderr[-3000:]
    preds = pd.read_csv(workdir / "preds.csv")
    assert len(preds) == len(frame)
    assert {"probability_of_default", "score", "decision"} <= set(preds.columns)
    assert preds["Loan Ref"].tolist() == frame["Loan Ref"].tolist()  # same rows, same order
    assert preds["probability_of_default"].between(0, 1).all()
    assert preds["score"].notna().all()
    assert set(preds["decision"]) <= {"approve", "review", "decline"}
    # Riskier applicants (by the planted risk) get a higher PD on average.
    defaulted = frame[TARGET].eq("Y").to_numpy()
    pd_ = preds["probability_of_default"].to_numpy()
    assert pd_[defaulted].mean() > pd_[~defaulted].mean()


# ---------------------------------------------------------------- usage errors, in-process
@pytest.fixture
def cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[object]:
    """Call ``greenscore.cli.main`` with arguments; returns (exit code, stderr)."""
    from greenscore import cli as cli_module

    use_settings(Settings(home=tmp_path / ".greenscore"))
    monkeypatch.chdir(tmp_path)

    def call(*args: str, capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
        monkeypatch.setattr(sys, "argv", ["greenscore", *args])
        with pytest.raises(SystemExit) as stopped:
            cli_module.main()
        return int(stopped.value.code), capsys.readouterr().err

    yield call
    use_settings(None)


def _train_on(path: Path, *options: str) -> tuple[str, ...]:
    """``greenscore train`` on the messy file with its target, then ``options``."""
    return ("train", "--data", str(path), "--target", TARGET, *options)


def _one_line(err: str) -> str:
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, err
    assert "Traceback" not in err
    return lines[0]


def test_unknown_model_name_exits_2_with_one_line(
    cli: object, messy: tuple[Path, pd.DataFrame], capsys: pytest.CaptureFixture[str]
) -> None:
    path, _ = messy
    code, err = cli(*_train_on(path, "--models", "scorecard,xgbost"), capsys=capsys)  # type: ignore[operator]
    assert code == 2
    line = _one_line(err)
    assert "unknown model 'xgbost'" in line and "xgboost" in line


def test_bad_cv_strategy_exits_2(
    cli: object, messy: tuple[Path, pd.DataFrame], capsys: pytest.CaptureFixture[str]
) -> None:
    path, _ = messy
    code, err = cli(*_train_on(path, "--cv-strategy", "random"), capsys=capsys)  # type: ignore[operator]
    assert code == 2
    assert "--cv-strategy must be stratified or time" in _one_line(err)


def test_a_bad_time_budget_exits_2_with_the_usage_line(
    cli: object, messy: tuple[Path, pd.DataFrame], capsys: pytest.CaptureFixture[str]
) -> None:
    path, _ = messy
    code, err = cli(  # type: ignore[operator]
        *_train_on(path, "--models", "auto", "--time-budget", "5parsecs"), capsys=capsys
    )
    assert code == 2
    assert "Usage:" in err and "--time-budget" in err and "'5parsecs'" in err


def test_missing_file_exits_2(
    cli: object, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = tmp_path / "nowhere.csv"
    code, err = cli("train", "--data", str(missing), "--target", TARGET, capsys=capsys)  # type: ignore[operator]
    assert code == 2
    line = _one_line(err)
    assert "file not found" in line and "nowhere.csv" in line
