"""Local DP-SGD is calibrated to the run's epsilon, and each lender's ledger stops it."""

from __future__ import annotations

import numpy as np
import pytest

from greenscore.config import Settings, use_settings
from greenscore.errors import ConfigError, PrivacyError
from greenscore.federated.dp_local import central_noise, check_dp, epsilon_after, plan_local_dp
from greenscore.federated.privacy_ledger import BUDGET_STOPPED, charge_round, ledger_rows


@pytest.fixture
def home(tmp_path, monkeypatch):
    monkeypatch.delenv("GREENSCORE_HOME", raising=False)
    use_settings(Settings(home=tmp_path / "lender-home"))
    yield tmp_path
    use_settings(None)


def test_the_plan_spends_the_target_epsilon_over_the_planned_rounds() -> None:
    plan = plan_local_dp(rows=5000, batch_size=250, epochs=1, rounds=10, epsilon=3.0, delta=1e-5)
    spent = [plan.epsilon(r, 1e-5) for r in range(11)]
    assert spent[0] == 0.0
    assert all(b > a for a, b in zip(spent, spent[1:], strict=False))
    assert 2.9 <= spent[-1] <= 3.0 + 0.02


def test_central_noise_covers_every_round() -> None:
    sigma = central_noise(epsilon=3.0, delta=1e-5, rounds=20)
    assert epsilon_after(noise_multiplier=sigma, sample_rate=1.0, steps=20, delta=1e-5) <= 3.02


def test_bad_dp_settings_are_refused() -> None:
    with pytest.raises(ConfigError, match="--dp-epsilon must be positive"):
        check_dp("local", 0.0, 1e-5)
    with pytest.raises(ConfigError, match="--dp-mode must be one of"):
        check_dp("global", 1.0, 1e-5)


def test_the_ledger_stops_a_lender_at_its_budget(home) -> None:
    plan = plan_local_dp(rows=2000, batch_size=200, epochs=1, rounds=10, epsilon=4.0, delta=1e-5)
    budget = plan.epsilon(4, 1e-5) + 1e-6  # room for four rounds, not five
    charged = []
    with pytest.raises(PrivacyError) as stopped:
        for round_ in range(1, 11):
            charged.append(
                charge_round(
                    lender="bank-a",
                    data_fingerprint="f" * 64,
                    round_=round_,
                    epsilon_before=plan.epsilon(round_ - 1, 1e-5),
                    epsilon_after=plan.epsilon(round_, 1e-5),
                    delta=1e-5,
                    budget=budget,
                )
            )
    assert len(charged) == 4
    assert stopped.value.message.startswith(BUDGET_STOPPED.split("(")[0].format(lender="bank-a"))
    rows = ledger_rows("bank-a", "f" * 64)
    assert len(rows) == 4  # the refused round charged nothing
    assert np.isclose(sum(r["epsilon"] for r in rows), plan.epsilon(4, 1e-5))
    assert "delta=1e-05" in rows[0]["query"] and rows[-1]["actor"] == "lender:bank-a"
    assert charged[-1].epsilon_total == pytest.approx(plan.epsilon(4, 1e-5))
