"""What the server and every lender must hold identically: schema, layout, encoder.

Only JSON travels (never a pickle a lender would have to trust): the merged schema, the
encoder's column layout and the aggregated encoder statistics. Each side rebuilds the
feature pipeline and the :class:`TabularEncoder` from it deterministically; a lender
caches what it built under the state's fingerprint, since a deployment runs each message
in a fresh process but a simulation runs thousands in one.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import numpy as np
from sklearn.pipeline import Pipeline

from greenscore.data.spec import DatasetSpec
from greenscore.federated.encoder_stats import EncoderLayout, FirstRound, assemble_encoder
from greenscore.federated.schema import FederationSchema, fit_shared_features
from greenscore.models.torch.encoding import TabularEncoder


@dataclass
class EncoderStats:
    """The aggregated statistics the encoder is assembled from (JSON-able)."""

    log_mask: list[bool]
    missing: list[float]
    scales: list[float] | None
    level_shares: dict[str, list[float]]
    second_mean: list[float]
    rows: int

    def first(self) -> FirstRound:
        """As the decoded first round."""
        scales = np.asarray(self.scales if self.scales is not None else np.ones(len(self.missing)))
        return FirstRound(
            np.asarray(self.log_mask, dtype=bool),
            np.asarray(self.missing, dtype=float),
            scales,
            {k: np.asarray(v, dtype=float) for k, v in self.level_shares.items()},
        )


@dataclass
class SharedState:
    """Schema, layout and (once aggregated) encoder statistics of a federation."""

    schema: FederationSchema
    layout: EncoderLayout | None = None
    encoder: EncoderStats | None = None

    def to_json(self) -> str:
        """JSON text carried in every task's config."""
        data: dict[str, Any] = {"schema": json.loads(self.schema.to_json())}
        if self.layout is not None:
            data["layout"] = self.layout.__dict__
        if self.encoder is not None:
            data["encoder"] = self.encoder.__dict__
        return json.dumps(data, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> SharedState:
        """Inverse of :meth:`to_json`."""
        data = json.loads(text)
        schema = FederationSchema.from_json(json.dumps(data["schema"]))
        layout = EncoderLayout(**data["layout"]) if "layout" in data else None
        encoder = EncoderStats(**data["encoder"]) if "encoder" in data else None
        return cls(schema, layout, encoder)


def fingerprint(text: str) -> str:
    """Short hash of a shared-state text."""
    return hashlib.sha256(text.encode()).hexdigest()[:16]


@lru_cache(maxsize=8)
def _pipeline(state_json: str, spec_yaml: str) -> Pipeline:
    state = SharedState.from_json(state_json)
    return fit_shared_features(state.schema, DatasetSpec.from_dict(_yaml(spec_yaml)))


@lru_cache(maxsize=8)
def _encoder(state_json: str, spec_yaml: str) -> TabularEncoder:
    state = SharedState.from_json(state_json)
    assert state.layout is not None and state.encoder is not None
    stats = state.encoder
    return assemble_encoder(
        layout=state.layout,
        spec=DatasetSpec.from_dict(_yaml(spec_yaml)),
        first=stats.first(),
        second_mean=np.asarray(stats.second_mean, dtype=float),
        scales=None if stats.scales is None else np.asarray(stats.scales, dtype=float),
        rows=stats.rows,
    )


def _yaml(text: str) -> Any:
    import yaml

    return yaml.safe_load(text)


def shared_pipeline(state_json: str, spec: DatasetSpec) -> Pipeline:
    """The fitted feature pipeline for a shared state (cached per state)."""
    return _pipeline(_schema_only(state_json), spec.to_yaml())


def shared_encoder(state_json: str, spec: DatasetSpec) -> TabularEncoder:
    """The assembled encoder for a shared state with statistics (cached per state)."""
    return _encoder(state_json, spec.to_yaml())


def _schema_only(state_json: str) -> str:
    # The pipeline depends on the schema only: later states reuse the same cached fit.
    data = json.loads(state_json)
    return json.dumps({"schema": data["schema"]}, sort_keys=True)
