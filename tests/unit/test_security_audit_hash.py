"""Audit entry hashing and the raw-subject guard, without a database."""

from __future__ import annotations

import hashlib

import pytest

from greenscore.errors import PrivacyError
from greenscore.security.audit import GENESIS, _check_no_subject, canonical_json, entry_hash

FIELDS = dict(
    id=1,
    ts="2026-01-01T00:00:00.000000+00:00",
    action="score",
    actor="k1",
    subject_hash=None,
    details='{"pd":0.1}',
    prev_hash=GENESIS,
)


def test_canonical_json_is_key_order_independent() -> None:
    assert canonical_json({"b": 1, "a": [1, "é"]}) == '{"a":[1,"é"],"b":1}'
    assert canonical_json({"a": 1, "b": 2}) == canonical_json({"b": 2, "a": 1})


def test_entry_hash_is_sha256_of_canonical_fields() -> None:
    expected = hashlib.sha256(canonical_json(FIELDS).encode()).hexdigest()
    assert entry_hash(**FIELDS) == expected


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("id", 2),
        ("ts", "2026-01-01T00:00:00.000001+00:00"),
        ("action", "decide"),
        ("actor", "k2"),
        ("subject_hash", "ab" * 32),
        ("details", '{"pd":0.2}'),
        ("prev_hash", "1" * 64),
    ],
)
def test_every_field_changes_the_hash(field: str, value: object) -> None:
    assert entry_hash(**{**FIELDS, field: value}) != entry_hash(**FIELDS)


def test_raw_subject_in_details_is_refused() -> None:
    _check_no_subject({"pd": 0.1, "note": "fine"}, "APP-123456")
    with pytest.raises(PrivacyError, match="field 'meta.ref'"):
        _check_no_subject({"meta": {"ref": "id APP-123456"}}, "APP-123456")
    with pytest.raises(PrivacyError, match=r"field 'ids\[1\]'"):
        _check_no_subject({"ids": [1, 7]}, "7")
    # A short subject matches only whole values, not digits inside other numbers.
    _check_no_subject({"amount": 1700}, "7")
