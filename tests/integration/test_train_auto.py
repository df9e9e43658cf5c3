"""``greenscore train --models auto`` and named ensembles on a file the CLI has never seen.

The messy export of :mod:`test_train_cli` (only ``--target`` given) trains an ensemble
without edits; a member that cannot fit this data (an LSTM, with no monthly histories to
read) is dropped with its reason logged, not a crash. Real subprocesses, as a user runs it.
"""

from __future__ import annotations

import json
import subprocess
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


def _train(workdir: Path, data: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """``greenscore train`` on ``data`` with only ``--target`` named, plus ``args``."""
    return _run(["train", "--data", str(data), "--target", TARGET, *args], workdir)


def test_a_failing_member_is_dropped_with_a_logged_reason(workdir: Path, small_file: Path) -> None:
    run = _train(
        workdir,
        small_file,
        "--models",
        "ensemble:scorecard+logistic+lstm",
        "--cv",
        "2",
        "--tune-trials",
        "0",
        "--out",
        "dropped",
    )
    assert run.returncode == 0, run.stderr[-3000:]
    metrics = json.loads((workdir / "dropped" / "metrics.json").read_text("utf-8"))
    section = metrics["ensemble"]
    assert set(section["members"]) == {"scorecard", "logistic"}
    assert section["outer_folds"] == 2  # each member's AUC says over how many folds
    assert all(m["folds"] == 2 for m in section["members"].values())
    assert "sequence" in section["dropped"]["lstm"]  # why: the file has no monthly histories
    assert "ensemble member dropped" in run.stdout + run.stderr
    # How to serve it with its fallback (the paths as given: --out dropped).
    assert "--model dropped/model --fallback dropped/models/scorecard" in run.stdout
    assert metrics["best"] == "ensemble"
    assert 0.6 < metrics["models"]["ensemble"]["auc"] <= 1.0
    assert (workdir / "dropped" / "models" / "scorecard" / "bundle.joblib").is_file()
    # The scorecard fallback's fits were metered inside the ensemble's: its carbon is their
    # energy at the run's grid factor, a number like every other model's (it was NaN, which
    # also made metrics.json unreadable to strict JSON readers).
    ensemble, fallback = metrics["models"]["ensemble"], metrics["models"]["scorecard"]
    intensity = ensemble["co2_kg"] / ensemble["energy_kwh"]
    assert fallback["co2_kg"] == pytest.approx(fallback["energy_kwh"] * intensity, rel=1e-6)
    assert fallback["final_co2_kg"] == pytest.approx(
        fallback["final_energy_kwh"] * intensity, rel=1e-6
    )
    strict_json((workdir / "dropped" / "metrics.json").read_text("utf-8"))
    # The report names the members, their weights, the test against the best member, and
    # the member dropped with its reason.
    report = (workdir / "dropped" / "report.html").read_text("utf-8")
    section = report[report.index("<h2>Ensemble</h2>") :]
    comparison = metrics["ensemble"]["comparison"]
    assert f"DeLong z {comparison['delong_z']:.2f}" in section
    # Beside the z, the AUCs the test compared: the pooled ones, not the fold means.
    assert f"pooled AUC {comparison['pooled_ensemble_auc']:.4f} against" in section
    assert f"against its best member ({comparison['best_member']})" in section
    assert "Members dropped" in section and "sequence" in section
    for name in ("scorecard", "logistic"):
        assert f"<td>{name}</td>" in section


@pytest.mark.slow
def test_auto_trains_an_unfamiliar_file_within_its_plan(workdir: Path, small_file: Path) -> None:
    run = _train(
        workdir, small_file, "--models", "auto", "--time-budget", "5m", "--cv", "3", "--out", "auto"
    )
    assert run.returncode == 0, run.stderr[-3000:]
    metrics = json.loads((workdir / "auto" / "metrics.json").read_text("utf-8"))
    plan = metrics["ensemble"]["plan"]
    assert plan["budget_s"] == 300 and "scorecard" in plan["members"]
    # Every candidate is either planned or skipped with a reason.
    probed = {p["name"] for p in plan["probes"]}
    assert probed == set(plan["members"]) | set(plan["skipped"])
    assert all(plan["skipped"].values())
    assert metrics["best"] == "ensemble"
    assert set(metrics["ensemble"]["members"]) <= set(plan["members"])
    assert 0.6 < metrics["models"]["ensemble"]["auc"] <= 1.0
    # The probe fits the plan was made from are metered and charged once, to the
    # ensemble's total: what the carbon ledger and the ESG report sum, as the run total does.
    energy = metrics["energy"]
    assert energy["plan_probe_kwh"] > 0
    assert metrics["models"]["ensemble"]["plan_probe_kwh"] == energy["plan_probe_kwh"]
    assert energy["total_kwh"] == pytest.approx(
        sum(m["total_energy_kwh"] for m in metrics["models"].values()), rel=1e-9
    )
    # The scorecard is kept beside the ensemble as the single-model fallback.
    assert metrics["models"]["scorecard"]["fallback_for"] == "ensemble"
    assert (workdir / "auto" / "model" / "bundle.joblib").is_file()


def strict_json(text: str) -> object:
    """Parse as RFC 8259 JSON: NaN and Infinity, which Python would accept, are refused."""

    def refuse(token: str) -> None:
        raise AssertionError(f"not JSON: {token}")

    return json.loads(text, parse_constant=refuse)


def test_the_report_names_what_the_budget_cut_and_what_is_not_served() -> None:
    """A member cut after the last outer fold is in the cross-validated figures but not in
    the served model: the report says so, and lists every cut with its reason."""
    from greenscore.evaluation.report import HtmlReport
    from greenscore.workflows.train_report import _ensemble_section

    def member(in_final: bool) -> dict[str, object]:
        return {
            "weight": 0.5 if in_final else 0.0,
            "auc": 0.78,
            "auc_std": 0.01,
            "folds": 5,
            "in_final_model": in_final,
            "inner_oof_auc": 0.77 if in_final else None,
            "exact_contributions": True,
            "fit_seconds": 3.0,
            "energy_kwh": 1e-5,
        }

    cut = {
        "logistic:tuning": "tuning cut after outer fold 4: ... 58 s, 42 s were left",
        "xgboost": "dropped after outer fold 5: ... 29 s, 14 s were left",
    }
    section = {
        "method": "weighted",
        "outer_folds": 5,
        "members": {"scorecard": member(True), "logistic": member(True), "xgboost": member(False)},
        "plan": {
            "budget_s": 180.0,
            "probe_s": 12.0,
            "planned_s": 130.0,
            "members": ["scorecard", "logistic", "xgboost"],
            "trials": {"logistic": 6},
            "estimates": {},
            "skipped": {},
            "cut": cut,
        },
    }
    report = HtmlReport("t")
    _ensemble_section(report, section)
    html = report.to_html()
    assert "not in the model that is served: xgboost." in html
    for what, why in cut.items():
        assert f"<td>{what}</td>" in html and why in html
    # Nothing said when every member reached the final fit.
    section["members"]["xgboost"]["in_final_model"] = True
    report = HtmlReport("t")
    _ensemble_section(report, section)
    assert "not in the model that is served" not in report.to_html()


def test_the_report_says_when_a_member_ran_in_fewer_folds_than_the_ensemble() -> None:
    from greenscore.workflows.train_report import _member_auc

    member = {"auc": 0.95579, "auc_std": 0.0}
    assert _member_auc({**member, "folds": 1}, 5) == "0.9558 ± 0.0000 (1 of 5 folds)"
    assert _member_auc({**member, "folds": 5}, 5) == "0.9558 ± 0.0000"
    assert _member_auc({**member, "auc": None, "folds": 0}, 5) == ""


def test_a_budget_too_small_for_the_fallback_is_refused_before_training(
    workdir: Path, small_file: Path
) -> None:
    """A second cannot hold the scorecard fallback's fits on any machine: the run exits 2
    naming the least budget, instead of overrunning, and trains nothing."""
    run = _train(
        workdir, small_file, "--models", "auto", "--time-budget", "1s", "--out", "too-small"
    )
    assert run.returncode == 2, run.stderr[-3000:]
    assert "too small" in run.stderr and "give at least --time-budget" in run.stderr
    assert not (workdir / "too-small" / "metrics.json").exists()


def test_tune_trials_tunes_every_tunable_model_and_its_energy_is_counted(
    workdir: Path, small_file: Path
) -> None:
    run = _train(
        workdir,
        small_file,
        "--models",
        "logistic,lightgbm",
        "--tune-trials",
        "2",
        "--cv",
        "2",
        "--out",
        "tuned",
    )
    assert run.returncode == 0, run.stderr[-3000:]
    metrics = json.loads((workdir / "tuned" / "metrics.json").read_text("utf-8"))
    for name, summary in metrics["models"].items():
        # Two trials in each study: one per outer fold and one for the final model.
        assert summary["tuning_trials"] == 2 * 3, name
        assert summary["tuning_kwh"] > 0, name
        fits = summary["energy_kwh"] * 2 + summary["final_energy_kwh"]
        assert summary["total_energy_kwh"] == pytest.approx(
            fits + summary["tuning_kwh"], rel=1e-9
        ), name
    assert metrics["energy"]["tuning_kwh"] == pytest.approx(
        sum(s["tuning_kwh"] for s in metrics["models"].values()), rel=1e-9
    )
