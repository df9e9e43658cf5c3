"""The graph part of a model's log-odds: made-up rows are strangers; links' part on the
link count."""

from __future__ import annotations

import numpy as np
import pandas as pd

from greenscore.models.graph_part import LINKS_FEATURE, add_graph_part, as_strangers


def test_made_up_rows_carry_ids_no_borrower_has() -> None:
    frame = pd.DataFrame({"x": [1.0, 2.0]}, index=pd.Index([0, 1], name="id"))
    strangers = as_strangers(frame)
    assert strangers["x"].tolist() == [1.0, 2.0] and frame.index.tolist() == [0, 1]
    assert not strangers.index.isin([0, 1, "0", "1"]).any() and strangers.index.is_unique


def test_the_links_part_goes_to_the_link_count_only_when_there_is_one() -> None:
    values = np.zeros((2, 2))
    columns = ["x", LINKS_FEATURE]
    got = add_graph_part(values, columns, np.array([1.5, 0.0]), np.array([1.0, 0.0]))
    assert got.tolist() == [[0.0, 0.5], [0.0, 0.0]] and not values.any()
    same = np.array([0.3, 0.4])
    assert add_graph_part(values, columns, same, same) is values  # an id-blind model
    assert add_graph_part(values, ["x", "y"], same + 1, same) is values  # no link count
