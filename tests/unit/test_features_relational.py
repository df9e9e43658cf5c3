"""Tests for RelationalFeatures: link counts, neighbours' training defaults, no self-leakage."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from greenscore.errors import DataError, ModelError
from greenscore.features import RelationalFeatures

EDGES = pd.DataFrame(
    {
        "source_id": [1, 1, 2, 4, 1, 2],
        "target_id": [2, 3, 3, 5, 1, 1],  # 1-1 is a self-link, 2-1 repeats 1-2
        "relation": ["household", "guarantor", "household", "household", "household", "household"],
    }
)
TRAIN = pd.DataFrame({"x": [0.0] * 4}, index=pd.Index([1, 2, 3, 4], name="id"))
Y_TRAIN = np.array([1, 0, 1, 1])
VALID = pd.DataFrame({"x": [0.0] * 3}, index=pd.Index([5, 6, 7], name="id"))


def _fit(y: np.ndarray = Y_TRAIN, smoothing: float = 2.0) -> RelationalFeatures:
    return RelationalFeatures(relations=EDGES, smoothing=smoothing).fit(TRAIN, y)


def test_known_answers_for_training_rows() -> None:
    step = _fit()
    out = step.transform(TRAIN)
    assert step.base_rate_ == 0.75
    assert step.derived_names_ == [
        "relational_links",
        "relational_links_guarantor",
        "relational_links_household",
        "relational_known_neighbours",
        "relational_neighbour_defaults",
        "relational_neighbour_default_rate",
    ]
    row = out.loc[1]
    assert row["relational_links"] == 2  # 2 and 3; the self-link and the repeat do not count
    assert row["relational_links_household"] == 1
    assert row["relational_links_guarantor"] == 1
    assert row["relational_known_neighbours"] == 2
    assert row["relational_neighbour_defaults"] == 1  # 2 repaid, 3 defaulted; own target excluded
    assert row["relational_neighbour_default_rate"] == pytest.approx((1 + 2 * 0.75) / (2 + 2))


def test_validation_and_unknown_ids() -> None:
    out = _fit().transform(VALID)
    assert out.index.tolist() == [5, 6, 7]
    assert out.loc[5, "relational_links"] == 1
    assert out.loc[5, "relational_neighbour_defaults"] == 1
    assert out.loc[5, "relational_neighbour_default_rate"] == pytest.approx((1 + 1.5) / 3)
    for lonely in (6, 7):  # 6 not in any edge, 7 not even in the training graph
        assert out.loc[lonely, "relational_links"] == 0
        assert out.loc[lonely, "relational_neighbour_default_rate"] == pytest.approx(0.75)


def test_own_target_never_used() -> None:
    flipped = Y_TRAIN.copy()
    flipped[0] = 0  # borrower 1
    # Without smoothing nothing of row 1 may move. (With smoothing, the prior is the training
    # base rate: one constant shared by every row, so it says nothing about row 1 itself.)
    base, changed = _fit(smoothing=0).transform(TRAIN), _fit(flipped, 0).transform(TRAIN)
    pd.testing.assert_series_equal(base.loc[1], changed.loc[1])
    assert (
        changed.loc[2, "relational_neighbour_defaults"]
        == base.loc[2, "relational_neighbour_defaults"] - 1
    )


def test_validation_row_depends_only_on_training_neighbours() -> None:
    base = _fit().transform(VALID)
    # A training neighbour's outcome (4 is 5's neighbour) moves 5's features ...
    flipped = Y_TRAIN.copy()
    flipped[3] = 0
    moved = _fit(flipped).transform(VALID)
    assert moved.loc[5, "relational_neighbour_defaults"] == 0
    # ... while validation rows have no target the transformer could read.
    pd.testing.assert_frame_equal(_fit().transform(VALID.iloc[::-1]).loc[VALID.index], base)


def test_passthrough_without_relations() -> None:
    step = RelationalFeatures(relations=None).fit(TRAIN, Y_TRAIN)
    pd.testing.assert_frame_equal(step.transform(VALID), VALID)
    assert list(step.get_feature_names_out()) == ["x"]


def test_bad_inputs_are_named() -> None:
    with pytest.raises(DataError, match="lacks columns.*target_id"):
        RelationalFeatures(relations=EDGES.drop(columns="target_id")).fit(TRAIN, Y_TRAIN)
    broken = EDGES.astype({"target_id": float})
    broken.loc[2, "target_id"] = np.nan
    with pytest.raises(DataError, match="row 2: 'target_id' is missing"):
        RelationalFeatures(relations=broken).fit(TRAIN, Y_TRAIN)
    with pytest.raises(DataError, match="needs the training targets"):
        RelationalFeatures(relations=EDGES).fit(TRAIN)


def test_without_kind_column_counts_only_totals() -> None:
    step = RelationalFeatures(relations=EDGES.drop(columns="relation")).fit(TRAIN, Y_TRAIN)
    assert "relational_links_household" not in step.derived_names_
    assert step.transform(TRAIN).loc[1, "relational_links"] == 2


def test_links_read_with_new_applicants_give_them_their_neighbours() -> None:
    """An applicant scored later is unknown to the training graph (no links, the prior);
    its own links, added at scoring, give it the training outcomes of its neighbours, and
    only training borrowers' outcomes count (new applicant 8 links to 9, also new)."""
    step = _fit()
    new = pd.DataFrame({"x": [0.0] * 3}, index=pd.Index([8, 9, 1], name="id"))
    before = step.transform(new)
    assert before.loc[8, "relational_links"] == 0
    links = pd.DataFrame(
        {
            "source_id": [8, 3, 8, 1],
            "target_id": [1, 8, 9, 2],  # 1-2 is already a training link: no double count
            "relation": ["guarantor", "household", "household", "household"],
        }
    )
    linked = step.with_links(links)
    after = linked.transform(new)
    assert after.loc[8, "relational_links"] == 3  # 1, 3 and 9
    assert after.loc[8, "relational_links_guarantor"] == 1
    assert after.loc[8, "relational_links_household"] == 2
    assert after.loc[8, "relational_known_neighbours"] == 2  # 9 has no training outcome
    assert after.loc[8, "relational_neighbour_defaults"] == 2  # 1 and 3 defaulted
    assert after.loc[8, "relational_neighbour_default_rate"] == pytest.approx((2 + 1.5) / 4)
    assert after.loc[9, "relational_known_neighbours"] == 0
    # Training borrowers keep their figures but for the new links: 1 gains applicant 8,
    # who has no outcome, so only its link count moves.
    changed = after.loc[1] - before.loc[1]
    assert changed["relational_links"] == 1 and changed["relational_links_guarantor"] == 1
    assert (changed.drop(["relational_links", "relational_links_guarantor"]) == 0).all()
    # The fitted step is left as it was (a copy is returned), and its columns are the same.
    assert step.transform(new).equals(before) and list(after.columns) == list(before.columns)
    # Links added in two goes are the links added at once.
    twice = step.with_links(links.iloc[:2]).with_links(links.iloc[2:]).transform(new)
    pd.testing.assert_frame_equal(twice, after)


def test_links_of_a_kind_unseen_at_fit_count_in_the_total_only() -> None:
    step = _fit()
    links = pd.DataFrame({"source_id": [8], "target_id": [1], "relation": ["employer"]})
    out = step.with_links(links).transform(pd.DataFrame({"x": [0.0]}, index=[8]))
    assert out.loc[8, "relational_links"] == 1
    assert out.loc[8, ["relational_links_guarantor", "relational_links_household"]].sum() == 0
    assert out.loc[8, "relational_neighbour_defaults"] == 1


def test_links_missing_an_endpoint_are_named() -> None:
    links = pd.DataFrame({"source_id": [8, None], "target_id": [1, 2]})
    with pytest.raises(DataError, match="relations table row 1: 'source_id' is missing"):
        _fit().with_links(links)


def test_a_step_without_training_outcomes_says_to_retrain() -> None:
    step = _fit()
    del step.known_, step.defaulted_  # as pickled by a release before with_links
    with pytest.raises(ModelError, match="retrain it to score applicants with their own links"):
        step.with_links(EDGES)


@pytest.mark.parametrize("smoothing", [0.0, 2.0])
def test_links_given_at_scoring_give_what_a_graph_fitted_with_them_gives(
    smoothing: float,
) -> None:
    """Scoring does not rebuild the graph: each row's features are worked out from its
    training neighbours and its added links. They must be, bit for bit, what a step fitted
    on the training rows with the added links in its relations computes: repeated links,
    links in both directions, self-links and links between new borrowers included."""
    rng = np.random.default_rng(7)
    train = pd.DataFrame({"x": np.zeros(60)}, index=pd.Index(range(60), name="id"))
    y = rng.integers(0, 2, 60)

    def edges(n: int, top: int) -> pd.DataFrame:
        return pd.DataFrame(
            {
                "source_id": rng.integers(0, top, n),
                "target_id": rng.integers(0, top, n),
                "relation": rng.choice(["household", "guarantor"], n),
            }
        )

    known, added = edges(90, 70), edges(60, 80)  # 60-69 linked at training, no outcome
    step = RelationalFeatures(relations=known, smoothing=smoothing).fit(train, y)
    oracle = RelationalFeatures(
        relations=pd.concat([known, added], ignore_index=True), smoothing=smoothing
    ).fit(train, y)
    everyone = pd.DataFrame({"x": np.zeros(85)}, index=pd.Index(range(85), name="id"))
    expected = oracle.transform(everyone)
    pd.testing.assert_frame_equal(step.with_links(added).transform(everyone), expected)
    # The same links given row by row: each row with every added link that touches it.
    own: list[list[tuple]] = [[] for _ in range(85)]
    for a, b, kind in added.itertuples(index=False):
        own[a].append((b, kind))
        own[b].append((a, kind))
    pd.testing.assert_frame_equal(step.with_row_links(own).transform(everyone), expected)
    # Row links count for their own row only: the same borrower twice, once with links.
    twice = pd.DataFrame({"x": [0.0, 0.0]}, index=pd.Index([75, 75], name="id"))
    out = step.with_row_links([own[75], None]).transform(twice)
    assert out.iloc[0].equals(expected.loc[75]) and out.iloc[1]["relational_links"] == 0


def test_row_links_must_match_the_rows_and_the_cache_is_not_saved() -> None:
    import pickle

    step = _fit().with_row_links([[(1, "household")]])
    with pytest.raises(ValueError, match="links were given for 1 rows, the frame has 2"):
        step.transform(VALID.iloc[:2])
    step.transform(VALID.iloc[:1])
    assert hasattr(step, "_neighbours")
    assert not hasattr(pickle.loads(pickle.dumps(step)), "_neighbours")
