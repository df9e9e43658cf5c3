"""``greenscore spec infer`` without ``--target`` (issue 11, item 10): the target is guessed
from the column names and the guess is named; German ``personal_status`` is protected."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import yaml

from greenscore import cli
from greenscore.config import Settings, use_settings
from greenscore.data.infer import TARGET_GUESSED

GERMAN = Path(__file__).parents[3] / "shared" / "data" / "german_credit.csv"


def test_spec_infer_guesses_and_names_the_target(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    use_settings(Settings(home=tmp_path / "home"))
    out = tmp_path / "german.yaml"
    monkeypatch.setattr(
        sys, "argv", ["greenscore", "spec", "infer", "--data", str(GERMAN), "--out", str(out)]
    )
    try:
        with pytest.raises(SystemExit) as stopped:
            cli.main()
    finally:
        use_settings(None)
    captured = capsys.readouterr()
    assert stopped.value.code in (0, None), captured
    assert TARGET_GUESSED.format(column="class") in captured.err
    spec = yaml.safe_load(out.read_text())
    assert spec["target"] == "class" and spec["positive_label"] == "bad"
    assert {"personal_status", "age", "foreign_worker"} <= set(spec["protected"])
    assert spec["strip_quotes"] is True
