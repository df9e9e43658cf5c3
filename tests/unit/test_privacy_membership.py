"""Membership inference (issue 21, point 6): the loss-threshold attack, and a DP-SGD net
that it cannot read while the same net trained without DP gives its members away."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

from greenscore.errors import DataError
from greenscore.privacy.membership import example_loss, loss_attack

sys.path.insert(0, str(Path(__file__).parents[2] / "benchmarks"))


def test_the_attack_scores_separable_and_indistinguishable_losses() -> None:
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 400)
    sure = np.where(y == 1, 0.99, 0.01)  # members fitted perfectly
    unsure = np.where(y == 1, 0.6, 0.4)
    perfect = loss_attack(sure, y, unsure, y)
    assert perfect.auc == 1.0 and perfect.advantage == 1.0
    assert perfect.member_loss < perfect.non_member_loss
    same = rng.uniform(0, 1, 400)
    chance = loss_attack(same[:200], y[:200], same[200:], y[200:])
    assert abs(chance.auc - 0.5) < 0.1
    assert example_loss(np.array([0.5]), np.array([1]))[0] == pytest.approx(np.log(2))


def test_bad_inputs_are_refused_by_name() -> None:
    with pytest.raises(DataError, match="members and non-members"):
        loss_attack(np.array([0.5]), np.array([1]), np.array([]), np.array([]))
    with pytest.raises(DataError, match=r"row 1: 1\.5"):
        loss_attack(np.array([0.5, 1.5]), np.array([1, 0]), np.array([0.5]), np.array([1]))


def test_dp_sgd_hides_membership_that_plain_training_gives_away() -> None:
    torch = pytest.importorskip("torch")
    from _membership_nets import german_split, proba, train_net

    torch.set_num_threads(1)
    split = german_split(120, 120, seed=0)
    plain, _ = train_net(split, epochs=80, seed=0, lr=3e-3)
    private, epsilon = train_net(split, epochs=80, seed=0, lr=3e-3, dp_epsilon=1.0)
    exposed = loss_attack(
        proba(plain, split.x_in), split.y_in, proba(plain, split.x_out), split.y_out
    )
    hidden = loss_attack(
        proba(private, split.x_in), split.y_in, proba(private, split.x_out), split.y_out
    )
    assert epsilon is not None and epsilon <= 1.0 + 1e-2
    assert exposed.member_loss < 0.01 < exposed.non_member_loss  # it memorised its rows
    assert exposed.auc >= 0.62 and exposed.advantage >= 0.3
    assert 0.4 <= hidden.auc <= 0.6 and hidden.advantage <= 0.25
    assert exposed.auc - hidden.auc >= 0.1
