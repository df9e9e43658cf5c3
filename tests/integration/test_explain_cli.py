"""``greenscore explain / fairness / compliance`` end to end on saved bundles and real files."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pandas as pd
import pytest
from lightgbm import LGBMClassifier
from sklearn.pipeline import Pipeline

from greenscore import cli
from greenscore.config import Settings, use_settings
from greenscore.data.loading import load_dataset
from greenscore.data.presets import load_preset
from greenscore.data.synthetic import generate
from greenscore.explain.reason_codes import attach_reason_codes
from greenscore.features.coercion import TypeCoercer
from greenscore.models.bundle import ScoringBundle
from greenscore.privacy.signing import sign_folder

GERMAN = "/work/shared/data/german_credit.csv"


@pytest.fixture(autouse=True)
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.delenv("GREENSCORE_HOME", raising=False)
    use_settings(Settings(home=tmp_path / "home"))
    yield tmp_path
    use_settings(None)


@pytest.fixture
def run(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]):
    def _run(*args: str) -> tuple[int, str, str]:
        monkeypatch.setattr(sys, "argv", ["greenscore", *map(str, args)])
        try:
            cli.main()
            code = 0
        except SystemExit as exc:
            code = exc.code or 0
        out = capsys.readouterr()
        return code, out.out, out.err

    return _run


def _save(frame: pd.DataFrame, spec, y, folder: Path, n_estimators: int = 60) -> Path:
    X = frame[spec.feature_columns(list(frame.columns))]  # noqa: N806
    model = LGBMClassifier(
        n_estimators=n_estimators,
        learning_rate=0.05,
        num_leaves=15,
        verbose=-1,
        n_jobs=1,
        random_state=0,
    )
    pipeline = Pipeline([("coerce", TypeCoercer(spec=spec)), ("model", model)]).fit(X, y)
    bundle = ScoringBundle(name="lightgbm", spec=spec, pipeline=pipeline)
    attach_reason_codes(bundle, X, y)  # as `greenscore train` does
    return bundle.save(folder)


@pytest.fixture(scope="module")
def german_bundle(tmp_path_factory: pytest.TempPathFactory) -> Path:
    dataset = load_dataset(GERMAN, preset="german")
    return _save(dataset.frame, dataset.spec, dataset.y, tmp_path_factory.mktemp("m") / "german")


@pytest.fixture
def german_model(german_bundle: Path, home: Path) -> Path:
    # Trained once, loaded in each test's own home: sign it there, as an admin would
    # ('greenscore model sign') for a bundle from another home.
    sign_folder(german_bundle)
    return german_bundle


def test_explain_writes_reasons_plots_lime_and_counterfactuals(run, tmp_path, german_model):
    out = tmp_path / "explain"
    code, stdout, err = run(
        "explain", "--model", german_model, "--data", GERMAN, "--rows", "1,4", "--out", out
    )
    assert code == 0, err
    report = json.loads((out / "explanation.json").read_text())
    assert [r["row"] for r in report["rows"]] == [1, 4]
    for row in report["rows"]:
        if row["decision"] == "decline":
            assert len(row["reason_codes"]) == 4
            assert row["counterfactuals"]["before"]["decision"] == "decline"
        assert row["lime"]["customer_summary"]
        assert Path(row["shap"]["waterfall"]).stat().st_size > 10_000
    for name in ("shap_beeswarm.png", "shap_bar.png"):
        assert (out / name).stat().st_size > 10_000
    codes = pd.read_csv(out / "reason_codes.csv")
    assert len(codes) == 1000 and {"decision", "reason_1_code", "reason_4_text"} <= set(
        codes.columns
    )
    assert "GS" in stdout and "wrote" in stdout


def test_explain_rejects_rows_outside_the_file(run, tmp_path, german_model):
    code, _, err = run(
        "explain", "--model", german_model, "--data", GERMAN, "--rows", "5,1000", "--out", tmp_path
    )
    assert code == 2
    assert err.strip().startswith("error: --rows: row 1000 is outside the file")


def test_fairness_on_german_needs_no_hand_edits(run, tmp_path, german_model):
    out = tmp_path / "fair"
    code, stdout, err = run(
        "fairness",
        "--model",
        german_model,
        "--data",
        GERMAN,
        "--protected",
        "sex,age,foreign_worker",
        "--mitigate",
        "reweighing,threshold_optimizer",
        "--bootstrap",
        "50",
        "--out",
        out,
    )
    assert code == 0, err
    report = json.loads((out / "fairness.json").read_text())
    assert list(report["attributes"]) == ["sex", "age_band", "foreign_worker"]
    assert set(report["mitigation"]["methods"]) == {"reweighing", "threshold_optimizer"}
    assert (out / "fairness.html").exists() and "sex:" in stdout


def test_fairness_flags_the_planted_gap_and_a_mitigation_meets_the_target(run, tmp_path):
    frame = generate(16000, seed=3).applications
    data = tmp_path / "synthetic.csv"
    frame.to_csv(data, index=False)
    spec = load_preset("synthetic")
    model = _save(
        frame.iloc[:2000], spec, frame["default"].iloc[:2000], tmp_path / "synthetic_model"
    )
    out = tmp_path / "fair"
    code, _, err = run(
        "fairness",
        "--model",
        model,
        "--data",
        data,
        "--mitigate",
        "reweighing,threshold_optimizer",
        "--mitigate-for",
        "sex",
        "--bootstrap",
        "50",
        "--out",
        out,
    )
    assert code == 0, err
    report = json.loads((out / "fairness.json").read_text())
    assert "sex" in report["flagged"]
    mitigation = report["mitigation"]
    assert mitigation["attribute"] == "sex"
    assert mitigation["best"] == "threshold_optimizer"
    best = mitigation["methods"][mitigation["best"]]
    assert best["dp_reduction"] >= 0.5 and best["auc_cost"] <= 0.02


def test_compliance_fails_where_fairness_fails_and_on_protected_features(
    run, tmp_path, german_model
):
    code, stdout, err = run(
        "compliance", "--model", german_model, "--data", GERMAN, "--out", tmp_path / "ok"
    )
    # The German model uses no protected attribute, but its decisions fail the four-fifths
    # rule on age: compliance fails exactly where `greenscore fairness` flags.
    assert code == 1, err
    report = json.loads((tmp_path / "ok" / "compliance.json").read_text())
    failed = [c["id"] for c in report["checks"] if c["status"] == "fail"]
    assert failed == ["ecoa.disparate_impact"] and "overall: FAIL" in stdout
    assert "FAIL  ecoa.disparate_impact: fairness flags" in stdout and "age_band" in stdout
    assert "PASS  fcra.adverse_action_notice" in stdout
    assert (tmp_path / "ok" / "compliance.html").stat().st_size > 2_000
    dataset = load_dataset(GERMAN, preset="german")
    spec = dataset.spec.model_copy(update={"use_protected_as_features": True})
    bad = _save(dataset.frame, spec, dataset.y, tmp_path / "bad_model", n_estimators=20)
    code, stdout, _ = run("compliance", "--model", bad, "--data", GERMAN, "--out", tmp_path / "bad")
    assert code == 1
    report = json.loads((tmp_path / "bad" / "compliance.json").read_text())
    assert report["overall"] == "fail" and "FAIL  ecoa.protected_not_features" in stdout
