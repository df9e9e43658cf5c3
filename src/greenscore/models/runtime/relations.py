"""The relational step's lookup of a micro-batch's ids by dictionary, for the runtime.

Why it exists: :class:`~greenscore.features.relational.RelationalFeatures` finds each
row's borrower in its graph with ``nodes_.get_indexer(frame.index)``, which needs the ids
as a pandas ``Index``. For the one to ten applicants of a service's micro-batch, building
that index and the hash lookup's setup cost about a tenth of a decision's scoring CPU;
a dictionary from node id to position, made once when the runtime is built, answers the
same question by one lookup per row. The step's own :meth:`derive_at` then computes the
features (of a row that came with links too, from its neighbours one by one), so they are
the pipeline's, value for value; the runtime takes this deriver only after the whole
encoding reproduced the pipeline on probe rows.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from greenscore.features.relational import RelationalFeatures
from greenscore.models.runtime.history import Deriver


def relation_deriver(step: Any) -> Deriver | None:
    """The dictionary-lookup ``_derive`` of a fitted relational step (exactly that class:
    a subclass may look rows up otherwise), None for any other step or one without links."""
    if type(step) is not RelationalFeatures or not step.derived_names_:
        return None
    where = {node: i for i, node in enumerate(step.nodes_.tolist())}

    def derive(frame: Any) -> Mapping[str, np.ndarray]:
        positions = np.fromiter((_position(where, i) for i in frame.ids), np.intp, len(frame))
        return step.derive_at(positions, frame.ids, frame.links, locate)

    def locate(nodes: list[Any]) -> list[int]:
        return [_position(where, node) for node in nodes]

    return derive


def _position(where: dict[Any, int], node: Any) -> int:
    """Where ``node`` is, -1 outside the graph (as ``Index.get_indexer``; an unhashable
    id is in no graph)."""
    try:
        return where.get(node, -1)
    except TypeError:
        return -1
