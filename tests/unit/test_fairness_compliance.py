"""Regulatory checks: ECOA, FCRA, GDPR and AI Act record-keeping, with evidence."""

from __future__ import annotations

import json

import numpy as np
import pytest
from lightgbm import LGBMClassifier
from sklearn.pipeline import Pipeline

from greenscore.config import ScoringSettings, Settings, use_settings
from greenscore.data.loading import load_dataset
from greenscore.explain.reason_codes import attach_reason_codes
from greenscore.fairness.compliance import (
    NA,
    check_adverse_action,
    check_decision_logging,
    check_disparate_impact,
    check_pii_not_features,
    check_retention,
    compliance_report,
    overall_verdict,
    write_compliance,
)
from greenscore.fairness.metrics import fairness_summary
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
    bundle = ScoringBundle(name="lightgbm", spec=spec, pipeline=pipeline)
    # As `greenscore train` does: the reason table (typical values, risk sides) ships with it.
    attach_reason_codes(bundle, frame[columns], y)
    return bundle


@pytest.fixture(scope="module")
def german():
    return load_dataset(GERMAN, preset="german")


def _status(report, check_id):
    return next(c for c in report["checks"] if c["id"] == check_id)


@pytest.fixture(scope="module")
def german_bundle(german):
    return _bundle(german.frame, german.spec, german.y)


def test_compliance_fails_where_fairness_fails(german, german_bundle):
    report = compliance_report(german_bundle, german.frame, data_name="german")
    assert {c["id"] for c in report["checks"]} == {
        "ecoa.protected_not_features",
        "ecoa.proxies",
        "ecoa.disparate_impact",
        "fcra.adverse_action_notice",
        "gdpr.pii_not_features",
        "gdpr.retention",
        "ai_act.decision_logging",
    }
    fairness = fairness_summary(german_bundle, german.frame, n_boot=0)
    age = fairness["attributes"]["age_band"]
    assert age["four_fifths_rule"] == "fail" and age["flagged"]
    impact = _status(report, "ecoa.disparate_impact")
    assert impact["status"] == "fail"
    assert "age_band" in impact["summary"]
    found = impact["evidence"]["attributes"]
    assert set(found) == set(fairness["attributes"])
    for name, result in fairness["attributes"].items():
        assert found[name]["flagged"] == result["flagged"]
        assert found[name]["demographic_parity_ratio"] == result["demographic_parity_ratio"]
    assert report["overall"] == "fail"
    # Everything else about this model is in order.
    assert [c["id"] for c in report["checks"] if c["status"] == "fail"] == ["ecoa.disparate_impact"]
    logging = _status(report, "ai_act.decision_logging")
    assert logging["status"] == "pass" and logging["evidence"]["recorded_event_id"] >= 1


def test_disparate_impact_passes_when_no_group_is_treated_differently(german, german_bundle):
    frame = german.frame.assign(cohort=np.where(np.arange(len(german.frame)) % 2, "odd", "even"))
    spec = german.spec.model_copy(update={"protected": ["cohort"]})
    bundle = german_bundle
    original = bundle.spec
    bundle.spec = spec
    try:
        check = check_disparate_impact(bundle, frame)
    finally:
        bundle.spec = original
    assert check["status"] == "pass", check["summary"]
    assert check["evidence"]["attributes"]["cohort"]["four_fifths_rule"] == "pass"


def test_checks_with_nothing_to_check_are_not_applicable(german, german_bundle):
    spec = german.spec.model_copy(update={"protected": [], "derived": []})
    bundle = german_bundle
    original = bundle.spec
    bundle.spec = spec
    try:
        unlabelled = german.frame.drop(columns=[spec.target])
        report = compliance_report(bundle, unlabelled, record_audit_event=False)
    finally:
        bundle.spec = original
    for check_id in ("ecoa.protected_not_features", "ecoa.proxies", "ecoa.disparate_impact"):
        check = _status(report, check_id)
        assert check["status"] == NA and check["summary"].startswith("not applicable"), check
    pii = _status(report, "gdpr.pii_not_features")
    assert "none of 0" not in pii["summary"] and "declares no PII" in pii["summary"]
    assert report["overall"] == "pass"  # the checks that could run passed
    no_outcome = check_disparate_impact(german_bundle, german.frame.drop(columns=["class"]))
    assert no_outcome["status"] == NA and "no outcome column 'class'" in no_outcome["summary"]


def test_overall_verdict_treats_not_applicable_as_neither_pass_nor_fail():
    def checks(*statuses):
        return [{"status": s} for s in statuses]

    assert overall_verdict(checks(NA, NA)) == NA
    assert overall_verdict(checks(NA, "warn")) == NA
    assert overall_verdict(checks(NA, "pass", "warn")) == "pass"
    assert overall_verdict(checks("pass", NA, "fail")) == "fail"


def test_reasons_are_verified_on_real_declines(german, german_bundle):
    check = check_adverse_action(german_bundle, german.frame)
    assert check["status"] == "pass", check["evidence"]["failures"][:3]
    evidence = check["evidence"]
    assert evidence["sampled_declines"] == min(200, evidence["declined_applicants"]) > 20
    assert evidence["reasons_checked"] >= 3 * evidence["sampled_declines"]
    assert evidence["observed_outcomes_used"]
    notice = evidence["example_notice"]
    assert notice["decision"] == "decline" and len(notice["key_factors"]) == 4


def test_reasons_that_point_the_wrong_way_fail_the_fcra_check(german, german_bundle):
    table = german_bundle.metadata.reason_codes
    sides = table.pop("sides")
    try:  # a table without risk sides: reasons on contributions alone, as before
        check = check_adverse_action(german_bundle, german.frame)
    finally:
        table["sides"] = sides
    assert check["status"] == "fail"
    problems = [p for f in check["evidence"]["failures"] for p in f["problems"]]
    assert any("favourable side" in p or "observed defaults fall" in p for p in problems)


def test_no_declined_applicant_is_not_applicable(german, german_bundle):
    scoring = german_bundle.scoring
    german_bundle.scoring = ScoringSettings(approve_below=0.98, decline_above=0.999)
    try:
        check = check_adverse_action(german_bundle, german.frame)
    finally:
        german_bundle.scoring = scoring
    assert check["status"] == NA and check["summary"].startswith("not applicable")


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
    # Even so, no reason cites them.
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
    # A proxy warns; it does not fail on its own (German fails on disparate impact only).
    assert [c["id"] for c in report["checks"] if c["status"] == "fail"] == ["ecoa.disparate_impact"]
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


def test_reports_are_written_as_json_and_html(tmp_path, german, german_bundle):
    bundle = german_bundle
    report = compliance_report(bundle, german.frame)
    paths = write_compliance(report, tmp_path / "out")
    saved = json.loads(paths["json"].read_text())
    assert saved["overall"] == "fail" and len(saved["checks"]) == 7
    html = paths["html"].read_text()
    assert html.startswith("<!DOCTYPE html>") and "Proxies of protected attributes" in html
    assert html.count('class="pass"') >= 5 and html.count('class="fail"') == 2  # check + overall
    report["checks"][1]["status"] = NA
    assert 'class="na">N/A<' in write_compliance(report, tmp_path / "na")["html"].read_text()
    logging = check_decision_logging(bundle)
    assert logging["evidence"]["entries_checked"] >= 2
