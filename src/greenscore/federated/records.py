"""Typed reads of the single numbers GreenScore's Flower messages carry.

Flower types a record's values as scalars or lists (``ConfigRecord``, ``MetricRecord``);
the keys GreenScore reads with these helpers always hold one number (or its text), so a
list there is a malformed message, refused with the key named.
"""

from __future__ import annotations

from flwr.app import Message

from greenscore.errors import ModelError

NOT_A_NUMBER = "message value '{key}' is not a number (got {kind})"


def _scalar(value: object, key: str) -> int | float | str:
    if isinstance(value, int | float | str):
        return value
    raise ModelError(NOT_A_NUMBER.format(key=key, kind=type(value).__name__))


def error_reason(reply: Message) -> str:
    """Why a lender's reply is an error: Flower's reason, or its error code when it gave none."""
    return reply.error.reason or f"error code {reply.error.code}"


def as_int(value: object, key: str) -> int:
    """``value`` (a record's entry under ``key``) as an int."""
    return int(_scalar(value, key))


def as_float(value: object, key: str) -> float:
    """``value`` (a record's entry under ``key``) as a float."""
    return float(_scalar(value, key))
