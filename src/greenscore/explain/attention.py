"""Attention heatmaps: which months a sequence model looked at, which neighbours a GNN weighed.

Models expose their attention by duck typing, so this module works with any estimator
that has them:

- ``attention_weights(X) -> [n, T]``: per-month weights of a sequence model (the BiLSTM),
  calendar-aligned with the spec's monthly groups, oldest month first.
- ``attention_coefficients(X)``: neighbour weights of a graph model, as a dense
  ``[n, n]`` matrix, an ``(edge_index [2, E], weights [E] or [E, heads])`` pair, or a
  DataFrame with ``source``, ``target`` and ``weight`` columns.

``X`` is what the classifier sees: the output of the bundle's feature steps.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from greenscore.errors import DataError, ModelError
from greenscore.explain.feature_map import model_frame, select_model_input
from greenscore.models.bundle import ScoringBundle


def _pyplot():  # noqa: ANN202 - matplotlib's module
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    return plt


def has_sequence_attention(estimator: Any) -> bool:
    """Whether the classifier reports per-month attention."""
    return callable(getattr(estimator, "attention_weights", None))


def has_neighbour_attention(estimator: Any) -> bool:
    """Whether the classifier reports neighbour attention."""
    return callable(getattr(estimator, "attention_coefficients", None))


def month_labels(spec: Any, steps: int) -> list[str]:
    """Labels of the months, oldest first: the first sequence group's column suffixes."""
    for group in spec.sequences:
        if len(group.columns) == steps:
            prefix = os.path.commonprefix(group.columns)
            # Never cut inside a month number ("dpd_m01".."dpd_m06" share "dpd_m0").
            prefix = prefix.rstrip("0123456789")
            suffixes = [c[len(prefix) :] or c for c in group.columns]
            if len(set(suffixes)) == steps:
                return suffixes
    return [f"month {t + 1}" for t in range(steps)]


def sequence_attention(bundle: ScoringBundle, X: pd.DataFrame) -> pd.DataFrame:  # noqa: N803
    """Per-month attention of every applicant.

    Parameters
    ----------
    bundle : ScoringBundle
        A bundle whose classifier has ``attention_weights``.
    X : DataFrame
        Applicants (raw or model input).

    Returns
    -------
    DataFrame of shape (n_rows, T)
        Indexed like the model input; columns are month labels, oldest first.

    Raises
    ------
    ModelError
        If the classifier has no per-month attention or returns the wrong shape.
    """
    estimator = bundle.estimator
    if not has_sequence_attention(estimator):
        raise ModelError(f"{type(estimator).__name__} has no per-month attention")
    inputs = select_model_input(bundle, X)
    weights = np.asarray(estimator.attention_weights(model_frame(bundle, inputs)), dtype=float)
    if weights.ndim != 2 or len(weights) != len(inputs):
        raise ModelError(
            f"attention_weights returned shape {weights.shape}, expected ({len(inputs)}, T)"
        )
    return pd.DataFrame(
        weights, index=inputs.index, columns=month_labels(bundle.spec, weights.shape[1])
    )


def plot_sequence_attention(
    weights: pd.DataFrame, path: Path | str, *, max_rows: int = 40, title: str | None = None
) -> Path:
    """Heatmap of per-month attention (rows: applicants, columns: months) with the mean on top.

    Returns
    -------
    Path
        The PNG written.
    """
    if weights.empty:
        raise DataError("nothing to plot: no attention weights")
    plt = _pyplot()
    shown = weights.iloc[:max_rows]
    fig, (top, ax) = plt.subplots(
        2,
        1,
        figsize=(max(6, 0.5 * weights.shape[1] + 2), 2 + 0.22 * len(shown)),
        gridspec_kw={"height_ratios": [1, max(2, len(shown) / 6)]},
        sharex=True,
    )
    top.bar(range(weights.shape[1]), weights.mean(axis=0).to_numpy(), color="#2a7f62")
    top.set_ylabel("mean")
    image = ax.imshow(shown.to_numpy(), aspect="auto", cmap="viridis", vmin=0)
    ax.set_xticks(range(weights.shape[1]), [str(c) for c in weights.columns], rotation=45)
    ax.set_yticks(range(len(shown)), [str(i) for i in shown.index], fontsize=7)
    ax.set_xlabel("month (oldest first)")
    ax.set_ylabel("applicant")
    fig.colorbar(image, ax=ax, label="attention")
    top.set_title(title or "Per-month attention")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110, bbox_inches="tight")
    plt.close(fig)
    return path


def _edges(coefficients: Any, index: pd.Index) -> pd.DataFrame:
    """Normalise a model's neighbour attention to ``source, target, weight`` rows."""
    if isinstance(coefficients, pd.DataFrame):
        missing = {"source", "target", "weight"} - set(coefficients.columns)
        if missing:
            raise ModelError(f"attention_coefficients frame lacks columns {sorted(missing)}")
        return coefficients[["source", "target", "weight"]].reset_index(drop=True)
    if isinstance(coefficients, tuple) and len(coefficients) == 2:
        edge_index = np.asarray(coefficients[0])
        weights = np.asarray(coefficients[1], dtype=float)
        if weights.ndim == 2:
            weights = weights.mean(axis=1)  # several heads: their mean
        if edge_index.shape[0] != 2 or edge_index.shape[1] != len(weights):
            raise ModelError("attention_coefficients edge_index must be [2, E] with E weights")
        labels = np.asarray(index)

        def name(i: np.ndarray) -> np.ndarray:
            return labels[i] if len(labels) > int(i.max(initial=0)) else i

        return pd.DataFrame(
            {"source": name(edge_index[0]), "target": name(edge_index[1]), "weight": weights}
        )
    try:
        matrix = np.asarray(coefficients, dtype=float)
    except (TypeError, ValueError):
        matrix = np.empty(0)
    if matrix.ndim == 2 and matrix.shape[0] == matrix.shape[1] == len(index):
        rows, cols = np.nonzero(matrix)
        labels = np.asarray(index)
        return pd.DataFrame(
            {"source": labels[cols], "target": labels[rows], "weight": matrix[rows, cols]}
        )
    raise ModelError(f"cannot read attention_coefficients of type {type(coefficients).__name__}")


def neighbour_attention(bundle: ScoringBundle, X: pd.DataFrame) -> pd.DataFrame:  # noqa: N803
    """Neighbour attention of a graph model as ``source, target, weight`` rows.

    Raises
    ------
    ModelError
        If the classifier has no neighbour attention or returns an unknown form.
    """
    estimator = bundle.estimator
    if not has_neighbour_attention(estimator):
        raise ModelError(f"{type(estimator).__name__} has no neighbour attention")
    inputs = select_model_input(bundle, X)
    return _edges(estimator.attention_coefficients(model_frame(bundle, inputs)), inputs.index)


def plot_neighbour_attention(
    edges: pd.DataFrame, path: Path | str, *, max_nodes: int = 30, title: str | None = None
) -> Path:
    """Heatmap of attention among the most connected applicants (row: target, column: source).

    Returns
    -------
    Path
        The PNG written.
    """
    if edges.empty:
        raise DataError("nothing to plot: no neighbour attention")
    plt = _pyplot()
    degree = pd.concat([edges["source"], edges["target"]]).value_counts(sort=False)
    # Most connected first; ties by label so the picture is the same every time.
    ranked = sorted(degree.items(), key=lambda kv: (-kv[1], str(kv[0])))
    nodes = [node for node, _ in ranked[:max_nodes]]
    position = {node: i for i, node in enumerate(nodes)}
    matrix = np.full((len(nodes), len(nodes)), np.nan)
    kept = edges[edges["source"].isin(position) & edges["target"].isin(position)]
    for source, target, weight in kept.itertuples(index=False):
        matrix[position[target], position[source]] = weight
    fig, ax = plt.subplots(figsize=(2 + 0.3 * len(nodes), 1.5 + 0.3 * len(nodes)))
    image = ax.imshow(matrix, cmap="magma", vmin=0)
    ax.set_xticks(range(len(nodes)), [str(n) for n in nodes], rotation=90, fontsize=7)
    ax.set_yticks(range(len(nodes)), [str(n) for n in nodes], fontsize=7)
    ax.set_xlabel("neighbour (source)")
    ax.set_ylabel("applicant (target)")
    ax.set_title(title or "Neighbour attention")
    fig.colorbar(image, ax=ax, label="attention")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110, bbox_inches="tight")
    plt.close(fig)
    return path


def attention_report(bundle: ScoringBundle, X: pd.DataFrame, out_dir: Path | str) -> dict[str, str]:  # noqa: N803
    """Write whichever attention heatmaps the bundle's model supports.

    Returns
    -------
    dict
        ``{"sequence": path, "neighbour": path}`` for the plots written (empty if the
        model has no attention).
    """
    out_dir = Path(out_dir)
    written: dict[str, str] = {}
    if has_sequence_attention(bundle.estimator):
        weights = sequence_attention(bundle, X)
        weights.to_csv(out_dir / "attention_months.csv")
        written["sequence"] = str(
            plot_sequence_attention(weights, out_dir / "attention_months.png")
        )
    if has_neighbour_attention(bundle.estimator):
        edges = neighbour_attention(bundle, X)
        edges.to_csv(out_dir / "attention_neighbours.csv", index=False)
        written["neighbour"] = str(
            plot_neighbour_attention(edges, out_dir / "attention_neighbours.png")
        )
    return written
