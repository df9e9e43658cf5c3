"""``greenscore card`` on a Taiwan run: every figure in the card equals metrics.json, and
``train`` attaches the card (with the SR 11-7 and Annex IV documents) to its MLflow run.

One small training (a 400-row sample of the real Taiwan file read in place, LightGBM,
3 folds) in a scratch home; the card is then parsed back and compared with metrics.json.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pandas as pd
import pytest

from greenscore import cli as cli_module
from greenscore.config import Settings, use_settings

TAIWAN = Path("/work/shared/data/UCI_Credit_Card.csv")
ROWS = 400


def _main(*args: str) -> int:
    try:
        cli_module.main(list(args))
    except SystemExit as stopped:
        return int(stopped.code or 0)
    return 0


def _close(text: str, value: float) -> bool:
    """The card's 4-significant-digit cell rounds ``value``."""
    return text == f"{value:.4g}"


def _rows(markdown: str, header: str) -> list[list[str]]:
    """Cells of the table whose header line starts with ``header``."""
    lines = markdown.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(header))
    out = []
    for line in lines[start + 2 :]:
        if not line.startswith("|"):
            break
        out.append([c.strip() for c in line.strip("|").split(" | ")])
    return out


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if not TAIWAN.is_file():
        pytest.fail(f"the Taiwan file is missing: {TAIWAN}")
    root = tmp_path_factory.mktemp("card")
    sample = root / "taiwan.csv"
    pd.read_csv(TAIWAN, nrows=ROWS).to_csv(sample, index=False)
    use_settings(Settings(home=root / "home"))
    out = root / "run"
    try:
        code = _main(
            "train",
            "-d",
            str(sample),
            "-p",
            "taiwan",
            "--models",
            "lightgbm",
            "--cv",
            "3",
            "-o",
            str(out),
        )
        assert code == 0
        yield out
    finally:
        use_settings(None)


def test_card_figures_equal_metrics_json(run: Path) -> None:
    metrics = json.loads((run / "metrics.json").read_text())
    card = (run / "model_card.md").read_text()
    assert (run / "model_card.html").is_file()
    summary = metrics["models"]["lightgbm"]
    performance = _rows(card, "| model | metric | mean |")
    seen = set()
    for model, metric, mean, std, _interval in performance:
        figures = metrics["models"][model]
        assert _close(mean, figures[metric]), (metric, mean, figures[metric])
        assert _close(std, figures[f"{metric}_std"]), (metric, std)
        seen.add(metric)
    assert seen == {"auc", "gini", "ks", "brier", "pr_auc", "ece"}
    energy = _rows(card, "| model | kWh per CV fit |")[0]
    keys = [
        "energy_kwh",
        "co2_kg",
        "final_energy_kwh",
        "tuning_trials",
        "tuning_kwh",
        "total_energy_kwh",
        "total_co2_kg",
        "energy_kwh_per_1k_predictions",
    ]
    for text, key in zip(energy[1:], keys, strict=True):
        value = summary[key]
        assert text == str(value) if isinstance(value, int) else _close(text, value), key
    assert metrics["dataset"]["sha256"] in card
    assert summary["energy_method"] in card
    fairness = metrics["fairness"]["attributes"]
    for row in _rows(card, "| attribute | parity gap |"):
        attribute = row[0].strip("`")
        assert _close(row[1], fairness[attribute]["demographic_parity_difference"])
        assert _close(row[4], fairness[attribute]["equalized_odds_difference"])
    assert {r[0].strip("`") for r in _rows(card, "| attribute | parity gap |")} == set(fairness)
    # The calibration the bundle carries: its map, and the rows it was fitted on (400 rows:
    # LightGBM's own internal-CV scores, no inner folds of the calibration step).
    calibration = metrics["calibration"]["lightgbm"]
    assert calibration["method"] in {"platt", "beta", "isotonic"}
    assert calibration["fitted_on"].startswith("the model's own out-of-fold scores")
    assert (
        f"Calibration method: {calibration['method']} (the bundle's last step" in card
        and f"fitted on {calibration['rows']} rows scored by {calibration['fitted_on']}" in card
    )


def test_card_group_figures_equal_performance_json(run: Path) -> None:
    perf = json.loads((run / "performance.json").read_text())["models"]["lightgbm"]
    card = (run / "model_card.md").read_text()
    rows = _rows(card, "| group | level | rows |")
    overall = rows[0]
    assert overall[2] == str(perf["overall"]["rows"]) == str(ROWS)
    assert _close(overall[4], perf["overall"]["auc"])
    low, high = perf["overall"]["auc_ci"]
    assert overall[5] == f"[{low:.4g}, {high:.4g}]" and low < perf["overall"]["auc"] < high
    protected = [r for r in rows if r[0].startswith("protected")]
    assert {r[0] for r in protected} >= {"protected `SEX`", "protected `MARRIAGE`"}
    for row in protected:
        column = re.search(r"`(.+)`", row[0]).group(1)  # type: ignore[union-attr]
        group = perf["protected_groups"][column][row[1]]
        assert row[2] == str(group["rows"])
        assert row[4] == ("n/a" if group["auc"] is None else f"{group['auc']:.4g}")


def test_train_attaches_the_card_to_its_mlflow_run(run: Path) -> None:
    from greenscore.config import get_settings
    from greenscore.tracking.mlflow_run import client_for

    metrics = json.loads((run / "metrics.json").read_text())
    run_id = metrics["tracking"]["run_id"]
    client = client_for(get_settings().tracking_uri)
    names = {Path(a.path).name for a in client.list_artifacts(run_id, "documentation")}
    assert {
        "model_card.md",
        "model_card.html",
        "sr11-7.md",
        "annex-iv.md",
        "performance.json",
        "lineage.json",
    } <= names
    local = client.download_artifacts(run_id, "documentation/model_card.md", str(run.parent))
    assert Path(local).read_text() == (run / "model_card.md").read_text()


def test_card_command_regenerates_with_the_run_id(run: Path, tmp_path: Path) -> None:
    assert _main("card", "-m", str(run / "model"), "-o", str(tmp_path)) == 0
    metrics = json.loads((run / "metrics.json").read_text())
    card = (tmp_path / "model_card.md").read_text()
    assert metrics["tracking"]["run_id"] in card
    assert "## Approvals" in card and "None recorded" in card
    (run / "card.yaml").write_text(
        "approvals:\n  - {role: model validation, name: R. Reviewer, date: 2026-12-03, "
        "decision: approved}\n"
    )
    assert _main("card", "-m", str(run), "-o", str(tmp_path)) == 0
    assert (
        "| model validation | R. Reviewer | 2026-12-03 | approved |"
        in (tmp_path / "model_card.md").read_text()
    )


def test_dossier_cites_evidence_by_hash(run: Path, tmp_path: Path) -> None:
    from greenscore.documentation.evidence import sha256_file

    assert _main("dossier", "-m", str(run), "-o", str(tmp_path)) == 0
    sr = (tmp_path / "sr11-7.md").read_text()
    annex = (tmp_path / "annex-iv.md").read_text()
    for heading in (
        "1. Conceptual soundness",
        "2. Data",
        "3. Outcomes analysis",
        "4. Ongoing monitoring",
    ):
        assert f"## {heading}" in sr
    assert "Annex III, point 5(b)" in annex and "## 8. Post-market monitoring plan" in annex
    digest = sha256_file(run / "metrics.json")[:16]
    assert digest in sr and digest in annex
    assert "| before and at training | 1.." in sr  # the audit log's range at training


def test_the_run_folders_dossier_cites_the_metrics_json_train_left(run: Path) -> None:
    from greenscore.data.loading import sha256_file

    digest = sha256_file(run / "metrics.json")[:16]
    assert digest in (run / "sr11-7.md").read_text()
    assert digest in (run / "annex-iv.md").read_text()


def test_card_refuses_a_folder_that_is_not_a_run(tmp_path: Path, capsys) -> None:
    assert _main("card", "-m", str(tmp_path)) == 2
    assert "no metrics.json" in capsys.readouterr().err
