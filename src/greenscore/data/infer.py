"""Infer a :class:`DatasetSpec` for an unfamiliar credit file from its columns and values.

The result is a first draft for a person to read and edit (``greenscore spec infer``
writes it as YAML): the positive label, the id and time columns, PII, feature types,
money columns, semantic roles, monthly histories and protected attributes are guessed
from column names and a sample of values. Every rule is a name table or a value
pattern below, so a wrong guess can be traced to the rule that made it.
"""

from __future__ import annotations

import difflib
import re
import warnings
from collections import defaultdict
from typing import Any

import numpy as np
import pandas as pd

from greenscore.config import get_settings
from greenscore.data.cleaning import unquote_frame
from greenscore.data.io import MISSING_TOKENS
from greenscore.data.spec import DatasetSpec, SequenceGroup
from greenscore.errors import DataError

#: Values of a string target that mean *default* (compared lower-case, ``_``/``-`` as spaces).
POSITIVE_WORDS = frozenset(
    {
        "1", "bad", "default", "defaulted", "defaulter", "yes", "y", "true", "t",
        "charged off", "chargedoff", "charge off", "charged", "written off", "write off",
        "delinquent", "late", "fail", "failed", "risky", "positive", "bad loan",
    }
)  # fmt: skip
_NEGATIONS = ("no ", "non ", "not ", "never ")
_POSITIVE_STEMS = ("default", "charged off", "charge off", "written off", "bad", "delinquen")

_ID_LAST = {"id", "key", "uuid", "guid", "no", "number", "num", "nr", "ref", "reference"}
_ID_NAMES = {"id", "index", "idx", "row", "rowid", "record", "recordid"}
_TIME_TOKENS = {"date", "time", "timestamp", "datetime", "dt", "day", "d"}
_CODE_TOKENS = {
    "sex", "gender", "education", "edu", "marriage", "marital", "status", "type", "grade",
    "code", "class", "category", "cat", "region", "purpose", "ownership", "home", "housing",
    "job", "occupation", "flag", "segment", "channel", "product", "state", "country",
    "industry", "sector", "level", "group", "kind", "rating",
}  # fmt: skip
_AMOUNT_TOKENS = {
    "amount", "amt", "amnt", "income", "balance", "bal", "limit", "salary", "bill",
    "revenue", "wage", "wages", "earnings", "principal",
}  # fmt: skip
_RATIO_TOKENS = {
    "percent", "pct", "ratio", "rate", "share", "to", "per", "util", "utilization", "count",
    "num", "n", "log", "dti",
}  # fmt: skip
_AGE_EXCLUDE = {
    "account", "acct", "loan", "credit", "file", "history", "hist", "vehicle", "car",
    "oldest", "newest", "months", "mths", "days", "line", "trade", "record", "bureau",
}  # fmt: skip
# "personal status" (German credit) and its kin mix sex with marital status.
_STATUS_QUALIFIERS = {"personal", "civil", "family", "marital"}
_PROTECTED_TOKENS = {
    "sex", "gender", "race", "ethnicity", "ethnic", "religion", "religious", "marital",
    "marriage", "nationality", "foreign", "citizenship", "citizen", "disability",
    "disabled", "pregnancy", "pregnant", "orientation",
}  # fmt: skip
_NAME_QUALIFIERS = {
    "first", "last", "full", "middle", "given", "family", "sur", "maiden", "customer",
    "client", "applicant", "borrower", "person", "holder", "contact", "user", "cust",
}  # fmt: skip

_EMAIL = re.compile(r"^[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}$")
_PHONE = re.compile(r"^\+?\(?\d[\d\s().-]{5,}\d$")
_NATIONAL_ID = re.compile(
    r"^(\d{3}-\d{2}-\d{4}"  # US SSN
    r"|[A-CEGHJ-PR-TW-Z]{2}\s?\d{2}\s?\d{2}\s?\d{2}\s?[A-D]"  # UK National Insurance
    r"|\d{8}[A-HJ-NP-TV-Z]"  # Spanish DNI
    r"|\d{3}\.\d{3}\.\d{3}-\d{2})$"  # Brazilian CPF
)
_CARD_CHARS = re.compile(r"^[\d -]{13,23}$")
_IBAN = re.compile(r"^[A-Z]{2}\d{2}[A-Z0-9]{11,30}$")
_DATE = re.compile(
    r"^(\d{4}[-/.]\d{1,2}[-/.]\d{1,2}([ T]\d{1,2}:\d{2}(:\d{2}(\.\d+)?)?)?(Z|[+-]\d{2}:?\d{2})?"
    r"|\d{1,2}[-/.]\d{1,2}[-/.]\d{2,4}"
    r"|[A-Za-z]{3,9}[- ]\d{2,4}"
    r"|\d{1,2}[- ][A-Za-z]{3,9}[- ]\d{2,4})$"
)
_SUFFIX = re.compile(r"^(.*?[A-Za-z][A-Za-z_.\- ]*?)[_.\- ]?(\d+)$")
_WORDS = re.compile(r"[A-Z]?[a-z]+|[A-Z]+(?![a-z])|\d+")

_SAMPLE = 200
_PATTERN_SHARE = 0.8
_MAX_CODE_LEVELS = 20
_MIN_SEQUENCE = 3
#: Share of a text column's known values that must be numbers for it to be numeric; the
#: few others are recorded as the column's ``missing_values`` (read as missing).
MOSTLY_NUMERIC = 0.95
#: Most distinct text values a mostly-numeric column may hold (more is a text column).
MAX_TEXT_VALUES = 10
#: Words of a column name that make a binary column the likely target, most telling first.
TARGET_WORDS = ("default", "defaulted", "target", "bad", "class", "label", "outcome", "status", "y")
TOO_MANY_LEVELS = "dropped by inference: {n} distinct text values (more than {limit})"
#: Fewest rows for "every value distinct" to say identifier rather than a small sample.
MIN_ROWS_FOR_IDENTIFIER = 20
LOOKS_LIKE_IDENTIFIER = (
    "dropped by inference: every one of its {n} values is a distinct text (an identifier?); "
    "declare it categorical in the spec to use it"
)
#: What is wrong with an amount read as text (validation says it too, with its own ending).
NOT_NUMBERS = (
    "named like an amount but {share:.0%} of its values are text, not numbers (e.g. {examples})"
)
BROKEN_NUMERIC = "dropped by inference: {why}; fix the file or declare it in the spec"
#: Words that make a column a fact about the past (a previous default on file), not the outcome.
_HISTORY_WORDS = {
    "on", "file", "previous", "prior", "history", "hist", "past", "ever", "bureau", "cb",
    "record", "count", "num", "number", "times", "months", "last",
}  # fmt: skip
TARGET_GUESSED = "no --target given: using '{column}' (two values, named like a target)"
NO_TARGET = (
    "no --target given and no two-valued column is named like a target ({words}); "
    "name the outcome column with --target"
)
AMBIGUOUS_TARGET = (
    "no --target given and several two-valued columns are named like a target: {columns}; "
    "name the outcome column with --target"
)


def tokens(name: str) -> list[str]:
    """Lower-case words of a column name: ``BILL_AMT1`` -> ``['bill', 'amt', '1']``."""
    return [w.lower() for w in _WORDS.findall(str(name))]


# ---------------------------------------------------------------------- target
def _norm_label(value: Any) -> str:
    text = str(value).strip().strip("'\"").lower()
    return re.sub(r"\s+", " ", re.sub(r"[_\-]+", " ", text)).strip()


def _native(value: Any) -> Any:
    """A numpy scalar as a plain Python value (YAML and pydantic want plain types)."""
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def _check_target(frame: pd.DataFrame, target: str) -> pd.Series:
    if target not in frame.columns:
        columns = [str(c) for c in frame.columns]
        same_case = [c for c in columns if c.lower() == target.lower()]
        close = same_case or difflib.get_close_matches(target, columns, n=3, cutoff=0.6)
        if close:
            hint = "did you mean " + ", ".join(repr(c) for c in close) + "?"
        else:
            shown = ", ".join(columns[:12]) + (", …" if len(columns) > 12 else "")
            hint = f"the columns are: {shown}"
        raise DataError(f"target column '{target}' not found; {hint}")
    values = frame[target].dropna()
    if not pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values):
        values = values.astype(str).str.strip()
    levels = values.unique()
    if len(levels) != 2:
        shown = ", ".join(repr(_native(v)) for v in levels[:6]) + (", …" if len(levels) > 6 else "")
        raise DataError(
            f"target column '{target}' must have exactly two values (good/bad), "
            f"found {len(levels)}: {shown or 'all missing'}"
        )
    return values


def guess_target(frame: pd.DataFrame) -> str:
    """The column that is most likely the outcome: two values and a target-like name.

    Candidates are the columns with exactly two distinct values one of whose name words
    (:func:`tokens`) is in :data:`TARGET_WORDS`, and none of which says the column is
    history (``cb_person_default_on_file``); the earliest word in that list wins
    (``default`` before ``status``), and between equals the table's last column.

    Raises
    ------
    DataError
        If no column qualifies, or several tie (they are named).
    """
    best: dict[int, list[str]] = {}
    for column in frame.columns:
        words = tokens(str(column))
        ranks = [TARGET_WORDS.index(w) for w in words if w in TARGET_WORDS]
        if not ranks or set(words) & _HISTORY_WORDS:
            continue
        try:
            levels = frame[column].dropna().nunique()
        except TypeError:
            continue
        if levels == 2:
            best.setdefault(min(ranks), []).append(str(column))
    if not best:
        raise DataError(NO_TARGET.format(words=", ".join(TARGET_WORDS)))
    found = best[min(best)]
    last = str(frame.columns[-1])
    if len(found) > 1 and last in found:
        return last
    if len(found) > 1:
        raise DataError(AMBIGUOUS_TARGET.format(columns=", ".join(found)))
    return found[0]


def infer_positive_label(values: pd.Series) -> Any:
    """The target value that means *default*.

    ``0/1`` gives 1 and booleans give True; strings such as ``bad``, ``default``,
    ``yes``, ``true``, ``1`` or ``charged off`` are taken by name; otherwise the
    minority class (defaults are the rarer outcome in credit data).

    Parameters
    ----------
    values : pandas.Series
        The target without missing values; exactly two distinct values.
    """
    levels = list(pd.unique(values))
    if pd.api.types.is_bool_dtype(values):
        return True
    if pd.api.types.is_numeric_dtype(values):
        if {float(v) for v in levels} == {0.0, 1.0}:
            return 1
    else:
        named = [v for v in levels if _norm_label(v) in POSITIVE_WORDS]
        if len(named) == 1:
            return _native(named[0])
        stems = [
            v
            for v in levels
            if any(stem in _norm_label(v) for stem in _POSITIVE_STEMS)
            and not _norm_label(v).startswith(_NEGATIONS)
            and not _norm_label(v).startswith("non")
        ]
        if len(stems) == 1:
            return _native(stems[0])
    counts = values.value_counts()
    return _native(counts.index[int(np.argmin(counts.to_numpy()))])


# ---------------------------------------------------------------------- per-column rules
def _sample(series: pd.Series) -> pd.Series:
    values = series.dropna()
    if len(values) > _SAMPLE:
        values = values.sample(_SAMPLE, random_state=0)
    return values.astype(str).str.strip()


def _share(sample: pd.Series, test: Any) -> float:
    if sample.empty:
        return 0.0
    return float(np.mean([bool(test(v)) for v in sample]))


def _luhn(digits: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch)
        if i % 2 == 1:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def _is_card(value: str) -> bool:
    if not _CARD_CHARS.match(value):
        return False
    digits = re.sub(r"\D", "", value)
    return 13 <= len(digits) <= 19 and _luhn(digits)


def _is_iban(value: str) -> bool:
    compact = value.replace(" ", "").upper()
    if not _IBAN.match(compact):
        return False
    moved = compact[4:] + compact[:4]
    return int("".join(str(int(ch, 36)) for ch in moved)) % 97 == 1


def _is_phone(value: str) -> bool:
    if _DATE.match(value) or not _PHONE.match(value):
        return False
    digits = sum(ch.isdigit() for ch in value)
    separated = value.startswith("+") or any(ch in value for ch in " ()-")
    return 7 <= digits <= 15 and separated


def _pii_by_name(words: list[str], joined: str) -> bool:
    found = set(words)
    if "email" in joined or "mail" in found:
        return True
    if found & {"phone", "telephone", "tel", "mobile", "cellphone", "fax", "username", "login"}:
        return True
    if found & {"ssn", "nino", "passport", "iban", "dob", "birthdate", "birthday", "ccn"}:
        return True
    if found & {"surname", "firstname", "lastname", "fullname", "forename"}:
        return True
    if "name" in found and not (found - {"name"} - _NAME_QUALIFIERS):
        return True
    if "address" in found or "street" in found:
        return True
    pairs = (
        ({"national"}, {"id", "number", "insurance"}),
        ({"social"}, {"security"}),
        ({"tax"}, {"id", "number"}),
        ({"card", "cc"}, {"number", "no", "num", "nr"}),
        ({"account"}, {"number", "no", "num", "nr"}),
        ({"sort"}, {"code"}),
        ({"birth"}, {"date", "day"}),
    )
    return any(found & a and found & b for a, b in pairs)


def _pii_by_value(series: pd.Series, sample: pd.Series) -> bool:
    if pd.api.types.is_numeric_dtype(series):
        if not pd.api.types.is_integer_dtype(series):
            return False
        return _share(sample, _is_card) >= _PATTERN_SHARE
    tests = (_EMAIL.match, _is_phone, _NATIONAL_ID.match, _is_card, _is_iban)
    return any(_share(sample, test) >= _PATTERN_SHARE for test in tests)


def _is_date_column(series: pd.Series, sample: pd.Series) -> bool:
    if pd.api.types.is_datetime64_any_dtype(series):
        return True
    if pd.api.types.is_numeric_dtype(series) or pd.api.types.is_bool_dtype(series):
        return False
    if sample.empty or _share(sample, _DATE.match) < 0.9:
        return False
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        parsed = pd.to_datetime(sample, errors="coerce", format="mixed")
    return bool(parsed.notna().mean() >= 0.9)


def numeric_text(series: pd.Series) -> list[str] | None:
    """The text values of a text column that is numbers apart from a few of them.

    Returns
    -------
    list of str or None
        None when the column is not numeric: fewer than :data:`MOSTLY_NUMERIC` of its
        known values are numbers, or it holds more than :data:`MAX_TEXT_VALUES` distinct
        other texts. Otherwise those other texts (missing-value tokens such as ``?`` not
        counted), sorted; empty when every value is a number or a token.
    """
    if pd.api.types.is_numeric_dtype(series) or pd.api.types.is_bool_dtype(series):
        return None
    text = series.dropna().astype(str).str.strip()
    real = text[~text.str.lower().isin(MISSING_TOKENS)]
    if real.empty:
        return None
    numbers = pd.to_numeric(real, errors="coerce")
    if float(numbers.notna().mean()) < MOSTLY_NUMERIC:
        return None
    others = sorted(set(real[numbers.isna()]))
    return others if len(others) <= MAX_TEXT_VALUES else None


def _is_text(series: pd.Series) -> bool:
    return not (pd.api.types.is_numeric_dtype(series) or pd.api.types.is_bool_dtype(series))


def identifier_like(series: pd.Series) -> bool:
    """A text column whose every value is present and distinct (on enough rows to tell)."""
    if not _is_text(series) or len(series) < MIN_ROWS_FOR_IDENTIFIER or series.isna().any():
        return False
    text = series.astype(str).str.strip()
    return bool(text.nunique() == len(text))


def broken_numeric(series: pd.Series, words: list[str] | None = None) -> str | None:
    """Why a text column named like an amount is not numbers (:data:`NOT_NUMBERS`), or
    None when it is fine.

    A money column read as text (currency signs, thousands separators, words) would
    otherwise become a categorical feature of thousands of levels, or a silent drop.
    """
    if not _is_text(series) or not is_amount_name(
        words if words is not None else tokens(str(series.name))
    ):
        return None
    text = series.dropna().astype(str).str.strip()
    real = text[~text.str.lower().isin(MISSING_TOKENS)]
    if real.empty or numeric_text(series) is not None:
        return None  # empty, or numbers with a few text values read as missing
    bad = real[pd.to_numeric(real, errors="coerce").isna()]
    examples = ", ".join(repr(v) for v in list(dict.fromkeys(bad))[:3])
    return NOT_NUMBERS.format(share=len(bad) / len(real), examples=examples)


def _is_code(series: pd.Series, words: list[str], n_unique: int) -> bool:
    """A numeric column of a few integer codes with a categorical-sounding name."""
    if not set(words) & _CODE_TOKENS or n_unique > _MAX_CODE_LEVELS:
        return False
    values = series.dropna()
    return bool(np.all(np.mod(values.to_numpy(dtype=float), 1) == 0))


def _semantic(words: list[str]) -> bool:
    found = set(words)
    return bool(found & (_AMOUNT_TOKENS | _CODE_TOKENS | _PROTECTED_TOKENS | {"age"}))


def _is_protected(words: list[str]) -> bool:
    found = set(words)
    if found & _PROTECTED_TOKENS or _is_age(words):
        return True
    return "status" in found and bool(found & _STATUS_QUALIFIERS)


def _is_age(words: list[str]) -> bool:
    return "age" in words and not set(words) & _AGE_EXCLUDE


def is_amount_name(words: list[str]) -> bool:
    """Whether column-name words say money (income, loan amount), not a ratio or count."""
    found = set(words)
    money = found & _AMOUNT_TOKENS or {"annual", "inc"} <= found
    return bool(money) and not found & _RATIO_TOKENS


_ROLE_RULES: tuple[tuple[str, Any], ...] = (
    ("income", lambda w: (w & {"income", "salary", "earnings", "wage", "wages", "revenue"} or {"annual", "inc"} <= w) and not w & _RATIO_TOKENS),
    ("loan_amount", lambda w: ("principal" in w or (w & {"loan", "credit", "funded", "requested"} and w & {"amount", "amt", "amnt"})) and not w & _RATIO_TOKENS),
    ("credit_limit", lambda w: "limit" in w and not w & _RATIO_TOKENS),
    ("age", lambda w: "age" in w and not w & _AGE_EXCLUDE),
    ("employment_length", lambda w: w & {"emp", "employment", "employed", "job", "work"} and w & {"length", "len", "years", "yrs", "duration", "tenure", "months", "time"}),
    ("interest_rate", lambda w: ("apr" in w or (w & {"int", "interest"} and "rate" in w))),
    ("term", lambda w: w & {"term", "duration", "tenor"} and not w & {"emp", "employment", "job"}),
    ("debt", lambda w: "debt" in w and not w & _RATIO_TOKENS),
    ("history_length", lambda w: w & {"hist", "history"} and w & {"length", "len", "years", "yrs", "months", "age"}),
)  # fmt: skip


def _sequence_kind(words: list[str]) -> str:
    found = set(words)
    if ("pay" in found and found & {"amt", "amount", "amnt"}) or found & {
        "payment",
        "payments",
        "paid",
        "repayment",
    }:
        if not found & {"status", "delay", "dpd"}:
            return "payment"
    if found & {"bill", "balance", "bal", "outstanding", "owed"}:
        return "balance"
    if found & {
        "pay",
        "status",
        "dpd",
        "delinquency",
        "delinq",
        "arrears",
        "late",
        "delay",
        "overdue",
    }:
        return "status"
    return "other"


def _sequences(columns: list[str]) -> list[SequenceGroup]:
    """Families of at least three numeric columns sharing a prefix, ordered by suffix."""
    families: dict[str, list[tuple[int, str]]] = defaultdict(list)
    for column in columns:
        match = _SUFFIX.match(column)
        if match:
            families[match.group(1)].append((int(match.group(2)), column))
    groups = []
    for prefix, members in families.items():
        if len(members) < _MIN_SEQUENCE or len({n for n, _ in members}) != len(members):
            continue
        ordered = [c for _, c in sorted(members)]
        name = re.sub(r"[^0-9a-z]+", "_", prefix.lower()).strip("_") or "sequence"
        groups.append(
            SequenceGroup(
                name=name,
                columns=ordered,
                kind=_sequence_kind(tokens(prefix)),  # type: ignore[arg-type]
                description=(
                    "inferred: ordered by numeric suffix, ascending; reverse the list if the "
                    "suffix counts months back (the oldest month must come first)"
                ),
            )
        )
    return groups


def _quoted_share(frame: pd.DataFrame) -> float:
    """Largest share of single-quoted values in any text column (ARFF exports)."""
    best = 0.0
    for column in frame.columns:
        series = frame[column]
        if pd.api.types.is_numeric_dtype(series) or pd.api.types.is_bool_dtype(series):
            continue
        sample = _sample(series)
        best = max(best, _share(sample, lambda v: len(v) >= 2 and v[0] == v[-1] == "'"))
    return best


# ---------------------------------------------------------------------- the spec
def infer_spec(
    frame: pd.DataFrame,
    *,
    target: str | None = None,
    name: str = "inferred",
    max_category_levels: int | None = None,
) -> DatasetSpec:
    """Guess what every column of a credit table means.

    Parameters
    ----------
    frame : pandas.DataFrame
        The table as read (one row per application).
    target : str, optional
        The outcome column; it must hold exactly two distinct values. Guessed by
        :func:`guess_target` when not given.
    name : str, default "inferred"
        Name of the spec.
    max_category_levels : int, optional
        A text column with more distinct values is dropped (free text, an identifier);
        default the ``training.max_category_levels`` setting.

    Returns
    -------
    DatasetSpec
        A draft spec: positive label, id/time columns, PII, numeric and categorical
        features, amounts, roles, sequences and protected attributes. A text column that
        is numbers but for a few values is numeric, those values listed in its
        ``missing_values``; a dropped column's description says why it was dropped.

    Raises
    ------
    DataError
        If the frame has no rows, the target is absent (close matches are named), not
        binary, or (not given) cannot be guessed.

    Examples
    --------
    >>> frame = pd.DataFrame({"income": [1000, 2000, 1500], "bad": ["no", "yes", "no"]})
    >>> infer_spec(frame, target="bad").positive_label
    'yes'
    """
    if len(frame) == 0:
        raise DataError("cannot infer a spec from a table without rows")
    frame = frame.rename(columns=str)
    strip_quotes = _quoted_share(frame) >= 0.2
    if strip_quotes:
        frame = unquote_frame(frame)
    if target is None:
        target = guess_target(frame)
    if max_category_levels is None:
        max_category_levels = get_settings().training.max_category_levels
    max_levels = max_category_levels
    positive = infer_positive_label(_check_target(frame, target))

    n_rows = len(frame)
    pii: list[str] = []
    drop: list[str] = []
    missing_values: dict[str, list[str]] = {}
    notes: dict[str, str] = {}
    dates: list[str] = []
    ids: list[str] = []
    numeric: list[str] = []
    categorical: list[str] = []
    for column in frame.columns:
        if column == target:
            continue
        series = frame[column]
        words = tokens(column)
        try:
            n_unique = int(series.nunique(dropna=True))
        except TypeError:  # lists or dicts in cells (nested JSON): compare them as text
            series = series.where(series.isna(), series.astype(str))
            n_unique = int(series.nunique(dropna=True))
        if n_unique == 0:
            drop.append(column)  # wholly empty: nothing to learn, nothing to protect
            continue
        sample = _sample(series)
        # A few-valued column named "phone" is a has-a-phone flag, not a phone number.
        flag_like = n_unique <= 10 and n_unique < n_rows
        if _pii_by_name(words, column.lower()) and not flag_like:
            pii.append(column)
            continue
        if _is_date_column(series, sample):
            dates.append(column)
            continue
        if _pii_by_value(series, sample):
            pii.append(column)
            continue
        unique = n_unique == n_rows and not series.isna().any()
        idish = bool(words) and (
            words[-1] in _ID_LAST or "id" in words or column.lower() in _ID_NAMES
        )
        counter = (
            pd.api.types.is_integer_dtype(series)
            and series.is_monotonic_increasing
            and not _semantic(words)
        )
        if unique and (idish or counter):
            ids.append(column)
            continue
        if "id" in words and n_unique > max(20, n_rows // 2):
            drop.append(column)  # a foreign key (employer, branch): identifies, never predicts
            continue
        if pd.api.types.is_bool_dtype(series):
            categorical.append(column)
        elif pd.api.types.is_numeric_dtype(series):
            (categorical if _is_code(series, words, n_unique) else numeric).append(column)
        elif (texts := numeric_text(series)) is not None:
            numeric.append(column)
            if texts:
                missing_values[column] = texts
        elif (broken := broken_numeric(series, words)) is not None:
            drop.append(column)  # "1.200 EUR" in an income column: no model should guess
            notes[column] = BROKEN_NUMERIC.format(why=broken)
        elif identifier_like(series):
            drop.append(column)  # a text key (contract reference): identifies, never predicts
            notes[column] = LOOKS_LIKE_IDENTIFIER.format(n=n_unique)
        elif n_unique > max_levels:
            drop.append(column)  # free text, an identifier, or too many levels to learn from
            notes[column] = TOO_MANY_LEVELS.format(n=n_unique, limit=max_levels)
        else:
            categorical.append(column)

    time_column = _pick_time(dates)
    drop.extend(d for d in dates if d != time_column)
    id_column = _pick_id(ids)
    drop.extend(i for i in ids if i != id_column)

    sequences = _sequences(numeric)
    in_sequence = {c for group in sequences for c in group.columns}
    roles: dict[str, str] = {}
    for role, rule in _ROLE_RULES:
        for column in numeric:
            if column not in in_sequence and rule(set(tokens(column))):
                roles[role] = column
                break
    protected = [c for c in [*numeric, *categorical] if _is_protected(tokens(c))]
    amounts = [c for c in numeric if is_amount_name(tokens(c))]
    return DatasetSpec(
        name=name,
        target=target,
        positive_label=positive,
        id_column=id_column,
        time_column=time_column,
        protected=protected,
        pii=pii,
        categorical=categorical,
        numeric=numeric,
        sequences=sequences,
        roles=roles,  # type: ignore[arg-type]
        immutable=list(protected),
        drop=drop,
        amount_columns=amounts,
        missing_values=missing_values,
        descriptions=notes,
        strip_quotes=strip_quotes,
    )


def _pick_time(dates: list[str]) -> str | None:
    """Prefer a column named like an application or issue date; else the first date."""
    for column in dates:
        if set(tokens(column)) & {"application", "app", "issue", "issued", "origination", "open"}:
            return column
    for column in dates:
        if set(tokens(column)) & _TIME_TOKENS:
            return column
    return dates[0] if dates else None


def _pick_id(ids: list[str]) -> str | None:
    """Prefer an id whose name says so; a bare row counter comes last."""
    named = [
        c for c in ids if set(tokens(c)) & {"id", "uuid", "guid", "key"} or c.lower() in _ID_NAMES
    ]
    if named:
        return named[0]
    return ids[0] if ids else None
