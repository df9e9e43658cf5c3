"""Read a dataset and refuse it when validation finds errors: the shared first step of
every job that models or scores data."""

from __future__ import annotations

from pathlib import Path

from greenscore.data.loading import Dataset, load_dataset
from greenscore.errors import DataError


def load_validated(
    data: str | Path,
    *,
    preset: str | None = None,
    spec_path: str | Path | None = None,
    target: str | None = None,
    query: str | None = None,
) -> tuple[Dataset, list[str]]:
    """Load and validate; return the dataset and its warning messages.

    Raises
    ------
    DataError
        Naming the first validation errors when the data cannot be used.
    """
    from greenscore.data.validation import validate

    dataset = load_dataset(data, preset=preset, spec_path=spec_path, target=target, query=query)
    report = validate(dataset.frame, dataset.spec)
    if report.errors:
        shown = "; ".join(f.message for f in report.errors[:3])
        more = f" (and {len(report.errors) - 3} more)" if len(report.errors) > 3 else ""
        raise DataError(f"{dataset.location} failed validation: {shown}{more}")
    return dataset, [f.message for f in report.warnings]
