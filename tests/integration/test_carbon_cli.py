"""``greenscore carbon`` as an operator uses it: a job placed and stored, a deadline in the
past refused with exit 2, a deadline too close for the job placed now with a warning saying
how late it will end; a budget set below what the ledger holds says so at once."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from greenscore import cli as cli_module
from greenscore.config import Settings, use_settings
from greenscore.store.sustainability import scheduled


@pytest.fixture(autouse=True)
def _home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("GREENSCORE_HOME", str(tmp_path / "home"))
    use_settings(Settings(home=tmp_path / "home"))
    yield
    use_settings(None)


def _run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    return _carbon(capsys, "schedule", *args)


def _carbon(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    try:
        cli_module.main(["carbon", *args])
        code = 0
    except SystemExit as stopped:
        code = int(stopped.code or 0)
    out, err = capsys.readouterr()
    return code, out, err


def test_a_job_is_placed_before_its_deadline_and_stored(capsys) -> None:
    code, out, err = _run(capsys, "--job", "retrain", "--duration-hours", "1", "--deadline", "24h")
    assert code == 0, err
    assert [job.id for job in scheduled()] == [out.strip()]
    assert "retrain: start" in err and "warning" not in err


def test_a_deadline_in_the_past_is_refused(capsys) -> None:
    code, out, err = _run(
        capsys, "--job", "retrain", "--duration-hours", "1", "--deadline", "2020-01-01T00:00"
    )
    assert code == 2 and out == ""
    assert "job 'retrain': deadline 2020-01-01 00:00 UTC has already passed" in err
    assert scheduled() == []


def test_a_job_longer_than_its_deadline_allows_runs_now_with_a_warning(capsys) -> None:
    code, out, err = _run(capsys, "--job", "big", "--duration-hours", "30", "--deadline", "24h")
    assert code == 0, err
    assert "big: start now" in err
    # 30 h of work, 24 h to the deadline: it ends about 6 h late (less the seconds between
    # the deadline's parse and the placement).
    assert (
        "warning: 30 h of work cannot end by the deadline; started now, it ends 6.0 h after it\n"
        in err
    )
    assert len(scheduled()) == 1


def test_a_budget_set_below_its_use_says_so(capsys) -> None:
    from greenscore.sustainability.budgets import record_usage

    used = record_usage(source_key="train:r1:lightgbm", kind="training", kwh=2.0, model="lightgbm")
    assert used.usage is not None
    code, out, err = _carbon(
        capsys, "budget", "set", "--scope", "model", "--name", "lightgbm", "--limit-kg", "0.1"
    )
    assert code == 0, err
    share = used.usage.co2_kg / 0.1
    assert f"model lightgbm: {used.usage.co2_kg:.4g} of 0.1 kg CO2e used in" in err
    assert f"({share:.0%}) (over its limit)" in err and share > 1
    code, out, err = _carbon(
        capsys, "budget", "set", "--scope", "model", "--name", "dnn", "--limit-kg", "5"
    )
    assert "model dnn: 0 of 5 kg CO2e used in" in err and "(0%)\n" in err


def test_a_misspelt_region_is_refused_with_the_close_match(capsys) -> None:
    code, out, err = _carbon(
        capsys, "intensity", "--country", "USA", "--region", "californa", "--hours", "1"
    )
    assert code == 2 and out == ""
    assert "region 'californa' of USA" in err and "did you mean 'california'?" in err
    code, out, err = _carbon(
        capsys, "intensity", "--country", "USA", "--region", "california", "--hours", "1"
    )
    assert code == 0 and out.startswith("179.1 gCO2e/kWh, California (US state)")


def test_a_configured_region_not_in_the_table_falls_back_with_a_warning(capsys) -> None:
    from greenscore.config import EnergySettings, get_settings

    settings = get_settings()
    use_settings(
        settings.model_copy(
            update={"energy": EnergySettings(country_iso_code="USA", region="atlantis")}
        )
    )
    code, out, err = _carbon(capsys, "intensity", "--hours", "1")
    assert code == 0 and out.startswith("369.5 gCO2e/kWh, United States")
    assert "warning: region 'atlantis' (energy.region) is not in the grid table" in err
