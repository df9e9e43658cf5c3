"""The synthetic-data quality report: ``quality.json`` and ``quality.html``.

The three families of :mod:`greenscore.data.synthesize.quality`, each with its headline
figure first: fidelity (column shapes, pair trends), privacy (distance to closest record
against the hold-out baseline, membership-inference AUC, exact copies) and utility (train
on synthetic, test on real, against train on real). Plots are Plotly, inlined once.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from greenscore.data.synthesize.quality import fidelity, privacy, utility
from greenscore.data.synthesize.synthesizer import SynthesisResult, quality_inputs
from greenscore.json_document import plain, write_json

HTML_FILE = "quality.html"
JSON_FILE = "quality.json"
NEEDS_HOLDOUT = "a quality report needs the rows held out when synthesising (hold_out=True)"
#: TSTR must reach this share of TRTR AUC for the report's utility verdict to pass.
UTILITY_RATIO = 0.9


def assess(result: SynthesisResult) -> dict[str, Any]:
    """All three families of quality measures for one synthesis run."""
    if result.holdout is None:
        raise ValueError(NEEDS_HOLDOUT)
    inputs = quality_inputs(result)
    useful = utility(
        result.train,
        result.holdout,
        result.frame,
        result.layout,
        target=result.spec.target,
        y=inputs["y"],
        features=inputs["features"],
        seed=result.seed,
    )
    useful["passes"] = bool(useful["ratio"] >= UTILITY_RATIO)
    useful["threshold"] = UTILITY_RATIO
    return {
        "run": result.summary(),
        "fidelity": fidelity(result.train, result.frame, result.layout),
        "privacy": privacy(
            result.train, result.holdout, result.frame, result.layout, seed=result.seed
        ),
        "utility": useful,
    }


def write_quality_report(report: dict[str, Any], out_dir: Path) -> dict[str, Path]:
    """Write ``quality.json`` and ``quality.html`` into ``out_dir`` (created)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    data = plain(report)
    json_path, html_path = out_dir / JSON_FILE, out_dir / HTML_FILE
    write_json(json_path, data)
    _render(data).write(html_path)
    return {"json": json_path, "html": html_path}


def _render(data: dict[str, Any]) -> Any:
    import plotly.graph_objects as go

    from greenscore.evaluation.report import HtmlReport

    run, fid, priv, use = data["run"], data["fidelity"], data["privacy"], data["utility"]
    report = HtmlReport(f"Synthetic data quality: {run['method']}, {run['rows']} rows")
    report.add_text(
        f"Learnt from {run['fit_rows']} real rows ({run['holdout_rows']} held out for this "
        f"report) in {run['seconds']} s, seed {run['seed']}. PII columns are Faker values "
        f"({', '.join(f'{k}: {v}' for k, v in run['pii_generated'].items()) or 'none'}); "
        f"ids are new; left out: {', '.join(run['left_out']) or 'nothing'}. Synthetic rows "
        f"equal to a real row, redrawn: {run['copies_replaced']}."
    )
    headline = pd.DataFrame(
        [
            {"family": "fidelity", "measure": "column shapes (mean)",
             "value": fid["column_shapes"]["score"]},
            {"family": "fidelity", "measure": "pair trends (mean)",
             "value": fid["pair_trends"]["score"]},
            {"family": "privacy", "measure": "median DCR, synthetic",
             "value": priv["dcr"]["synthetic_median"]},
            {"family": "privacy", "measure": "median DCR, real hold-out (baseline)",
             "value": priv["dcr"]["holdout_median"]},
            {"family": "privacy", "measure": "membership-inference AUC (0.5 = none)",
             "value": priv["membership_inference_auc"]},
            {"family": "privacy", "measure": "exact copies of a training row",
             "value": priv["exact_copies"]},
            {"family": "utility", "measure": "TRTR AUC", "value": use["trtr_auc"]},
            {"family": "utility", "measure": "TSTR AUC", "value": use["tstr_auc"]},
            {"family": "utility", "measure": f"TSTR / TRTR (passes at {use['threshold']})",
             "value": use["ratio"]},
        ]
    )  # fmt: skip
    report.add_heading("Summary").add_table(headline)

    report.add_heading("Fidelity")
    shapes = pd.DataFrame(fid["column_shapes"]["columns"])
    bars = go.Figure(go.Bar(x=shapes["column"], y=shapes["score"]))
    bars.update_layout(title="Column shapes (1 = identical marginals)", yaxis={"range": [0, 1]},
                       height=360)  # fmt: skip
    report.add_figure(bars).add_table(shapes)
    pairs = pd.DataFrame(fid["pair_trends"]["pairs"])
    if len(pairs):
        names = list(dict.fromkeys([*pairs["a"], *pairs["b"]]))
        position = {n: i for i, n in enumerate(names)}
        grid = np.full((len(names), len(names)), np.nan)
        for a, b, score in zip(pairs["a"], pairs["b"], pairs["score"], strict=True):
            grid[position[a], position[b]] = grid[position[b], position[a]] = score
        heat = go.Figure(go.Heatmap(z=grid, x=names, y=names, zmin=0, zmax=1, colorscale="Viridis"))
        heat.update_layout(title="Pair trends (1 = same correlation or contingency)",
                           height=max(420, 16 * len(names)))  # fmt: skip
        report.add_figure(heat)
        worst = pairs.sort_values("score").head(15)
        report.add_heading("Weakest pairs", level=3).add_table(worst)

    report.add_heading("Privacy")
    histogram = go.Figure()
    histogram.add_histogram(x=priv["dcr"]["holdout"], name="real hold-out", opacity=0.6,
                            histnorm="probability")  # fmt: skip
    histogram.add_histogram(x=priv["dcr"]["synthetic"], name="synthetic", opacity=0.6,
                            histnorm="probability")  # fmt: skip
    histogram.update_layout(barmode="overlay", height=360,
                            title="Distance to the closest real training row")  # fmt: skip
    report.add_figure(histogram)
    report.add_json({k: v for k, v in priv["dcr"].items() if k not in ("synthetic", "holdout")})
    report.add_text(
        f"Membership inference (distance to the nearest synthetic row): AUC "
        f"{priv['membership_inference_auc']:.3f} over {priv['rows_compared']['holdout']} "
        "training and as many hold-out rows."
    )

    report.add_heading("Utility")
    utility_bars = go.Figure(
        go.Bar(x=["train on real", "train on synthetic"], y=[use["trtr_auc"], use["tstr_auc"]])
    )
    utility_bars.update_layout(title=f"AUC on the real hold-out ({use['model']})", height=340,
                               yaxis={"range": [0.5, 1]})  # fmt: skip
    report.add_figure(utility_bars)
    verdict = "passes" if use["passes"] else "fails"
    report.add_text(
        f"TSTR/TRTR = {use['ratio']:.3f}: {verdict} the {use['threshold']} threshold. "
        f"Features: {', '.join(use['features'])}."
    )
    return report
