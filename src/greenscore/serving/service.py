"""The scoring service layer: applicants in, audited decisions out. Routes stay thin.

For each applicant: check the inputs against the training data (flag, clip or refuse),
pick the A/B variant (sticky by applicant id), reuse a cached answer for an identical
input or score it (the circuit breaker guards the primary; the fallback answers when it
fails), with reason codes where they are owed. Then the decisions are written
(:meth:`ScoringService.commit`): applicants without the consent ``privacy.require_consent``
names refused (one query per batch, off the event loop), grey-band decisions routed to
review if configured, and every decision's audit event and prediction-store row in one
transaction; only then is anyone answered. A request that no model can answer goes to the dead-letter table and its
caller gets 503; so does one whose decision could not be written. Each written decision is
offered to the monitor's sample of live applicants (:mod:`greenscore.monitoring.live`),
which the writing thread seals per closed window and :meth:`ScoringService.close` seals
whole at shutdown: no database write per request.

Single-applicant requests go through a :class:`LoopBatcher`, which scores together
whatever arrived in one turn of the event loop on the loop, and hands the batch to a
writer thread (:class:`~greenscore.serving.recorder.WriteBehind`) so the loop never waits
for the database; batches and jobs call :meth:`ScoringService.decide_payloads` from their
own threads, so a large batch never holds up real-time requests.
"""

from __future__ import annotations

import asyncio
import secrets
import weakref
from collections import ChainMap
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import numpy as np
from sqlalchemy import Connection

from greenscore.config import Settings
from greenscore.errors import DataError, GreenScoreError
from greenscore.features.relational import LINKS_KEY
from greenscore.json_document import plain
from greenscore.logging import get_logger
from greenscore.monitoring.live import LiveSamples, sampled_columns
from greenscore.privacy.consent import (
    CONSENT_MISSING,
    NO_SUBJECT_ID,
    ConsentMissingError,
    without_consent,
)
from greenscore.security.audit import AuditEvent
from greenscore.security.pseudonym import subject_hash as pseudonym
from greenscore.serving.batcher import LoopBatcher
from greenscore.serving.cache import AnswerCache
from greenscore.serving.deployment import Deployment, Variant
from greenscore.serving.dlq import record_dead_letter
from greenscore.serving.errors import ServiceUnavailableError
from greenscore.serving.model_store import ModelStore
from greenscore.serving.monitoring import Monitor
from greenscore.serving.named_subjects import named_subjects
from greenscore.serving.recorder import (
    Withdrawn,
    WriteBehind,
    prediction_row,
    record_decisions,
)
from greenscore.serving.review import insert_items, item_row
from greenscore.serving.schemas import LINKS_FIELD, links_field, links_row
from greenscore.serving.served_model import CACHED_ENERGY, EnergyPerCall, ScoreResult, ServedModel
from greenscore.serving.tracing import Tracing
from greenscore.serving.validation import Flag, InputGuard, input_hash
from greenscore.store import database

log = get_logger(__name__)

UNAVAILABLE = "no model could score request '{request_id}': it is kept for replay"
NOT_RECORDED = (
    "the decision on request '{request_id}' could not be recorded (the service's database "
    "failed): the request is kept for replay"
)
#: The route that scores one applicant per call. Its answers cost a call (the model's
#: measured single-call figure); the rows of a batch or a job share their calls' fixed
#: costs, so each costs the bundle's per-row batch figure.
ONE_APPLICANT_ROUTE = "/v1/score"


def new_request_id() -> str:
    """A fresh request id: 128 bits from the OS's CSPRNG (32 hex characters).

    Every response shows its id (``X-Request-ID``), unauthenticated ones included, so ids
    must not be predictable from earlier ones (a seeded Mersenne Twister was: 156 ids gave
    away the next). An id only names a decision; whoever asks about one must also own it.
    """
    return secrets.token_hex(16)


@dataclass
class Item:
    """One applicant to decide on."""

    request_id: str
    row: dict[str, Any]
    applicant_id: Any
    actor: str
    route: str = "/v1/score"
    flags: list[Flag] = field(default_factory=list)
    input_sha256: str = ""
    #: Who owns the decision (:mod:`greenscore.serving.ownership`); the actor if not given.
    tenant: str | None = None
    #: Protected attributes the caller sent that the model does not read: for the monitor's
    #: sample only (a shift in who applies matters to fairness); never scored or audited.
    protected: dict[str, Any] = field(default_factory=dict)
    #: The OpenTelemetry context of the request (None: tracing off): the spans of its
    #: scoring and commit, made on other threads or callbacks, are parented on it.
    trace: Any = field(default=None, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.tenant is None:
            self.tenant = self.actor


@dataclass
class Outcome:
    """The decision on one applicant, with everything the response and the audit need."""

    request_id: str
    model: ServedModel
    variant: str
    result: ScoreResult
    flags: list[Flag]
    fallback: bool = False
    cached: bool = False
    review_id: str | None = None
    item: Item | None = field(default=None, repr=False)

    @property
    def energy(self) -> EnergyPerCall:
        """What producing this answer cost: nothing for a cached one, a call for one
        applicant scored alone, a row's share for a row of a batch or job."""
        if self.cached:
            return CACHED_ENERGY
        if self.item is None or self.item.route == ONE_APPLICANT_ROUTE:
            return self.model.energy
        return self.model.batch_energy

    def to_dict(self) -> dict[str, Any]:
        """The JSON body of a score response."""
        r = self.result
        return {
            "request_id": self.request_id,
            "model": {
                "name": self.model.name,
                "version": self.model.version,
                "variant": self.variant,
            },
            "probability_of_default": r.probability_of_default,
            "score": r.score,
            "decision": r.decision,
            "reason_codes": [_reason(reason) for reason in r.reasons],
            "reasons_available": r.reasons_available,
            "flags": [f.to_dict() for f in self.flags],
            "fallback": self.fallback,
            "cached": self.cached,
            "review_id": self.review_id,
            "energy": self.energy.to_dict(),
        }


#: ``also(answers) -> write(conn)``: given what each caller will get (an :class:`Outcome` or
#: an error), before the decisions' transaction, returns what to write in it as well.
AlsoWrite = Callable[[list["Outcome | BaseException"]], Callable[[Connection], object]]


@dataclass(frozen=True)
class Unanswered:
    """An applicant no model could answer: it becomes a dead letter when the batch is written."""

    item: Item
    error: BaseException
    model_uri: str


def _reason(reason: Any) -> dict[str, Any]:
    # ReasonCode.to_dict goes through dataclasses.asdict (a deep copy): per request, that
    # costs more than the rest of the response together.
    value = reason.value
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and value != value:
        value = None
    return {
        "code": reason.code,
        "feature": reason.feature,
        "contribution": float(reason.contribution),
        "value": value,
        "text": reason.text,
    }


def _monitored_row(item: Item | None) -> Mapping[str, Any]:
    """An applicant as the monitor's sample reads it (a view: nothing is copied here)."""
    assert item is not None
    return ChainMap(item.protected, item.row) if item.protected else item.row


class ScoringService:
    """Decides on applicants with the store's current deployment.

    Parameters
    ----------
    settings : Settings
    store : ModelStore
    monitor : Monitor, optional
        Metrics sink (a private one is made if omitted).
    tracing : Tracing, optional
        Spans of each decision (:mod:`greenscore.serving.tracing`); default as the
        settings' ``observability`` say.
    """

    def __init__(
        self,
        settings: Settings,
        store: ModelStore,
        *,
        monitor: Monitor | None = None,
        tracing: Tracing | None = None,
    ) -> None:
        self.settings = settings
        self.db = database(settings)
        self.store = store
        self.monitor = monitor or Monitor(settings.serving)
        self.tracing = tracing or Tracing.from_settings(settings.observability)
        self.cache = AnswerCache(settings.serving.cache_size)
        self._guards: weakref.WeakKeyDictionary[ServedModel, InputGuard] = (
            weakref.WeakKeyDictionary()
        )
        self.samples = LiveSamples(settings.monitoring, db=self.db)
        self._monitored: weakref.WeakKeyDictionary[ServedModel, tuple[str, ...]] = (
            weakref.WeakKeyDictionary()
        )
        self.writer: WriteBehind[Outcome | Unanswered | BaseException] = WriteBehind(
            self.commit, failed=self._not_written, name="greenscore-decisions"
        )
        self.batcher: LoopBatcher[Item, Outcome | Unanswered] = LoopBatcher(
            self.decide, writer=self.writer, max_items=settings.serving.micro_batch_rows
        )
        store.on_swap.append(self._on_swap)
        if store.ready:
            self._on_swap(store.deployment)

    def _on_swap(self, deployment: Deployment) -> None:
        self.monitor.on_deployment(deployment)
        self.cache.clear()

    def close(self) -> None:
        """Write what the writer thread still holds, then stop it, then seal the monitor's
        samples, the open windows' too (service shutdown)."""
        self.writer.close()
        self._flush_samples(everything=True)

    # ------------------------------------------------------------------ intake
    def guard(self, model: ServedModel) -> InputGuard:
        """The input guard of a model (built once per model)."""
        guard = self._guards.get(model)
        if guard is None:
            s = self.settings.serving
            guard = InputGuard(
                model.training_ranges,
                model.input_columns,
                margin=s.range_margin,
                refuse=s.refuse_out_of_range,
                spec=model.bundle.spec,
                refuse_implausible=s.refuse_implausible,
            )
            self._guards[model] = guard
        return guard

    def item(
        self,
        payload: Mapping[str, Any],
        *,
        actor: str,
        request_id: str | None = None,
        route: str = "/v1/score",
        tenant: str | None = None,
    ) -> Item:
        """Turn one validated applicant (column -> value) into an :class:`Item`.

        ``tenant`` owns the decision (default: ``actor``, the caller's principal id).

        Raises
        ------
        DataError
            If an input is outside the training range and the service refuses those.
        """
        parent = self.tracing.current()  # the request's: its later spans are not validate's
        with self.tracing.span("validate"):
            return self._item(
                payload,
                actor=actor,
                request_id=request_id,
                route=route,
                tenant=tenant,
                trace=parent,
            )

    def _item(
        self,
        payload: Mapping[str, Any],
        *,
        actor: str,
        request_id: str | None,
        route: str,
        tenant: str | None,
        trace: Any,
    ) -> Item:
        deployment = self.store.deployment
        model = deployment.primary.model
        id_name = model.id_name
        applicant_id = payload.get(id_name) if id_name else None
        purpose = self.settings.privacy.require_consent
        if purpose and (applicant_id is None or str(applicant_id) == ""):
            # Consent is looked up by the id; whether it was given is asked in commit.
            raise ConsentMissingError(
                NO_SUBJECT_ID.format(purpose=purpose, id_name=id_name or "the id column"),
                purpose=purpose,
            )
        row = {c: payload.get(c) for c in model.input_columns}
        links = links_row(payload.get(LINKS_FIELD)) if model.takes_links else None
        if links:
            row[LINKS_KEY] = links
        protected = {c: payload[c] for c in self._protected(model) if c in payload}
        flags = self.guard(model).check(row, payload)
        for flag in flags:
            self.monitor.flags.labels(flag.issue).inc()
        return Item(
            request_id=request_id or new_request_id(),
            row=row,
            applicant_id=applicant_id,
            actor=actor,
            route=route,
            flags=flags,
            tenant=tenant,
            input_sha256=input_hash(row, model.input_columns, applicant_id),
            protected=protected,
            trace=trace,
        )

    def submit(self, item: Item) -> asyncio.Future:
        """Queue one applicant for the micro-batching scorer (call from the event loop).

        The future gives its :class:`Outcome` once the decision is audited, or raises why
        there is none.
        """
        return self.batcher.submit(item)

    # ------------------------------------------------------------------ deciding
    def decide(self, items: list[Item]) -> list[Outcome | Unanswered | BaseException]:
        """Score a batch (no database work): one outcome per item, same order.

        An outcome is an :class:`Outcome` (a decision, not yet written), an
        :class:`Unanswered` (no model could answer) or the caller's error (a
        :class:`~greenscore.errors.DataError`). :meth:`commit` writes them.
        """
        deployment = self.store.deployment
        groups: dict[str, tuple[Variant, list[int]]] = {}
        for i, item in enumerate(items):
            variant = deployment.choose(
                None if item.applicant_id is None else str(item.applicant_id)
            )
            groups.setdefault(variant.label, (variant, []))[1].append(i)
        answers: list[tuple[ServedModel, str, ScoreResult, bool, bool] | BaseException] = [
            ServiceUnavailableError("not scored")
        ] * len(items)
        for variant, positions in groups.values():
            chosen = [items[i] for i in positions]
            for i, answer in zip(positions, self._answer(variant, deployment, chosen), strict=True):
                answers[i] = answer
        out: list[Outcome | Unanswered | BaseException] = []
        for item, answer in zip(items, answers, strict=True):
            if isinstance(answer, BaseException):
                out.append(self._unanswered(item, answer, deployment))
            else:
                out.append(self._outcome(item, *answer))
        return out

    def _answer(
        self, variant: Variant, deployment: Deployment, items: list[Item]
    ) -> list[tuple[ServedModel, str, ScoreResult, bool, bool] | BaseException]:
        """Model answers for one variant's items: cache, primary, then fallback."""
        model = variant.model
        out: list[Any] = [None] * len(items)
        todo = []
        for k, item in enumerate(items):
            hit = self.cache.get((model.label, item.input_sha256))
            if hit is not None:
                self.monitor.cache_hits.inc()
                out[k] = (model, variant.label, hit, False, True)
            else:
                todo.append(k)
        if not todo:
            return out
        rows = [items[k].row for k in todo]
        ids = [items[k].applicant_id for k in todo]
        traces = [items[k].trace for k in todo] if self.tracing.enabled else None
        results = self._score(model, rows, ids, breaker=variant.breaker, traces=traces)
        failed = [
            j
            for j, r in enumerate(results)
            if isinstance(r, BaseException) and not isinstance(r, DataError)
        ]
        if failed and deployment.fallback is not None:
            self.monitor.fallbacks.labels(variant.label).inc(len(failed))
            backup = self._score(
                deployment.fallback,
                [rows[j] for j in failed],
                [ids[j] for j in failed],
                traces=None if traces is None else [traces[j] for j in failed],
            )
            for j, result in zip(failed, backup, strict=True):
                results[j] = (
                    result
                    if isinstance(result, BaseException)
                    else (deployment.fallback, "fallback", result, True, False)
                )
        for j, k in enumerate(todo):
            result = results[j]
            if isinstance(result, ScoreResult):
                self.cache.put((model.label, items[k].input_sha256), result)
                out[k] = (model, variant.label, result, False, False)
            else:
                out[k] = result
        return out

    def _score(
        self,
        model: ServedModel,
        rows: list[dict[str, Any]],
        ids: list[Any],
        *,
        breaker: Any = None,
        traces: list[Any] | None = None,
    ) -> list[Any]:
        """Score rows, isolating a bad row; the breaker counts model failures, not bad input.

        ``traces``: each row's request context (tracing on), under which the ``score`` and
        ``reasons`` spans of this model call are made.
        """
        if breaker is not None and not breaker.allow():
            return [ServiceUnavailableError(f"circuit open for {model.label}")] * len(rows)
        timings: dict[str, tuple[int, int]] | None = {} if traces else None
        try:
            results: list[Any] = list(model.score(rows, ids, timings=timings))
        except DataError as exc:
            if breaker is not None:
                breaker.record_success()
            self._trace_scoring(model, traces, timings, rows, exc)
            if len(rows) == 1:
                return [exc]
            # One applicant's bad value must not fail the others scored with it.
            return [
                r
                for k in range(len(rows))
                for r in self._score(
                    model, [rows[k]], [ids[k]], traces=None if traces is None else [traces[k]]
                )
            ]
        except Exception as exc:  # noqa: BLE001 - counted, then the fallback is tried
            self._trace_scoring(model, traces, timings, rows, exc)
            self.monitor.errors.labels("model").inc()
            log.warning("model failed", extra={"model": model.label, "error": repr(exc)})
            if breaker is not None:
                breaker.record_failure()
            return [exc] * len(rows)
        if breaker is not None:
            breaker.record_success()
        self._trace_scoring(model, traces, timings, results)
        return results

    def _trace_scoring(
        self,
        model: ServedModel,
        traces: list[Any] | None,
        timings: dict[str, tuple[int, int]] | None,
        results: list[Any],
        error: BaseException | None = None,
    ) -> None:
        """The ``score`` and ``reasons`` spans of one model call, under each request's
        span (:mod:`greenscore.serving.tracing`: why one per request)."""
        if not traces or timings is None or "score" not in timings:
            return
        size = len(traces)
        common: dict[str, str | int] = {
            "greenscore.model": model.label,
            "greenscore.batch.size": size,
        }
        start, end = timings["score"]
        scored = "reasons" in timings
        self.tracing.fan_out("score", traces, start, end, common, error=None if scored else error)
        if scored:
            explained = sum(1 for r in results if isinstance(r, ScoreResult) and r.reasons)
            start, end = timings["reasons"]
            attributes = {**common, "greenscore.reasons.explained": explained}
            self.tracing.fan_out("reasons", traces, start, end, attributes, error=error)

    def _outcome(
        self,
        item: Item,
        model: ServedModel,
        variant: str,
        result: ScoreResult,
        fallback: bool,
        cached: bool,
    ) -> Outcome:
        return Outcome(
            request_id=item.request_id,
            model=model,
            variant=variant,
            result=result,
            flags=item.flags,
            fallback=fallback,
            cached=cached,
            item=item,
        )

    def _unanswered(
        self, item: Item, error: BaseException, deployment: Deployment
    ) -> Unanswered | BaseException:
        """An input the model cannot use (DataError) is the caller's and passes as it is;
        anything else a model raised on a validated applicant — whatever its class or its
        status, a ConfigError or a ModelError included — is the service's fault and is kept
        as a dead letter."""
        if isinstance(error, DataError):
            return error
        return Unanswered(item, error, deployment.primary.model.uri)

    # ------------------------------------------------------------------ writing
    def commit(
        self,
        decided: list[Outcome | Unanswered | BaseException],
        *,
        also: AlsoWrite | None = None,
    ) -> list[Outcome | BaseException]:
        """Write decided outcomes and return what each caller gets, same order.

        Grey-band decisions are queued for review (if configured); then every decision's
        audit event and prediction row are written in one transaction; unanswered
        requests become dead letters (their callers get 503).

        ``also``, when given and there are decisions to write, is handed what each caller
        will get (an unanswered request as the 503 it becomes) and what it returns runs in
        the decisions' transaction: a job saves its chunk's results and progress there.
        With no decision to write it is not called and nothing of it is written.

        Raises
        ------
        Exception
            Whatever the database raises for the decisions' transaction (nothing of it is
            stored; :meth:`_not_written` turns them into dead letters).
        """
        purpose = self.settings.privacy.require_consent
        if purpose:
            decided = self._refuse_unconsented(decided, purpose)
        outcomes = [o for o in decided if isinstance(o, Outcome)]
        if outcomes:
            items = self._review_items(outcomes)
            events, rows = self._records(outcomes)
            job_write = also([self._preview(o) for o in decided]) if also is not None else None

            def write(conn: Connection) -> None:
                insert_items(conn, items)  # queued with their decisions, or not at all
                if job_write is not None:
                    job_write(conn)

            traces = [o.item.trace for o in outcomes if o.item and o.item.trace is not None]
            with self.tracing.shared(
                "audit.commit", traces, {"greenscore.commit.decisions": len(outcomes)}
            ):
                record_decisions(events, rows, settings=self.settings, also=write)
            self._observe(outcomes)
            self._sample(outcomes, [row["subject_hash"] for row in rows])
        return [self._answered(o) for o in decided]

    def _refuse_unconsented(
        self, decided: list[Outcome | Unanswered | BaseException], purpose: str
    ) -> list[Outcome | Unanswered | BaseException]:
        """Each decided applicant who has not consented to ``purpose`` becomes a refusal
        (403): no decision, prediction or dead letter is written for them.

        Asked here, on the writing thread, with one query for the whole batch: not on the
        event loop, and not one query per request.
        """
        hashes = {
            k: pseudonym(o.item.applicant_id, settings=self.settings)
            for k, o in enumerate(decided)
            if isinstance(o, Outcome | Unanswered)
            and o.item is not None
            and o.item.applicant_id is not None
        }
        missing = without_consent(hashes.values(), purpose, db=self.db)
        if not missing:
            return decided
        refusal = CONSENT_MISSING.format(who="this applicant", purpose=purpose)
        return [
            ConsentMissingError(refusal, purpose=purpose) if hashes.get(k) in missing else o
            for k, o in enumerate(decided)
        ]

    def _preview(self, outcome: Outcome | Unanswered | BaseException) -> Outcome | BaseException:
        """What a caller will get, before anything is written: :meth:`_answered` without
        the dead letter (written after the decisions' transaction)."""
        if isinstance(outcome, Unanswered):
            return ServiceUnavailableError(
                UNAVAILABLE.format(request_id=outcome.item.request_id), kept=True
            )
        return outcome

    def _answered(self, outcome: Outcome | Unanswered | BaseException) -> Outcome | BaseException:
        if isinstance(outcome, Unanswered):
            return self._dead_letter(outcome.item, outcome.error, outcome.model_uri)
        return outcome

    def _not_written(
        self, decided: list[Outcome | Unanswered | BaseException], error: Exception
    ) -> list[BaseException]:
        """A batch whose decisions could not be written: nobody is answered with them."""
        out: list[BaseException] = []
        for outcome in decided:
            if isinstance(outcome, Outcome) and outcome.item is not None:
                # Scored, but not written: the model was not the trouble.
                out.append(
                    self._dead_letter(outcome.item, error, outcome.model.uri, why=NOT_RECORDED)
                )
            elif isinstance(outcome, Unanswered):
                out.append(self._dead_letter(outcome.item, outcome.error, outcome.model_uri))
            elif isinstance(outcome, BaseException):
                out.append(outcome)
            else:
                out.append(ServiceUnavailableError(UNAVAILABLE.format(request_id="?")))
        return out

    def _review_items(self, outcomes: list[Outcome]) -> list[dict[str, Any]]:
        """The review-queue rows of the grey-band decisions (if they are routed there);
        each outcome learns its item's id."""
        if not self.settings.serving.route_grey_band_to_review:
            return []
        items = []
        for outcome in outcomes:
            result = outcome.result
            if result.decision == "review" and outcome.item is not None:
                items.append(
                    item_row(
                        request_id=outcome.request_id,
                        kind="grey_band",
                        model=outcome.model.label,
                        decision=result.decision,
                        probability=result.probability_of_default,
                        tenant=outcome.item.tenant,
                    )
                )
                outcome.review_id = items[-1]["id"]
        return items

    def _records(self, outcomes: list[Outcome]) -> tuple[list[AuditEvent], list[dict[str, Any]]]:
        """The audit event and prediction row of each decision (the subject hashed once)."""
        events, rows = [], []
        for outcome in outcomes:
            item, result, model = outcome.item, outcome.result, outcome.model
            assert item is not None
            reasons = [r.code for r in result.reasons]
            subject_hash = (
                None
                if item.applicant_id is None
                else pseudonym(item.applicant_id, settings=self.settings)
            )
            # Built from known fields only: the raw applicant id never enters the details,
            # so the event carries the subject as its hash alone.
            details = {
                "request_id": item.request_id,
                "model": {"name": model.name, "version": model.version, "variant": outcome.variant},
                "input_sha256": item.input_sha256,
                "pd": round(result.probability_of_default, 6),
                "score": result.score,
                "decision": result.decision,
                "reason_codes": reasons,
                "fallback": outcome.fallback,
                "flags": [f"{f.field}:{f.issue}" for f in item.flags],
            }
            events.append(
                AuditEvent("decision", actor=item.actor, details=details, subject_hash=subject_hash)
            )
            rows.append(
                prediction_row(
                    request_id=item.request_id,
                    subject_hash=subject_hash,
                    model_name=model.name,
                    model_version=model.version,
                    input_hash=item.input_sha256,
                    decision=result.decision,
                    probability=result.probability_of_default,
                    payload={
                        "score": result.score,
                        "variant": outcome.variant,
                        "fallback": outcome.fallback,
                        "reason_codes": reasons,
                        "review_id": outcome.review_id,
                        # What the decision cost, for the ESG report's scoring energy.
                        "energy_kwh": plain(outcome.energy.kwh),
                    },
                    tenant=item.tenant,
                )
            )
        return events, rows

    def _observe(self, outcomes: list[Outcome]) -> None:
        """Count written decisions in the metrics, one call per model and variant."""
        groups: dict[tuple[int, str], list[Outcome]] = {}
        for outcome in outcomes:
            groups.setdefault((id(outcome.model), outcome.variant), []).append(outcome)
        for group in groups.values():
            model, variant = group[0].model, group[0].variant
            self.monitor.observe_decisions(
                model,
                variant,
                [o.result.probability_of_default for o in group],
                [o.result.decision for o in group],
                sum(o.energy.kwh for o in group),
                sum(o.energy.co2_kg for o in group),
            )

    def _sample(self, outcomes: list[Outcome], subjects: list[str | None]) -> None:
        """Offer written decisions to the monitor's samples, one offer per model.

        The decisions are written already: a sample that cannot be sealed is logged and
        counted, never the caller's failure.
        """
        if not self.samples.enabled:
            return
        groups: dict[int, list[int]] = {}
        for k, outcome in enumerate(outcomes):
            groups.setdefault(id(outcome.model), []).append(k)
        try:
            for positions in groups.values():
                model = outcomes[positions[0]].model
                self.samples.offer(
                    model.name,
                    (_monitored_row(outcomes[k].item) for k in positions),
                    (outcomes[k].result.probability_of_default for k in positions),
                    columns=self._monitored_columns(model),
                    subjects=(subjects[k] for k in positions),
                )
        except Exception as exc:  # noqa: BLE001 - monitoring must not fail written decisions
            self.monitor.errors.labels("monitor_sample").inc()
            log.error("monitor samples not sealed", extra={"error": repr(exc)})

    def _monitored_columns(self, model: ServedModel) -> tuple[str, ...]:
        """What the monitor reads of a model's applicants: its inputs and the spec's
        protected attributes, never an id, PII or a date (once per model)."""
        columns = self._monitored.get(model)
        if columns is None:
            columns = sampled_columns(model.bundle.spec, model.input_columns)
            self._monitored[model] = columns
        return columns

    def _protected(self, model: ServedModel) -> tuple[str, ...]:
        """Monitored columns the model does not read (protected attributes)."""
        inputs = set(model.input_columns)
        return tuple(c for c in self._monitored_columns(model) if c not in inputs)

    def _flush_samples(self, *, everything: bool = False) -> None:
        try:
            self.samples.flush(everything=everything)
        except Exception as exc:  # noqa: BLE001 - shutdown goes on; the loss is logged
            self.monitor.errors.labels("monitor_sample").inc()
            log.error("monitor samples not sealed", extra={"error": repr(exc)})

    def _dead_letter(
        self, item: Item, error: BaseException, model_uri: str, *, why: str = UNAVAILABLE
    ) -> BaseException:
        """Keep an unanswerable request in the dead-letter table; the caller gets 503."""
        self.monitor.errors.labels("unanswered").inc()
        try:
            record_dead_letter(
                request_id=item.request_id,
                kind="score",
                error=f"{type(error).__name__}: {error}",
                payload={"applicants": [self._applicant(item)]},
                subject_hashes=self._subject_hashes(item),
                mentions=partial(
                    named_subjects,
                    id_name=self.store.deployment.primary.model.id_name,
                    settings=self.settings,
                ),
                route=item.route,
                actor=item.actor,
                model=model_uri,
                db=self.db,
            )
            self.monitor.dead_letters.labels("score").inc()
            kept = True
        except Exception as exc:  # noqa: BLE001 - log the id at least; the caller still hears
            log.error(
                "dead letter not stored", extra={"request_id": item.request_id, "error": repr(exc)}
            )
            kept = False
        return ServiceUnavailableError(why.format(request_id=item.request_id), kept=kept)

    def _subject_hashes(self, item: Item) -> list[str | None] | None:
        """The letter's subject index; without a pepper (the fault itself) the letter is
        kept all the same, unindexed: losing the request would be worse."""
        if item.applicant_id is None:
            return None
        try:
            return [pseudonym(item.applicant_id, settings=self.settings)]
        except GreenScoreError as exc:
            log.error(
                "dead letter kept without its subject index",
                extra={"request_id": item.request_id, "error": str(exc)},
            )
            return None

    def _applicant(self, item: Item) -> dict[str, Any]:
        """The applicant as a request sends it (what a replay validates again)."""
        fields = {k: v for k, v in item.row.items() if k != LINKS_KEY}
        id_name = self.store.deployment.primary.model.id_name
        if id_name and item.applicant_id is not None:
            fields[id_name] = item.applicant_id
        links = links_field(item.row.get(LINKS_KEY))
        return {**fields, LINKS_FIELD: links} if links else fields

    # ------------------------------------------------------------------ convenience
    def decide_payloads(
        self,
        payloads: Sequence[Mapping[str, Any]],
        *,
        actor: str,
        route: str,
        request_ids: Sequence[str] | None = None,
        tenant: str | None = None,
        also: AlsoWrite | None = None,
    ) -> list[Outcome | BaseException]:
        """:meth:`item`, :meth:`decide` and :meth:`commit` for many applicants (batches,
        jobs, replays), in the calling thread: the outcomes returned are written.

        A refused input (out of range) is that applicant's outcome, not the batch's.
        ``tenant`` owns the decisions (default: ``actor``). ``also`` is :meth:`commit`'s,
        handed one answer per payload (refused inputs included). Traced as one ``decide``
        span (under the request's, if any: a job chunk's is a root) with one ``validate``.

        Raises
        ------
        Withdrawn
            If ``also``'s writer withdrew the batch: nothing of it is stored, no dead
            letter either.
        """
        with self.tracing.span("decide", {"greenscore.applicants": len(payloads)}):
            return self._decide_payloads(payloads, actor, route, request_ids, tenant, also)

    def _decide_payloads(
        self,
        payloads: Sequence[Mapping[str, Any]],
        actor: str,
        route: str,
        request_ids: Sequence[str] | None,
        tenant: str | None,
        also: AlsoWrite | None,
    ) -> list[Outcome | BaseException]:
        items: list[Item] = []
        outcomes: list[Outcome | BaseException | None] = []
        parent = self.tracing.current()  # decide's: its later spans are not validate's
        with self.tracing.span("validate", {"greenscore.applicants": len(payloads)}):
            for k, payload in enumerate(payloads):
                try:
                    rid = request_ids[k] if request_ids is not None else None
                    items.append(
                        self._item(
                            payload,
                            actor=actor,
                            request_id=rid,
                            route=route,
                            tenant=tenant,
                            trace=parent,
                        )
                    )
                    outcomes.append(None)
                except DataError as exc:
                    outcomes.append(exc)
        decided = self.decide(items) if items else []

        def per_payload(answers: Sequence[Outcome | BaseException]) -> list[Any]:
            it = iter(answers)
            return [o if o is not None else next(it) for o in outcomes]

        hook: AlsoWrite | None = None
        if also is not None:
            chunk_write = also

            def hook(answers: list[Outcome | BaseException]) -> Callable[[Connection], object]:
                return chunk_write(per_payload(answers))

        written: Sequence[Outcome | BaseException]
        try:
            written = self.commit(decided, also=hook)
        except Withdrawn:
            raise
        except Exception as exc:  # noqa: BLE001 - an unaudited decision must not be returned
            log.error("decisions not written", extra={"error": repr(exc), "n": len(decided)})
            written = self._not_written(decided, exc)
        return per_payload(written)
