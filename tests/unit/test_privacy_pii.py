"""PII detection: every PII column of generated data is found, no ordinary column is, offline."""

from __future__ import annotations

import socket

import pandas as pd
import pytest

from greenscore.data.presets import load_preset
from greenscore.privacy import pii
from greenscore.privacy.pii import classify_name, columns_of, find_pii_in_text, scan_columns

PII_COLUMNS = {"name", "email", "phone", "national_id", "address"}
TEXT = (
    "Customer note: reach Jane at jane.doe@example.org or +1-415-555-0172; "
    "card 4111 1111 1111 1111; SSN 536-22-8726; IBAN GB82WEST12345698765432."
)


@pytest.fixture(scope="module")
def offline_engine():
    """Build the Presidio engine with every outbound connection refused."""

    def refuse(*_args, **_kwargs):
        raise OSError("network access attempted during the PII scan")

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(socket.socket, "connect", refuse)
        mp.setattr(socket.socket, "connect_ex", refuse)
        mp.setattr(socket, "create_connection", refuse)
        pii.analyzer.cache_clear()
        engine = pii.analyzer()
        hits = find_pii_in_text(TEXT)
    return engine, hits


@pytest.fixture(scope="module")
def synthetic() -> pd.DataFrame:
    from greenscore.data.synthetic import generate

    return generate(300, seed=11).applications


def test_free_text_entities_found_without_network(offline_engine) -> None:
    _engine, hits = offline_engine
    by_category = {h.category: h.text for h in hits}
    assert by_category["email"] == "jane.doe@example.org"
    assert by_category["phone"].endswith("415-555-0172")
    assert by_category["card"] == "4111 1111 1111 1111"
    assert by_category["national_id"] == "536-22-8726"
    assert by_category["iban"] == "GB82WEST12345698765432"
    assert all(TEXT[h.start : h.end] == h.text for h in hits)


def test_engine_is_built_once(offline_engine) -> None:
    engine, _hits = offline_engine
    assert pii.analyzer() is engine


def test_scan_finds_every_pii_column_and_no_ordinary_numeric_column(
    offline_engine, synthetic
) -> None:
    result = scan_columns(synthetic).set_index("column")
    direct = set(columns_of(result.reset_index(), "direct_identifier"))
    assert PII_COLUMNS <= direct
    numeric = [
        c
        for c in synthetic.columns
        if pd.api.types.is_numeric_dtype(synthetic[c]) and c not in {"applicant_id", "age"}
    ]
    assert len(numeric) > 40
    flagged = [c for c in numeric if result.loc[c, "classification"] != "none"]
    assert flagged == []
    # Content, not just names: the value scan recognises what the columns hold.
    assert result.loc["email", "entities"][0] == "EMAIL_ADDRESS"
    assert result.loc["national_id", "entities"][0] == "US_SSN"
    assert "PHONE_NUMBER" in result.loc["phone", "entities"]
    assert result.loc["email", "hit_rate"] == 1.0


def test_values_reveal_pii_under_a_bland_column_name(offline_engine, synthetic) -> None:
    frame = pd.DataFrame({"field_7": synthetic["email"], "field_8": synthetic["loan_purpose"]})
    result = scan_columns(frame).set_index("column")
    assert result.loc["field_7", "classification"] == "direct_identifier"
    assert "email" in result.loc["field_7", "reason"]
    assert result.loc["field_8", "classification"] == "none"


def test_spec_adds_id_column_and_protected_attributes(offline_engine, synthetic) -> None:
    result = scan_columns(synthetic, load_preset("synthetic")).set_index("column")
    assert result.loc["applicant_id", "classification"] == "direct_identifier"
    assert result.loc["age", "classification"] == "quasi_identifier"
    assert "protected attribute" in result.loc["sex", "reason"]


@pytest.mark.parametrize(
    ("column", "expected"),
    [
        ("first_name", "direct_identifier"),
        ("E-Mail", "direct_identifier"),
        ("mobilePhone", "direct_identifier"),
        ("SSN", "direct_identifier"),
        ("post_code", "quasi_identifier"),
        ("applicant_age", "quasi_identifier"),
        ("ethnicity", "sensitive"),
        ("mortgage_balance", "none"),
        ("page_views", "none"),
        ("loan_amount", "none"),
    ],
)
def test_column_name_rules(column: str, expected: str) -> None:
    assert classify_name(column)[0] == expected


def test_ordinary_numbers_in_text_are_not_pii(offline_engine) -> None:
    assert find_pii_in_text("income 54000.50, loan 12000, term 36 months, rate 7.5%") == []


def test_identifier_named_flag_column_is_not_pii(offline_engine) -> None:
    frame = pd.DataFrame(
        {
            "own_telephone": ["yes", "none"] * 15,
            "telephone": [f"+1-415-555-{i:04d}" for i in range(30)],
        }
    )
    result = scan_columns(frame).set_index("column")
    assert result.loc["own_telephone", "classification"] == "none"
    assert "only 2 distinct values" in result.loc["own_telephone", "reason"]
    assert result.loc["telephone", "classification"] == "direct_identifier"
