"""The models a service answers with: loaded once, held in memory, swapped atomically.

The :class:`ModelStore` holds the current :class:`~greenscore.serving.deployment.Deployment`
behind a single reference: a reload builds and smoke-tests a new deployment in a
background thread, then replaces the reference in one assignment, so a request that
already picked up the old deployment finishes on it and no request ever sees a
half-loaded model. Loaded models (:class:`~greenscore.serving.served_model.ServedModel`)
are cached by file and modification time.

What a reload may load is limited: a registry URI (``models:/...``), or a bundle folder
inside ``serving.model_dirs`` or beside a model the service started with, whose signature
(:mod:`greenscore.privacy.signing`) checks out before the reload is accepted; bundles are
also verified again, from the bytes that are unpickled, when they load. The home folder's
database and key files are never opened (closing any descriptor of a SQLite file drops
the process's locks on it): a folder holding a link to one of them is refused. Every
refusal has one message, whatever the reason, so the API does not tell which paths exist.
"""

from __future__ import annotations

import os
import threading
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from greenscore.config import ServingSettings, Settings, get_settings
from greenscore.errors import ConfigError, GreenScoreError, ModelError
from greenscore.logging import get_logger
from greenscore.models.bundle import BUNDLE_FILE, ScoringBundle
from greenscore.serving.deployment import Deployment, Variant, parse_split
from greenscore.serving.errors import ServiceUnavailableError
from greenscore.serving.resilience import CircuitBreaker
from greenscore.serving.served_model import ServedModel

log = get_logger(__name__)

DIFFERENT_INPUTS = (
    "model '{uri}' expects different input fields than the served schema "
    "(missing {missing}, extra {extra}); restart the service to change the schema"
)
NO_MODEL = "no model is loaded"
SMOKE_FAILED = "model '{uri}' failed its smoke test on probe applicants: {error}"
REFUSED = (
    "model '{uri}' cannot be loaded: it is not a signed bundle folder in an allowed model "
    "folder (serving.model_dirs) or a registry URI (models:/NAME/VERSION)"
)
REGISTRY_PREFIX = "models:/"


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def _default_loader(uri: str) -> ScoringBundle:
    from greenscore.tracking.registry import load_bundle

    return load_bundle(uri)


def _sqlite_file(url: str) -> Path | None:
    return Path(url.removeprefix("sqlite:///")) if url.startswith("sqlite:///") else None


def protected_files(settings: Settings) -> tuple[list[Path], list[Path]]:
    """(files, folders) of the home a model load must never open: databases and keys."""
    from greenscore.privacy.keys import keyring_path, master_key_path

    files: list[Path] = []
    for url in (settings.db_url, settings.tracking_uri):
        db = _sqlite_file(url)
        if db is not None:
            files += [db] + [db.with_name(db.name + s) for s in ("-wal", "-shm", "-journal")]
    files += [keyring_path(settings), master_key_path(settings)]
    if settings.privacy.master_key_file is not None:
        files.append(Path(settings.privacy.master_key_file))
    folders = [Path(settings.home) / "keys", keyring_path(settings).parent]
    return [f.resolve() for f in files], [d.resolve() for d in folders]


def refuse_private(folder: Path, settings: Settings) -> None:
    """Raise ModelError if ``folder`` is, is inside, or links to the home's databases or keys.

    Only ``lstat`` is used (nothing is opened): a symbolic link in the folder is refused,
    and so is a hard link to a protected file (same device and inode).
    """
    files, folders = protected_files(settings)
    folder = folder.resolve()
    if folder in files or any(folder.is_relative_to(d) for d in folders):
        raise ModelError("protected")
    inodes = set()
    for path in files:
        try:
            st = os.stat(path)
            inodes.add((st.st_dev, st.st_ino))
        except OSError:
            continue
    entries = list(folder.iterdir()) if folder.is_dir() else [folder]
    for entry in entries:
        st = os.lstat(entry)
        if entry.is_symlink() or (st.st_dev, st.st_ino) in inodes:
            raise ModelError("protected")


class ModelStore:
    """The current deployment, its loading and its hot reload.

    Parameters
    ----------
    settings : ServingSettings
    max_reasons : int
    loader : callable, optional
        URI -> ScoringBundle; default :func:`greenscore.tracking.registry.load_bundle`
        (whose paths a reload vets, see :meth:`vet`).
    """

    def __init__(
        self,
        settings: ServingSettings,
        *,
        max_reasons: int = 4,
        loader: Callable[[str], ScoringBundle] | None = None,
    ) -> None:
        self.settings = settings
        self.max_reasons = max_reasons
        self._loader = loader or _default_loader
        self._deployment: Deployment | None = None
        self._generation = 0
        self._lock = threading.Lock()
        self._cache: dict[str, ServedModel] = {}
        self.reload_status: dict[str, Any] | None = None
        self.on_swap: list[Callable[[Deployment], None]] = []
        # What a reload may load from besides the registry: the configured folders, plus
        # the folder holding each model the service started with.
        self.model_dirs: list[Path] = [Path(d).resolve() for d in settings.model_dirs]
        self._started: set[str] = set()

    # ------------------------------------------------------------------ reading
    @property
    def deployment(self) -> Deployment:
        """The current deployment (one attribute read: safe against a concurrent swap).

        Raises
        ------
        ServiceUnavailableError
            If nothing is loaded yet.
        """
        current = self._deployment
        if current is None:
            raise ServiceUnavailableError(NO_MODEL)
        return current

    @property
    def ready(self) -> bool:
        """Whether a deployment is loaded."""
        return self._deployment is not None

    # ------------------------------------------------------------------ loading
    def _model(self, uri: str) -> ServedModel:
        key = uri
        path = Path(uri)
        target = path / BUNDLE_FILE if path.is_dir() else path
        if target.is_file():
            key = f"{target.resolve()}@{target.stat().st_mtime_ns}"
        elif not uri.rstrip("/").split("/")[-1].isdigit():
            key = ""  # an alias or "latest" may point elsewhere now: resolve it again
        cached = self._cache.get(key) if key else None
        if cached is not None:
            return cached
        try:
            bundle = self._loader(uri)
        except GreenScoreError as exc:
            if self._vetted_path(uri):  # the API must not learn why (or whether it exists)
                raise ModelError(REFUSED.format(uri=uri)) from exc
            raise
        model = ServedModel(
            bundle,
            uri=uri,
            max_reasons=self.max_reasons,
            reasons=self.settings.reasons,
            training_outcomes=self.settings.training_outcomes,
        )
        if key:
            self._cache[key] = model
        return model

    def build(
        self, model: str, *, fallback: str | None = None, ab: str | None = None
    ) -> Deployment:
        """Load the models of a deployment (cached by URI) without installing it.

        Raises
        ------
        ConfigError
            If the split cannot be read or the variants read different input fields.
        """
        split = parse_split(ab) if ab else [(model, 1.0)]
        variants = []
        for k, (uri, weight) in enumerate(split):
            served = self._model(uri)
            label = "primary" if len(split) == 1 else chr(ord("a") + k)
            breaker = CircuitBreaker(
                failures=self.settings.breaker_failures,
                reset_seconds=self.settings.breaker_reset_seconds,
            )
            variants.append(Variant(label=label, weight=weight, model=served, breaker=breaker))
        columns = set(variants[0].model.input_columns)
        for variant in variants[1:]:
            self._check_inputs(variant.model, columns)
        backup = self._model(fallback) if fallback else None
        with self._lock:
            self._generation += 1
            generation = self._generation
        return Deployment(generation=generation, variants=tuple(variants), fallback=backup)

    @staticmethod
    def _check_inputs(model: ServedModel, columns: set[str]) -> None:
        have = set(model.input_columns)
        if have != columns:
            raise ConfigError(
                DIFFERENT_INPUTS.format(
                    uri=model.uri, missing=sorted(columns - have), extra=sorted(have - columns)
                )
            )

    def install(self, deployment: Deployment) -> None:
        """Make ``deployment`` current (one reference assignment) and tell listeners."""
        self._deployment = deployment
        for listener in self.on_swap:
            listener(deployment)

    def load(self, model: str, *, fallback: str | None = None, ab: str | None = None) -> Deployment:
        """Build and install a deployment now (service start).

        The folders holding these models join :attr:`model_dirs`, so a reload may load a
        sibling version.

        Raises
        ------
        ModelError
            If a model path is the home's database or key files, or links to one.
        """
        settings = get_settings()
        for uri in _uris(model, fallback, ab):
            if not uri.startswith(REGISTRY_PREFIX) and Path(uri).exists():
                try:
                    refuse_private(Path(uri), settings)
                except (ModelError, OSError) as exc:
                    raise ModelError(REFUSED.format(uri=uri)) from exc
                folder = Path(uri).resolve().parent
                if folder not in self.model_dirs:
                    self.model_dirs.append(folder)
            self._started.add(uri)
        deployment = self.build(model, fallback=fallback, ab=ab)
        self.install(deployment)
        return deployment

    def _vetted_path(self, uri: str) -> bool:
        """Whether ``uri`` is a path that only the reload vetting allowed (not a start URI).

        Only for the default loader: a loader passed in by code (tests, replay) decides
        itself what its URIs mean.
        """
        return (
            self._loader is _default_loader
            and not uri.startswith(REGISTRY_PREFIX)
            and uri not in self._started
        )

    def vet(self, uri: str) -> None:
        """Refuse a URI a reload may not load, before anything of it is unpickled.

        Registry URIs and the URIs the service started with pass. A path must be a bundle
        folder inside :attr:`model_dirs`, hold nothing that is or links to the home's
        databases or keys, and carry a valid signature over unchanged files.

        Raises
        ------
        ModelError
            With one message (:data:`REFUSED`) whatever the reason.
        """
        if not self._vetted_path(uri):
            return
        from greenscore.privacy.signing import verify_folder

        settings = get_settings()
        try:
            folder = Path(uri).resolve()
            if not any(folder.is_relative_to(d) for d in self.model_dirs):
                raise ModelError("outside the allowed folders")
            if not folder.is_dir():
                raise ModelError("not a folder")
            refuse_private(folder, settings)
            verify_folder(folder, settings=settings)
        except (GreenScoreError, OSError, ValueError) as exc:
            log.warning("model reload refused", extra={"uri": uri, "why": str(exc)})
            raise ModelError(REFUSED.format(uri=uri)) from None

    def reload(
        self,
        *,
        model: str | None = None,
        fallback: str | None = None,
        ab: str | None = None,
        keep_fallback: bool = True,
    ) -> dict[str, Any]:
        """Start loading a new deployment in the background; returns the reload's status.

        Each URI is vetted first (:meth:`vet`). The new models are loaded, checked against
        the served input fields and smoke-tested before the swap; on any failure the
        current deployment stays. Without ``model`` and ``ab``, the current URIs are
        loaded again (a registry alias then picks up the version it points to now).

        Raises
        ------
        ModelError
            If a URI may not be loaded (nothing is started then).
        ConfigError
            If the A/B split cannot be read, or there is nothing to reload.
        """
        current = self._deployment
        if model is None and ab is None:
            if current is None:
                raise ConfigError("nothing to reload: no model is loaded and none was given")
            if len(current.variants) > 1:
                ab = ",".join(f"{v.model.uri}:{v.weight}" for v in current.variants)
            else:
                model = current.primary.model.uri
        if fallback is None and keep_fallback and current is not None and current.fallback:
            fallback = current.fallback.uri
        for uri in _uris(model, fallback, ab):
            self.vet(uri)
        status: dict[str, Any] = {
            "id": uuid.uuid4().hex,
            "state": "loading",
            "model": model,
            "ab": ab,
            "fallback": fallback,
            "started_at": _now(),
            "finished_at": None,
            "error": None,
            "generation": None,
        }
        self.reload_status = status
        thread = threading.Thread(
            target=self._reload,
            args=(status, model, fallback, ab),
            daemon=True,
            name="greenscore-reload",
        )
        thread.start()
        return dict(status)

    def _reload(
        self, status: dict[str, Any], model: str | None, fallback: str | None, ab: str | None
    ) -> None:
        try:
            deployment = self.build(model or "", fallback=fallback, ab=ab)
            current = self._deployment
            if current is not None:
                columns = set(current.primary.model.input_columns)
                for variant in deployment.variants:
                    self._check_inputs(variant.model, columns)
            for served in [v.model for v in deployment.variants]:
                try:
                    served.smoke_test()
                except Exception as exc:  # noqa: BLE001 - reported, and the swap is refused
                    raise ModelError(SMOKE_FAILED.format(uri=served.uri, error=exc)) from exc
            self.install(deployment)
            status.update(state="done", generation=deployment.generation)
        except Exception as exc:  # noqa: BLE001 - a failed reload leaves the service as it was
            log.warning("model reload failed", extra={"error": repr(exc)})
            status.update(state="failed", error=str(exc))
        finally:
            status["finished_at"] = _now()

    def wait_reload(self, timeout: float = 60.0) -> dict[str, Any] | None:
        """Block until the latest reload has finished (tests, CLI)."""
        import time

        deadline = time.monotonic() + timeout
        while self.reload_status and self.reload_status["state"] == "loading":
            if time.monotonic() > deadline:
                break
            time.sleep(0.02)
        return self.reload_status


def _uris(model: str | None, fallback: str | None, ab: str | None) -> list[str]:
    """Every model URI of a deployment: the variants (or the one model) and the fallback."""
    uris = [uri for uri, _ in parse_split(ab)] if ab else [model] if model else []
    return uris + ([fallback] if fallback else [])
