"""PII detection: column-name rules plus Presidio pattern recognisers on the values.

Each column is classified as a ``direct_identifier`` (names a person: email, phone,
national id, card, IBAN, name, address, the record id), a ``quasi_identifier`` (singles a
person out in combination: age, sex, postcode, region, ...), ``sensitive`` (special
category or protected attribute) or ``none``. Names are matched against rules; string
values (and integers long enough to be ids or card numbers) are sampled and run through
Presidio's pattern recognisers.

Presidio runs fully offline: its analyzer is built on a blank spaCy pipeline (no model
download, so no names or places from NER — those come from the column rules) and
``tldextract`` is told not to fetch the public-suffix list. The engine is built once per
process.
"""

from __future__ import annotations

import bisect
import os
import re
from collections import Counter
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import pandas as pd

from greenscore.config import get_settings
from greenscore.data.spec import DatasetSpec

# Must be set before presidio (and tldextract under it) is first imported: no fetch of the
# public-suffix list, and no CUDA probe (pattern recognisers never use a GPU).
os.environ["TLDEXTRACT_PUBLIC_SUFFIX_LIST_URLS"] = ""
os.environ.setdefault("PRESIDIO_DEVICE", "cpu")

CLASSIFICATIONS = ("direct_identifier", "quasi_identifier", "sensitive", "none")
SCORE_THRESHOLD = 0.35
_SEPARATOR = "\n;\n"
_CHUNK = 25
# A name-matched identifier column with this few distinct values is a flag (e.g. has_phone).
_FLAG_MIN_ROWS, _FLAG_MAX_DISTINCT = 20, 5
# Integers with at least this many digits may be card numbers, SSNs or phone numbers.
_ID_DIGITS = 9

#: Presidio entity type -> the kind of identifier it is.
ENTITY_CATEGORIES: dict[str, str] = {
    "EMAIL_ADDRESS": "email",
    "PHONE_NUMBER": "phone",
    "CREDIT_CARD": "card",
    "IBAN_CODE": "iban",
    "US_SSN": "national_id",
    "US_ITIN": "national_id",
    "UK_NINO": "national_id",
    "UK_NHS": "national_id",
    "IP_ADDRESS": "ip_address",
}

_DIRECT_RULES: list[tuple[str, str]] = [
    (
        r"(full|first|last|given|family|middle|maiden|customer|applicant|borrower)?_?name|surname|forename",
        "personal name",
    ),
    (r"e_?mail(_address)?", "email address"),
    (r"phone(_number)?|telephone|mobile|cell_?phone|tel|fax", "phone number"),
    (
        r"ssn|social_security(_number)?|national_(id|insurance)(_number)?|nin|nino|sin|tin|tax_id|"
        r"passport(_number|_no)?|driver_?s?_licen[cs]e(_number)?|id_card(_number)?|id_number",
        "national id",
    ),
    (r"(home_|street_|postal_|mailing_)?address(_line_?\d?)?|street", "street address"),
    (r"iban|bank_account(_number)?|account_(number|no)|sort_code|routing_number", "bank account"),
    (r"(credit_)?card_(number|no)|pan|cc_number", "card number"),
    (r"ip(_address)?|mac_address|device_id", "device identifier"),
]
_QUASI_RULES: list[tuple[str, str]] = [
    (r"age|age_years|date_of_birth|dob|birth_?(date|year)|year_of_birth", "age or birth date"),
    (r"zip(_?code)?|post_?code|postal_code|plz", "postcode"),
    (r"sex|gender", "sex or gender"),
    (r"marital(_status)?|marriage|civil_status", "marital status"),
    (r"region|city|town|county|state|province|district|country|municipality", "place of residence"),
    (r"nationality|citizenship|country_of_birth|place_of_birth", "nationality"),
    (r"occupation|job_title|profession", "occupation"),
]
_SENSITIVE_RULES: list[tuple[str, str]] = [
    (r"race|ethnic(ity|_origin)?", "racial or ethnic origin"),
    (r"religion|religious|belief", "religious belief"),
    (r"health|medical|disab(ility|led)|diagnosis", "health"),
    (r"sexual_orientation|sexuality", "sexual orientation"),
    (
        r"political(_opinion|_party)?|trade_union|union_member(ship)?",
        "political or union membership",
    ),
    (r"biometric|genetic|fingerprint", "biometric or genetic data"),
]


def _compile(rules: list[tuple[str, str]]) -> list[tuple[re.Pattern[str], str]]:
    # A rule matches whole underscore-separated words: "age" fits "age" and "applicant_age",
    # never "page" or "mortgage".
    return [(re.compile(rf"(^|_)({pattern})(_|$)"), reason) for pattern, reason in rules]


_RULES = {
    "direct_identifier": _compile(_DIRECT_RULES),
    "quasi_identifier": _compile(_QUASI_RULES),
    "sensitive": _compile(_SENSITIVE_RULES),
}


@dataclass(frozen=True)
class PiiEntity:
    """One piece of PII found in text.

    Attributes
    ----------
    entity_type : Presidio's type, e.g. ``EMAIL_ADDRESS``, ``US_SSN``.
    category : coarse kind (:data:`ENTITY_CATEGORIES`): email, phone, card, iban, national_id, ...
    start, end : character offsets in the text.
    score : the recogniser's confidence.
    text : the matched text.
    """

    entity_type: str
    category: str
    start: int
    end: int
    score: float
    text: str


def normalise_name(column: str) -> str:
    """Lower-case a column name and turn every run of non-alphanumerics (and camelCase) into ``_``."""
    spaced = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", str(column))
    return re.sub(r"[^a-z0-9]+", "_", spaced.lower()).strip("_")


def classify_name(column: str) -> tuple[str, str]:
    """Classify a column by its name alone: (classification, reason)."""
    name = normalise_name(column)
    for classification, rules in _RULES.items():
        for pattern, reason in rules:
            if pattern.search(name):
                return classification, f"name suggests {reason}"
    return "none", ""


# ---------------------------------------------------------------------- Presidio
@lru_cache(maxsize=1)
def analyzer() -> Any:
    """The offline Presidio ``AnalyzerEngine`` (built once per process)."""
    import spacy
    from presidio_analyzer import AnalyzerEngine, Pattern, PatternRecognizer, RecognizerRegistry
    from presidio_analyzer.nlp_engine import SpacyNlpEngine
    from presidio_analyzer.predefined_recognizers import (
        CreditCardRecognizer,
        EmailRecognizer,
        IbanRecognizer,
        IpRecognizer,
        NhsRecognizer,
        PhoneRecognizer,
        UkNinoRecognizer,
        UsItinRecognizer,
        UsSsnRecognizer,
    )

    class BlankSpacyEngine(SpacyNlpEngine):
        """A spaCy engine that loads a blank English pipeline instead of downloading a model."""

        def load(self) -> None:
            # Presidio's own load() assigns this dict too; its __init__ sets None, so mypy
            # infers the attribute as None.
            self.nlp = {"en": spacy.blank("en")}  # type: ignore[assignment]

    engine = BlankSpacyEngine(models=[{"lang_code": "en", "model_name": "blank"}])
    engine.load()
    # Presidio's phone recogniser (libphonenumber) misses North-American numbers written
    # with an extension or a leading +1-; this pattern covers those layouts.
    north_american = PatternRecognizer(
        supported_entity="PHONE_NUMBER",
        name="NorthAmericanPhoneRecognizer",
        patterns=[
            Pattern(
                "nanp",
                r"(?<![\w+])(?:\+?1[\s.-]?)?(?:\(\d{3}\)\s?|\d{3}[\s.-])\d{3}[\s.-]\d{4}"
                r"(?:\s?(?:x|ext\.?)\s?\d{1,6})?(?!\d)",
                0.5,
            )
        ],
    )
    registry = RecognizerRegistry(supported_languages=["en"])
    for recogniser in (
        EmailRecognizer(),
        PhoneRecognizer(supported_regions=("US", "GB", "DE", "FR", "IN", "CA")),
        north_american,
        CreditCardRecognizer(),
        IbanRecognizer(),
        UsSsnRecognizer(),
        UsItinRecognizer(),
        UkNinoRecognizer(),
        NhsRecognizer(),
        IpRecognizer(),
    ):
        registry.add_recognizer(recogniser)
    return AnalyzerEngine(nlp_engine=engine, registry=registry, supported_languages=["en"])


def _analyze(text: str, threshold: float) -> list[Any]:
    return analyzer().analyze(
        text=text,
        language="en",
        entities=list(ENTITY_CATEGORIES),
        score_threshold=threshold,
    )


def find_pii_in_text(text: str, *, threshold: float = SCORE_THRESHOLD) -> list[PiiEntity]:
    """Find emails, phone numbers, card numbers, IBANs and national ids in free text.

    Parameters
    ----------
    text : str
        Any text (a note, a free-text field).
    threshold : float
        Lowest recogniser score kept.

    Returns
    -------
    list of PiiEntity
        Sorted by position; overlapping hits of different types are all kept.
    """
    hits = _analyze(text, threshold)
    return sorted(
        (
            PiiEntity(
                entity_type=h.entity_type,
                category=ENTITY_CATEGORIES.get(h.entity_type, h.entity_type.lower()),
                start=h.start,
                end=h.end,
                score=float(h.score),
                text=text[h.start : h.end],
            )
            for h in hits
        ),
        key=lambda e: (e.start, e.end, e.entity_type),
    )


# ---------------------------------------------------------------------- columns
def _sample_values(series: pd.Series, n: int) -> list[str] | None:
    """String forms of up to ``n`` non-missing values, or None for columns not worth scanning."""
    values = series.dropna()
    if values.empty:
        return None
    if pd.api.types.is_bool_dtype(values) or pd.api.types.is_datetime64_any_dtype(values):
        return None
    if pd.api.types.is_float_dtype(values):
        return None
    if pd.api.types.is_integer_dtype(values):
        # Small integers (counts, amounts, months) are never identifiers by value.
        if values.abs().max() < 10 ** (_ID_DIGITS - 1):
            return None
    if len(values) > n:
        values = values.sample(n=n, random_state=0)
    return [str(v).strip() for v in values]


def _is_flag(series: pd.Series) -> bool:
    """True for a column with too few distinct values to identify anyone (a flag or category)."""
    present = series.dropna()
    return len(present) >= _FLAG_MIN_ROWS and present.nunique() <= _FLAG_MAX_DISTINCT


def _scan_values(values: list[str], threshold: float) -> tuple[float, list[str]]:
    """(share of values holding an entity, entity types ordered by frequency)."""
    unique = list(dict.fromkeys(values))
    found: dict[int, set[str]] = {}
    # Values are joined into a few texts (separators no pattern spans): one Presidio call per
    # chunk instead of per value, while chunks stay short because Presidio's context step
    # costs (hits x tokens) per call.
    for first in range(0, len(unique), _CHUNK):
        chunk = unique[first : first + _CHUNK]
        bounds, pos = [], 0
        for value in chunk:
            bounds.append((pos, pos + len(value)))
            pos += len(value) + len(_SEPARATOR)
        starts = [b[0] for b in bounds]
        for hit in _analyze(_SEPARATOR.join(chunk), threshold):
            i = bisect.bisect_right(starts, hit.start) - 1
            if i >= 0 and hit.end <= bounds[i][1]:
                found.setdefault(first + i, set()).add(hit.entity_type)
    counts = Counter(values)
    hit_rows = sum(counts[unique[i]] for i in found)
    by_type: Counter[str] = Counter()
    for i, types in found.items():
        for entity_type in types:
            by_type[entity_type] += counts[unique[i]]
    return hit_rows / len(values), [t for t, _ in by_type.most_common()]


def scan_columns(
    frame: pd.DataFrame,
    spec: DatasetSpec | None = None,
    *,
    sample_rows: int | None = None,
    min_hit_rate: float | None = None,
) -> pd.DataFrame:
    """Classify every column of a frame as direct identifier, quasi-identifier, sensitive or none.

    Parameters
    ----------
    frame : DataFrame
        The data to scan.
    spec : DatasetSpec, optional
        Declared PII, id column and protected attributes are taken into account.
    sample_rows : int, optional
        Values per column run through Presidio (default ``privacy.pii_sample_rows``).
    min_hit_rate : float, optional
        Share of sampled values that must hold PII to flag a column by its content
        (default ``privacy.pii_min_hit_rate``).

    Returns
    -------
    DataFrame
        One row per column: ``column``, ``classification``, ``reason``, ``entities``
        (detected Presidio types, most frequent first) and ``hit_rate`` (share of sampled
        values holding PII; NaN when values were not scanned).
    """
    settings = get_settings().privacy
    sample_rows = sample_rows or settings.pii_sample_rows
    min_hit_rate = settings.pii_min_hit_rate if min_hit_rate is None else min_hit_rate
    rows = []
    for column in frame.columns:
        classification, reason = classify_name(str(column))
        reasons = [reason] if reason else []
        if classification == "direct_identifier" and _is_flag(frame[column]):
            # "own_telephone: yes/no" is about a phone, not a phone number.
            classification = "none"
            reasons = [f"{reason}, but it holds only {frame[column].nunique()} distinct values"]
        if spec is not None:
            if column in spec.pii or column == spec.id_column:
                classification = "direct_identifier"
                reasons.insert(
                    0,
                    "declared PII in spec"
                    if column in spec.pii
                    else "record identifier (spec id column)",
                )
            elif column in spec.protected:
                if classification == "none":
                    classification = "sensitive"
                reasons.append("protected attribute in spec")
        values = _sample_values(frame[column], sample_rows)
        hit_rate, entities = float("nan"), list[str]()
        if values:
            hit_rate, entities = _scan_values(values, SCORE_THRESHOLD)
            if hit_rate >= min_hit_rate and entities:
                kinds = sorted({ENTITY_CATEGORIES[e] for e in entities})
                reasons.append(f"{hit_rate:.0%} of sampled values look like {', '.join(kinds)}")
                classification = "direct_identifier"
        rows.append(
            {
                "column": str(column),
                "classification": classification,
                "reason": "; ".join(reasons),
                "entities": entities,
                "hit_rate": hit_rate,
            }
        )
    return pd.DataFrame(
        rows, columns=["column", "classification", "reason", "entities", "hit_rate"]
    )


def columns_of(scan: pd.DataFrame, classification: str) -> list[str]:
    """Names of the scanned columns with one classification."""
    return scan.loc[scan["classification"] == classification, "column"].tolist()
