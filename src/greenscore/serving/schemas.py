"""Request and response models of the scoring API (the OpenAPI document is built from these).

The applicant model is made at start-up from the served model's inputs: one field per
input column, numbers as ``float | None`` and categories as ``str | None``, every one
required (send ``null`` for a value that is not known), described from the dataset spec.
Other fields (the applicant id, names, contact details) are accepted and never reach the
model. Field names are the column names themselves (as aliases), so a column called
``model_config`` or ``PAY_0`` is as valid as ``income``.

A number field takes a JSON number, ``null`` or numeric text in plain decimal notation
(``"50000"``, ``"1e3"``); not a JSON boolean, and not text a file's column would read as
missing (``"?"``, ``"nan"``): the API's *missing* is ``null``, as its NaN literal is
refused. Text fields (categories, the applicant id) are at most :data:`MAX_TEXT` long.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import (
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictBool,
    StrictInt,
    ValidationInfo,
    create_model,
    field_validator,
    model_validator,
)

from greenscore.data.cleaning import missing_tokens, read_number, unquote
from greenscore.data.spec import DatasetSpec
from greenscore.errors import ConfigError
from greenscore.serving.deployment import parse_split

Decision = Literal["approve", "review", "decline"]
FlagIssue = Literal[
    "outside_plausible_range",
    "above_training_range",
    "below_training_range",
    "category_normalised",
    "unknown_category",
]


#: Longest text an applicant's category or id may be (longer training levels raise it for
#: their field): a value is echoed in flags and reasons, so an unbounded one amplifies the
#: answer.
MAX_TEXT = 200
#: Validation context under which number fields read text by a data file's rules (a job's
#: file rows): ``model_validate(row, context=FILE_ROWS)``.
FILE_ROWS: dict[str, Any] = {"rows": "file"}

NUMBER_NOT_BOOLEAN = "must be a number, not true or false"
NUMBER_TEXT = (
    "{value} is not a number: send a JSON number or decimal digits as text "
    "(null for a value that is not known)"
)
TEXT_TOO_LONG = "must be at most {limit} characters, not {length}"
ID_NOT_BOOLEAN = "must be a number or text, not true or false"

# Plain ASCII decimal notation. Python's float() also reads "1_000" as 1000, full-width or
# Arabic-Indic digits as their values and "infinity", none of which a lender's system
# means to send as a number.
_DECIMAL = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?", re.ASCII)


def _shown(value: str, limit: int = 40) -> str:
    """A sent text for a message, cut short (the 422's ``input`` has it whole)."""
    return repr(value if len(value) <= limit else value[:limit] + "...")


def _number_reader(spec: DatasetSpec, column: str) -> BeforeValidator:
    """Read a number field: a JSON number or null, or numeric text (quoted too, where the
    spec strips quotes) as the number; booleans and other text refused.

    Under the :data:`FILE_ROWS` context, text is read as the file's column is read instead:
    ``"?"``/``"n/a"`` (and the spec's missing values) as null.
    """
    missing = missing_tokens(spec, column)

    def read(value: Any, info: ValidationInfo) -> Any:
        if info.context is not None and info.context.get("rows") == FILE_ROWS["rows"]:
            if isinstance(value, str):
                number = read_number(value, strip_quotes=spec.strip_quotes, missing=missing)
                return None if math.isnan(number) else number
            return value
        # A JSON true would otherwise be read as 1.0 (pydantic's lax float) and scored.
        if isinstance(value, bool):
            raise ValueError(NUMBER_NOT_BOOLEAN)
        if isinstance(value, str):
            # Numeric text stays accepted (lenders' systems send "50000"; a job's file rows
            # are text), but "nan", "?" or "missing" do not mean missing here: that is null,
            # as the NaN literal is refused. A file's rules are the CLI's, not the API's.
            text = unquote(value.strip(), strip_quotes=spec.strip_quotes).strip()
            if not _DECIMAL.fullmatch(text):
                raise ValueError(NUMBER_TEXT.format(value=_shown(value)))
            return float(text)  # 1e400 is inf, refused as not finite by the field itself
        return value

    return BeforeValidator(read)


def _id_reader(limit: int) -> BeforeValidator:
    """Refuse a boolean id (the union would read true as 1) and text longer than
    ``limit`` (checked first: the union would read long numeric text as a number)."""

    def check(value: Any) -> Any:
        if isinstance(value, bool):
            raise ValueError(ID_NOT_BOOLEAN)
        if isinstance(value, str) and len(value) > limit:
            raise ValueError(TEXT_TOO_LONG.format(limit=limit, length=len(value)))
        return value

    return BeforeValidator(check)


#: The applicant field holding its links (see :class:`BorrowerLink`).
LINKS_FIELD = "links"
#: Most links one applicant may send (a household or guarantor graph is a few per person).
MAX_LINKS = 100


class BorrowerLink(BaseModel):
    """One link of an applicant to another borrower, as a row of the relations file."""

    model_config = ConfigDict(extra="forbid", coerce_numbers_to_str=False)

    id: int | Annotated[str, Field(min_length=1, max_length=128)] = Field(
        description="the other borrower's id, as in the id column and of its type (a number "
        'for numeric ids: the text "100234" names no borrower 100234)'
    )
    kind: Annotated[str, Field(max_length=64)] | None = Field(
        None, description="the kind of link, e.g. household, guarantor, employer"
    )


def links_row(links: list[dict[str, Any]] | None) -> list[tuple[Any, str | None]] | None:
    """The ``links`` field as the scoring runtime reads it: ``(id, kind)`` pairs."""
    return [(link["id"], link.get("kind")) for link in links] if links else None


def links_field(
    pairs: Sequence[tuple[Any, str | None]] | None,
) -> list[dict[str, Any]] | None:
    """:func:`links_row` undone: the pairs as the ``links`` field sends them."""
    return [{"id": node, "kind": kind} for node, kind in pairs] if pairs else None


def applicant_model(
    spec: DatasetSpec,
    columns: list[str],
    *,
    categorical: set[str],
    levels: dict[str, list[Any]] | None = None,
    links: bool = False,
    name: str = "Applicant",
) -> type[BaseModel]:
    """Build the pydantic model of one applicant for a model's input columns.

    Parameters
    ----------
    spec : DatasetSpec
        Descriptions of the columns and the id column.
    columns : list of str
        The model's raw input columns.
    categorical : set of str
        Which of them are categories (the rest are numbers).
    levels : dict, optional
        Training levels per categorical column, listed in the schema as examples.
    links : bool
        Whether the model reads applicants' own links (a relational step): adds the
        optional ``links`` field, a list of :class:`BorrowerLink` (not when a column is
        itself called ``links``).
    name : str
        Name of the model in the OpenAPI document.

    Returns
    -------
    type[BaseModel]
        Validates JSON objects: numbers finite (numeric text read as the number; no
        booleans), categories as text of at most :data:`MAX_TEXT` characters (numbers sent
        for a category are read as text), extra fields allowed;
        ``model_dump(by_alias=True)`` gives column -> value.
    """
    levels = levels or {}
    fields: dict[str, Any] = {}
    for i, column in enumerate(columns):
        description = spec.describe(column)
        if column in categorical:
            known = levels.get(column)
            extra: dict[str, Any] = {"examples": [str(known[0])]} if known else {}
            # A training level is never refused for its length.
            limit = max([MAX_TEXT, *(len(str(level)) for level in known or [])])
            text = Annotated[str, Field(max_length=limit)]
            fields[f"f{i}"] = (
                text | None,
                Field(..., alias=column, description=description, **extra),
            )
        else:
            number = Annotated[float | None, _number_reader(spec, column)]
            fields[f"f{i}"] = (number, Field(..., alias=column, description=description))
    if spec.id_column and spec.id_column not in columns:
        fields["applicant_id"] = (
            Annotated[int | str | None, _id_reader(MAX_TEXT)],
            Field(
                None,
                alias=spec.id_column,
                description="applicant id: keys sticky A/B assignment, the audit subject and "
                "relational features; never a model input",
            ),
        )
    if links and LINKS_FIELD not in columns and LINKS_FIELD != spec.id_column:
        fields["applicant_links"] = (
            list[BorrowerLink] | None,
            Field(
                None,
                alias=LINKS_FIELD,
                max_length=MAX_LINKS,
                description="the applicant's links to other borrowers (shared employer, "
                "guarantor, household), as in the relations file the model was trained "
                "with: each counts for this applicant only; links it had at training "
                "count as well",
            ),
        )
    config = ConfigDict(
        extra="allow",
        populate_by_name=False,
        coerce_numbers_to_str=True,
        allow_inf_nan=False,
        title=name,
    )
    return create_model(name, __config__=config, **fields)


# ---------------------------------------------------------------------- responses
class ErrorResponse(BaseModel):
    """Any 4xx/5xx answer other than request-validation errors."""

    error: str = Field(description="error class, e.g. AuthError")
    detail: str = Field(description="one line saying what was wrong")
    request_id: str | None = None


class FieldError(BaseModel):
    """One field that failed request validation."""

    type: str = Field(description="what kind of failure, e.g. missing, finite_number")
    loc: list[str | int] = Field(description="where: 'body' or 'query', then the field's path")
    msg: str
    input: Any = Field(None, description="the value sent (non-finite numbers as text)")
    ctx: dict[str, Any] | None = None


class ValidationErrorResponse(BaseModel):
    """Request-validation errors (422), one per field."""

    detail: list[FieldError]


class ModelRef(BaseModel):
    """Which model answered."""

    name: str
    version: str
    variant: str = Field(
        description="A/B arm ('primary' without a split, 'fallback' if failed over)"
    )


class ReasonCodeOut(BaseModel):
    """One principal reason for a review or decline (ECOA / Regulation B)."""

    code: str
    feature: str
    contribution: float = Field(description="push towards default, in log-odds")
    value: Any = None
    text: str


class InputFlag(BaseModel):
    """An input outside what the model saw in training."""

    field: str
    issue: FlagIssue
    value: Any = None
    action: Literal["clipped", "normalised", "flagged"] = Field(
        description="clipped to the training range, normalised to the training level that "
        "differs only in letter case, or only flagged (unknown categories score as missing)"
    )


class EnergyOut(BaseModel):
    """Estimated energy and carbon of the call."""

    kwh: float | None
    co2_kg: float | None
    method: str


class ScoreResponse(BaseModel):
    """The decision on one applicant."""

    request_id: str
    model: ModelRef
    probability_of_default: float
    score: float = Field(description="scorecard points (higher is safer)")
    decision: Decision
    reason_codes: list[ReasonCodeOut] = Field(description="top reasons for review or decline")
    reasons_available: bool = True
    flags: list[InputFlag] = []
    fallback: bool = Field(False, description="the primary model failed and the fallback answered")
    cached: bool = False
    review_id: str | None = Field(None, description="review-queue item when routed to a person")
    energy: EnergyOut


class BatchResponse(BaseModel):
    """Decisions on every applicant of a batch, in request order."""

    count: int
    results: list[ScoreResponse]


class JobCallbackOut(BaseModel):
    """Delivery of a job's completion callback."""

    url: str | None
    status: Literal["none", "pending", "delivered", "failed"]
    attempts: int
    last_error: str | None = None


class JobStatus(BaseModel):
    """A batch job's state and progress."""

    id: str
    status: Literal["queued", "running", "done", "failed"]
    created_at: str
    updated_at: str
    total: int
    done: int
    progress: float = Field(description="share of rows scored, 0 to 1")
    errors: int = Field(0, description="rows that could not be scored (listed in the results)")
    error: str | None = None
    callback: JobCallbackOut
    results_url: str


class JobResults(BaseModel):
    """One page of a finished job's results (a row per input record, same order)."""

    job_id: str
    status: str
    offset: int
    next_offset: int | None
    rows: list[dict[str, Any]]


class ContestRequest(BaseModel):
    """An applicant's contest of an automated decision (GDPR Art. 22)."""

    reason: str = Field(min_length=1, max_length=2000, description="why the decision is contested")


#: Most outcomes in one ``POST /v1/outcomes`` (larger loads: ``greenscore outcomes load``).
MAX_OUTCOMES = 5000
#: Years an outcome's dates may fall in.
OUTCOME_YEARS = (1900, 2999)
LOAN_AFTER_OUTCOME = (
    "loan_date {loan_date} is after observed_at {observed_at}: a loan's outcome is observed "
    "after it was granted"
)


class OutcomeItem(BaseModel):
    """The observed outcome of one decision, named by its request id or the applicant's id."""

    model_config = ConfigDict(extra="forbid")

    request_id: str | None = Field(
        None, min_length=1, max_length=64, description="the decision's request id"
    )
    # A number or text, as /v1/score takes it: an id names its subject by its text (the
    # pseudonym of 200001 is that of "200001"), so either finds the decision.
    applicant_id: StrictInt | Annotated[str, Field(min_length=1, max_length=MAX_TEXT)] | None = (
        Field(
            None,
            description="or the applicant's id (a number or text, as sent to /v1/score): "
            "their latest decision before observed_at",
        )
    )
    defaulted: StrictBool = Field(description="whether the loan defaulted")
    observed_at: AwareDatetime = Field(description="when the outcome was observed (with offset)")
    loan_date: AwareDatetime | None = Field(
        None,
        description="when the loan was granted (default: the decision's time); its "
        "month is the vintage",
    )

    @field_validator("observed_at", "loan_date")
    @classmethod
    def _plausible(cls, value: datetime | None) -> datetime | None:
        # Also keeps the conversion to UTC from overflowing at the ends of the calendar.
        if value is not None and not OUTCOME_YEARS[0] <= value.year <= OUTCOME_YEARS[1]:
            raise ValueError(f"must be a date in the years {OUTCOME_YEARS[0]}..{OUTCOME_YEARS[1]}")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> OutcomeItem:
        if (self.request_id is None) == (self.applicant_id is None):
            raise ValueError("give exactly one of request_id and applicant_id")
        if self.loan_date is not None and self.loan_date > self.observed_at:
            raise ValueError(
                LOAN_AFTER_OUTCOME.format(
                    loan_date=self.loan_date.isoformat(), observed_at=self.observed_at.isoformat()
                )
            )
        return self


class OutcomesRequest(BaseModel):
    """Observed outcomes of the caller's decisions, recorded all or none."""

    model_config = ConfigDict(extra="forbid")

    items: list[OutcomeItem] = Field(min_length=1, max_length=MAX_OUTCOMES)


class OutcomesResult(BaseModel):
    """What a load did: outcomes new, replaced by a later observation, or left as they were."""

    inserted: int
    updated: int
    unchanged: int


class ReviewItem(BaseModel):
    """A decision waiting for a person."""

    id: str
    request_id: str
    kind: Literal["contest", "grey_band"]
    status: Literal["open", "decided"]
    created_at: str
    comment: str | None = None
    model: str
    decision: str
    probability_of_default: float
    outcome: str | None = None
    note: str | None = None
    decided_by: str | None = None
    tenant: str | None = Field(
        None, description="who made the decision (none for decisions older than tenants)"
    )


class ReviewQueue(BaseModel):
    """Review items, oldest first."""

    count: int
    items: list[ReviewItem]


class ReviewDecisionRequest(BaseModel):
    """An analyst's decision on a review item."""

    outcome: Literal["approve", "decline", "uphold"]
    note: str | None = Field(None, max_length=2000)


class ReloadRequest(BaseModel):
    """What to load; all empty reloads the current URIs (an alias may have moved)."""

    # An empty text is a caller's mistake (422 naming the field), not "the current one":
    # that is the field left out.
    model: str | None = Field(
        None, min_length=1, description="folder, models:/NAME/VERSION or models:/NAME@ALIAS"
    )
    fallback: str | None = Field(None, min_length=1)
    ab: str | None = Field(
        None,
        min_length=1,
        description="A/B split 'MODEL:WEIGHT,MODEL:WEIGHT': finite weights > 0, relative "
        "(each arm's share is its weight over their sum)",
    )

    @field_validator("ab")
    @classmethod
    def _readable_split(cls, value: str | None) -> str | None:
        # Read here too, so an unreadable split is a 422 naming the field (and the weight)
        # before any load starts; the store reads it again for the CLI and settings.
        if value is not None:
            try:
                parse_split(value)
            except ConfigError as exc:
                raise ValueError(exc.message) from None
        return value


class ReloadStatus(BaseModel):
    """A background model reload."""

    id: str
    state: Literal["loading", "done", "failed"]
    model: str | None = None
    ab: str | None = None
    fallback: str | None = None
    started_at: str
    finished_at: str | None = None
    error: str | None = None
    generation: int | None = None


class ModelsInfo(BaseModel):
    """What the service serves now, and the latest reload."""

    deployment: dict[str, Any]
    reload: ReloadStatus | None = None


class DeadLetterOut(BaseModel):
    """A request no model could answer, kept for replay."""

    id: int
    request_id: str
    created_at: str
    kind: str
    route: str | None
    actor: str | None
    model: str | None
    error: str
    status: str


class AuditEventOut(BaseModel):
    """One audit event; the subject appears only as its pseudonym."""

    id: int
    ts: str = Field(description="when, UTC (ISO 8601)")
    action: str
    actor: str
    subject_hash: str | None = Field(description="the subject's pseudonym, if any")
    details: dict[str, Any]
    prev_hash: str = Field(description="MAC of the entry before (the chain link)")
    hash: str = Field(description="this entry's MAC")


class AuditPage(BaseModel):
    """A page of audit events, newest first."""

    events: list[AuditEventOut]
    next_before_id: int | None = Field(
        description="pass as before_id for the next (older) page; null on the last page"
    )


class HealthOut(BaseModel):
    """A probe's answer."""

    status: Literal["ok", "unavailable"]
    checks: dict[str, Any] = {}
