"""Bad and unusual inputs, scored from a file and through the API (issue 11, items 1 and 9).

``greenscore score`` flags what the API flags, names a row it cannot score (or skips it
into a rejects file), and writes JSON; the API refuses implausible values naming the
field, reports a bad applicant of a batch in its own item, and words reasons with the
value the caller sent rather than the value scored.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from fastapi.testclient import TestClient

sys.path.insert(0, str(Path(__file__).parents[1] / "unit"))
from serving_bundle import shared  # noqa: E402

from greenscore import cli  # noqa: E402
from greenscore.config import Settings, get_settings, use_settings  # noqa: E402
from greenscore.data.input_rules import SENT_KEY  # noqa: E402
from greenscore.explain.wording import format_value  # noqa: E402
from greenscore.security import create_key  # noqa: E402
from greenscore.serving.app import create_app  # noqa: E402
from greenscore.serving.model_store import ModelStore  # noqa: E402
from greenscore.workflows.score import BAD_ON_ERROR, BAD_SUFFIX  # noqa: E402

ROWS = 10


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory):
    folder = tmp_path_factory.mktemp("inputs")
    patch = pytest.MonkeyPatch()
    patch.setenv("GREENSCORE_HOME", str(folder / "home"))
    patch.setenv("GREENSCORE_MASTER_KEY", "cd" * 32)
    patch.setenv("GREENSCORE_TRACKING__ENABLED", "false")
    use_settings(None)
    ds, bundle = shared()
    model = bundle.save(folder / "model")
    settings = Settings(environment="test")
    s = settings.serving
    s.max_batch = s.rate_limit_burst = 100
    s.energy_calibration = False
    s.training_outcomes = "visible"  # as greenscore score reads the training applicants
    use_settings(settings)
    store = ModelStore(s, loader=lambda uri: bundle)
    store.load("served")
    with TestClient(create_app(settings, store=store)) as client:
        key = {"X-API-Key": create_key(name="inputs", role="scorer", settings=get_settings())[1]}
        yield folder, ds, model, client, key, store
    use_settings(None)
    patch.undo()


def _rows(ds: Any, **changes: dict[int, Any]) -> pd.DataFrame:
    frame = ds.frame.iloc[:ROWS].reset_index(drop=True).copy()
    for column, values in changes.items():
        frame[column] = frame[column].astype(object)
        for i, value in values.items():
            frame.loc[i, column] = value
    return frame


class Run:
    """What ``greenscore score ...`` did, run through the console script's entry point."""

    def __init__(self, capsys: pytest.CaptureFixture[str], *args: str) -> None:
        with pytest.MonkeyPatch.context() as m:
            m.setattr(sys, "argv", ["greenscore", "score", *args])
            with pytest.raises(SystemExit) as stopped:
                cli.main()
        self.exit_code = int(stopped.value.code or 0)
        captured = capsys.readouterr()
        self.output = captured.out + captured.err


def _records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    return json.loads(frame.to_json(orient="records", date_format="iso"))


def test_score_flags_each_row_as_the_api_does(env, capsys: pytest.CaptureFixture[str]) -> None:
    folder, ds, model, client, key, _ = env
    frame = _rows(ds, income={1: 1e12}, housing={2: "RENT"}, age={3: -5})
    path = folder / "flagged.csv"
    frame.to_csv(path, index=False)
    out = folder / "flagged.json"
    result = Run(capsys, "--model", str(model), "--data", str(path), "--out", str(out))
    assert result.exit_code == 0, result.output
    assert "scored 10 of 10 rows" in result.output and "3 flagged" in result.output
    scored = json.loads(out.read_text())  # a JSON array of row objects
    assert [r["flags"] for r in scored[:4]] == [
        "",
        "income:above_training_range",
        "housing:category_normalised",
        "age:outside_plausible_range",
    ]
    for i, record in enumerate(_records(frame)[:4]):
        r = client.post("/v1/score", json=record, headers=key)
        assert r.status_code == 200, r.text
        body = r.json()
        assert "; ".join(f"{f['field']}:{f['issue']}" for f in body["flags"]) == scored[i]["flags"]
        assert abs(body["probability_of_default"] - scored[i]["probability_of_default"]) <= 1e-9
    same = frame.assign(housing=frame["housing"].replace({"RENT": "rent"}))
    same.to_csv(folder / "lower.csv", index=False)
    assert (
        Run(
            capsys,
            "--model",
            str(model),
            "--data",
            str(folder / "lower.csv"),
            "--out",
            str(folder / "lower.jsonl"),
        ).exit_code
        == 0
    )
    lower = pd.read_json(folder / "lower.jsonl", lines=True)
    assert lower["probability_of_default"][2] == scored[2]["probability_of_default"]


def test_a_row_that_cannot_be_scored_is_named_or_skipped_into_rejects(
    env, capsys: pytest.CaptureFixture[str]
) -> None:
    folder, ds, model, *_ = env
    path = folder / "bad.csv"
    _rows(ds, income={4: "lots", 6: -60000}).to_csv(path, index=False)
    out = folder / "bad.csv.out.csv"
    result = Run(capsys, "--model", str(model), "--data", str(path), "--out", str(out))
    assert result.exit_code == 2
    assert (
        "row 4, column 'income': 'lots' is not a number (2 rows cannot be scored" in result.output
    )
    assert "Traceback" not in result.output and "ValueError" not in result.output
    assert not out.exists()
    result = Run(
        capsys, "--model", str(model), "--data", str(path), "--out", str(out), "--on-error", "skip"
    )
    assert result.exit_code == 0, result.output
    rejects = out.with_name("bad.csv.out.rejects.csv")
    assert "scored 8 of 10 rows" in result.output and f"skipped 2 (see {rejects})" in result.output
    assert len(pd.read_csv(out)) == 8
    kept = pd.read_csv(rejects)
    assert kept["row"].tolist() == [4, 6]
    assert kept["error"][1] == "row 6, column 'income': -60000 is outside the plausible range >= 0"
    assert kept["applicant_id"].tolist() == ds.frame["applicant_id"].iloc[[4, 6]].tolist()


def test_score_output_formats_and_bad_options(env, capsys: pytest.CaptureFixture[str]) -> None:
    folder, ds, model, *_ = env
    path = folder / "plain.csv"
    _rows(ds).to_csv(path, index=False)
    for suffix in (".jsonl", ".parquet"):
        out = folder / f"plain{suffix}"
        assert (
            Run(capsys, "--model", str(model), "--data", str(path), "--out", str(out)).exit_code
            == 0
        )
    result = Run(capsys, "--model", str(model), "--data", str(path), "--out", str(folder / "p.txt"))
    assert result.exit_code == 2 and BAD_SUFFIX.format(suffix=".txt") in result.output
    result = Run(
        capsys,
        "--model",
        str(model),
        "--data",
        str(path),
        "--out",
        str(folder / "p.csv"),
        "--on-error",
        "maybe",
    )
    assert result.exit_code == 2 and BAD_ON_ERROR.format(value="maybe") in result.output


def test_a_batch_reports_each_applicant_on_its_own(env) -> None:
    _, ds, _, client, key, _ = env
    records = _records(_rows(ds, age={1: -5}, income={2: -60000, 3: "lots"}))[:5]
    r = client.post("/v1/score/batch", json={"applicants": records}, headers=key)
    assert r.status_code == 200, r.text
    body = r.json()
    assert [x["status"] for x in body["results"]] == [200, 200, 422, 422, 200]
    assert body["errors"] == 2
    assert body["results"][1]["result"]["flags"][0]["issue"] == "outside_plausible_range"
    assert body["results"][2]["error"]["detail"] == (
        "field 'income': -60000 is outside the plausible range >= 0"
    )
    assert body["results"][3]["error"]["detail"].startswith("field 'income': ")
    r = client.post("/v1/score", json=records[2], headers=key)
    assert r.status_code == 422 and "field 'income'" in r.json()["detail"]


def test_reasons_quote_the_value_sent_not_the_value_scored(env) -> None:
    _, ds, _, client, key, store = env
    cited = []
    for record in _records(_rows(ds))[:ROWS]:
        r = client.post("/v1/score", json=record | {"income": 1.0}, headers=key)
        assert r.status_code == 200, r.text
        body = r.json()
        assert [(f["field"], f["issue"], f["value"]) for f in body["flags"]] == [
            ("income", "below_training_range", 1.0)
        ]
        cited += [c for c in body["reason_codes"] if c["feature"] == "income"]
    assert cited, "an income of 1 should be a reason for some of these applicants"
    for reason in cited:
        assert reason["value"] == 1.0 and "(1;" in reason["text"], reason
    # The plumbing for any field: what the guard kept under SENT_KEY is what reasons say.
    model = store.deployment.primary.model
    rows = [{c: r.get(c) for c in model.input_columns} for r in _records(_rows(ds))]
    results = model.score(rows, [None] * len(rows), explain=[True] * len(rows))
    i, reason = next((i, r.reasons[0]) for i, r in enumerate(results) if r.reasons)
    sent = -123456.0 if isinstance(reason.value, float | int) else "as sent"
    rows[i][SENT_KEY] = {reason.feature: sent}
    again = model.score([rows[i]], [None], explain=[True])[0].reasons
    quoted = next(r for r in again if r.feature == reason.feature)
    assert quoted.value == sent and format_value(sent) in quoted.text
    assert np.isclose(quoted.contribution, reason.contribution)
