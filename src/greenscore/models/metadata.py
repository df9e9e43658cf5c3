"""What a bundle says about itself: typed, versioned metadata, validated when a bundle loads.

Every consumer of a bundle reads the same facts (training ranges for the input rules,
training PDs for drift, the reason-code table, metrics, lineage, who registered it), so
they are fields of one pydantic model instead of string keys into a dict. The model is
versioned (:data:`SCHEMA_VERSION`): a bundle is pickled with its metadata as plain data,
and loading validates that data again, converting the plain dict of release 0.1.0
(schema 1) and refusing, with a :class:`~greenscore.errors.ModelError` naming the field
or the version, metadata this release cannot read.

A model's version (:meth:`BundleMetadata.model_version`) is the registry's version when
the bundle came from the registry, else a content id written when the bundle is saved:
it is what adverse-action notices, explanation reports, compliance and audit events name.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from greenscore.errors import ModelError
from greenscore.version import __version__

#: Version of the metadata layout written by this release (0.1.0 wrote schema 1, a dict).
SCHEMA_VERSION = 2
NEWER_SCHEMA = (
    "bundle metadata has schema version {found}, newer than this GreenScore {release} "
    "reads (up to {supported}): load it with the release that saved it ({saved}) or newer"
)
BAD_FIELD = "bundle metadata is not readable: field '{field}': {problem}"
NOT_A_MAPPING = "bundle metadata must be a mapping of fields, got {kind}"
UNSAVED = "unsaved"


class RegistryInfo(BaseModel):
    """Where a bundle loaded from the MLflow registry came from."""

    model_config = ConfigDict(extra="allow")

    name: str
    version: int
    run_id: str | None = None


class BundleMetadata(BaseModel):
    """Typed metadata of a :class:`~greenscore.models.bundle.ScoringBundle`.

    Attributes
    ----------
    schema_version : int
        Layout version (:data:`SCHEMA_VERSION` when written by this release).
    greenscore_version : str or None
        Release that saved the bundle.
    content_id : str or None
        ``sha256:`` and 12 hex digits of the fitted pipeline, written at save.
    registry : RegistryInfo or None
        Set when the bundle was loaded from the registry.
    metrics : dict
        Cross-validated metrics, energy and carbon of the fits.
    params, tuned_params : dict
        The classifier's parameters, and those tuning chose.
    training_ranges : dict
        ``{column: {min, max, p01, p99} | {levels: [...]}}`` of the training rows.
    training_pd : list of float or None
        Quantiles of out-of-fold PDs (drift and PSI references).
    lineage : dict
        Dataset hash, rows and location.
    seed : int or None
    reason_codes : dict or None
        The reason-code table (:func:`greenscore.explain.reason_codes.build_reason_table`).
    trained_by, lender : str or None
        ``federated`` and the lender of a federated model.
    federation : dict or None
        Summary of the federated run.

    Other keys are kept as they are (``extra="allow"``), so a bundle written with more
    facts than this release knows loads without losing them.
    """

    model_config = ConfigDict(extra="allow", validate_assignment=True)

    schema_version: int = SCHEMA_VERSION
    greenscore_version: str | None = None
    content_id: str | None = None
    registry: RegistryInfo | None = None
    metrics: dict[str, Any] = Field(default_factory=dict)
    params: dict[str, Any] = Field(default_factory=dict)
    tuned_params: dict[str, Any] | None = None
    training_ranges: dict[str, dict[str, Any]] = Field(default_factory=dict)
    training_pd: list[float] | None = None
    lineage: dict[str, Any] = Field(default_factory=dict)
    seed: int | None = None
    reason_codes: dict[str, Any] | None = None
    trained_by: str | None = None
    lender: str | None = None
    federation: dict[str, Any] | None = None

    def model_version(self) -> str:
        """The registry version if registered, else the content id (``unsaved`` before save)."""
        if self.registry is not None:
            return str(self.registry.version)
        return self.content_id or UNSAVED

    def to_dict(self) -> dict[str, Any]:
        """Plain data (what the pickle holds; ``metadata.json`` is its JSON text).

        Values stay Python objects: parameters may hold a spec or a frame, which the pickle
        keeps and the JSON file shows as text.
        """
        return self.model_dump()

    @classmethod
    def read(cls, data: Any) -> BundleMetadata:
        """Validate saved metadata, converting older layouts.

        Parameters
        ----------
        data : BundleMetadata or mapping
            What a bundle was saved with: this model, or the plain dict of an older release.

        Raises
        ------
        ModelError
            For metadata of a newer schema than this release reads, or a field that does not
            validate (the field is named).
        """
        if isinstance(data, BundleMetadata):
            return data
        if data is None:
            return cls()
        if not isinstance(data, dict):
            raise ModelError(NOT_A_MAPPING.format(kind=type(data).__name__))
        values = dict(data)
        found = values.get("schema_version", 1)
        if not isinstance(found, int) or found > SCHEMA_VERSION:
            raise ModelError(
                NEWER_SCHEMA.format(
                    found=found,
                    release=__version__,
                    supported=SCHEMA_VERSION,
                    saved=values.get("greenscore_version", "unknown"),
                )
            )
        if found < 2:
            values = _from_schema_1(values)
        try:
            return cls.model_validate(values)
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first.get("loc", ())) or "metadata"
            raise ModelError(BAD_FIELD.format(field=where, problem=first.get("msg"))) from None


def _from_schema_1(values: dict[str, Any]) -> dict[str, Any]:
    """Release 0.1.0's plain dict: the same keys, no schema number, an unused ``version``."""
    out = {k: v for k, v in values.items() if not (v is None and k in _DEFAULTED)}
    out["schema_version"] = SCHEMA_VERSION
    # 0.1.0 read a "version" key that nothing wrote; a value, if any, names the content.
    legacy = out.pop("version", None)
    if legacy is not None:
        out.setdefault("content_id", str(legacy))
    return out


#: Fields with a default that 0.1.0 may have saved as None.
_DEFAULTED = frozenset({"metrics", "params", "training_ranges", "lineage"})
