"""``greenscore monitor`` and ``greenscore outcomes load`` end to end through the CLI.

The model is a small LightGBM bundle fitted on the generator's first twelve months. The
generator shifts its population over its last six months (data/synthetic.py): the monitor
must flag those months and name the shifted columns, and leave the stable ones alone.
Decisions put in the prediction store, with outcomes loaded whose last vintages no longer
follow the PDs, must raise an AUC-drop alert and file exactly one training job, however
often the monitor runs.
"""

from __future__ import annotations

import json
import sys
from datetime import UTC, timedelta

import numpy as np
import pandas as pd
import pytest
from lightgbm import LGBMClassifier
from sklearn.pipeline import Pipeline

from greenscore import cli
from greenscore.config import MonitoringSettings, Settings, get_settings, use_settings
from greenscore.data.loading import encode_target
from greenscore.data.presets import load_preset
from greenscore.data.synthetic import DRIFT_MONTHS, MONTHS, generate
from greenscore.evaluation.metrics import auc
from greenscore.features.coercion import TypeCoercer
from greenscore.models.bundle import ScoringBundle
from greenscore.models.metadata import BundleMetadata
from greenscore.monitoring.live import KIND, LiveSamples, sampled_columns
from greenscore.monitoring.retrain import AUDIT_ACTION
from greenscore.privacy import sealed
from greenscore.security.audit import find_events
from greenscore.security.pseudonym import subject_hash
from greenscore.store import database
from greenscore.store.predictions import record_predictions
from greenscore.store.training_jobs import training_jobs

PLANTED = {"age", "credit_utilization", "num_inquiries_6m", "loan_purpose"}
DEGRADED = ("2024-10", "2024-11", "2024-12")


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """A home, the generated files and a model fitted on the first twelve months."""
    root = tmp_path_factory.mktemp("monitor")
    # Vintages of ~250 loans: a 0.05 AUC drop is within their noise (one of 21 steady months
    # here falls 0.10 below the baseline by chance), so the alert asks for 0.15.
    settings = Settings(
        home=root / "home", monitoring=MonitoringSettings(bootstrap_samples=40, auc_drop=0.15)
    )
    use_settings(settings)
    spec = load_preset("synthetic")
    apps = generate(8000, seed=3).applications
    month = apps["application_date"].dt.to_period("M").astype(str)
    reference = apps[month < "2024-01"].reset_index(drop=True)
    reference.to_parquet(root / "reference.parquet", index=False)
    apps.to_parquet(root / "current.parquet", index=False)
    features = spec.feature_columns(list(reference.columns))
    model = LGBMClassifier(
        n_estimators=60, learning_rate=0.05, num_leaves=15, verbose=-1, n_jobs=1, random_state=0
    )
    pipeline = Pipeline([("coerce", TypeCoercer(spec=spec)), ("model", model)])
    pipeline.fit(reference[features], encode_target(reference[spec.target], spec))
    bundle = ScoringBundle(name="lightgbm", spec=spec, pipeline=pipeline)
    # What train stores: PD quantiles and a cross-validated AUC, here from a holdout.
    holdout = generate(6000, seed=5).applications
    y_hold = encode_target(holdout[spec.target], spec)
    p_hold = bundle.predict_pd(bundle.model_input(holdout))
    stable = holdout["application_date"] < "2024-07-01"
    bundle.metadata = BundleMetadata(
        training_pd=np.quantile(p_hold[stable], np.linspace(0, 1, 101)).tolist(),
        metrics={"auc": auc(y_hold[stable], p_hold[stable])},
    )
    bundle.save(root / "model")
    yield {"root": root, "settings": settings, "holdout": holdout, "p_hold": p_hold, "y": y_hold}
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


def test_monitor_flags_the_planted_drift_and_names_the_columns(world: dict, run) -> None:
    root = world["root"]
    out = root / "drift"
    code, stdout, err = run(
        "monitor", "-m", root / "model", "--reference", root / "reference.parquet",
        "--current", root / "current.parquet", "--window", "month", "-o", out, "--no-retrain",
    )  # fmt: skip
    assert code == 0, err
    report = json.loads((out / "monitor.json").read_text())
    windows = report["drift"]["windows"]
    assert [w["label"] for w in windows][-1] == "2024-12" and len(windows) == MONTHS
    stable, drifted = windows[: MONTHS - DRIFT_MONTHS], windows[MONTHS - DRIFT_MONTHS :]
    assert all(w["flagged"] == [] for w in stable)
    assert all(w["score"]["psi"] < 0.1 for w in stable)
    assert PLANTED <= set(drifted[-1]["flagged"])
    assert all(drifted[-1]["columns"][c]["psi"] > 0.1 for c in PLANTED)
    assert all(c["psi"] is None or c["psi"] < 0.1 for w in stable for c in w["columns"].values())
    assert {a["subject"] for a in report["alerts"] if a["kind"] == "feature_psi"} >= PLANTED
    assert report["retraining"] is None  # --no-retrain
    assert "shifted in 2024-12: age" in stdout
    page = (out / "monitor.html").read_text()
    assert "Characteristic stability index per window" in page and "Score PSI per window" in page
    for name in PLANTED:
        assert f"{name}: share of rows per reference bin" in page or name in page
    # The current file holds the target: performance per window comes with it.
    assert len(report["performance"]["vintages"]) == MONTHS


def test_a_current_file_with_other_columns_is_one_line_and_exit_2(world: dict, run) -> None:
    root = world["root"]
    current = pd.read_parquet(root / "reference.parquet").head(200)
    current = current.drop(columns=["income"]).assign(favourite_colour="green")
    current.to_csv(root / "odd.csv", index=False)
    code, _, err = run(
        "monitor", "-m", root / "model", "--reference", root / "reference.parquet",
        "--current", root / "odd.csv", "-o", root / "odd",
    )  # fmt: skip
    assert code == 2
    assert err.strip() == (
        "error: current data does not match the reference: missing columns ['income']; "
        "extra columns ['favourite_colour']"
    )
    assert not (root / "odd" / "monitor.json").exists()


def test_neither_current_nor_store_is_a_usage_error(world: dict, run) -> None:
    code, _, err = run("monitor", "-m", world["root"] / "model", "-o", world["root"] / "x")
    assert code == 2 and "Usage: greenscore monitor" in err
    words = " ".join(err.replace("│", " ").split())  # Click's error box wraps the line
    assert "give exactly one of --current and --from-store" in words


def test_outcomes_of_a_degraded_window_file_exactly_one_training_job(world: dict, run) -> None:
    root, holdout = world["root"], world["holdout"]
    ids = [f"req-{i}" for i in holdout["applicant_id"]]
    settings = get_settings()
    record_predictions(
        [
            {
                "request_id": rid,
                "subject_hash": subject_hash(applicant, settings=settings),
                "model_name": "lightgbm",
                "model_version": "1",
                "input_hash": "x",
                "decision": "approve",
                "probability": float(p),
                "created_at": when.to_pydatetime(),
            }
            for rid, applicant, p, when in zip(
                ids,
                holdout["applicant_id"],
                world["p_hold"],
                holdout["application_date"],
                strict=True,
            )
        ],
        db=database(settings),
    )
    month = holdout["application_date"].dt.to_period("M").astype(str).to_numpy()
    defaulted = world["y"].copy()
    late = np.isin(month, DEGRADED)
    # The last vintages' defaults no longer follow the PDs (concept drift): same rate, shuffled.
    defaulted[late] = np.random.default_rng(0).permutation(defaulted[late])
    outcomes = pd.DataFrame(
        {
            "request_id": ids,
            "defaulted": defaulted,
            "observed_at": (holdout["application_date"] + timedelta(days=365)).dt.date,
        }
    )
    outcomes.to_csv(root / "outcomes.csv", index=False)
    code, stdout, err = run("outcomes", "load", "--file", root / "outcomes.csv")
    assert code == 0, err
    assert f"{len(ids)} outcome(s) from outcomes.csv: {len(ids)} new" in stdout

    reports = []
    for attempt in range(2):
        out = root / f"store-{attempt}"
        code, stdout, err = run(
            "monitor", "-m", root / "model", "--from-store", "--window", "month", "-o", out
        )
        assert code == 0, err
        reports.append(json.loads((out / "monitor.json").read_text()))
    first, second = reports
    flagged = [f["vintage"] for f in first["performance"]["flags"]]
    assert set(flagged) == set(DEGRADED)
    assert {a["subject"] for a in first["alerts"] if a["kind"] == "auc_drop"} == set(DEGRADED)
    assert first["retraining"]["created"] and not second["retraining"]["created"]
    assert second["retraining"]["job_id"] == first["retraining"]["job_id"]
    (job,) = training_jobs(db=database(settings))
    assert job.model == str(root / "model") and job.status == "pending"
    assert {r["evidence"] for r in job.reasons} >= {f"auc_drop:{v}:{v}" for v in DEGRADED}
    (event,) = find_events(action=AUDIT_ACTION, settings=settings)
    assert event["details"]["job_id"] == job.id
    assert any("AUC of vintage 2024-12 fell" in r for r in event["details"]["reasons"])
    assert "already filed" in stdout
    assert first["drift"]["features"].startswith("not monitored from the store")


def test_monitor_from_store_reads_the_service_samples_and_flags_the_drifted_months(
    world: dict, run
) -> None:
    """What the service samples (monitoring.live) is what ``--from-store`` monitors."""
    root = world["root"]
    db = database(get_settings())
    bundle = ScoringBundle.load(root / "model")
    apps = pd.read_parquet(root / "current.parquet")
    scores = bundle.predict_pd(bundle.model_input(apps))
    columns = sampled_columns(bundle.spec, list(bundle.model_input(apps).columns))
    live = LiveSamples(MonitoringSettings(live_window="month"), db=db, seed=0)
    month = apps["application_date"].dt.to_period("M")
    for period in sorted(month.unique()):
        rows = np.flatnonzero((month == period).to_numpy())
        live.offer(
            bundle.model_name,
            apps.iloc[rows].to_dict("records"),
            scores[rows],
            columns=columns,
            at=period.start_time.to_pydatetime().replace(tzinfo=UTC),
        )
    live.flush(everything=True)
    try:
        out = root / "live"
        code, _, err = run(
            "monitor", "-m", root / "model", "--reference", root / "reference.parquet",
            "--from-store", "--window", "month", "-o", out, "--no-retrain",
        )  # fmt: skip
        assert code == 0, err
        report = json.loads((out / "monitor.json").read_text())
    finally:
        sealed.drop(KIND, f"{bundle.model_name}/", db=db)
    drift = report["drift"]
    assert drift["sample"] == {"rows": len(apps), "decisions": len(apps), "units": MONTHS}
    windows = drift["windows"]
    assert len(windows) == MONTHS
    stable, drifted = windows[: MONTHS - DRIFT_MONTHS], windows[MONTHS - DRIFT_MONTHS :]
    assert all(w["flagged"] == [] for w in stable)
    assert PLANTED <= set(drifted[-1]["flagged"])
    assert "features" not in drift
