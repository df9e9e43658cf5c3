"""Adverse-action reason codes: the principal, specific reasons behind a credit decision.

ECOA / Regulation B (12 CFR 1002.9) asks a lender who declines to state the principal
reasons; four is the convention. For one applicant, the reasons are the features that
pushed the model's log-odds of default up the most (exact SHAP contributions), never a
protected attribute or a feature derived from one, each with a stable code and a plain
sentence. A feature is cited only when its value lies on the side of typical where risk
is higher (:mod:`greenscore.explain.reason_sides`): "Annual income is high" is never a
reason to decline, whatever the sign of its contribution.

Contributions come from the bundle's scoring runtime (:mod:`greenscore.models.runtime`),
on the same matrix the applicant was scored from: :meth:`ReasonCoder.explain` takes the
runtime's encoding, so serving, batch jobs and files never encode an applicant twice.
For LightGBM they are exact TreeSHAP from per-leaf tables (equal to ``pred_contrib``), for
the WoE scorecard and linear models their exact additive terms; names, codes, sentences
and medians are precomputed.

Codes come from a table built once per model (:func:`build_reason_table`, stored in the
bundle's metadata by :func:`attach_reason_codes` at fit time); a code is derived from the
feature name (``GS`` + hash), so the same feature keeps its code across model versions.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any, Literal, TypeGuard, get_args

import numpy as np
import pandas as pd

from greenscore.errors import ConfigError, DataError, ModelError
from greenscore.explain.feature_map import (
    is_protected_feature,
    model_feature_names,
    model_frame,
    protected_columns,
    raw_input_columns,
    reason_groups,
    select_model_input,
)
from greenscore.explain.reason_sides import RiskSides, build_sides
from greenscore.explain.wording import SentenceParts, feature_phrase
from greenscore.features.relational import PREFIX as RELATIONAL_PREFIX
from greenscore.json_document import plain
from greenscore.models.bundle import ScoringBundle
from greenscore.models.runtime import Encoded, ScoredFrame, ScoringRuntime, probe_rows

#: Version of the table; version 1 (before risk sides) is still read.
TABLE_VERSION = 2
TARGET_LENGTH = "target has {n_target} values but the reference has {n_reference} rows"
SHOWN_LENGTH = "shown has {n_shown} entries but X has {n_rows} rows"
#: Which scored rows get reasons: every row, the adverse decisions only (review and
#: decline, which Regulation B owes reasons; approvals left blank), or none.
ReasonRows = Literal["all", "adverse", "none"]
REASON_ROWS: tuple[str, ...] = get_args(ReasonRows)
BAD_REASON_ROWS = "reasons are for one of {choices} rows, not '{value}'"
_CODE_PREFIX = "GS"
#: Distinct values per feature whose side verdict and sentence a coder remembers.
_REMEMBERED = 4096
_CODE_DIGITS = 5
#: Candidates ranked per row beyond ``max_reasons``, for values on the favourable side.
_SPARE = 4
#: Batches of fewer rows are coded row by row: the batch coder's dozen NumPy calls cost
#: more than walking a few rows (a service's micro-batch of 1 row: about 20 µs walked,
#: 230 µs batch-coded; on par near 64 rows).
_WALKED_BELOW = 32


@dataclass(frozen=True, slots=True)
class ReasonCode:
    """One principal reason for an adverse decision.

    Attributes
    ----------
    code : stable identifier of the feature's reason (``GS1A2B3``).
    feature : the feature (raw column, or derived feature) it refers to.
    contribution : its push towards default, in log-odds (positive).
    value : the applicant's value of the feature, as sent (before any clipping).
    text : a plain, specific sentence for the notice.
    """

    code: str
    feature: str
    contribution: float
    value: Any
    text: str

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready data (numpy scalars become Python numbers)."""
        out = asdict(self)
        value = out["value"]
        if isinstance(value, np.generic):
            out["value"] = value.item()
        if isinstance(out["value"], float) and out["value"] != out["value"]:
            out["value"] = None
        return out


def reason_code(feature: str) -> str:
    """The code of a feature: ``GS`` and the first hex digits of its name's SHA-256."""
    digest = hashlib.sha256(feature.encode("utf-8")).hexdigest().upper()
    return _CODE_PREFIX + digest[:_CODE_DIGITS]


def reason_code_table(features: Sequence[str]) -> dict[str, str]:
    """Codes for a set of features, lengthened where two would collide (deterministic)."""
    codes = {f: reason_code(f) for f in sorted(set(features))}
    width = _CODE_DIGITS
    while len(set(codes.values())) < len(codes):
        width += 1
        seen: dict[str, int] = {}
        for code in codes.values():
            seen[code] = seen.get(code, 0) + 1
        for feature, code in list(codes.items()):
            if seen[code] > 1:
                digest = hashlib.sha256(feature.encode("utf-8")).hexdigest().upper()
                codes[feature] = _CODE_PREFIX + digest[:width]
    return codes


def _is_categorical(values: pd.Series) -> bool:
    return isinstance(values.dtype, pd.CategoricalDtype) or not pd.api.types.is_numeric_dtype(
        values
    )


def build_reason_table(
    bundle: ScoringBundle,
    reference: pd.DataFrame | None = None,
    target: np.ndarray | None = None,
    *,
    seed: int = 0,
) -> dict[str, Any]:
    """The reason-code table of a fitted bundle: groups, codes, phrases, typical values.

    Parameters
    ----------
    bundle : ScoringBundle
        The fitted model.
    reference : DataFrame, optional
        Training applicants (model input or raw); their medians make sentences say
        *high* or *low*, and the model's partial dependence on a sample of them tells
        which side of typical raises risk.
    target : array of 0/1, optional
        Outcomes of the reference rows: the observed default rates must then agree
        that a side raises risk before it is cited.
    seed : int
        Seed of the partial-dependence sample.

    Returns
    -------
    dict
        JSON-ready: ``groups`` (model feature -> reported feature), ``codes``,
        ``phrases``, ``categorical``, ``typical`` and ``sides`` per reported feature.

    Raises
    ------
    DataError
        If ``target`` and ``reference`` differ in length.
    """
    if target is not None and reference is not None and len(target) != len(reference):
        raise DataError(TARGET_LENGTH.format(n_target=len(target), n_reference=len(reference)))
    raw = raw_input_columns(bundle)
    transformed = None
    typical: dict[str, float] = {}
    categorical_raw: set[str] = set()
    if reference is not None:
        sample = select_model_input(bundle, reference)
        categorical_raw = {c for c in raw if _is_categorical(sample[c])}
        transformed = model_frame(bundle, sample)
    features = model_feature_names(bundle, transformed)
    if reference is None:
        spec = bundle.spec
        categorical_raw = {c for c in raw if c in spec.categorical}
    groups = reason_groups(features, raw, categorical_raw)
    is_cat: dict[str, bool] = {}
    for feature, group in zip(features, groups, strict=True):
        if transformed is not None and group == feature and feature in transformed:
            is_cat[group] = _is_categorical(transformed[feature])
        else:
            is_cat[group] = group in categorical_raw or group in bundle.spec.categorical
    if transformed is not None:
        for feature, group in zip(features, groups, strict=True):
            if group == feature and not is_cat[group]:
                median = pd.to_numeric(transformed[feature], errors="coerce").median()
                if pd.notna(median):
                    typical[group] = float(median)
    unique_groups = list(dict.fromkeys(groups))
    categorical = {g: bool(is_cat[g]) for g in unique_groups}
    sides = (
        build_sides(
            bundle,
            transformed,
            features=[g for g in unique_groups if g in features],
            categorical=categorical,
            y=target,
            seed=seed,
        )
        if transformed is not None
        else {}
    )
    return {
        "version": TABLE_VERSION,
        "groups": dict(zip(features, groups, strict=True)),
        "codes": reason_code_table(unique_groups),
        "phrases": {g: feature_phrase(g, bundle.spec) for g in unique_groups},
        "categorical": categorical,
        "typical": typical,
        "sides": sides,
    }


def attach_reason_codes(
    bundle: ScoringBundle, reference: pd.DataFrame | None = None, target: np.ndarray | None = None
) -> dict[str, Any]:
    """Build the reason-code table and store it in ``bundle.metadata`` (call at fit time).

    ``target`` (the outcomes of the ``reference`` rows) lets the observed default rates
    veto a side the model alone would cite.
    """
    table = build_reason_table(bundle, reference, target)
    bundle.metadata.reason_codes = table
    return table


def _matches(table: Any, bundle: ScoringBundle) -> TypeGuard[Mapping[str, Any]]:
    """Whether a stored table is current and describes this model's features."""
    if not isinstance(table, Mapping) or table.get("version") not in (1, TABLE_VERSION):
        return False
    try:
        return set(table.get("groups") or {}) == set(model_feature_names(bundle))
    except ModelError:
        return bool(table.get("groups"))


class ReasonCoder:
    """Turns scored applicants into their top adverse-action reasons.

    Build it with :meth:`from_bundle`; it is immutable afterwards and safe to share
    between threads. Contributions come from the bundle's scoring runtime, on the very
    matrix the applicant was scored from: exact when the runtime has exact ones (TreeSHAP
    tables, scorecard or linear terms), otherwise sampled SHAP over the model's input
    frame (``kernel``), which is approximate and said so (:attr:`exact`).

    Attributes
    ----------
    runtime : ScoringRuntime
    features : list of str
        Reported features (one-hot columns grouped under their category), in model order.
    codes : list of str
        Code of each reported feature.
    max_reasons : int
        Reasons returned per applicant.
    categorical : dict of str to bool
        Whether each reported feature is categorical.
    method : str
        How contributions are computed: ``treeshap``, ``model`` (the scorecard's terms),
        ``linear`` (exact) or ``kernel`` / ``permutation`` (approximate).
    exact : bool
    """

    def __init__(
        self,
        *,
        runtime: ScoringRuntime,
        table: Mapping[str, Any],
        max_reasons: int,
        background: pd.DataFrame | None = None,
        seed: int = 0,
    ) -> None:
        bundle = runtime.bundle
        self.runtime = runtime
        self.bundle = bundle
        self.max_reasons = max_reasons
        self.model_features = list(runtime.model_features) or list(table.get("groups") or {})
        if not self.model_features:
            raise ModelError(f"{type(bundle.estimator).__name__} does not record its feature names")
        groups = [table["groups"].get(f, f) for f in self.model_features]
        self.features = list(dict.fromkeys(groups))
        index = {g: i for i, g in enumerate(self.features)}
        self._group_of = np.array([index[g] for g in groups], dtype=np.intp)
        self._grouped = len(self.features) != len(self.model_features)
        self._outcome_rate = _outcome_rate_columns(self.features)
        self.codes = [table["codes"].get(g) or reason_code(g) for g in self.features]
        self._phrases = [
            table["phrases"].get(g) or feature_phrase(g, bundle.spec) for g in self.features
        ]
        self._categorical = [bool(table["categorical"].get(g, False)) for g in self.features]
        self.categorical = dict(zip(self.features, self._categorical, strict=True))
        self._typical = [table["typical"].get(g) for g in self.features]
        self._sides = RiskSides(table.get("sides") or {}, self.features, self._typical)
        self._sentences = [
            SentenceParts.of(phrase, typical=typical, categorical=categorical)
            for phrase, typical, categorical in zip(
                self._phrases, self._typical, self._categorical, strict=True
            )
        ]
        # Side verdicts and sentences per feature and value (bounded; see _raises_risk).
        self._risk_seen: list[dict[tuple[type, Any], bool]] = [{} for _ in self.features]
        self._sentence_seen: list[dict[tuple[type, Any], str]] = [{} for _ in self.features]
        protected = protected_columns(bundle.spec)
        self._excluded = np.array(
            [is_protected_feature(g, protected) for g in self.features], dtype=bool
        ) | np.bincount(
            self._group_of,
            weights=[is_protected_feature(f, protected) for f in self.model_features],
            minlength=len(self.features),
        ).astype(bool)
        # Where each reported feature's value is read: the raw input when it is a raw
        # column (what the caller's value became), else its model-feature column.
        raw = set(runtime.raw_columns)
        column = {f: j for j, f in enumerate(self.model_features)}
        self._source = [(g if g in raw else None, column.get(g)) for g in self.features]
        self.exact = runtime.exact
        if self.exact:
            self._backend: Any = None
            self.method = str(runtime.terms)
        else:
            self._backend = _approximate_backend(runtime, background, seed=seed)
            self.method = self._backend.method

    @classmethod
    def from_bundle(
        cls,
        bundle: ScoringBundle,
        *,
        runtime: ScoringRuntime | None = None,
        reference: pd.DataFrame | None = None,
        background: pd.DataFrame | None = None,
        max_reasons: int | None = None,
        seed: int = 0,
    ) -> ReasonCoder:
        """Prepare reason codes for a fitted bundle.

        Parameters
        ----------
        bundle : ScoringBundle
            The fitted model; its stored table (``metadata.reason_codes``) is used when
            present, else one is built (with ``reference`` medians if given).
        runtime : ScoringRuntime, optional
            The bundle's scoring runtime (the service keeps one per model); built if not.
        reference : DataFrame, optional
            Training applicants, for the medians of a table built here.
        background : DataFrame, optional
            Reference applicants for a model without exact contributions (sampled SHAP;
            defaults to ``reference``, else the runtime's probe applicants).
        max_reasons : int, optional
            Reasons per applicant; default ``settings.scoring.reason_codes`` (4).
        seed : int
            Seed of the sampled SHAP path.
        """
        if max_reasons is None:
            from greenscore.config import get_settings

            max_reasons = get_settings().scoring.reason_codes
        if max_reasons < 1:
            raise DataError(f"max_reasons must be at least 1, got {max_reasons}")
        table = bundle.metadata.reason_codes
        if not _matches(table, bundle):
            table = build_reason_table(bundle, reference if reference is not None else background)
        if runtime is None:
            runtime = ScoringRuntime(bundle, background=background)
        return cls(
            runtime=runtime,
            table=table,
            max_reasons=max_reasons,
            background=background if background is not None else reference,
            seed=seed,
        )

    # ------------------------------------------------------------------ the core
    def contributions(self, encoded: Encoded, computed: np.ndarray | None = None) -> np.ndarray:
        """Log-odds contributions per reported feature: shape ``(n_rows, n_features)``.

        ``computed``: the runtime's exact contributions per model feature of these rows,
        when it already has them (scored with them); computed here otherwise.
        """
        if computed is not None and self._backend is None:
            raw = computed
        elif self._backend is None:
            raw, _ = self.runtime.contributions(encoded)
        else:
            raw, _ = self._backend.contributions(self.runtime.model_frame(encoded))
        if self._grouped:
            grouped = np.zeros((len(raw), len(self.features)))
            np.add.at(grouped.T, self._group_of, raw.T)
            raw = grouped
        return self._with_unknown_outcomes_folded(encoded, raw)

    def _with_unknown_outcomes_folded(self, encoded: Encoded, values: np.ndarray) -> np.ndarray:
        """``values`` with, in each row that has no linked borrower of known outcome, the
        neighbour default rate's and count's contributions moved to the count of linked
        borrowers with a known outcome (0).

        Why: with none known, the rate a relational step gives is its prior (the training
        base rate), not a rate anyone observed; a reason "default rate among linked
        borrowers is high (0.15)" told a new applicant something false (346 of 500 new
        applicants' first reason under an auto ensemble). What that value does to the
        log-odds is real, and it is the doing of having no known linked borrower: so it is
        cited, when the count's side of typical is the risky one, as that count. Sums are
        unchanged (contributions still add up to the log-odds).
        """
        if self._outcome_rate is None or not len(values):
            return values
        known, made = self._outcome_rate
        moved = np.asarray(made, dtype=np.intp)
        counts = self._values(encoded, np.arange(len(values)), known)
        none = np.array([c is not None and c == 0 for c in counts], dtype=bool)
        if not none.any():
            return values
        out = np.array(values, dtype=float, copy=True)
        out[none, known] += out[np.ix_(none, moved)].sum(axis=1)
        out[np.ix_(none, moved)] = 0.0
        return out

    def explain(
        self,
        encoded: Encoded,
        shown: Sequence[Mapping[str, Any] | None] | None = None,
        *,
        contributions: np.ndarray | None = None,
    ) -> list[list[ReasonCode]]:
        """The top reasons of every encoded applicant, same order.

        Parameters
        ----------
        encoded : Encoded
            Applicants as the runtime encoded them when it scored them.
        shown : sequence of mapping, optional
            Per row, the values the applicant (or API caller) actually sent, by reported
            feature, where they differ from what was scored (clipped to the training
            range, say): reasons quote these. Wording only.
        contributions : ndarray of shape (n_rows, n_model_features), optional
            The runtime's exact contributions of these rows, when it computed them with
            the PD (:attr:`~greenscore.models.runtime.runtime.Scored.contributions`):
            not computed again.

        Returns
        -------
        list of list of ReasonCode
            At most ``max_reasons`` per row, largest contribution first; only positive
            contributions of values on their unfavourable side of typical; never a
            protected attribute; deterministic.

        Raises
        ------
        DataError
            If ``shown`` and ``encoded`` differ in length.
        """
        n = len(encoded)
        if shown is not None and len(shown) != n:
            raise DataError(SHOWN_LENGTH.format(n_shown=len(shown), n_rows=n))
        if n == 0:
            return []
        if contributions is not None and len(contributions) != n:
            raise DataError(f"contributions have {len(contributions)} rows but encoded has {n}")
        scores = np.where(self._excluded, -np.inf, self.contributions(encoded, contributions))
        if n < _WALKED_BELOW:
            return [
                self._reasons(
                    encoded,
                    i,
                    scores[i],
                    np.argsort(-scores[i], kind="stable"),
                    shown[i] if shown is not None else None,
                )
                for i in range(n)
            ]
        return self._coded(encoded, scores, shown)

    def _ranked(self, scores: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Per row, the columns of its largest scores, largest first, ties by column order.

        The same order as a stable sort of the whole row, cut to the ``max_reasons +``
        :data:`_SPARE` leading columns (one partition of the matrix, then a sort of the
        few kept). Returns the columns, and the rows where the cut may differ from the
        whole sort's head: a tie across the cut on a positive score (which of the tied
        columns were kept is arbitrary); those rows are to be ranked whole.
        """
        n, width = scores.shape
        keep = min(width, self.max_reasons + _SPARE)
        if keep == width:
            return np.argsort(-scores, axis=1, kind="stable"), np.zeros(n, dtype=bool)
        kept = np.argpartition(-scores, keep - 1, axis=1)[:, :keep]
        top = np.take_along_axis(scores, kept, axis=1)
        order = np.lexsort((kept, -top), axis=1)
        kept = np.take_along_axis(kept, order, axis=1)
        last = np.take_along_axis(top, order[:, -1:], axis=1)
        tied = (last[:, 0] > 0) & ((scores == last).sum(axis=1) > (top == last).sum(axis=1))
        return kept, tied

    def _coded(
        self,
        encoded: Encoded,
        scores: np.ndarray,
        shown: Sequence[Mapping[str, Any] | None] | None,
    ) -> list[list[ReasonCode]]:
        """The reasons of every row from its scores, a batch at a time.

        What :meth:`_reasons` does row by row -- walk the columns by falling score, stop
        at the first that is not positive or at ``max_reasons``, skip a value on the
        favourable side of typical -- done on the ranked candidates of all rows at once:
        values are read and side verdicts given per feature, over every row that has it
        as a candidate, first for the leading ``max_reasons`` ranks, then for the rest
        only in rows still short of reasons. A row whose candidates run out before its
        reasons do (or whose cut is tied) is coded by :meth:`_reasons` on its whole order.
        """
        n = len(scores)
        most = self.max_reasons
        kept, tied = self._ranked(scores)
        top = np.take_along_axis(scores, kept, axis=1)
        positive = top > 0
        raises = np.zeros(positive.shape, dtype=bool)
        found: dict[tuple[int, int], Any] = {}  # (row, rank) -> value, where it raises risk
        for ranks in (slice(0, most), slice(most, None)):
            short = raises.sum(axis=1) < most
            rows, at = np.nonzero(positive[:, ranks] & short[:, None])
            if not len(rows):
                continue
            at += ranks.start
            verdicts, values = self._judge(encoded, rows, kept[rows, at])
            raises[rows, at] = verdicts
            for position in np.flatnonzero(verdicts).tolist():
                found[int(rows[position]), int(at[position])] = values[position]
        chosen = raises & (np.cumsum(raises, axis=1) <= most)
        # Rows whose candidates were all positive and gave too few reasons go on past the cut.
        unfinished = (
            positive[:, -1] & (chosen.sum(axis=1) < most) & (kept.shape[1] < scores.shape[1])
        )
        out: list[list[ReasonCode]] = [[] for _ in range(n)]
        rows, at = np.nonzero(chosen)
        seen = self._sentence_seen
        for i, rank, j, score in zip(
            rows.tolist(),
            at.tolist(),
            kept[rows, at].tolist(),
            top[rows, at].tolist(),
            strict=True,
        ):
            value = found[i, rank]
            feature = self.features[j]
            sent = shown[i] if shown is not None else None
            if sent is not None and feature in sent:
                value = sent[feature]
            try:
                text = seen[j].get((type(value), value)) or self._sentence(j, value)
            except TypeError:  # an unhashable value
                text = self._sentence(j, value)
            out[i].append(ReasonCode(self.codes[j], feature, score, value, text))
        for i in np.flatnonzero(tied | unfinished).tolist():
            order = np.argsort(-scores[i], kind="stable")
            out[i] = self._reasons(
                encoded, i, scores[i], order, shown[i] if shown is not None else None
            )
        return out

    def _judge(
        self, encoded: Encoded, rows: np.ndarray, columns: np.ndarray
    ) -> tuple[np.ndarray, list[Any]]:
        """Per (row, reported feature) pair: whether its value raises risk, and the value.

        Values are read and judged feature by feature over all the pairs that have it.
        """
        verdicts = np.zeros(len(rows), dtype=bool)
        values: list[Any] = [None] * len(rows)
        by_column = np.argsort(columns, kind="stable")
        starts = np.flatnonzero(np.diff(columns[by_column], prepend=-1))
        for group in np.split(by_column, starts[1:]):
            j = int(columns[group[0]])
            read = self._values(encoded, rows[group], j)
            verdicts[group] = self._verdicts(j, read)
            for position, value in zip(group.tolist(), read, strict=True):
                values[position] = value
        return verdicts, values

    def _values(self, encoded: Encoded, rows: np.ndarray, j: int) -> list[Any]:
        """:meth:`_value` of reported feature ``j`` for each of ``rows``."""
        raw_column, column = self._source[j]
        layout = self.runtime.layout
        found: list[Any]
        if raw_column is not None:
            if isinstance(encoded.raw, dict):
                stored = encoded.raw.get(raw_column)
                found = [None] * len(rows) if stored is None else stored[rows].tolist()
            else:
                raw = encoded.raw
                found = [raw[i].get(raw_column) for i in rows.tolist()]
        elif column is not None and encoded.matrix is not None and layout is not None:
            numbers = encoded.matrix[rows, column]
            levels = layout.levels[column]
            if levels is None:
                found = numbers.tolist()
            else:
                found = [None if x != x else levels[int(x)] for x in numbers.tolist()]
        else:
            return [self._value(encoded, i, j) for i in rows.tolist()]
        return [plain(value) for value in found]

    def _verdicts(self, j: int, values: Sequence[Any]) -> list[bool]:
        """:meth:`_raises_risk` of feature ``j`` for each of ``values``."""
        seen = self._risk_seen[j]
        out = []
        for value in values:
            try:
                verdict = seen.get((type(value), value))
            except TypeError:
                verdict = None
            out.append(self._raises_risk(j, value) if verdict is None else verdict)
        return out

    def _value(self, encoded: Encoded, i: int, j: int) -> Any:
        raw_column, column = self._source[j]
        if raw_column is not None:
            value = encoded.raw_value(i, raw_column)
        elif column is not None:
            value = self.runtime.value(encoded, i, column)
        else:
            return None
        return plain(value)

    def _reasons(
        self,
        encoded: Encoded,
        i: int,
        scores: np.ndarray,
        order: np.ndarray,
        shown: Mapping[str, Any] | None,
    ) -> list[ReasonCode]:
        out: list[ReasonCode] = []
        for j in order.tolist():
            score = float(scores[j])
            if score <= 0 or len(out) == self.max_reasons:
                break
            feature = self.features[j]
            value = self._value(encoded, i, j)
            if not self._raises_risk(j, value):
                continue  # a positive push from a favourable value is no reason to decline
            if shown is not None and feature in shown:
                value = shown[feature]
            out.append(ReasonCode(self.codes[j], feature, score, value, self._sentence(j, value)))
        return out

    def _raises_risk(self, j: int, value: Any) -> bool:
        """:meth:`RiskSides.raises_risk`, remembered per feature and value: values repeat
        (levels, counts, months) and a batch asks thousands of times."""
        seen = self._risk_seen[j]
        key = (type(value), value)  # True, 1 and 1.0 are equal keys but not equal values
        try:
            return seen[key]
        except KeyError:
            found = self._sides.raises_risk(j, value)
            if len(seen) < _REMEMBERED:
                seen[key] = found
            return found
        except TypeError:  # an unhashable value: answered, not remembered
            return self._sides.raises_risk(j, value)

    def _sentence(self, j: int, value: Any) -> str:
        """The reason's sentence for feature ``j`` and the value quoted, remembered alike."""
        seen = self._sentence_seen[j]
        key = (type(value), value)
        try:
            return seen[key]
        except KeyError:
            text = self._sentences[j].sentence(value)
            if len(seen) < _REMEMBERED:
                seen[key] = text
            return text
        except TypeError:
            return self._sentences[j].sentence(value)

    # ------------------------------------------------------------------ frames and dicts
    def encode(self, X: pd.DataFrame) -> tuple[Encoded, list[dict[str, Any] | None]]:  # noqa: N803
        """Raw applications (or model input) encoded as every consumer scores them.

        The input rules repair values first (clipped to the training range, category case
        normalised), as for the PD; where a value was changed, the value in ``X`` is
        returned per row as what to quote (``shown``).

        Raises
        ------
        DataError
            If an input column is missing (named) or a value cannot be read.
        """
        inputs = select_model_input(self.bundle, X)
        repaired = self.bundle.input_rules(list(inputs.columns)).repair(inputs)
        return self.runtime.encode_frame(repaired), _changed(inputs, repaired)

    def explain_batch(
        self,
        X: pd.DataFrame,  # noqa: N803
        shown: Sequence[Mapping[str, Any] | None] | None = None,
    ) -> list[list[ReasonCode]]:
        """Reasons for every row of a frame (raw applications or model input), same order.

        ``shown`` holds, per row, the values sent where they differ from ``X`` (see
        :meth:`explain`); by default the values of ``X`` the input rules changed.

        Raises
        ------
        DataError
            If ``shown`` and ``X`` differ in length.
        """
        if shown is not None and len(shown) != len(X):
            raise DataError(SHOWN_LENGTH.format(n_shown=len(shown), n_rows=len(X)))
        encoded, changed = self.encode(X)
        return self.explain(encoded, shown if shown is not None else changed)

    def explain_scored(
        self, scored: ScoredFrame, positions: Sequence[int] | None = None
    ) -> list[list[ReasonCode]]:
        """Reasons for the rows of a frame the runtime scored
        (:meth:`~greenscore.models.runtime.ScoringRuntime.scored_frame`) — all of them, or
        those at ``positions`` — from the very encoding, and the contributions when it has
        them, that its PD came from; they quote the values the input rules changed. Same
        order.
        """
        encoded = scored.scored.encoded
        computed = None if scored.scored.contributions is None else scored.scored.contributions[0]
        shown = _changed(scored.inputs, scored.repaired)
        if positions is not None:
            encoded = encoded.take(positions)
            shown = [shown[i] for i in positions]
            computed = None if computed is None else computed[np.asarray(positions, dtype=int)]
        return self.explain(encoded, shown, contributions=computed)

    def explain_one(
        self,
        row: Mapping[str, Any] | pd.DataFrame | pd.Series,
        shown: Mapping[str, Any] | None = None,
    ) -> list[ReasonCode]:
        """The top reasons pushing one applicant towards default.

        Parameters
        ----------
        row : dict, Series or one-row DataFrame
            The applicant's raw application or model input (extra fields are ignored).
        shown : mapping, optional
            The values the applicant sent where they differ from ``row`` (see
            :meth:`explain`).

        Examples
        --------
        >>> coder = ReasonCoder.from_bundle(bundle)  # doctest: +SKIP
        >>> [r.code for r in coder.explain_one(applicant)]  # doctest: +SKIP
        ['GS3F1A2', 'GS0B9C4', 'GS77D10', 'GS5E2A8']
        """
        frame = _one_row(row)
        return self.explain_batch(frame, None if shown is None else [shown])[0]

    def contributions_batch(self, X: pd.DataFrame) -> tuple[np.ndarray, pd.DataFrame]:  # noqa: N803
        """Contributions per reported feature for every row, and the model features."""
        encoded, _ = self.encode(X)
        return self.contributions(encoded), self.runtime.model_frame(encoded)

    def explain_frame(self, X: pd.DataFrame) -> pd.DataFrame:  # noqa: N803
        """Reasons for every row as a flat table (``reason_1_code``, ``reason_1_feature``, …)."""
        index = select_model_input(self.bundle, X).index
        return reason_table(self.explain_batch(X), self.max_reasons, index=index)

    def typical_value(self, feature: str) -> float | None:
        """The typical (training median) value of a reported numeric feature, if known."""
        return self._typical[self.features.index(feature)] if feature in self.features else None

    def raises_risk(self, feature: str, value: Any) -> bool:
        """Whether ``value`` of a reported feature lies on its unfavourable side of typical.

        Raises
        ------
        DataError
            If the feature is not one this coder reports.
        """
        if feature not in self.features:
            raise DataError(f"'{feature}' is not a reported feature of this model")
        return self._sides.raises_risk(self.features.index(feature), value)

    def table(self) -> pd.DataFrame:
        """The code table: code, feature, phrase, whether it can ever be cited."""
        return pd.DataFrame(
            {
                "code": self.codes,
                "feature": self.features,
                "phrase": self._phrases,
                "protected": self._excluded,
            }
        )


def reason_table(
    reasons: Sequence[Sequence[ReasonCode]], max_reasons: int, *, index: pd.Index
) -> pd.DataFrame:
    """Reasons as a flat table: ``reason_1_code``, ``reason_1_feature``, … per row (the
    same columns when there are no rows)."""
    parts = ("code", "feature", "contribution", "text")
    columns = [f"reason_{k + 1}_{part}" for k in range(max_reasons) for part in parts]
    records = []
    for row in reasons:
        record: dict[str, Any] = {}
        for k in range(max_reasons):
            reason = row[k] if k < len(row) else None
            record[f"reason_{k + 1}_code"] = reason.code if reason else None
            record[f"reason_{k + 1}_feature"] = reason.feature if reason else None
            record[f"reason_{k + 1}_contribution"] = reason.contribution if reason else None
            record[f"reason_{k + 1}_text"] = reason.text if reason else None
        records.append(record)
    return pd.DataFrame.from_records(records, index=index, columns=columns)


def scored_with_reasons(
    runtime: ScoringRuntime,
    coder: ReasonCoder | None,
    frame: pd.DataFrame,
    *,
    refuse_implausible: bool = True,
    margin: float = 0.0,
    rows: ReasonRows = "all",
) -> pd.DataFrame:
    """The runtime's scored table of raw ``frame``, with the top reasons (:func:`reason_table`)
    of the ``rows`` asked for when a coder is given: what ``greenscore score`` writes, on one
    machine or partition by partition on a cluster. The reasons come from the encoding (and
    for compiled trees the pass over the trees) the PD came from. ``rows="adverse"`` leaves
    approvals' reason columns empty, and spares a model explained by sampling (a net) the
    bulk of its cost: most rows of a book are approvals."""
    wanted = coder is not None and check_reason_rows(rows) != "none"
    done = runtime.scored_frame(
        frame, refuse_implausible=refuse_implausible, margin=margin, contributions=wanted
    )
    if coder is None or not wanted:
        return done.table
    index = done.table.index
    if rows == "adverse":
        positions = np.flatnonzero(done.table["decision"].to_numpy() != "approve").tolist()
        reasons = coder.explain_scored(done, positions)
        table = reason_table(reasons, coder.max_reasons, index=index[positions])
        table = table.reindex(index)
    else:
        table = reason_table(coder.explain_scored(done), coder.max_reasons, index=index)
    return pd.concat([done.table, table], axis=1)


def check_reason_rows(value: str) -> ReasonRows:
    """``value`` as :data:`ReasonRows`.

    Raises
    ------
    ConfigError
        Naming the choices, when it is none of them.
    """
    if value not in REASON_ROWS:
        raise ConfigError(BAD_REASON_ROWS.format(choices=", ".join(REASON_ROWS), value=value))
    return value  # type: ignore[return-value]  # checked against the Literal's values


def _outcome_rate_columns(features: Sequence[str]) -> tuple[int, list[int]] | None:
    """Where the relational step's known-neighbour count is among reported ``features``,
    and where the features made from those neighbours' outcomes are (None without them)."""
    known = f"{RELATIONAL_PREFIX}_known_neighbours"
    made = [
        f"{RELATIONAL_PREFIX}_neighbour_defaults",
        f"{RELATIONAL_PREFIX}_neighbour_default_rate",
    ]
    if known not in features:
        return None
    moved = [features.index(f) for f in made if f in features]
    return (features.index(known), moved) if moved else None


def _one_row(row: Mapping[str, Any] | pd.DataFrame | pd.Series) -> pd.DataFrame:
    if isinstance(row, pd.DataFrame):
        frame = row
    elif isinstance(row, pd.Series):
        frame = row.to_frame().T.infer_objects()
    else:
        frame = pd.DataFrame([dict(row)])
    if len(frame) != 1:
        raise DataError(f"expected one applicant, got {len(frame)} rows")
    return frame


def _changed(before: pd.DataFrame, after: pd.DataFrame) -> list[dict[str, Any] | None]:
    """Per row, the values of ``before`` that the input rules changed in ``after``."""
    out: list[dict[str, Any] | None] = [None] * len(before)
    if after is before:
        return out
    for column in before.columns:
        old, new = before[column], after[column]
        differ = ~(old.isna() & new.isna()).to_numpy() & (
            old.astype(object).to_numpy() != new.astype(object).to_numpy()
        )
        for position in np.flatnonzero(differ):
            value = old.iat[position]
            row = out[position]
            if row is None:
                row = {}
            row[column] = value.item() if isinstance(value, np.generic) else value
            out[position] = row
    return out


def _approximate_backend(
    runtime: ScoringRuntime, background: pd.DataFrame | None, *, seed: int
) -> Any:
    """Sampled SHAP over the model's input frame, for a model without exact contributions.

    The background is ``background`` (raw applicants) when given, else the runtime's
    probe applicants, which cover the training ranges without needing the training data.

    Raises
    ------
    ModelError
        If the model fails on the background rows.
    """
    from greenscore.explain.shap_values import AgnosticBackend, sample_background

    if background is not None:
        rows = select_model_input(runtime.bundle, sample_background(background, size=50, seed=seed))
        frame = runtime.model_frame(runtime.encode_frame(rows))
    else:
        probes, ids = probe_rows(runtime.bundle)
        frame = runtime.model_frame(runtime.encode(probes, ids))
    return AgnosticBackend(runtime.bundle.estimator, frame, seed=seed)
