"""``greenscore profile --engine dask``: findings and counts out of core, statistics on a sample.

The validation findings (:func:`~greenscore.scale.validate.validate_lazy`), the row count
and the missing cells are computed over every row, partition by partition. The per-column
statistics, information values and correlations need the rows together (quantiles,
optbinning's binning), so they come from the in-memory profile of a uniform random sample
of at most :data:`SAMPLE_ROWS` rows; the whole table when it is that small, which then
gives exactly the pandas engine's profile. ``overview.sample_rows`` says which it was.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from greenscore.data.cleaning import clean_frame
from greenscore.data.profile import HTML_FILE, JSON_FILE, _render, profile
from greenscore.data.spec import DatasetSpec
from greenscore.json_document import write_json
from greenscore.scale.frames import LazyTable, read_lazy
from greenscore.scale.validate import validate_lazy

#: Most rows the statistics are computed on.
SAMPLE_ROWS = 200_000


def profile_lazy(
    data: str | Path | LazyTable, spec: DatasetSpec, out_dir: str | Path, *, seed: int = 0
) -> dict[str, Any]:
    """Profile a CSV or Parquet source on the current Dask client; write HTML and JSON.

    ``data`` may be the source already opened by :func:`read_lazy` (opening a CSV counts
    its rows: a pass over the whole file not to be made twice).

    Returns
    -------
    dict
        As :func:`greenscore.data.profile.profile`; ``overview.sample_rows`` is the number
        of rows behind the per-column statistics.
    """
    table = data if isinstance(data, LazyTable) else read_lazy(data)
    report = validate_lazy(table, spec)
    if table.n_rows <= SAMPLE_ROWS:
        rows = table.frame.compute()
    else:
        rows = table.frame.sample(frac=SAMPLE_ROWS / table.n_rows, random_state=seed).compute()
    sample = clean_frame(rows, spec, strict=False)
    out = Path(out_dir)
    result = profile(sample, spec, out)
    missing = table.frame.isna().sum().sum().compute()
    result["overview"].update(
        rows=table.n_rows,
        sample_rows=len(sample),
        missing_cells=int(missing),
        errors=len(report.errors),
        warnings=len(report.warnings),
    )
    result["findings"] = [f.to_dict() for f in report.findings]
    files = result.pop("files")
    write_json(out / JSON_FILE, result)
    (out / HTML_FILE).write_text(_render(result), encoding="utf-8")
    result["files"] = files
    return result
