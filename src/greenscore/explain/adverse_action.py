"""Adverse-action notices: what a declined applicant is told (ECOA / FCRA / GDPR Art. 22).

A notice states the decision, the credit score used and its possible range, and the
principal reasons (at most four key factors, from :mod:`greenscore.explain.reason_codes`),
plus the applicant's right to ask for the reasons and to contest an automated decision.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from greenscore.errors import DataError
from greenscore.explain.reason_codes import ReasonCoder
from greenscore.models.bundle import ScoringBundle

_RIGHTS = (
    "You have the right to a statement of the specific reasons for this decision, to "
    "obtain human review of an automated decision, to express your point of view and to "
    "contest the decision. Contact us within 60 days to exercise these rights."
)


def _one_row(row: Mapping[str, Any] | pd.Series | pd.DataFrame) -> pd.DataFrame:
    if isinstance(row, pd.DataFrame):
        frame = row
    elif isinstance(row, pd.Series):
        frame = row.to_frame().T.infer_objects()
    else:
        frame = pd.DataFrame([dict(row)])
    if len(frame) != 1:
        raise DataError(f"an adverse-action notice is for one applicant, got {len(frame)} rows")
    return frame


def score_range(bundle: ScoringBundle) -> tuple[float, float]:
    """Lowest and highest score the bundle's scaling gives (PD 99.9 % and 0.1 %)."""
    low, high = bundle.points(np.array([0.999, 0.001]))
    return round(float(low), 1), round(float(high), 1)


def adverse_action_notice(
    bundle: ScoringBundle,
    row: Mapping[str, Any] | pd.Series | pd.DataFrame,
    *,
    coder: ReasonCoder | None = None,
    reference: pd.DataFrame | None = None,
    date: dt.date | None = None,
    shown: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The adverse-action notice of one applicant, as JSON-ready data.

    Parameters
    ----------
    bundle : ScoringBundle
        The model that scored the applicant.
    row : dict, Series or one-row DataFrame
        The applicant (raw application or model input; extra fields are ignored).
    coder : ReasonCoder, optional
        A prepared coder (the service keeps one per model); built from the bundle if not.
        Its runtime scores the applicant, so the decision and the reasons come from one
        encoding.
    reference : DataFrame, optional
        Training applicants, to build the coder (and needed for non-tree models).
    date : date, optional
        Date of the notice; today (UTC) by default.
    shown : mapping, optional
        The values the applicant sent where ``row`` holds them changed (clipped to the
        training range, say): the reasons quote these (see
        :meth:`ReasonCoder.explain_one`).

    Returns
    -------
    dict
        ``applicant_id``, ``decision``, ``adverse_action`` (declined or not),
        ``probability_of_default``, ``score``, ``score_range``, ``key_factors`` (reason
        codes), ``reasons`` (their sentences), ``statement`` and ``rights``.
    """
    frame = _one_row(row)
    if coder is None:
        coder = ReasonCoder.from_bundle(bundle, reference=reference)
    encoded, changed = coder.encode(frame)
    scored = coder.runtime.scored(encoded)
    pd_ = float(scored.probability[0])
    decision = str(scored.decisions[0])
    reasons = coder.explain(encoded, [shown if shown is not None else changed[0]])[0]
    low, high = score_range(bundle)
    spec = bundle.spec
    applicant = (
        frame[spec.id_column].iat[0] if spec.id_column and spec.id_column in frame.columns else None
    )
    if isinstance(applicant, np.generic):
        applicant = applicant.item()
    score = round(float(scored.points[0]), 1)
    declined = decision == "decline"
    statement = (
        "We are unable to approve your application for credit at this time."
        if declined
        else f"Your application was assessed with the outcome: {decision}."
    )
    return {
        "notice": "adverse_action" if declined else "credit_decision",
        "date": (date or dt.datetime.now(dt.UTC).date()).isoformat(),
        "model": bundle.model_name,
        "model_version": bundle.version,
        "applicant_id": applicant,
        "decision": decision,
        "adverse_action": declined,
        "probability_of_default": round(pd_, 6),
        "score": score,
        "score_range": {"low": low, "high": high, "higher_is_better": True},
        "key_factors": [r.to_dict() for r in reasons],
        "reasons": [r.text for r in reasons],
        "statement": statement,
        "rights": _RIGHTS,
    }
