"""The feature pipeline a model is trained and served with, built from a DatasetSpec.

One scikit-learn ``Pipeline`` of DataFrame-in, DataFrame-out steps: type coercion,
behavioural, financial, temporal and relational features, and optional outlier flags.
It is fitted inside each cross-validation fold (so validation rows never shape it) and
saved with the model in the ScoringBundle. Each step reads its inputs from the spec and
does nothing when the data lacks them, so the same call serves every dataset.
"""

from __future__ import annotations

import pandas as pd
from sklearn.pipeline import Pipeline

from greenscore.data.spec import DatasetSpec
from greenscore.errors import ConfigError
from greenscore.features.behavioural import BehaviouralFeatures
from greenscore.features.coercion import TypeCoercer
from greenscore.features.financial import FinancialFeatures
from greenscore.features.outliers import METHODS as OUTLIER_METHODS
from greenscore.features.outliers import OutlierFlagger
from greenscore.features.relational import RelationalFeatures
from greenscore.features.temporal import TemporalFeatures

UNKNOWN_OUTLIERS = "unknown outlier method '{name}'; choose one of: {choices} (or none)"


def build_feature_pipeline(
    spec: DatasetSpec,
    *,
    relations: pd.DataFrame | None = None,
    outliers: str | None = None,
) -> Pipeline:
    """Chain GreenScore's feature steps for a dataset.

    Parameters
    ----------
    spec : DatasetSpec
        What the columns mean (sequences, roles, relation columns).
    relations : DataFrame, optional
        The borrower edge table (``Dataset.relations``); its column names come from
        ``spec.relations`` when the spec declares them.
    outliers : {"isolation_forest", "lof"}, optional
        Append an outlier flag and score from this detector.

    Returns
    -------
    Pipeline
        Steps ``coerce``, ``behavioural``, ``financial``, ``temporal``, ``relational`` and,
        when asked, ``outliers``. Input: ``Dataset.X``; output: a DataFrame with the same
        index, every input column (numbers as float, categoricals as ``category`` with
        training levels) and the derived features. ``fit`` needs ``y`` when relations
        are given.

    Raises
    ------
    ConfigError
        If ``outliers`` names an unknown method.

    Examples
    --------
    >>> from greenscore.data.presets import load_preset
    >>> [name for name, _ in build_feature_pipeline(load_preset("german")).steps]
    ['coerce', 'behavioural', 'financial', 'temporal', 'relational']
    """
    if outliers is not None and outliers not in OUTLIER_METHODS:
        raise ConfigError(
            UNKNOWN_OUTLIERS.format(name=outliers, choices=", ".join(OUTLIER_METHODS))
        )
    edge = spec.relations
    relational = RelationalFeatures(
        relations=relations,
        source=edge.source if edge else "source_id",
        target=edge.target if edge else "target_id",
        kind=edge.kind if edge else "relation",
    )
    steps = [
        ("coerce", TypeCoercer(spec=spec)),
        ("behavioural", BehaviouralFeatures(spec=spec)),
        ("financial", FinancialFeatures(spec=spec)),
        ("temporal", TemporalFeatures(spec=spec)),
        ("relational", relational),
    ]
    if outliers is not None:
        steps.append(("outliers", OutlierFlagger(method=outliers, action="flag")))
    return Pipeline(steps)
