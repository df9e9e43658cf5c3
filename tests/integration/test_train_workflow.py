"""``greenscore.workflows.train`` end to end on generated applications.

One train (scorecard + LightGBM, stratified 3-fold, registered in a temporary MLflow
SQLite registry) serves most tests of this module: it is the expensive part. The
generated data keep the last six months of days past due (so behavioural features are
built) and the borrower relations, but leave out the balance and payment histories to
keep the scorecard's optimal binning quick.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from greenscore.config import Settings, TrackingSettings, use_settings
from greenscore.data.loading import Dataset, load_dataset
from greenscore.data.presets import load_preset
from greenscore.data.synthetic import BALANCE_COLUMNS, DPD_COLUMNS, PAYMENT_COLUMNS, generate
from greenscore.models.bundle import ScoringBundle
from greenscore.models.runtime import ScoringRuntime
from greenscore.workflows.train import METRIC_KEYS, TrainOptions, TrainResult, train

ROWS = 2000
MODELS = ["scorecard", "lightgbm"]
REGISTERED = "gs-train-test"


def write_applications(folder: Path, *, rows: int = ROWS, seed: int = 5) -> Dataset:
    """Generated applications and relations in ``folder``, loaded with a trimmed synthetic spec."""
    data = generate(rows, seed=seed)
    dropped = [*BALANCE_COLUMNS, *PAYMENT_COLUMNS, *DPD_COLUMNS[:6]]
    folder.mkdir(parents=True, exist_ok=True)
    data.applications.drop(columns=dropped).to_parquet(folder / "applications.parquet")
    data.relations.to_parquet(folder / "relations.parquet")
    preset = load_preset("synthetic")
    spec = preset.model_copy(
        update={
            "name": "synthetic-small",
            "numeric": [c for c in preset.numeric if c not in dropped],
            "sequences": [
                g.model_copy(update={"columns": [c for c in g.columns if c not in dropped]})
                for g in preset.sequences
                if set(g.columns) - set(dropped)
            ],
        }
    )
    return load_dataset(folder / "applications.parquet", spec=spec)


@pytest.fixture(scope="module")
def settings(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Settings]:
    configured = Settings(
        home=tmp_path_factory.mktemp("gs-home"), tracking=TrackingSettings(experiment="tests-train")
    )
    use_settings(configured)
    yield configured
    use_settings(None)


@pytest.fixture(scope="module")
def dataset(settings: Settings, tmp_path_factory: pytest.TempPathFactory) -> Dataset:
    return write_applications(tmp_path_factory.mktemp("apps"))


@pytest.fixture(scope="module")
def trained(
    settings: Settings, dataset: Dataset, tmp_path_factory: pytest.TempPathFactory
) -> TrainResult:
    out = tmp_path_factory.mktemp("train-out")
    options = TrainOptions(models=list(MODELS), cv=3, register=REGISTERED, out=out, seed=7)
    return train(dataset, options)


@pytest.fixture(scope="module")
def metrics(trained: TrainResult) -> dict:
    return json.loads((trained.out / "metrics.json").read_text("utf-8"))


def test_metrics_json_has_every_key_for_every_model(metrics: dict) -> None:
    assert set(metrics["models"]) == set(MODELS)
    for name, figures in metrics["models"].items():
        missing = [k for k in METRIC_KEYS if k not in figures]
        assert not missing, f"{name} lacks {missing}"
        assert 0.5 < figures["auc"] <= 1.0
        assert figures["gini"] == pytest.approx(2 * figures["auc"] - 1)
        assert figures["auc_std"] >= 0 and 0 <= figures["ks"] <= 1 and 0 <= figures["ece"] <= 1
        assert 0 < figures["brier"] < 0.25 and figures["fit_seconds"] > 0
    assert metrics["best"] in MODELS
    assert metrics["models"][metrics["best"]]["auc"] == max(
        m["auc"] for m in metrics["models"].values()
    )


def test_metrics_json_describes_the_dataset_and_folds(metrics: dict, dataset: Dataset) -> None:
    assert metrics["dataset"]["rows"] == ROWS
    assert metrics["dataset"]["sha256"] == dataset.sha256
    assert len(dataset.sha256) == 64
    assert metrics["dataset"]["spec"] == "synthetic-small"
    assert metrics["dataset"]["default_rate"] == pytest.approx(float(dataset.y.mean()))
    assert metrics["cv"]["folds"] == 3 and metrics["cv"]["strategy"] == "stratified"


def test_comparisons_hold_a_delong_p_value(
    metrics: dict, trained: TrainResult, dataset: Dataset
) -> None:
    from sklearn.metrics import roc_auc_score

    comparison = metrics["comparisons"]["scorecard_vs_lightgbm"]
    assert 0.0 <= comparison["delong_p"] <= 1.0
    assert np.isfinite(comparison["delong_z"])
    # Beside the test, the AUCs it compared: the pooled out-of-fold ones, not fold means.
    for key, name in (("pooled_auc_a", "scorecard"), ("pooled_auc_b", "lightgbm")):
        pooled = roc_auc_score(dataset.y, trained.results[name].oof)
        assert comparison[key] == pytest.approx(pooled, abs=1e-12)
    assert comparison["rows"] == ROWS and "auc_a" not in comparison


def test_energy_figures_are_positive_and_say_how_they_were_measured(metrics: dict) -> None:
    for name, figures in metrics["models"].items():
        for key in ("energy_kwh", "co2_kg", "energy_kwh_per_1k_predictions"):
            assert figures[key] > 0, f"{name}.{key} = {figures[key]}"
        method = figures["energy_method"]
        assert isinstance(method, str) and method.strip()
        assert not method.startswith("unavailable"), method


def test_every_row_gets_one_out_of_fold_prediction(trained: TrainResult) -> None:
    for result in trained.results.values():
        assert np.isfinite(result.oof).all()
        assert ((result.oof >= 0) & (result.oof <= 1)).all()
        assert len(result.fold_metrics) == 3


def test_report_is_written_with_plotly_inlined_once(trained: TrainResult) -> None:
    text = (trained.out / "report.html").read_text("utf-8")
    assert text.count("plotly.js v") == 1
    assert text.count('class="plotly-graph-div"') >= 4
    assert "Information value" in text and "Feature importance (gain)" in text


def test_saved_model_reproduces_predictions(trained: TrainResult, dataset: Dataset) -> None:
    loaded = ScoringBundle.load(trained.out / "model")
    assert loaded.name == trained.best
    expected = trained.results[trained.best].bundle.predict_pd(dataset.X)
    np.testing.assert_array_equal(loaded.predict_pd(dataset.X), expected)
    for name in MODELS:
        assert (trained.out / "models" / name / "bundle.joblib").is_file()
    scored = ScoringRuntime(loaded).score_frame(dataset.frame)
    assert len(scored) == ROWS
    assert set(scored["decision"]) <= {"approve", "review", "decline"}


def test_run_is_tracked_and_registered(
    trained: TrainResult, settings: Settings, metrics: dict
) -> None:
    from greenscore.tracking.mlflow_run import client_for

    assert trained.run_id and trained.registered_version == 1
    assert metrics["tracking"]["registered"] == {"name": REGISTERED, "version": 1}
    run = client_for(settings.tracking_uri).get_run(trained.run_id)
    assert run.info.status == "FINISHED"
    assert run.data.metrics["lightgbm.auc"] == pytest.approx(metrics["models"]["lightgbm"]["auc"])
    assert run.data.params["cv"] == "3"


@pytest.mark.parametrize("uri", [f"models:/{REGISTERED}/1", f"models:/{REGISTERED}@champion"])
def test_registered_version_reproduces_predictions(
    trained: TrainResult, dataset: Dataset, uri: str
) -> None:
    from greenscore.tracking.registry import load_bundle

    registered = load_bundle(uri)
    expected = trained.results[trained.best].bundle.predict_pd(dataset.X)
    np.testing.assert_array_equal(registered.predict_pd(dataset.X), expected)


def test_time_ordered_folds_validate_only_later_applications(
    settings: Settings, dataset: Dataset, tmp_path: Path
) -> None:
    use_settings(settings.model_copy(update={"tracking": TrackingSettings(enabled=False)}))
    try:
        options = TrainOptions(models=["lightgbm"], cv=3, cv_strategy="time", out=tmp_path, seed=7)
        result = train(dataset, options)
    finally:
        use_settings(settings)
    assert result.metrics["cv"]["strategy"] == "time"
    oof = result.results["lightgbm"].oof
    dates = pd.to_datetime(dataset.frame["application_date"]).to_numpy()
    scored = np.isfinite(oof)
    # The first time block only ever trains: it has no out-of-fold prediction, and every
    # scored application is later than every unscored one.
    assert 0 < scored.sum() < len(oof)
    assert dates[~scored].max() <= dates[scored].min()
    assert 0.5 < result.metrics["models"]["lightgbm"]["auc"] <= 1.0
    assert json.loads((tmp_path / "metrics.json").read_text("utf-8"))["cv"]["strategy"] == "time"
