"""Regulatory checks of a model and its data, each pass / fail / warn / n/a with evidence.

- **ECOA** (Regulation B): no protected attribute, or feature derived from one, among
  the columns the model actually reads; proxies (inputs strongly associated with a
  protected attribute) are reported as a warning with their association; the
  disparate-impact results of the model on the data — the very report ``greenscore
  fairness`` makes (:func:`greenscore.fairness.metrics.fairness_summary`) — fail the
  check wherever fairness flags an attribute (four-fifths rule, parity and odds gaps,
  significance, score disparity).
- **FCRA** (and ECOA's notice rule): the reasons given to real declined applicants are
  verified on a sample: each reason raised the applicant's risk (positive contribution),
  its value lies on the side of typical where risk is higher (by the model, and by the
  data's own default rates when the outcomes are present) and its wording says so
  ("high" above typical, "low" below); every sampled decline has a reason, none is
  protected; an example notice is attached.
- **GDPR**: no PII column (declared in the spec, or named like an identifier) among the
  model's inputs; a retention period is configured (``privacy.retention_days``).
- **EU AI Act Art. 12** (record-keeping): decisions can be logged — an event is appended
  to the hash-chained audit log and the whole chain verifies.

A check with nothing to check (no protected attribute declared, no protected column or
outcome in the data, no declined applicant) is ``n/a`` — "not applicable" — never a
pass. The report is JSON-ready; :func:`write_compliance` also writes an HTML page.
``overall`` is ``fail`` when any check fails, else ``pass`` when at least one check
passed (warnings and n/a do not fail it), else ``n/a``.
"""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from greenscore.errors import GreenScoreError
from greenscore.json_document import write_json
from greenscore.models.bundle import ScoringBundle

PASS, FAIL, WARN, NA = "pass", "fail", "warn", "n/a"
_FLAG_MAX_DISTINCT = 5
#: Declined applicants whose reasons the FCRA check verifies.
REASON_SAMPLE = 200
_LEVEL = re.compile(r" is (high|low) \(")


def _check(
    check_id: str, regulation: str, title: str, status: str, summary: str, evidence: Any
) -> dict[str, Any]:
    return {
        "id": check_id,
        "regulation": regulation,
        "title": title,
        "status": status,
        "summary": summary,
        "evidence": evidence,
    }


def check_protected_not_features(bundle: ScoringBundle) -> dict[str, Any]:
    """ECOA: the model reads no protected attribute (nor a feature derived from one)."""
    from greenscore.explain.feature_map import (
        is_protected_feature,
        model_feature_names,
        protected_columns,
        raw_input_columns,
    )

    spec = bundle.spec
    carriers = protected_columns(spec)
    inputs = raw_input_columns(bundle)
    features = model_feature_names(bundle)
    found_inputs = [c for c in inputs if is_protected_feature(c, carriers)]
    found_features = [f for f in features if is_protected_feature(f, carriers)]
    found = sorted(set(found_inputs) | set(found_features))
    evidence = {
        "protected_attributes": sorted(carriers),
        "model_inputs": inputs,
        "protected_among_inputs": found_inputs,
        "protected_among_model_features": found_features,
        "use_protected_as_features": spec.use_protected_as_features,
    }
    if not carriers and not spec.use_protected_as_features:
        return _check(
            "ecoa.protected_not_features",
            "ECOA / Reg B 12 CFR 1002.6",
            "No protected attribute as a feature",
            NA,
            "not applicable: the spec declares no protected attributes",
            evidence,
        )
    if found or spec.use_protected_as_features:
        what = ", ".join(found) if found else "the spec allows protected features"
        return _check(
            "ecoa.protected_not_features",
            "ECOA / Reg B 12 CFR 1002.6",
            "No protected attribute as a feature",
            FAIL,
            f"the model uses protected attributes: {what}",
            evidence,
        )
    return _check(
        "ecoa.protected_not_features",
        "ECOA / Reg B 12 CFR 1002.6",
        "No protected attribute as a feature",
        PASS,
        f"none of {len(carriers)} protected attributes is among {len(inputs)} model inputs",
        evidence,
    )


def check_proxies(
    bundle: ScoringBundle, frame: pd.DataFrame, *, threshold: float | None = None
) -> dict[str, Any]:
    """ECOA: inputs strongly associated with a protected attribute (warn, with evidence)."""
    from greenscore.explain.feature_map import raw_input_columns
    from greenscore.fairness.proxies import PROXY_THRESHOLD, proxy_scan

    present = [c for c in bundle.spec.protected if c in frame.columns]
    if not present:
        return _check(
            "ecoa.proxies",
            "ECOA (disparate impact)",
            "Proxies of protected attributes",
            NA,
            "not applicable: no protected column in the data, proxies cannot be measured",
            {"protected_attributes": bundle.spec.protected},
        )
    scan = proxy_scan(
        frame,
        bundle.spec,
        raw_input_columns(bundle),
        protected=present,
        threshold=PROXY_THRESHOLD if threshold is None else threshold,
    )
    evidence = {
        "measure": scan["measure"],
        "threshold": scan["threshold"],
        "rows": scan["rows"],
        "proxies": scan["proxies"],
        "strongest": scan["associations"][:10],
    }
    if scan["proxies"]:
        names = sorted({p["feature"] for p in scan["proxies"]})
        return _check(
            "ecoa.proxies",
            "ECOA (disparate impact)",
            "Proxies of protected attributes",
            WARN,
            f"{len(names)} input(s) strongly associated with a protected attribute: {', '.join(names)}",
            evidence,
        )
    top = scan["associations"][0]["cramers_v"] if scan["associations"] else 0.0
    return _check(
        "ecoa.proxies",
        "ECOA (disparate impact)",
        "Proxies of protected attributes",
        PASS,
        f"no input reaches Cramér's V {scan['threshold']} with a protected attribute (max {top})",
        evidence,
    )


def check_disparate_impact(
    bundle: ScoringBundle, frame: pd.DataFrame, *, seed: int = 0
) -> dict[str, Any]:
    """ECOA: the fairness report of this model on this data flags no protected attribute.

    The figures are those of :func:`greenscore.fairness.metrics.fairness_summary` (what
    ``greenscore fairness`` reports), so compliance fails exactly where fairness does.
    """
    from greenscore.fairness.metrics import fairness_summary

    regulation = "ECOA / Reg B 1002.4 (disparate impact)"
    title = "Disparate impact by protected group"
    present = [c for c in bundle.spec.protected if c in frame.columns]
    if not present:
        return _check(
            "ecoa.disparate_impact",
            regulation,
            title,
            NA,
            "not applicable: no protected column in the data",
            {"protected_attributes": bundle.spec.protected},
        )
    if bundle.spec.target not in frame.columns:
        return _check(
            "ecoa.disparate_impact",
            regulation,
            title,
            NA,
            f"not applicable: the data has no outcome column '{bundle.spec.target}'",
            {"protected_attributes": present},
        )
    # The verdicts do not depend on the bootstrap; its intervals are in the fairness report.
    report = fairness_summary(bundle, frame, protected=present, n_boot=0, seed=seed)
    attributes = {
        name: {
            "four_fifths_rule": result["four_fifths_rule"],
            "demographic_parity_ratio": result["demographic_parity_ratio"],
            "demographic_parity_difference": result["demographic_parity_difference"],
            "equalized_odds_difference": result["equalized_odds_difference"],
            "least_favoured_group": result["least_favoured_group"],
            "most_favoured_group": result["most_favoured_group"],
            "flagged": result["flagged"],
            "flag_reasons": result["flag_reasons"],
        }
        for name, result in report["attributes"].items()
    }
    evidence = {
        "measured_by": "greenscore.fairness.metrics.fairness_summary (as greenscore fairness)",
        "applicants": report["overall"]["applicants"],
        "approval_rate": report["overall"]["approval_rate"],
        "thresholds": report["thresholds"],
        "attributes": attributes,
    }
    if report["flagged"]:
        details = ", ".join(
            f"{a} (selection-rate ratio {attributes[a]['demographic_parity_ratio']}, "
            f"four-fifths {attributes[a]['four_fifths_rule']})"
            for a in report["flagged"]
        )
        return _check(
            "ecoa.disparate_impact",
            regulation,
            title,
            FAIL,
            f"fairness flags {details}; the reasons are in the evidence",
            evidence,
        )
    ratios = ", ".join(f"{a} {v['demographic_parity_ratio']}" for a, v in attributes.items())
    return _check(
        "ecoa.disparate_impact",
        regulation,
        title,
        PASS,
        f"no protected attribute is flagged; selection-rate ratios {ratios}",
        evidence,
    )


def _reason_problems(
    coder: Any,
    reasons: list[Any],
    *,
    observed: Any,
    carriers: set[str],
) -> list[str]:
    """What is wrong with one declined applicant's reasons (empty when nothing)."""
    from greenscore.explain.feature_map import is_protected_feature

    if not reasons:
        return ["no reason given"]
    problems = []
    for reason in reasons:
        feature, value = reason.feature, reason.value
        if reason.contribution <= 0:
            problems.append(f"{feature}: contribution {reason.contribution:.4g} did not raise risk")
        if is_protected_feature(feature, carriers):
            problems.append(f"{feature}: a protected attribute")
        if not coder.raises_risk(feature, value):
            problems.append(f"{feature}: {value!r} is on the model's favourable side of typical")
        if observed is not None and not observed.raises_risk(coder.features.index(feature), value):
            problems.append(f"{feature}: {value!r} is on the side where observed defaults fall")
        typical = coder.typical_value(feature)
        level = _LEVEL.search(reason.text)
        if typical is not None and level is not None:
            try:
                side = "high" if float(value) > typical else "low" if float(value) < typical else ""
            except (TypeError, ValueError):
                side = ""
            if level.group(1) != side:
                problems.append(
                    f"{feature}: worded '{level.group(1)}' for {value!r} (typical {typical})"
                )
    return problems


def check_adverse_action(
    bundle: ScoringBundle,
    frame: pd.DataFrame,
    *,
    coder: Any = None,
    sample_size: int = REASON_SAMPLE,
    seed: int = 0,
) -> dict[str, Any]:
    """FCRA / ECOA: the reasons given to real declined applicants are right, not just present.

    Up to ``sample_size`` declined applicants of ``frame`` (seeded sample) are explained;
    each reason must have raised risk, lie on the unfavourable side of typical (by the
    model, and by the default rates observed in ``frame`` when it has outcomes) and be
    worded that way; every sampled decline needs a reason and none may be protected.
    """
    from greenscore.data.loading import encode_target
    from greenscore.explain.adverse_action import adverse_action_notice
    from greenscore.explain.feature_map import model_frame, protected_columns, select_model_input
    from greenscore.explain.reason_codes import ReasonCoder
    from greenscore.explain.reason_sides import RiskSides, data_sides

    title = "Adverse-action reasons verified on declined applicants"
    regulation = "FCRA 15 U.S.C. 1681m / Reg B 1002.9"
    try:
        inputs = select_model_input(bundle, frame)
        pd_ = bundle.predict_pd(inputs)
        declined = np.flatnonzero(bundle.decisions(pd_) == "decline")
        coder = coder or ReasonCoder.from_bundle(bundle, reference=frame)
        example = int(declined[0]) if len(declined) else int(np.argmax(pd_))
        notice = adverse_action_notice(bundle, frame.iloc[[example]], coder=coder)
    except GreenScoreError as exc:
        return _check(
            "fcra.adverse_action_notice", regulation, title, FAIL, f"no notice: {exc}", {}
        )
    if not len(declined):
        return _check(
            "fcra.adverse_action_notice",
            regulation,
            title,
            NA,
            "not applicable: no applicant in the data is declined, so no reason can be verified",
            {"declined_applicants": 0, "example_notice_highest_risk": notice},
        )
    rng = np.random.default_rng(seed)
    sample = np.sort(rng.choice(declined, size=min(sample_size, len(declined)), replace=False))
    rows = frame.iloc[sample]
    explained = coder.explain_batch(rows)
    observed = None
    if bundle.spec.target in frame.columns:
        transformed = model_frame(bundle, inputs)
        observed = RiskSides(
            data_sides(
                transformed,
                encode_target(frame[bundle.spec.target], bundle.spec),
                features=coder.features,
                categorical=coder.categorical,
            ),
            coder.features,
            [coder.typical_value(f) for f in coder.features],
        )
    carriers = protected_columns(bundle.spec)
    failures: list[dict[str, Any]] = []
    for position, reasons in zip(sample, explained, strict=True):
        problems = _reason_problems(coder, reasons, observed=observed, carriers=carriers)
        if problems:
            failures.append({"row": int(position), "problems": problems})
    checked = sum(len(r) for r in explained)
    evidence = {
        "declined_applicants": int(len(declined)),
        "sampled_declines": int(len(sample)),
        "reasons_checked": int(checked),
        "observed_outcomes_used": observed is not None,
        "failures": failures[:20],
        "example_notice": notice,
    }
    if failures:
        return _check(
            "fcra.adverse_action_notice",
            regulation,
            title,
            FAIL,
            f"{len(failures)} of {len(sample)} sampled declines have wrong or missing reasons, "
            f"e.g. row {failures[0]['row']}: {failures[0]['problems'][0]}",
            evidence,
        )
    against = " and the observed default rates" if observed is not None else ""
    return _check(
        "fcra.adverse_action_notice",
        regulation,
        title,
        PASS,
        f"{checked} reasons of {len(sample)} sampled declines (of {len(declined)}) verified: each "
        f"raised risk, lies on its unfavourable side of typical by the model{against}, and is "
        "worded that way",
        evidence,
    )


def check_pii_not_features(bundle: ScoringBundle, frame: pd.DataFrame) -> dict[str, Any]:
    """GDPR: no declared PII and no identifier-named column among the model's inputs."""
    from greenscore.explain.feature_map import raw_input_columns
    from greenscore.privacy.pii import classify_name

    inputs = raw_input_columns(bundle)
    declared = [c for c in inputs if c in bundle.spec.pii]
    if bundle.spec.id_column in inputs:
        declared.append(bundle.spec.id_column)
    named = []
    for column in inputs:
        kind, reason = classify_name(column)
        # Few distinct values make it a flag ("has a telephone"), not an identifier.
        is_flag = (
            column in frame.columns and frame[column].nunique(dropna=True) <= _FLAG_MAX_DISTINCT
        )
        if kind == "direct_identifier" and not is_flag:
            named.append({"column": column, "reason": reason})
    evidence = {
        "declared_pii": bundle.spec.pii,
        "pii_among_inputs": declared,
        "identifier_like_inputs": named,
    }
    regulation = "GDPR Art. 5(1)(c) data minimisation"
    if declared or named:
        columns = declared + [n["column"] for n in named]
        return _check(
            "gdpr.pii_not_features",
            regulation,
            "No personal identifiers as features",
            FAIL,
            f"identifying columns among model inputs: {columns}",
            evidence,
        )
    declared_part = (
        f"none of the {len(bundle.spec.pii)} declared PII columns is a model input"
        if bundle.spec.pii
        else "the spec declares no PII columns (that part is not applicable)"
    )
    return _check(
        "gdpr.pii_not_features",
        regulation,
        "No personal identifiers as features",
        PASS,
        f"no model input is named like a direct identifier ({len(inputs)} inputs scanned); "
        f"{declared_part}",
        evidence,
    )


def check_retention() -> dict[str, Any]:
    """GDPR: a storage-limitation period is configured."""
    from greenscore.config import get_settings

    days = getattr(get_settings().privacy, "retention_days", None)
    evidence = {"setting": "privacy.retention_days", "value": days}
    regulation = "GDPR Art. 5(1)(e) storage limitation"
    if isinstance(days, int) and days > 0:
        return _check(
            "gdpr.retention",
            regulation,
            "Retention period configured",
            PASS,
            f"personal data is kept {days} days",
            evidence,
        )
    return _check(
        "gdpr.retention",
        regulation,
        "Retention period configured",
        FAIL,
        "privacy.retention_days is not a positive number of days",
        evidence,
    )


def check_decision_logging(bundle: ScoringBundle, *, record: bool = True) -> dict[str, Any]:
    """EU AI Act Art. 12: events can be appended to the audit log and the chain verifies."""
    regulation = "EU AI Act Art. 12 record-keeping"
    title = "Decisions are logged (tamper-evident audit log)"
    try:
        from greenscore.security.audit import record_event, verify_chain
    except ImportError as exc:
        return _check(
            "ai_act.decision_logging",
            regulation,
            title,
            FAIL,
            f"the audit log is not available: {exc}",
            {},
        )
    try:
        event = (
            record_event(
                "compliance.check",
                actor="greenscore compliance",
                details={"model": bundle.model_name, "version": bundle.version},
            )
            if record
            else None
        )
        verification = verify_chain()
    except GreenScoreError as exc:
        return _check(
            "ai_act.decision_logging",
            regulation,
            title,
            FAIL,
            f"the audit log cannot be written or read: {exc}",
            {},
        )
    evidence = {
        "recorded_event_id": event,
        "chain_ok": verification.ok,
        "entries_checked": verification.checked,
        "first_bad_id": verification.first_bad_id,
        "reason": verification.reason,
    }
    if not verification.ok:
        return _check(
            "ai_act.decision_logging",
            regulation,
            title,
            FAIL,
            f"the audit chain is broken: {verification.reason}",
            evidence,
        )
    return _check(
        "ai_act.decision_logging",
        regulation,
        title,
        PASS,
        f"audit chain intact over {verification.checked} entries",
        evidence,
    )


def overall_verdict(checks: list[dict[str, Any]]) -> str:
    """``fail`` if any check failed, else ``pass`` if any passed, else ``n/a``.

    Warnings and n/a checks never fail the report; a report in which nothing could be
    checked is not a pass.
    """
    statuses = {c["status"] for c in checks}
    if FAIL in statuses:
        return FAIL
    return PASS if PASS in statuses else NA


def compliance_report(
    bundle: ScoringBundle,
    frame: pd.DataFrame,
    *,
    data_name: str | None = None,
    record_audit_event: bool = True,
    proxy_threshold: float | None = None,
    seed: int = 0,
) -> dict[str, Any]:
    """Run every check on a model and a labelled (or unlabelled) applications frame.

    Parameters
    ----------
    bundle : ScoringBundle
        The model.
    frame : DataFrame
        Raw applications including the protected columns (for proxies).
    data_name : str, optional
        Where the data came from, for the report.
    record_audit_event : bool
        Append a ``compliance.check`` event to the audit log (the logging check).
    proxy_threshold : float, optional
        Cramér's V at or above which an input is reported as a proxy.
    seed : int
        Seed of the sample of declines whose reasons are verified.

    Returns
    -------
    dict
        ``model``, ``generated_at``, ``overall`` (pass / fail / n/a) and ``checks``.
    """
    checks = [
        check_protected_not_features(bundle),
        check_proxies(bundle, frame, threshold=proxy_threshold),
        check_disparate_impact(bundle, frame, seed=seed),
        check_adverse_action(bundle, frame, seed=seed),
        check_pii_not_features(bundle, frame),
        check_retention(),
        check_decision_logging(bundle, record=record_audit_event),
    ]
    return {
        "model": bundle.model_name,
        "model_version": bundle.version,
        "data": data_name,
        "generated_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "overall": overall_verdict(checks),
        "checks": checks,
    }


def write_compliance(report: dict[str, Any], out_dir: Path | str) -> dict[str, Path]:
    """Write ``compliance.json`` and ``compliance.html`` into a folder and return their paths."""
    from greenscore.fairness.html import compliance_html

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    json_path, html_path = out / "compliance.json", out / "compliance.html"
    write_json(json_path, report)
    html_path.write_text(compliance_html(report), encoding="utf-8")
    return {"json": json_path, "html": html_path}
