"""``greenscore demo``: the main job end to end on built-in synthetic data.

Generate applications, validate them, profile them, train the scorecard and LightGBM with
stratified 5-fold cross-validation (energy measured around every fit), print the summary,
explain a declined applicant with adverse-action reason codes, and say how to serve the
model. Writes ``summary.json`` in the output folder.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from greenscore.config import get_settings
from greenscore.json_document import write_json

Progress = Callable[[str, float], None]
DEMO_MODELS = ["scorecard", "lightgbm"]
DEMO_FOLDS = 5


def demo_steps(rows: int) -> int:
    """Units of progress the demo reports (for the progress bar's total)."""
    return 3 + len(DEMO_MODELS) * (DEMO_FOLDS + 1) + 1


def run_demo(
    *, rows: int, out: Path, seed: int | None = None, progress: Progress | None = None
) -> dict[str, Any]:
    """Run the demo and return the summary written to ``out/summary.json``."""
    from greenscore.data.profile import profile
    from greenscore.data.synthetic import write_synthetic
    from greenscore.workflows.load import load_validated
    from greenscore.workflows.train import TrainOptions, train

    progress = progress or (lambda _m, _a: None)
    seed = get_settings().seed if seed is None else seed
    out.mkdir(parents=True, exist_ok=True)
    paths = write_synthetic(out / "data", rows=rows, seed=seed)
    progress(f"generated {rows:,} applications", 1)
    dataset, warnings = load_validated(paths["applications"], preset="synthetic")
    progress(f"validated ({len(warnings)} warnings, 0 errors)", 1)
    profile(dataset.frame, dataset.spec, out / "profile")
    progress("profiled", 1)
    # Uncalibrated: calibrating fits the model on inner folds before its fit on all rows
    # (four to six times the fits, which put `make demo` past its 5 minutes). `train`
    # calibrates.
    options = TrainOptions(
        models=DEMO_MODELS, cv=DEMO_FOLDS, out=out / "train", seed=seed, calibrate=False
    )
    result = train(dataset, options, progress=progress)
    declined = _explain_declined(result, dataset)
    progress("explained a declined applicant", 1)
    summary = {
        "rows": int(len(dataset.frame)),
        "default_rate": result.metrics["dataset"]["default_rate"],
        "models": {
            name: {
                k: m[k]
                for k in (
                    "auc",
                    "auc_std",
                    "gini",
                    "ks",
                    "brier",
                    "ece",
                    "fit_seconds",
                    "energy_kwh",
                    "co2_kg",
                    "energy_method",
                    "energy_kwh_per_1k_predictions",
                )
            }
            for name, m in result.metrics["models"].items()
        },
        "best": result.best,
        "comparisons": result.metrics["comparisons"],
        "validation_warnings": warnings,
        "declined_applicant": declined,
        "paths": {
            "data": str(paths["applications"]),
            "profile": str(out / "profile" / "profile.html"),
            "metrics": str(out / "train" / "metrics.json"),
            "report": str(out / "train" / "report.html"),
            "model": str(out / "train" / "model"),
        },
        "tracking": result.metrics.get("tracking"),
    }
    write_json(out / "summary.json", summary)
    return summary


def _explain_declined(result: Any, dataset: Any) -> dict[str, Any] | None:
    """Reason codes for the riskiest applicant the best model declines."""
    from greenscore.explain.reason_codes import ReasonCoder

    bundle = result.results[result.best].bundle
    pd_ = bundle.predict_pd(dataset.X)
    decisions = bundle.decisions(pd_)
    declined = [i for i, d in enumerate(decisions) if d == "decline"]
    if not declined:
        return None
    row = max(declined, key=lambda i: pd_[i])
    codes = ReasonCoder.from_bundle(bundle).explain_one(dataset.X.iloc[[row]])
    return {
        "applicant_id": str(dataset.X.index[row]),
        "probability_of_default": float(pd_[row]),
        "score": float(bundle.points(pd_[row : row + 1])[0]),
        "decision": "decline",
        "reason_codes": [
            {
                "code": c.code,
                "feature": c.feature,
                "contribution": float(c.contribution),
                "text": c.text,
            }
            for c in codes
        ],
    }
