"""Where a request kept by the service names borrowers other than its own applicant.

A job's input rows and a dead letter keep applicants sealed (:mod:`greenscore.privacy.sealed`),
each row indexed by its applicant for erasure. But a row can name *other* borrowers: each
of its borrower links (the ``links`` field) carries the linked borrower's id, and a raw
request body kept whole (a ``/v1/jobs`` post that failed before it was parsed) holds many
applicants in one row. :func:`named_subjects` lists those places as
:class:`~greenscore.privacy.sealed.Mention` s, so that erasing a linked borrower replaces
their link in everyone else's kept row (with ``{"erased": true}``), and erasing an
applicant inside a raw body replaces that applicant. :func:`without_erased_links` takes
the erased links out again before a kept applicant is scored once more (a replay, a job
still queued), and says how many it took.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from greenscore.config import Settings
from greenscore.privacy.sealed import ERASED, Mention
from greenscore.security.pseudonym import subject_hashes
from greenscore.serving.dlq import APPLICANT_LISTS
from greenscore.serving.schemas import LINKS_FIELD


def _places(row: Any, id_name: str | None, prefix: str = "") -> Iterator[tuple[str, Any]]:
    """``(JSON pointer, borrower id)`` of each link in ``row`` and, in its applicant lists,
    of each applicant (and the links inside)."""
    if not isinstance(row, Mapping):
        return
    links = row.get(LINKS_FIELD)
    if isinstance(links, list):
        for k, link in enumerate(links):
            if isinstance(link, Mapping) and link.get("id") is not None:
                yield f"{prefix}/{LINKS_FIELD}/{k}", link["id"]
    for key in APPLICANT_LISTS:
        items = row.get(key)
        if not isinstance(items, list):
            continue
        for k, item in enumerate(items):
            place = f"{prefix}/{key}/{k}"
            if id_name and isinstance(item, Mapping) and item.get(id_name) is not None:
                yield place, item[id_name]
            yield from _places(item, id_name, place)


def named_subjects(
    rows: Sequence[Any], *, id_name: str | None, settings: Settings
) -> list[Mention]:
    """Every place in ``rows`` (about to be sealed) naming a borrower other than the row's
    own applicant, by that borrower's keyed hash.

    Raises
    ------
    PrivacyError
        If there is no pepper to hash with (a caller that must keep the rows all the same
        keeps them unindexed).
    """
    found = [(i, path, who) for i, row in enumerate(rows) for path, who in _places(row, id_name)]
    hashes = subject_hashes([who for _, _, who in found], settings=settings)
    return [
        Mention(position=i, path=path, subject_hash=h)
        for (i, path, _), h in zip(found, hashes, strict=True)
        if h
    ]


def without_erased_links(applicant: Mapping[str, Any]) -> tuple[Mapping[str, Any], int]:
    """The applicant with the links erased since it was kept taken out, and how many (the
    applicant itself, not a copy, when none were: every record of a job passes here)."""
    links = applicant.get(LINKS_FIELD)
    if not isinstance(links, list) or ERASED not in links:
        return applicant, 0
    kept = [link for link in links if link != ERASED]
    out = {k: v for k, v in applicant.items() if k != LINKS_FIELD}
    if kept:
        out[LINKS_FIELD] = kept
    return out, len(links) - len(kept)
