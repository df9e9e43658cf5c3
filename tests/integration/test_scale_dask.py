"""The Dask engine against the pandas one, on a real LocalCluster of 2 worker processes.

One cluster serves the whole module (starting one takes seconds). Small data: a few
thousand generated applicants in three Parquet parts, a LightGBM of a few dozen trees.
"""

from __future__ import annotations

import os
import pickle
import signal
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn.pipeline import Pipeline

from greenscore.data.cleaning import clean_frame
from greenscore.data.loading import encode_target, load_dataset, model_input
from greenscore.data.presets import load_preset
from greenscore.data.synthetic_parts import write_synthetic_parts
from greenscore.data.validation import validate
from greenscore.models.bundle import ScoringBundle
from greenscore.models.gbm import LightGBMCreditClassifier

pytest.importorskip("distributed")

ROWS, CHUNK = 1500, 500


@pytest.fixture(scope="module")
def client() -> Any:
    from greenscore.scale.cluster import dask_client

    with dask_client("local:2") as client:
        yield client


@pytest.fixture(scope="module")
def portfolio(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("portfolio")
    write_synthetic_parts(out, rows=ROWS, seed=3, chunk_rows=CHUNK)
    return out / "applications"


@pytest.fixture(scope="module")
def bundle_dir(tmp_path_factory: pytest.TempPathFactory, portfolio: Path) -> Path:
    from greenscore.explain.reason_codes import attach_reason_codes
    from greenscore.features.pipeline import build_feature_pipeline

    spec = load_preset("synthetic").model_copy(update={"relations": None})
    frame = clean_frame(pd.read_parquet(portfolio / "part-00000.parquet"), spec, strict=False)
    X, y = model_input(frame, spec), encode_target(frame[spec.target], spec)  # noqa: N806
    model = LightGBMCreditClassifier(n_estimators=40, early_stopping_rounds=None)
    pipe = Pipeline([("features", build_feature_pipeline(spec)), ("model", model)])
    pipe.fit(X, y)
    fitted = ScoringBundle(name="lightgbm", spec=spec, pipeline=pipe)
    attach_reason_codes(fitted, X, y)
    return Path(fitted.save(tmp_path_factory.mktemp("model")))


@pytest.fixture(scope="module")
def bundle(bundle_dir: Path) -> ScoringBundle:
    return ScoringBundle.load(bundle_dir)


def _pandas_scores(portfolio: Path, bundle: ScoringBundle) -> pd.DataFrame:
    from greenscore.scale.batch import score_partition

    return score_partition(pd.read_parquet(portfolio), bundle)


def _dask_scores(out: Path) -> pd.DataFrame:
    parts = sorted(out.glob("part-*.parquet"))
    return pd.concat([pd.read_parquet(p) for p in parts]).sort_values("row", kind="stable")


def test_dask_and_pandas_engines_give_identical_scores_and_reasons(
    client: Any, portfolio: Path, bundle: ScoringBundle, tmp_path: Path
) -> None:
    from greenscore.scale.batch import score_partitioned

    summary = score_partitioned(client, bundle, portfolio, tmp_path / "scores")
    assert (summary.rows, summary.partitions, summary.scored_now) == (ROWS, 3, 3)
    expected = _pandas_scores(portfolio, bundle)
    got = _dask_scores(tmp_path / "scores").reset_index(drop=True)
    assert expected["reason_1_code"].notna().sum() > 0  # reasons were given
    pd.testing.assert_frame_equal(got, expected, check_exact=True)


def _kill_first_attempt(marker: str) -> Any:
    def hook(index: int) -> None:
        if index == 1 and not os.path.exists(marker):
            Path(marker).write_text(str(os.getpid()))
            os.kill(os.getpid(), signal.SIGKILL)  # the worker dies between write and rename

    return hook


def test_a_worker_killed_mid_batch_loses_and_duplicates_no_row(
    client: Any, portfolio: Path, bundle: ScoringBundle, tmp_path: Path
) -> None:
    from greenscore.scale.batch import score_partitioned

    marker = tmp_path / "killed"
    out = tmp_path / "scores"
    try:
        score_partitioned(client, bundle, portfolio, out, hook=_kill_first_attempt(str(marker)))
    finally:
        client.wait_for_workers(2, timeout=120)  # the nanny restarts the killed worker
    assert marker.exists()  # a worker really died mid-run
    got = _dask_scores(out)
    assert sorted(got["row"]) == list(range(ROWS))  # every row once
    assert got["applicant_id"].is_unique
    expected = _pandas_scores(portfolio, bundle)
    pd.testing.assert_frame_equal(got.reset_index(drop=True), expected, check_exact=True)
    assert not list(out.glob(".part-*"))  # the dead worker's temporary part is gone


def test_a_run_started_again_scores_only_the_missing_parts(
    client: Any, portfolio: Path, bundle: ScoringBundle, tmp_path: Path
) -> None:
    from greenscore.scale.batch import score_partitioned

    out = tmp_path / "scores"
    score_partitioned(client, bundle, portfolio, out)
    (out / "part-00002.parquet").unlink()
    again = score_partitioned(client, bundle, portfolio, out)
    assert again.scored_now == 1
    assert sorted(_dask_scores(out)["row"]) == list(range(ROWS))


def test_each_part_is_told_once_even_when_the_client_died_before_telling(
    client: Any, portfolio: Path, bundle: ScoringBundle, tmp_path: Path
) -> None:
    """``on_part`` (where lineage is recorded) is called once per part written: a run that
    dies before telling of a part tells of it when started again, and of no other twice."""
    from greenscore.scale.batch import score_partitioned

    out, told, again = tmp_path / "scores", [], []

    def dies_at_part_2(index: int, part: Path) -> None:
        assert part.exists()  # told once the part is in place
        if index == 2:
            raise RuntimeError("client died")
        told.append(index)

    with pytest.raises(RuntimeError, match="client died"):
        score_partitioned(client, bundle, portfolio, out, on_part=dies_at_part_2)
    score_partitioned(client, bundle, portfolio, out, on_part=lambda i, _: again.append(i))
    assert sorted(told + again) == [0, 1, 2]  # every part told, none twice
    assert 2 in again and sorted(_dask_scores(out)["row"]) == list(range(ROWS))
    again.clear()
    score_partitioned(client, bundle, portfolio, out, on_part=lambda i, _: again.append(i))
    assert again == []  # nothing new to tell


def _planted(portfolio: Path, tmp_path: Path) -> Path:
    """The portfolio with problems planted across partitions."""
    frames = [pd.read_parquet(p) for p in sorted(portfolio.glob("part-*.parquet"))]
    frames[0].loc[3, "loan_amount"] = -500.0
    frames[0].loc[4, "age"] = 140
    frames[1].loc[7, "default"] = np.nan  # a missing target
    frames[2].loc[9, "applicant_id"] = frames[0].loc[1, "applicant_id"]  # an id repeated
    frames[2].iloc[11] = frames[1].iloc[5]  # a row repeated in another partition
    frames[2].loc[12, "income"] = np.nan
    for frame in frames:
        frame["constant"] = 1.0
        frame["leak"] = frame["default"].fillna(0) * 3.0 + 1.0
    out = tmp_path / "planted"
    out.mkdir()
    for k, frame in enumerate(frames):
        frame.to_parquet(out / f"part-{k:05d}.parquet", index=False)
    return out


def test_validation_out_of_core_gives_the_same_findings_as_pandas(
    client: Any, portfolio: Path, tmp_path: Path
) -> None:
    from greenscore.scale.frames import read_lazy
    from greenscore.scale.validate import validate_lazy

    folder = _planted(portfolio, tmp_path)
    spec = load_preset("synthetic").model_copy(update={"relations": None})
    spec = spec.model_copy(update={"numeric": [*spec.numeric, "constant", "leak"]})
    expected = validate(load_dataset(folder, spec=spec).frame, spec)
    got = validate_lazy(read_lazy(folder), spec)
    rules = {f.rule for f in expected.findings}
    assert {"duplicate_ids", "duplicate_rows", "target_null", "leakage_suspect"} <= rules
    assert got.to_dict() == expected.to_dict()


def test_profile_out_of_core_reports_the_same_findings(
    client: Any, portfolio: Path, tmp_path: Path
) -> None:
    from greenscore.data.profile import profile
    from greenscore.scale.profile import profile_lazy

    folder = _planted(portfolio, tmp_path)
    spec = load_preset("synthetic").model_copy(update={"relations": None})
    expected = profile(load_dataset(folder, spec=spec).frame, spec, tmp_path / "pandas")
    got = profile_lazy(folder, spec, tmp_path / "dask")
    assert got["findings"] == expected["findings"]
    assert got["overview"]["rows"] == expected["overview"]["rows"] == ROWS


def test_distributed_lightgbm_is_stored_as_a_plain_lightgbm_model(
    client: Any, portfolio: Path
) -> None:
    from greenscore.evaluation.metrics import credit_metrics
    from greenscore.features.pipeline import build_feature_pipeline
    from greenscore.scale.lgbm import DaskLightGBMClassifier

    spec = load_preset("synthetic").model_copy(update={"relations": None})
    frame = clean_frame(pd.read_parquet(portfolio), spec, strict=False)
    X, y = model_input(frame, spec), encode_target(frame[spec.target], spec)  # noqa: N806
    features = build_feature_pipeline(spec).fit(X, y)
    matrix = features.transform(X)
    params = {"n_estimators": 60, "early_stopping_rounds": None, "infer_monotone": False}
    on_cluster = DaskLightGBMClassifier(**params).fit(matrix, y)
    alone = LightGBMCreditClassifier(**params).fit(matrix, y)
    stored = pickle.dumps(on_cluster)
    assert b"greenscore.scale" not in stored  # a bundle never needs Dask to load
    restored = pickle.loads(stored)
    assert type(restored) is LightGBMCreditClassifier
    np.testing.assert_array_equal(restored.predict_proba(matrix), on_cluster.predict_proba(matrix))
    auc_cluster = credit_metrics(y, on_cluster.predict_proba(matrix)[:, 1])["auc"]
    auc_alone = credit_metrics(y, alone.predict_proba(matrix)[:, 1])["auc"]
    assert abs(auc_cluster - auc_alone) < 0.02  # two workers' histograms, not one's


def test_parallel_tuning_shares_one_study_on_postgres(
    client: Any, portfolio: Path, postgres_schema_url: str
) -> None:
    from greenscore.features.pipeline import build_feature_pipeline
    from greenscore.scale.tuning import WORKER_ATTR, tune_lightgbm_parallel

    client.wait_for_workers(2, timeout=120)
    spec = load_preset("synthetic").model_copy(update={"relations": None})
    frame = clean_frame(pd.read_parquet(portfolio / "part-00000.parquet"), spec, strict=False)
    X, y = model_input(frame, spec), encode_target(frame[spec.target], spec)  # noqa: N806
    matrix = build_feature_pipeline(spec).fit(X, y).transform(X)
    best, study = tune_lightgbm_parallel(
        client,
        matrix,
        y,
        n_trials=4,
        storage=postgres_schema_url,
        seed=1,
        base_params={"n_estimators": 60},
    )
    assert len(study.trials) == 4
    assert set(best) >= {"learning_rate", "num_leaves", "n_estimators"}
    # Both workers ran trials of the one study.
    hosts = {t.user_attrs.get(WORKER_ATTR) for t in study.trials}
    assert len(hosts) == 2


# --- the privacy promises of ``greenscore score --engine dask`` (issues 19 and 21) ---

SMALL_ROWS = 10  # per part of the small portfolio below


@pytest.fixture(scope="module")
def small(portfolio: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Three Parquet parts of 10 applicants each (the portfolio's own rows and types)."""
    out = tmp_path_factory.mktemp("small")
    for part in sorted(portfolio.glob("part-*.parquet")):
        pd.read_parquet(part).head(SMALL_ROWS).to_parquet(out / part.name, index=False)
    return out


def _with_home(home: Path, **privacy: Any) -> Any:
    from greenscore.config import Settings, use_settings

    settings = Settings(home=home)
    settings = settings.model_copy(update={"privacy": settings.privacy.model_copy(update=privacy)})
    use_settings(settings)
    return settings


def _ids(small: Path, bundle: ScoringBundle) -> list[str]:
    return [str(v) for v in pd.read_parquet(small)[bundle.spec.id_column]]


def _lineage(ids: list[str], settings: Any) -> dict[str, list[tuple[Any, ...]]]:
    from greenscore.privacy.lineage import lineage_for
    from greenscore.security.pseudonym import subject_hash
    from greenscore.store import database

    db = database(settings)
    return {
        i: [
            (r["action"], r["model_name"], r["model_version"], r["dataset_sha"])
            for r in lineage_for(subject_hash(i, settings=settings), db=db)
        ]
        for i in ids
    }


def test_a_subject_without_consent_refuses_a_dask_score_naming_the_row(
    client: Any,
    small: Path,
    bundle: ScoringBundle,
    tmp_path: Path,
    run_cli: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from greenscore.config import use_settings
    from greenscore.privacy.consent import ConsentMissingError, grant_consent
    from greenscore.scale.frames import read_lazy
    from greenscore.security.pseudonym import subject_hash
    from greenscore.workflows.score import score_file
    from greenscore.workflows.score_parts import require_consent_by_parts

    monkeypatch.delenv("GREENSCORE_HOME", raising=False)
    settings = _with_home(tmp_path / "home", require_consent="credit_scoring")
    try:
        ids = _ids(small, bundle)
        for k, subject in enumerate(ids):
            if k not in (13, 27):  # rows in the second and third parts
                grant_consent(subject_hash(subject, settings=settings), "credit_scoring",
                              actor="dpo", settings=settings)  # fmt: skip
        with pytest.raises(ConsentMissingError) as pandas_engine:
            score_file(bundle, small, tmp_path / "p.csv")
        with pytest.raises(ConsentMissingError) as dask_engine:
            require_consent_by_parts(read_lazy(small), bundle, "credit_scoring", settings=settings)
        assert str(dask_engine.value) == str(pandas_engine.value)
        assert "row 13 (and 1 more rows) has not consented" in str(dask_engine.value)
        out = tmp_path / "scores"
        model = bundle.save(tmp_path / "model")  # signed by this home's keyring
        code, _, err = run_cli(
            "score", "--model", model, "--data", small, "--out", out,
            "--engine", "dask", "--scheduler", client.scheduler.address,
        )  # fmt: skip
        assert code == 2, err
        assert "row 13 (and 1 more rows) has not consented" in " ".join(err.split())
        assert not out.exists() or not list(out.glob("part-*.parquet"))  # nothing scored
    finally:
        use_settings(None)


def test_a_dask_score_records_the_lineage_the_pandas_engine_records(
    client: Any, small: Path, bundle: ScoringBundle, tmp_path: Path
) -> None:
    from greenscore.config import use_settings
    from greenscore.scale.frames import read_lazy
    from greenscore.workflows.score import score_file
    from greenscore.workflows.score_parts import score_on_cluster

    ids = _ids(small, bundle)
    try:
        pandas_settings = _with_home(tmp_path / "pandas")
        score_file(bundle, small, tmp_path / "p.csv")
        expected = _lineage(ids, pandas_settings)
        dask_settings = _with_home(tmp_path / "dask")
        out = tmp_path / "scores"
        summary = score_on_cluster(bundle, read_lazy(small), out, client.scheduler.address)
        assert summary.scored_now == 3
        got = _lineage(ids, dask_settings)
        assert got == expected
        assert all(len(v) == 1 and v[0][0] == "scored" for v in got.values())

        # Resumed: only the part scored again is recorded again, the others not twice.
        (out / "part-00001.parquet").unlink()
        again = score_on_cluster(bundle, read_lazy(small), out, client.scheduler.address)
        assert again.scored_now == 1
        counts = [len(v) for v in _lineage(ids, dask_settings).values()]
        assert counts == [1] * SMALL_ROWS + [2] * SMALL_ROWS + [1] * SMALL_ROWS
        # A run with nothing left to score records nothing.
        score_on_cluster(bundle, read_lazy(small), out, client.scheduler.address)
        assert [len(v) for v in _lineage(ids, dask_settings).values()] == counts
    finally:
        use_settings(None)


def test_an_erasure_after_a_dask_score_removes_the_subject_from_the_parts(
    client: Any, small: Path, bundle: ScoringBundle, tmp_path: Path
) -> None:
    from greenscore.config import use_settings
    from greenscore.privacy.gdpr import erase
    from greenscore.privacy.registry import list_datasets
    from greenscore.scale.frames import read_lazy
    from greenscore.store import database
    from greenscore.workflows.score_parts import score_on_cluster

    id_column = bundle.spec.id_column
    ids = _ids(small, bundle)
    try:
        settings = _with_home(tmp_path / "home")
        out = tmp_path / "scores"
        score_on_cluster(bundle, read_lazy(small), out, client.scheduler.address)
        name = f"scored:{out.resolve()}"
        (entry,) = [e for e in list_datasets(db=database(settings)) if e.name == name]
        assert entry.path == out.resolve() and entry.id_column == id_column
        untouched = (out / "part-00000.parquet").read_bytes()
        before = _dask_scores(out)

        report = erase(ids[14], actor="dpo", settings=settings)

        assert report.datasets[name] == 1
        assert report.lineage == 1  # its ``scored`` record
        after = _dask_scores(out)
        assert ids[14] not in set(after[id_column].astype(str))
        expected = before[before[id_column].astype(str) != ids[14]]
        pd.testing.assert_frame_equal(
            after.reset_index(drop=True), expected.reset_index(drop=True)
        )  # the others' rows as they were
        assert (out / "part-00000.parquet").read_bytes() == untouched  # not rewritten
        assert not list(out.glob(".*tmp*"))
        (entry,) = [e for e in list_datasets(db=database(settings)) if e.name == name]
        assert entry.sha256 != "" and _lineage([ids[14]], settings) == {ids[14]: []}
    finally:
        use_settings(None)


def test_greenscore_score_writes_the_same_rows_and_reasons_on_either_engine(
    client: Any, small: Path, bundle: ScoringBundle, tmp_path: Path
) -> None:
    """What ``greenscore score`` writes in one process (score_file) and on the cluster:
    the same PDs, decisions and top reasons per row (the cluster's parts add the input row
    number). Before, only the cluster engine wrote reasons."""
    from greenscore.config import use_settings
    from greenscore.scale.frames import read_lazy
    from greenscore.workflows.score import score_file
    from greenscore.workflows.score_parts import score_on_cluster

    try:
        _with_home(tmp_path / "home")
        score_file(bundle, small, tmp_path / "p.parquet")
        score_on_cluster(bundle, read_lazy(small), tmp_path / "scores", client.scheduler.address)
        local = pd.read_parquet(tmp_path / "p.parquet")
        cluster = _dask_scores(tmp_path / "scores").drop(columns="row").reset_index(drop=True)
        assert local["reason_1_code"].notna().all()
        pd.testing.assert_frame_equal(local, cluster, check_exact=True)
        without = score_file(bundle, small, tmp_path / "q.parquet", reasons="none").scored
        assert not any(c.startswith("reason_") for c in without.columns)
        # Reasons for the adverse decisions only: the same as above on those rows, the
        # approvals' left empty, on either engine.
        adverse = score_file(bundle, small, tmp_path / "a.parquet", reasons="adverse").scored
        score_on_cluster(
            bundle, read_lazy(small), tmp_path / "a", client.scheduler.address, reasons="adverse"
        )
        on_cluster = _dask_scores(tmp_path / "a").drop(columns="row").reset_index(drop=True)
        pd.testing.assert_frame_equal(
            pd.read_parquet(tmp_path / "a.parquet"), on_cluster, check_exact=True
        )
        approved = (local["decision"] == "approve").to_numpy()
        assert 0 < approved.sum() < len(local)
        reasons = [c for c in local.columns if c.startswith("reason_")]
        assert list(adverse.columns) == list(local.columns)
        assert adverse.loc[approved, reasons].isna().all().all()
        pd.testing.assert_frame_equal(
            adverse.loc[~approved].reset_index(drop=True),
            local.loc[~approved].reset_index(drop=True),
            check_exact=True,
        )
    finally:
        use_settings(None)
