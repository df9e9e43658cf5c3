"""Optuna search spaces and the AUC-versus-energy study of the neural nets."""

from __future__ import annotations

import json
import math

import numpy as np
import optuna
import pandas as pd
import pytest

from greenscore.config import Settings, use_settings
from greenscore.data.spec import DatasetSpec, SequenceGroup
from greenscore.errors import ConfigError
from greenscore.models.torch.search import (
    ARCHITECTURES,
    estimator_class,
    run_search,
    search_space,
)


@pytest.fixture(autouse=True)
def _settings(tmp_path):
    use_settings(Settings(home=tmp_path))
    yield
    use_settings(None)


def tiny(n: int = 200):
    rng = np.random.default_rng(1)
    X = pd.DataFrame(
        rng.normal(size=(n, 4)), columns=["a", "s0", "s1", "s2"], index=pd.RangeIndex(n, name="id")
    )
    y = (X["a"] + X["s2"] + rng.logistic(size=n) > 0.5).astype(int).to_numpy()
    spec = DatasetSpec(target="y", sequences=[SequenceGroup(name="s", columns=["s0", "s1", "s2"])])
    return X, y, spec


@pytest.mark.parametrize("arch", [*ARCHITECTURES, "bilstm"])
def test_search_space_gives_valid_constructor_arguments(arch):
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    seen = set()
    for _ in range(6):
        params = search_space(study.ask(), arch)
        model = estimator_class(arch)(**params)
        model._check_params()  # every sampled value passes the estimator's own constraints
        seen.add(json.dumps(params, sort_keys=True, default=str))
    assert len(seen) > 1


def test_unknown_architecture_is_refused():
    with pytest.raises(ConfigError, match="unknown architecture 'transformer'"):
        search_space(optuna.trial.FixedTrial({}), "transformer")


def test_study_returns_pareto_front_importance_and_configs():
    X, y, spec = tiny()
    result = run_search(
        "dnn", X, y, spec=spec, n_trials=4, seed=0, fixed_params={"max_epochs": 1, "n_jobs": 1}
    )
    assert result.arch == "dnn" and len(result.trials) == 4
    assert result.energy_unit in {"kwh", "seconds"} and result.energy_method
    assert 1 <= len(result.pareto) <= 4
    front = {(p["auc"], p["energy"]) for p in result.pareto}
    for trial in result.trials:  # nothing on the front is dominated by any trial
        for auc, energy in front:
            assert not (trial["auc"] >= auc and trial["energy"] <= energy) or (
                trial["auc"] == auc and trial["energy"] == energy
            )
    assert all(0 <= t["auc"] <= 1 and math.isfinite(t["energy"]) for t in result.trials)
    assert set(result.importance) == {"auc", "energy"}
    assert set(result.importance["auc"]) <= set(
        search_space(
            optuna.trial.FixedTrial(
                {
                    "lr": 1e-3,
                    "weight_decay": 1e-5,
                    "dropout": 0.1,
                    "batch_size": 256,
                    "hidden_layers": 2,
                    "hidden_units": 64,
                    "batch_norm": True,
                }
            ),
            "dnn",
        )
    )
    assert result.importance["auc"] and abs(sum(result.importance["auc"].values()) - 1) < 1e-6
    best = result.best_configs["max_auc"]
    assert best == max(result.pareto, key=lambda p: p["auc"])["params"]
    model = estimator_class("dnn")(spec=spec, **best, max_epochs=1).fit(X, y)
    assert model.predict_proba(X).shape == (len(X), 2)
    json.dumps(result.to_dict())  # storable with the run
