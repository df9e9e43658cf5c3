"""The runtime's relational deriver: dictionary lookups that give the step's own features."""

from __future__ import annotations

import numpy as np
import pandas as pd

from greenscore.features import RelationalFeatures
from greenscore.models.runtime.features import ColumnFrame
from greenscore.models.runtime.relations import relation_deriver

EDGES = pd.DataFrame(
    {
        "source_id": [1, 1, 2, 4, "a7"],
        "target_id": [2, 3, 3, 5, 1],
        "relation": ["household", "guarantor", "household", "household", "guarantor"],
    }
)
TRAIN = pd.DataFrame({"x": [0.0] * 4}, index=pd.Index([1, 2, 3, 4], name="id"))
Y_TRAIN = np.array([1, 0, 1, 1])


def _frame(ids: list) -> ColumnFrame:
    return ColumnFrame(np.zeros((len(ids), 0)), {}, ids, {})


def test_lookup_gives_the_steps_own_features_for_known_unknown_and_missing_ids() -> None:
    step = RelationalFeatures(relations=EDGES).fit(TRAIN, Y_TRAIN)
    derive = relation_deriver(step)
    assert derive is not None
    # Known ids of both types, an id only in the relations table, an unknown one, None, and
    # a float that equals a node (pandas matches 3.0 to 3, so must the dictionary).
    ids = [1, "a7", 5, 99, None, 3.0, "1"]
    got = derive(_frame(ids))
    expected = step._derive(pd.DataFrame(index=pd.Index(ids, dtype=object)))
    assert list(got) == step.derived_names_
    for name in step.derived_names_:
        np.testing.assert_array_equal(got[name], expected[name], err_msg=name)
    assert got["relational_links"][0] == 3  # 2, 3 and a7
    assert got["relational_links"][6] == 0  # the text "1" is not the number 1


def test_an_unhashable_id_is_outside_the_graph() -> None:
    step = RelationalFeatures(relations=EDGES).fit(TRAIN, Y_TRAIN)
    derive = relation_deriver(step)
    assert derive is not None
    got = derive(_frame([[1], 2]))
    assert got["relational_links"].tolist() == [0, 2]  # 2 links to 1 and 3
    assert got["relational_neighbour_default_rate"][0] == step.base_rate_


def test_only_a_fitted_relational_step_with_links_is_taken() -> None:
    assert relation_deriver(RelationalFeatures(relations=None).fit(TRAIN, Y_TRAIN)) is None
    assert relation_deriver(object()) is None


def test_the_frame_makes_its_index_only_when_asked() -> None:
    frame = _frame([10, 11])
    assert frame._index is None and len(frame) == 2
    assert frame.index.tolist() == [10, 11]
