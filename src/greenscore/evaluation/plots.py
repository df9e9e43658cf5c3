"""Plotly figures of model performance, for HTML reports and the dashboard.

Each function takes plain data (outcomes and PDs, or the tables of
:mod:`greenscore.evaluation.metrics`) and returns a ``plotly.graph_objects.Figure``;
nothing is written or shown here. Figures use no remote resources, so a report that
inlines plotly.js once can be opened offline.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from greenscore.errors import DataError
from greenscore.evaluation.metrics import (
    auc,
    calibration_curve,
    check_binary_scores,
    ks_curve,
)

_LAYOUT = {"template": "plotly_white", "margin": {"l": 60, "r": 30, "t": 60, "b": 50}}

# Conventional reading of information value in credit scoring (Siddiqi).
IV_BANDS: tuple[tuple[float, str, str], ...] = (
    (0.02, "not predictive", "#bdbdbd"),
    (0.1, "weak", "#9ecae1"),
    (0.3, "medium", "#4292c6"),
    (0.5, "strong", "#08519c"),
    (np.inf, "suspiciously strong", "#d94801"),
)


def _need(frame: pd.DataFrame, columns: list[str], what: str) -> None:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise DataError(f"{what} needs columns {missing}; got {list(frame.columns)}")


def roc_figure(models: Mapping[str, tuple[object, object]]) -> go.Figure:
    """ROC curves of one or more models, with AUC in the legend.

    Parameters
    ----------
    models : mapping of name to (y, p)
        Outcomes and PDs per model (each model may be scored on its own rows).
    """
    from sklearn.metrics import roc_curve

    if not models:
        raise DataError("roc_figure needs at least one model")
    fig = go.Figure()
    for name, (y, p) in models.items():
        y_arr, p_arr = check_binary_scores(y, p)
        fpr, tpr, _ = roc_curve(y_arr, p_arr)
        fig.add_trace(
            go.Scatter(x=fpr, y=tpr, mode="lines", name=f"{name} (AUC {auc(y_arr, p_arr):.3f})")
        )
    fig.add_trace(
        go.Scatter(
            x=[0, 1], y=[0, 1], mode="lines", name="random", line={"dash": "dot", "color": "grey"}
        )
    )
    fig.update_layout(
        title="ROC curve",
        xaxis_title="false positive rate (non-defaults flagged)",
        yaxis_title="true positive rate (defaults caught)",
        **_LAYOUT,
    )
    return fig


def ks_figure(y: object, p: object) -> go.Figure:
    """Cumulative shares of defaults and non-defaults by PD cut-off, KS marked."""
    curve = ks_curve(y, p).iloc[1:]  # drop the (inf, 0, 0) anchor: it cannot be drawn
    best = curve.loc[curve["separation"].idxmax()]
    fig = go.Figure()
    fig.add_trace(go.Scatter(x=curve["threshold"], y=curve["tpr"], name="defaults"))
    fig.add_trace(go.Scatter(x=curve["threshold"], y=curve["fpr"], name="non-defaults"))
    fig.add_trace(
        go.Scatter(
            x=[best["threshold"], best["threshold"]],
            y=[best["fpr"], best["tpr"]],
            mode="lines+markers",
            name=f"KS {best['separation']:.3f} at PD {best['threshold']:.3f}",
            line={"color": "black", "dash": "dash"},
        )
    )
    fig.update_layout(
        title="Kolmogorov-Smirnov separation",
        xaxis_title="PD cut-off (rows at or above are flagged)",
        yaxis_title="cumulative share flagged",
        xaxis={"autorange": "reversed"},
        **_LAYOUT,
    )
    return fig


def calibration_figure(models: Mapping[str, tuple[object, object]], n_bins: int = 10) -> go.Figure:
    """Observed default rate against mean PD per bin, for one or more models."""
    if not models:
        raise DataError("calibration_figure needs at least one model")
    fig = go.Figure()
    for name, (y, p) in models.items():
        curve = calibration_curve(y, p, n_bins)
        fig.add_trace(
            go.Scatter(
                x=curve["mean_predicted"],
                y=curve["observed_rate"],
                mode="lines+markers",
                name=name,
                customdata=curve["count"],
                hovertemplate="PD %{x:.3f}<br>observed %{y:.3f}<br>rows %{customdata}",
            )
        )
    fig.add_trace(
        go.Scatter(
            x=[0, 1], y=[0, 1], mode="lines", name="perfect", line={"dash": "dot", "color": "grey"}
        )
    )
    fig.update_layout(
        title="Calibration",
        xaxis_title="mean predicted PD",
        yaxis_title="observed default rate",
        **_LAYOUT,
    )
    return fig


def importance_figure(
    importance: pd.DataFrame,
    *,
    feature: str = "feature",
    value: str = "importance",
    top: int = 20,
) -> go.Figure:
    """Horizontal bars of the ``top`` most important features, largest on top.

    Parameters
    ----------
    importance : DataFrame
        One row per feature with a name column and a value column (e.g. mean |SHAP|).
    feature, value : str
        Names of those columns.
    top : int
        How many features to show (by absolute value).
    """
    _need(importance, [feature, value], "importance_figure")
    shown = importance.assign(_abs=importance[value].abs()).nlargest(top, "_abs")
    shown = shown.iloc[::-1]  # plotly draws the first bar at the bottom
    fig = go.Figure(go.Bar(x=shown[value], y=shown[feature].astype(str), orientation="h"))
    fig.update_layout(
        title="Feature importance",
        xaxis_title=value,
        height=max(300, 24 * len(shown) + 120),
        **_LAYOUT,
    )
    return fig


def iv_figure(iv_table: pd.DataFrame, *, top: int = 30) -> go.Figure:
    """Information value per feature, coloured by the conventional strength bands.

    Parameters
    ----------
    iv_table : DataFrame
        A ``feature`` (or optbinning's ``name``) column and an ``iv`` column.
    top : int
        How many features to show, highest IV first.
    """
    name_col = "feature" if "feature" in iv_table.columns else "name"
    _need(iv_table, [name_col, "iv"], "iv_figure")
    shown = iv_table.nlargest(top, "iv").iloc[::-1]
    labels, colours = [], []
    for iv in shown["iv"].astype(float):
        label, colour = next((lab, col) for cut, lab, col in IV_BANDS if iv < cut)
        labels.append(label)
        colours.append(colour)
    fig = go.Figure(
        go.Bar(
            x=shown["iv"],
            y=shown[name_col].astype(str),
            orientation="h",
            marker_color=colours,
            customdata=labels,
            hovertemplate="%{y}: IV %{x:.3f} (%{customdata})<extra></extra>",
        )
    )
    fig.update_layout(
        title="Information value",
        xaxis_title="IV",
        height=max(300, 24 * len(shown) + 120),
        **_LAYOUT,
    )
    return fig


def score_band_figure(table: pd.DataFrame) -> go.Figure:
    """Rows per score band (bars) and the band's default rate (line, right axis).

    Parameters
    ----------
    table : DataFrame
        The output of :func:`greenscore.evaluation.metrics.score_band_table`.
    """
    _need(table, ["band", "count", "bad_rate", "min_score", "max_score"], "score_band_figure")
    labels = [
        f"{int(b)}: {lo:.3g}–{hi:.3g}"
        for b, lo, hi in zip(table["band"], table["min_score"], table["max_score"], strict=True)
    ]
    fig = go.Figure()
    fig.add_trace(go.Bar(x=labels, y=table["count"], name="rows", marker_color="#9ecae1"))
    fig.add_trace(
        go.Scatter(
            x=labels,
            y=table["bad_rate"],
            name="default rate",
            mode="lines+markers",
            yaxis="y2",
            line={"color": "#d94801"},
        )
    )
    fig.update_layout(
        title="Score bands (1 = riskiest)",
        xaxis_title="band: score range",
        yaxis={"title": "rows"},
        yaxis2={"title": "default rate", "overlaying": "y", "side": "right", "tickformat": ".0%"},
        **_LAYOUT,
    )
    return fig
