"""The options a run is checked against before any work: the output folder, the decision
cut-offs (stored at train, overridden at score with a warning), and how settings show
URLs with passwords."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from serving_bundle import shared

from greenscore.config import CUTOFFS_OUT_OF_ORDER, ScoringSettings, load_settings, mask_url
from greenscore.errors import ConfigError
from greenscore.models.runtime import ScoringRuntime
from greenscore.workflows.cutoffs import OVERRIDE_WARNING, override_cutoffs, with_cutoffs
from greenscore.workflows.out_folder import ERR_OUT_IS_FILE, check_out_folder


# ---------------------------------------------------------------- output folder
def test_a_missing_or_empty_folder_may_be_written(tmp_path: Path) -> None:
    assert check_out_folder(tmp_path / "new", force=False) == tmp_path / "new"
    (tmp_path / "empty").mkdir()
    assert check_out_folder(tmp_path / "empty", force=False) == tmp_path / "empty"


def test_a_non_empty_folder_is_refused_naming_what_it_holds(tmp_path: Path) -> None:
    run = tmp_path / "run"
    (run / "model").mkdir(parents=True)
    (run / "metrics.json").write_text("{}")
    with pytest.raises(ConfigError) as refused:
        check_out_folder(run, force=False)
    message = refused.value.message
    assert str(run) in message and "metrics.json, model/" in message and "--force" in message
    assert check_out_folder(run, force=True) == run


def test_many_entries_are_counted_not_listed(tmp_path: Path) -> None:
    for i in range(7):
        (tmp_path / f"f{i}.csv").write_text("")
    with pytest.raises(ConfigError, match=r"f0.csv, f1.csv, f2.csv, f3.csv and 3 more"):
        check_out_folder(tmp_path, force=False)


def test_a_file_is_refused_even_with_force(tmp_path: Path) -> None:
    target = tmp_path / "out.csv"
    target.write_text("x")
    with pytest.raises(ConfigError) as refused:
        check_out_folder(target, force=True)
    assert refused.value.message == ERR_OUT_IS_FILE.format(path=target)


# ---------------------------------------------------------------- cut-offs
def test_no_cutoff_given_keeps_the_settings() -> None:
    base = ScoringSettings()
    assert with_cutoffs(base) is base


def test_given_cutoffs_replace_only_themselves() -> None:
    base = ScoringSettings(pdo=40)
    got = with_cutoffs(base, decline_above=0.5)
    assert (got.approve_below, got.decline_above, got.pdo) == (0.10, 0.5, 40)


def test_cutoffs_out_of_order_are_refused() -> None:
    with pytest.raises(ConfigError) as refused:
        with_cutoffs(ScoringSettings(), approve_below=0.4)
    assert CUTOFFS_OUT_OF_ORDER.format(approve_below=0.4, decline_above=0.3) in str(refused.value)


def test_cutoffs_outside_zero_one_are_refused() -> None:
    with pytest.raises(ConfigError, match="decline_above"):
        with_cutoffs(ScoringSettings(), decline_above=1.5)


def test_settings_refuse_cutoffs_out_of_order(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GREENSCORE_SCORING__APPROVE_BELOW", "0.5")
    with pytest.raises(ConfigError, match="must not exceed decline_above"):
        load_settings()


def test_an_override_decides_with_the_new_cutoffs_and_says_so() -> None:
    ds, bundle = shared()
    trained = (bundle.scoring.approve_below, bundle.scoring.decline_above)
    scored = ScoringRuntime(bundle).score_frame(ds.frame)
    view, warning = override_cutoffs(bundle, approve_below=0.02, decline_above=0.9)
    assert warning == OVERRIDE_WARNING.format(
        approve_below=0.02,
        decline_above=0.9,
        trained_approve=trained[0],
        trained_decline=trained[1],
    )
    rescored = ScoringRuntime(view).score_frame(ds.frame)
    pd_ = rescored["probability_of_default"].to_numpy()
    np.testing.assert_allclose(pd_, scored["probability_of_default"])  # same model
    expected = np.where(pd_ < 0.02, "approve", np.where(pd_ > 0.9, "decline", "review"))
    assert (rescored["decision"].to_numpy() == expected).all()
    assert (rescored["decision"] != scored["decision"]).any()
    assert (bundle.scoring.approve_below, bundle.scoring.decline_above) == trained  # untouched


def test_the_models_own_cutoffs_are_no_override() -> None:
    _, bundle = shared()
    same, warning = override_cutoffs(bundle, approve_below=bundle.scoring.approve_below)
    assert same is bundle and warning is None


# ---------------------------------------------------------------- URLs shown
@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("postgresql+psycopg://bob:s3cr:et@db:5432/x", "postgresql+psycopg://bob:***@db:5432/x"),
        ("http://u:p@mlflow.bank.local/", "http://u:***@mlflow.bank.local/"),
        ("sqlite:////tmp/home/greenscore.db", "sqlite:////tmp/home/greenscore.db"),
        ("redis://127.0.0.1:6379/0", "redis://127.0.0.1:6379/0"),
    ],
)
def test_passwords_in_urls_are_masked(url: str, shown: str) -> None:
    assert mask_url(url) == shown


def test_public_settings_mask_the_database_password(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GREENSCORE_DATABASE_URL", "postgresql://bob:hunter2@db/x")
    monkeypatch.setenv("GREENSCORE_TRACKING__URI", "postgresql://ml:hunter3@db/ml")
    data = load_settings().public_dict()
    assert data["database_url"] == "postgresql://bob:***@db/x"
    assert data["tracking"]["uri"] == "postgresql://ml:***@db/ml"
    assert "hunter" not in str(data)
