"""SecAgg+ gives the aggregate plain FedAvg gives, up to its quantisation.

Three lenders on Flower's SecAggPlusWorkflow and secaggplus_mod (in the ClientApp
GreenScore deploys): the same local training from the same global weights, aggregated
once in the clear with Flower's FedAvg and once through the secure protocol, must agree
to float tolerance; so must the encoder statistics.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import yaml
from flwr.app import Array, ArrayRecord, ConfigRecord

from greenscore.config import Settings, use_settings
from greenscore.data.loading import load_dataset
from greenscore.data.spec import DatasetSpec
from greenscore.federated.aggregate import weighted_mean
from greenscore.federated.client_app import app as client_app
from greenscore.federated.dnn_local import build_classifier, float_keys, get_arrays
from greenscore.federated.dnn_server import secure_round
from greenscore.federated.federation import FederationResult, agree_features, encoder_statistics
from greenscore.federated.local_grid import LocalGrid
from greenscore.federated.metering import MeteredGrid
from greenscore.federated.plan import FederationPlan
from greenscore.federated.selection import SubsetGrid
from greenscore.federated.shared import shared_encoder
from greenscore.federated.simulation import prepare_lenders
from greenscore.federated.strategies import make_strategy

TAIWAN = Path("/work/shared/data/UCI_Credit_Card.csv")


@pytest.fixture(scope="module")
def federation(tmp_path_factory):
    root = tmp_path_factory.mktemp("secagg")
    use_settings(Settings(home=root / "server", environment="test"))
    dataset = load_dataset(TAIWAN, preset="taiwan")
    dataset.frame = dataset.frame.iloc[:1200]
    plan = FederationPlan(spec=dataset.spec.to_yaml(), hidden_units=16, seed=5).check()
    configs = prepare_lenders(dataset, out=root, lenders=3, split="iid", seed=5)
    grid = MeteredGrid(LocalGrid(client_app, configs, run_config=plan.to_run_config()))
    spec = DatasetSpec.from_dict(yaml.safe_load(plan.spec))
    result = FederationResult(plan=plan)
    state = agree_features(grid, plan, spec, result)
    yield grid, plan, spec, state, result
    use_settings(None)


def test_secure_statistics_match_the_plain_ones(federation) -> None:
    grid, plan, _, state, result = federation
    nodes = sorted(result.sizes)
    config = {"state": state.to_json(), "stage": 1}
    grid.phase = "plain-stats"
    plain = weighted_mean(grid, nodes, action="stats", task="stats", config=config, secure=False)
    grid.phase = "secure-stats"
    secure = weighted_mean(
        grid, nodes, action="stats", task="stats", config=config, secure=True,
        max_weight=float(max(result.sizes.values())),
    )  # fmt: skip
    assert plain.rows == secure.rows == sum(result.sizes.values())
    np.testing.assert_allclose(secure.vectors[0], plain.vectors[0], atol=2e-6)
    # The protocol's four stages (setup, share keys, masked vectors, unmask) ran.
    assert grid.usage["secure-stats"]["messages"] == 4 * len(nodes)
    assert grid.usage["plain-stats"]["messages"] == len(nodes)


def test_a_secure_dnn_round_equals_plain_fedavg(federation) -> None:
    grid, plan, spec, state, result = federation
    nodes = sorted(result.sizes)
    state.encoder = encoder_statistics(grid, plan, state, nodes)
    state_json = state.to_json()
    clf = build_classifier(shared_encoder(state_json, spec), plan.model_params())
    keys = float_keys(clf.module_)
    start = get_arrays(clf.module_)
    arrays = ArrayRecord({k: Array(a) for k, a in zip(keys, start, strict=True)})

    plain_strategy, _ = make_strategy(plan, lenders=len(nodes))
    messages = list(
        plain_strategy.configure_train(
            1, arrays, ConfigRecord({"state": state_json}), SubsetGrid(grid, nodes)
        )
    )
    replies = list(grid.send_and_receive(messages))
    assert not any(r.has_error() for r in replies)
    plain, _ = plain_strategy.aggregate_train(1, replies)

    secure_strategy, _ = make_strategy(plan, lenders=len(nodes))
    messages = list(
        secure_strategy.configure_train(
            1, arrays, ConfigRecord({"state": state_json}), SubsetGrid(grid, nodes)
        )
    )
    base = [a.numpy() for a in arrays.values()]
    secure_replies = secure_round(
        grid, plan, messages, base, keys, state_json, 1, max(result.sizes.values())
    )
    assert len(secure_replies) == len(nodes)
    secure, _ = secure_strategy.aggregate_train(1, secure_replies)

    moved = max(
        float(np.abs(p.numpy() - b).max()) for p, b in zip(plain.values(), base, strict=True)
    )
    assert moved > 1e-3  # the round did train
    for key in keys:
        np.testing.assert_allclose(secure[key].numpy(), plain[key].numpy(), atol=1e-4)
