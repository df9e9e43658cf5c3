"""The explanation report of a model on a file: what ``greenscore explain`` writes.

For the whole file: reason codes for every applicant (the batch path) and global SHAP
importance with beeswarm and bar plots. For the chosen rows: a SHAP waterfall, LIME's
instance explanation with its customer wording, and (for applicants not approved)
validated counterfactuals; for an ensemble, each member's weighted share of the reasons.
Attention heatmaps are added when the model has attention.
Everything lands in one folder with ``explanation.json`` as its index.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from greenscore.errors import DataError
from greenscore.explain.feature_map import select_model_input
from greenscore.json_document import plain, write_json
from greenscore.logging import get_logger
from greenscore.models.bundle import ScoringBundle
from greenscore.models.runtime import Encoded, ScoringRuntime

log = get_logger(__name__)

DEFAULT_ROWS = 3
#: Background applicants of a linear model's baseline and of sampled SHAP (seeded sample).
BACKGROUND_ROWS = 50
#: Contribution methods that sample the model (thousands of calls per explained row).
SAMPLED_METHODS = ("kernel", "permutation")
#: Largest contributions listed per ensemble member of an explained row.
MEMBER_TOP = 5
_SAFE = str.maketrans({c: "_" for c in r'\/:*?"<>| '})


def default_rows(decisions: np.ndarray, n: int = DEFAULT_ROWS) -> list[int]:
    """Positions to explain when none are given: the first declined applicants, else the first rows."""
    declined = np.flatnonzero(np.asarray(decisions) == "decline")[:n].tolist()
    return declined or list(range(min(n, len(decisions))))


def parse_rows(text: str | None, n_rows: int) -> list[int] | None:
    """Row positions from ``"0,5,9"`` (0-based); None when no text is given.

    Raises
    ------
    DataError
        If a position is not an integer or is outside the file.
    """
    if text is None or not text.strip():
        return None
    positions = []
    for part in text.split(","):
        try:
            position = int(part.strip())
        except ValueError:
            raise DataError(f"--rows: '{part.strip()}' is not a row number") from None
        if not 0 <= position < n_rows:
            raise DataError(f"--rows: row {position} is outside the file (0 to {n_rows - 1})")
        positions.append(position)
    return list(dict.fromkeys(positions))


def explain_report(
    bundle: ScoringBundle,
    frame: pd.DataFrame,
    out_dir: Path | str,
    *,
    rows: Sequence[int] | None = None,
    max_shap_rows: int = 1000,
    max_sampled_rows: int = 200,
    lime: bool = True,
    counterfactuals: bool = True,
    seed: int = 0,
) -> dict[str, Any]:
    """Explain a model on an applications file and write the results to a folder.

    Parameters
    ----------
    bundle : ScoringBundle
        The model.
    frame : DataFrame
        Raw applications (the target may be present; it is not used).
    out_dir : path
        Folder for ``explanation.json``, ``reason_codes.csv``, plots.
    rows : sequence of int, optional
        0-based positions explained in detail; default: the first declined applicants.
    max_shap_rows : int
        Rows (seeded sample) behind the global SHAP importance and plots.
    max_sampled_rows : int
        For models explained by sampled SHAP (kernel, permutation), rows given reason
        codes and behind the global plots (seeded sample); tree, linear and
        model-provided contributions cover the whole file.
    lime, counterfactuals : bool
        Whether to run LIME and DiCE on the chosen rows.
    seed : int
        Seed of every sampled step.

    Returns
    -------
    dict
        What ``explanation.json`` holds.
    """
    from greenscore.explain.attention import attention_report
    from greenscore.explain.reason_codes import ReasonCoder, reason_table
    from greenscore.explain.shap_plots import summary_plot, waterfall_plot
    from greenscore.explain.shap_values import contribution_backend, explain, sample_background

    if len(frame) == 0:
        raise DataError("no applicants to explain")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    inputs = select_model_input(bundle, frame)
    # One encoding of the file: the PDs, decisions and reasons all come from it.
    runtime = ScoringRuntime(
        bundle, background=sample_background(inputs, size=BACKGROUND_ROWS, seed=seed)
    )
    coder = ReasonCoder.from_bundle(
        bundle, runtime=runtime, reference=frame, background=frame, seed=seed
    )
    encoded, changed = coder.encode(frame)
    scored = runtime.scored(encoded)
    pd_, decisions, points = scored.probability, scored.decisions, scored.points
    chosen = list(rows) if rows is not None else default_rows(decisions)
    files: dict[str, Any] = {}

    notes: list[str] = []
    coded = np.arange(len(frame))
    if not coder.exact:
        notes.append(f"{coder.method} SHAP: reason codes are approximate (sampled SHAP)")
    if coder.method in SAMPLED_METHODS and len(frame) > max_sampled_rows:
        # Sampled SHAP costs thousands of model calls per row: code a seeded sample.
        coded = np.sort(
            np.random.default_rng(seed).choice(len(frame), max_sampled_rows, replace=False)
        )
        notes.append(
            f"{coder.method} SHAP: reason codes written for {max_sampled_rows} sampled rows of {len(frame)}"
        )
    coded_rows = coded.tolist()
    reasons = coder.explain(encoded.take(coded_rows), [changed[i] for i in coded_rows])
    by_row = dict(zip(coded_rows, reasons, strict=True))
    table = reason_table(reasons, coder.max_reasons, index=inputs.index[coded])
    table.insert(0, "decision", decisions[coded])
    table.insert(0, "score", np.round(points[coded], 1))
    table.insert(0, "probability_of_default", pd_[coded])
    table.to_csv(out / "reason_codes.csv")
    files["reason_codes"] = str(out / "reason_codes.csv")
    coder.table().to_csv(out / "reason_code_table.csv", index=False)
    files["reason_code_table"] = str(out / "reason_code_table.csv")

    backend = contribution_backend(
        bundle, background=frame, max_background=BACKGROUND_ROWS, seed=seed, runtime=runtime
    )
    limit = max_sampled_rows if backend.method in SAMPLED_METHODS else max_shap_rows
    sample = sample_background(frame, size=min(max_shap_rows, limit), seed=seed)
    global_expl = explain(bundle, sample, backend=backend)
    importance = global_expl.importance()
    importance.to_csv(out / "shap_importance.csv", header=True)
    files["shap_beeswarm"] = str(
        summary_plot(global_expl, out / "shap_beeswarm.png", kind="beeswarm")
    )
    files["shap_bar"] = str(summary_plot(global_expl, out / "shap_bar.png", kind="bar"))

    detail = explain(bundle, frame.iloc[chosen], backend=backend)
    lime_explainer = cf_explainer = None
    if lime and chosen:
        from greenscore.explain.lime_explain import TabularLime

        lime_explainer = TabularLime(
            bundle, sample_background(frame, size=2000, seed=seed), seed=seed
        )
    if counterfactuals and any(decisions[p] != "approve" for p in chosen):
        from greenscore.errors import ConfigError
        from greenscore.explain.counterfactuals import CounterfactualExplainer

        try:
            cf_explainer = CounterfactualExplainer(
                bundle, sample_background(frame, size=5000, seed=seed), seed=seed
            )
        except ConfigError as exc:  # dice-ml is an optional extra
            notes.append(str(exc))
    members = member_breakdown(runtime, encoded.take(chosen)) if runtime.has_members else None
    explained_rows = []
    for k, position in enumerate(chosen):
        applicant = frame.iloc[[position]]
        label = plain(inputs.index[position])
        name = str(label).translate(_SAFE)
        waterfall = waterfall_plot(detail, k, out / f"waterfall_{name}.png")
        order = np.argsort(-np.abs(detail.values[k]), kind="stable")[:10]
        entry: dict[str, Any] = {
            "row": position,
            "applicant_id": label,
            "probability_of_default": float(pd_[position]),
            "score": round(float(points[position]), 1),
            "decision": str(decisions[position]),
            "reason_codes": [
                r.to_dict()
                for r in (
                    by_row[position]
                    if position in by_row
                    else coder.explain(encoded.take([position]), [changed[position]])[0]
                )
            ],
            "shap": {
                "method": detail.method,
                "base_value": float(detail.base_values[k]),
                "top": {detail.feature_names[j]: float(detail.values[k, j]) for j in order},
                "waterfall": str(waterfall),
            },
        }
        if members is not None:
            entry["members"] = members[k]
        if lime_explainer is not None:
            entry["lime"] = lime_explainer.explain(applicant).to_dict()
        if cf_explainer is not None and decisions[position] != "approve":
            entry["counterfactuals"] = cf_explainer.explain(applicant).to_dict()
        explained_rows.append(entry)
    try:
        attention = attention_report(bundle, frame.iloc[: min(len(frame), 200)], out)
    except Exception as exc:  # noqa: BLE001 - attention is a bonus; the rest must still be written
        log.warning("attention heatmaps failed", extra={"error": repr(exc)})
        attention, notes = {}, [*notes, f"attention heatmaps failed: {exc}"]
    files.update({f"attention_{k}": v for k, v in attention.items()})
    report = {
        "model": bundle.model_name,
        "model_version": bundle.version,
        "id_column": bundle.spec.id_column,
        "applicants": int(len(frame)),
        "decisions": {
            str(k): int(v) for k, v in zip(*np.unique(decisions, return_counts=True), strict=True)
        },
        "shap_method": global_expl.method,
        "shap_rows": int(len(sample)),
        "global_importance": {k: float(v) for k, v in importance.head(20).items()},
        "rows": explained_rows,
        "files": files,
        "notes": notes,
    }
    write_json(out / "explanation.json", report)
    return report


def member_breakdown(
    runtime: ScoringRuntime, encoded: Encoded, *, top: int = MEMBER_TOP
) -> list[list[dict[str, Any]]]:
    """Per applicant, each ensemble member's part of its explanation.

    For every weighted member: its weight, whether its contributions are exact, and its
    largest weighted contributions per model feature (log-odds, on the served scale:
    summed over the members they are the reason codes' contributions).
    """
    parts = runtime.member_contributions(encoded)
    features = list(runtime.model_features)
    out: list[list[dict[str, Any]]] = []
    for i in range(len(encoded)):
        row = []
        for part in parts:
            weighted = part.weight * part.values[i]
            order = np.argsort(-np.abs(weighted), kind="stable")[:top]
            row.append(
                {
                    "member": part.name,
                    "weight": float(part.weight),
                    "exact": bool(part.exact),
                    "method": part.method,
                    "contribution_sum": float(weighted.sum()),
                    "top": {features[j]: float(weighted[j]) for j in order},
                }
            )
        out.append(row)
    return out
