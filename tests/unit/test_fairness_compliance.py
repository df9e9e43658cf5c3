"""Regulatory checks: ECOA, FCRA, GDPR and AI Act record-keeping, with evidence."""

from __future__ import annotations

import json

import numpy as np
import pytest
from lightgbm import LGBMClassifier
from sklearn.pipeline import Pipeline

from greenscore.config import Settings, use_settings
from greenscore.data.loading import load_dataset
from greenscore.fairness.compliance import (
    check_decision_logging,
    check_pii_not_features,
    check_retention,
    compliance_report,
    write_compliance,
)
from greenscore.fairness.proxies import cramers_v, proxy_scan
from greenscore.features.coercion import TypeCoercer
from greenscore.models.bundle import ScoringBundle

GERMAN = "/work/shared/data/german_credit.csv"


@pytest.fixture(autouse=True)
def home(tmp_path):
    use_settings(Settings(home=tmp_path))
    yield tmp_path
    use_settings(None)


def _bundle(frame, spec, y, extra=()):
    columns = list(dict.fromkeys(spec.feature_columns(list(frame.columns)) + list(extra)))
    pipeline = Pipeline(
        [
            ("coerce", TypeCoercer(spec=spec)),
            ("model", LGBMClassifier(n_estimators=30, verbose=-1, n_jobs=1, random_state=0)),
        ]
    ).fit(frame[columns], y)
    return ScoringBundle(name="lightgbm", spec=spec, pipeline=pipeline)


@pytest.fixture(scope="module")
def german():
    return load_dataset(GERMAN, preset="german")


def _status(report, check_id):
    return next(c for c in report["checks"] if c["id"] == check_id)


def test_model_without_protected_features_passes(german):
    bundle = _bundle(german.frame, german.spec, german.y)
    report = compliance_report(bundle, german.frame, data_name="german")
    assert report["overall"] == "pass"
    assert {c["id"] for c in report["checks"]} == {
        "ecoa.protected_not_features",
        "ecoa.proxies",
        "fcra.adverse_action_notice",
        "gdpr.pii_not_features",
        "gdpr.retention",
        "ai_act.decision_logging",
    }
    notice = _status(report, "fcra.adverse_action_notice")["evidence"]["example_notice"]
    assert notice["decision"] == "decline" and len(notice["key_factors"]) == 4
    logging = _status(report, "ai_act.decision_logging")
    assert logging["status"] == "pass" and logging["evidence"]["recorded_event_id"] >= 1


def test_model_trained_with_a_protected_attribute_fails(german):
    spec = german.spec.model_copy(update={"use_protected_as_features": True})
    bundle = _bundle(german.frame, spec, german.y)
    report = compliance_report(bundle, german.frame)
    assert report["overall"] == "fail"
    ecoa = _status(report, "ecoa.protected_not_features")
    assert ecoa["status"] == "fail"
    assert set(ecoa["evidence"]["protected_among_inputs"]) == {
        "personal_status",
        "age",
        "foreign_worker",
    }
    # Even so, the notice never cites them.
    assert _status(report, "fcra.adverse_action_notice")["status"] == "pass"


def test_protected_feature_smuggled_in_without_the_flag_still_fails(german):
    bundle = _bundle(german.frame, german.spec, german.y, extra=["age"])
    report = compliance_report(bundle, german.frame, record_audit_event=False)
    assert _status(report, "ecoa.protected_not_features")["evidence"]["protected_among_inputs"] == [
        "age"
    ]
    assert report["overall"] == "fail"


def test_strong_proxy_is_reported_with_its_association(german):
    frame = german.frame.copy()
    rng = np.random.default_rng(0)
    flip = rng.random(len(frame)) < 0.1
    frame["title_code"] = np.where((frame["sex"] == "female") ^ flip, "T1", "T2")
    bundle = _bundle(frame, german.spec, german.y, extra=["title_code"])
    report = compliance_report(bundle, frame, record_audit_event=False)
    proxies = _status(report, "ecoa.proxies")
    assert proxies["status"] == "warn"
    found = {(p["feature"], p["attribute"]) for p in proxies["evidence"]["proxies"]}
    assert ("title_code", "sex") in found
    assert report["overall"] == "pass"  # a proxy warns; it does not fail on its own
    assert cramers_v(frame["title_code"], frame["sex"]) > 0.7
    scan = proxy_scan(frame, german.spec, ["duration", "title_code"])
    assert scan["associations"][0]["feature"] == "title_code"


def test_identifier_among_inputs_fails_gdpr(german):
    frame = german.frame.copy()
    frame["email"] = [f"person{i}@example.org" for i in range(len(frame))]
    bundle = _bundle(frame, german.spec, german.y)
    check = check_pii_not_features(bundle, frame)
    assert check["status"] == "fail"
    assert check["evidence"]["identifier_like_inputs"][0]["column"] == "email"
    # "own_telephone" names a phone but holds a yes/no flag: not an identifier.
    clean = check_pii_not_features(_bundle(german.frame, german.spec, german.y), german.frame)
    assert clean["status"] == "pass"


def test_retention_and_logging_checks(home):
    assert check_retention()["status"] == "pass"
    use_settings(Settings(home=home, privacy={"retention_days": 0}))
    assert check_retention()["status"] == "fail"


def test_reports_are_written_as_json_and_html(tmp_path, german):
    bundle = _bundle(german.frame, german.spec, german.y)
    report = compliance_report(bundle, german.frame)
    paths = write_compliance(report, tmp_path / "out")
    saved = json.loads(paths["json"].read_text())
    assert saved["overall"] == "pass" and len(saved["checks"]) == 6
    html = paths["html"].read_text()
    assert html.startswith("<!DOCTYPE html>") and "Proxies of protected attributes" in html
    assert html.count('class="pass"') >= 5
    logging = check_decision_logging(bundle)
    assert logging["evidence"]["entries_checked"] >= 2
