"""Fairness by protected group, bias mitigation and regulatory checks.

Names are imported on first use (Fairlearn and torch load only when needed).
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

_EXPORTS = {
    "fairness_report": "metrics",
    "fairness_summary": "metrics",
    "attribute_report": "metrics",
    "sensitive_features": "groups",
    "age_bands": "groups",
    "mitigation_report": "mitigation",
    "kamiran_calders_weights": "mitigation",
    "AdversarialDebiasingClassifier": "adversarial",
    "proxy_scan": "proxies",
    "cramers_v": "proxies",
    "compliance_report": "compliance",
    "write_compliance": "compliance",
    "fairness_files": "report",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'greenscore.fairness' has no attribute '{name}'")
    return getattr(import_module(f"greenscore.fairness.{module}"), name)
