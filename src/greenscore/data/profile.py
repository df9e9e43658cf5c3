"""Profile a credit table: per-column statistics, missing values, distributions by outcome,
correlations and information value, written as one self-contained HTML page and JSON.

Lean on purpose: pandas for the numbers, Plotly for the charts (its JavaScript inlined
once per page, so the page opens offline), optbinning for information value. PII
columns are counted but their values are never shown.
"""

from __future__ import annotations

import html
import math
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from greenscore.data.loading import encode_target
from greenscore.data.spec import DatasetSpec
from greenscore.data.validation import validate
from greenscore.json_document import write_json

HTML_FILE = "profile.html"
JSON_FILE = "profile.json"
#: Histogram bins for numeric columns and levels shown for categorical ones.
BINS = 30
TOP_LEVELS = 20
#: At most this many numeric columns enter the correlation heatmap.
MAX_CORRELATION_COLUMNS = 40
#: Siddiqi's reading of information value, upper bounds.
IV_STRENGTH = ((0.02, "not predictive"), (0.1, "weak"), (0.3, "medium"), (0.5, "strong"))


def _kind(column: str, frame: pd.DataFrame, spec: DatasetSpec) -> str:
    kinds = {spec.target: "target", spec.id_column: "id", spec.time_column: "time"}
    if column in kinds:
        return kinds[column]
    for kind, members in (
        ("pii", spec.pii),
        ("dropped", spec.drop),
        ("derived", spec.derived_names),
        ("categorical", spec.categorical),
        ("numeric", [*spec.numeric, *spec.sequence_columns]),
    ):
        if column in members:
            return kind
    series = frame[column]
    numeric = pd.api.types.is_numeric_dtype(series) and not pd.api.types.is_bool_dtype(series)
    return "numeric" if numeric else "categorical"


def _num(value: Any) -> float | None:
    """A float for JSON: None for NaN/inf."""
    value = float(value)
    return value if math.isfinite(value) else None


def _numeric_stats(values: pd.Series, y: np.ndarray | None) -> dict[str, Any]:
    known = values.dropna()
    stats: dict[str, Any] = {"non_numeric": 0}
    if known.empty:
        return stats
    q = known.quantile([0.01, 0.25, 0.5, 0.75, 0.99])
    stats.update(
        mean=_num(known.mean()),
        std=_num(known.std()) if len(known) > 1 else None,
        min=_num(known.min()),
        p01=_num(q[0.01]),
        p25=_num(q[0.25]),
        median=_num(q[0.5]),
        p75=_num(q[0.75]),
        p99=_num(q[0.99]),
        max=_num(known.max()),
        zeros=int((known == 0).sum()),
        negatives=int((known < 0).sum()),
    )
    finite = known[np.isfinite(known)]
    if finite.nunique() > 1:
        counts, edges = np.histogram(finite, bins=min(BINS, int(finite.nunique())))
        stats["histogram"] = {"edges": [float(e) for e in edges], "counts": counts.tolist()}
        if y is not None:
            mask = values.notna().to_numpy() & np.isfinite(
                values.to_numpy(dtype=float, na_value=np.nan)
            )
            bad, _ = np.histogram(values.to_numpy(dtype=float)[mask & (y == 1)], bins=edges)
            stats["histogram"]["defaults"] = bad.tolist()
    return stats


def _categorical_stats(values: pd.Series, y: np.ndarray | None) -> dict[str, Any]:
    text = values.astype("string")
    counts = text.value_counts(dropna=True)
    top = counts.head(TOP_LEVELS)
    levels = [{"level": str(level), "count": int(n)} for level, n in top.items()]
    if y is not None and len(top):
        rates = pd.Series(y).groupby(text.to_numpy()).mean()
        for entry in levels:
            entry["default_rate"] = _num(rates.get(entry["level"], np.nan))
    return {"levels": levels, "other_levels": int(max(len(counts) - TOP_LEVELS, 0))}


def _information_value(values: pd.Series, y: np.ndarray, kind: str) -> float | None:
    """IV of one column against the target, from optbinning's optimal binning."""
    from optbinning import OptimalBinning

    if kind == "numeric":
        x = pd.to_numeric(values, errors="coerce").to_numpy(dtype=float)
        dtype = "numerical"
    else:
        x = values.astype("string").astype(object).where(values.notna(), np.nan).to_numpy()
        dtype = "categorical"
    if pd.Series(x).nunique(dropna=True) < 2:
        return 0.0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        binning = OptimalBinning(name=str(values.name), dtype=dtype, max_n_prebins=10)
        binning.fit(x, y)
        iv = binning.binning_table.build()["IV"].iloc[-1]
    return _num(iv)


def _strength(iv: float | None) -> str:
    if iv is None:
        return "unknown"
    for bound, label in IV_STRENGTH:
        if iv < bound:
            return label
    return "suspiciously strong"


def _target(frame: pd.DataFrame, spec: DatasetSpec) -> tuple[np.ndarray | None, pd.Series]:
    """0/1 target on rows where it is known, and the mask of those rows."""
    if spec.target not in frame.columns:
        return None, pd.Series(True, index=frame.index)
    known = frame[spec.target].notna()
    values = frame.loc[known, spec.target]
    if values.astype(str).str.strip().nunique() != 2:
        return None, known
    y = encode_target(values, spec)
    return (y if 0 < y.sum() < len(y) else None), known


def _correlation(
    frame: pd.DataFrame, columns: list[str], y: np.ndarray | None, target: str
) -> dict[str, Any]:
    if not columns:
        return {"columns": [], "matrix": []}
    numeric = pd.DataFrame({c: pd.to_numeric(frame[c], errors="coerce") for c in columns})
    numeric = numeric.loc[:, numeric.std(numeric_only=True) > 0]
    if numeric.shape[1] > MAX_CORRELATION_COLUMNS:
        numeric = numeric.iloc[:, :MAX_CORRELATION_COLUMNS]
    if y is not None:
        numeric[target] = y
    matrix = numeric.corr(method="pearson")
    return {
        "columns": list(matrix.columns),
        "matrix": [[_num(v) for v in row] for row in matrix.to_numpy()],
    }


def profile(frame: pd.DataFrame, spec: DatasetSpec, out_dir: Path | str) -> dict[str, Any]:
    """Profile ``frame`` and write ``profile.html`` and ``profile.json`` into ``out_dir``.

    Parameters
    ----------
    frame : pandas.DataFrame
        The table as read (target in its original labels).
    spec : DatasetSpec
        What the columns mean; PII values are never shown.
    out_dir : path
        Folder to write into (created if needed).

    Returns
    -------
    dict
        The profile: ``overview``, ``columns`` (per-column statistics),
        ``information_value``, ``correlation``, ``findings`` (validation) and ``files``.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    frame = frame.rename(columns=str)
    y_known, known = _target(frame, spec)
    # The target per row as 0/1, NaN where it is unknown (so rates and counts skip those).
    y_full: np.ndarray | None = None
    if y_known is not None:
        y_full = np.full(len(frame), np.nan)
        y_full[known.to_numpy()] = y_known

    columns: dict[str, dict[str, Any]] = {}
    information: list[dict[str, Any]] = []
    numeric_columns: list[str] = []
    for column in frame.columns:
        series = frame[column]
        kind = _kind(column, frame, spec)
        missing = int(series.isna().sum())
        try:
            unique = int(series.nunique(dropna=True))
        except TypeError:
            unique = int(series.astype(str).nunique(dropna=True))
        entry: dict[str, Any] = {
            "kind": kind,
            "dtype": str(series.dtype),
            "missing": missing,
            "missing_share": missing / len(frame) if len(frame) else 0.0,
            "unique": unique,
            "protected": column in spec.protected,
        }
        if kind == "numeric":
            numbers = pd.to_numeric(series, errors="coerce")
            entry.update(_numeric_stats(numbers, y_full))
            entry["non_numeric"] = int(numbers.isna().sum()) - missing
            numeric_columns.append(column)
        elif kind in {"categorical", "derived", "target"}:
            entry.update(_categorical_stats(series, y_full))
        if kind in {"numeric", "categorical"} and y_known is not None:
            try:
                iv = _information_value(series[known], y_known, kind)
            except (ValueError, TypeError) as exc:  # a column optbinning cannot bin
                iv, entry["iv_error"] = None, str(exc).splitlines()[0]
            entry["information_value"] = iv
            information.append(
                {
                    "column": column,
                    "iv": iv,
                    "strength": _strength(iv),
                    "protected": column in spec.protected,
                }
            )
        columns[column] = entry
    information.sort(key=lambda r: -1.0 if r["iv"] is None else r["iv"], reverse=True)

    report = validate(frame, spec)
    result: dict[str, Any] = {
        "overview": {
            "spec": spec.name,
            "rows": len(frame),
            "columns": frame.shape[1],
            "target": spec.target,
            "positive_label": spec.positive_label,
            "default_rate": _num(y_known.mean()) if y_known is not None else None,
            "missing_cells": int(frame.isna().sum().sum()),
            "errors": len(report.errors),
            "warnings": len(report.warnings),
        },
        "columns": columns,
        "information_value": information,
        "correlation": _correlation(frame, numeric_columns, y_full, spec.target),
        "findings": [f.to_dict() for f in report.findings],
    }
    html_path, json_path = out / HTML_FILE, out / JSON_FILE
    write_json(json_path, result)
    html_path.write_text(_render(result), encoding="utf-8")
    result["files"] = {"html": str(html_path), "json": str(json_path)}
    return result


# ---------------------------------------------------------------------- HTML
_CSS = """
body{font-family:system-ui,sans-serif;margin:2rem auto;max-width:1100px;color:#222}
table{border-collapse:collapse;margin:.5rem 0 1rem}td,th{border:1px solid #ddd;padding:.25rem .5rem;text-align:left}
th{background:#f4f6f4}.error{color:#b00020}.warning{color:#8a6d00}section{margin-bottom:2rem}
h2{border-bottom:2px solid #2e7d32;padding-bottom:.2rem}.muted{color:#777}
"""


def _table(rows: list[dict[str, Any]], keys: list[str]) -> str:
    head = "".join(f"<th>{html.escape(k)}</th>" for k in keys)
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(_fmt(r.get(k)))}</td>" for k in keys) + "</tr>"
        for r in rows
    )
    return f"<table><tr>{head}</tr>{body}</table>"


def _fmt(value: Any) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


class _Figures:
    """Renders Plotly figures, inlining plotly.js with the first one only."""

    def __init__(self) -> None:
        self.first = True

    def __call__(self, figure: Any) -> str:
        import plotly.io as pio

        figure.update_layout(margin={"l": 40, "r": 20, "t": 40, "b": 40}, height=320)
        text = pio.to_html(figure, full_html=False, include_plotlyjs=self.first)
        self.first = False
        return text


def _column_figure(name: str, entry: dict[str, Any]) -> Any:
    import plotly.graph_objects as go

    figure = go.Figure()
    histogram = entry.get("histogram")
    if histogram:
        edges = histogram["edges"]
        centres = [(a + b) / 2 for a, b in zip(edges[:-1], edges[1:], strict=True)]
        if "defaults" in histogram:
            good = [c - d for c, d in zip(histogram["counts"], histogram["defaults"], strict=True)]
            figure.add_bar(x=centres, y=good, name="non-default")
            figure.add_bar(x=centres, y=histogram["defaults"], name="default")
        else:
            figure.add_bar(x=centres, y=histogram["counts"], name="rows")
    elif entry.get("levels"):
        levels = entry["levels"]
        figure.add_bar(
            x=[lv["level"] for lv in levels], y=[lv["count"] for lv in levels], name="rows"
        )
        if levels and "default_rate" in levels[0]:
            figure.add_scatter(
                x=[lv["level"] for lv in levels],
                y=[lv["default_rate"] for lv in levels],
                name="default rate",
                yaxis="y2",
                mode="markers+lines",
            )
            figure.update_layout(yaxis2={"overlaying": "y", "side": "right", "range": [0, 1]})
    else:
        return None
    figure.update_layout(barmode="stack", title=name)
    return figure


def _render(result: dict[str, Any]) -> str:
    import plotly.graph_objects as go

    figures = _Figures()
    overview = result["overview"]
    parts = [f"<h1>Data profile: {html.escape(str(overview['spec']))}</h1>"]
    parts.append("<section><h2>Overview</h2>" + _table([overview], list(overview)) + "</section>")

    findings = result["findings"]
    body = (
        _table(findings, ["level", "rule", "column", "message"])
        if findings
        else "<p>No findings.</p>"
    )
    parts.append(f"<section><h2>Validation</h2>{body}</section>")

    columns = result["columns"]
    missing = go.Figure(go.Bar(x=list(columns), y=[c["missing_share"] for c in columns.values()]))
    missing.update_layout(title="Share of missing values", yaxis={"range": [0, 1]})
    parts.append(f"<section><h2>Missing values</h2>{figures(missing)}</section>")

    information = result["information_value"]
    if information:
        bars = go.Figure(
            go.Bar(x=[r["column"] for r in information], y=[r["iv"] for r in information])
        )
        bars.update_layout(title="Information value against the target (optimal binning)")
        parts.append(
            "<section><h2>Information value</h2>"
            + figures(bars)
            + _table(information, ["column", "iv", "strength", "protected"])
            + "</section>"
        )

    correlation = result["correlation"]
    if correlation["columns"]:
        heat = go.Figure(
            go.Heatmap(
                z=correlation["matrix"],
                x=correlation["columns"],
                y=correlation["columns"],
                zmin=-1,
                zmax=1,
                colorscale="RdBu",
            )
        )
        heat.update_layout(title="Pearson correlation", height=600)
        parts.append(f"<section><h2>Correlation</h2>{figures(heat)}</section>")

    parts.append("<section><h2>Columns</h2>")
    stat_keys = [
        "kind",
        "dtype",
        "missing",
        "unique",
        "mean",
        "std",
        "min",
        "median",
        "max",
        "information_value",
    ]
    for name, entry in columns.items():
        parts.append(f"<h3>{html.escape(name)}</h3>")
        parts.append(_table([entry], [k for k in stat_keys if k in entry]))
        if entry["kind"] == "pii":
            parts.append('<p class="muted">Personal data: values are not shown.</p>')
            continue
        figure = _column_figure(name, entry)
        if figure is not None:
            parts.append(figures(figure))
    parts.append("</section>")
    return (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        f"<title>GreenScore profile: {html.escape(str(overview['spec']))}</title>"
        f"<style>{_CSS}</style></head><body>{''.join(parts)}</body></html>"
    )
