"""Refusing JSON bodies that no field of the API can hold: non-finite numbers and NUL characters,
and bodies that are not UTF-8 JSON text at all.

Python's ``json`` reads the non-standard literals ``NaN``, ``Infinity`` and ``-Infinity``,
and a number such as ``1e309`` as infinity; RFC 8259 allows none of them, no model input
is meaningful with them, and a validation error that echoes one cannot itself be written
as JSON. A ``\\u0000`` in a string cannot be stored in PostgreSQL text nor used in a file
name. Both are refused here, before any route sees the body, with the 422 shape of
FastAPI's validation errors naming each offending field (``loc``), so nothing of such a
request is stored anywhere.

The common body costs three substring searches: only a body holding ``NaN``,
``Infinity`` or ``\\u0000`` is parsed here to find the fields. A number that overflows
(``1e309``) has no such mark; the schema refuses it in every number field (finite numbers
only), and :func:`json_safe` lets the 422 answer say so. Reading bytes as UTF-8 adds an
ASCII test and a NUL search (and a decode only for a body that is not ASCII).

One rule for a body that cannot be read as JSON text, whatever the reason: **400**
``BadRequestError`` in the service's one error shape (``{"error", "detail",
"request_id"}``), the detail saying where. Its bytes may not be UTF-8 (refused here, by
:func:`unreadable_json`; FastAPI would answer a bare 400 "There was an error parsing the
body"), its syntax may be broken (FastAPI answers a 422 ``json_invalid``, which the app's
handler turns into this 400: :data:`NOT_JSON`), or it may nest deeper than the parser
goes (FastAPI's 400). 400, not 422: the content could not be read at all, which is what
400 means (RFC 9110, 15.5.1; 422 is for content that was read and is wrong, 15.5.21),
and a client handles one answer for one fault; 422 stays for a JSON document whose
fields are wrong. JSON between systems must be UTF-8 (RFC 8259, 8.1): UTF-16 and UTF-32,
which Python's ``json`` would guess from their NUL bytes and accept, are refused as well
(a raw NUL byte is never part of UTF-8 JSON text). A UTF-8 byte-order mark is let
through (the RFC allows ignoring it).
"""

from __future__ import annotations

import json
import math
from typing import Any

NOT_FINITE = "Input should be a finite number"
HAS_NUL = "Input should not contain a NUL character (\\u0000)"
NOT_UTF8 = (
    "the body is not JSON text: it must be UTF-8 (RFC 8259; UTF-16 and UTF-32 are not "
    "accepted), byte {pos} is not"
)
NOT_JSON = "the body is not JSON text: {error} (at character {pos})"
#: Errors listed in one answer; the rest are of the same kind.
MAX_ERRORS = 20


def _finite(value: Any) -> bool:
    if isinstance(value, float):
        return math.isfinite(value)
    try:
        float(value)  # an int too large for a float fails as one would in a float field
    except OverflowError:
        return False
    return True


def _walk(node: Any, loc: tuple[Any, ...], errors: list[dict[str, Any]]) -> None:
    if len(errors) >= MAX_ERRORS:
        return
    if isinstance(node, dict):
        for key, value in node.items():
            if "\x00" in key:
                errors.append(_error("string_nul", (*loc, key), HAS_NUL, key))
            _walk(value, (*loc, key), errors)
    elif isinstance(node, list):
        for i, value in enumerate(node):
            _walk(value, (*loc, i), errors)
    elif isinstance(node, str):
        if "\x00" in node:
            errors.append(_error("string_nul", loc, HAS_NUL, node))
    elif isinstance(node, int | float) and not isinstance(node, bool) and not _finite(node):
        errors.append(_error("finite_number", loc, NOT_FINITE, node))


def _error(kind: str, loc: tuple[Any, ...], msg: str, value: Any) -> dict[str, Any]:
    # The input is echoed as text: JSON has no way to write it as it was.
    if isinstance(value, str):
        text = value.replace("\x00", "\\u0000")[:200]
    elif isinstance(value, int):
        text = f"{'-' if value < 0 else ''}<integer of {len(str(abs(value)))} digits>"
    else:
        text = json_safe(value)
    return {"type": kind, "loc": ["body", *loc], "msg": msg, "input": text}


def json_safe(value: Any) -> Any:
    """``value`` with every non-finite float written as text (``"NaN"``, ``"Infinity"``,
    ``"-Infinity"``), so that it can be answered as standard JSON."""
    if isinstance(value, float) and not math.isfinite(value):
        return "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")
    if isinstance(value, dict):
        return {k: json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(v) for v in value]
    return value


def unreadable_json(body: bytes) -> str | None:
    """Why a JSON body's bytes cannot be read (:data:`NOT_UTF8`, naming the first byte that
    is not UTF-8 or is NUL), or None when they can."""
    pos = body.find(b"\x00")
    if not body.isascii():
        try:
            body.decode("utf-8")
        except UnicodeDecodeError as exc:
            pos = exc.start if pos < 0 else min(pos, exc.start)
    return None if pos < 0 else NOT_UTF8.format(pos=pos)


def unsafe_json_errors(body: bytes) -> list[dict[str, Any]]:
    """Validation errors (FastAPI's shape) for the non-finite numbers and NUL characters of
    a JSON body; empty when there are none or the body is not JSON (its route says so)."""
    if b"NaN" not in body and b"Infinity" not in body and b"\\u0000" not in body:
        return []
    try:
        document = json.loads(body)
    except (ValueError, RecursionError):
        return []
    errors: list[dict[str, Any]] = []
    try:
        _walk(document, (), errors)
    except RecursionError:  # nested nearly as deep as json allows: the route refuses it
        return []
    return errors
