"""Read-only views of the prediction store for monitoring: the PDs one model gave, by time.

The prediction store (:mod:`greenscore.store.predictions`) keeps every decision with its
probability of default and time; the score-distribution monitor reads those two columns
back, for one model and a time range, without loading payloads.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select

from greenscore.store._time import aware
from greenscore.store.database import Database
from greenscore.store.tables.predictions import PredictionRecord


def scored_probabilities(
    *,
    model_name: str,
    since: datetime | None = None,
    until: datetime | None = None,
    db: Database,
) -> tuple[list[datetime], list[float]]:
    """When each decision of a model was made and the PD it gave, oldest first.

    Parameters
    ----------
    model_name : str
        The name the service recorded (the registry name, else the bundle's name).
    since, until : datetime, optional
        Decisions made in ``[since, until)``.
    db : Database

    Returns
    -------
    (times, probabilities) : two lists of the same length
    """
    query = (
        select(PredictionRecord.created_at, PredictionRecord.probability)
        .where(PredictionRecord.model_name == model_name)
        .order_by(PredictionRecord.created_at)
    )
    if since is not None:
        query = query.where(PredictionRecord.created_at >= aware(since))
    if until is not None:
        query = query.where(PredictionRecord.created_at < aware(until))
    with db.session() as session:
        rows = session.execute(query).all()
    return [r[0] for r in rows], [float(r[1]) for r in rows]
