"""The part of a model's log-odds that an applicant's place in the borrower graph makes.

Why it exists: the approximate contributions (sampled SHAP, a member's occlusion
effects) score rows they make up. A graph net (the GNN) finds an applicant in its
borrower graph by the row's id, so made-up rows must carry ids no borrower has
(:func:`as_strangers`; with ids 0, 1, 2... they were attached to whoever held them), and
what they explain is the model *without* the applicant's links. The rest of the
applicant's log-odds, ``served - as a stranger``, is what its links make; it goes to the
relational step's link count (:func:`add_graph_part`), so contributions add up to the
served log-odds and an adverse-action reason can name the links, which for one linked
applicant in ten moved the log-odds by about 2 (generated data, a GNN trained on 2,400
applicants). A model that never reads ids gets exactly zero: the two scorings differ by
the index alone.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from greenscore.features.relational import LINKS_KEY, PREFIX

#: The model feature the graph part is added to (the relational step's link count).
LINKS_FEATURE = f"{PREFIX}_links"
#: Made-up rows' ids start with this: no borrower's id does.
_MADE_UP = "greenscore-made-up-row-"


def as_strangers(frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` with ids no borrower has (its values shared, not copied)."""
    out = frame.copy(deep=False)
    out.index = pd.Index([f"{_MADE_UP}{k}" for k in range(len(frame))], dtype=object)
    return out


def as_stranger_rows(
    rows: Sequence[Mapping[str, Any]], ids: Sequence[Any]
) -> tuple[list[Mapping[str, Any]], list[str]]:
    """Raw applicant rows, and their ids, as strangers to the training graph would send them.

    Each row gets a made-up id no borrower has, and each of its links (:data:`LINKS_KEY`)
    a made-up borrower in place of the one it names (one per distinct borrower of the row,
    kinds kept; a link to the row's own id ``ids[i]`` dropped, as a graph drops self-links):
    a link still counts as a link, by kind, but reaches no training borrower —
    neither its outcome (a relational step's neighbour defaults) nor its place in a graph
    net's graph. What a service scores when its callers may not learn training outcomes
    (``serving.training_outcomes``): a score of an applicant "linked" to a borrower who
    defaulted in training told the caller that the borrower defaulted.
    """
    out: list[Mapping[str, Any]] = []
    for i, (row, own) in enumerate(zip(rows, ids, strict=True)):
        links = row.get(LINKS_KEY)
        if not links:
            out.append(row)  # nothing to hide but the id (a service's hot path: no copy)
            continue
        stand_in: dict[str, str] = {}
        out.append(
            {
                **row,
                LINKS_KEY: [
                    (stand_in.setdefault(repr(node), f"{_MADE_UP}{i}-link-{len(stand_in)}"), kind)
                    for node, kind in links
                    if own is None or str(node) != str(own)
                ],
            }
        )
    return out, [f"{_MADE_UP}{i}" for i in range(len(rows))]


def add_graph_part(
    values: np.ndarray, columns: Sequence[str], served: np.ndarray, stranger: np.ndarray
) -> np.ndarray:
    """``values`` (rows x ``columns``) with ``served - stranger`` added to the link count's
    column; as they are when that part is zero or the model has no such column (the
    part is then left unattributed)."""
    part = np.asarray(served, dtype=float) - np.asarray(stranger, dtype=float)
    names = list(columns)
    if not np.any(part) or LINKS_FEATURE not in names:
        return values
    out = np.array(values, dtype=float, copy=True)
    out[:, names.index(LINKS_FEATURE)] += part
    return out
