"""Replaying dead letters: score kept requests again and record their decisions.

Used by ``greenscore dlq replay``. Each pending letter's applicants are validated against
the model's input schema and decided by the same service code as live traffic (audited,
stored, counted), with the model recorded in the letter or the one given. A letter
holding one applicant keeps its original request id, so the caller who was answered 503
can look its decision up under the id it was given. A link to a borrower erased since the
letter was kept is gone from it (``{"erased": true}`` in its place); the applicant is
scored without it, and the report says how many went (``links_erased``).
"""

from __future__ import annotations

from typing import Any

from greenscore.config import Settings
from greenscore.errors import DataError
from greenscore.privacy import sealed
from greenscore.serving import dlq
from greenscore.serving.model_store import ModelStore
from greenscore.serving.named_subjects import without_erased_links
from greenscore.serving.service import ScoringService, new_request_id
from greenscore.store import Database, database

NO_MODEL = "dead letter {id} names no model; pass --model"
NOT_REPLAYABLE = "dead letter {id} ({kind} on {route}) holds no applicants to score"


def _applicants(letter: dict[str, Any]) -> list[dict[str, Any]]:
    payload = letter["payload"]
    if isinstance(payload, dict) and isinstance(payload.get("applicants"), list):
        # An applicant erased since (right to erasure) is not scored again.
        kept = [a for a in payload["applicants"] if a != sealed.ERASED]
        if kept:
            return kept
    elif (
        letter["kind"] == "http"
        and letter.get("route") == "/v1/score"
        and isinstance(payload, dict)
    ):
        return [payload]
    raise DataError(
        NOT_REPLAYABLE.format(id=letter["id"], kind=letter["kind"], route=letter["route"])
    )


def replay(
    settings: Settings,
    *,
    ids: list[int] | None = None,
    model: str | None = None,
    actor: str = "dlq-replay",
) -> list[dict[str, Any]]:
    """Replay dead letters (the given ids, else every pending one).

    Parameters
    ----------
    settings : Settings
    ids : list of int, optional
    model : str, optional
        Model URI overriding the one each letter recorded.
    actor : str
        Who replays (the audit actor).

    Returns
    -------
    list of dict
        Per letter: ``id``, ``request_id``, ``status`` (``replayed`` or ``failed``) and
        ``decisions`` or ``error``.
    """
    db = database(settings)
    wanted = ids or [x["id"] for x in dlq.list_dead_letters(limit=10_000, db=db)]
    letters = [dlq.get_dead_letter(i, db=db) for i in wanted]
    stores: dict[str, tuple[ModelStore, ScoringService]] = {}
    return [_replay_one(settings, db, letter, model, actor, stores) for letter in letters]


def _replay_one(
    settings: Settings,
    db: Database,
    letter: dict[str, Any],
    model: str | None,
    actor: str,
    stores: dict[str, tuple[ModelStore, ScoringService]],
) -> dict[str, Any]:
    from greenscore.serving.app import applicant_schema

    out: dict[str, Any] = {"id": letter["id"], "request_id": letter["request_id"]}
    try:
        uri = model or letter.get("model")
        if not uri:
            raise DataError(NO_MODEL.format(id=letter["id"]))
        if uri not in stores:
            store = ModelStore(settings.serving, max_reasons=settings.scoring.reason_codes)
            store.load(uri)
            stores[uri] = (store, ScoringService(settings, store))
        store, service = stores[uri]
        schema = applicant_schema(store)
        kept = [without_erased_links(a) for a in _applicants(letter)]
        applicants = [schema.model_validate(a).model_dump(by_alias=True) for a, _ in kept]
        if erased := sum(n for _, n in kept):
            out["links_erased"] = erased
        request_ids = (
            [letter["request_id"]]
            if len(applicants) == 1
            else [new_request_id() for _ in applicants]
        )
        outcomes = service.decide_payloads(
            applicants,
            actor=actor,
            route=f"dlq:{letter['id']}",
            request_ids=request_ids,
            # The decision stays the original caller's, who may contest it by its id.
            tenant=letter.get("actor"),
        )
        failed = [o for o in outcomes if isinstance(o, BaseException)]
        if failed:
            raise failed[0]
        decided = [o for o in outcomes if not isinstance(o, BaseException)]
        out["decisions"] = [
            {
                "request_id": o.request_id,
                "decision": o.result.decision,
                "probability_of_default": o.result.probability_of_default,
                "model": o.model.label,
            }
            for o in decided
        ]
        out["status"] = dlq.REPLAYED
        note = "; ".join(f"{d['request_id']}: {d['decision']}" for d in out["decisions"])
        dlq.mark(letter["id"], dlq.REPLAYED, note=note[:2000], db=db)
    except Exception as exc:  # noqa: BLE001 - report per letter, keep going
        out["status"] = dlq.FAILED
        out["error"] = f"{type(exc).__name__}: {exc}"
        dlq.mark(letter["id"], dlq.FAILED, note=out["error"][:2000], db=db)
    return out
