"""A finished search as a Pareto front: its points, its knee, its JSON and its HTML plot.

**The front** is Optuna's: the completed, feasible trials no other such trial dominates
on all four objectives (``study.best_trials``; pruned and failed trials never enter it,
nor do trials whose decisions are all alike, see :mod:`.study`).

**The knee** is the front's compromise point: each objective is scaled over the front to
[0, 1] with 0 its best value there (``(v - best) / (worst - best)``; an objective that is
the same all along the front scales to 0), and the knee is the point nearest the
*utopia point* (every objective at its best, the origin after scaling) in Euclidean
distance. Equal distances go to the higher AUC, then the earlier trial. Scaling over the
front, not over every trial, keeps a dominated outlier (one very slow net) from squashing
the differences that matter between the candidates actually on offer.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from greenscore.models.search.objectives import DIRECTIONS, OBJECTIVES

#: Labels of the objectives in tables and plots.
LABELS = {
    "auc": "AUC",
    "p99_latency_ms": "p99 single-row latency (ms)",
    "kwh_per_1k": "energy per 1k predictions (kWh)",
    "fairness_gap": "fairness gap (decline-rate difference)",
}


def scaled(values: np.ndarray, directions: Sequence[str] = DIRECTIONS) -> np.ndarray:
    """Objectives scaled to [0, 1] over the given points, 0 at each one's best value."""
    values = np.asarray(values, dtype=float)
    out = np.zeros_like(values)
    for j, direction in enumerate(directions):
        column = values[:, j]
        best = column.max() if direction == "maximize" else column.min()
        worst = column.min() if direction == "maximize" else column.max()
        span = abs(worst - best)
        if span > 0:
            out[:, j] = np.abs(column - best) / span
    return out


def knee_index(
    values: np.ndarray, directions: Sequence[str] = DIRECTIONS, *, numbers: Sequence[int] = ()
) -> int:
    """Position of the knee among front points (see the module docstring).

    Parameters
    ----------
    values : array ``[n_points, n_objectives]``
        The front's objective values.
    directions : "maximize" or "minimize" per objective (the first is the AUC).
    numbers : trial numbers, to break remaining ties by the earlier trial.
    """
    values = np.asarray(values, dtype=float)
    if not len(values):
        raise ValueError("an empty front has no knee")
    distance = np.sqrt((scaled(values, directions) ** 2).sum(axis=1))
    order = list(numbers) if len(numbers) == len(values) else list(range(len(values)))
    return min(
        range(len(values)),
        key=lambda i: (round(float(distance[i]), 12), -values[i, 0], order[i]),
    )


def dominates(
    a: Sequence[float], b: Sequence[float], directions: Sequence[str] = DIRECTIONS
) -> bool:
    """Whether point ``a`` is at least as good as ``b`` everywhere and better somewhere."""
    better = False
    for x, y, direction in zip(a, b, directions, strict=True):
        if direction == "maximize":
            x, y = -x, -y
        if x > y:
            return False
        better |= x < y
    return better


def point(trial: Any) -> dict[str, Any]:
    """A trial of the study as a front point: objectives, candidate and measurements."""
    attrs = trial.user_attrs
    return {
        "trial": int(trial.number),
        "family": trial.params.get("family"),
        "candidate": attrs.get("candidate"),
        "objectives": dict(zip(OBJECTIVES, map(float, trial.values), strict=True)),
        "int8_friendly": attrs.get("int8_friendly"),
        "params": attrs.get("constructor", {}),
        "measured": attrs.get("measured", {}),
        "fit_seconds": attrs.get("fit_seconds"),
        "fit_kwh": attrs.get("fit_kwh"),
        "load_average": attrs.get("load_average"),
    }


def front(study: Any) -> tuple[list[dict[str, Any]], int | None]:
    """The study's Pareto front (highest AUC first) and the knee's position in it."""
    points = sorted((point(t) for t in study.best_trials), key=lambda p: -p["objectives"]["auc"])
    if not points:
        return [], None
    values = np.array([[p["objectives"][k] for k in OBJECTIVES] for p in points])
    return points, knee_index(values, numbers=[p["trial"] for p in points])


def write_html(path: Path, study: Any, points: list[dict[str, Any]], knee: int | None) -> Path:
    """One self-contained interactive page: the front in 3-D and all four objectives.

    The first plot is Optuna's ``plot_pareto_front`` over AUC, latency and energy (points
    on the four-objective front in one colour, dominated trials in another; hover shows a
    trial's parameters and all values). The second draws every front point as a line
    across the four objective axes, the knee highlighted. Plotly's script is embedded once,
    so the page opens offline.
    """
    import optuna
    import plotly.graph_objects as go

    names = [LABELS[k] for k in OBJECTIVES]
    parts: list[str] = []
    if points:
        cube = optuna.visualization.plot_pareto_front(
            study,
            targets=lambda t: (t.values[0], t.values[1], t.values[2]),
            target_names=names[:3],
        )
        cube.update_layout(
            title="Pareto front (four objectives; the fourth, the fairness gap, on hover)"
        )
        parts.append(cube.to_html(full_html=False, include_plotlyjs=True))
        highlight = [1.0 if i == knee else 0.0 for i in range(len(points))]
        lines = go.Figure(
            go.Parcoords(
                line={"color": highlight, "colorscale": [[0, "#9ab"], [1, "#d62728"]]},
                dimensions=[
                    {"label": LABELS[k], "values": [p["objectives"][k] for p in points]}
                    for k in OBJECTIVES
                ],
            )
        )
        label = points[knee]["candidate"] if knee is not None else "none"
        lines.update_layout(
            title=f"Front points across the four objectives (red: the knee, {label})"
        )
        parts.append(lines.to_html(full_html=False, include_plotlyjs=False))
    else:
        parts.append("<p>No trial completed: the front is empty.</p>")
    rows = "".join(
        "<tr>"
        + f"<td>{p['trial']}{' (knee)' if i == knee else ''}</td><td>{p['candidate']}</td>"
        + "".join(f"<td>{p['objectives'][k]:.6g}</td>" for k in OBJECTIVES)
        + "</tr>"
        for i, p in enumerate(points)
    )
    header = "".join(f"<th>{n}</th>" for n in ["trial", "candidate", *names])
    page = (
        "<!doctype html><html><head><meta charset='utf-8'><title>GreenScore search</title>"
        "</head><body><h1>Architecture search: Pareto front</h1>"
        + "".join(parts)
        + f"<table border='1' cellpadding='4'><tr>{header}</tr>{rows}</table></body></html>"
    )
    path.write_text(page, "utf-8")
    return path
