"""Alerts from a drift report and a performance report, their sinks, and the retraining trigger
(one training job per finding, audited, however often the monitor runs)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from greenscore.config import MonitoringSettings, Settings, get_settings, use_settings
from greenscore.data.presets import load_preset
from greenscore.monitoring.alerts import (
    CRITICAL,
    WARNING,
    Alert,
    LogSink,
    PrometheusSink,
    WebhookSink,
    dispatch,
    drift_alerts,
    performance_alerts,
)
from greenscore.monitoring.monitor import drift_report
from greenscore.monitoring.reference import reference_from_frame
from greenscore.monitoring.retrain import AUDIT_ACTION, request_retraining, triggering
from greenscore.monitoring.windows import parse_times
from greenscore.security.audit import find_events
from greenscore.store import database
from greenscore.store.training_jobs import (
    DONE,
    PENDING,
    claim_training_job,
    finish_training_job,
    training_jobs,
)

SETTINGS = MonitoringSettings(min_window_rows=20)


@pytest.fixture
def home(tmp_path: Path):
    use_settings(Settings(home=tmp_path / "home"))
    yield tmp_path
    use_settings(None)


def _report() -> dict:
    """Two weekly windows; the second shifts LIMIT_BAL, adds unseen EDUCATION codes and PDs."""
    rng = np.random.default_rng(0)
    spec = load_preset("taiwan")
    reference = pd.DataFrame(
        {"LIMIT_BAL": rng.normal(100, 10, 400), "EDUCATION": rng.choice(["1", "2"], 400)}
    )
    current = pd.DataFrame(
        {
            "LIMIT_BAL": np.r_[rng.normal(100, 10, 100), rng.normal(130, 10, 100)],
            "EDUCATION": np.r_[rng.choice(["1", "2"], 100), rng.choice(["1", "7"], 100)],
        }
    )
    times = parse_times(pd.Series(["2024-01-01"] * 100 + ["2024-01-08"] * 100))
    ref_scores = rng.uniform(0, 0.5, 400)
    scores = np.r_[rng.uniform(0, 0.5, 100), rng.uniform(0.4, 0.9, 100)]
    return drift_report(
        reference_from_frame(reference, spec, scores=ref_scores),
        current,
        settings=SETTINGS,
        scores=scores,
        times=times,
        window="week",
    )


def test_drift_alerts_describe_the_latest_judged_window() -> None:
    alerts = drift_alerts(_report(), settings=SETTINGS)
    kinds = {(a.kind, a.subject) for a in alerts}
    assert ("score_psi", "score") in kinds and ("feature_psi", "LIMIT_BAL") in kinds
    assert ("data_quality", "EDUCATION") in kinds
    assert {a.window for a in alerts} == {"2024-W02"}
    score = next(a for a in alerts if a.kind == "score_psi")
    assert score.severity == CRITICAL and score.value > 0.25 and score.threshold == 0.25
    quality = {a.subject: a for a in alerts if a.kind == "data_quality"}
    assert quality["EDUCATION"].severity == WARNING and "unseen" in quality["EDUCATION"].message
    assert "range check" in quality["LIMIT_BAL"].message


def test_a_window_too_small_to_judge_raises_nothing() -> None:
    report = _report()
    report["windows"][-1]["judged"] = report["windows"][0]["judged"] = False
    report["overall"]["judged"] = False
    assert drift_alerts(report, settings=SETTINGS) == []


def test_performance_alerts_one_per_fallen_vintage() -> None:
    flags = [{"vintage": "2024-03", "value": 0.6, "interval": [0.55, 0.66], "baseline": 0.8}]
    (alert,) = performance_alerts({"flags": flags})
    assert (alert.kind, alert.severity, alert.evidence) == ("auc_drop", CRITICAL,
                                                          "auc_drop:2024-03:2024-03")  # fmt: skip


def test_sinks_log_post_and_expose_gauges_and_a_failing_one_is_reported(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    report = _report()
    alerts = drift_alerts(report, settings=SETTINGS)
    posted: list[dict] = []

    def post(body: dict) -> int:
        posted.append(body)
        return 204

    def refuse(body: dict) -> int:
        return 500

    prometheus = PrometheusSink()
    prometheus.observe(report, {"vintages": [{"vintage": "2024-01", "auc": 0.71}]})
    broken = WebhookSink(refuse)
    broken.name = "webhook-2"
    with caplog.at_level("WARNING", logger="greenscore"):
        outcome = dispatch(
            alerts, [LogSink(), WebhookSink(post), prometheus, broken], {"model": "m"}
        )
    assert outcome == {
        "log": "sent",
        "webhook": "sent",
        "prometheus": "sent",
        "webhook-2": "failed: RuntimeError: the webhook answered HTTP 500",
    }
    assert posted[0]["model"] == "m" and len(posted[0]["alerts"]) == len(alerts)
    assert any("shifted in 2024-W02" in r.getMessage() for r in caplog.records)
    path = tmp_path / "metrics" / "monitor.prom"
    prometheus.write(path)
    text = path.read_text()
    assert 'greenscore_monitor_psi{column="LIMIT_BAL",model="m"}' in text
    assert 'greenscore_monitor_auc{model="m",vintage="2024-01"} 0.71' in text
    assert 'greenscore_monitor_alerts{kind="score_psi",model="m",severity="critical"} 1.0' in text


# ---------------------------------------------------------------- retraining trigger
def _drop(vintage: str) -> Alert:
    return Alert("auc_drop", CRITICAL, vintage, vintage, 0.6, 0.8, f"AUC of {vintage} fell")


def test_the_trigger_files_exactly_one_job_and_audits_it(home: Path) -> None:
    first = request_retraining(model="models:/pd@champion", alerts=[_drop("2024-03")],
                               settings=get_settings())  # fmt: skip
    again = request_retraining(model="models:/pd@champion", alerts=[_drop("2024-03")],
                               settings=get_settings())  # fmt: skip
    assert first is not None and first["created"] and first["status"] == PENDING
    assert again is not None and not again["created"] and again["job_id"] == first["job_id"]
    (job,) = training_jobs(db=database(get_settings()))
    assert job.reasons[0]["evidence"] == "auc_drop:2024-03:2024-03"
    (event,) = find_events(action=AUDIT_ACTION, settings=get_settings())
    assert event["details"] == {
        "job_id": first["job_id"],
        "model": "models:/pd@champion",
        "reasons": ["AUC of 2024-03 fell"],
    }


def test_new_evidence_waits_for_the_open_job_then_files_again(home: Path) -> None:
    first = request_retraining(model="m", alerts=[_drop("2024-03")], settings=get_settings())
    later = request_retraining(model="m", alerts=[_drop("2024-04")], settings=get_settings())
    assert later["job_id"] == first["job_id"] and not later["created"]
    db = database(get_settings())
    assert claim_training_job(first["job_id"], db=db)
    assert not claim_training_job(first["job_id"], db=db)
    finish_training_job(first["job_id"], status=DONE, result={"promoted": False}, db=db)
    same = request_retraining(model="m", alerts=[_drop("2024-03")], settings=get_settings())
    assert not same["created"]  # that evidence was acted on already
    fresh = request_retraining(model="m", alerts=[_drop("2024-04")], settings=get_settings())
    assert fresh["created"] and len(training_jobs(db=database(get_settings()))) == 2
    assert len(find_events(action=AUDIT_ACTION, settings=get_settings())) == 2


def test_which_alerts_trigger_is_a_setting(home: Path) -> None:
    score = Alert("score_psi", CRITICAL, "score", "2024-W02", 0.4, 0.25, "PD shifted")
    watch = Alert("score_psi", WARNING, "score", "2024-W02", 0.2, 0.1, "PD shifting")
    feature = Alert("feature_psi", CRITICAL, "age", "2024-W02", 0.4, 0.25, "age shifted")
    assert triggering([score, watch, feature], settings=SETTINGS) == [score]
    only_auc = MonitoringSettings(retrain_on=["auc_drop"])
    assert triggering([score, _drop("x")], settings=only_auc) == [_drop("x")]
    settings = get_settings().model_copy(update={"monitoring": only_auc})
    assert request_retraining(model="m", alerts=[score], settings=settings) is None
    assert training_jobs(db=database(get_settings())) == []
