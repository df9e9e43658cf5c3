"""From a location and a way to read it (preset, spec file or just a target) to a
:class:`Dataset`: the raw frame, its spec, the borrower relations and a content hash.

Reading applies only what the spec says about *format*, through
:func:`greenscore.data.cleaning.clean_frame` (the same cleaning every scoring path uses):
quote stripping, column names, numbers stored as text with "?"-style missing markers,
derived columns. It never drops rows or fixes values; validation decides what is usable.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from greenscore.data.cleaning import DERIVED_SOURCE_MISSING, clean_frame, clean_name
from greenscore.data.io import data_path, read_table
from greenscore.data.presets import load_preset
from greenscore.data.spec import DatasetSpec
from greenscore.errors import ConfigError, DataError


@dataclass
class Dataset:
    """One credit dataset ready for validation and modelling.

    Attributes
    ----------
    frame : the rows as read (target still in its original labels).
    spec : what the columns mean.
    location : where it was read from.
    sha256 : hash of the file bytes (or of the frame for non-file sources).
    relations : the borrower edge table, or None.
    """

    frame: pd.DataFrame
    spec: DatasetSpec
    location: str
    sha256: str
    relations: pd.DataFrame | None = field(default=None, repr=False)

    @property
    def y(self) -> np.ndarray:
        """Target as 0/1 integers (1 = the spec's positive label, i.e. default)."""
        return encode_target(self.frame[self.spec.target], self.spec)

    @property
    def X(self) -> pd.DataFrame:  # noqa: N802 - scikit-learn's name for the feature matrix
        """Feature columns only, indexed by the spec's id column when it has one.

        The index carries applicant identity through every transformer, so relational
        features and graph models can find a row's borrower links without the id being
        a feature.
        """
        return model_input(self.frame, self.spec)


def model_input(frame: pd.DataFrame, spec: DatasetSpec) -> pd.DataFrame:
    """The model's input: the spec's feature columns, indexed by the id column if any.

    Raises
    ------
    DataError
        If a feature column the spec declares is missing from the frame.
    """
    columns = spec.feature_columns(list(frame.columns))
    declared = spec.feature_columns()
    missing = [c for c in declared if c not in frame.columns]
    if missing:
        raise DataError(f"missing feature columns: {missing}")
    out = frame[columns]
    if spec.id_column and spec.id_column in frame.columns:
        out = out.set_axis(pd.Index(frame[spec.id_column].to_numpy(), name=spec.id_column), axis=0)
    return out


def encode_target(values: pd.Series, spec: DatasetSpec) -> np.ndarray:
    """Map the target to 1 for the positive label and 0 otherwise.

    Raises
    ------
    DataError
        If the target has missing values.
    """
    if values.isna().any():
        rows = values.index[values.isna()][:5].tolist()
        raise DataError(f"target '{spec.target}' is missing in rows {rows}")
    positive = spec.positive_label
    if pd.api.types.is_numeric_dtype(values) and not isinstance(positive, str):
        return (values.astype(float) == float(positive)).to_numpy(dtype=np.int64)
    return (values.astype(str).str.strip() == str(positive)).to_numpy(dtype=np.int64)


def sha256_file(path: Path) -> str:
    """SHA-256 of a file's bytes, read in 1 MiB blocks (the one file hash of the package)."""
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def hash_frame(frame: pd.DataFrame) -> str:
    """A content hash of a frame (row order and values), for non-file sources."""
    hashed = pd.util.hash_pandas_object(frame, index=False).to_numpy()
    return hashlib.sha256(hashed.tobytes() + ",".join(map(str, frame.columns)).encode()).hexdigest()


def resolve_spec(
    frame: pd.DataFrame,
    *,
    preset: str | None = None,
    spec_path: str | Path | None = None,
    target: str | None = None,
) -> DatasetSpec:
    """Choose the spec: exactly one of a preset, a spec file, or a target to infer from."""
    given = [x is not None for x in (preset, spec_path, target)]
    if sum(given) != 1:
        raise ConfigError("give exactly one of --preset, --spec or --target")
    if preset is not None:
        return load_preset(preset)
    if spec_path is not None:
        return DatasetSpec.from_yaml(spec_path)
    from greenscore.data.infer import infer_spec

    assert target is not None
    return infer_spec(frame, target=target)


def load_relations(spec: DatasetSpec, location: str) -> pd.DataFrame | None:
    """Read the spec's borrower relations next to the applications (a file, or a folder of
    parts), if declared: the file the spec names, or the folder of parts of that name
    (``relations/`` for ``relations.parquet``, as ``greenscore generate --chunk-rows``
    writes them beside ``applications/``)."""
    if spec.relations is None:
        return None
    path = Path(spec.relations.path)
    if not path.is_absolute():
        path = Path(location).parent / path
    if not path.exists():
        path = path.parent / path.stem
        if not path.is_dir():
            return None
    edges = read_table(path)
    missing = {spec.relations.source, spec.relations.target} - set(edges.columns)
    if missing:
        raise DataError(f"{path}: relations table lacks columns {sorted(missing)}")
    return edges


def load_dataset(
    location: str | Path,
    *,
    preset: str | None = None,
    spec: DatasetSpec | None = None,
    spec_path: str | Path | None = None,
    target: str | None = None,
    query: str | None = None,
) -> Dataset:
    """Read a dataset and attach its spec.

    Parameters
    ----------
    location : file path or SQLAlchemy URL.
    preset, spec, spec_path, target : how to know what the columns mean (give one).
    query : the SQL query when ``location`` is a database URL.
    """
    if "://" not in str(location):
        location = data_path(Path(location))  # a generated folder: its applications
    raw = read_table(location, query=query)
    if spec is None:
        named = raw.set_axis([clean_name(c) for c in raw.columns], axis=1)
        spec = resolve_spec(named, preset=preset, spec_path=spec_path, target=target)
    for derived in spec.derived:
        if clean_name(derived.source) not in {clean_name(c) for c in raw.columns}:
            raise DataError(DERIVED_SOURCE_MISSING.format(name=derived.name, source=derived.source))
    # Lenient: a numeric column with real text in it stays text for validation to name.
    frame = clean_frame(raw, spec, strict=False)
    path = Path(str(location))
    digest = sha256_file(path) if path.is_file() else hash_frame(frame)
    relations = load_relations(spec, str(location)) if path.exists() else None
    return Dataset(
        frame=frame, spec=spec, location=str(location), sha256=digest, relations=relations
    )
