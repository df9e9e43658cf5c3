"""ScoringBundle: the unit that is registered, versioned, served and audited.

A bundle holds the fitted feature pipeline and model as one scikit-learn ``Pipeline``
(raw model input in, probability of default out), the dataset spec, the scaling and
cut-offs used to turn a PD into points and a decision, and metadata (metrics, energy,
lineage, training ranges). It is saved as a folder: ``bundle.joblib`` plus readable
``metadata.json`` and ``spec.yaml``, stamped with the GreenScore version, and
``signature.json``, an HMAC under the keyring over the folder's files
(:mod:`greenscore.privacy.signing`): :meth:`ScoringBundle.load` checks it before anything
is unpickled, and refuses a bundle that is unsigned or was changed.
"""

from __future__ import annotations

import copy
import dataclasses
import hashlib
import io
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import joblib
import numpy as np
import pandas as pd
from sklearn.pipeline import Pipeline
from sklearn.utils.validation import check_is_fitted

from greenscore.config import ScoringSettings
from greenscore.data.cleaning import clean_frame
from greenscore.data.input_rules import InputRules
from greenscore.data.loading import model_input
from greenscore.data.spec import DatasetSpec
from greenscore.errors import DataError, ModelError, NotFoundError
from greenscore.features.relational import Link, RelationalFeatures
from greenscore.json_document import write_json
from greenscore.logging import get_logger
from greenscore.models.metadata import BundleMetadata
from greenscore.models.scaling import decisions_from_pd, points_from_pd
from greenscore.models.scorecard_export import write_beside_bundle
from greenscore.version import __version__

BUNDLE_FILE = "bundle.joblib"
METADATA_FILE = "metadata.json"
SPEC_FILE = "spec.yaml"
NO_BUNDLE = "no model bundle at {folder}"
#: A train run folder holds its served model in ``model/`` (and the others in ``models/``).
RUN_FOLDER_HINT = "no model bundle at {folder}: it is a training run folder; did you mean {model}?"


class NoBundleError(NotFoundError):
    """A path the caller gave that holds no model bundle.

    A mistyped folder, or a train run folder instead of its ``model/``, is the caller's
    mistake like a missing data file, so the CLI exits 2 for it (not 4, which is for a
    named model, version or alias missing from a registry); it is still a
    :class:`NotFoundError` (HTTP 404) for code that catches that. A bundle that is there
    but unsigned, changed or unreadable stays a :class:`ModelError`.
    """

    exit_code = 2


def _no_bundle(folder: Path | str) -> NoBundleError:
    """The error for a path without a bundle, pointing a run folder at its ``model/``."""
    from greenscore.privacy.at_rest import ENCRYPTED_BUNDLE_FILE

    served = Path(folder) / "model"
    if any((served / name).is_file() for name in (BUNDLE_FILE, ENCRYPTED_BUNDLE_FILE)):
        return NoBundleError(RUN_FOLDER_HINT.format(folder=folder, model=served))
    return NoBundleError(NO_BUNDLE.format(folder=folder))


log = get_logger(__name__)


@dataclass
class ScoringBundle:
    """A fitted credit model ready to score raw applications.

    Attributes
    ----------
    name : model name (``lightgbm``, ``scorecard``, …).
    spec : what the input columns mean.
    pipeline : fitted ``Pipeline`` whose last step is the classifier; earlier steps
        are the feature transformers (DataFrame in, DataFrame out).
    scoring : points scaling and decision cut-offs.
    metadata : metrics, energy, lineage, training feature ranges, versions
        (:class:`~greenscore.models.metadata.BundleMetadata`; a plain dict is validated
        into one).
    """

    name: str
    spec: DatasetSpec
    pipeline: Pipeline
    scoring: ScoringSettings = field(default_factory=ScoringSettings)
    metadata: BundleMetadata = field(default_factory=BundleMetadata)

    def __post_init__(self) -> None:
        self.metadata = BundleMetadata.read(self.metadata)

    # The pickle holds the metadata as plain data, validated again on load: a bundle saved
    # by another release is converted or refused with a clear error, never half-read.
    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state["metadata"] = self.metadata.to_dict()
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        state = dict(state)
        state["metadata"] = BundleMetadata.read(state.get("metadata"))
        self.__dict__.update(state)

    # ------------------------------------------------------------ identity
    @property
    def model_name(self) -> str:
        """The registry name when the bundle came from the registry, else its own name."""
        registry = self.metadata.registry
        return registry.name if registry is not None else self.name

    @property
    def version(self) -> str:
        """The registry version, else the content id written at save (``unsaved`` before)."""
        return self.metadata.model_version()

    # ------------------------------------------------------------ parts
    @property
    def features(self) -> Pipeline:
        """The fitted feature steps (everything before the classifier)."""
        return self.pipeline[:-1]

    @property
    def estimator(self) -> Any:
        """The fitted classifier (last pipeline step)."""
        return self.pipeline[-1]

    def with_relations(self, links: pd.DataFrame | None) -> ScoringBundle:
        """This bundle with ``links`` added to its relational step's borrower graph, and its
        graph net's.

        The graph a model was trained with knows the training borrowers' links only, so an
        applicant scored later, whose id is new, has no links in it: the links that come
        with the applications (a relations file beside them) give it its own, to borrowers
        whose training outcomes the step keeps (see
        :meth:`~greenscore.features.relational.RelationalFeatures.with_links`), and attach
        it to a graph net's training graph
        (:meth:`~greenscore.models.torch.gnn.GNNClassifier.with_links`). The model,
        its version and this bundle are unchanged; a bundle without a relational step is
        returned as it is, and so is one saved by a release whose relational step kept no
        training outcomes (with a logged warning: it scores as it always did), and so it is
        for ``links`` None (the applications came without a relations file).
        """
        if links is None:
            return self
        try:
            pipeline = _each_relational(self.pipeline, lambda step: step.with_links(links))
        except ModelError as exc:
            log.warning("borrower links not used", extra={"model": self.name, "reason": str(exc)})
            return self
        if pipeline is self.pipeline:
            return self
        return dataclasses.replace(self, pipeline=pipeline)

    def with_row_links(self, links: Sequence[Sequence[Link] | None]) -> ScoringBundle:
        """This bundle for scoring rows that came with their own links: the ``i``-th row of
        the next frame its pipeline scores also has the links ``links[i]`` (``(borrower
        id, kind)`` pairs; see
        :meth:`~greenscore.features.relational.RelationalFeatures.with_row_links` and
        :meth:`~greenscore.models.torch.gnn.GNNClassifier.with_row_links`). A bundle
        without a part that reads links is returned as it is.

        Raises
        ------
        ModelError
            If its relational step was saved by a release that kept no training outcomes.
        """
        pipeline = _each_relational(self.pipeline, lambda part: part.with_row_links(links))
        return self if pipeline is self.pipeline else dataclasses.replace(self, pipeline=pipeline)

    def links_by_borrower(self, links: pd.DataFrame) -> dict[Any, list[Link]]:
        """Each applicant's links in an edge table, as its relational step reads them (see
        :meth:`~greenscore.features.relational.RelationalFeatures.links_by_borrower`).

        Raises
        ------
        DataError
            If the model reads no borrower links, or ``links`` is not an edge table.
        """
        return self._link_step().links_by_borrower(links)

    @property
    def link_columns(self) -> tuple[str, str]:
        """The borrower-id columns of its relations (source, target).

        Raises
        ------
        DataError
            If the model reads no borrower links.
        """
        step = self._link_step()
        return step.source, step.target

    @property
    def takes_links(self) -> bool:
        """Whether applicants' own links change its scores: it has a relational step that
        derives features and kept the training outcomes links are scored against."""
        return any(hasattr(s, "known_") for s in self._relational_steps())

    @property
    def reads_links(self) -> bool:
        """Whether applicants' links (and ids) reach its scores at all: through a relational
        step or a graph net."""
        return self.takes_links or self.estimator_reads_links

    @property
    def estimator_reads_links(self) -> bool:
        """Whether its classifier itself reads applicants' links (a graph net)."""
        return bool(_link_readers(self.estimator))

    def estimator_with_row_links(self, links: Sequence[Sequence[Link] | None]) -> Any:
        """Its classifier for rows that came with their own links (see
        :meth:`with_row_links`); the classifier itself when it reads no links."""
        return _each_relational(self.estimator, lambda part: part.with_row_links(links))

    def _relational_steps(self) -> list[RelationalFeatures]:
        """Its fitted relational steps that derive features."""
        return [
            r
            for r in _link_readers(self.pipeline)
            if isinstance(r, RelationalFeatures) and getattr(r, "derived_names_", None)
        ]

    def _link_step(self) -> RelationalFeatures:
        steps = self._relational_steps()
        if not steps:
            raise DataError(f"model '{self.name}' reads no borrower links (no relational step)")
        return steps[0]

    # ------------------------------------------------------------ scoring
    def model_input(self, frame: pd.DataFrame) -> pd.DataFrame:
        """Clean a raw applications frame as the spec says and select its feature columns.

        Cleaning (:func:`greenscore.data.cleaning.clean_frame`) is the same every consumer
        applies: quotes stripped, a byte-order mark or spaces around column names removed,
        numbers stored as text read with their missing-value markers. The result is
        indexed by the id column when the spec has one.

        Raises
        ------
        DataError
            Naming the row and column of a value that is not a number, or a missing column.
        """
        return model_input(clean_frame(frame, self.spec), self.spec)

    def input_rules(self, columns: list[str], *, margin: float = 0.0) -> InputRules:
        """The rules raw inputs are held to: the spec's domain, training ranges and levels."""
        return InputRules(self.metadata.training_ranges, columns, spec=self.spec, margin=margin)

    def predict_pd(self, X: pd.DataFrame) -> np.ndarray:  # noqa: N803
        """Probability of default for model-input rows (see :meth:`model_input`).

        Values beyond the training range are clipped to it and categories that differ from
        a training level only in letter case are read as that level, as the API does, so
        every consumer of a bundle gives the same PD for the same applicant.
        """
        check_is_fitted(self.estimator)
        X = self.input_rules(list(X.columns)).repair(X)  # noqa: N806
        return self.pipeline.predict_proba(X)[:, 1]

    def points(self, pd_: np.ndarray) -> np.ndarray:
        """Scorecard points for probabilities of default."""
        s = self.scoring
        return points_from_pd(pd_, base_score=s.base_score, base_odds=s.base_odds, pdo=s.pdo)

    def decisions(self, pd_: np.ndarray) -> np.ndarray:
        """approve / review / decline for probabilities of default."""
        s = self.scoring
        return decisions_from_pd(pd_, approve_below=s.approve_below, decline_above=s.decline_above)

    # ------------------------------------------------------------ files
    def save(self, folder: Path | str) -> Path:
        """Write the bundle to a folder, sign it, and return the folder.

        Raises
        ------
        PrivacyError
            If there is no master key to sign with (production must configure one).
        """
        from greenscore.privacy.at_rest import (
            ENCRYPTED_BUNDLE_FILE,
            encrypt_to_file,
            encryption_enabled,
        )
        from greenscore.privacy.signing import sign_folder

        folder = Path(folder)
        if self.metadata.greenscore_version is None:
            self.metadata.greenscore_version = __version__
        if self.metadata.content_id is None:
            self.metadata.content_id = content_id(self.pipeline)
        # A scorecard's points table travels beside it as CSV, readable without unpickling
        # (bin counts and rates, no applicant rows, so it stays plain when the model is not).
        folder.mkdir(parents=True, exist_ok=True)
        if encryption_enabled():
            buffer = io.BytesIO()
            joblib.dump(self, buffer, compress=3)
            encrypt_to_file(folder / ENCRYPTED_BUNDLE_FILE, buffer.getvalue(), kind="bundle")
            # A plaintext copy from an earlier unencrypted save would defeat the point.
            (folder / BUNDLE_FILE).unlink(missing_ok=True)
        else:
            joblib.dump(self, folder / BUNDLE_FILE, compress=3)
        write_json(folder / METADATA_FILE, {"name": self.name, **self.metadata.to_dict()})
        self.spec.to_yaml(folder / SPEC_FILE)
        write_beside_bundle(self.estimator, folder)
        sign_folder(folder)
        return folder

    @classmethod
    def load(cls, folder: Path | str) -> ScoringBundle:
        """Load a bundle folder saved by :meth:`save`, after checking its signature.

        Raises
        ------
        NoBundleError
            If there is no bundle there (a :class:`NotFoundError` the CLI exits 2 for;
            a train run folder is pointed at its ``model/``).
        ModelError
            If the bundle is unsigned, its signature or a signed file does not match
            (nothing is unpickled then), or the file is not a GreenScore bundle.
        """
        from greenscore.privacy.at_rest import ENCRYPTED_BUNDLE_FILE, read_signed_encrypted
        from greenscore.privacy.signing import read_signed, signed_manifest

        path = Path(folder)
        if (path / ENCRYPTED_BUNDLE_FILE).exists():
            target = path / ENCRYPTED_BUNDLE_FILE
            data = read_signed_encrypted(target)
        else:
            target = path / BUNDLE_FILE if path.is_dir() else path
            if not target.exists():
                raise _no_bundle(folder)
            data = read_signed(target.parent, target.name, signed_manifest(target.parent))
        try:
            bundle = joblib.load(io.BytesIO(data))
        except ModelError:
            raise  # metadata this release cannot read: the error names what
        except Exception as exc:  # a corrupt or foreign file can fail in many ways
            raise ModelError(f"{target} is not a readable GreenScore bundle: {exc}") from exc
        if not isinstance(bundle, cls):
            raise ModelError(f"{target} holds a {type(bundle).__name__}, not a ScoringBundle")
        _warn_on_version(bundle)
        return bundle


def content_id(pipeline: Pipeline) -> str:
    """``sha256:`` and 12 hex digits of a fitted pipeline's pickle: the version of an
    unregistered model, the same for every copy of one saved bundle."""
    buffer = io.BytesIO()
    joblib.dump(pipeline, buffer)
    return "sha256:" + hashlib.sha256(buffer.getvalue()).hexdigest()[:12]


def _warn_on_version(bundle: ScoringBundle) -> None:
    saved = bundle.metadata.greenscore_version
    if saved != __version__:
        warnings.warn(
            f"bundle saved by GreenScore {saved}, loading with {__version__}",
            stacklevel=3,
        )


def _each_relational(part: Any, change: Callable[[Any], Any]) -> Any:
    """``part`` with ``change`` made to every part inside it that reads borrower links (a
    relational step, a graph net), looking inside pipelines (``steps``), calibration
    wrappers (``estimator_``), bags of fold models (``estimators_``) and ensembles
    (``members_``, where ``--models auto`` puts a GNN on related data): the containers
    on the way are copied, everything else shared, and ``part`` itself returned when
    nothing changes. A part reads links when it has ``with_links`` (the graph net is not
    imported here: that would load torch for every bundle)."""
    if hasattr(part, "with_links"):
        return change(part)
    changes: dict[str, Any] = {}
    steps = getattr(part, "steps", None)
    if isinstance(steps, list):
        replaced = [(name, _each_relational(inner, change)) for name, inner in steps]
        if any(new is not old for (_, new), (_, old) in zip(replaced, steps, strict=True)):
            changes["steps"] = replaced
    inner = getattr(part, "estimator_", None)
    if inner is not None and (new := _each_relational(inner, change)) is not inner:
        changes["estimator_"] = new
    bag = getattr(part, "estimators_", None)
    if isinstance(bag, list):
        fold_models = [_each_relational(model, change) for model in bag]
        if any(new is not old for new, old in zip(fold_models, bag, strict=True)):
            changes["estimators_"] = fold_models
    members = getattr(part, "members_", None)
    if isinstance(members, dict):
        replaced_members = {name: _each_relational(m, change) for name, m in members.items()}
        if any(replaced_members[name] is not m for name, m in members.items()):
            changes["members_"] = replaced_members
    if not changes:
        return part
    copied = copy.copy(part)
    for name, value in changes.items():
        setattr(copied, name, value)
    return copied


def _link_readers(part: Any) -> list[Any]:
    """The parts inside ``part`` that read borrower links, found as
    :func:`_each_relational` finds them (nothing is copied)."""
    found: list[Any] = []

    def note(reader: Any) -> Any:
        found.append(reader)
        return reader  # unchanged: nothing is copied

    _each_relational(part, note)
    return found
