"""The fairness report of a model on a labelled file: what ``greenscore fairness`` writes.

``fairness.json`` (and ``fairness.html``) hold the by-group metrics of
:func:`greenscore.fairness.metrics.fairness_summary` and, when asked, the before/after
figures of the mitigation methods for one protected attribute.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from greenscore.errors import ConfigError
from greenscore.fairness.groups import group_column_name, resolve_attribute
from greenscore.fairness.metrics import fairness_summary
from greenscore.fairness.mitigation import METHODS, mitigation_report
from greenscore.json_document import write_json
from greenscore.models.bundle import ScoringBundle


def parse_methods(text: str | None) -> list[str]:
    """Mitigation methods from ``"all"`` or ``"reweighing,threshold_optimizer"`` (empty if None).

    Raises
    ------
    ConfigError
        If a name is not a known method.
    """
    if text is None or not text.strip():
        return []
    if text.strip() == "all":
        return list(METHODS)
    names = [t.strip().replace("-", "_") for t in text.split(",") if t.strip()]
    unknown = [n for n in names if n not in METHODS]
    if unknown:
        raise ConfigError(
            f"--mitigate: unknown method(s) {unknown}; choose from {list(METHODS)} or all"
        )
    return list(dict.fromkeys(names))


def mitigation_attribute(
    report: dict[str, Any], frame: pd.DataFrame, spec: Any, protected: Sequence[str]
) -> str:
    """The protected column to mitigate for: the flagged one with the largest parity gap.

    Falls back to the first protected attribute when none is flagged.
    """
    label_of = {group_column_name(p, spec, frame[p]): p for p in protected}
    flagged = [a for a in report["flagged"] if a in label_of]
    pool = flagged or [a for a in report["attributes"] if a in label_of]
    best = max(
        pool,
        key=lambda a: (report["attributes"][a]["demographic_parity_difference"] or 0.0, a),
    )
    return label_of[best]


def fairness_files(
    bundle: ScoringBundle,
    frame: pd.DataFrame,
    out_dir: Path | str,
    *,
    protected: Sequence[str] | None = None,
    mitigate: Sequence[str] = (),
    mitigate_for: str | None = None,
    n_boot: int = 200,
    seed: int = 0,
) -> dict[str, Any]:
    """Compute the fairness report (and mitigation) and write ``fairness.json`` / ``.html``.

    Parameters
    ----------
    bundle : ScoringBundle
        The model.
    frame : DataFrame
        Labelled raw applications with the protected columns.
    out_dir : path
        Output folder.
    protected : sequence of str, optional
        Attributes to assess (default: the spec's protected list).
    mitigate : sequence of str
        Mitigation methods to run (see :data:`METHODS`); none by default.
    mitigate_for : str, optional
        Attribute to mitigate for, as a column (``age``) or as the report names it
        (``age_band``); default: the flagged one with the largest gap.
    n_boot, seed : bootstrap resamples and seed of every random step.

    Returns
    -------
    dict
        The report written to ``fairness.json``.
    """
    from greenscore.fairness.html import fairness_html

    names = list(bundle.spec.protected if protected is None else protected)
    report = fairness_summary(bundle, frame, protected=names, n_boot=n_boot, seed=seed)
    if mitigate:
        attribute = (
            resolve_attribute(mitigate_for, frame, bundle.spec, names)
            if mitigate_for
            else mitigation_attribute(report, frame, bundle.spec, names)
        )
        report["mitigation"] = mitigation_report(
            bundle, frame, attribute=attribute, methods=list(mitigate), seed=seed
        )
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    write_json(out / "fairness.json", report)
    (out / "fairness.html").write_text(fairness_html(report), "utf-8")
    return report
