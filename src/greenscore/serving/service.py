"""The scoring service layer: applicants in, audited decisions out. Routes stay thin.

For each applicant: check the inputs against the training data (flag, clip or refuse),
pick the A/B variant (sticky by applicant id), reuse a cached answer for an identical
input or score it (the circuit breaker guards the primary; the fallback answers when it
fails), write the decision to the hash-chained audit log, queue its prediction-store row,
route grey-band decisions to review if configured, and count it in the metrics. A
request that no model can answer goes to the dead-letter table and its caller gets 503.

Single-applicant requests go through a :class:`LoopBatcher`, which scores together
whatever arrived in one turn of the event loop and stores the predictions one turn later;
batches and jobs call :meth:`ScoringService.decide_payloads` from their own threads, so a
large batch never holds up real-time requests.
"""

from __future__ import annotations

import asyncio
import secrets
import weakref
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from greenscore.config import Settings
from greenscore.errors import DataError, GreenScoreError, PrivacyError
from greenscore.logging import get_logger
from greenscore.security.audit import hash_subject, record_event
from greenscore.serving.batcher import LoopBatcher
from greenscore.serving.cache import AnswerCache
from greenscore.serving.dlq import record_dead_letter
from greenscore.serving.errors import ServiceUnavailableError
from greenscore.serving.model_store import (
    Deployment,
    ModelStore,
    ScoreResult,
    ServedModel,
    Variant,
)
from greenscore.serving.monitoring import Monitor
from greenscore.serving.recorder import prediction_row, store_predictions
from greenscore.serving.review import add_item
from greenscore.serving.validation import Flag, InputGuard, input_hash

log = get_logger(__name__)

UNAVAILABLE = "no model could score request '{request_id}': it is kept for replay"


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
    record: dict[str, Any] | None = field(default=None, repr=False)

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
            "energy": self.model.energy.to_dict(),
        }


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


class ScoringService:
    """Decides on applicants with the store's current deployment.

    Parameters
    ----------
    settings : Settings
    store : ModelStore
    monitor : Monitor, optional
        Metrics sink (a private one is made if omitted).
    """

    def __init__(
        self,
        settings: Settings,
        store: ModelStore,
        *,
        monitor: Monitor | None = None,
    ) -> None:
        self.settings = settings
        self.store = store
        self.monitor = monitor or Monitor(settings.serving)
        self.cache = AnswerCache(settings.serving.cache_size)
        self._guards: weakref.WeakKeyDictionary[ServedModel, InputGuard] = (
            weakref.WeakKeyDictionary()
        )
        self.batcher: LoopBatcher[Item, Outcome] = LoopBatcher(
            self.decide, after=self.record, max_items=settings.serving.micro_batch_rows
        )
        store.on_swap.append(self._on_swap)
        if store.ready:
            self._on_swap(store.deployment)

    def _on_swap(self, deployment: Deployment) -> None:
        self.monitor.on_deployment(deployment)
        self.cache.clear()

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
        deployment = self.store.deployment
        model = deployment.primary.model
        id_name = model.id_name
        applicant_id = payload.get(id_name) if id_name else None
        row = {c: payload.get(c) for c in model.input_columns}
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
        )

    def submit(self, item: Item) -> asyncio.Future:
        """Queue one applicant for the micro-batching scorer (call from the event loop).

        The future gives its :class:`Outcome` or raises why there is none.
        """
        return self.batcher.submit(item)

    def record(self, outcomes: Sequence[Outcome | BaseException]) -> int:
        """Store the predictions of decided outcomes (one transaction); returns how many."""
        rows = [o.record for o in outcomes if isinstance(o, Outcome) and o.record is not None]
        return store_predictions(rows)

    # ------------------------------------------------------------------ deciding
    def decide(self, items: list[Item]) -> list[Outcome | BaseException]:
        """Score, audit and record a batch; one outcome or exception per item, same order.

        A request no model could answer becomes a :class:`ServiceUnavailableError` after
        its applicant is kept in the dead-letter table.
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
        outcomes: list[Outcome | BaseException] = []
        for item, answer in zip(items, answers, strict=True):
            if isinstance(answer, BaseException):
                outcomes.append(self._failed(item, answer, deployment))
                continue
            try:
                outcomes.append(self._finish(item, *answer))
            except Exception as exc:  # noqa: BLE001 - an unaudited decision must not be returned
                log.error(
                    "decision not recorded",
                    extra={"request_id": item.request_id, "error": repr(exc)},
                )
                outcomes.append(self._failed(item, exc, deployment))
        return outcomes

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
        results = self._score(model, rows, ids, breaker=variant.breaker)
        failed = [
            j
            for j, r in enumerate(results)
            if isinstance(r, BaseException) and not isinstance(r, DataError)
        ]
        if failed and deployment.fallback is not None:
            self.monitor.fallbacks.labels(variant.label).inc(len(failed))
            backup = self._score(
                deployment.fallback, [rows[j] for j in failed], [ids[j] for j in failed]
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
        self, model: ServedModel, rows: list[dict[str, Any]], ids: list[Any], *, breaker: Any = None
    ) -> list[Any]:
        """Score rows, isolating a bad row; the breaker counts model failures, not bad input."""
        if breaker is not None and not breaker.allow():
            return [ServiceUnavailableError(f"circuit open for {model.label}")] * len(rows)
        try:
            results: list[Any] = list(model.score(rows, ids))
        except DataError as exc:
            if breaker is not None:
                breaker.record_success()
            if len(rows) == 1:
                return [exc]
            # One applicant's bad value must not fail the others scored with it.
            return [r for k in range(len(rows)) for r in self._score(model, [rows[k]], [ids[k]])]
        except Exception as exc:  # noqa: BLE001 - counted, then the fallback is tried
            self.monitor.errors.labels("model").inc()
            log.warning("model failed", extra={"model": model.label, "error": repr(exc)})
            if breaker is not None:
                breaker.record_failure()
            return [exc] * len(rows)
        if breaker is not None:
            breaker.record_success()
        return results

    def _finish(
        self,
        item: Item,
        model: ServedModel,
        variant: str,
        result: ScoreResult,
        fallback: bool,
        cached: bool,
    ) -> Outcome:
        """Audit, record and count one decision."""
        reasons = [r.code for r in result.reasons]
        details = {
            "request_id": item.request_id,
            "model": {"name": model.name, "version": model.version, "variant": variant},
            "input_sha256": item.input_sha256,
            "pd": round(result.probability_of_default, 6),
            "score": result.score,
            "decision": result.decision,
            "reason_codes": reasons,
            "fallback": fallback,
            "flags": [f"{f.field}:{f.issue}" for f in item.flags],
        }
        subject = None if item.applicant_id is None else str(item.applicant_id)
        try:
            record_event("decision", actor=item.actor, subject=subject, details=details)
        except PrivacyError:
            # The id happens to occur inside a number or hash of the details: keep only
            # its keyed hash, in the details, so the event is still found by subject.
            details["subject_hash"] = hash_subject(subject) if subject else None
            record_event("decision", actor=item.actor, subject=None, details=details)
        review_id = None
        if result.decision == "review" and self.settings.serving.route_grey_band_to_review:
            review_id = add_item(
                request_id=item.request_id,
                kind="grey_band",
                model=model.label,
                decision=result.decision,
                probability=result.probability_of_default,
                tenant=item.tenant,
            )
        row = prediction_row(
            request_id=item.request_id,
            subject=subject,
            model_name=model.name,
            model_version=model.version,
            input_hash=item.input_sha256,
            decision=result.decision,
            probability=result.probability_of_default,
            payload={
                "score": result.score,
                "variant": variant,
                "fallback": fallback,
                "reason_codes": reasons,
                "review_id": review_id,
            },
            tenant=item.tenant,
        )
        self.monitor.observe_decisions(
            model,
            variant,
            [result.probability_of_default],
            [result.decision],
            0.0 if cached else model.energy.kwh,
            0.0 if cached else model.energy.co2_kg,
        )
        return Outcome(
            request_id=item.request_id,
            model=model,
            variant=variant,
            result=result,
            flags=item.flags,
            fallback=fallback,
            cached=cached,
            review_id=review_id,
            record=row,
        )

    def _failed(self, item: Item, error: BaseException, deployment: Deployment) -> BaseException:
        """Keep an unanswerable request in the dead-letter table; the caller's mistakes pass."""
        if isinstance(error, GreenScoreError) and not isinstance(error, ServiceUnavailableError):
            if error.http_status < 500 and not isinstance(error, PrivacyError):
                return error
        self.monitor.errors.labels("unanswered").inc()
        try:
            record_dead_letter(
                request_id=item.request_id,
                kind="score",
                error=f"{type(error).__name__}: {error}",
                payload={"applicants": [{**item.row, **self._id_field(item)}]},
                subjects=[item.applicant_id],
                route=item.route,
                actor=item.actor,
                model=deployment.primary.model.uri,
            )
            self.monitor.dead_letters.labels("score").inc()
        except Exception as exc:  # noqa: BLE001 - log the id at least; the caller still hears
            log.error(
                "dead letter not stored", extra={"request_id": item.request_id, "error": repr(exc)}
            )
        return ServiceUnavailableError(UNAVAILABLE.format(request_id=item.request_id))

    def _id_field(self, item: Item) -> dict[str, Any]:
        id_name = self.store.deployment.primary.model.id_name
        return {id_name: item.applicant_id} if id_name and item.applicant_id is not None else {}

    # ------------------------------------------------------------------ convenience
    def decide_payloads(
        self,
        payloads: Sequence[Mapping[str, Any]],
        *,
        actor: str,
        route: str,
        request_ids: Sequence[str] | None = None,
        tenant: str | None = None,
    ) -> list[Outcome | BaseException]:
        """:meth:`item`, :meth:`decide` and :meth:`record` for many applicants (batches,
        jobs, replays), in the calling thread.

        A refused input (out of range) is that applicant's outcome, not the batch's.
        ``tenant`` owns the decisions (default: ``actor``).
        """
        items: list[Item] = []
        outcomes: list[Outcome | BaseException | None] = []
        for k, payload in enumerate(payloads):
            try:
                rid = request_ids[k] if request_ids is not None else None
                items.append(
                    self.item(payload, actor=actor, request_id=rid, route=route, tenant=tenant)
                )
                outcomes.append(None)
            except DataError as exc:
                outcomes.append(exc)
        decided = self.decide(items) if items else []
        self.record(decided)
        it = iter(decided)
        return [o if o is not None else next(it) for o in outcomes]
