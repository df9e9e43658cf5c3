"""``greenscore retrain run-pending``: a filed training job trains a challenger, compares it
with the champion on the new data, and replaces a registered champion only when better."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from lightgbm import LGBMClassifier
from sklearn.pipeline import Pipeline

from greenscore import cli
from greenscore.config import Settings, TrackingSettings, TrainingSettings, use_settings
from greenscore.data.loading import encode_target
from greenscore.data.presets import load_preset
from greenscore.data.synthetic import generate
from greenscore.features.coercion import TypeCoercer
from greenscore.models.bundle import ScoringBundle
from greenscore.monitoring.alerts import CRITICAL, Alert
from greenscore.monitoring.retrain import request_retraining
from greenscore.security.audit import find_events
from greenscore.store import database
from greenscore.store.training_jobs import DONE, training_jobs
from greenscore.workflows.retrain import COMPARED, FOLDER_CHAMPION, PROMOTED

DROP = Alert("auc_drop", CRITICAL, "2024-03", "2024-03", 0.6, 0.8, "AUC of 2024-03 fell")


def _weak_champion(folder: Path) -> Path:
    """A LightGBM of five stumps fitted on 400 old applications: easy to beat."""
    spec = load_preset("synthetic")
    old = generate(400, seed=9).applications
    features = spec.feature_columns(list(old.columns))
    model = LGBMClassifier(n_estimators=5, num_leaves=4, verbose=-1, n_jobs=1, random_state=0)
    pipeline = Pipeline([("coerce", TypeCoercer(spec=spec)), ("model", model)])
    pipeline.fit(old[features], encode_target(old[spec.target], spec))
    return ScoringBundle(name="lightgbm", spec=spec, pipeline=pipeline).save(folder)


def _run(monkeypatch: pytest.MonkeyPatch, capsys, *args: object) -> tuple[int, str, str]:
    monkeypatch.setattr(sys, "argv", ["greenscore", *map(str, args)])
    try:
        cli.main()
        code = 0
    except SystemExit as exc:
        code = exc.code or 0
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def _settings(tmp_path: Path, *, tracking: bool) -> Settings:
    return Settings(
        home=tmp_path / "home",
        training=TrainingSettings(cv_folds=2),
        tracking=TrackingSettings(enabled=tracking),
    )


def test_a_folder_champion_is_compared_but_never_overwritten(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    settings = _settings(tmp_path, tracking=False)
    use_settings(settings)
    try:
        champion = _weak_champion(tmp_path / "champion")
        before = (champion / "bundle.joblib").read_bytes()
        generate(1500, seed=11).applications.to_parquet(tmp_path / "new.parquet", index=False)
        filed = request_retraining(model=str(champion), alerts=[DROP], settings=settings)
        code, out, err = _run(
            monkeypatch, capsys, "retrain", "run-pending", "-d", tmp_path / "new.parquet",
            "-p", "synthetic", "-o", tmp_path / "rt",
        )  # fmt: skip
        assert code == 0, err
        (job,) = training_jobs(db=database(settings))
        assert job.id == filed["job_id"] and job.status == DONE
        comparison = job.result["comparison"]
        assert comparison["rows"] == 1500
        assert comparison["challenger_auc"] > comparison["champion_auc"]
        assert not job.result["promoted"]
        if comparison["promote"]:
            assert job.result["note"] == FOLDER_CHAMPION.format(
                folder=tmp_path / "rt" / job.id / "model"
            )
        assert (champion / "bundle.joblib").read_bytes() == before
        assert (tmp_path / "rt" / job.id / "model" / "bundle.joblib").exists()
        (event,) = find_events(action=COMPARED, settings=settings)
        assert event["details"]["job_id"] == job.id and not event["details"]["promoted"]
        assert f"job {job.id}: " in out
        code, out, _ = _run(monkeypatch, capsys, "retrain", "run-pending", "-d",
                            tmp_path / "new.parquet", "-p", "synthetic")  # fmt: skip
        assert code == 0 and "no pending training jobs" in out
        code, out, _ = _run(monkeypatch, capsys, "retrain", "list", "--status", "done")
        assert json.loads(out.splitlines()[0])["id"] == job.id
    finally:
        use_settings(None)


@pytest.mark.slow
def test_a_better_challenger_replaces_a_registered_champion(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    from greenscore.tracking.registry import list_versions, register_bundle

    settings = _settings(tmp_path, tracking=True)
    use_settings(settings)
    try:
        register_bundle(_weak_champion(tmp_path / "champion"), name="pd")
        generate(3000, seed=11).applications.to_parquet(tmp_path / "new.parquet", index=False)
        request_retraining(model="models:/pd@champion", alerts=[DROP], settings=settings)
        code, out, err = _run(
            monkeypatch, capsys, "retrain", "run-pending", "-d", tmp_path / "new.parquet",
            "-p", "synthetic", "-o", tmp_path / "rt",
        )  # fmt: skip
        assert code == 0, err
        (job,) = training_jobs(db=database(settings))
        assert job.result["comparison"]["promote"] and job.result["promoted"], job.result
        versions = {v["version"]: v["aliases"] for v in list_versions("pd")}
        assert versions == {1: [], 2: ["challenger", "champion"]}
        (event,) = find_events(action=PROMOTED, settings=settings)
        assert event["details"] == {"job_id": job.id, "model": "pd", "version": 2}
        assert "promoted" in out
    finally:
        use_settings(None)
