"""``greenscore report esg``: JSON, HTML and PDF from MLflow runs and the prediction store;
the PDF read back has the JSON's totals; the scheduled job writes into the home folder.

One home serves the module: a training run logged the way ``greenscore train`` logs it
(per-model metrics and metrics.json with fairness), decisions in the prediction store with
and without reason codes, and a carbon budget charged by that training.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from greenscore import cli as cli_module
from greenscore.config import Settings, SustainabilitySettings, TrackingSettings, use_settings
from greenscore.store import database
from greenscore.store.predictions import record_predictions
from greenscore.sustainability import budgets
from greenscore.sustainability.intensity import grid_factor
from greenscore.sustainability.periods import current_quarter
from greenscore.sustainability.report_render import TOTALS, number
from greenscore.sustainability.report_schedule import build_scheduler, write_scheduled_report
from greenscore.tracking import start_run

GBR = grid_factor("GBR")
SUMMARY = {
    "scorecard": {
        "auc": 0.7968,
        "n_folds": 5,
        "energy_kwh": 0.001,
        "final_energy_kwh": 0.002,
        "energy_kwh_per_1k_predictions": 1e-6,
        "fit_seconds": 1.5,
    },
    "lightgbm": {
        "auc": 0.8,
        "n_folds": 5,
        "energy_kwh": 0.004,
        "final_energy_kwh": 0.005,
        "energy_kwh_per_1k_predictions": 3e-6,
        "fit_seconds": 2.5,
    },
}
FAIRNESS = {
    "model": "lightgbm",
    "attributes": {
        "sex": {"demographic_parity_difference": 0.04, "equalized_odds_difference": 0.06},
        "age_band": {"demographic_parity_difference": 0.08, "equalized_odds_difference": 0.12},
    },
}


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Settings]:
    root = tmp_path_factory.mktemp("esg-home")
    settings = Settings(
        home=root / "home",
        tracking=TrackingSettings(experiment="esg"),
        sustainability=SustainabilitySettings(offset_price_per_tonne=80.0),
    )
    use_settings(settings)
    metrics = {"models": SUMMARY, "best": "lightgbm", "fairness": FAIRNESS}
    with start_run(run_name="train-synthetic", params={"models": "scorecard,lightgbm"}) as run:
        run.log_params({"dataset.rows": 2000})
        for name, summary in SUMMARY.items():
            run.log_metrics(summary, prefix=f"{name}.")
        run.log_dict(metrics, "metrics.json")
    budgets.set_budget(scope="project", name="greenscore", limit_kg=0.008, period="quarter")
    recorded = budgets.record_training(metrics, run_id=run.run_id, rows=2000, sinks=[])
    assert [a.threshold for r in recorded for a in r.alerts] == [0.8]  # 0.0073 of 0.008 kg
    now = datetime.now(UTC)
    rows = []
    for k in range(40):
        decision = "decline" if k % 4 == 0 else "approve"
        reasons = [] if k in (1, 2, 3, 4) else ["GS001", "GS002"]  # one decline without
        rows.append(
            {
                "request_id": f"r{k}",
                "subject_hash": None,
                "model_name": "lightgbm",
                "model_version": "1",
                "input_hash": "h",
                "decision": decision,
                "probability": 0.5,
                # The service records what each decision cost (here a call's 2e-7 kWh for
                # ten of them); the other 30 were written without it, as before it did.
                "payload": {"reason_codes": reasons} | ({"energy_kwh": 2e-7} if k >= 30 else {}),
                "created_at": now - timedelta(minutes=k),
            }
        )
    record_predictions(rows, db=database(settings))
    yield settings
    use_settings(None)


@pytest.fixture
def cli(home: Settings, capsys: pytest.CaptureFixture[str]) -> Callable[..., tuple[int, str, str]]:
    def call(*args: str) -> tuple[int, str, str]:
        with pytest.raises(SystemExit) as stopped:
            cli_module.main(list(args))
        captured = capsys.readouterr()
        return int(stopped.value.code or 0), captured.out, captured.err

    capsys.readouterr()
    return call


def _pdf_text(path: Path) -> str:
    from pypdf import PdfReader

    return "\n".join(page.extract_text() for page in PdfReader(str(path)).pages)


def _pdf_totals(text: str) -> dict[str, str]:
    """The value printed after each totals label in the PDF's text."""
    found = {}
    for label, key, _ in TOTALS:
        match = re.search(rf"^{re.escape(label)}\s*\n?\s*(\S+)", text, re.MULTILINE)
        assert match, f"{label} not in the PDF"
        found[key] = match.group(1)
    return found


def test_report_writes_json_html_pdf_and_pdf_totals_equal_json(cli, tmp_path: Path) -> None:
    period = current_quarter().key
    code, out, err = cli(
        "report", "esg", "--period", period, "--format", "html,pdf,json", "--out", str(tmp_path)
    )
    assert code == 0, err
    stem = tmp_path / f"esg-{period}"
    files = {Path(p).name for p in out.split()}
    assert files == {
        f"{stem.name}{s}" for s in (".json", ".html", ".pdf", "-summary.html", "-summary.pdf")
    }
    report = json.loads(stem.with_suffix(".json").read_text())
    totals = report["totals"]
    # Training: (5 x 0.001 + 0.002) + (5 x 0.004 + 0.005) kWh. Scoring: the 10 decisions
    # recorded with their energy count it (2e-7 kWh each); the 30 without are charged at
    # lightgbm's batch figure, 3e-6 kWh per 1k.
    assert totals["training_kwh"] == pytest.approx(0.032)
    assert totals["scoring_kwh"] == pytest.approx(10 * 2e-7 + 30 / 1000 * 3e-6)
    assert totals["decisions_with_recorded_energy"] == 10
    assert totals["total_co2_kg"] == pytest.approx(totals["total_kwh"] * GBR.kg_per_kwh)
    assert totals["factor"]["citation"] == GBR.citation and totals["decisions"] == 40
    for pdf in (stem.with_suffix(".pdf"), tmp_path / f"{stem.name}-summary.pdf"):
        printed = _pdf_totals(_pdf_text(pdf))
        assert printed == {key: number(totals[key]) for _, key, _ in TOTALS}, pdf.name
        assert all(float(printed[k]) == pytest.approx(totals[k], rel=1e-5) for k in printed)
    assert "237.6 gCO2e/kWh" in err and period in err


def test_report_sections_esg_components_offsets_and_summary(cli, tmp_path: Path) -> None:
    period = current_quarter().key
    assert (
        cli(
            "report",
            "esg",
            "--period",
            period,
            "--format",
            "json,html",
            "--out",
            str(tmp_path),
            "--price",
            "100",
        )[0]
        == 0
    )
    report = json.loads((tmp_path / f"esg-{period}.json").read_text())
    mt = report["tcfd"]["metrics_and_targets"]
    assert mt["b_emissions"]["scope_2_location_based_kg"] == report["totals"]["total_co2_kg"]
    target = mt["c_targets"][0]
    assert target["used_kg"] == pytest.approx(0.032 * GBR.kg_per_kwh) and target["fired"] == [0.8]
    assert [x["code"] for x in report["sasb"]] == ["TC-SI-130a.1", "FN-CB-410a.2"]
    assert report["sasb"][0]["values"]["energy_gj"] == pytest.approx(
        report["totals"]["total_kwh"] * 0.0036
    )
    components = {c["name"]: c for c in report["esg_score"]["components"]}
    assert all(c["available"] for c in components.values())
    assert components["explanation_coverage"]["value"] == pytest.approx(9 / 10)  # decline k=4
    assert components["decisions_with_reasons"]["value"] == pytest.approx(36 / 40)
    assert components["fairness_gap"]["value"] == pytest.approx(0.12)
    assert report["offsets"]["cost"] == pytest.approx(report["totals"]["total_co2_kg"] / 1000 * 100)
    summary = report["stakeholder_summary"]
    assert summary["headline"].startswith(number(report["totals"]["total_co2_kg"]))
    text = (tmp_path / f"esg-{period}.html").read_text()
    for heading in (
        "TCFD Metrics and Targets (b)",
        "SASB-style indicators",
        "ESG score components",
    ):
        assert heading in text
    assert "scorecard reaches 99.6% of lightgbm&#x27;s AUC" in text
    assert not (tmp_path / f"esg-{period}.pdf").exists()


def test_a_period_without_data_says_so(cli, tmp_path: Path) -> None:
    assert (
        cli("report", "esg", "--period", "2019-Q1", "--format", "json", "--out", str(tmp_path))[0]
        == 0
    )
    report = json.loads((tmp_path / "esg-2019-Q1.json").read_text())
    assert report["empty"] and report["totals"]["total_kwh"] == 0.0
    assert report["stakeholder_summary"]["headline"] == (
        "No model training or decisions were recorded in 2019-Q1."
    )
    assert report["esg_score"]["score"] is None


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--format", "docx"], "--format takes a comma-separated list of json, html, pdf"),
        (["--period", "Q4"], "period must look like 2026-Q4"),
    ],
)
def test_bad_options_exit_2_naming_them(cli, args: list[str], message: str) -> None:
    code, _, err = cli("report", "esg", *args)
    assert code == 2 and message in err


def test_scheduled_job_writes_the_due_quarter_into_the_home(home: Settings) -> None:
    scheduler = build_scheduler(settings=home, blocking=False, formats=["json"])
    job = scheduler.get_jobs()[0]
    first = job.trigger.get_next_fire_time(None, datetime(2026, 12, 3, 15, tzinfo=UTC))
    assert first == datetime(2027, 1, 1, 6, tzinfo=UTC)
    paths = write_scheduled_report(
        settings=home, now=datetime(2027, 1, 1, 6, tzinfo=UTC), formats=["json"]
    )
    assert paths == [home.home / "reports" / "esg" / "esg-2026-Q4.json"]


def test_bad_cron_is_a_config_error(home: Settings) -> None:
    from greenscore.errors import ConfigError

    bad = home.model_copy(
        update={"sustainability": SustainabilitySettings(report_schedule="61 * * * *")}
    )
    with pytest.raises(ConfigError, match="is not a cron line"):
        build_scheduler(settings=bad, blocking=False)
