"""MLflow runs and the model registry on a temporary SQLite backend.

One backend serves the whole module: creating an MLflow SQLite schema runs every
migration and costs several seconds.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

from greenscore.config import Settings, TrackingSettings, use_settings
from greenscore.data.loading import model_input
from greenscore.data.spec import DatasetSpec
from greenscore.errors import ConfigError, DataError, NotFoundError
from greenscore.models.bundle import ScoringBundle
from greenscore.sustainability.energy import EnergyReading
from greenscore.tracking import (
    NullRun,
    list_versions,
    load_bundle,
    register_bundle,
    set_alias,
    start_run,
    tracking_uri,
)
from greenscore.tracking.mlflow_run import client_for
from greenscore.tracking.registry import bundle_requirements


@pytest.fixture(scope="module")
def settings(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Settings]:
    home = tmp_path_factory.mktemp("gs-home")
    configured = Settings(home=home, tracking=TrackingSettings(experiment="tests"))
    use_settings(configured)
    yield configured
    use_settings(None)


@pytest.fixture(scope="module")
def client(settings: Settings) -> object:
    return client_for(tracking_uri(settings))


@pytest.fixture(scope="module")
def applications() -> pd.DataFrame:
    rng = np.random.default_rng(0)
    frame = pd.DataFrame(
        {
            "app_id": [f"A{i:03d}" for i in range(120)],
            "income": rng.normal(50, 10, 120),
            "debt": rng.normal(10, 3, 120),
            "name": ["x"] * 120,  # PII: must never reach the model
        }
    )
    frame["default"] = (frame["debt"] / frame["income"] + rng.normal(0, 0.05, 120) > 0.2).astype(
        int
    )
    return frame


@pytest.fixture(scope="module")
def spec() -> DatasetSpec:
    return DatasetSpec(
        name="tiny", target="default", id_column="app_id", numeric=["income", "debt"], pii=["name"]
    )


def _bundle(applications: pd.DataFrame, spec: DatasetSpec, C: float) -> ScoringBundle:  # noqa: N803
    X = model_input(applications, spec)
    pipeline = Pipeline([("scale", StandardScaler()), ("model", LogisticRegression(C=C))])
    pipeline.fit(X, applications["default"])
    return ScoringBundle(name="logit", spec=spec, pipeline=pipeline, metadata={"C": C})


@pytest.fixture(scope="module")
def bundle_dirs(
    tmp_path_factory: pytest.TempPathFactory, applications: pd.DataFrame, spec: DatasetSpec
) -> tuple[Path, Path]:
    base = tmp_path_factory.mktemp("bundles")
    first = _bundle(applications, spec, C=1.0).save(base / "v1")
    second = _bundle(applications, spec, C=0.01).save(base / "v2")
    return first, second


# ------------------------------------------------------------------ runs
def test_run_round_trip(
    settings: Settings, client: object, spec: DatasetSpec, tmp_path: Path
) -> None:
    note = tmp_path / "note.txt"
    note.write_text("hello", encoding="utf-8")
    reading = EnergyReading(
        label="fit:logit", kwh=1e-6, co2_kg=2e-7, duration_s=0.5, method="estimate: test"
    )
    with start_run(
        run_name="train:tiny", params={"model": "logit", "cv": {"folds": 5}}, tags={"stage": "dev"}
    ) as run:
        run.log_metrics({"auc": 0.71, "ks": 0.33}, prefix="cv")
        run.log_metrics({"auc": 0.69}, prefix="fold/", step=2)
        run.log_metrics({"converged": True, "trees": 120})
        run.log_dataset_info("abc123", spec.to_yaml(), 120, name="tiny")
        env = run.log_environment({"seed": 42, "torch": True})
        run.log_energy(reading)
        run.log_artifact(note)
        run.log_dict({"k": [1, 2]}, "extra/data.json")
    stored = client.get_run(run.run_id)
    assert stored.info.status == "FINISHED"
    assert stored.info.run_name == "train:tiny"
    assert stored.info.experiment_id == run.experiment_id
    params = stored.data.params
    assert params["model"] == "logit" and params["cv.folds"] == "5"
    assert params["dataset.sha256"] == "abc123" and params["dataset.rows"] == "120"
    assert params["seed.seed"] == "42"
    metrics = stored.data.metrics
    assert metrics["cv.auc"] == pytest.approx(0.71) and metrics["cv.ks"] == pytest.approx(0.33)
    assert metrics["fold/auc"] == pytest.approx(0.69)
    assert metrics["converged"] == 1.0 and metrics["trees"] == 120.0
    assert metrics["energy.fit.logit.kwh"] == pytest.approx(1e-6)
    assert metrics["energy.fit.logit.co2_kg"] == pytest.approx(2e-7)
    tags = stored.data.tags
    assert tags["stage"] == "dev" and tags["energy.fit.logit.method"] == "estimate: test"
    assert tags["version.scikit-learn"] == env["packages"]["scikit-learn"]
    if env["git_commit"]:
        assert tags["mlflow.source.git.commit"] == env["git_commit"]
    artifacts = {a.path for a in client.list_artifacts(run.run_id)}
    assert {"note.txt", "environment.json", "dataset", "extra"} <= artifacts
    spec_text = Path(client.download_artifacts(run.run_id, "dataset/spec.yaml", str(tmp_path)))
    assert DatasetSpec.from_yaml(spec_text).target == "default"
    # Artifacts live under the home folder, not in the working directory.
    assert (settings.home / "mlartifacts").is_dir()
    assert tracking_uri(settings) == f"sqlite:///{(settings.home / 'mlflow.db').resolve()}"


def test_failed_block_marks_the_run_failed(client: object) -> None:
    with pytest.raises(RuntimeError, match="fit blew up"):
        with start_run(run_name="train:broken") as run:
            raise RuntimeError("fit blew up")
    assert client.get_run(run.run_id).info.status == "FAILED"


def test_bad_values_are_refused() -> None:
    with start_run(run_name="train:bad") as run:
        run.log_params({"model": "logit"})
        run.log_params({"model": "logit"})  # the same value again is fine
        with pytest.raises(ConfigError, match="parameter 'model' was already logged"):
            run.log_params({"model": "lightgbm"})
        with pytest.raises(DataError, match="metric 'auc' must be a real number"):
            run.log_metrics({"auc": "high"})
        with pytest.raises(NotFoundError, match="no file or folder"):
            run.log_artifact("/no/such/file.txt")


def test_disabled_tracking_never_imports_mlflow(tmp_path: Path) -> None:
    code = (
        "import sys\n"
        "from greenscore.tracking import start_run, NullRun\n"
        "with start_run(run_name='x', params={'a': 1}) as run:\n"
        "    run.log_metrics({'auc': 0.5}); run.log_params({'b': 2}); run.set_tags({'c': 3})\n"
        "    run.log_dataset_info('h', 'target: y', 3); run.log_artifact('missing.txt')\n"
        "assert isinstance(run, NullRun) and run.run_id is None\n"
        "assert 'mlflow' not in sys.modules, 'mlflow was imported'\n"
    )
    env = {**os.environ, "GREENSCORE_HOME": str(tmp_path), "GREENSCORE_TRACKING__ENABLED": "false"}
    done = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert not (tmp_path / "mlflow.db").exists()
    with pytest.raises(DataError, match="must be a real number"):
        NullRun().log_metrics({"auc": None})


# ------------------------------------------------------------------ registry
def test_register_and_reload_by_version_and_alias(
    client: object, applications: pd.DataFrame, bundle_dirs: tuple[Path, Path]
) -> None:
    first, second = bundle_dirs
    original = ScoringBundle.load(first)
    X = original.model_input(applications)
    with start_run(run_name="train:registered") as run:
        version = register_bundle(first, name="tiny-pd", run_id=run.run_id)
    assert version == 1
    by_version = load_bundle("models:/tiny-pd/1")
    by_alias = load_bundle("models:/tiny-pd@champion")
    from_folder = load_bundle(first)
    expected = original.predict_pd(X)
    for loaded in (by_version, by_alias, from_folder):
        np.testing.assert_array_equal(loaded.predict_pd(X), expected)
    assert by_alias.metadata.registry.model_dump() == {
        "name": "tiny-pd",
        "version": 1,
        "run_id": run.run_id,
    }
    assert by_version.spec == original.spec

    assert register_bundle(second, name="tiny-pd", alias="challenger") == 2
    versions = list_versions("tiny-pd")
    assert [v["version"] for v in versions] == [2, 1]
    assert versions[0]["aliases"] == ["challenger"] and versions[1]["aliases"] == ["champion"]
    assert versions[1]["run_id"] == run.run_id
    own_run = client.get_run(versions[0]["run_id"])
    assert own_run.info.run_name == "register:tiny-pd" and own_run.info.status == "FINISHED"

    assert load_bundle("models:/tiny-pd/latest").metadata.C == 0.01
    set_alias("tiny-pd", 2, "champion")
    assert load_bundle("models:/tiny-pd@champion").metadata.registry.version == 2
    assert not np.allclose(load_bundle("models:/tiny-pd@champion").predict_pd(X), expected)


def test_registered_model_scores_through_mlflow_pyfunc(
    applications: pd.DataFrame, bundle_dirs: tuple[Path, Path]
) -> None:
    import mlflow.pyfunc

    from greenscore.tracking.registry import _fast_requirement_check

    first, _ = bundle_dirs
    version = register_bundle(first, name="tiny-pyfunc", alias=None)
    bundle = ScoringBundle.load(first)
    with _fast_requirement_check(bundle_requirements(bundle)):
        model = mlflow.pyfunc.load_model(f"models:/tiny-pyfunc/{version}")
    pd_ = model.predict(applications)  # raw rows: id, PII and target columns are ignored
    np.testing.assert_allclose(pd_, bundle.predict_pd(bundle.model_input(applications)))


@pytest.mark.parametrize(
    ("uri", "error", "message"),
    [
        ("models:/no-such-model/1", NotFoundError, "no registered model named 'no-such-model'"),
        ("models:/tiny-pd/99", NotFoundError, "has no version 99"),
        ("models:/tiny-pd@nobody", NotFoundError, "has no alias 'nobody'"),
        ("models:/tiny-pd/one", ConfigError, "cannot read model URI"),
        ("s3://bucket/model", ConfigError, "cannot read model URI"),
        ("/no/such/bundle", NotFoundError, "no model bundle at /no/such/bundle"),
    ],
)
def test_missing_models_raise_clear_errors(
    uri: str, error: type, message: str, bundle_dirs: tuple[Path, Path]
) -> None:
    if "tiny-pd" in uri:
        try:
            list_versions("tiny-pd")
        except NotFoundError:
            register_bundle(bundle_dirs[0], name="tiny-pd")
    with pytest.raises(error, match=message):
        load_bundle(uri)


def test_registry_errors_for_names_and_settings(
    bundle_dirs: tuple[Path, Path], tmp_path: Path
) -> None:
    with pytest.raises(NotFoundError, match="no registered model named 'ghost'"):
        list_versions("ghost")
    with pytest.raises(NotFoundError):
        set_alias("ghost", 1, "champion")
    with pytest.raises(NotFoundError, match="no model bundle at"):
        register_bundle(tmp_path, name="empty")
    off = Settings(home=tmp_path, tracking=TrackingSettings(enabled=False))
    with pytest.raises(ConfigError, match="registry needs MLflow"):
        register_bundle(bundle_dirs[0], name="x", settings=off)


def test_bundle_requirements_are_pinned_and_follow_the_model(
    applications: pd.DataFrame, spec: DatasetSpec
) -> None:
    import lightgbm
    import sklearn

    logit = _bundle(applications, spec, C=1.0)
    reqs = bundle_requirements(logit)
    assert f"scikit-learn=={sklearn.__version__}" in reqs
    assert all("==" in r for r in reqs)
    assert not any(r.startswith("lightgbm") for r in reqs)

    X = model_input(applications, spec)
    gbm = Pipeline([("model", lightgbm.LGBMClassifier(n_estimators=3, verbose=-1))])
    gbm.fit(X, applications["default"])
    reqs = bundle_requirements(ScoringBundle(name="gbm", spec=spec, pipeline=gbm))
    assert f"lightgbm=={lightgbm.__version__}" in reqs
