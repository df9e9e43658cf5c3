"""Relational features: what a borrower's links (shared employer, guarantor, household) say.

The borrower graph comes from the spec's relations table (one edge per row, undirected).
At fit the transformer remembers the targets of the *training rows only*; at transform
each row gets its number of links (in all and per kind) and how many of its linked
borrowers defaulted in training, smoothed toward the training default rate.

Leakage policy. A row's own target never reaches its features: self-links are dropped
and only neighbours are summed, so a training row at ``fit_transform`` gets exactly the
estimate a new applicant with the same links would get (the "exclude self" variant of
out-of-fold encoding; with no self-edges no fold split is needed). The smoothing prior is
the training base rate, one constant shared by every row, so it carries nothing about any
single row's own outcome. Validation and test
rows are never in the target table, because ``fit`` only ever sees training rows.

Applicants scored later. Their ids are new to the graph, so alone they have no links;
:meth:`RelationalFeatures.with_links` adds the links that come with them (the relations
file beside a scored file) and computes their features from the training outcomes the
step keeps per node (``known_``, ``defaulted_``). Those outcomes are personal data held
in the bundle: a subject's erasure means retraining the models trained on them (their
lineage names them), as it always did for the neighbour sums the step held before.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from numbers import Real

import numpy as np
import pandas as pd
from scipy import sparse
from sklearn.utils._param_validation import Interval
from sklearn.utils.validation import check_is_fitted

from greenscore.errors import DataError, ModelError
from greenscore.features._base import FrameTransformer, snake
from greenscore.logging import get_logger

log = get_logger(__name__)

MISSING_EDGE_COLUMNS = (
    "relations table lacks columns {columns}; expected source '{source}' and target '{target}'"
)
MISSING_ENDPOINT = (
    "relations table row {row}: '{column}' is missing; every link needs both borrower ids"
)
NEEDS_TARGET = "RelationalFeatures needs the training targets y at fit (got None)"
TARGET_LENGTH = "RelationalFeatures: y has {n_y} values but X has {n_x} rows"
NO_OUTCOMES = (
    "this model's relational step was fitted by an earlier release, which kept no training "
    "outcomes: retrain it to score applicants with their own links"
)

PREFIX = "relational"
SUMMARY_FEATURES = ("known_neighbours", "neighbour_defaults", "neighbour_default_rate")


def _adjacency(lo: np.ndarray, hi: np.ndarray, n_nodes: int) -> sparse.csr_matrix:
    """Symmetric 0/1 adjacency of undirected pairs (lo, hi)."""
    data = np.ones(2 * len(lo))
    rows = np.concatenate([lo, hi])
    cols = np.concatenate([hi, lo])
    matrix = sparse.csr_matrix((data, (rows, cols)), shape=(n_nodes, n_nodes))
    matrix.data[:] = 1.0  # repeated edges collapse to one link
    return matrix


class RelationalFeatures(FrameTransformer):
    """Link counts and neighbours' training default rate for each borrower.

    Parameters
    ----------
    relations : DataFrame or None
        Edge table, one link per row. None makes the transformer a passthrough.
    source, target : str
        Columns of ``relations`` holding the two borrower ids (matched against X's index).
    kind : str or None, default="relation"
        Column naming the type of link; per-kind counts are made when it is present.
    smoothing : float, default=2.0
        Pseudo-count pulling a neighbour default rate toward the training base rate,
        so one defaulted neighbour does not read as a 100 % rate.

    Attributes
    ----------
    nodes_ : Index
        Every borrower id in the graph or the training rows.
    base_rate_ : float
        Training default rate.
    kinds_ : list of str
        Link kinds seen at fit (snake-cased) in the order of their count columns.
    node_features_ : ndarray of shape (n_nodes, n_derived)
        Precomputed features per node; transform only looks rows up.
    known_, defaulted_ : ndarray of shape (n_nodes,)
        1 where the node is a training row, and its outcome: what :meth:`with_links` needs
        to give applicants scored later the features of their own links.
    derived_names_ : list of str
        ``relational_links``, ``relational_links_<kind>`` for each kind,
        ``relational_known_neighbours``, ``relational_neighbour_defaults`` and
        ``relational_neighbour_default_rate``; empty without relations.

    Examples
    --------
    >>> import pandas as pd
    >>> edges = pd.DataFrame({"source_id": [1, 2], "target_id": [2, 3]})
    >>> X = pd.DataFrame({"x": [0.0, 0.0]}, index=[1, 2])
    >>> rel = RelationalFeatures(relations=edges, kind=None).fit(X, [1, 0])
    >>> rel.transform(pd.DataFrame({"x": [0.0]}, index=[3]))["relational_neighbour_defaults"].item()
    0.0
    """

    _parameter_constraints: dict = {
        "relations": [pd.DataFrame, None],
        "source": [str],
        "target": [str],
        "kind": [str, None],
        "smoothing": [Interval(Real, 0, None, closed="left")],
    }

    def __init__(
        self,
        *,
        relations: pd.DataFrame | None = None,
        source: str = "source_id",
        target: str = "target_id",
        kind: str | None = "relation",
        smoothing: float = 2.0,
    ) -> None:
        self.relations = relations
        self.source = source
        self.target = target
        self.kind = kind
        self.smoothing = smoothing

    def _edges(self, edges: pd.DataFrame | None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Source ids, target ids and snake-cased kinds of an edge table."""
        assert edges is not None
        missing = [c for c in (self.source, self.target) if c not in edges.columns]
        if missing:
            raise DataError(
                MISSING_EDGE_COLUMNS.format(columns=missing, source=self.source, target=self.target)
            )
        for column in (self.source, self.target):
            absent = edges[column].isna().to_numpy()
            if absent.any():
                row = edges.index[absent][0]
                raise DataError(MISSING_ENDPOINT.format(row=row, column=column))
        if self.kind is not None and self.kind in edges.columns:
            kinds = edges[self.kind].astype(object).where(edges[self.kind].notna(), "unspecified")
            kinds = kinds.map(snake).to_numpy()
        else:
            kinds = np.full(len(edges), "", dtype=object)
        return edges[self.source].to_numpy(), edges[self.target].to_numpy(), kinds

    def _fit(self, frame: pd.DataFrame, y: object) -> None:
        if self.relations is None:
            self.derived_names_: list[str] = []
            return
        if y is None:
            raise DataError(NEEDS_TARGET)
        target = np.asarray(y, dtype=float).ravel()
        if len(target) != len(frame):
            raise DataError(TARGET_LENGTH.format(n_y=len(target), n_x=len(frame)))
        src, dst, kinds = self._edges(self.relations)
        nodes = pd.Index(pd.unique(np.concatenate([src, dst, frame.index.to_numpy()])))
        if len(src) and not frame.index.isin(pd.unique(np.concatenate([src, dst]))).any():
            log.warning("no training row id appears in the relations table; check the id types")
        self.kinds_ = sorted(k for k in pd.unique(kinds) if k) if len(kinds) else []
        rows = nodes.get_indexer(frame.index)
        self.base_rate_ = float(target.mean()) if len(target) else float("nan")
        self._graph(
            nodes,
            (src, dst, kinds),
            np.bincount(rows, minlength=len(nodes)).astype(float),
            np.bincount(rows, weights=target, minlength=len(nodes)),
        )

    def with_links(self, links: pd.DataFrame) -> RelationalFeatures:
        """A copy whose graph also holds ``links`` (same columns as the training relations):
        the links of applicants scored now, to borrowers known at training or to each other.

        Only training borrowers' outcomes count, as at fit: a new applicant linked to a
        borrower who defaulted in training gets that in its neighbour features, which with
        the training graph alone (its id unknown there) it could never have. Link kinds not
        seen at fit count in ``relational_links`` only (the model has no column for them).

        Raises
        ------
        DataError
            If ``links`` lacks the source or target column or a link misses an endpoint.
        ModelError
            If the step was fitted by a release that did not keep the training outcomes.
        """
        check_is_fitted(self, "derived_names_")
        if not self.derived_names_:
            return self  # fitted without relations: no graph to add to
        if not hasattr(self, "known_"):
            raise ModelError(NO_OUTCOMES)
        new_src, new_dst, new_kinds = self._edges(links)
        old_src, old_dst, old_kinds = self._edges(self.relations)
        src = np.concatenate([old_src, new_src])
        dst = np.concatenate([old_dst, new_dst])
        nodes = self.nodes_.append(pd.Index(pd.unique(np.concatenate([new_src, new_dst])))).unique()
        extra = len(nodes) - len(self.nodes_)
        step = copy.copy(self)
        # Its edge table holds the added links too, so links added again later add to them.
        columns = [c for c in (self.source, self.target, self.kind) if c in links.columns]
        step.relations = pd.concat([self.relations, links[columns]], ignore_index=True)
        step._graph(
            nodes,
            (src, dst, np.concatenate([old_kinds, new_kinds])),
            np.concatenate([self.known_, np.zeros(extra)]),
            np.concatenate([self.defaulted_, np.zeros(extra)]),
        )
        return step

    def _graph(
        self,
        nodes: pd.Index,
        edges: tuple[np.ndarray, np.ndarray, np.ndarray],
        known: np.ndarray,
        bad: np.ndarray,
    ) -> None:
        """Each node's features from the links between ``nodes`` and the training outcomes
        ``known`` (a training row at that node) and ``bad`` (it defaulted)."""
        src, dst, kinds = edges
        a, b = nodes.get_indexer(src), nodes.get_indexer(dst)
        lo, hi = np.minimum(a, b), np.maximum(a, b)
        keep = lo != hi  # a self-link would feed a row its own target
        lo, hi, kinds = lo[keep], hi[keep], kinds[keep]
        n = len(nodes)

        linked = _adjacency(lo, hi, n)
        per_kind = [
            np.asarray(_adjacency(lo[kinds == k], hi[kinds == k], n).sum(axis=1)).ravel()
            for k in self.kinds_
        ]
        self.known_, self.defaulted_ = known, bad
        neighbour_known = linked @ known
        neighbour_bad = linked @ bad
        with np.errstate(divide="ignore", invalid="ignore"):
            rate = (neighbour_bad + self.smoothing * self.base_rate_) / (
                neighbour_known + self.smoothing
            )
        self.nodes_ = nodes
        self.node_features_ = np.column_stack(
            [
                np.asarray(linked.sum(axis=1)).ravel(),
                *per_kind,
                neighbour_known,
                neighbour_bad,
                rate,
            ]
        )
        self.derived_names_ = [
            f"{PREFIX}_links",
            *(f"{PREFIX}_links_{k}" for k in self.kinds_),
            *(f"{PREFIX}_{f}" for f in SUMMARY_FEATURES),
        ]

    def _derive(self, frame: pd.DataFrame) -> Mapping[str, np.ndarray]:
        return self.derive_at(self.nodes_.get_indexer(frame.index))

    def derive_at(self, positions: np.ndarray) -> Mapping[str, np.ndarray]:
        """The features of rows whose ids sit at ``positions`` in :attr:`nodes_` (-1: an id
        outside the graph)."""
        values = np.zeros((len(positions), len(self.derived_names_)))
        found = positions >= 0
        values[found] = self.node_features_[positions[found]]
        # An id outside the graph has no links: its rate is the prior (the base rate).
        values[~found, -1] = self.base_rate_ if self.smoothing > 0 else np.nan
        return {name: values[:, i] for i, name in enumerate(self.derived_names_)}
