"""DatasetSpec: what the columns of a credit dataset mean.

The spec is the single place that says which column is the target (and which label is a
default), which identify a row or a person, which are protected, how monthly histories are
ordered and how borrowers are linked. Every later step (features, models, fairness, PII
handling, serving) reads its structure from here instead of from a file's column names.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, Field, ValidationError, model_validator

from greenscore.errors import ConfigError

SequenceKind = Literal["status", "balance", "payment", "other"]
#: Youngest and oldest plausible applicant (the ``age`` role's domain rule).
AGE_RANGE = (18, 100)

Role = Literal[
    "income",
    "loan_amount",
    "credit_limit",
    "age",
    "employment_length",
    "interest_rate",
    "term",
    "debt",
    "history_length",
]


class SequenceGroup(BaseModel):
    """Columns that hold one quantity month by month, **oldest first**.

    ``kind`` tells the feature builders what the numbers are: ``status`` (delinquency,
    months or days past due; larger is worse), ``balance`` (amount owed or billed),
    ``payment`` (amount paid) or ``other``.
    """

    name: str
    columns: list[str] = Field(min_length=2)
    kind: SequenceKind = "other"
    description: str | None = None


class Relations(BaseModel):
    """Links between borrowers, stored as an edge table beside the applications.

    ``path`` is relative to the applications file unless absolute.
    """

    path: str
    source: str = "source_id"
    target: str = "target_id"
    kind: str | None = "relation"


class DerivedColumn(BaseModel):
    """A column computed from another one, e.g. sex from German credit's ``personal_status``.

    The first key of ``contains`` found (case-insensitively) in the source value gives the
    label; values matching none become ``default``.
    """

    name: str
    source: str
    contains: dict[str, str]
    default: str | None = None


class DatasetSpec(BaseModel):
    """The meaning of every column in one credit dataset.

    Attributes
    ----------
    target, positive_label : the outcome column and the value that means *default*.
    id_column, time_column : row identifier and application date, both never features.
    protected : attributes that must not drive decisions (ECOA); excluded from features
        unless ``use_protected_as_features`` is set (which compliance checks then fail).
    pii : direct identifiers; never features.
    categorical, numeric : feature types; empty lists are inferred from the data.
    sequences : monthly histories, oldest first.
    relations : the borrower graph, if the dataset has one.
    roles : semantic meaning of single columns (income, loan amount, …) for feature builders.
    immutable : features a person cannot change (never varied by counterfactuals).
    drop : columns never modelled (leaks, the lender's own pricing, free text).
    amount_columns : money columns that must not be negative.
    bounds : plausible range ``[low, high]`` per numeric column (either end may be null);
        with ``amount_columns`` (at least 0) and the ``age`` role (18 to 100) these are
        the domain rules scoring refuses or flags values against (:meth:`domain_bounds`).
    missing_values : text values that mean *missing* in a numeric column, beyond the
        common tokens (``?``, ``n/a``, …); inference lists the few text values it found.
    max_category_levels : most levels a categorical feature may have (default: the
        ``training.max_category_levels`` setting); more is refused at validation.
    descriptions : plain-language meaning per column, used in reason codes.
    strip_quotes : strip one pair of single quotes around string values (ARFF exports).
    monotone : known direction of risk per numeric column: +1 when risk rises with the
        value, -1 when it falls; LightGBM is constrained to it and reasons follow it.
    """

    name: str = "custom"
    target: str
    positive_label: Any = 1
    id_column: str | None = None
    time_column: str | None = None
    protected: list[str] = []
    pii: list[str] = []
    categorical: list[str] = []
    numeric: list[str] = []
    sequences: list[SequenceGroup] = []
    relations: Relations | None = None
    roles: dict[Role, str] = {}
    immutable: list[str] = []
    drop: list[str] = []
    amount_columns: list[str] = []
    bounds: dict[str, tuple[float | None, float | None]] = {}
    missing_values: dict[str, list[str]] = {}
    max_category_levels: int | None = Field(None, ge=2)
    derived: list[DerivedColumn] = []
    descriptions: dict[str, str] = {}
    monotone: dict[str, Literal[-1, 1]] = {}
    strip_quotes: bool = False
    use_protected_as_features: bool = False

    @model_validator(mode="after")
    def _target_is_not_a_feature(self) -> DatasetSpec:
        roles = {"id_column": self.id_column, "time_column": self.time_column}
        for role, column in roles.items():
            if column is not None and column == self.target:
                raise ValueError(f"{role} '{column}' cannot also be the target")
        for listed in ("categorical", "numeric", "pii", "drop"):
            if self.target in getattr(self, listed):
                raise ValueError(f"target '{self.target}' cannot be listed in {listed}")
        return self

    def __setstate__(self, state: dict[str, Any]) -> None:
        # A bundle pickled before a field existed lacks it: give it the field's default.
        values = state.get("__dict__", {})
        for name, info in type(self).model_fields.items():
            if name not in values and not info.is_required():
                values[name] = info.get_default(call_default_factory=True)
        super().__setstate__(state)

    @model_validator(mode="after")
    def _bounds_are_ordered(self) -> DatasetSpec:
        for column, (low, high) in self.bounds.items():
            if low is not None and high is not None and low > high:
                raise ValueError(f"bounds of '{column}': low {low:g} is above high {high:g}")
        return self

    # ----------------------------------------------------------------- column sets
    @property
    def sequence_columns(self) -> list[str]:
        """All columns of all sequence groups, group by group, oldest first."""
        return [c for group in self.sequences for c in group.columns]

    @property
    def derived_names(self) -> list[str]:
        """Names of the derived columns (used for fairness groups, never as features)."""
        return [d.name for d in self.derived]

    def non_feature_columns(self) -> set[str]:
        """Columns that must never reach a model."""
        excluded = {self.target, *self.pii, *self.drop, *self.derived_names}
        excluded |= {c for c in (self.id_column, self.time_column) if c}
        if not self.use_protected_as_features:
            excluded |= set(self.protected)
        return excluded

    def feature_columns(self, columns: list[str] | None = None) -> list[str]:
        """The model's input columns, in the data's order.

        Parameters
        ----------
        columns : list of str, optional
            The data's columns; defaults to the spec's declared numeric + categorical.
        """
        excluded = self.non_feature_columns()
        pool = columns if columns is not None else [*self.numeric, *self.categorical]
        return [c for c in pool if c not in excluded]

    def domain_bounds(self) -> dict[str, tuple[float | None, float | None]]:
        """Plausible range of each numeric column: the age role, amounts and ``bounds``.

        ``bounds`` wins over the rules implied by ``roles`` and ``amount_columns``.
        """
        out: dict[str, tuple[float | None, float | None]] = {}
        for column in self.amount_columns:
            out[column] = (0.0, None)
        age = self.roles.get("age")
        if age:
            out[age] = AGE_RANGE
        out.update(self.bounds)
        return out

    def describe(self, column: str) -> str:
        """Plain-language name of a column, falling back to a tidied column name."""
        return self.descriptions.get(column, column.replace("_", " ").replace(".", " ").strip())

    # ----------------------------------------------------------------- files
    def to_yaml(self, path: Path | str | None = None) -> str:
        """Return the spec as YAML and write it to ``path`` if given."""
        text = yaml.safe_dump(self.model_dump(mode="json", exclude_defaults=False), sort_keys=False)
        if path is not None:
            Path(path).write_text(text, encoding="utf-8")
        return text

    @classmethod
    def from_yaml(cls, path: Path | str) -> DatasetSpec:
        """Read a spec file.

        Raises
        ------
        ConfigError
            If the file is missing, not YAML, or not a valid spec (the field is named).
        """
        path = Path(path)
        try:
            data = yaml.safe_load(path.read_text(encoding="utf-8"))
        except FileNotFoundError as exc:
            raise ConfigError(f"spec file not found: {path}") from exc
        except yaml.YAMLError as exc:
            raise ConfigError(f"spec file {path} is not valid YAML") from exc
        return cls.from_dict(data, source=str(path))

    @classmethod
    def from_dict(cls, data: Any, *, source: str = "spec") -> DatasetSpec:
        """Validate a mapping into a spec, naming the offending field on error."""
        if not isinstance(data, dict):
            raise ConfigError(f"{source}: a spec must be a mapping of fields")
        try:
            return cls.model_validate(data)
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first["loc"]) or "spec"
            raise ConfigError(f"{source}: invalid field '{where}': {first['msg']}") from exc
