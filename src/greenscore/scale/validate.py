"""The validation rules of :mod:`greenscore.data.validation`, computed out of core.

Each partition is reduced on a worker to the few numbers a rule needs (counts, the first
offending row labels, the first distinct values, per-value class counts), and the client
combines them into the same :class:`~greenscore.data.validation.Finding` list, with the
same rule names and messages, that :func:`~greenscore.data.validation.validate` gives the
whole table in memory. Rules that compare rows with each other (repeated ids, duplicate
rows) take a second pass: the repeated keys are found by Dask's ``value_counts`` and only
those are looked up per partition. A leakage suspect's AUC is computed exactly from the
per-value counts of defaults and non-defaults (the Mann-Whitney form of the rank AUC
:mod:`~greenscore.data.validation` uses).

Memory: no process holds more than one partition, except the per-value class counts of
a numeric feature (one row per distinct value) and the repeated ids or rows.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from greenscore.config import get_settings
from greenscore.data import validation as v
from greenscore.data.cleaning import TEXT_AS_MISSING, clean_frame
from greenscore.data.loading import encode_target
from greenscore.data.spec import AGE_RANGE, DatasetSpec
from greenscore.scale.frames import LazyTable

_SHOWN = v.ROWS_SHOWN


def _first(labels: list[Any], more: pd.Index, limit: int = _SHOWN) -> list[Any]:
    if len(labels) >= limit:
        return labels
    return labels + [
        x.item() if isinstance(x, np.generic) else x for x in more[: limit - len(labels)]
    ]


def _ordered_union(parts: list[list[Any]], limit: int | None = None) -> list[Any]:
    out: dict[Any, None] = {}
    for values in parts:
        for value in values:
            out.setdefault(value, None)
            if limit is not None and len(out) >= limit:
                return list(out)
    return list(out)


def _known_target(values: pd.Series) -> pd.Series:
    known = values[values.notna()]
    if not (pd.api.types.is_numeric_dtype(known) or pd.api.types.is_bool_dtype(known)):
        known = known.astype(str).str.strip()
    return known


def _clean(part: pd.DataFrame, spec: DatasetSpec, text_columns: set[str]) -> pd.DataFrame:
    """A partition cleaned as :func:`load_dataset` cleans a whole table.

    A numeric column holding an unreadable value anywhere stays text in every partition,
    as it would in the whole table.
    """
    cleaned = clean_frame(part, spec, strict=False).rename(columns=str)
    for column in text_columns & set(cleaned.columns):
        if pd.api.types.is_numeric_dtype(cleaned[column]):
            raw = part.rename(columns=str)
            if column in raw.columns:
                cleaned[column] = raw[column]
    return cleaned


def _unreadable(part: pd.DataFrame, spec: DatasetSpec) -> list[str]:
    cleaned = clean_frame(part, spec, strict=False).rename(columns=str)
    numeric = [*spec.numeric, *spec.sequence_columns]
    return [
        c
        for c in dict.fromkeys(numeric)
        if c in cleaned.columns and not pd.api.types.is_numeric_dtype(cleaned[c])
    ]


def _stats(part: pd.DataFrame, spec: DatasetSpec, text_columns: set[str]) -> dict[str, Any]:
    """Everything the row-local rules need from one partition."""
    frame = _clean(part, spec, text_columns)
    text_found = frame.attrs.get(TEXT_AS_MISSING) or {}  # the cleaning's, kept by _clean
    numeric_declared = [
        c for c in dict.fromkeys([*spec.numeric, *spec.sequence_columns]) if c in frame.columns
    ]
    cleaned = v._without_placeholders(frame, numeric_declared)
    numbers = {c: pd.to_numeric(cleaned[c], errors="coerce") for c in numeric_declared}
    for column in frame.columns:
        if column not in numbers and pd.api.types.is_numeric_dtype(frame[column]):
            if not pd.api.types.is_bool_dtype(frame[column]):
                numbers[column] = frame[column]
    out: dict[str, Any] = {"n": len(frame), "text_found": text_found, "not_numeric": {}}
    for column in [*numeric_declared]:
        values = cleaned[column]
        bad = values.notna() & pd.to_numeric(values, errors="coerce").isna()
        if bad.any():
            out["not_numeric"][column] = (
                int(bad.sum()),
                _first([], frame.index[bad.to_numpy()]),
                list(pd.unique(values[bad]))[:3],
            )
    target = spec.target
    y = None
    if target in frame.columns:
        values = frame[target]
        missing = values.isna()
        known = _known_target(values)
        out["target"] = (int(missing.sum()), _first([], frame.index[missing.to_numpy()]))
        out["target_levels"] = list(pd.unique(known))[:7]
        levels = set(pd.unique(known))
        y = np.full(len(frame), np.nan)
        if len(levels) <= 2 and not missing.all():
            y[~missing.to_numpy()] = encode_target(values[~missing], spec)
        out["positives"] = float(np.nansum(y))
    if spec.id_column and spec.id_column in frame.columns:
        ids = frame[spec.id_column]
        out["id_null"] = (int(ids.isna().sum()), _first([], frame.index[ids.isna().to_numpy()]))
    seq = {}
    for group in spec.sequences:
        if all(c in frame.columns for c in group.columns):
            gaps = np.column_stack([numbers[c].isna().to_numpy() for c in group.columns])
            seen = np.logical_or.accumulate(~gaps, axis=1)
            bad = (gaps[:, 1:] & seen[:, :-1]).any(axis=1)
            seq[group.name] = (int(bad.sum()), _first([], frame.index[bad]))
    out["sequences"] = seq
    out["missing"] = {c: int(x) for c, x in cleaned.isna().sum().items()}
    firsts = {}
    for column in cleaned.columns:
        values = cleaned[column].dropna()
        try:
            firsts[column] = list(pd.unique(values))[:2]
        except TypeError:
            firsts[column] = list(pd.unique(values.astype(str)))[:2]
    out["firsts"] = firsts
    ranges: dict[str, Any] = {}
    low, high = AGE_RANGE
    checks: list[tuple[str, str, Any, Any]] = [
        ("amount", c, 0, None) for c in spec.amount_columns if c in numbers
    ]
    age = spec.roles.get("age")
    if age and age in numbers:
        checks.append(("age", age, low, high))
    checks += [("bounds", c, lo, hi) for c, (lo, hi) in spec.bounds.items() if c in numbers]
    for rule, column, lo, hi in checks:
        values = numbers[column]
        if rule == "amount":
            outside = values < 0
        elif rule == "age":
            outside = (values < lo) | (values > hi)
        else:
            outside = (values < lo if lo is not None else False) | (
                values > hi if hi is not None else False
            )
        outside = pd.Series(np.asarray(outside, dtype=bool), index=frame.index)
        seen = values[outside.to_numpy()]
        ranges[f"{rule}:{column}"] = (
            int(outside.sum()),
            int(values.notna().sum()),
            _first([], frame.index[outside.to_numpy()]),
            float(seen.min()) if len(seen) else np.inf,
            float(seen.max()) if len(seen) else -np.inf,
            float(values.min()) if values.notna().any() else np.inf,
        )
    out["ranges"] = ranges
    # Class counts per value of every feature, for the leakage AUC.
    counts: dict[str, pd.DataFrame] = {}
    if y is not None:
        known_y = ~np.isnan(y)
        for column in spec.feature_columns(list(frame.columns)):
            if column in numbers and column not in spec.categorical:
                values = numbers[column]
            else:
                values = frame[column]
            keep = known_y & values.notna().to_numpy()
            try:
                table = (
                    pd.DataFrame({"v": values[keep].to_numpy(), "y": y[keep]})
                    .groupby("v", sort=False)["y"]
                    .agg(["sum", "count"])
                )
            except TypeError:
                continue
            counts[column] = table
    out["counts"] = counts
    return out


def _auc_from_counts(score: np.ndarray, pos: np.ndarray, neg: np.ndarray) -> float | None:
    """The rank AUC (ties half) of a score given per distinct value, from class counts."""
    positives, negatives = float(pos.sum()), float(neg.sum())
    if positives < 2 or negatives < 2:
        return None
    order = np.argsort(score, kind="stable")
    s, p, n = score[order], pos[order], neg[order]
    # Merge equal scores (two levels with the same default rate are tied).
    starts = np.flatnonzero(np.r_[True, s[1:] != s[:-1]])
    p, n = np.add.reduceat(p, starts), np.add.reduceat(n, starts)
    below = np.cumsum(n) - n
    auc = float((p * (below + 0.5 * n)).sum() / (positives * negatives))
    return max(auc, 1.0 - auc)


def _leakage(
    spec: DatasetSpec, numbers: set[str], counts: dict[str, pd.DataFrame], columns: list[str]
) -> list[v.Finding]:
    findings = []
    for column in spec.feature_columns(columns):
        table = counts.get(column)
        if table is None:
            continue
        total = float(table["count"].sum())
        if not (column in numbers and column not in spec.categorical):
            levels = len(table)
            if levels < 2 or levels > min(v._MAX_LEAKAGE_LEVELS, total / v._MIN_ROWS_PER_LEVEL):
                continue
            score = (table["sum"] / table["count"]).to_numpy(dtype=float)
        else:
            score = table.index.to_numpy(dtype=float)
        if total < 10:
            continue
        pos = table["sum"].to_numpy(dtype=float)
        auc = _auc_from_counts(score, pos, table["count"].to_numpy(dtype=float) - pos)
        if auc is not None and auc >= v.LEAKAGE_AUC:
            message = (
                f"column '{column}' alone separates the target with AUC {auc:.3f}; "
                "check it is known before the decision (leakage?)"
            )
            findings.append(v.Finding("warning", v.LEAKAGE_SUSPECT, column, [], message))
    return findings


def _merge_counts(parts: list[dict[str, pd.DataFrame]]) -> dict[str, pd.DataFrame]:
    columns = dict.fromkeys(c for p in parts for c in p)
    return {
        c: pd.concat([p[c] for p in parts if c in p]).groupby(level=0, sort=False).sum()
        for c in columns
    }


def _repeated(key: Any) -> tuple[pd.Series, pd.Series]:
    """Keys seen more than once (with counts) and the first row holding each."""
    counts = key.value_counts()
    repeated = counts[counts > 1].compute()
    if repeated.empty:
        return repeated, pd.Series(dtype=np.int64)
    wanted = set(repeated.index)
    hits = key[key.isin(list(wanted))].compute()
    first = hits.groupby(hits.to_numpy()).apply(lambda s: s.index.min())
    return repeated, first


def _row_hash(part: pd.DataFrame, spec: DatasetSpec, text_columns: set[str]) -> pd.Series:
    frame = _clean(part, spec, text_columns)
    columns = [c for c in frame.columns if c != spec.id_column]
    try:
        return pd.util.hash_pandas_object(frame[columns], index=False)
    except TypeError:
        return pd.util.hash_pandas_object(frame[columns].astype(str), index=False)


def validate_lazy(
    table: LazyTable, spec: DatasetSpec, *, max_category_levels: int | None = None
) -> v.ValidationReport:
    """:func:`greenscore.data.validation.validate` of a table read by
    :func:`~greenscore.scale.frames.read_lazy`, computed on the current Dask client.

    Returns
    -------
    ValidationReport
        The same findings, in the same order, as the in-memory validation of the table.
    """
    import dask
    import dask.dataframe as dd

    if max_category_levels is None:
        max_category_levels = (
            spec.max_category_levels or get_settings().training.max_category_levels
        )
    meta = clean_frame(table.frame._meta, spec, strict=False).rename(columns=str)
    columns = list(meta.columns)
    parts = table.frame.to_delayed()
    unreadable = dask.compute(*[dask.delayed(_unreadable)(p, spec) for p in parts])
    text_columns = set(_ordered_union(list(unreadable)))
    stats = list(dask.compute(*[dask.delayed(_stats)(p, spec, text_columns) for p in parts]))
    n = int(sum(s["n"] for s in stats))
    numeric_declared = [
        c for c in dict.fromkeys([*spec.numeric, *spec.sequence_columns]) if c in columns
    ]

    # schema (pandera in memory): absent columns, then unreadable numbers
    findings: list[v.Finding] = []
    required = v._required_columns(spec)
    for name in required:
        if name not in columns:
            findings.append(
                v.Finding(
                    "error",
                    v.COLUMN_MISSING,
                    name,
                    [],
                    f"column '{name}' named in the spec is not in the data",
                )
            )
    for column in numeric_declared:
        found = [s["not_numeric"][column] for s in stats if column in s["not_numeric"]]
        if not found:
            continue
        count = sum(f[0] for f in found)
        rows = _ordered_union([f[1] for f in found])[:_SHOWN]
        shown = v._show(_ordered_union([f[2] for f in found], 3))
        findings.append(
            v.Finding(
                "error",
                v.NOT_NUMERIC,
                column,
                rows,
                f"column '{column}' should be numeric but {count} of {n} values "
                f"are text, e.g. {shown} (rows {rows}); if they mean "
                f"'unknown', list them under missing_values: {{{column}: [...]}} in the spec",
            )
        )
    text_found: dict[str, list[str]] = {}
    for s in stats:
        for column, values in s["text_found"].items():
            text_found[column] = _ordered_union([text_found.get(column, []), values])
    holder = pd.DataFrame()
    holder.attrs[TEXT_AS_MISSING] = text_found
    findings += v._text_as_missing(holder)

    # categorical levels
    lazy = dd.from_delayed(
        [dask.delayed(_clean)(p, spec, text_columns) for p in parts], meta=meta, verify_meta=False
    )
    level_columns = []
    numeric = {*spec.numeric, *spec.sequence_columns}
    for column in spec.feature_columns(columns):
        dtype = meta[column]
        categorical = column in spec.categorical or not (
            pd.api.types.is_numeric_dtype(dtype) or pd.api.types.is_bool_dtype(dtype)
        )
        if column not in numeric and categorical and column in lazy.columns:
            level_columns.append(column)
    levels = dask.compute(*[lazy[c].nunique(dropna=True) for c in level_columns])
    for column, count in zip(level_columns, levels, strict=True):
        if int(count) > max_category_levels:
            message = (
                f"categorical feature '{column}' has {int(count)} distinct values, more than "
                f"{max_category_levels} (max_category_levels); drop it, declare it numeric if "
                "it is numbers (listing its few text values under missing_values), or raise "
                "max_category_levels in the spec"
            )
            findings.append(v.Finding("error", v.TOO_MANY_LEVELS, column, [], message))

    # target
    target = spec.target
    y_usable = False
    if target not in columns:
        message = f"target column '{target}' is not in the data"
        findings.append(v.Finding("error", v.TARGET_MISSING, target, [], message))
    else:
        missing = sum(s["target"][0] for s in stats)
        if missing:
            rows = _ordered_union([s["target"][1] for s in stats])[:_SHOWN]
            findings.append(
                v.Finding(
                    "error",
                    v.TARGET_NULL,
                    target,
                    rows,
                    f"target '{target}' is missing in {missing} rows (rows {rows})",
                )
            )
        levels_seen = _ordered_union([s["target_levels"] for s in stats])
        if len(levels_seen) != 2:
            shown = v._show(levels_seen, 6) or "none"
            message = (
                f"target '{target}' must have exactly two values, found {len(levels_seen)}: {shown}"
            )
            findings.append(v.Finding("error", v.TARGET_NOT_BINARY, target, [], message))
        elif sum(s["positives"] for s in stats) == 0:
            message = (
                f"positive label {spec.positive_label!r} is not a value of target '{target}' "
                f"(values: {v._show(levels_seen)})"
            )
            findings.append(v.Finding("error", v.POSITIVE_LABEL_ABSENT, target, [], message))
        else:
            y_usable = True

    # ids
    id_column = spec.id_column
    if id_column and id_column in columns:
        nulls = sum(s["id_null"][0] for s in stats)
        if nulls:
            rows = _ordered_union([s["id_null"][1] for s in stats])[:_SHOWN]
            message = f"id column '{id_column}' is empty in {nulls} rows (rows {rows})"
            findings.append(v.Finding("error", v.ID_NULL, id_column, rows, message))
        ids = lazy[id_column].dropna()
        repeated, _ = _repeated(ids)
        if not repeated.empty:
            hits = ids[ids.isin(list(repeated.index))].compute().sort_index()
            rows = [x.item() if isinstance(x, np.generic) else x for x in hits.index[:_SHOWN]]
            values = pd.unique(hits)
            message = (
                f"id column '{id_column}' repeats {len(values)} values over {len(hits)} rows, "
                f"e.g. {v._show(values)} (rows {rows})"
            )
            findings.append(v.Finding("error", v.DUPLICATE_IDS, id_column, rows, message))

    # sequences
    for group in spec.sequences:
        absent = [c for c in group.columns if c not in columns]
        if absent:
            message = f"sequence '{group.name}' lacks columns {absent}"
            findings.append(v.Finding("error", v.SEQUENCE_COLUMNS_MISSING, None, [], message))
            continue
        count = sum(s["sequences"][group.name][0] for s in stats)
        if count:
            rows = _ordered_union([s["sequences"][group.name][1] for s in stats])[:_SHOWN]
            message = (
                f"sequence '{group.name}' has a missing month after an observed one in "
                f"{count} rows (rows {rows})"
            )
            findings.append(v.Finding("warning", v.SEQUENCE_HOLES, None, rows, message))

    # missing rates and constant columns
    skip = {spec.target, spec.id_column, *spec.drop, *spec.pii}
    sequence = set(spec.sequence_columns)
    for column in columns:
        if column in skip or n == 0:
            continue
        missing = sum(s["missing"].get(column, 0) for s in stats)
        if missing == n:
            message = f"column '{column}' is missing in every row"
            findings.append(v.Finding("error", v.ALL_MISSING, column, [], message))
            continue
        if column not in sequence and missing / n > v.MISSING_WARN_SHARE:
            message = (
                f"column '{column}' is missing in {missing / n:.0%} of rows ({missing} of {n})"
            )
            findings.append(v.Finding("warning", v.HIGH_MISSING, column, [], message))
        distinct = _ordered_union([s["firsts"].get(column, []) for s in stats], 2)
        if len(distinct) == 1:
            message = (
                f"column '{column}' holds one value ({v._show([distinct[0]])}) in every known row"
            )
            findings.append(v.Finding("warning", v.CONSTANT_COLUMN, column, [], message))

    # amounts, ages, bounds
    def merged(key: str) -> tuple[int, int, list[Any], float, float, float] | None:
        found = [s["ranges"][key] for s in stats if key in s["ranges"]]
        if not found:
            return None
        return (
            sum(f[0] for f in found),
            sum(f[1] for f in found),
            _ordered_union([f[2] for f in found])[:_SHOWN],
            min(f[3] for f in found),
            max(f[4] for f in found),
            min(f[5] for f in found),
        )

    for column in spec.amount_columns:
        got = merged(f"amount:{column}")
        if got is None:
            continue
        count, known, rows, _, _, lowest = got
        if count and count <= known / 2:
            message = (
                f"amount column '{column}' is negative in {count} rows "
                f"(min {lowest:g}; rows {rows})"
            )
            findings.append(v.Finding("warning", v.NEGATIVE_AMOUNT, column, rows, message))
    age = spec.roles.get("age")
    got = merged(f"age:{age}") if age else None
    if got is not None and got[0]:
        count, _, rows, lo_seen, hi_seen, _ = got
        low, high = AGE_RANGE
        message = (
            f"age column '{age}' has {count} impossible values outside {low}-{high} "
            f"(seen {lo_seen:g} to {hi_seen:g}; rows {rows})"
        )
        findings.append(v.Finding("warning", v.IMPOSSIBLE_AGE, age, rows, message))
    for column, (lower, upper) in spec.bounds.items():
        got = merged(f"bounds:{column}")
        if got is None or not got[0]:
            continue
        count, _, rows, lo_seen, hi_seen, _ = got
        shown = (
            f"[{'' if lower is None else f'{lower:g}'}, {'' if upper is None else f'{upper:g}'}]"
        )
        message = (
            f"column '{column}' has {count} values outside its plausible range {shown} "
            f"(seen {lo_seen:g} to {hi_seen:g}; rows {rows})"
        )
        findings.append(v.Finding("warning", v.OUTSIDE_BOUNDS, column, rows, message))

    # leakage
    if y_usable:
        numbers = set(numeric_declared) | {
            c
            for c in columns
            if pd.api.types.is_numeric_dtype(meta[c]) and not pd.api.types.is_bool_dtype(meta[c])
        }
        counts = _merge_counts([s["counts"] for s in stats])
        findings += _leakage(spec, numbers, counts, columns)

    # duplicate rows (ignoring the id)
    if [c for c in columns if c != spec.id_column]:
        pieces = [dask.delayed(_row_hash)(p, spec, text_columns) for p in parts]
        hashes = dd.from_delayed(pieces, meta=pd.Series(dtype=np.uint64), verify_meta=False)
        repeated, first = _repeated(hashes)
        if not repeated.empty:
            count = int((repeated - 1).sum())
            hits = hashes[hashes.isin(list(repeated.index))].compute().sort_index()
            later = hits.index.to_numpy() != first.reindex(hits.to_numpy()).to_numpy()
            rows = [
                x.item() if isinstance(x, np.generic) else x for x in hits.index[later][:_SHOWN]
            ]
            without_id = " (ignoring the id column)" if spec.id_column in columns else ""
            message = f"{count} rows repeat an earlier row exactly{without_id} (rows {rows})"
            findings.append(v.Finding("warning", v.DUPLICATE_ROWS, None, rows, message))

    findings += v._declared_absent(pd.DataFrame(columns=columns), spec)
    findings.sort(key=lambda f: f.level != "error")
    return v.ValidationReport(findings, n, len(columns), spec.name)
