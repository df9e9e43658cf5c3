"""Probe applicants: the one generator every check of a compiled path against the pipeline uses.

A served bundle does not carry its training data, yet the scoring runtime must prove, when
it loads a model, that its compiled encoding and its exact contributions give what the
real pipeline gives. Probe rows are synthetic applicants spread over the bundle's
training ranges (``metadata.training_ranges``, or the coercer's levels), each field
missing one time in ten, with an unseen category, the range ends, a zero and an
all-missing row among them: they reach every branch a real applicant can reach.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from greenscore.models.bundle import ScoringBundle
from greenscore.models.columns import raw_input_columns
from greenscore.models.runtime.features import input_categories

#: A category value no model was trained on.
UNSEEN = "__greenscore_unseen__"


def probe_rows(
    bundle: ScoringBundle, *, n: int = 40, seed: int = 0, gaps: bool = True
) -> tuple[list[dict[str, Any]], list[Any]]:
    """Synthetic applicants spread over the bundle's training ranges, with gaps and oddities.

    Parameters
    ----------
    bundle : ScoringBundle
    n : int
        Rows (at least 4 for the range ends and the zero row).
    seed : int
    gaps : bool, default True
        Leave fields missing (an all-missing row, one value in ten) and send unseen
        categories; False fills every field with a training value, for models that refuse
        missing values (a logistic regression without an imputer).

    Returns
    -------
    rows : list of dict
        Raw applicants (input column -> value).
    ids : list
        Applicant ids (``None`` for the first, then integers).
    """
    rng = np.random.default_rng(seed)
    ranges: Mapping[str, Any] = bundle.metadata.training_ranges
    columns = raw_input_columns(bundle)
    levels = input_categories(bundle) or {}
    rows: list[dict[str, Any]] = [dict.fromkeys(columns) for _ in range(n)]
    for c in columns:
        spec = ranges.get(c, {})
        cats = levels.get(c, spec.get("levels"))
        if cats is not None:
            pool = [*cats, UNSEEN, None] if gaps or not cats else list(cats)
            for i in range(n):
                rows[i][c] = pool[int(rng.integers(len(pool)))]
            continue
        lo, hi = float(spec.get("min", 0.0)), float(spec.get("max", 100.0))
        p01, p99 = float(spec.get("p01", lo)), float(spec.get("p99", hi))
        for i in range(n):
            rows[i][c] = float(rng.uniform(p01, p99)) if p99 > p01 else p01
        if n > 3:
            rows[1][c], rows[2][c], rows[3][c] = lo, hi, 0.0
    if not gaps:
        return rows, [None, *range(1, n)][:n]
    for i in range(4, n):
        for c in columns:
            if rng.random() < 0.1:
                rows[i][c] = None
    if n:
        rows[0] = dict.fromkeys(columns)
    ids: list[Any] = [None, *range(1, n)][:n]
    return rows, ids
