"""Feature engineering: spec-driven transformers, imbalance handling, selection, WoE binning.

Every transformer takes and returns a pandas DataFrame indexed by applicant id, so the
whole chain can sit in front of any GreenScore model inside one scikit-learn pipeline.
"""

from greenscore.features.behavioural import BehaviouralFeatures
from greenscore.features.coercion import TypeCoercer
from greenscore.features.financial import FinancialFeatures
from greenscore.features.imbalance import (
    SAMPLERS,
    SamplingPreparer,
    balanced_sample_weight,
    build_model_pipeline,
    make_sampler,
)
from greenscore.features.outliers import OutlierFlagger
from greenscore.features.pipeline import build_feature_pipeline
from greenscore.features.relational import RelationalFeatures
from greenscore.features.selection import FeatureSelector
from greenscore.features.temporal import TemporalFeatures
from greenscore.features.woe import WoEBinner

__all__ = [
    "SAMPLERS",
    "BehaviouralFeatures",
    "FeatureSelector",
    "FinancialFeatures",
    "OutlierFlagger",
    "RelationalFeatures",
    "SamplingPreparer",
    "TemporalFeatures",
    "TypeCoercer",
    "WoEBinner",
    "balanced_sample_weight",
    "build_feature_pipeline",
    "build_model_pipeline",
    "make_sampler",
]
