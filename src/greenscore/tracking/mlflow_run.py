"""Experiment tracking: one MLflow run per training, with params, metrics and lineage.

``with start_run(run_name="train:german") as run:`` yields a :class:`TrackedRun` that
logs parameters, metrics (optionally prefixed, e.g. ``cv.auc``), artifacts, the
dataset's hash and spec, the environment and energy readings. The run ends FINISHED,
or FAILED if the block raises.

The backend is ``settings.tracking_uri``: by default a SQLite file in the home folder,
with artifacts under ``<home>/mlartifacts``. With ``settings.tracking.enabled`` False
the same calls go to a :class:`NullRun` and MLflow is never imported.

All calls go through an explicit ``MlflowClient`` rather than MLflow's global "active
run", so runs can be nested or run in threads without stepping on each other.
"""

from __future__ import annotations

import logging
import os
import re
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from functools import lru_cache
from numbers import Real
from pathlib import Path
from typing import Any

# MLflow calls a telemetry host unless told not to; this must precede any mlflow import.
os.environ["MLFLOW_DISABLE_TELEMETRY"] = "true"
os.environ["DO_NOT_TRACK"] = "true"
# Download progress bars would land in the JSON logs of batch jobs and the API.
os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
# MLflow announces schema creation at INFO on its own handler (configured at its import, so
# the level must come by environment); users only need its warnings.
os.environ.setdefault("MLFLOW_LOGGING_LEVEL", "WARNING")
logging.getLogger("mlflow").setLevel(logging.WARNING)

from greenscore.config import Settings, get_settings, private_file  # noqa: E402
from greenscore.errors import ConfigError, DataError, NotFoundError  # noqa: E402

NOT_A_NUMBER = "metric '{key}' must be a real number, got {value!r} ({kind})"
PARAM_CHANGED = "parameter '{key}' was already logged in run {run_id} with a different value"
UNREACHABLE = "MLflow tracking backend at {uri} cannot be used: {error}"
MISSING_ARTIFACT = "no file or folder to log as an artifact at {path}"

_BATCH = 100  # MLflow accepts at most 100 params or tags per log_batch call
_KEY_BAD = re.compile(r"[^A-Za-z0-9_\-. /:]")


def tracking_uri(settings: Settings | None = None) -> str:
    """The MLflow tracking (and registry) URI from the settings.

    ``settings.tracking.uri`` if set, else ``sqlite:///<home>/mlflow.db``; a SQLite file
    is created owner-only (0600, in a 0700 folder) before MLflow opens it.
    """
    settings = settings or get_settings()
    uri = settings.tracking_uri
    if uri.startswith("sqlite:///"):
        if settings.tracking.uri is None:
            settings.ensure_home()
        private_file(Path(uri.removeprefix("sqlite:///")))
    return uri


def use_home_store(settings: Settings | None = None) -> str:
    """Point MLflow's process-wide tracking *and* registry URIs at the settings' store.

    MLflow's fluent functions (``Model.log``, ``register_model``, ``models:/`` downloads)
    read these globals; left unset, either one defaults to ``./mlflow.db`` in the current
    folder, which a run from a checkout then leaves behind. Returns the URI.
    """
    import mlflow

    uri = tracking_uri(settings)
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    return uri


def artifact_root(settings: Settings | None = None) -> str | None:
    """Artifact location for new experiments: the setting, or ``<home>/mlartifacts``.

    None for a remote tracking server without an explicit setting (the server decides).
    """
    settings = settings or get_settings()
    if settings.tracking.artifact_location:
        return settings.tracking.artifact_location
    uri = settings.tracking_uri  # only read: `config show` must not create the home folder
    if uri.startswith(("sqlite:", "file:", "postgresql", "mysql")) or "://" not in uri:
        return (settings.home / "mlartifacts").resolve().as_uri()
    return None


@lru_cache(maxsize=8)
def client_for(uri: str) -> Any:
    """A cached ``MlflowClient`` for one URI (opening a SQLite store checks its schema)."""
    from mlflow import MlflowClient

    try:
        return MlflowClient(tracking_uri=uri, registry_uri=uri)
    except Exception as exc:  # bad URL, driver missing, unreadable file, failed migration
        raise ConfigError(UNREACHABLE.format(uri=uri, error=str(exc).splitlines()[0])) from exc


def experiment_id(name: str | None = None, settings: Settings | None = None) -> str:
    """Id of the named experiment (default ``settings.tracking.experiment``), created if new."""
    from mlflow.exceptions import MlflowException

    settings = settings or get_settings()
    name = name or settings.tracking.experiment
    client = client_for(tracking_uri(settings))
    found = client.get_experiment_by_name(name)
    if found is not None:
        if found.lifecycle_stage == "deleted":
            # A deleted experiment keeps its name; runs cannot be created in it until restored.
            client.restore_experiment(found.experiment_id)
        return found.experiment_id
    try:
        return client.create_experiment(name, artifact_location=artifact_root(settings))
    except MlflowException:
        # Another process created it between the look-up and the create.
        found = client.get_experiment_by_name(name)
        if found is None:
            raise
        return found.experiment_id


def _key(key: str) -> str:
    return _KEY_BAD.sub("_", str(key))


def _flatten(data: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in data.items():
        full = f"{prefix}{key}"
        if isinstance(value, Mapping):
            out.update(_flatten(value, f"{full}."))
        else:
            out[full] = value
    return out


def _join(prefix: str, key: str) -> str:
    if not prefix:
        return key
    return f"{prefix}{key}" if prefix.endswith((".", "/", "_", ":")) else f"{prefix}.{key}"


class TrackedRun:
    """An open MLflow run. Use :func:`start_run` rather than building one.

    Attributes
    ----------
    run_id : str
        MLflow's id of the run (pass it to :func:`greenscore.tracking.registry.register_bundle`).
    experiment_id : str
    tracking_uri : str
    """

    enabled = True

    def __init__(self, client: Any, run_id: str, experiment_id: str, uri: str) -> None:
        self._client = client
        self.run_id = run_id
        self.experiment_id = experiment_id
        self.tracking_uri = uri

    # ------------------------------------------------------------ values
    def log_params(self, params: Mapping[str, Any], *, prefix: str = "") -> None:
        """Log parameters (nested mappings become dotted keys; values as text).

        Raises
        ------
        ConfigError
            If a parameter was already logged in this run with another value.
        """
        from mlflow.entities import Param
        from mlflow.exceptions import MlflowException

        flat = {_key(_join(prefix, k)): v for k, v in _flatten(params).items()}
        items = [Param(k, "" if v is None else str(v)[:6000]) for k, v in flat.items()]
        for start in range(0, len(items), _BATCH):
            try:
                self._client.log_batch(self.run_id, params=items[start : start + _BATCH])
            except MlflowException as exc:
                if "Changing param values is not allowed" not in str(exc):
                    raise
                found = re.search(r"'key': '([^']*)'", str(exc))
                key = found.group(1) if found else "?"
                raise ConfigError(PARAM_CHANGED.format(key=key, run_id=self.run_id)) from exc

    def log_metrics(
        self, metrics: Mapping[str, Any], *, prefix: str = "", step: int | None = None
    ) -> None:
        """Log numeric metrics, e.g. ``run.log_metrics(cv_summary, prefix="cv")``.

        Parameters
        ----------
        metrics : mapping
            Name to real number (NaN is kept: it says a metric could not be computed;
            booleans are logged as 0 or 1). Nested mappings become dotted names.
        prefix : str
            Prepended with a dot unless it already ends in ``.``, ``/``, ``_`` or ``:``.
        step : int, optional
            Step (e.g. fold or epoch number); 0 by default.

        Raises
        ------
        DataError
            If a value is not a real number.
        """
        from mlflow.entities import Metric

        now = int(time.time() * 1000)
        items = []
        for key, value in _flatten(metrics).items():
            if not isinstance(value, Real):
                raise DataError(
                    NOT_A_NUMBER.format(key=key, value=value, kind=type(value).__name__)
                )
            items.append(Metric(_key(_join(prefix, key)), float(value), now, int(step or 0)))
        for start in range(0, len(items), _BATCH * 10):
            self._client.log_batch(self.run_id, metrics=items[start : start + _BATCH * 10])

    def set_tags(self, tags: Mapping[str, Any]) -> None:
        """Set tags (searchable labels; values as text)."""
        from mlflow.entities import RunTag

        items = [RunTag(_key(k), "" if v is None else str(v)) for k, v in _flatten(tags).items()]
        for start in range(0, len(items), _BATCH):
            self._client.log_batch(self.run_id, tags=items[start : start + _BATCH])

    # ------------------------------------------------------------ files
    def log_artifact(self, path: Path | str, artifact_path: str | None = None) -> None:
        """Copy a file or a whole folder into the run's artifacts.

        Raises
        ------
        NotFoundError
            If nothing exists at ``path``.
        """
        source = Path(path)
        if not source.exists():
            raise NotFoundError(MISSING_ARTIFACT.format(path=source))
        if source.is_dir():
            self._client.log_artifacts(self.run_id, str(source), artifact_path or source.name)
        else:
            self._client.log_artifact(self.run_id, str(source), artifact_path)

    def log_dict(self, data: Mapping[str, Any] | list[Any], artifact_file: str) -> None:
        """Store JSON- or YAML-serialisable data as an artifact (format from the suffix)."""
        self._client.log_dict(self.run_id, data, artifact_file)

    def log_text(self, text: str, artifact_file: str) -> None:
        """Store text as an artifact."""
        self._client.log_text(self.run_id, text, artifact_file)

    # ------------------------------------------------------------ lineage
    def log_dataset_info(
        self, sha256: str, spec_yaml: str, rows: int, *, name: str | None = None
    ) -> None:
        """Record which data the run used: its hash and row count, and the spec as a file.

        Parameters
        ----------
        sha256 : str
            Content hash of the data (``Dataset.sha256``).
        spec_yaml : str
            The dataset spec as YAML (``spec.to_yaml()``), stored as ``dataset/spec.yaml``.
        rows : int
            Number of rows used.
        name : str, optional
            Dataset name (e.g. the preset).
        """
        params = {"dataset.sha256": sha256, "dataset.rows": int(rows)}
        if name:
            params["dataset.name"] = name
        self.log_params(params)
        self.set_tags({"dataset.sha256": sha256})
        self.log_text(spec_yaml, "dataset/spec.yaml")

    def log_environment(self, seeds: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """Record the git commit, Python, platform, package versions and seeds.

        The commit goes to MLflow's own ``mlflow.source.git.commit`` tag, versions to
        ``version.<package>`` tags, seeds to ``seed.*`` params, and everything to
        ``environment.json``.

        Returns
        -------
        dict
            The environment that was logged.
        """
        from greenscore.tracking.environment import environment_info

        env = environment_info()
        tags: dict[str, Any] = {
            "greenscore.version": env["greenscore_version"],
            "python": env["python"],
            "platform": env["platform"],
        }
        if env["git_commit"]:
            tags["mlflow.source.git.commit"] = env["git_commit"]
            tags["git.dirty"] = env["git_dirty"]
        tags.update({f"version.{k}": v for k, v in env["packages"].items() if v})
        self.set_tags(tags)
        if seeds:
            self.log_params({f"seed.{k}": v for k, v in seeds.items()})
        self.log_dict({**env, "seeds": dict(seeds or {})}, "environment.json")
        return env

    def log_energy(self, reading: Any, *, prefix: str = "energy") -> None:
        """Log an energy reading (anything with ``to_dict()`` or a mapping).

        ``kwh``, ``co2_kg`` and ``duration_s`` become metrics named
        ``<prefix>.<label>.<field>``; the measurement method becomes a tag.
        """
        data = reading.to_dict() if hasattr(reading, "to_dict") else dict(reading)
        label = _key(str(data.get("label", "block")).replace(":", "."))
        base = _join(prefix, label)
        self.log_metrics(
            {k: data[k] for k in ("kwh", "co2_kg", "duration_s") if k in data}, prefix=base
        )
        if "method" in data:
            self.set_tags({f"{base}.method": data["method"]})


class NullRun:
    """The :class:`TrackedRun` interface doing nothing, for ``tracking.enabled = False``."""

    enabled = False
    run_id: str | None = None
    experiment_id: str | None = None
    tracking_uri: str | None = None

    def log_params(self, params: Mapping[str, Any], *, prefix: str = "") -> None:
        """Do nothing."""

    def log_metrics(
        self, metrics: Mapping[str, Any], *, prefix: str = "", step: int | None = None
    ) -> None:
        """Check values like :meth:`TrackedRun.log_metrics`, then do nothing."""
        for key, value in _flatten(metrics).items():
            if not isinstance(value, Real):
                raise DataError(
                    NOT_A_NUMBER.format(key=key, value=value, kind=type(value).__name__)
                )

    def set_tags(self, tags: Mapping[str, Any]) -> None:
        """Do nothing."""

    def log_artifact(self, path: Path | str, artifact_path: str | None = None) -> None:
        """Do nothing."""

    def log_dict(self, data: Mapping[str, Any] | list[Any], artifact_file: str) -> None:
        """Do nothing."""

    def log_text(self, text: str, artifact_file: str) -> None:
        """Do nothing."""

    def log_dataset_info(
        self, sha256: str, spec_yaml: str, rows: int, *, name: str | None = None
    ) -> None:
        """Do nothing."""

    def log_environment(self, seeds: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """Return the environment without logging it."""
        from greenscore.tracking.environment import environment_info

        return environment_info()

    def log_energy(self, reading: Any, *, prefix: str = "energy") -> None:
        """Do nothing."""


@contextmanager
def start_run(
    *,
    run_name: str,
    params: Mapping[str, Any] | None = None,
    tags: Mapping[str, Any] | None = None,
    experiment: str | None = None,
    settings: Settings | None = None,
) -> Iterator[TrackedRun | NullRun]:
    """Open an MLflow run for the ``with`` block.

    Parameters
    ----------
    run_name : str
        Human-readable name, e.g. ``train:german``.
    params, tags : mapping, optional
        Logged at the start.
    experiment : str, optional
        Experiment name; default ``settings.tracking.experiment``.
    settings : Settings, optional
        Default ``get_settings()``.

    Yields
    ------
    TrackedRun or NullRun
        ``NullRun`` when tracking is disabled.

    Raises
    ------
    ConfigError
        If the tracking backend cannot be opened.
    """
    settings = settings or get_settings()
    if not settings.tracking.enabled:
        yield NullRun()
        return
    uri = tracking_uri(settings)
    client = client_for(uri)
    exp_id = experiment_id(experiment, settings)
    created = client.create_run(exp_id, run_name=run_name, tags=dict(tags or {}))
    run = TrackedRun(client, created.info.run_id, exp_id, uri)
    try:
        if params:
            run.log_params(params)
        yield run
    except BaseException:
        client.set_terminated(run.run_id, status="FAILED")
        raise
    client.set_terminated(run.run_id, status="FINISHED")
