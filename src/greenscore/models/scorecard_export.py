"""A scorecard's points table outside Python: CSV, Excel and SQL.

Risk teams review a scorecard as a table (characteristic, bin, count, bad rate, WoE,
coefficient, points) and often deploy it as SQL in the decision engine or the data
warehouse. Every format here is built from the same :meth:`scorecard_table`, with the
points at full precision, so the points of an applicant's bins add up to the score the
bundle gives (the SQL export is tested by running it in SQLite).
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from greenscore.errors import ModelError

#: File written beside a saved bundle whose model is a scorecard.
SCORECARD_CSV = "scorecard.csv"
NOT_A_SCORECARD = (
    "model '{name}' ({kind}) has no points table; export needs a scorecard "
    "(train with --models scorecard)"
)
FORMATS = ("csv", "xlsx", "sql")


def is_scorecard(estimator: Any) -> bool:
    """Whether the estimator has a points table (the WoE scorecard)."""
    return callable(getattr(estimator, "scorecard_table", None))


def scorecard_of(bundle: Any) -> Any:
    """The bundle's scorecard estimator.

    Raises
    ------
    ModelError
        If the bundle's model is not a scorecard.
    """
    estimator = bundle.estimator
    if not is_scorecard(estimator):
        raise ModelError(NOT_A_SCORECARD.format(name=bundle.name, kind=type(estimator).__name__))
    return estimator


def _bin_text(value: Any) -> str:
    """A bin as text: categories as a JSON list (unambiguous), intervals as optbinning writes them."""
    if isinstance(value, list | tuple) or hasattr(value, "tolist"):
        items = value.tolist() if hasattr(value, "tolist") else list(value)
        return json.dumps([str(v) for v in items], ensure_ascii=False)
    return str(value)


def points_table(estimator: Any) -> pd.DataFrame:
    """A fitted scorecard's points table with bins as text, ready for CSV or Excel."""
    table = estimator.scorecard_table().copy()
    table["bin"] = table["bin"].map(_bin_text)
    return table


def write_csv(estimator: Any, path: Path | str) -> Path:
    """Write the points table as CSV (full precision) and return the path."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    points_table(estimator).to_csv(target, index=False)
    return target


def write_xlsx(estimator: Any, path: Path | str) -> Path:
    """Write an Excel workbook: the points table, the removed characteristics, the scaling."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    scaling = pd.DataFrame(
        [
            {"setting": "base_score", "value": estimator.base_score},
            {"setting": "base_odds", "value": estimator.base_odds},
            {"setting": "pdo", "value": estimator.pdo},
        ]
    )
    with pd.ExcelWriter(target, engine="openpyxl") as writer:
        points_table(estimator).to_excel(writer, sheet_name="points", index=False)
        estimator.removal_table().to_excel(writer, sheet_name="removed", index=False)
        scaling.to_excel(writer, sheet_name="scaling", index=False)
    return target


def write_beside_bundle(estimator: Any, folder: Path | str) -> Path | None:
    """Write ``scorecard.csv`` into a bundle folder when the model is a scorecard.

    Any other model removes a ``scorecard.csv`` left there by an earlier save, so the file
    always describes the bundle beside it.
    """
    if not is_scorecard(estimator) or not hasattr(estimator, "scorecard_"):
        (Path(folder) / SCORECARD_CSV).unlink(missing_ok=True)
        return None
    return write_csv(estimator, Path(folder) / SCORECARD_CSV)


# ---------------------------------------------------------------------- SQL
def _ident(name: str) -> str:
    """A double-quoted identifier (SQLite and PostgreSQL; keeps case such as LIMIT_BAL)."""
    return '"' + str(name).replace('"', '""') + '"'


def _text(value: str) -> str:
    return "'" + str(value).replace("'", "''") + "'"


def _number(value: float) -> str:
    value = float(value)
    if not math.isfinite(value):
        raise ModelError(f"a scorecard split or point is not finite: {value}")
    return repr(value)  # shortest text that reads back to the same double


def _numeric_case(column: str, splits: Sequence[float], points: Sequence[float]) -> str:
    """Bins ``[s_i, s_i+1)`` as optbinning's ``np.digitize(right=False)``; NULL is Missing."""
    col = _ident(column)
    n_bins = len(splits) + 1
    lines = [f"        WHEN {col} IS NULL THEN {_number(points[-1])}"]
    for i, split in enumerate(splits):
        lines.append(f"        WHEN {col} < {_number(split)} THEN {_number(points[i])}")
    lines.append(f"        ELSE {_number(points[n_bins - 1])}")
    return "CASE\n" + "\n".join(lines) + "\n    END"


def _categorical_case(
    column: str, groups: Sequence[Sequence[str]], points: Sequence[float], missing: float
) -> str:
    """Categories compared as text; NULL and categories unseen in training score as Missing."""
    col = f"CAST({_ident(column)} AS TEXT)"
    lines = [
        f"        WHEN {col} IN ({', '.join(_text(v) for v in group)}) THEN {_number(p)}"
        for group, p in zip(groups, points, strict=True)
    ]
    lines.append(f"        ELSE {_number(missing)}")
    return "CASE\n" + "\n".join(lines) + "\n    END"


def scorecard_sql(estimator: Any, *, name: str = "scorecard", table: str = "applications") -> str:
    """A SELECT that adds ``scorecard_points`` to every row of ``table``.

    One CASE WHEN expression per characteristic gives its points; their sum is the score.
    The table needs one column per characteristic, named as in the scorecard (derived
    characteristics computed as the feature pipeline does), numbers as numbers, missing
    values as NULL. Valid in SQLite and PostgreSQL.
    """
    rows = estimator.scorecard_table()
    cases = []
    for column in estimator.selected_:
        part = rows[rows["characteristic"] == column].reset_index(drop=True)
        points = part["points"].astype(float).tolist()
        labels = part["bin"].tolist()
        n_bins = sum(1 for b in labels if not (isinstance(b, str) and b in ("Special", "Missing")))
        missing = float(part.loc[[str(b) == "Missing" for b in labels], "points"].iloc[0])
        if column in estimator.categorical_:
            groups = [[str(v) for v in labels[i]] for i in range(n_bins)]
            cases.append(_categorical_case(column, groups, points[:n_bins], missing))
        else:
            splits = [float(s) for s in estimator.splits(column)]
            cases.append(_numeric_case(column, splits, [*points[:n_bins], missing]))
    header = [
        f"-- GreenScore scorecard '{name}': points = sum of one CASE per characteristic.",
        f"-- Scaling: {estimator.base_score:g} points at odds {estimator.base_odds:g}:1 (good:bad), "
        f"{estimator.pdo:g} points to double the odds.",
        f"-- Input: table {table} with columns "
        + ", ".join(estimator.selected_)
        + "; missing values as NULL.",
        "-- Categories are compared as text; NULL and unseen categories score as Missing.",
    ]
    body = "\n".join(
        f"    -- {column}\n    {'+ ' if i else ''}{case}"
        for i, (column, case) in enumerate(zip(estimator.selected_, cases, strict=True))
    )
    return (
        "\n".join(header)
        + "\nSELECT\n  *,\n  (\n"
        + body
        + f"\n  ) AS {_ident('scorecard_points')}\nFROM {_ident(table)};\n"
    )
