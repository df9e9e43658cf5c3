"""One loaded model ready to answer: its scoring runtime, reason coder, identity and energy.

A :class:`ServedModel` wraps a bundle's :class:`~greenscore.models.runtime.ScoringRuntime`
(applicants encoded once; PD, points and decision from the model matrix) and a
:class:`~greenscore.explain.reason_codes.ReasonCoder` on the same runtime, so the reasons
of a decision come from the matrix it was scored from. Reasons are computed where they
are owed: reviews and declines (Regulation B), or every decision with
``serving.reasons = "all"``, or where a caller asks.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np

from greenscore.data.input_rules import SENT_KEY
from greenscore.explain.reason_codes import ReasonCode, ReasonCoder
from greenscore.json_document import plain
from greenscore.logging import get_logger
from greenscore.models.bundle import BUNDLE_FILE, ScoringBundle
from greenscore.models.graph_part import as_stranger_rows
from greenscore.models.metadata import UNSAVED, BundleMetadata
from greenscore.models.runtime import Scored, ScoringRuntime, probe_rows

log = get_logger(__name__)

Reasons = Literal["adverse", "all"]


@dataclass(frozen=True)
class ScoreResult:
    """What one model said about one applicant."""

    probability_of_default: float
    score: float
    decision: str
    reasons: tuple[ReasonCode, ...] = ()
    reasons_available: bool = True


@dataclass(frozen=True)
class EnergyPerCall:
    """Energy and carbon of one scoring call, and how the figure was obtained."""

    kwh: float
    co2_kg: float
    method: str

    def to_dict(self) -> dict[str, Any]:
        """Plain data; NaN becomes None so the figure stays valid JSON."""
        return plain(vars(self))


#: What a cached answer cost: the model did not run.
CACHED_ENERGY = EnergyPerCall(kwh=0.0, co2_kg=0.0, method="answer cache: the model did not run")


def _metadata_energy(metadata: BundleMetadata) -> EnergyPerCall:
    metrics = metadata.metrics
    per_1k = metrics.get("energy_kwh_per_1k_predictions")
    kwh = float(per_1k) / 1000.0 if isinstance(per_1k, int | float) else float("nan")
    fit_kwh, fit_co2 = metrics.get("final_energy_kwh"), metrics.get("final_co2_kg")
    intensity = (
        float(fit_co2) / float(fit_kwh)
        if isinstance(fit_kwh, int | float) and isinstance(fit_co2, int | float) and fit_kwh > 0
        else float("nan")
    )
    return EnergyPerCall(
        kwh=kwh,
        co2_kg=kwh * intensity,
        method="bundle metadata: CodeCarbon per-row cost of batch scoring at training time",
    )


def _served_version(bundle: ScoringBundle, uri: str) -> str:
    """The bundle's version; for a bundle saved before versions were written, its file's hash."""
    if bundle.version != UNSAVED:
        return bundle.version
    path = Path(uri)
    target = path / BUNDLE_FILE if path.is_dir() else path
    if target.is_file():
        digest = hashlib.sha256()
        with target.open("rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                digest.update(block)
        return "sha256:" + digest.hexdigest()[:12]
    return "unversioned"


class ServedModel:
    """One loaded bundle ready to answer.

    Parameters
    ----------
    bundle : ScoringBundle
    uri : str
        Where it was loaded from.
    max_reasons : int
        Reason codes per explained decision.
    reasons : {"adverse", "all"}
        Which decisions carry reasons (``serving.reasons``).

    Attributes
    ----------
    name, version : str
        Registry name and version, or the bundle's name and content id.
    runtime : ScoringRuntime
    input_columns : list of str
        Raw fields the model reads.
    training_pd : list of float or None
        Quantiles of out-of-fold PD at training (for the PSI gauge).
    energy : EnergyPerCall
    """

    def __init__(
        self,
        bundle: ScoringBundle,
        *,
        uri: str,
        max_reasons: int,
        reasons: Reasons = "adverse",
        training_outcomes: Literal["hidden", "visible"] = "hidden",
    ) -> None:
        self.bundle = bundle
        self.uri = uri
        self.name = bundle.model_name
        self.version = _served_version(bundle, uri)
        self.runtime = ScoringRuntime(bundle)
        self.input_columns = list(self.runtime.raw_columns)
        self.id_name = bundle.spec.id_column
        #: Whether applicants' own links (the ``links`` field) change its scores.
        self.takes_links = bundle.takes_links
        #: Whether applicants are scored as strangers to the training graph (their ids and
        #: links reach no training borrower: ``serving.training_outcomes``).
        self.as_strangers = training_outcomes == "hidden" and bundle.reads_links
        self.training_ranges: dict[str, Any] = dict(bundle.metadata.training_ranges)
        quantiles = bundle.metadata.training_pd
        self.training_pd = [float(q) for q in quantiles] if quantiles else None
        self.max_reasons = max_reasons
        self.reasons = reasons
        # Per row of a batch, as training measured it; per single-applicant call until
        # calibrate_energy measures that (a call's fixed costs are not shared by other rows).
        self.batch_energy = _metadata_energy(bundle.metadata)
        self.energy = self.batch_energy
        self.coder, self.coder_error = self._build_coder()

    @property
    def label(self) -> str:
        """``name:version``."""
        return f"{self.name}:{self.version}"

    def _build_coder(self) -> tuple[ReasonCoder | None, str]:
        if self.runtime.probe_error is not None:
            # A model that cannot score probe applicants cannot be explained either.
            return None, f"the model fails on probe applicants ({self.runtime.probe_error})"
        try:
            coder = ReasonCoder.from_bundle(
                self.bundle, runtime=self.runtime, max_reasons=self.max_reasons
            )
            return coder, ""
        except Exception as exc:  # noqa: BLE001 - a model without reasons still scores
            log.warning("reason codes unavailable", extra={"model": self.label, "error": repr(exc)})
            return None, f"{type(exc).__name__}: {exc}"

    # ------------------------------------------------------------------ scoring
    def score(
        self,
        rows: Sequence[Mapping[str, Any]],
        ids: Sequence[Any],
        *,
        explain: Sequence[bool] | None = None,
        timings: dict[str, tuple[int, int]] | None = None,
    ) -> list[ScoreResult]:
        """Score raw applicants, with reasons where owed (and where ``explain`` asks).

        ``timings``, if given, gets the epoch-nanosecond start and end of ``"score"``
        (encode, PD, points, decision) and ``"reasons"`` (the service's trace spans).

        Raises
        ------
        DataError
            If a field cannot be read (the field is named).
        Exception
            Whatever the model raises; the caller's circuit breaker counts it.
        """
        started = time.time_ns() if timings is not None else 0
        if self.as_strangers:
            rows, ids = as_stranger_rows(rows, ids)
        every = self.reasons == "all"
        # Reasons owed to every row whatever its decision: the contributions come with the
        # PD, from the same pass over the trees (where the runtime walks them).
        all_wanted = every or (explain is not None and all(explain))
        try:
            scored = self.runtime.score(
                rows, ids, contributions=all_wanted and self.coder is not None
            )
        finally:  # a failed call is timed too: its span says it failed
            if timings is not None:
                timings["score"] = (started, started := time.time_ns())
        wanted = [
            every or scored.decisions[i] != "approve" or (explain is not None and explain[i])
            for i in range(len(rows))
        ]
        reasons, available = self._reasons(rows, scored, wanted)
        if timings is not None:
            timings["reasons"] = (started, time.time_ns())
        probability = scored.probability.tolist()
        points = np.round(scored.points, 1).tolist()
        decisions = scored.decisions.tolist()
        return [
            ScoreResult(
                probability_of_default=probability[i],
                score=points[i],
                decision=decisions[i],
                reasons=reasons.get(i, ()),
                reasons_available=available or not wanted[i],
            )
            for i in range(len(rows))
        ]

    def _reasons(
        self,
        rows: Sequence[Mapping[str, Any]],
        scored: Scored,
        wanted: Sequence[bool],
    ) -> tuple[dict[int, tuple[ReasonCode, ...]], bool]:
        which = [i for i, w in enumerate(wanted) if w]
        if not which:
            return {}, True
        if self.coder is None:
            return {}, False
        try:
            # Reasons quote what the caller sent where the input rules changed or did not
            # recognise it (the guard keeps those values under SENT_KEY).
            shown = [rows[i].get(SENT_KEY) for i in which]
            encoded = scored.encoded
            computed = scored.contributions[0] if scored.contributions is not None else None
            if len(which) != len(rows):
                encoded = encoded.take(which)
                computed = None if computed is None else computed[which]
            explained = self.coder.explain(encoded, shown, contributions=computed)
            return {i: tuple(r) for i, r in zip(which, explained, strict=True)}, True
        except Exception as exc:  # noqa: BLE001 - a decision is still a decision without reasons
            log.warning("reason codes failed", extra={"model": self.label, "error": repr(exc)})
            return {}, False

    def smoke_test(self) -> None:
        """Score probe applicants (with reasons) once; raises what the model raises."""
        rows, ids = probe_rows(self.bundle, n=8)
        self.score(rows, ids, explain=[True] * len(rows))

    def calibrate_energy(self) -> EnergyPerCall:
        """Measure this model's energy per single-applicant call with CodeCarbon and keep it."""
        from greenscore.sustainability.energy import energy_per_1k_predictions

        rows, ids = probe_rows(self.bundle, n=8)
        one_row, one_id = [rows[4]], [ids[4]]
        measured = energy_per_1k_predictions(
            lambda _x: self.score(one_row, one_id, explain=[True]),
            one_row,
            min_seconds=0.3,
            label=f"serve:{self.label}",
        )
        self.energy = EnergyPerCall(
            kwh=measured.kwh_per_1k / 1000.0,
            co2_kg=measured.co2_kg_per_1k / 1000.0,
            method=f"{measured.reading.method} (measured per call at load)",
        )
        return self.energy

    def info(self) -> dict[str, Any]:
        """Identity and serving details, for the admin API."""
        runtime = self.runtime
        return {
            "name": self.name,
            "version": self.version,
            "uri": self.uri,
            "fast_path": runtime.mode,
            "fast_path_note": runtime.reason,
            "contributions": runtime.terms or (self.coder.method if self.coder else None),
            "contributions_exact": runtime.exact,
            "reason_codes": self.coder is not None,
            "reason_codes_note": self.coder_error,
            "reasons_for": self.reasons,
            "energy_per_call": self.energy.to_dict(),
            "energy_per_batch_row": self.batch_energy.to_dict(),
        }
