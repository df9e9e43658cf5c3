"""Per-feature log-odds contributions of one fitted model, exact where the model allows.

An ensemble's reason codes are the weighted sum of its members' contributions in
log-odds, so every member must say how its log-odds split over the input columns:

- LightGBM: TreeSHAP from the booster itself (``pred_contrib``), exact.
- Models with their own decomposition, ``log_odds_contributions(X) -> (values, base)``:
  the WoE scorecard and logistic models (additive terms), CatBoost and XGBoost (their
  own TreeSHAP), exact.
- Anything else (forests averaging probabilities, neural nets): an *approximation* —
  each feature's occlusion effect against a reference applicant (training medians and
  most common levels), with what the effects leave unexplained spread evenly, so the
  values still add up to the model's log-odds. Such a member is marked ``exact=False``
  and named as such in the train report.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from greenscore.errors import ModelError
from greenscore.models.graph_part import add_graph_part, as_strangers

_EPS = 1e-6
#: Rows predicted at once by the occlusion approximation (rows x (features + 1)).
_CHUNK_ROWS = 200_000


@dataclass(frozen=True)
class Contributions:
    """Log-odds contributions of a batch of rows.

    Attributes
    ----------
    values : ndarray of shape (n, p)
        Per input column; ``base + values.sum(1)`` is each row's log-odds.
    base : ndarray of shape (n,)
    exact : bool
        Whether they are the model's exact decomposition (else an approximation).
    method : str
        ``lightgbm_pred_contrib``, ``model`` or ``occlusion``.
    """

    values: np.ndarray
    base: np.ndarray
    exact: bool
    method: str


def logit(p: np.ndarray) -> np.ndarray:
    """Log-odds of probabilities, clipped away from 0 and 1."""
    p = np.clip(np.asarray(p, dtype=float), _EPS, 1 - _EPS)
    return np.log(p) - np.log1p(-p)


def raw_log_odds(estimator: object, X: pd.DataFrame) -> np.ndarray:  # noqa: N803
    """Log-odds of default: ``decision_function`` where offered, else logit of the PD."""
    function = getattr(estimator, "decision_function", None)
    if callable(function):
        return np.asarray(function(X), dtype=float).reshape(-1)
    return logit(estimator.predict_proba(X)[:, 1])  # type: ignore[attr-defined]


def reference_row(X: pd.DataFrame) -> pd.DataFrame:  # noqa: N803
    """A typical applicant: median of each numeric column, most common level of the others."""
    values: dict[str, object] = {}
    for column in X.columns:
        s = X[column]
        if pd.api.types.is_numeric_dtype(s) and not isinstance(s.dtype, pd.CategoricalDtype):
            median = s.median()
            values[column] = float(median) if pd.notna(median) else np.nan
        else:
            mode = s.mode(dropna=True)
            values[column] = mode.iloc[0] if len(mode) else np.nan
    row = pd.DataFrame({c: [v] for c, v in values.items()}, columns=list(X.columns))
    return row.astype(X.dtypes.to_dict())


def _lightgbm_booster(estimator: object) -> object | None:
    import lightgbm

    try:
        booster = getattr(estimator, "booster_", None)
    except (AttributeError, ValueError):
        return None
    return booster if isinstance(booster, lightgbm.Booster) else None


def has_exact_contributions(estimator: object) -> bool:
    """Whether :func:`contributions_of` gives a fitted model's exact decomposition.

    A wrapper (a calibrated model, a bag of fold models) says so itself through an
    ``exact_contributions`` attribute, since it has them only when what it wraps does.
    """
    flag = getattr(estimator, "exact_contributions", None)
    if flag is not None:
        return bool(flag)
    return _lightgbm_booster(estimator) is not None or callable(
        getattr(estimator, "log_odds_contributions", None)
    )


def contributions_of(
    estimator: object,
    X: pd.DataFrame,  # noqa: N803
    *,
    reference: pd.DataFrame | None = None,
) -> Contributions:
    """Contributions of a fitted model's log-odds per input column of ``X``.

    Parameters
    ----------
    estimator : a fitted classifier.
    X : its input rows.
    reference : one-row frame (see :func:`reference_row`), needed for models without
        exact contributions.

    Raises
    ------
    ModelError
        If the model has no exact contributions and no reference is given.
    """
    booster = _lightgbm_booster(estimator)
    if booster is not None:
        raw = booster.predict(X, pred_contrib=True)  # type: ignore[attr-defined]
        return Contributions(raw[:, :-1], raw[:, -1], True, "lightgbm_pred_contrib")
    own = getattr(estimator, "log_odds_contributions", None)
    if callable(own):
        try:
            values, base = own(X)
        except ModelError:
            pass  # e.g. a calibrated wrapper of a net: no exact terms, approximate below
        else:
            base = np.broadcast_to(np.asarray(base, dtype=float), (len(X),)).copy()
            return Contributions(np.asarray(values, dtype=float), base, True, "model")
    if reference is None:
        raise ModelError(
            f"{type(estimator).__name__} has no exact contributions and no reference row was given"
        )
    values, base = occlusion_contributions(estimator, X, reference)
    return Contributions(values, base, False, "occlusion")


def occlusion_contributions(
    estimator: object,
    X: pd.DataFrame,  # noqa: N803
    reference: pd.DataFrame,
) -> tuple[np.ndarray, np.ndarray]:
    """Approximate additive contributions for a model without exact ones.

    Feature ``j``'s raw effect is the change in log-odds when it alone is set to the
    reference value; the remainder (the model's log-odds minus the reference's and the
    effects' sum: interactions) is spread evenly over the features, so the values add up.

    Returns
    -------
    values : ndarray (n, p); base : ndarray (n,), the reference's log-odds.
    """
    n, p = X.shape
    if n == 0:
        return np.zeros((0, p)), np.zeros(0)
    # Rows made up here carry ids no borrower has; what the rows' own links make of their
    # log-odds (a graph net's) goes to the link count (models.graph_part).
    base_value = float(raw_log_odds(estimator, as_strangers(reference[list(X.columns)]))[0])
    served = raw_log_odds(estimator, X)
    stranger = raw_log_odds(estimator, as_strangers(X))
    effects = np.empty((n, p))
    per_chunk = max(1, _CHUNK_ROWS // max(p, 1))
    for start in range(0, n, per_chunk):
        block = X.iloc[start : start + per_chunk]
        m = len(block)
        stacked = as_strangers(pd.concat([block] * p, ignore_index=True))
        for j, column in enumerate(X.columns):
            # Block j of the stack has column j set to the reference value.
            stacked.iloc[j * m : (j + 1) * m, j] = reference[column].iloc[0]
        occluded = raw_log_odds(estimator, stacked).reshape(p, m).T
        effects[start : start + m] = stranger[start : start + m, None] - occluded
    residual = stranger - base_value - effects.sum(axis=1)
    values = effects + residual[:, None] / max(p, 1)
    return add_graph_part(values, X.columns, served, stranger), np.full(n, base_value)
