"""Explanations: SHAP, LIME, attention, counterfactuals and adverse-action reason codes.

Names are imported on first use, so the serving layer can take reason codes without
loading shap, lime or DiCE.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

_EXPORTS = {
    "ReasonCode": "reason_codes",
    "ReasonCoder": "reason_codes",
    "attach_reason_codes": "reason_codes",
    "build_reason_table": "reason_codes",
    "adverse_action_notice": "adverse_action",
    "Explanation": "shap_values",
    "explain": "shap_values",
    "explain_batches": "shap_values",
    "global_importance": "shap_values",
    "summary_plot": "shap_plots",
    "waterfall_plot": "shap_plots",
    "TabularLime": "lime_explain",
    "lime_explain": "lime_explain",
    "CounterfactualExplainer": "counterfactuals",
    "counterfactuals": "counterfactuals",
    "what_if": "counterfactuals",
    "attention_report": "attention",
    "sequence_attention": "attention",
    "neighbour_attention": "attention",
    "explain_report": "report",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'greenscore.explain' has no attribute '{name}'")
    return getattr(import_module(f"greenscore.explain.{module}"), name)
