"""Synthetic portfolios learnt from real ones: CTGAN or a Gaussian copula, with a quality
report (fidelity, privacy, utility) and the dataset spec travelling with the data."""

from greenscore.data.synthesize.layout import Layout, plan_layout
from greenscore.data.synthesize.synthesizer import (
    METHODS,
    SynthesisResult,
    spec_path,
    synthesize,
    synthetic_spec,
    write_spec,
)

__all__ = [
    "METHODS",
    "Layout",
    "SynthesisResult",
    "plan_layout",
    "spec_path",
    "synthesize",
    "synthetic_spec",
    "write_spec",
]
