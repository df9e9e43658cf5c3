"""SHAP summary (beeswarm, bar) and waterfall plots written to PNG files.

The drawing is shap's own (``shap.plots``) on a non-interactive matplotlib backend, so
plots render on servers and in CI without a display.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from greenscore.errors import DataError
from greenscore.explain.shap_values import Explanation


def _pyplot():  # noqa: ANN202 - matplotlib's module
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    return plt


def summary_plot(
    explanation: Explanation,
    path: Path | str,
    *,
    kind: Literal["beeswarm", "bar"] = "beeswarm",
    max_display: int = 15,
) -> Path:
    """Draw the global summary of an explanation and save it.

    Parameters
    ----------
    explanation : Explanation
        Contributions of a batch of rows.
    path : path
        PNG file to write (folders are created).
    kind : {"beeswarm", "bar"}
        Beeswarm (one dot per row and feature) or mean-|SHAP| bars.
    max_display : int
        Features shown; the rest are summed into one line.

    Returns
    -------
    Path
        The file written.
    """
    import shap

    if len(explanation.values) == 0:
        raise DataError("nothing to plot: the explanation has no rows")
    plt = _pyplot()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    values = explanation.to_shap()
    plt.figure()
    if kind == "beeswarm":
        shap.plots.beeswarm(values, max_display=max_display, show=False)
    elif kind == "bar":
        shap.plots.bar(values, max_display=max_display, show=False)
    else:
        raise DataError(f"unknown summary plot kind '{kind}': expected beeswarm or bar")
    plt.title(f"SHAP {kind} (log-odds of default, {explanation.method})")
    plt.savefig(path, dpi=110, bbox_inches="tight")
    plt.close("all")
    return path


def waterfall_plot(
    explanation: Explanation, row: int, path: Path | str, *, max_display: int = 12
) -> Path:
    """Draw how one row's features move its log-odds from the base value, and save it.

    Parameters
    ----------
    explanation : Explanation
        Contributions of a batch of rows.
    row : int
        Position of the row in the explanation.
    path : path
        PNG file to write.
    max_display : int
        Features shown individually.

    Returns
    -------
    Path
        The file written.
    """
    import shap

    if not 0 <= row < len(explanation.values):
        raise DataError(
            f"row {row} is out of range: the explanation has {len(explanation.values)} rows"
        )
    plt = _pyplot()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    plt.figure()
    shap.plots.waterfall(explanation.to_shap()[row], max_display=max_display, show=False)
    plt.title(f"Applicant {explanation.data.index[row]}: contributions to log-odds of default")
    plt.savefig(path, dpi=110, bbox_inches="tight")
    plt.close("all")
    return path
