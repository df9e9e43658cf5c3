"""Actionable counterfactuals ("what would change the decision") with DiCE, and what-if.

DiCE (``dice-ml``, an optional extra installed with ``--no-deps``: its xgboost requirement
is only for xgboost models) samples edited copies of an applicant until the bundle's
decision flips. Only actionable features move: the spec's ``immutable`` and
``protected`` columns (and anything derived from a protected attribute) are held fixed.
Every counterfactual is then re-scored with the bundle itself and kept only if the
decision really changed; the survivors are ranked by sparsity (fewest changed features)
and then proximity (MAD-scaled distance, as in DiCE).
"""

from __future__ import annotations

import contextlib
import io
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import pandas as pd

from greenscore.errors import ConfigError, DataError
from greenscore.explain.feature_map import (
    is_protected_feature,
    protected_columns,
    select_model_input,
)
from greenscore.json_document import plain
from greenscore.models.bundle import ScoringBundle

_MISSING = "__missing__"
_OUTCOME = "__default__"


def _one_row(row: Mapping[str, Any] | pd.Series | pd.DataFrame) -> pd.DataFrame:
    if isinstance(row, pd.DataFrame):
        frame = row
    elif isinstance(row, pd.Series):
        frame = row.to_frame().T.infer_objects()
    else:
        frame = pd.DataFrame([dict(row)])
    if len(frame) != 1:
        raise DataError(f"expected one applicant, got {len(frame)} rows")
    return frame


def fixed_features(bundle: ScoringBundle, columns: list[str]) -> list[str]:
    """Model-input columns a counterfactual must never change (immutable or protected)."""
    spec = bundle.spec
    protected = protected_columns(spec)
    return [c for c in columns if c in spec.immutable or is_protected_feature(c, protected)]


def _score(bundle: ScoringBundle, frame: pd.DataFrame) -> pd.DataFrame:
    pd_ = bundle.predict_pd(frame)
    return pd.DataFrame(
        {
            "probability_of_default": pd_,
            "score": np.round(bundle.points(pd_), 1),
            "decision": bundle.decisions(pd_),
        },
        index=frame.index,
    )


def what_if(
    bundle: ScoringBundle,
    applicant: Mapping[str, Any] | pd.Series | pd.DataFrame,
    changes: Mapping[str, Any],
    *,
    allow_immutable: bool = False,
) -> dict[str, Any]:
    """Re-score an applicant with some input values changed.

    Parameters
    ----------
    bundle : ScoringBundle
        The model.
    applicant : dict, Series or one-row DataFrame
        The applicant as scored.
    changes : mapping
        New values by input column.
    allow_immutable : bool
        Allow changing immutable or protected columns (a modeller's probe, not advice
        to an applicant).

    Returns
    -------
    dict
        ``before`` and ``after`` (``probability_of_default``, ``score``, ``decision``),
        ``changes`` and ``decision_changed``.

    Raises
    ------
    DataError
        If a change names a column the model does not read, or an immutable/protected
        one while ``allow_immutable`` is False.
    """
    original = select_model_input(bundle, _one_row(applicant))
    columns = list(original.columns)
    unknown = [c for c in changes if c not in columns]
    if unknown:
        raise DataError(f"what-if changes unknown model input columns: {unknown}")
    fixed = [c for c in changes if c in fixed_features(bundle, columns)]
    if fixed and not allow_immutable:
        raise DataError(f"what-if may not change immutable or protected columns: {fixed}")
    edited = original.copy()
    for column, value in changes.items():
        edited[column] = pd.Series([value], index=edited.index).astype(
            original[column].dtype if not pd.isna(value) else object, errors="ignore"
        )
    before, after = _score(bundle, original).iloc[0], _score(bundle, edited).iloc[0]

    def outcome(s: pd.Series) -> dict[str, Any]:
        return {
            "probability_of_default": float(s["probability_of_default"]),
            "score": float(s["score"]),
            "decision": str(s["decision"]),
        }

    return {
        "before": outcome(before),
        "after": outcome(after),
        "changes": {k: plain(v) for k, v in changes.items()},
        "decision_changed": str(before["decision"]) != str(after["decision"]),
    }


class _DiceModel:
    """The bundle as DiCE sees it: string-coded categories in, both class probabilities out."""

    def __init__(
        self, bundle: ScoringBundle, dtypes: pd.Series, originals: dict[str, dict[str, Any]]
    ) -> None:
        self.bundle = bundle
        self.dtypes = dtypes
        self.originals = originals

    def restore(self, frame: pd.DataFrame) -> pd.DataFrame:
        out = pd.DataFrame(index=range(len(frame)))
        for column, dtype in self.dtypes.items():
            values = frame[column].to_numpy()
            if column in self.originals:
                lookup = self.originals[column]
                out[column] = pd.Series([lookup.get(str(v), v) for v in values], dtype=object)
            else:
                numbers = pd.to_numeric(pd.Series(values), errors="coerce")
                whole = numbers.notna().all() and bool((numbers % 1 == 0).all())
                if pd.api.types.is_integer_dtype(dtype):
                    # DiCE keeps integer columns integral; NaN forces float.
                    out[column] = numbers.astype(dtype) if whole else numbers.astype(float)
                else:
                    out[column] = numbers.astype(dtype)
        return out

    def predict_proba(self, frame: pd.DataFrame) -> np.ndarray:
        return self.bundle.pipeline.predict_proba(self.restore(frame))


@dataclass
class CounterfactualResult:
    """Validated, ranked counterfactuals of one applicant.

    Attributes
    ----------
    applicant : the row's index label.
    original : the applicant's input values.
    before : PD, score and decision as scored.
    target : ``not_decline`` or ``approve``.
    counterfactuals : edited inputs that reach the target when re-scored, with their
        ``probability_of_default``, ``score``, ``decision``, ``changed`` features,
        ``n_changed`` and ``distance``; best first.
    fixed : features held fixed (immutable or protected).
    rejected : candidates DiCE proposed that failed re-scoring or touched a fixed feature.
    """

    applicant: Any
    original: dict[str, Any]
    before: dict[str, Any]
    target: str
    counterfactuals: pd.DataFrame
    fixed: list[str]
    rejected: int = 0
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready data."""
        records = []
        for _, row in self.counterfactuals.iterrows():
            record = {k: plain(v) for k, v in row.items() if k != "changed"}
            record["changed"] = {
                c: {"from": plain(self.original[c]), "to": plain(row[c])} for c in row["changed"]
            }
            records.append(record)
        return {
            "applicant": plain(self.applicant),
            "before": self.before,
            "target": self.target,
            "fixed": self.fixed,
            "counterfactuals": records,
            "rejected": self.rejected,
            "notes": self.notes,
        }


class CounterfactualExplainer:
    """DiCE counterfactuals for one bundle over a background of applicants.

    Parameters
    ----------
    bundle : ScoringBundle
        The model.
    background : DataFrame
        Applicants whose ranges and spread (MAD) bound and scale the search.
    method : {"random", "genetic"}
        DiCE's model-agnostic search.
    seed : int
        Seed of the search; the same seed gives the same counterfactuals.
    """

    def __init__(
        self,
        bundle: ScoringBundle,
        background: pd.DataFrame,
        *,
        method: Literal["random", "genetic"] = "random",
        seed: int = 0,
    ) -> None:
        try:
            import dice_ml  # noqa: F401
        except ImportError as exc:
            raise ConfigError(
                "counterfactuals need dice-ml: pip install --no-deps dice-ml raiutils jsonschema"
            ) from exc
        sample = select_model_input(bundle, background)
        if len(sample) < 2:
            raise DataError("counterfactuals need a background of at least two applicants")
        self.bundle = bundle
        self.method = method
        self.seed = seed
        self.background = sample
        self.columns = list(sample.columns)
        self.categorical = [
            c
            for c in self.columns
            if isinstance(sample[c].dtype, pd.CategoricalDtype)
            or not pd.api.types.is_numeric_dtype(sample[c])
        ]
        self.fixed = fixed_features(bundle, self.columns)
        self.vary = [c for c in self.columns if c not in self.fixed]
        if not self.vary:
            raise DataError("every model input is immutable or protected: nothing can be varied")
        numeric = [c for c in self.columns if c not in self.categorical]
        mad = (sample[numeric] - sample[numeric].median()).abs().median()
        spread = sample[numeric].std().fillna(1.0)
        self.mad = mad.where(mad > 0, spread.where(spread > 0, 1.0)).to_dict()

    def _data_interface(self, query: pd.DataFrame) -> tuple[Any, dict[str, dict[str, Any]]]:
        import dice_ml

        both = pd.concat([self.background, query])
        features: dict[str, Any] = {}
        precision: dict[str, Any] = {}
        originals: dict[str, dict[str, Any]] = {}
        for column in self.columns:
            values = both[column]
            if column in self.categorical:
                labels = [str(v) for v in pd.unique(values.dropna())]
                if values.isna().any():
                    labels.append(_MISSING)
                features[column] = labels
                originals[column] = {str(v): v for v in pd.unique(values.dropna())}
                originals[column][_MISSING] = None
            else:
                numbers = pd.to_numeric(values, errors="coerce")
                low, high = float(np.nanmin(numbers)), float(np.nanmax(numbers))
                integral = bool(np.all(np.equal(np.mod(numbers.dropna(), 1), 0)))
                features[column] = [int(low), int(high)] if integral else [low, high]
                precision[column] = "int" if integral else ["float", 2]
        data = dice_ml.Data(
            features=features,
            outcome_name=_OUTCOME,
            type_and_precision=precision,
            mad={c: float(self.mad[c]) for c in self.mad},
        )
        return data, originals

    def _encode_query(self, query: pd.DataFrame) -> pd.DataFrame:
        out = query.reset_index(drop=True).copy()
        for column in self.categorical:
            out[column] = [_MISSING if pd.isna(v) else str(v) for v in out[column]]
        return out

    def explain(
        self,
        applicant: Mapping[str, Any] | pd.Series | pd.DataFrame,
        *,
        total: int = 3,
        target: Literal["not_decline", "approve"] = "not_decline",
        sample_size: int = 1000,
    ) -> CounterfactualResult:
        """Counterfactuals of one applicant that reach ``target`` when re-scored.

        Parameters
        ----------
        applicant : dict, Series or one-row DataFrame
            The applicant.
        total : int
            Counterfactuals asked of DiCE.
        target : {"not_decline", "approve"}
            Decision the counterfactuals must reach.
        sample_size : int
            DiCE random-search samples per round.

        Returns
        -------
        CounterfactualResult
        """
        import dice_ml

        query = select_model_input(self.bundle, _one_row(applicant))
        before = _score(self.bundle, query).iloc[0]
        s = self.bundle.scoring
        # DiCE keeps a candidate when P(default) <= threshold; "approve" is strict (<).
        threshold = s.decline_above if target == "not_decline" else np.nextafter(s.approve_below, 0)
        reached = (
            (lambda d: d != "decline") if target == "not_decline" else (lambda d: d == "approve")
        )
        info = {
            "probability_of_default": float(before["probability_of_default"]),
            "score": float(before["score"]),
            "decision": str(before["decision"]),
        }
        original = {c: plain(query[c].iat[0]) for c in self.columns}
        result = CounterfactualResult(
            applicant=plain(query.index[0]),
            original=original,
            before=info,
            target=target,
            counterfactuals=pd.DataFrame(),
            fixed=self.fixed,
        )
        if reached(str(before["decision"])):
            result.notes.append(f"the applicant already reaches '{target}'")
            return result
        data, originals = self._data_interface(query)
        model = dice_ml.Model(
            model=_DiceModel(self.bundle, self.background.dtypes, originals),
            backend="sklearn",
            model_type="classifier",
        )
        dice = dice_ml.Dice(data, model, method=self.method)
        state = np.random.get_state()
        np.random.seed(self.seed)  # DiCE's random search also draws from numpy's global RNG
        try:
            # DiCE prints its progress; the caller gets the result, not the chatter.
            with (
                contextlib.redirect_stdout(io.StringIO()),
                contextlib.redirect_stderr(io.StringIO()),
            ):
                generated = dice.generate_counterfactuals(
                    self._encode_query(query),
                    total_CFs=total,
                    desired_class=0,
                    features_to_vary=self.vary,
                    stopping_threshold=float(threshold),
                    random_seed=self.seed,
                    sample_size=sample_size,
                )
        except Exception as exc:  # noqa: BLE001 - DiCE signals "none found" in several ways
            result.notes.append(f"DiCE found no counterfactual: {type(exc).__name__}: {exc}")
            return result
        finally:
            np.random.set_state(state)
        proposals = generated.cf_examples_list[0].final_cfs_df
        if proposals is None or len(proposals) == 0:
            result.notes.append("DiCE found no counterfactual within the background's ranges")
            return result
        candidates = model.model.restore(proposals[self.columns])
        candidates.index = pd.RangeIndex(len(candidates))
        return self._validate(result, query, candidates, reached)

    def _validate(
        self,
        result: CounterfactualResult,
        query: pd.DataFrame,
        candidates: pd.DataFrame,
        reached: Any,
    ) -> CounterfactualResult:
        scored = _score(self.bundle, candidates)
        rows = []
        for i in range(len(candidates)):
            changed = [c for c in self.columns if not _same(candidates[c].iat[i], query[c].iat[0])]
            touches_fixed = any(c in self.fixed for c in changed)
            if touches_fixed or not reached(str(scored["decision"].iat[i])) or not changed:
                result.rejected += 1
                continue
            distance = 0.0
            for c in changed:
                if c in self.categorical:
                    distance += 1.0
                else:
                    delta = float(candidates[c].iat[i]) - float(query[c].iat[0])
                    distance += abs(delta) / float(self.mad[c])
            rows.append(
                {
                    **{c: candidates[c].iat[i] for c in self.columns},
                    "probability_of_default": float(scored["probability_of_default"].iat[i]),
                    "score": float(scored["score"].iat[i]),
                    "decision": str(scored["decision"].iat[i]),
                    "changed": changed,
                    "n_changed": len(changed),
                    "distance": distance / len(self.columns),
                }
            )
        frame = pd.DataFrame(rows)
        if len(frame):
            frame = frame.sort_values(["n_changed", "distance"], kind="stable").reset_index(
                drop=True
            )
        result.counterfactuals = frame
        return result


def _same(a: Any, b: Any) -> bool:
    if pd.isna(a) and pd.isna(b):
        return True
    try:
        return bool(np.isclose(float(a), float(b), rtol=0, atol=1e-9))
    except (TypeError, ValueError):
        return a == b


def counterfactuals(
    bundle: ScoringBundle,
    applicant: Mapping[str, Any] | pd.Series | pd.DataFrame,
    *,
    background: pd.DataFrame,
    total: int = 3,
    target: Literal["not_decline", "approve"] = "not_decline",
    seed: int = 0,
) -> CounterfactualResult:
    """Validated, actionable counterfactuals of one applicant (see :class:`CounterfactualExplainer`)."""
    explainer = CounterfactualExplainer(bundle, background, seed=seed)
    return explainer.explain(applicant, total=total, target=target)
