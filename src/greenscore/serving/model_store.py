"""The models a service answers with: loaded once, held in memory, split A/B, swapped atomically.

A :class:`Deployment` is an immutable set of variants (each a loaded model with a weight
and its own circuit breaker) plus an optional fallback model. The :class:`ModelStore`
holds the current one behind a single reference: a reload builds and smoke-tests a new
deployment in a background thread, then replaces the reference in one assignment, so a
request that already picked up the old deployment finishes on it and no request ever
sees a half-loaded model.

Applicants are assigned to a variant by a hash of their id, so the same applicant always
meets the same model while the split stands (sticky assignment).

What a reload may load is limited: a registry URI (``models:/...``), or a bundle folder
inside ``serving.model_dirs`` or beside a model the service started with, whose signature
(:mod:`greenscore.privacy.signing`) checks out before the reload is accepted; bundles are
also verified again, from the bytes that are unpickled, when they load. The home folder's
database and key files are never opened (closing any descriptor of a SQLite file drops
the process's locks on it): a folder holding a link to one of them is refused. Every
refusal has one message, whatever the reason, so the API does not tell which paths exist.
"""

from __future__ import annotations

import hashlib
import os
import random
import threading
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from greenscore.config import ServingSettings, Settings, get_settings
from greenscore.data.input_rules import SENT_KEY
from greenscore.errors import ConfigError, GreenScoreError, ModelError
from greenscore.explain.reason_codes import ReasonCode, ReasonCoder
from greenscore.logging import get_logger
from greenscore.serving.errors import ServiceUnavailableError
from greenscore.serving.fast_path import FastScorer, probe_rows, rows_frame
from greenscore.serving.resilience import CircuitBreaker

log = get_logger(__name__)

BAD_SPLIT = "cannot read A/B split '{text}': expected MODEL:WEIGHT,MODEL:WEIGHT with weights > 0"
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
#: Rows above which reasons are computed in one frame instead of row by row.
_BATCH_EXPLAIN_ROWS = 32


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


@dataclass(frozen=True)
class ScoreResult:
    """What one model said about one applicant."""

    probability_of_default: float
    score: float
    decision: str
    reasons: tuple[ReasonCode, ...] = ()
    reasons_available: bool = True


@dataclass(frozen=True)
class EnergyPerCall:
    """Energy and carbon of one scoring call, and how the figure was obtained."""

    kwh: float
    co2_kg: float
    method: str

    def to_dict(self) -> dict[str, Any]:
        """Plain data; NaN becomes None so the figure stays valid JSON."""
        clean = {k: (None if isinstance(v, float) and v != v else v) for k, v in vars(self).items()}
        return clean


def _metadata_energy(metadata: Mapping[str, Any]) -> EnergyPerCall:
    metrics = metadata.get("metrics") or {}
    per_1k = metrics.get("energy_kwh_per_1k_predictions")
    kwh = float(per_1k) / 1000.0 if isinstance(per_1k, int | float) else float("nan")
    fit_kwh, fit_co2 = metrics.get("final_energy_kwh"), metrics.get("final_co2_kg")
    intensity = (
        float(fit_co2) / float(fit_kwh)
        if isinstance(fit_kwh, int | float) and isinstance(fit_co2, int | float) and fit_kwh > 0
        else float("nan")
    )
    return EnergyPerCall(
        kwh=kwh,
        co2_kg=kwh * intensity,
        method="bundle metadata: CodeCarbon per-row cost of batch scoring at training time",
    )


def _bundle_version(bundle: Any, uri: str) -> str:
    registry = bundle.metadata.get("registry") or {}
    if "version" in registry:
        return str(registry["version"])
    path = Path(uri)
    target = path / "bundle.joblib" if path.is_dir() else path
    if target.is_file():
        digest = hashlib.sha256()
        with target.open("rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                digest.update(block)
        return "sha256:" + digest.hexdigest()[:12]
    return "unversioned"


class ServedModel:
    """One loaded bundle ready to answer: fast scorer, reason coder, identity and energy.

    Parameters
    ----------
    bundle : ScoringBundle
    uri : str
        Where it was loaded from.
    max_reasons : int
        Reason codes per review or decline.

    Attributes
    ----------
    name, version : str
        Registry name and version, or the bundle's name and a hash of its file.
    scorer : FastScorer
    input_columns : list of str
        Raw fields the model reads.
    training_pd : list of float or None
        Quantiles of out-of-fold PD at training (for the PSI gauge).
    energy : EnergyPerCall
    """

    def __init__(self, bundle: Any, *, uri: str, max_reasons: int) -> None:
        self.bundle = bundle
        self.uri = uri
        registry = bundle.metadata.get("registry") or {}
        self.name = str(registry.get("name") or bundle.name)
        self.version = _bundle_version(bundle, uri)
        self.scorer = FastScorer(bundle)
        self.input_columns = list(self.scorer.raw_columns)
        self.id_name = bundle.spec.id_column
        self.training_ranges: dict[str, Any] = dict(bundle.metadata.get("training_ranges") or {})
        quantiles = bundle.metadata.get("training_pd")
        self.training_pd = [float(q) for q in quantiles] if quantiles else None
        self.max_reasons = max_reasons
        self.energy = _metadata_energy(bundle.metadata)
        self.coder, self.coder_error = self._build_coder()

    @property
    def label(self) -> str:
        """``name:version``."""
        return f"{self.name}:{self.version}"

    def _build_coder(self) -> tuple[ReasonCoder | None, str]:
        if self.scorer.probe_error is not None:
            # A model that cannot score probe applicants cannot be explained either.
            return None, f"the model fails on probe applicants ({self.scorer.probe_error})"
        try:
            if self.scorer.mode == "lightgbm":
                head = self._classifier_head()
                return ReasonCoder.from_bundle(head, max_reasons=self.max_reasons), ""
            rows, ids = probe_rows(self.bundle)
            background = rows_frame(rows, ids, self.input_columns, self.id_name)
            coder = ReasonCoder.from_bundle(
                self.bundle, background=background, max_reasons=self.max_reasons
            )
            return coder, ""
        except Exception as exc:  # noqa: BLE001 - a model without reasons still scores
            log.warning("reason codes unavailable", extra={"model": self.label, "error": repr(exc)})
            return None, f"{type(exc).__name__}: {exc}"

    def _classifier_head(self) -> Any:
        """The bundle cut to its classifier, so reasons start from model features.

        The fast path already computed the model features; explaining the full bundle
        would run the feature steps a second time. The head is a type coercer over the
        model features (category levels exactly the classifier's) and the classifier, so
        the coder's own row encoder accepts a dict of model-feature values.
        """
        import pandas as pd
        from sklearn.pipeline import Pipeline

        from greenscore.features.coercion import TypeCoercer
        from greenscore.models.bundle import ScoringBundle

        features = self.scorer.features
        assert features is not None
        n = max([len(levels) for levels in features.categories.values()] + [1])
        data: dict[str, Any] = {}
        for name in features.model_features:
            levels = features.categories.get(name)
            if levels is None:
                data[name] = np.zeros(n)
            else:
                data[name] = pd.Series([levels[i % len(levels)] for i in range(n)], dtype=object)
        coercer = TypeCoercer().fit(pd.DataFrame(data))
        for name, levels in coercer.categories_.items():
            if levels != features.categories.get(name):
                raise ModelError(f"category levels of '{name}' cannot be reproduced for reasons")
        return ScoringBundle(
            name=self.bundle.name,
            spec=self.bundle.spec,
            pipeline=Pipeline([("coerce", coercer), ("model", self.bundle.estimator)]),
            scoring=self.bundle.scoring,
            metadata=self.bundle.metadata,
        )

    # ------------------------------------------------------------------ scoring
    def score(
        self,
        rows: Sequence[Mapping[str, Any]],
        ids: Sequence[Any],
        *,
        explain: Sequence[bool] | None = None,
    ) -> list[ScoreResult]:
        """Score raw applicants; reasons for reviews and declines (or where ``explain`` says).

        Raises
        ------
        DataError
            If a field cannot be read (the field is named).
        Exception
            Whatever the model raises; the caller's circuit breaker counts it.
        """
        pd_, matrix = self.scorer.predict(rows, ids)
        pd_ = np.asarray(pd_, dtype=float)
        if not np.all(np.isfinite(pd_)):
            raise ModelError(f"model {self.label} returned a non-finite probability")
        points = self.bundle.points(pd_)
        decisions = self.bundle.decisions(pd_)
        wanted = [
            (explain[i] if explain is not None else False) or decisions[i] != "approve"
            for i in range(len(rows))
        ]
        reasons, available = self._reasons(rows, ids, matrix, wanted)
        return [
            ScoreResult(
                probability_of_default=float(pd_[i]),
                score=round(float(points[i]), 1),
                decision=str(decisions[i]),
                reasons=tuple(reasons.get(i, ())),
                reasons_available=available or not wanted[i],
            )
            for i in range(len(rows))
        ]

    def _reasons(
        self,
        rows: Sequence[Mapping[str, Any]],
        ids: Sequence[Any],
        matrix: np.ndarray | None,
        wanted: Sequence[bool],
    ) -> tuple[dict[int, list[ReasonCode]], bool]:
        which = [i for i, w in enumerate(wanted) if w]
        if not which:
            return {}, True
        if self.coder is None:
            return {}, False
        try:
            features = self.scorer.features
            # Reasons quote what the caller sent where the guard changed or did not
            # recognise it (InputGuard keeps those values under SENT_KEY).
            shown = [rows[i].get(SENT_KEY) for i in which]
            if matrix is not None and features is not None and len(which) <= _BATCH_EXPLAIN_ROWS:
                return {
                    i: self.coder.explain_one(features.values(matrix[i]), shown[k])
                    for k, i in enumerate(which)
                }, True
            sub_ids = [ids[i] for i in which]
            if matrix is not None and features is not None:
                frame = features.frame_from(matrix[which], sub_ids)
            else:
                sub_rows = [rows[i] for i in which]
                frame = rows_frame(sub_rows, sub_ids, self.input_columns, self.id_name)
            explained = self.coder.explain_batch(frame, shown)
            return dict(zip(which, explained, strict=True)), True
        except Exception as exc:  # noqa: BLE001 - a decision is still a decision without reasons
            log.warning("reason codes failed", extra={"model": self.label, "error": repr(exc)})
            return {}, False

    def smoke_test(self) -> None:
        """Score probe applicants (with reasons) once; raises what the model raises."""
        rows, ids = probe_rows(self.bundle, n=8)
        self.score(rows, ids, explain=[True] * len(rows))

    def calibrate_energy(self) -> EnergyPerCall:
        """Measure this model's energy per single-applicant call with CodeCarbon and keep it."""
        from greenscore.sustainability.energy import energy_per_1k_predictions

        rows, ids = probe_rows(self.bundle, n=8)
        one_row, one_id = [rows[4]], [ids[4]]
        measured = energy_per_1k_predictions(
            lambda _x: self.score(one_row, one_id, explain=[True]),
            one_row,
            min_seconds=0.3,
            label=f"serve:{self.label}",
        )
        self.energy = EnergyPerCall(
            kwh=measured.kwh_per_1k / 1000.0,
            co2_kg=measured.co2_kg_per_1k / 1000.0,
            method=f"{measured.reading.method} (measured per call at load)",
        )
        return self.energy

    def info(self) -> dict[str, Any]:
        """Identity and serving details, for the admin API."""
        return {
            "name": self.name,
            "version": self.version,
            "uri": self.uri,
            "fast_path": self.scorer.mode,
            "fast_path_note": self.scorer.reason,
            "reason_codes": self.coder is not None,
            "reason_codes_note": self.coder_error,
            "energy_per_call": self.energy.to_dict(),
        }


@dataclass(frozen=True)
class Variant:
    """One arm of an A/B split (a single model is one variant of weight 1)."""

    label: str
    weight: float
    model: ServedModel
    breaker: CircuitBreaker


@dataclass(frozen=True)
class Deployment:
    """An immutable set of variants and a fallback, with a generation number."""

    generation: int
    variants: tuple[Variant, ...]
    fallback: ServedModel | None
    loaded_at: str = field(default_factory=_now)

    @property
    def primary(self) -> Variant:
        """The first variant (the only one without an A/B split)."""
        return self.variants[0]

    def choose(self, key: str | None) -> Variant:
        """The variant of an applicant: sticky by a hash of ``key`` (random when None)."""
        if len(self.variants) == 1:
            return self.variants[0]
        if key is None:
            share = random.random()  # no id to stick to
        else:
            digest = hashlib.blake2b(key.encode("utf-8"), digest_size=8).digest()
            share = int.from_bytes(digest, "big") / 2.0**64
        point = share * sum(v.weight for v in self.variants)
        for variant in self.variants:
            point -= variant.weight
            if point < 0:
                return variant
        return self.variants[-1]

    def info(self) -> dict[str, Any]:
        """What is served, for the admin API."""
        return {
            "generation": self.generation,
            "loaded_at": self.loaded_at,
            "variants": [
                {
                    "label": v.label,
                    "weight": v.weight,
                    "circuit": v.breaker.state,
                    **v.model.info(),
                }
                for v in self.variants
            ],
            "fallback": self.fallback.info() if self.fallback is not None else None,
        }


def parse_split(text: str) -> list[tuple[str, float]]:
    """``"M1:0.9,M2:0.1"`` as ``[("M1", 0.9), ("M2", 0.1)]`` (the last ``:`` splits).

    Raises
    ------
    ConfigError
        If an item has no weight or a weight is not a positive number.
    """
    out = []
    for item in (p.strip() for p in text.split(",")):
        uri, sep, weight = item.rpartition(":")
        try:
            value = float(weight)
        except ValueError:
            value = -1.0
        if not sep or not uri or not value > 0:
            raise ConfigError(BAD_SPLIT.format(text=text))
        out.append((uri, value))
    if not out:
        raise ConfigError(BAD_SPLIT.format(text=text))
    return out


def _default_loader(uri: str) -> Any:
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
        loader: Callable[[str], Any] | None = None,
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
        target = path / "bundle.joblib" if path.is_dir() else path
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
        model = ServedModel(bundle, uri=uri, max_reasons=self.max_reasons)
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
