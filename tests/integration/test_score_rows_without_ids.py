"""Scores of a file without an id column name their input rows.

German credit has no id: with ``--on-error skip`` a refused row is left out, and every
score after it sat one line above its applicant with nothing to say so (only the rejects
file kept positions). The output now has a ``row`` column, the input row, as the rejects
file and the cluster engine's parts have.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pandas as pd

from greenscore.config import Settings, use_settings
from greenscore.data.loading import load_dataset
from greenscore.workflows.score import rejects_path, score_file

sys.path.insert(0, str(Path(__file__).parents[1] / "unit"))
from serving_bundle import build_bundle  # noqa: E402

GERMAN = "/work/shared/data/german_credit.csv"


def test_scores_without_ids_name_their_input_row(tmp_path: Path) -> None:
    use_settings(Settings(home=tmp_path / "home", environment="test"))
    try:
        ds = load_dataset(GERMAN, preset="german")
        bundle = build_bundle(ds, n_estimators=20)
        rows = pd.read_csv(GERMAN).head(20)
        rows["duration"] = rows["duration"].astype(object)
        rows.loc[2, "duration"] = "abc"
        data = tmp_path / "apps.csv"
        rows.to_csv(data, index=False)
        out = tmp_path / "scores.csv"
        summary = score_file(bundle, data, out, on_error="skip")
    finally:
        use_settings(None)
    scored = pd.read_csv(out)
    assert summary.skipped == 1 and len(scored) == 19
    assert scored.columns[0] == "row" and scored["row"].tolist() == [0, 1, *range(3, 20)]
    assert pd.read_csv(rejects_path(out))["row"].tolist() == [2]
    # Each score is its row's: scored alone, row 3 gets the PD written beside "row 3".
    alone = tmp_path / "three.csv"
    rows.iloc[[3]].to_csv(alone, index=False)
    use_settings(Settings(home=tmp_path / "home", environment="test"))
    try:
        score_file(bundle, alone, tmp_path / "three-out.csv")
    finally:
        use_settings(None)
    pd_three = pd.read_csv(tmp_path / "three-out.csv")["probability_of_default"].iloc[0]
    assert scored.loc[scored["row"] == 3, "probability_of_default"].iloc[0] == pd_three
