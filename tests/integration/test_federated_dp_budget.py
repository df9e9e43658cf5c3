"""Differential privacy in a federation: each lender's ledger stops it at its budget.

Local DP-SGD on three lenders; one lender allows itself the epsilon of one round only. It
trains round 1, refuses round 2 (its ledger, in its own home, refuses the charge before
any training), and the federation carries on with the other two. Central DP (Flower's
server-side clipping wrapper) reports the epsilon spent at the lender level.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from greenscore.config import Settings, use_settings
from greenscore.data.loading import load_dataset
from greenscore.federated.dp_local import plan_local_dp
from greenscore.federated.lender import lender_rows
from greenscore.federated.plan import FederationPlan
from greenscore.federated.privacy_ledger import BUDGET_STOPPED, ledger_rows
from greenscore.federated.simulation import prepare_lenders, simulate

TAIWAN = Path("/work/shared/data/UCI_Credit_Card.csv")


def _setup(root: Path, **plan_values: object) -> tuple[FederationPlan, dict, object]:
    use_settings(Settings(home=root / "server", environment="test"))
    dataset = load_dataset(TAIWAN, preset="taiwan")
    dataset.frame = dataset.frame.iloc[:1500]
    plan = FederationPlan(
        out=str(root / "out"), spec=dataset.spec.to_yaml(), hidden_units=16, seed=9, **plan_values
    ).check()
    configs = prepare_lenders(dataset, out=root / "out", lenders=3, split="iid", seed=9)
    return plan, configs, dataset


def test_a_lender_stops_at_its_budget_and_the_rest_carry_on(tmp_path) -> None:
    plan, configs, dataset = _setup(tmp_path, rounds=3, dp_mode="local", dp_epsilon=3.0)
    rows = lender_rows(
        configs["lender-1"]["data"], dataset.spec, lender="lender-1",
        test_fraction=plan.test_fraction, val_fraction=plan.validation_fraction, seed=plan.seed,
    )  # fmt: skip
    dp = plan_local_dp(
        rows=len(rows.y_train), batch_size=plan.batch_size, epochs=plan.local_epochs,
        rounds=plan.rounds, epsilon=plan.dp_epsilon, delta=plan.dp_delta,
    )  # fmt: skip
    one_round = dp.epsilon(1, plan.dp_delta)
    configs["lender-1"]["epsilon-budget"] = str(one_round * 1.05)
    try:
        result = simulate(plan, configs)
    finally:
        use_settings(None)

    answered = [sorted(r["answered"]) for r in result.rounds]
    assert answered == [
        ["lender-1", "lender-2", "lender-3"],
        ["lender-2", "lender-3"],
        ["lender-2", "lender-3"],
    ]
    stopped = result.rounds[1]["failed"]["lender-1"]
    assert BUDGET_STOPPED.split("(")[0].format(lender="lender-1").strip() in stopped
    assert "lender-1" not in result.rounds[2]["chosen"]  # not asked again

    privacy = result.privacy
    assert privacy["mode"] == "local" and privacy["guarantee"].startswith("record-level")
    for name in ("lender-2", "lender-3"):
        spent = [r["epsilon"] for r in privacy["per_lender"][name]]
        assert len(spent) == 3 and spent == sorted(spent) and spent[-1] <= 3.0 + 0.02
    use_settings(Settings(home=Path(configs["lender-1"]["home"]), environment="test"))
    try:
        ledger = ledger_rows("lender-1", rows.fingerprint)
    finally:
        use_settings(None)
    assert len(ledger) == 1 and ledger[0]["epsilon"] == pytest.approx(one_round)


def test_central_dp_reports_lender_level_epsilon(tmp_path) -> None:
    plan, configs, _ = _setup(tmp_path, rounds=2, dp_mode="central", dp_epsilon=3.0)
    try:
        result = simulate(plan, configs)
    finally:
        use_settings(None)
    privacy = result.privacy
    assert privacy["guarantee"].startswith("lender-level")
    assert 0 < privacy["epsilon_spent"] <= 3.0 + 0.02
    assert privacy["noise_multiplier"] > 1.0
    assert len(result.rounds) == 2 and all(len(r["answered"]) == 3 for r in result.rounds)
