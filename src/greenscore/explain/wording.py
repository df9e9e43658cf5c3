"""Plain-language names and sentences for model features.

Reason codes and customer-facing explanations must read as specific English, not column
names. A feature's phrase comes from the spec's ``descriptions`` first; monthly history
columns are named after their sequence group and month; derived features
(``utilisation_mean``, ``pay_to_bill_ratio``, ``dpd_max_6m``) are read token by token
from a small vocabulary of statistics and credit nouns; anything else falls back to the
tidied column name.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from greenscore.data.spec import DatasetSpec

# Statistic words become a prefix ("utilisation_mean" -> "average credit utilisation").
_STATISTICS: dict[str, str] = {
    "mean": "average",
    "avg": "average",
    "average": "average",
    "median": "typical",
    "max": "highest",
    "maximum": "highest",
    "peak": "highest",
    "min": "lowest",
    "minimum": "lowest",
    "std": "variability of",
    "var": "variability of",
    "volatility": "variability of",
    "sum": "total",
    "total": "total",
    "last": "latest",
    "latest": "latest",
    "first": "earliest",
    "trend": "trend in",
    "slope": "trend in",
    "change": "change in",
    "delta": "change in",
    "diff": "change in",
    "growth": "growth in",
    "count": "number of",
    "num": "number of",
    "n": "number of",
    "cnt": "number of",
    "share": "share of",
    "pct": "share of",
    "frac": "share of",
    "ratio": "ratio of",
    "rate": "rate of",
}

# Credit nouns; unknown tokens are kept as they are.
_NOUNS: dict[str, str] = {
    "util": "credit utilisation",
    "utilisation": "credit utilisation",
    "utilization": "credit utilisation",
    "dpd": "days past due",
    "bal": "balance",
    "balance": "balance owed",
    "bill": "billed amount",
    "billed": "billed amount",
    "pay": "payments",
    "payment": "payments",
    "payments": "payments",
    "paid": "amount paid",
    "delinq": "delinquencies",
    "delinquency": "delinquencies",
    "delinquencies": "delinquencies",
    "inq": "credit inquiries",
    "inquiries": "credit inquiries",
    "inc": "income",
    "dti": "debt-to-income ratio",
    "lti": "loan-to-income ratio",
    "amt": "amount",
    "lim": "credit limit",
    "limit": "credit limit",
    "late": "late payments",
    "missed": "missed payments",
    "acct": "accounts",
    "accts": "accounts",
    "emp": "employment",
    "int": "interest",
    "hist": "credit history",
    "history": "credit history",
    "neighbour": "linked borrowers'",
    "neighbor": "linked borrowers'",
    "degree": "number of linked borrowers",
}

_WINDOW = re.compile(r"^(\d+)([dmy])$")
_UNITS = {"d": "day", "m": "month", "y": "year"}
_MONTH = re.compile(r"^(.*?)[_]?m(\d{1,2})$")


def _window(token: str) -> str | None:
    match = _WINDOW.match(token)
    if match is None:
        return None
    count, unit = int(match.group(1)), _UNITS[match.group(2)]
    return f"over the last {count} {unit}{'s' if count != 1 else ''}"


def _sequence_phrase(name: str, spec: DatasetSpec) -> str | None:
    for group in spec.sequences:
        if name in group.columns:
            months_ago = len(group.columns) - 1 - group.columns.index(name)
            what = group.description or group.name.replace("_", " ")
            when = (
                "in the latest month"
                if months_ago == 0
                else f"{months_ago} month{'s' if months_ago != 1 else ''} before the latest"
            )
            return f"{what} {when}"
    return None


#: Features GreenScore's own steps derive (``features/temporal.py``, ``relational.py``),
#: which a word-by-word reading gets wrong ("change in balance owed recent"): the history
#: summaries by their suffix after the history's name (``{what}`` its phrase), the
#: relational ones by name.
_HISTORY_SUFFIXES = {
    "recent_change": "recent change in {what}",
    "months_since_delinquent": "months since the last delinquency",
    "months_since_nonzero": "months since the last non-zero {what}",
    "observed_months": "months of {what} on record",
}
_RELATIONAL = {
    "relational_known_neighbours": "linked borrowers with a known outcome",
    "relational_neighbour_defaults": "defaults among linked borrowers",
    "relational_neighbour_default_rate": "default rate among linked borrowers",
}


def _own_phrase(name: str, spec: DatasetSpec) -> str | None:
    if name in _RELATIONAL:
        return _RELATIONAL[name]
    for suffix, phrase in _HISTORY_SUFFIXES.items():
        if name.endswith("_" + suffix) and len(name) > len(suffix) + 1:
            return phrase.format(what=_derived_phrase(name[: -len(suffix) - 1], spec))
    return None


def _derived_phrase(name: str, spec: DatasetSpec) -> str:
    bare = name.split("__", 1)[1] if "__" in name else name
    # A derived feature of a described raw column keeps that column's words.
    base, rest = None, bare
    for column in sorted(spec.descriptions, key=len, reverse=True):
        if bare.startswith(column + "_"):
            base, rest = spec.descriptions[column], bare[len(column) + 1 :]
            break
    prefixes: list[str] = []
    nouns: list[str] = [base] if base else []
    window = None
    for token in (t for t in re.split(r"[^0-9a-zA-Z]+", rest.lower()) if t):
        if token in _STATISTICS:
            if _STATISTICS[token] not in prefixes:
                prefixes.append(_STATISTICS[token])
        elif _window(token) is not None:
            window = _window(token)
        elif token not in ("log", "feat", "f"):
            nouns.append(_NOUNS.get(token, token))
    words = [*prefixes, *nouns] + ([window] if window else [])
    return " ".join(words) if words else spec.describe(bare)


def feature_phrase(name: str, spec: DatasetSpec) -> str:
    """A plain noun phrase for a model feature.

    Parameters
    ----------
    name : str
        Raw column or derived model feature name.
    spec : DatasetSpec
        Supplies ``descriptions`` and the monthly sequence groups.

    Returns
    -------
    str
        e.g. ``"average credit utilisation"`` for ``utilisation_mean``.

    Examples
    --------
    >>> from greenscore.data.spec import DatasetSpec
    >>> feature_phrase("dpd_max_6m", DatasetSpec(target="y"))
    'highest days past due over the last 6 months'
    """
    if name in spec.descriptions:
        return spec.descriptions[name]
    bare = name.split("__", 1)[1] if "__" in name else name
    if bare in spec.descriptions:
        return spec.descriptions[bare]
    sequence = _sequence_phrase(bare, spec)
    if sequence is not None:
        return sequence
    return _own_phrase(bare, spec) or _derived_phrase(bare, spec)


def format_value(value: Any) -> str:
    """A short human rendering of a feature value (``12,500``, ``0.42``, ``not recorded``)."""
    kind = type(value)
    if kind is float or kind is int:  # the common case first: reasons word thousands a second
        number = float(value)
    elif value is None:
        return "not recorded"
    elif isinstance(value, bool):
        return "yes" if value else "no"
    elif isinstance(value, int | float) or hasattr(value, "dtype"):
        try:
            number = float(value)
        except (TypeError, ValueError):
            return str(value)
    else:
        return str(value)
    if number != number:  # NaN
        return "not recorded"
    if number.is_integer():
        return f"{int(number):,}"
    if abs(number) >= 1000:
        return f"{number:,.0f}"
    if abs(number) >= 1:
        return f"{number:.2f}".rstrip("0").rstrip(".")
    return f"{number:.3g}"


def _capitalise(text: str) -> str:
    return text[:1].upper() + text[1:]


def reason_sentence(
    phrase: str, value: Any, *, typical: float | None = None, categorical: bool = False
) -> str:
    """The sentence of one adverse-action reason (the feature pushed towards default).

    Parameters
    ----------
    phrase : str
        From :func:`feature_phrase`.
    value : Any
        The applicant's value.
    typical : float, optional
        The training median; numeric values are then called high or low against it.
    categorical : bool
        Whether the value is a category label.

    Returns
    -------
    str
        e.g. ``"Average credit utilisation is high (0.92; typical 0.41)"``.
    """
    return SentenceParts.of(phrase, typical=typical, categorical=categorical).sentence(value)


@dataclass(frozen=True)
class SentenceParts:
    """What a feature's reason sentences share, prepared once (a coder words thousands of
    reasons a second: the phrase is capitalised and the typical value formatted here)."""

    subject: str
    typical: float | None
    typical_text: str
    categorical: bool

    @classmethod
    def of(
        cls, phrase: str, *, typical: float | None = None, categorical: bool = False
    ) -> SentenceParts:
        """The parts of ``phrase``'s sentences (see :func:`reason_sentence`)."""
        text = "" if typical is None else format_value(typical)
        return cls(_capitalise(phrase), typical, text, categorical)

    def sentence(self, value: Any) -> str:
        """The sentence for one applicant's ``value``."""
        shown = format_value(value)
        if shown == "not recorded":
            return f"{self.subject} is not recorded"
        if self.categorical or self.typical is None:
            return f"{self.subject} is {shown}"
        try:
            number = float(value)
        except (TypeError, ValueError):
            return f"{self.subject} is {shown}"  # a value sent as text is quoted as sent
        if number > self.typical:
            level = "high"
        elif number < self.typical:
            level = "low"
        else:
            return f"{self.subject} is {shown}"
        return f"{self.subject} is {level} ({shown}; typical {self.typical_text})"


def customer_sentence(phrase: str, value: Any, weight: float) -> str:
    """A customer-facing sentence for one factor of an instance explanation.

    Parameters
    ----------
    phrase, value : the feature's phrase and the applicant's value.
    weight : float
        Signed effect on the estimated risk of default (positive raises it).
    """
    effect = "increased" if weight > 0 else "lowered"
    return f"Your {phrase} ({format_value(value)}) {effect} your estimated risk of default."
