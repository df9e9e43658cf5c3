"""A simulated federation of three lenders, end to end, in-process.

One FedProx run on a slice of the Taiwan file (lenders of Dirichlet sizes and default
rates) is shared by the
tests: the rounds, bytes and energy it records, each lender's own home (audit log,
personalised model), the MLflow run, and the model, which must be an ordinary bundle that
the scoring service serves.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from fastapi.testclient import TestClient

from greenscore.config import Settings, use_settings
from greenscore.data.loading import load_dataset
from greenscore.federated.plan import FederationPlan
from greenscore.federated.simulation import prepare_lenders, simulate
from greenscore.models.bundle import ScoringBundle

TAIWAN = Path("/work/shared/data/UCI_Credit_Card.csv")
ROWS = 1800


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    root = tmp_path_factory.mktemp("federation")
    settings = Settings(home=root / "server-home", environment="test")
    use_settings(settings)
    dataset = load_dataset(TAIWAN, preset="taiwan")
    dataset.frame = dataset.frame.iloc[:ROWS]
    plan = FederationPlan(
        rounds=2,
        strategy="fedprox",
        out=str(root / "out"),
        spec=dataset.spec.to_yaml(),
        test_fraction=0.2,
        personalise_epochs=1,
        hidden_units=32,
        seed=3,
    ).check()
    configs = prepare_lenders(dataset, out=root / "out", lenders=3, split="portfolios", seed=3)
    result = simulate(plan, configs)
    yield result, configs, settings, dataset
    use_settings(None)


def test_every_round_records_auc_bytes_and_energy_per_lender(run) -> None:
    result, configs, _, _ = run
    assert [r["round"] for r in result.rounds] == [1, 2]
    for entry in result.rounds:
        assert 0.5 < entry["val_auc"] <= 1.0
        assert entry["bytes_down"] > 10_000 and entry["bytes_up"] > 10_000
        assert sorted(entry["lenders"]) == sorted(configs)
        for metrics in entry["lenders"].values():
            assert metrics["kwh"] > 0 and metrics["co2_kg"] > 0
        assert math.isclose(
            entry["kwh"],
            entry["server_kwh"] + sum(m["kwh"] for m in entry["lenders"].values()),
        )
    energy = result.energy
    assert set(energy["per_lender"]) == set(configs)
    assert energy["rounds_kwh"] == pytest.approx(sum(r["kwh"] for r in result.rounds))
    assert energy["method"]
    assert result.usage["schema"]["bytes_up"] > 0 and "encoder-1" in result.usage


def test_each_lender_reports_what_joining_was_worth(run) -> None:
    result, configs, _, _ = run
    assert set(result.per_lender) == set(configs)
    for row in result.per_lender.values():
        assert row["test-rows"] > 0
        for key in ("auc-federated", "auc-personalised"):
            assert 0.0 <= row[key] <= 1.0
        # A lender with under two defaulters cannot train alone: its local AUC is n/a.
        assert math.isnan(row["auc-local"]) or 0.0 <= row["auc-local"] <= 1.0


def test_lenders_keep_their_own_audit_log_and_personalised_model(run) -> None:
    from greenscore.security import find_events

    result, configs, _, _ = run
    for name, config in configs.items():
        use_settings(Settings(home=Path(config["home"]), environment="test"))
        try:
            events = find_events(
                action="federated.train", settings=Settings(home=Path(config["home"]))
            )
            assert len(events) == 2  # one per round, in this lender's chain only
            assert all(e["actor"] == f"lender:{name}" for e in events)
            personal = ScoringBundle.load(config["model-dir"])
            assert personal.metadata.lender == name
        finally:
            use_settings(run[2])


def test_the_run_is_in_mlflow_with_the_auc_curve(run) -> None:
    from greenscore.tracking.mlflow_run import client_for

    result, _, settings, _ = run
    client = client_for(settings.tracking_uri)
    history = client.get_metric_history(result.extra["mlflow_run_id"], "val_auc")
    assert [m.step for m in history] == [1, 2]
    assert history[0].value == pytest.approx(result.rounds[0]["val_auc"])


def test_the_model_is_an_ordinary_bundle_the_service_serves(run) -> None:
    from greenscore.security import create_key
    from greenscore.serving.app import create_app

    result, _, settings, dataset = run
    bundle = ScoringBundle.load(result.model_dir)
    assert type(bundle.estimator).__name__ == "DNNClassifier"
    assert bundle.metadata.trained_by == "federated"
    rows = load_dataset(TAIWAN, preset="taiwan").frame.iloc[ROWS : ROWS + 50]
    pd_ = bundle.predict_pd(bundle.model_input(rows))
    assert ((pd_ > 0) & (pd_ < 1)).all() and len(np.unique(pd_)) > 10

    settings.serving.energy_calibration = False
    key = create_key(name="scorer", role="scorer", settings=settings)[1]
    app = create_app(settings, model=result.model_dir)
    applicant = {
        k: (v.item() if isinstance(v, np.generic) else v)
        for k, v in rows.iloc[0].items()
        if k != dataset.spec.target
    }
    with TestClient(app) as client:
        answer = client.post("/v1/score", json=applicant, headers={"X-API-Key": key})
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert 0.0 < body["probability_of_default"] < 1.0
    expected = bundle.predict_pd(bundle.model_input(pd.DataFrame([applicant])))[0]
    assert body["probability_of_default"] == pytest.approx(float(expected), abs=1e-6)
