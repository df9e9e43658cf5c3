"""``greenscore search``: a tiny architecture search end to end, resuming studies on SQLite and
PostgreSQL, and a bad time budget refused before any work.

Small data (800 generated applicants) and tiny nets (two epochs), so a run takes seconds of
fitting; the figures themselves (AUC, latency, energy) are the run's own, never asserted
against a constant.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import optuna
import pandas as pd
import pytest

from greenscore.config import Settings, use_settings
from greenscore.data.synthetic import generate
from greenscore.models.bundle import ScoringBundle
from greenscore.models.search.objectives import DIRECTIONS, OBJECTIVES
from greenscore.models.search.pareto import dominates, knee_index

ROWS = 800


@pytest.fixture(scope="module")
def applications(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("data") / "applications.csv"
    generate(ROWS, seed=3).applications.to_csv(path, index=False)
    return path


def _values(trial: optuna.trial.FrozenTrial) -> list[float]:
    return [float(v) for v in trial.values]


def test_a_tiny_search_writes_a_front_of_non_dominated_points_and_a_knee_bundle_that_scores(
    run_cli, greenscore_home, applications
):
    storage = f"sqlite:///{greenscore_home / 'studies.db'}"
    out = greenscore_home / "search-out"
    code, stdout, err = run_cli(
        "search", "--data", applications, "--preset", "synthetic",
        "--families", "dnn,lightgbm", "--trials", "5", "--max-epochs", "2",
        "--latency-rows", "5", "--time-budget", "10m", "--storage", storage,
        "--study", "tiny", "--register", "tiny-knee", "--out", out,
    )  # fmt: skip
    assert code == 0, err
    doc = json.loads((out / "pareto.json").read_text())
    front = doc["front"]
    assert doc["non_dominated"] == len(front) >= 1
    assert doc["study"]["trials_total"] == 5

    # Nothing the study finished (and could serve) dominates a front point; every other
    # finished, feasible trial is dominated by one.
    study = optuna.load_study(study_name="tiny", storage=storage)
    done = [
        t
        for t in study.get_trials(states=(optuna.trial.TrialState.COMPLETE,))
        if all(v <= 0 for v in t.constraints.values())
    ]
    on_front = {p["trial"] for p in front}
    for p in front:
        point = [p["objectives"][k] for k in OBJECTIVES]
        assert point == _values(study.trials[p["trial"]])
        assert not any(dominates(_values(t), point, DIRECTIONS) for t in done)
    for t in done:
        if t.number not in on_front:
            assert any(
                dominates([p["objectives"][k] for k in OBJECTIVES], _values(t), DIRECTIONS)
                for p in front
            )

    # The knee is the front point the definition picks.
    values = np.array([[p["objectives"][k] for k in OBJECTIVES] for p in front])
    assert doc["knee"] == front[knee_index(values, numbers=[p["trial"] for p in front])]
    html = (out / "pareto.html").read_text()
    assert "plotly" in html.lower() and f"<td>{doc['knee']['trial']} (knee)</td>" in html

    # The knee is an ordinary registered bundle: score takes it by registry URI.
    assert doc["knee_bundle"]["registered"] == "models:/tiny-knee/1"
    bundle = ScoringBundle.load(out / "model")
    assert bundle.name == doc["knee"]["family"]
    assert bundle.metadata.metrics["auc"] == doc["knee"]["objectives"]["auc"]
    assert bundle.metadata.reason_codes
    scores = greenscore_home / "scores.csv"
    code, _, err = run_cli(
        "score", "--model", "models:/tiny-knee/1", "--data", applications, "--out", scores
    )
    assert code == 0, err
    scored = pd.read_csv(scores)
    frame = pd.read_csv(applications)
    assert len(scored) == ROWS
    expected = bundle.predict_pd(bundle.model_input(frame))
    np.testing.assert_allclose(scored["probability_of_default"], expected, atol=1e-6)


def _search(home: Path, applications: Path, storage: str, out: str) -> dict:
    from greenscore.workflows.load import load_validated
    from greenscore.workflows.search import SearchOptions, search

    dataset, _ = load_validated(applications, preset="synthetic")
    options = SearchOptions(
        families=["lightgbm"],
        time_budget=600.0,
        out=home / out,
        study_name="resumable",
        storage=storage,
        trials=2,
        latency_rows=3,
    )
    return search(dataset, options).document


@pytest.fixture
def untracked(greenscore_home: Path):
    use_settings(Settings(home=greenscore_home / "home", tracking={"enabled": False}))
    return greenscore_home


def test_a_study_resumes_on_sqlite(untracked, applications):
    storage = f"sqlite:///{untracked / 'resume.db'}"
    first = _search(untracked, applications, storage, "first")
    second = _search(untracked, applications, storage, "second")
    assert first["study"]["trials_before"] == 0 and first["study"]["trials_total"] == 2
    assert second["study"]["trials_before"] == 2 and second["study"]["trials_total"] == 4
    # the front is the whole study's: it may hold trials of either run
    assert {p["trial"] for p in second["front"]} <= {0, 1, 2, 3}
    assert second["knee_bundle"]["not_registered"] == "tracking is disabled in the settings"


def test_a_study_resumes_on_postgresql(untracked, applications, postgres_schema_url):
    first = _search(untracked, applications, postgres_schema_url, "first")
    second = _search(untracked, applications, postgres_schema_url, "second")
    assert first["study"]["trials_total"] == 2
    assert second["study"]["trials_before"] == 2 and second["study"]["trials_total"] == 4
    assert second["study"]["storage"].startswith("postgresql")


def test_a_bad_time_budget_exits_2_naming_it(run_cli, greenscore_home, applications):
    code, _, err = run_cli("search", "--data", applications, "--time-budget", "soon")
    assert code == 2
    assert "--time-budget" in err and "'soon'" in err and "Usage:" in err
    assert not (greenscore_home / "search-out").exists()
