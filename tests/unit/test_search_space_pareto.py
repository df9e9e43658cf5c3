"""Architecture search pieces: the spaces, the knee, dominance, the trial guard, study identity,
and a net tuned through the shared space."""

from __future__ import annotations

import json
import time

import numpy as np
import optuna
import pandas as pd
import pytest

from greenscore.config import Settings, use_settings
from greenscore.data.spec import DatasetSpec, SequenceGroup
from greenscore.errors import ConfigError
from greenscore.models.search.guard import TrialGuard, auc_floor
from greenscore.models.search.pareto import dominates, knee_index, scaled
from greenscore.models.search.space import (
    ARCHITECTURES,
    FAMILIES,
    candidate_from_params,
    check_families,
    estimator_class,
    int8_friendly,
    net_space,
    sample_candidate,
)
from greenscore.models.search.storage import open_study


@pytest.fixture(autouse=True)
def _settings(tmp_path):
    use_settings(Settings(home=tmp_path))
    yield
    use_settings(None)


@pytest.mark.parametrize("arch", [*ARCHITECTURES, "bilstm"])
def test_net_space_gives_valid_constructor_arguments(arch):
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    seen = set()
    for _ in range(8):
        params = net_space(study.ask(), arch)
        estimator_class(arch)(**params)._check_params()  # the estimator's own constraints
        seen.add(json.dumps(params, sort_keys=True, default=str))
    assert len(seen) > 1


def test_unknown_architecture_and_family_are_refused():
    with pytest.raises(ConfigError, match="unknown architecture 'transformer'"):
        net_space(optuna.trial.FixedTrial({}), "transformer")
    with pytest.raises(ConfigError, match="unknown model family 'xgb'"):
        check_families(["dnn", "xgb"], has_sequences=True)


def test_sequence_families_are_skipped_without_histories_and_none_left_is_refused():
    chosen, skipped = check_families(["bilstm", "dnn", "tcn"], has_sequences=False)
    assert chosen == ["dnn"] and len(skipped) == 2 and "lstm: " in " ".join(skipped)
    assert check_families(["lightgbm", "dnn"], has_sequences=True)[0] == ["dnn", "lightgbm"]
    with pytest.raises(ConfigError, match="no model family left"):
        check_families(["tcn"], has_sequences=False)


def test_a_stored_trial_rebuilds_the_candidate_it_built():
    study = optuna.create_study(
        directions=["maximize", "minimize"], sampler=optuna.samplers.RandomSampler(seed=3)
    )
    families = list(FAMILIES)
    seen = set()
    for _ in range(12):
        trial = study.ask()
        built = sample_candidate(trial, families, max_epochs=4)
        seen.add(built.family)
        again = candidate_from_params(dict(trial.params), max_epochs=4)
        assert again == built
        assert all(k.startswith(built.family + ".") for k in trial.params if k != "family")
        if built.family != "lightgbm":
            assert built.params["max_epochs"] == 4
        study.tell(trial, [0.5, 1.0])
    assert len(seen) >= 3


def test_int8_friendly_needs_relu_and_widths_of_eight():
    from greenscore.models.search.space import Candidate

    assert int8_friendly(Candidate("dnn", {"activation": "relu6", "hidden_units": 64}))
    assert not int8_friendly(Candidate("dnn", {"activation": "gelu", "hidden_units": 64}))
    assert not int8_friendly(Candidate("tcn", {"activation": "relu", "channels": 12}))
    assert not int8_friendly(Candidate("lightgbm", {"num_leaves": 8}))


DIRS = ("maximize", "minimize", "minimize", "minimize")


def test_knee_is_the_point_nearest_the_utopia_point_after_scaling():
    front = np.array(
        [
            [0.80, 40.0, 4e-6, 0.10],  # most accurate, slowest, least fair
            [0.78, 10.0, 1e-6, 0.04],  # a little less accurate, much cheaper and fairer
            [0.70, 5.0, 0.5e-6, 0.02],  # cheapest and fairest, far less accurate
        ]
    )
    s = scaled(front, DIRS)
    assert s.min() == 0 and s.max() == 1
    np.testing.assert_allclose(s[1], [0.2, 5 / 35, 0.5 / 3.5, 0.25])
    # distances: about 1.73, 0.38 and 1.0
    assert knee_index(front, DIRS) == 1
    # an objective equal all along the front does not count
    flat = front.copy()
    flat[:, 3] = 0.05
    assert scaled(flat, DIRS)[:, 3].tolist() == [0, 0, 0]
    # equal distances go to the higher AUC
    tie = np.array([[0.7, 1.0, 1.0, 1.0], [0.8, 2.0, 1.0, 1.0]])
    assert knee_index(tie, DIRS) == 1


def test_dominance_respects_directions():
    assert dominates([0.8, 1, 1, 0.1], [0.7, 1, 1, 0.1], DIRS)
    assert not dominates([0.8, 2, 1, 0.1], [0.7, 1, 1, 0.1], DIRS)
    assert not dominates([0.8, 1, 1, 0.1], [0.8, 1, 1, 0.1], DIRS)


def test_guard_stops_a_hopeless_net_at_its_check_epoch_only():
    guard = TrialGuard(floor=0.7, deadline=time.monotonic() + 60, check_epoch=2)
    hook = guard.on_epoch_end()
    hook({"epoch": 1.0, "val_score": 0.5})  # before the check: a slow start is allowed
    with pytest.raises(optuna.TrialPruned):
        hook({"epoch": 2.0, "val_score": 0.65})
    assert "0.6500 at epoch 2 below the floor 0.7000" in guard.reason
    ok = TrialGuard(floor=0.7, deadline=time.monotonic() + 60)
    ok.on_epoch_end()({"epoch": 2.0, "val_score": 0.72})
    assert ok.reason is None


def test_guard_stops_at_the_deadline_and_checks_a_booster():
    late = TrialGuard(floor=None, deadline=time.monotonic() - 1)
    with pytest.raises(optuna.TrialPruned, match="time budget"):
        late.on_epoch_end()({"epoch": 1.0, "val_score": 0.9})

    class Env:
        iteration = 19
        evaluation_result_list = [("valid_0", "auc", 0.55, True)]

    booster = TrialGuard(floor=0.6, deadline=time.monotonic() + 60, check_round=20)
    with pytest.raises(optuna.TrialPruned, match="round 20"):
        booster.lightgbm_callback()(Env())


def test_auc_floor_waits_for_enough_finished_trials_of_the_family():
    assert auc_floor([0.8], margin=0.03, min_trials=2) is None
    assert auc_floor([], margin=0.03, min_trials=2) is None
    assert auc_floor([0.72, 0.8], margin=0.03, min_trials=2) == pytest.approx(0.77)


def test_guard_remembers_the_check_point_auc_of_a_trial_it_lets_finish():
    guard = TrialGuard(floor=None, deadline=time.monotonic() + 60, check_epoch=2)
    hook = guard.on_epoch_end()
    hook({"epoch": 1.0, "val_score": 0.6})
    hook({"epoch": 2.0, "val_score": 0.7})
    hook({"epoch": 3.0, "val_score": 0.75})
    assert guard.check_auc == 0.7 and guard.reason is None


def test_a_study_run_on_other_terms_is_not_resumed(tmp_path):
    storage = f"sqlite:///{tmp_path / 's.db'}"
    identity = {"dataset_sha256": "abc", "holdout": 0.2, "families": "dnn,lightgbm"}
    study = open_study(storage=storage, name="s", identity=identity, sampler="tpe", seed=0)
    assert study.user_attrs["identity"] == identity
    again = open_study(storage=storage, name="s", identity=identity, sampler="nsga2", seed=0)
    assert again.study_name == "s"
    with pytest.raises(ConfigError, match="run with holdout=0.2, not holdout=0.3"):
        open_study(
            storage=storage, name="s", identity={**identity, "holdout": 0.3}, sampler="tpe", seed=0
        )
    with pytest.raises(ConfigError, match="unknown --sampler 'grid'"):
        open_study(storage=storage, name="t", identity=identity, sampler="grid", seed=0)


def test_a_net_is_tuned_through_the_shared_space():
    from greenscore.models.tuning import tune_member

    rng = np.random.default_rng(1)
    n = 300
    X = pd.DataFrame(
        rng.normal(size=(n, 4)), columns=["a", "s0", "s1", "s2"], index=pd.RangeIndex(n, name="id")
    )
    y = (X["a"] + X["s2"] + rng.logistic(size=n) > 0.5).astype(int).to_numpy()
    spec = DatasetSpec(target="y", sequences=[SequenceGroup(name="s", columns=["s0", "s1", "s2"])])
    params, info = tune_member("dnn", X, y, spec=spec, n_trials=2, seed=0)
    assert info["trials"] == 2 and 0.5 < info["best_auc"] <= 1
    model = estimator_class("dnn")(spec=spec, max_epochs=1, **params).fit(X, y)
    assert model.predict_proba(X).shape == (n, 2)


def test_matched_declines_take_the_riskiest_share_and_a_constant_pd_declines_no_one():
    from greenscore.models.search.objectives import matched_declines

    pd_ = np.array([0.1, 0.4, 0.2, 0.3, 0.05, 0.35, 0.15, 0.25])
    assert matched_declines(pd_, 0.25).tolist() == [
        False,
        True,
        False,
        False,
        False,
        True,
        False,
        False,
    ]
    assert not matched_declines(np.full(8, 0.3), 0.25).any()
