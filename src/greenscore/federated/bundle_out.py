"""The federation's result as an ordinary :class:`~greenscore.models.bundle.ScoringBundle`.

The shared feature pipeline and the federated estimator are chained exactly as
``greenscore train`` chains its own (``[("features", ...), ("model", ...)]``), so
``greenscore serve``, ``score`` and ``explain`` take the bundle as they take any other.
Two things a central fit learns from pooled rows are not available: the numeric training
ranges (a lender's minimum and maximum are single applicants' values, so they do not
leave the lender) and the reference rows of the reason-code table. The bundle carries
the categorical levels of the shared schema and the reason codes built without
reference rows; out-of-range checks at scoring time fall back to the spec's domain rules.
"""

from __future__ import annotations

from typing import Any

from sklearn.pipeline import Pipeline

from greenscore.config import get_settings
from greenscore.data.spec import DatasetSpec
from greenscore.explain.reason_codes import attach_reason_codes
from greenscore.features.imbalance import build_model_pipeline
from greenscore.models.bundle import ScoringBundle
from greenscore.models.metadata import BundleMetadata


def federated_bundle(
    *,
    pipeline_features: Pipeline,
    estimator: Any,
    spec: DatasetSpec,
    name: str,
    levels: dict[str, list[Any]],
    metadata: dict[str, Any],
) -> ScoringBundle:
    """Chain features and model into a bundle with reason codes and federation metadata.

    Parameters
    ----------
    pipeline_features : the fitted shared feature pipeline.
    estimator : the fitted federated classifier.
    spec : the federation's spec.
    name : the bundle's model name.
    levels : categorical column -> levels of the shared schema.
    metadata : merged into the bundle's metadata (rounds, metrics, energy, privacy).
    """
    pipeline = build_model_pipeline(pipeline_features, estimator)
    bundle = ScoringBundle(
        name=name,
        spec=spec,
        pipeline=pipeline,
        scoring=get_settings().scoring,
        metadata=BundleMetadata.read(
            {
                "training_ranges": {
                    c: {"levels": sorted(map(str, v))[:500]} for c, v in levels.items()
                },
                "trained_by": "federated",
                **metadata,
            }
        ),
    )
    attach_reason_codes(bundle)
    return bundle
