"""Regulatory checks of a model and its data, each pass / fail / warn with evidence.

- **ECOA** (Regulation B): no protected attribute, or feature derived from one, among
  the columns the model actually reads; proxies (inputs strongly associated with a
  protected attribute) are reported as a warning with their association.
- **FCRA** (and ECOA's notice rule): an adverse-action notice can be produced for a
  declined applicant: score, range, key factors and reasons, none of them protected.
- **GDPR**: no PII column (declared in the spec, or named like an identifier) among the
  model's inputs; a retention period is configured (``privacy.retention_days``).
- **EU AI Act Art. 12** (record-keeping): decisions can be logged — an event is appended
  to the hash-chained audit log and the whole chain verifies.

The report is JSON-ready; :func:`write_compliance` also writes an HTML page. ``overall``
is ``fail`` when any check fails; warnings do not fail it.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from greenscore.errors import GreenScoreError

PASS, FAIL, WARN = "pass", "fail", "warn"
_FLAG_MAX_DISTINCT = 5


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


def check_protected_not_features(bundle: Any) -> dict[str, Any]:
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
    bundle: Any, frame: pd.DataFrame, *, threshold: float | None = None
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
            WARN,
            "no protected column in the data: proxies could not be measured",
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


def check_adverse_action(bundle: Any, frame: pd.DataFrame, *, coder: Any = None) -> dict[str, Any]:
    """FCRA / ECOA: a notice with score, range and key factors for a declined applicant."""
    from greenscore.explain.adverse_action import adverse_action_notice
    from greenscore.explain.feature_map import (
        is_protected_feature,
        protected_columns,
        select_model_input,
    )
    from greenscore.explain.reason_codes import ReasonCoder

    title = "Adverse-action notice can be produced"
    regulation = "FCRA 15 U.S.C. 1681m / Reg B 1002.9"
    try:
        inputs = select_model_input(bundle, frame)
        pd_ = bundle.predict_pd(inputs)
        declined = np.flatnonzero(bundle.decisions(pd_) == "decline")
        position = int(declined[0]) if len(declined) else int(np.argmax(pd_))
        coder = coder or ReasonCoder.from_bundle(bundle, reference=frame)
        notice = adverse_action_notice(bundle, frame.iloc[[position]], coder=coder)
    except GreenScoreError as exc:
        return _check(
            "fcra.adverse_action_notice", regulation, title, FAIL, f"no notice: {exc}", {}
        )
    carriers = protected_columns(bundle.spec)
    cited_protected = [
        f["feature"] for f in notice["key_factors"] if is_protected_feature(f["feature"], carriers)
    ]
    evidence = {"declined_applicants": int(len(declined)), "example_notice": notice}
    if not notice["key_factors"]:
        return _check(
            "fcra.adverse_action_notice",
            regulation,
            title,
            FAIL,
            "the notice has no key factors",
            evidence,
        )
    if cited_protected:
        return _check(
            "fcra.adverse_action_notice",
            regulation,
            title,
            FAIL,
            f"the notice cites protected attributes: {cited_protected}",
            evidence,
        )
    note = "" if len(declined) else " (no applicant was declined: shown for the highest-risk one)"
    return _check(
        "fcra.adverse_action_notice",
        regulation,
        title,
        PASS,
        f"notice produced with score {notice['score']} and {len(notice['key_factors'])} key factors{note}",
        evidence,
    )


def check_pii_not_features(bundle: Any, frame: pd.DataFrame) -> dict[str, Any]:
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
    return _check(
        "gdpr.pii_not_features",
        regulation,
        "No personal identifiers as features",
        PASS,
        f"none of {len(bundle.spec.pii)} declared PII columns is a model input",
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


def check_decision_logging(bundle: Any, *, record: bool = True) -> dict[str, Any]:
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
                details={"model": bundle.name, "version": bundle.metadata.get("version")},
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


def compliance_report(
    bundle: Any,
    frame: pd.DataFrame,
    *,
    data_name: str | None = None,
    record_audit_event: bool = True,
    proxy_threshold: float | None = None,
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

    Returns
    -------
    dict
        ``model``, ``generated_at``, ``overall`` (pass/fail) and ``checks``.
    """
    checks = [
        check_protected_not_features(bundle),
        check_proxies(bundle, frame, threshold=proxy_threshold),
        check_adverse_action(bundle, frame),
        check_pii_not_features(bundle, frame),
        check_retention(),
        check_decision_logging(bundle, record=record_audit_event),
    ]
    return {
        "model": bundle.name,
        "model_version": bundle.metadata.get("version"),
        "data": data_name,
        "generated_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "overall": FAIL if any(c["status"] == FAIL for c in checks) else PASS,
        "checks": checks,
    }


def write_compliance(report: dict[str, Any], out_dir: Path | str) -> dict[str, Path]:
    """Write ``compliance.json`` and ``compliance.html`` into a folder and return their paths."""
    from greenscore.fairness.html import compliance_html

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    json_path, html_path = out / "compliance.json", out / "compliance.html"
    json_path.write_text(json.dumps(report, indent=2, default=str), encoding="utf-8")
    html_path.write_text(compliance_html(report), encoding="utf-8")
    return {"json": json_path, "html": html_path}
