"""The model registry: versioned ScoringBundles under a name, with aliases.

:func:`register_bundle` logs a bundle folder as an MLflow model (a ``pyfunc`` whose
``predict`` returns PD, see :mod:`greenscore.tracking._pyfunc`) and registers it as the
next version of ``name``, pointing the ``champion`` alias at it by default.
:func:`load_bundle` reads a bundle back from a folder, ``models:/NAME/VERSION``,
``models:/NAME@ALIAS`` or ``models:/NAME/latest``.

The registry lives in the same MLflow backend as tracked runs (``settings.tracking_uri``).
"""

from __future__ import annotations

import importlib.metadata
import logging
import re
import shutil
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import yaml

from greenscore.config import Settings, get_settings
from greenscore.errors import ConfigError, NotFoundError
from greenscore.models.bundle import ScoringBundle
from greenscore.models.metadata import RegistryInfo
from greenscore.tracking.mlflow_run import (
    client_for,
    experiment_id,
    tracking_uri,
    use_home_store,
)

TRACKING_DISABLED = "the model registry needs MLflow: set tracking.enabled to true"
NO_MODEL = "no registered model named '{name}' in the registry at {uri}"
NO_VERSION = "registered model '{name}' has no version {version} (registry at {uri})"
NO_ALIAS = "registered model '{name}' has no alias '{alias}' (registry at {uri})"
BAD_URI = (
    "cannot read model URI '{uri}': expected a folder, models:/NAME/VERSION or models:/NAME@ALIAS"
)

_MODELS_URI = re.compile(r"^models:/(?P<name>[^/@]+)(?:/(?P<version>[^/@]+)|@(?P<alias>[^/@]+))/?$")
_MODEL_ARTIFACT = "bundle"
# Distributions that every bundle needs at load time.
_BASE_REQUIREMENTS = ("mlflow", "scikit-learn", "pandas", "numpy", "scipy", "joblib", "pyyaml")
_NOISE = (
    "Passing a Python object as `python_model`",
    "Failed to infer model signature",
    "Add type hints to the `predict` method",
)
_requirements_lock = threading.Lock()


def _settings(settings: Settings | None) -> Settings:
    settings = settings or get_settings()
    if not settings.tracking.enabled:
        raise ConfigError(TRACKING_DISABLED)
    return settings


def _is_missing(exc: Exception) -> bool:
    return (
        getattr(exc, "error_code", "") == "RESOURCE_DOES_NOT_EXIST"
        or "not found" in str(exc).lower()
    )


# ------------------------------------------------------------------ requirements
# Import name to distribution name where they differ.
_DISTRIBUTION_OF = {
    "sklearn": "scikit-learn",
    "imblearn": "imbalanced-learn",
    "torch_geometric": "torch-geometric",
    "yaml": "pyyaml",
    "dateutil": "python-dateutil",
}
_LEAF = (str, bytes, int, float, bool, complex, type(None))


def _library_modules(bundle: ScoringBundle, max_depth: int = 6) -> set[str]:
    """Top-level modules of every object reachable from the bundle's pipeline.

    Walks estimator parameters and fitted attributes (instance ``__dict__``), lists,
    tuples and dicts, so a GreenScore wrapper holding a LightGBM booster or a torch
    module reports ``lightgbm`` or ``torch``. Arrays and frames are not walked into.
    """
    seen: set[int] = set()
    modules: set[str] = set()

    def visit(obj: Any, depth: int) -> None:
        if isinstance(obj, _LEAF) or id(obj) in seen or depth > max_depth:
            return
        seen.add(id(obj))
        modules.add(type(obj).__module__.split(".")[0])
        if isinstance(obj, list | tuple | set | frozenset):
            children = list(obj)
        elif isinstance(obj, dict):
            children = list(obj.values())
        elif type(obj).__module__.split(".")[0] in ("numpy", "pandas", "scipy"):
            return
        else:
            children = list(getattr(obj, "__dict__", {}).values())
        for child in children:
            visit(child, depth + 1)

    visit(bundle.pipeline, 0)
    return modules


def _pinned(distribution: str) -> str | None:
    try:
        return f"{distribution}=={importlib.metadata.version(distribution)}"
    except importlib.metadata.PackageNotFoundError:
        return None


def bundle_requirements(bundle: ScoringBundle) -> list[str]:
    """Pinned pip requirements to load and run this bundle.

    The base stack plus the distribution of every library whose objects appear in the
    pipeline (LightGBM, PyTorch, optbinning, …), pinned to the installed versions, and
    GreenScore itself. Working them out this way takes milliseconds; MLflow's
    inference takes about 12 s.
    """
    names = set(_BASE_REQUIREMENTS)
    for module in _library_modules(bundle):
        if module in ("builtins", "greenscore", "__main__"):
            continue
        for candidate in (_DISTRIBUTION_OF.get(module, module), module.replace("_", "-")):
            if _pinned(candidate):
                names.add(candidate)
                break
    pins = [_pinned(n) for n in sorted(names, key=str.lower)]
    own = _pinned("greenscore")
    return [p for p in pins if p] + ([own] if own else [])


@contextmanager
def _fast_requirement_check(requirements: list[str]) -> Iterator[None]:
    """Let MLflow check our pinned requirements without scanning every installed package.

    MLflow compares requirements against the environment through a module-to-package
    map built by ``packages_distributions()`` over all of site-packages (seconds on a
    large environment), even when requirements are given. Ours are pinned to the
    installed versions, so a map of just these packages is exact for the check. The
    map is put back afterwards so requirement *inference* elsewhere sees the real one.
    """
    try:
        from mlflow.utils import requirements_utils as ru
    except ImportError:  # a future MLflow moved it: fall back to the slow, correct path
        yield
        return
    if getattr(ru, "_MODULES_TO_PACKAGES", object()) is not None:
        yield  # already built (or renamed): nothing to save
        return
    names = [r.split("==")[0] for r in requirements]
    with _requirements_lock:
        # MLflow declares its cache as None until it builds it.
        ru._MODULES_TO_PACKAGES = {n.replace("-", "_"): [n] for n in names}  # type: ignore[assignment]
        try:
            yield
        finally:
            ru._MODULES_TO_PACKAGES = None
            ru._PACKAGES_TO_MODULES = None


class _DropNoise(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith(_NOISE)


@contextmanager
def _quiet_mlflow() -> Iterator[None]:
    import warnings

    noise = _DropNoise()
    loggers = [logging.getLogger(n) for n in ("mlflow.pyfunc", "mlflow.models.model", "mlflow")]
    for lg in loggers:
        lg.addFilter(noise)
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=".*type hints.*predict.*")
            yield
    finally:
        for lg in loggers:
            lg.removeFilter(noise)


# ------------------------------------------------------------------ register
def register_bundle(
    bundle_folder: Path | str,
    *,
    name: str,
    run_id: str | None = None,
    alias: str | None = "champion",
    settings: Settings | None = None,
) -> int:
    """Log a saved ScoringBundle as an MLflow model and register a new version of it.

    Parameters
    ----------
    bundle_folder : path
        A folder written by :meth:`ScoringBundle.save`.
    name : str
        Registered model name, e.g. ``german-pd``.
    run_id : str, optional
        The training run the model belongs to (``TrackedRun.run_id``). Without one, a
        run named ``register:<name>`` is created for it.
    alias : str or None, default "champion"
        Alias to point at the new version; None leaves aliases alone.
    settings : Settings, optional

    Returns
    -------
    int
        The new version number.

    Raises
    ------
    NotFoundError
        If there is no bundle in the folder.
    ConfigError
        If tracking is disabled.
    """
    settings = _settings(settings)
    folder = Path(bundle_folder)
    bundle = ScoringBundle.load(folder)  # fail early, with our message, on a bad folder
    requirements = bundle_requirements(bundle)

    import mlflow
    from mlflow.models import Model

    from greenscore.tracking._pyfunc import BUNDLE_ARTIFACT, BundleModel

    uri = use_home_store(settings)  # Model.log reads MLflow's process-wide URIs
    client = client_for(uri)
    own_run = run_id is None
    if own_run:
        run_id = client.create_run(
            experiment_id(settings=settings), run_name=f"register:{name}"
        ).info.run_id
    exp_id = client.get_run(run_id).info.experiment_id
    # Model.log reads MLflow's process-wide experiment to place the artifacts.
    mlflow.set_experiment(experiment_id=exp_id)
    try:
        with _quiet_mlflow(), _fast_requirement_check(requirements):
            info = Model.log(
                artifact_path=None,
                name=_MODEL_ARTIFACT,
                flavor=mlflow.pyfunc,
                python_model=BundleModel(),
                artifacts={BUNDLE_ARTIFACT: str(folder.resolve())},
                pip_requirements=requirements,
                run_id=run_id,
                registered_model_name=name,
                await_registration_for=0,
                metadata={"greenscore_model": bundle.name},
            )
    except BaseException:
        if own_run:
            client.set_terminated(run_id, status="FAILED")
        raise
    if own_run:
        client.set_terminated(run_id, status="FINISHED")
    version = int(info.registered_model_version)
    if alias:
        client.set_registered_model_alias(name, alias, str(version))
    return version


# ------------------------------------------------------------------ read
def _resolve(uri: str, settings: Settings) -> Any:
    """The ModelVersion a ``models:/`` URI points at, or NotFoundError."""
    from mlflow.exceptions import MlflowException

    found = _MODELS_URI.match(uri)
    if not found:
        raise ConfigError(BAD_URI.format(uri=uri))
    name, version, alias = found["name"], found["version"], found["alias"]
    backend = tracking_uri(settings)
    client = client_for(backend)
    try:
        client.get_registered_model(name)
    except MlflowException as exc:
        if _is_missing(exc):
            raise NotFoundError(NO_MODEL.format(name=name, uri=backend)) from exc
        raise
    try:
        if alias is not None:
            return client.get_model_version_by_alias(name, alias)
        if version == "latest":
            versions = client.search_model_versions(f"name='{name}'")
            if not versions:
                raise NotFoundError(NO_VERSION.format(name=name, version="latest", uri=backend))
            return max(versions, key=lambda v: int(v.version))
        if not version.isdigit():
            raise ConfigError(BAD_URI.format(uri=uri))
        return client.get_model_version(name, version)
    except MlflowException as exc:
        if not _is_missing(exc):
            raise
        if alias is not None:
            raise NotFoundError(NO_ALIAS.format(name=name, alias=alias, uri=backend)) from exc
        raise NotFoundError(NO_VERSION.format(name=name, version=version, uri=backend)) from exc


def load_bundle(uri: str | Path, *, settings: Settings | None = None) -> ScoringBundle:
    """Load a ScoringBundle from a folder or from the registry.

    Parameters
    ----------
    uri : str or path
        A bundle folder, ``models:/NAME/VERSION``, ``models:/NAME@ALIAS`` or
        ``models:/NAME/latest``.
    settings : Settings, optional

    Returns
    -------
    ScoringBundle

    Raises
    ------
    NotFoundError
        If the folder, model, version or alias does not exist.
    ConfigError
        If the URI cannot be read.
    """
    text = str(uri)
    if not text.startswith("models:/"):
        if "://" in text or text.startswith("runs:/"):
            raise ConfigError(BAD_URI.format(uri=text))
        return ScoringBundle.load(text)
    settings = _settings(settings)
    version = _resolve(text, settings)
    import mlflow
    import mlflow.artifacts

    # models:/ URIs resolve through the *registry* URI, not the tracking_uri passed below.
    use_home_store(settings)
    scratch = Path(tempfile.mkdtemp(prefix="greenscore-model-"))
    try:
        # Only the files are needed: the bundle loads itself, no MLflow environment checks.
        local = Path(
            mlflow.artifacts.download_artifacts(
                artifact_uri=f"models:/{version.name}/{version.version}",
                dst_path=str(scratch),
                tracking_uri=tracking_uri(settings),
            )
        )
        meta = yaml.safe_load((local / "MLmodel").read_text(encoding="utf-8"))
        artifacts = meta["flavors"]["python_function"].get("artifacts", {})
        relative = artifacts.get(_MODEL_ARTIFACT, {}).get("path")
        if relative is None:
            raise NotFoundError(
                f"model '{version.name}' version {version.version} holds no GreenScore bundle"
            )
        bundle = ScoringBundle.load(local / relative)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    bundle.metadata.registry = RegistryInfo(
        name=version.name, version=int(version.version), run_id=version.run_id
    )
    return bundle


def list_versions(name: str, *, settings: Settings | None = None) -> list[dict[str, Any]]:
    """All versions of a registered model, newest first.

    Returns
    -------
    list of dict
        ``version`` (int), ``aliases``, ``run_id``, ``status``, ``created_ms``,
        ``source`` and ``tags`` per version.

    Raises
    ------
    NotFoundError
        If no model of that name is registered.
    """
    from mlflow.exceptions import MlflowException

    settings = _settings(settings)
    backend = tracking_uri(settings)
    client = client_for(backend)
    try:
        model = client.get_registered_model(name)
    except MlflowException as exc:
        if _is_missing(exc):
            raise NotFoundError(NO_MODEL.format(name=name, uri=backend)) from exc
        raise
    aliases: dict[str, list[str]] = {}
    for alias, version in (model.aliases or {}).items():
        aliases.setdefault(str(version), []).append(alias)
    versions = client.search_model_versions(f"name='{name}'")
    rows = [
        {
            "version": int(v.version),
            "aliases": sorted(aliases.get(str(v.version), [])),
            "run_id": v.run_id,
            "status": v.status,
            "created_ms": v.creation_timestamp,
            "source": v.source,
            "tags": dict(v.tags or {}),
        }
        for v in versions
    ]
    return sorted(rows, key=lambda r: r["version"], reverse=True)


def set_alias(name: str, version: int, alias: str, *, settings: Settings | None = None) -> None:
    """Point ``alias`` (e.g. ``champion``) of a registered model at ``version``.

    Raises
    ------
    NotFoundError
        If the model or version does not exist.
    """
    settings = _settings(settings)
    _resolve(f"models:/{name}/{int(version)}", settings)
    client_for(tracking_uri(settings)).set_registered_model_alias(name, alias, str(int(version)))
