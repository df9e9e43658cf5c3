"""The scoring runtime: raw applicants encoded once, then PD, points, decision and contributions.

One object, built from a bundle when it loads, that every consumer scores with (the API,
batch jobs, ``greenscore score``, ``explain``): raw applicants (dicts or a frame) are
encoded **once** into the model matrix, and the probability of default and the exact
contributions behind reason codes are both computed from that same matrix.

How each step is done, fastest first, each taken only after it reproduced the real
pipeline (``Pipeline.predict_proba``) on :func:`~greenscore.models.runtime.probes.probe_rows`:

* **encoding** ``compiled``: the fitted feature steps over NumPy columns
  (:class:`~greenscore.models.runtime.features.CompiledFeatures`); else ``pipeline``: the
  fitted feature steps on a DataFrame (always correct, slower per call).
* **PD** ``trees``: a LightGBM model's trees walked in compiled code
  (:func:`~greenscore.models.runtime.treeshap.raw_scores`, bit for bit LightGBM's raw
  score) -- a bare booster, or the calibrated booster ``greenscore train`` makes (or the
  calibrated bag of inner-fold boosters of earlier releases), combined as the bag and its
  calibration map combine them
  (:mod:`~greenscore.models.runtime.tree_model`); else the classifier's own
  ``predict_proba`` on its input frame.
* **contributions** (log-odds, per model feature, and the base they add up from):
  ``treeshap``, exact path-dependent TreeSHAP from per-leaf tables
  (:mod:`~greenscore.models.runtime.treeshap`, equal to ``pred_contrib``; for a calibrated
  bag the mean over its boosters restated by the calibration, equal to the classifier's
  ``log_odds_contributions``); ``model``, the
  classifier's own exact decomposition (``log_odds_contributions``: the WoE scorecard's
  additive terms); ``linear``, a logistic-linear model's exact terms. Other models have none here: the explainers compute approximate ones
  (:mod:`greenscore.explain.reason_codes` says so).

``mode`` summarises the path as before: ``lightgbm`` (compiled encoding, trees),
``compiled`` (compiled encoding, the classifier on its frame) or ``pipeline``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any, Literal

import numpy as np
import pandas as pd

from greenscore.data.cleaning import RowProblem, clean_frame, rows_without, unreadable_values
from greenscore.data.input_rules import flags_text
from greenscore.data.loading import model_input
from greenscore.errors import DataError, ModelError
from greenscore.features.relational import links_of_rows
from greenscore.logging import get_logger
from greenscore.models.bundle import ScoringBundle
from greenscore.models.columns import (
    model_feature_names,
    raw_input_columns,
    select_model_input,
)
from greenscore.models.runtime.features import (
    CompiledFeatures,
    MatrixLayout,
    NotCompilableError,
    rows_frame,
)
from greenscore.models.runtime.probes import probe_rows
from greenscore.models.runtime.tree_model import CompiledTrees, tree_model

log = get_logger(__name__)

#: Largest difference in PD (or in an exact contribution) allowed on probe rows.
TOLERANCE = 1e-9
#: Applicants of the caller's own taken as probes when the synthetic ones fail.
PROBE_ROWS = 256
#: Rows of the matrix drawn from the trees' split values to check the trees on.
TREE_PROBE_ROWS = 64
Mode = Literal["lightgbm", "compiled", "pipeline"]
Terms = Literal["treeshap", "model", "linear"]
_EPS = 1e-12


@dataclass(frozen=True)
class Encoded:
    """Applicants encoded once: what PD, contributions and reason wording all read.

    Attributes
    ----------
    ids : list
        Applicant ids (``None`` where unknown), in order.
    raw : list of dict, or dict of column to array
        The raw inputs as scored (after the input rules), for reasons that quote them:
        rows for applicants sent one by one, columns for a frame.
    matrix : ndarray of shape (n_rows, n_model_features) or None
        The model matrix (:class:`~greenscore.models.runtime.features.MatrixLayout`),
        when the runtime has a layout for the model.
    frame : DataFrame or None
        The classifier's input frame, when it was made on the way (pipeline encoding).
    """

    ids: list[Any]
    raw: list[Mapping[str, Any]] | dict[str, np.ndarray]
    matrix: np.ndarray | None
    frame: pd.DataFrame | None = None

    def __len__(self) -> int:
        return len(self.ids)

    def raw_value(self, i: int, column: str) -> Any:
        """The raw input ``column`` of row ``i`` (None when absent)."""
        if isinstance(self.raw, dict):
            values = self.raw.get(column)
            return None if values is None else values[i]
        return self.raw[i].get(column)

    def take(self, positions: Sequence[int]) -> Encoded:
        """The rows at ``positions``, in that order."""
        index = list(positions)
        raw: list[Mapping[str, Any]] | dict[str, np.ndarray]
        if isinstance(self.raw, dict):
            raw = {c: v[index] for c, v in self.raw.items()}
        else:
            raw = [self.raw[i] for i in index]
        return Encoded(
            ids=[self.ids[i] for i in index],
            raw=raw,
            matrix=None if self.matrix is None else self.matrix[index],
            frame=None if self.frame is None else self.frame.iloc[index],
        )


@dataclass
class _Probe:
    """Probe applicants and what the real pipeline makes of them."""

    rows: list[dict[str, Any]]
    ids: list[Any]
    transformed: pd.DataFrame
    expected: np.ndarray
    matrix: np.ndarray | None = None


@dataclass(frozen=True)
class ScoredFrame:
    """A scored applications frame (:meth:`ScoringRuntime.scored_frame`): the table, the
    :class:`Scored` behind it, and the model input before and after the input rules."""

    table: pd.DataFrame
    scored: Scored
    inputs: pd.DataFrame
    repaired: pd.DataFrame


@dataclass(frozen=True)
class Scored:
    """PD, points and decision of encoded applicants.

    ``contributions`` holds :meth:`ScoringRuntime.contributions` (values, base) when they
    were asked for with the PD and came from the same pass over the trees; else None.
    """

    probability: np.ndarray
    points: np.ndarray
    decisions: np.ndarray
    encoded: Encoded
    contributions: tuple[np.ndarray, np.ndarray] | None = None


class ScoringRuntime:
    """A bundle compiled for scoring; build once per loaded model, share between threads.

    Parameters
    ----------
    bundle : ScoringBundle
    verify : bool, default True
        Check every compiled step against the real pipeline on probe rows before using
        it; False trusts them (tests of the checks themselves).
    background : DataFrame, optional
        Applicants (raw columns) whose mean model features are a linear model's baseline;
        the probe rows when not given.

    Attributes
    ----------
    mode : {"lightgbm", "compiled", "pipeline"}
    terms : {"treeshap", "model", "linear"} or None
        How exact contributions are computed; None when only approximate ones exist.
    notes : list of str
        Why a faster step was not taken (empty when all were).
    probe_error : str or None
        Set when the bundle's own pipeline fails on probe rows (a broken model).
    raw_columns, model_features : list of str
    layout : MatrixLayout or None
    """

    def __init__(
        self,
        bundle: ScoringBundle,
        *,
        verify: bool = True,
        background: pd.DataFrame | None = None,
    ) -> None:
        self.bundle = bundle
        # Looked up once: rows with links then cost a copy only for a graph net.
        self._estimator_reads_links = bundle.estimator_reads_links
        self.spec = bundle.spec
        self.raw_columns = raw_input_columns(bundle)
        self.id_name = bundle.spec.id_column
        self.notes: list[str] = []
        self.probe_error: str | None = None
        self.features: CompiledFeatures | None = None
        self.layout: MatrixLayout | None = None
        self.trees: CompiledTrees | None = None
        self.terms: Terms | None = None
        self._trees = False
        self._linear_base: np.ndarray | None = None
        self._tree_model = tree_model(bundle.estimator)
        try:
            self.model_features = model_feature_names(bundle)
        except ModelError:
            self.model_features = []  # learnt from the feature steps' output below
        probe = self._probe(background)
        if not self.model_features and probe is not None:
            self.model_features = [str(c) for c in probe.transformed.columns]
        self.layout = self._make_layout(probe)
        if self._tree_model is not None and self.layout is not None:
            self._compile_trees(probe, verify=verify)
        if probe is not None:
            self._compile_features(probe, verify=verify)
        self._compile_terms(probe, verify=verify)
        if self.terms == "linear":
            self._linear_base = self._baseline(background, probe)
        if self.notes:
            log.info("scoring runtime", extra={"model": bundle.name, "notes": self.notes})

    # ------------------------------------------------------------------ building
    def _probe(self, background: pd.DataFrame | None) -> _Probe | None:
        """Applicants to check the compiled steps on, with the real pipeline's answers.

        The probe rows with their gaps and oddities first; then complete ones, for a model
        that refuses missing values; then the caller's applicants, for a bundle whose
        training ranges are unknown. None (and :attr:`probe_error`) when the pipeline
        scores none of them.
        """
        errors = []
        for gaps in (True, False):
            rows, ids = probe_rows(self.bundle, gaps=gaps)
            probe, error = self._run_pipeline(rows, ids)
            if probe is not None:
                if not gaps:
                    self.notes.append("checked on complete probe applicants (no missing values)")
                return probe
            errors.append(error)
        if background is not None and len(background):
            sample = select_model_input(self.bundle, background).head(PROBE_ROWS)
            rows = [dict(r) for r in sample.to_dict("records")]
            probe, error = self._run_pipeline(rows, sample.index.tolist())
            if probe is not None:
                self.notes.append("checked on the given applicants (probe applicants fail)")
                return probe
        self.probe_error = errors[0]
        self.notes.append(f"the pipeline itself fails on probe rows ({self.probe_error})")
        return None

    def _run_pipeline(
        self, rows: list[dict[str, Any]], ids: list[Any]
    ) -> tuple[_Probe | None, str]:
        frame = rows_frame(rows, ids, self.raw_columns, self.id_name)
        try:
            transformed = self._transform(frame)
            expected = np.asarray(self.bundle.pipeline.predict_proba(frame)[:, 1], dtype=float)
        except Exception as exc:  # noqa: BLE001 - a model failing its own probes is reported
            return None, f"{type(exc).__name__}: {exc}"
        return _Probe(rows, ids, transformed, expected), ""

    def _transform(self, frame: pd.DataFrame, bundle: ScoringBundle | None = None) -> pd.DataFrame:
        """The fitted feature steps of ``bundle`` (default: the runtime's) on a raw frame
        (the classifier's input frame)."""
        out: Any = frame
        # Step by step, as Pipeline.predict_proba runs them (a slice of the pipeline would
        # also ask its last step to look fitted, which a stateless step may not).
        for _, step in (bundle or self.bundle).pipeline.steps[:-1]:
            if step is not None and step != "passthrough":
                out = step.transform(out)
        if not isinstance(out, pd.DataFrame):
            out = pd.DataFrame(np.asarray(out), columns=self.model_features, index=frame.index)
        return out

    def _make_layout(self, probe: _Probe | None) -> MatrixLayout | None:
        """Where each model feature sits in the matrix, and each categorical one's levels."""
        if not self.model_features:
            return None
        if probe is not None and probe.transformed.shape[1] != len(self.model_features):
            self.notes.append("matrix: the feature steps' columns are not the model's")
            return None
        if self._tree_model is not None:
            # LightGBM stores its pandas categories in the order of its categorical features.
            booster, *others = self._tree_model.boosters
            categorical = _lightgbm_categorical(booster, self.model_features)
            stored = list(booster.pandas_categorical or [])
            if categorical is None or len(stored) != len(categorical):
                self.notes.append("matrix: LightGBM's categories cannot be matched to features")
                return None
            if any(
                b.feature_name() != booster.feature_name()
                or list(b.pandas_categorical or []) != stored
                for b in others
            ):
                self.notes.append("matrix: the fold boosters' features or categories differ")
                return None
            layout = MatrixLayout(self.model_features, dict(zip(categorical, stored, strict=True)))
        elif probe is not None:
            frame = probe.transformed
            layout = MatrixLayout(
                self.model_features,
                {
                    f: list(frame.iloc[:, j].cat.categories)
                    for j, f in enumerate(self.model_features)
                    if isinstance(frame.iloc[:, j].dtype, pd.CategoricalDtype)
                },
            )
        else:
            return None
        if probe is not None:
            try:
                probe.matrix = layout.encode(probe.transformed)
            except ModelError as exc:
                self.notes.append(f"matrix: {exc.message}")
                return None
        return layout

    def _compile_trees(self, probe: _Probe | None, *, verify: bool) -> None:
        """The boosters' trees for PD and exact contributions, checked against LightGBM
        booster by booster, then against the classifier itself on the probe applicants."""
        model = self._tree_model
        assert model is not None  # called only for a LightGBM model
        try:
            trees = CompiledTrees(model)
        except ModelError as exc:
            self.notes.append(f"trees: {exc.message}")
            return
        if not verify:
            self.trees, self._trees = trees, trees.gives_pd
            return
        probe_matrix = probe.matrix if probe is not None else None
        gives_pd = trees.gives_pd
        if not gives_pd:
            self.notes.append("trees: the objective does not give a PD by a sigmoid")
        for k, booster in enumerate(model.boosters):
            # On the probe applicants' matrix, and on a matrix drawn from the trees' own
            # split values (every branch, whatever the pipeline can be given).
            matrices = [_tree_probe(booster, self.layout)]
            if probe_matrix is not None:
                matrices.insert(0, probe_matrix)
            matrix = np.vstack(matrices)
            worst = _worst(
                trees.booster_contributions(k, matrix), booster.predict(matrix, pred_contrib=True)
            )
            if not worst <= TOLERANCE:
                self.notes.append(f"treeshap: differs from pred_contrib by {worst:.3g}")
                return
            if gives_pd:
                worst = _worst(trees.booster_pd(k, matrix), booster.predict(matrix))
                if not worst <= TOLERANCE:
                    self.notes.append(
                        f"trees: a booster's PD differs from LightGBM's by {worst:.3g}"
                    )
                    gives_pd = False
        if probe is not None and probe_matrix is not None and model.averaged:
            why = _differs_from_own_terms(trees, self.bundle.estimator, probe, probe_matrix)
            if why:
                self.notes.append(f"treeshap: the {model.kind}'s contributions {why}")
                return
        self.trees = trees
        if not gives_pd:
            return  # the note above says why
        if probe is not None and probe_matrix is not None:
            worst = _worst(trees.predict(probe_matrix), probe.expected)  # the pipeline's own
            if not worst <= TOLERANCE:
                self.notes.append(f"trees: PD differs from the pipeline by {worst:.3g} on probes")
                return
        self._trees = True

    def _compile_features(self, probe: _Probe, *, verify: bool) -> None:
        try:
            features = CompiledFeatures(self.bundle, self.model_features)
        except NotCompilableError as exc:
            self.notes.append(f"compiled encoding: {exc.message}")
            return
        if self.layout is None:
            self.notes.append("compiled encoding: the model's features have no matrix layout")
            return
        why = self._check_compiled(features, probe) if verify else None
        if why is None:
            self.features = features
        else:
            self.notes.append(f"compiled encoding: {why}")

    def _check_compiled(self, features: CompiledFeatures, probe: _Probe) -> str | None:
        """None when the compiled encoding reproduces the pipeline's matrix and PD."""
        try:
            matrix = features.matrix(probe.rows, probe.ids)
        except Exception as exc:  # noqa: BLE001 - any failure means "not this shortcut"
            return f"{type(exc).__name__}: {exc}"
        if features.model_features != self.model_features:
            return "its features are not the model's"
        # The same row computed alone or in a block can differ in the last bit of a sum.
        if probe.matrix is None or not np.allclose(
            matrix, probe.matrix, rtol=1e-9, atol=1e-12, equal_nan=True
        ):
            bad = _first_difference(matrix, probe.matrix, self.model_features)
            return f"feature '{bad}' differs from the pipeline on probe rows"
        encoded = Encoded(ids=list(probe.ids), raw=list(probe.rows), matrix=matrix)
        try:
            got = self.predict(encoded)
        except Exception as exc:  # noqa: BLE001
            return f"{type(exc).__name__}: {exc}"
        worst = _worst(got, probe.expected)
        return None if worst <= TOLERANCE else f"PD differs by {worst:.3g} on probe rows"

    def _compile_terms(self, probe: _Probe | None, *, verify: bool) -> None:
        estimator = self.bundle.estimator
        if self.trees is not None:
            self.terms = "treeshap"
        elif self._tree_model is not None and not self._tree_model.averaged:
            return  # the trees' note says why
        # A bag whose trees were refused still has its own exact terms (below), slower.
        elif getattr(estimator, "exact_contributions", True) is False:
            # An ensemble (or a calibrated model) with a member that has no exact terms (a
            # forest, a net): its sums would be partly approximate, so the explainers say so.
            self.notes.append(
                f"contributions: {type(estimator).__name__} holds a model without exact "
                "contributions (the explainers' sampled SHAP is approximate)"
            )
        elif callable(getattr(estimator, "log_odds_contributions", None)):
            if verify and probe is not None:
                try:
                    values, base = estimator.log_odds_contributions(probe.transformed)
                except ModelError as exc:  # a wrapper of a model without exact terms
                    self.notes.append(f"model terms: {exc.message}")
                    return
                logit = np.asarray(values).sum(axis=1) + np.asarray(base)
                worst = _worst(logit, _logit(probe.expected))
                if not worst <= 1e-6:  # a sum of WoE terms against a logit: rounding only
                    self.notes.append(f"model terms: off the model's logit by {worst:.3g}")
                    return
            self.terms = "model"
        elif probe is not None and _is_linear(estimator, probe.transformed):
            self.terms = "linear"
        else:
            self.notes.append(
                f"contributions: no exact method for {type(estimator).__name__} "
                "(the explainers' sampled SHAP is approximate)"
            )

    def _baseline(self, background: pd.DataFrame | None, probe: _Probe | None) -> np.ndarray:
        """A linear model's reference point: mean model features of the background rows."""
        if background is not None:
            frame = self._transform(select_model_input(self.bundle, background))
        else:
            assert probe is not None
            frame = probe.transformed
        return frame.to_numpy(dtype=float).mean(axis=0)

    # ------------------------------------------------------------------ properties
    @property
    def mode(self) -> Mode:
        """``lightgbm``, ``compiled`` or ``pipeline`` (see the module docstring)."""
        if self.features is None:
            return "pipeline"
        return "lightgbm" if self._trees else "compiled"

    @property
    def reason(self) -> str:
        """Why the faster steps were not taken (empty when all were)."""
        return "; ".join(self.notes)

    @property
    def exact(self) -> bool:
        """Whether :meth:`contributions` gives exact contributions for this model."""
        return self.terms is not None

    # ------------------------------------------------------------------ encoding
    def encode(self, rows: Sequence[Mapping[str, Any]], ids: Sequence[Any]) -> Encoded:
        """Raw applicants (field -> value, extra fields ignored) into the model's encoding.

        Raises
        ------
        DataError
            If a field cannot be read (the field is named).
        """
        raw = list(rows)
        if self.features is not None:
            return Encoded(ids=list(ids), raw=raw, matrix=self.features.matrix(raw, ids))
        frame = rows_frame(raw, ids, self.raw_columns, self.id_name)
        links = links_of_rows(raw)
        bundle = self.bundle if links is None else self.bundle.with_row_links(links)
        return self._from_model_input(frame, raw, list(ids), bundle)

    def encode_frame(self, X: pd.DataFrame) -> Encoded:  # noqa: N803
        """Model-input rows (raw columns, id as index, input rules applied) encoded.

        Frames go through the fitted feature steps on the whole frame at once, which for
        many rows costs less per row than the compiled path and is the pipeline itself.
        """
        if list(X.columns) != self.raw_columns:
            X = select_model_input(self.bundle, X)  # noqa: N806
        raw = {c: X[c].to_numpy(dtype=object) for c in X.columns}
        return self._from_model_input(X, raw, X.index.tolist())

    def _from_model_input(
        self,
        frame: pd.DataFrame,
        raw: list[Mapping[str, Any]] | dict[str, np.ndarray],
        ids: list[Any],
        bundle: ScoringBundle | None = None,
    ) -> Encoded:
        try:
            transformed = self._transform(frame, bundle)
        except DataError:
            raise
        except (TypeError, ValueError) as exc:
            raise DataError(f"the applicants cannot be read: {exc}") from exc
        matrix = self.layout.encode(transformed) if self.layout is not None else None
        return Encoded(ids=ids, raw=raw, matrix=matrix, frame=transformed)

    def from_model_frame(self, transformed: pd.DataFrame) -> Encoded:
        """Rows already through the feature steps (the classifier's input frame) encoded."""
        matrix = self.layout.encode(transformed) if self.layout is not None else None
        return Encoded(ids=transformed.index.tolist(), raw={}, matrix=matrix, frame=transformed)

    def model_frame(self, encoded: Encoded) -> pd.DataFrame:
        """The classifier's input frame of encoded applicants."""
        if encoded.frame is not None:
            return encoded.frame
        assert self.layout is not None and encoded.matrix is not None
        return self.layout.decode(encoded.matrix, pd.Index(encoded.ids))

    def value(self, encoded: Encoded, i: int, j: int) -> Any:
        """Model feature ``j`` of row ``i`` (a category as its level)."""
        if encoded.matrix is not None and self.layout is not None:
            return self.layout.value(encoded.matrix[i, j], j)
        return self.model_frame(encoded).iat[i, j]

    # ------------------------------------------------------------------ scoring
    def predict(self, encoded: Encoded) -> np.ndarray:
        """Probability of default of encoded applicants, shape ``(n_rows,)``."""
        if not len(encoded):
            return np.empty(0)
        if self._trees and encoded.matrix is not None:
            assert self.trees is not None  # _trees is set only with them
            return self.trees.predict(encoded.matrix)
        proba = self._estimator(encoded).predict_proba(self.model_frame(encoded))
        return np.asarray(proba, dtype=float)[:, 1]

    def _estimator(self, encoded: Encoded) -> Any:
        """The classifier for these rows: given their own links when they came with some
        and it reads them itself (a graph net; features already hold theirs)."""
        if not self._estimator_reads_links or not isinstance(encoded.raw, list):
            return self.bundle.estimator
        links = links_of_rows(encoded.raw)
        if links is None:
            return self.bundle.estimator
        return self.bundle.estimator_with_row_links(links)

    def score(
        self,
        rows: Sequence[Mapping[str, Any]],
        ids: Sequence[Any],
        *,
        contributions: bool = False,
    ) -> Scored:
        """PD, points and decision of raw applicants, with their encoding for reasons.

        With ``contributions``, the exact contributions of every row come too, from the
        same pass over the trees as the PD where the runtime walks them (TreeSHAP tables:
        no second walk); for other models :attr:`Scored.contributions` stays None.

        Raises
        ------
        DataError
            If a field cannot be read (the field is named).
        ModelError
            If the model returns a probability that is not a finite number.
        """
        return self.scored(self.encode(rows, ids), contributions=contributions)

    def scored(self, encoded: Encoded, *, contributions: bool = False) -> Scored:
        """:meth:`score` of applicants already encoded."""
        terms: tuple[np.ndarray, np.ndarray] | None = None
        if contributions and self._fused and encoded.matrix is not None and len(encoded):
            assert self.trees is not None  # _fused is set only with them
            probability, *values = self.trees.predict_and_contributions(encoded.matrix)
            terms = (values[0], values[1])
        else:
            probability = self.predict(encoded)
        if not np.all(np.isfinite(probability)):
            raise ModelError(f"model {self.bundle.name} returned a non-finite probability")
        return Scored(
            probability=probability,
            points=self.bundle.points(probability),
            decisions=self.bundle.decisions(probability),
            encoded=encoded,
            contributions=terms,
        )

    @property
    def _fused(self) -> bool:
        """Whether PD and exact contributions both come from the compiled trees."""
        return self._trees and self.terms == "treeshap"

    # ------------------------------------------------------------------ contributions
    def contributions(self, encoded: Encoded) -> tuple[np.ndarray, np.ndarray]:
        """Exact log-odds contributions per model feature, and the base they add to.

        Returns
        -------
        values : ndarray of shape (n_rows, n_model_features)
        base : ndarray of shape (n_rows,)
            ``base + values.sum(1)`` is each row's log-odds of default.

        Raises
        ------
        ModelError
            If this model has no exact contributions (:attr:`exact` is False).
        """
        if self.terms == "treeshap":
            assert self.trees is not None and encoded.matrix is not None
            return self.trees.contributions(encoded.matrix)
        if self.terms == "model":
            values, base = self.bundle.estimator.log_odds_contributions(self.model_frame(encoded))
            n = len(encoded)
            return np.asarray(values, dtype=float), np.broadcast_to(np.asarray(base), (n,)).copy()
        if self.terms == "linear":
            assert self._linear_base is not None
            estimator = self.bundle.estimator
            coef = np.asarray(estimator.coef_, dtype=float).reshape(-1)
            x = self.model_frame(encoded).to_numpy(dtype=float)
            intercept = float(np.asarray(estimator.intercept_, dtype=float).reshape(-1)[0])
            base = np.full(len(x), intercept + float(coef @ self._linear_base))
            return coef * (x - self._linear_base), base
        raise ModelError(f"no exact contributions for {type(self.bundle.estimator).__name__}")

    @property
    def has_members(self) -> bool:
        """Whether the model is an ensemble whose members' contributions can be asked for."""
        return callable(getattr(self.bundle.estimator, "member_contributions", None))

    def member_contributions(self, encoded: Encoded) -> list[Any]:
        """Each weighted ensemble member's share of :meth:`contributions`, per model feature.

        Returns
        -------
        list of :class:`~greenscore.models.ensemble.MemberContribution`
            On the served scale: ``sum(m.weight * m.values)`` over the list is
            :meth:`contributions`'s values (exactly, up to rounding, when :attr:`exact`).

        Raises
        ------
        ModelError
            If the model is not an ensemble (:attr:`has_members` is False).
        """
        if not self.has_members:
            raise ModelError(f"{type(self.bundle.estimator).__name__} is not an ensemble")
        return list(self.bundle.estimator.member_contributions(self.model_frame(encoded)))

    # ------------------------------------------------------------------ files
    def score_frame(
        self,
        frame: pd.DataFrame,
        *,
        refuse_implausible: bool = True,
        margin: float = 0.0,
    ) -> pd.DataFrame:
        """Score a raw applications frame: PD, points, decision and flags per row, same order.

        :meth:`scored_frame`'s table.
        """
        return self.scored_frame(frame, refuse_implausible=refuse_implausible, margin=margin).table

    def scored_frame(
        self,
        frame: pd.DataFrame,
        *,
        refuse_implausible: bool = True,
        margin: float = 0.0,
        contributions: bool = False,
    ) -> ScoredFrame:
        """Score a raw applications frame, keeping what the table was scored from.

        Parameters
        ----------
        frame : DataFrame
            Raw applications, as read from a file (cleaned here as the spec says).
        refuse_implausible : bool, default True
            Refuse a value outside the spec's domain rules (an age of -5); False flags it
            and scores it as the nearest end of the training range.
        margin : float
            Share of a training range a value may pass it by before it is flagged.
        contributions : bool
            Compute the exact contributions with the PD (:meth:`score`).

        Returns
        -------
        ScoredFrame
            ``table``: ``probability_of_default``, ``score``, ``decision`` and ``flags``
            (the API's flags as ``field:issue`` joined by ``"; "``; empty when none), with
            the id column first when the spec has one; ``scored``, its encoding (what
            reasons are coded from); ``inputs`` and ``repaired``, the model input before
            and after the input rules.

        Raises
        ------
        DataError
            Naming the first row and column that cannot be scored.
        """
        cleaned = clean_frame(frame, self.spec)
        X = model_input(cleaned, self.spec)  # noqa: N806
        # Checked under the frame's own row labels, so a refusal names the row, not the id.
        checked = self.bundle.input_rules(list(X.columns), margin=margin).check_frame(
            X.set_axis(frame.index),
            others=cleaned.set_axis(frame.index),
            refuse_domain=refuse_implausible,
        )
        if checked.problems:
            more = len(checked.problems) - 1
            raise DataError(
                checked.problems[0].message + (f" (and {more} more refused)" if more else "")
            )
        repaired = checked.frame.set_axis(X.index)
        scored = self.scored(self.encode_frame(repaired), contributions=contributions)
        out = pd.DataFrame(
            {
                "probability_of_default": scored.probability,
                "score": np.round(scored.points, 1),
                "decision": scored.decisions,
                "flags": [flags_text(f) for f in checked.flags],
            },
            index=frame.index,
        )
        if self.spec.id_column and self.spec.id_column in X.index.names:
            out.insert(0, self.spec.id_column, X.index.to_numpy())
        return ScoredFrame(table=out, scored=scored, inputs=X, repaired=repaired)

    def predict_frame(self, X: pd.DataFrame) -> np.ndarray:  # noqa: N803
        """PD of model-input rows, repaired as every consumer repairs them (clip, case)."""
        X = select_model_input(self.bundle, X)  # noqa: N806
        return self.predict(self.encode_frame(self.bundle.input_rules(list(X.columns)).repair(X)))

    def input_problems(
        self, frame: pd.DataFrame, *, refuse_implausible: bool = True
    ) -> list[RowProblem]:
        """Rows of a raw frame :meth:`score_frame` would refuse, each with why.

        Numbers that cannot be read and (with ``refuse_implausible``) values outside the
        spec's domain rules; positions are in ``frame`` order, a row may appear twice.
        """
        problems = unreadable_values(frame, self.spec)
        readable = rows_without(frame, problems)
        if refuse_implausible and len(readable):
            unread = [p.position for p in problems]
            positions = np.flatnonzero(~np.isin(np.arange(len(frame)), unread))
            X = self.bundle.model_input(readable)  # noqa: N806
            checked = self.bundle.input_rules(list(X.columns)).check_frame(
                X.set_axis(readable.index), refuse_domain=True
            )
            problems += [replace(p, position=int(positions[p.position])) for p in checked.problems]
        return sorted(problems, key=lambda p: p.position)


def _worst(got: np.ndarray, expected: np.ndarray) -> float:
    diff = np.abs(np.asarray(got, dtype=float) - np.asarray(expected, dtype=float))
    return float(np.max(diff)) if diff.size else 0.0


def _differs_from_own_terms(
    trees: CompiledTrees, estimator: Any, probe: _Probe, matrix: np.ndarray
) -> str:
    """Empty when the compiled contributions are the classifier's own
    ``log_odds_contributions`` on the probe applicants, else how they differ."""
    try:
        values, base = estimator.log_odds_contributions(probe.transformed)
    except ModelError as exc:
        return f"cannot be checked ({exc.message})"
    got_values, got_base = trees.contributions(matrix)
    base = np.broadcast_to(np.asarray(base, dtype=float), got_base.shape)
    worst = max(_worst(got_values, values), _worst(got_base, base))
    return "" if worst <= TOLERANCE else f"differ from its own by {worst:.3g}"


def _logit(p: np.ndarray) -> np.ndarray:
    p = np.clip(np.asarray(p, dtype=float), _EPS, 1 - _EPS)
    return np.log(p / (1 - p))


def _first_difference(got: np.ndarray, want: np.ndarray | None, names: Sequence[str]) -> str:
    if want is None or got.shape != want.shape:
        return names[0] if names else "?"
    for j, name in enumerate(names):
        if not np.allclose(got[:, j], want[:, j], rtol=1e-9, atol=1e-12, equal_nan=True):
            return name
    return "?"


def _is_linear(estimator: Any, transformed: pd.DataFrame) -> bool:
    """A logistic-linear classifier on numeric features only (exact linear terms apply)."""
    coef = getattr(estimator, "coef_", None)
    numeric = all(
        pd.api.types.is_numeric_dtype(t) and not isinstance(t, pd.CategoricalDtype)
        for t in transformed.dtypes
    )
    return (
        coef is not None
        and np.asarray(coef).size == transformed.shape[1]
        and numeric
        and hasattr(estimator, "predict_proba")
        and type(estimator).__name__
        in ("LogisticRegression", "LogisticRegressionCV", "SGDClassifier")
    )


def _lightgbm_categorical(booster: Any, model_features: Sequence[str]) -> list[str] | None:
    """The model features LightGBM treats as categories, in its column order (None if unknown)."""
    infos = booster.dump_model(num_iteration=1).get("feature_infos", {})
    names = list(booster.feature_name())
    if len(names) != len(model_features):
        return None
    # A categorical feature lists its category codes; a numeric one lists none.
    return [
        feature
        for name, feature in zip(names, model_features, strict=True)
        if isinstance(infos.get(name), dict) and infos[name].get("values")
    ]


def _tree_probe(booster: Any, layout: MatrixLayout | None, *, seed: int = 0) -> np.ndarray:
    """A matrix whose values straddle every split threshold of the trees, with gaps.

    Each column takes values around the thresholds the trees split it at (each threshold,
    just above it, the ends, zero), category codes including unseen and negative ones, and
    missing values, so the checks reach every branch whatever inputs a pipeline accepts.
    """
    rng = np.random.default_rng(seed)
    dump = booster.dump_model()
    n_features = int(dump["max_feature_idx"]) + 1
    cuts: list[list[float]] = [[] for _ in range(n_features)]

    def walk(node: dict[str, Any]) -> None:
        if "split_feature" in node:
            if node.get("decision_type") != "==":
                cuts[int(node["split_feature"])].append(float(node["threshold"]))
            walk(node["left_child"])
            walk(node["right_child"])

    for tree in dump["tree_info"]:
        walk(tree["tree_structure"])
    levels = layout.levels if layout is not None else [None] * n_features
    out = np.empty((TREE_PROBE_ROWS, n_features))
    for j in range(n_features):
        level = levels[j] if j < len(levels) else None
        if level is not None:
            pool = [*range(len(level)), len(level) + 3, -1.0]
        else:
            pool = [0.0, 1e-40, -1e9, 1e9]
            for t in cuts[j]:
                pool += [t, np.nextafter(t, np.inf), t - abs(t) * 1e-3 - 1e-6]
        pool.append(np.nan)
        out[:, j] = rng.choice(np.asarray(pool, dtype=float), size=TREE_PROBE_ROWS)
    return out
