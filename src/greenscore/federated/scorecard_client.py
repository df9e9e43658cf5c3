"""What a lender computes for the federated scorecard: shares, histograms, moments, gradients.

Every task returns per-row means (so the federation's row-weighted mean is the pooled
figure) and the lender's row count, and reads only the lender's training rows after the
shared feature steps. The server's side is :mod:`greenscore.federated.scorecard_server`.

- ``sc-cdf``: per numeric characteristic, the share of rows at or below each threshold
  the server asks about, and the share missing;
- ``sc-hist``: per characteristic, the share of rows that are (non-default, default) in
  each candidate bin (numeric) or level (categorical), Missing last;
- ``sc-woe``: mean WoE and mean WoE cross-products of the characteristics still in play;
- ``sc-newton``: gradient, Hessian and log loss of the logistic regression of default on
  WoE at the server's coefficients (intercept first);
- ``sc-eval``: histograms of the scorecard's PDs on the lender's validation rows.
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pandas as pd

from greenscore.federated.scorecard_model import WoeMap, _key, woe_frame

TASKS = ("sc-cdf", "sc-hist", "sc-woe", "sc-newton", "sc-eval")
ERR_TASK = "unknown scorecard task '{task}'"


def _maps(config: dict[str, Any]) -> dict[str, WoeMap]:
    return {name: WoeMap(**data) for name, data in json.loads(str(config["maps"])).items()}


def cdf_shares(frame: pd.DataFrame, thresholds: dict[str, list[float]]) -> np.ndarray:
    """Per column: share of rows ``<= t`` for each threshold, then the share missing."""
    n = max(len(frame), 1)
    parts: list[np.ndarray] = []
    for column, points in thresholds.items():
        x = pd.to_numeric(frame[column], errors="coerce").to_numpy(dtype=float)
        finite = np.sort(x[np.isfinite(x)])
        below = np.searchsorted(finite, np.asarray(points, dtype=float), side="right")
        parts.append(below / n)
        parts.append(np.asarray([(len(x) - finite.size) / n]))
    return np.concatenate(parts) if parts else np.zeros(0)


def histogram_shares(
    frame: pd.DataFrame,
    y: np.ndarray,
    *,
    splits: dict[str, list[float]],
    vocab: dict[str, list[str]],
) -> np.ndarray:
    """Per characteristic and bin (Missing last): shares of (non-default, default) rows."""
    n = max(len(frame), 1)
    parts: list[np.ndarray] = []
    for column, points in splits.items():
        x = pd.to_numeric(frame[column], errors="coerce").to_numpy(dtype=float)
        bins = np.where(
            np.isfinite(x),
            np.digitize(x, np.asarray(points, dtype=float), right=False),
            len(points) + 1,
        )
        parts.append(_class_counts(bins, y, len(points) + 2) / n)
    for column, levels in vocab.items():
        parts.append(_class_counts(_level_bins(frame[column], levels), y, len(levels) + 1) / n)
    return np.concatenate(parts) if parts else np.zeros(0)


def _level_bins(values: pd.Series, levels: list[str]) -> np.ndarray:
    """Position of each value's level in ``levels``; ``len(levels)`` for missing or unseen."""
    lookup = {level: i for i, level in enumerate(levels)}
    other = len(levels)
    return np.fromiter(
        (other if pd.isna(v) else lookup.get(_key(v), other) for v in values.astype(object)),
        dtype=int,
        count=len(values),
    )


def _class_counts(bins: np.ndarray, y: np.ndarray, size: int) -> np.ndarray:
    good = np.bincount(bins[y == 0], minlength=size)[:size]
    bad = np.bincount(bins[y == 1], minlength=size)[:size]
    return np.column_stack([good, bad]).ravel().astype(float)


def woe_moments(frame: pd.DataFrame, maps: dict[str, WoeMap], columns: list[str]) -> np.ndarray:
    """Mean WoE ``[p]`` and mean cross-products ``[p * p]`` of ``columns``."""
    w = woe_frame(frame, maps, columns)
    n = max(len(frame), 1)
    return np.concatenate([w.sum(axis=0) / n, (w.T @ w).ravel() / n])


def newton_terms(
    frame: pd.DataFrame,
    y: np.ndarray,
    maps: dict[str, WoeMap],
    columns: list[str],
    beta: np.ndarray,
) -> np.ndarray:
    """Mean gradient ``[p + 1]``, mean Hessian ``[(p + 1)^2]`` and mean log loss ``[1]``.

    For the log-likelihood of default given ``[1, WoE]`` at ``beta`` (intercept first).
    """
    design = np.column_stack([np.ones(len(frame)), woe_frame(frame, maps, columns)])
    z = design @ beta
    p = 1.0 / (1.0 + np.exp(-z))
    n = max(len(frame), 1)
    gradient = design.T @ (y - p) / n
    hessian = (design * (p * (1 - p))[:, None]).T @ design / n
    loss = float(np.sum(np.logaddexp(0.0, z) - y * z) / n)
    return np.concatenate([gradient, hessian.ravel(), [loss]])


def secure_task(task: Any, name: str, config: dict[str, Any]) -> tuple[list[np.ndarray], int]:
    """Run one scorecard task for a lender (``task`` is a :class:`client_tasks.Task`)."""
    rows = task.rows
    if name == "sc-eval":
        from greenscore.federated.dnn_local import score_histograms

        maps = _maps(config)
        columns = json.loads(str(config["columns"]))
        beta = np.asarray(json.loads(str(config["beta"])), dtype=float)
        frame = task.frame("val")
        if len(frame) == 0:
            return [np.zeros(0)], 0
        z = beta[0] + woe_frame(frame, maps, columns) @ beta[1:]
        pos, neg = score_histograms(1.0 / (1.0 + np.exp(-z)), rows.y_val)
        # Counts over the lender's rows: the server's mean times total rows is the sum.
        return [np.concatenate([pos, neg]) / len(frame)], len(frame)
    frame = task.frame("train")
    y = rows.y_train
    if name == "sc-cdf":
        vector = cdf_shares(frame, json.loads(str(config["thresholds"])))
    elif name == "sc-hist":
        vector = histogram_shares(
            frame,
            y,
            splits=json.loads(str(config["splits"])),
            vocab=json.loads(str(config["vocab"])),
        )
    elif name == "sc-woe":
        vector = woe_moments(frame, _maps(config), json.loads(str(config["columns"])))
    elif name == "sc-newton":
        vector = newton_terms(
            frame,
            y,
            _maps(config),
            json.loads(str(config["columns"])),
            np.asarray(json.loads(str(config["beta"])), dtype=float),
        )
    else:
        raise ValueError(ERR_TASK.format(task=name))
    return [vector], len(y)
