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
file beside a scored file, each link counting for both its borrowers) and
:meth:`RelationalFeatures.with_row_links` the links each applicant sent (counting for that
applicant only: the service scores callers together). Either way a linked row's features
are worked out, when it is scored, from its training neighbours and its links against the
training outcomes the step keeps per node (``known_``, ``defaulted_``): the sums of the
fit, neighbour by neighbour, without rebuilding the graph. Those outcomes are personal data held
in the bundle: a subject's erasure means retraining the models trained on them (their
lineage names them), as it always did for the neighbour sums the step held before.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping, Sequence
from numbers import Real
from typing import Any

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
#: A link given at scoring: the other borrower's id and the link's kind (snake case).
Link = tuple[Any, str]
#: The key under which a raw applicant (field -> value) carries its own links, as
#: ``(borrower id, kind)`` pairs: the scoring runtime reads them (see :func:`links_of_rows`).
LINKS_KEY = "__links__"
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
    added_links_ : dict of id to list of (id, kind)
        Only on a copy made by :meth:`with_links`: each borrower's added links.
    row_links_ : list
        Only on a copy made by :meth:`with_row_links`: each row's own links.
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
        """A copy that also knows ``links`` (same columns as the training relations): the
        links of applicants scored now, to borrowers known at training or to each other.

        Links are undirected, as at fit: each counts for both its borrowers. Only training
        borrowers' outcomes count: a new applicant linked to a borrower who defaulted in
        training gets that in its neighbour features, which with the training graph alone
        (its id unknown there) it could never have. A link that repeats one already known
        counts once; link kinds not seen at fit count in ``relational_links`` only (the
        model has no column for them). The training graph is not rebuilt: a row's features
        are worked out from its training neighbours and its added links when it is scored.

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
        self._check_outcomes()
        added: dict[Any, list[Link]] = {
            node: list(known) for node, known in getattr(self, "added_links_", {}).items()
        }
        for node, links_of_node in self.links_by_borrower(links).items():
            added.setdefault(node, []).extend(links_of_node)
        step = copy.copy(self)
        step.added_links_ = added
        return step

    def links_by_borrower(self, links: pd.DataFrame) -> dict[Any, list[Link]]:
        """Each borrower's links in an edge table (same columns as the training relations),
        both ways round: what each applicant of a file sends as its own links.

        Raises
        ------
        DataError
            If ``links`` lacks the source or target column or a link misses an endpoint.
        """
        src, dst, kinds = self._edges(links)
        out: dict[Any, list[Link]] = {}
        for a, b, kind in zip(src.tolist(), dst.tolist(), kinds.tolist(), strict=True):
            out.setdefault(a, []).append((b, kind))
            out.setdefault(b, []).append((a, kind))
        return out

    def with_row_links(self, links: Sequence[Sequence[Link] | None]) -> RelationalFeatures:
        """A copy whose next transform gives its ``i``-th row the links ``links[i]`` as well:
        ``(borrower id, kind)`` pairs (kind None or a kind's name), the links an applicant
        came with. Row by row, so that applicants scored together (a service's
        micro-batch mixes callers) never change each other's features.

        Raises
        ------
        ModelError
            If the step was fitted by a release that did not keep the training outcomes.
        """
        check_is_fitted(self, "derived_names_")
        if not self.derived_names_:
            return self
        self._check_outcomes()
        step = copy.copy(self)
        step.row_links_ = list(links)
        return step

    def _check_outcomes(self) -> None:
        if not hasattr(self, "known_"):
            raise ModelError(NO_OUTCOMES)

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
        row_links = getattr(self, "row_links_", None)
        if row_links is not None and len(row_links) != len(frame):
            raise ValueError(
                f"links were given for {len(row_links)} rows, the frame has {len(frame)}"
            )
        positions = self.nodes_.get_indexer(frame.index)
        return self.derive_at(positions, frame.index.tolist(), row_links)

    def derive_at(
        self,
        positions: np.ndarray,
        ids: Sequence[Any] | None = None,
        row_links: Sequence[Sequence[tuple[Any, Any]] | None] | None = None,
        locate: Callable[[list[Any]], Sequence[int]] | None = None,
    ) -> Mapping[str, np.ndarray]:
        """The features of rows whose ids sit at ``positions`` in :attr:`nodes_` (-1: an id
        outside the graph): the fitted graph's, unless a row has links given at scoring,
        those added by :meth:`with_links` to its id (``ids``) or its own ``row_links[i]``
        (``(borrower id, kind)`` pairs, see :meth:`with_row_links`). ``locate`` finds
        borrower ids in :attr:`nodes_` as ``get_indexer`` does (the default)."""
        values = np.zeros((len(positions), len(self.derived_names_)))
        found = positions >= 0
        values[found] = self.node_features_[positions[found]]
        # An id outside the graph has no links: its rate is the prior (the base rate).
        values[~found, -1] = self.base_rate_ if self.smoothing > 0 else np.nan
        added: dict[Any, list[Link]] = getattr(self, "added_links_", {})
        if ids is not None and (added or row_links is not None):
            for i, own in enumerate(ids):
                links = _added_to(added, own) + _row_links(row_links[i] if row_links else None)
                if links:
                    values[i] = self._with_extra(int(positions[i]), own, links, locate)
        return {name: values[:, i] for i, name in enumerate(self.derived_names_)}

    def _with_extra(
        self,
        at: int,
        own: Any,
        links: list[Link],
        locate: Callable[[list[Any]], Sequence[int]] | None,
    ) -> np.ndarray:
        """One row's features from its training neighbours (``at``: its node, -1 for none)
        and ``links``; the same sums as :meth:`_graph`'s, neighbour by neighbour: a
        borrower linked twice counts once (once per kind in the per-kind counts), a link to
        itself not at all, and only training borrowers' outcomes."""
        ptr, at_, kind_at = self._neighbour_table()
        kind_code = {k: j for j, k in enumerate(self.kinds_)}
        kinds_of: dict[tuple[bool, Any], set[int]] = {}
        if at >= 0:
            for q, k in zip(
                at_[ptr[at] : ptr[at + 1]].tolist(),
                kind_at[ptr[at] : ptr[at + 1]].tolist(),
                strict=True,
            ):
                kinds_of.setdefault((True, q), set()).add(k)
        nodes = [node for node, _ in links]
        if locate is None:
            positions = self.nodes_.get_indexer(pd.Index(nodes, dtype=object)).tolist()
        else:
            positions = list(locate(nodes))
        for (node, kind), q in zip(links, positions, strict=True):
            if (at >= 0 and q == at) or (q < 0 and _same(node, own)):
                continue  # a self-link would feed a row its own target
            key = (True, q) if q >= 0 else (False, node)
            kinds_of.setdefault(key, set()).add(kind_code.get(kind, -1))
        trained = np.array([q for is_node, q in kinds_of if is_node], dtype=np.intp)
        known = float(self.known_[trained].sum())
        bad = float(self.defaulted_[trained].sum())
        with np.errstate(divide="ignore", invalid="ignore"):
            rate = (np.float64(bad) + self.smoothing * self.base_rate_) / (
                np.float64(known) + self.smoothing
            )
        per_kind = [sum(j in kinds for kinds in kinds_of.values()) for j in range(len(self.kinds_))]
        return np.array([len(kinds_of), *per_kind, known, bad, rate], dtype=float)

    def _neighbour_table(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Each node's training neighbours: offsets, neighbour nodes and link-kind codes
        (index into :attr:`kinds_`, -1 for none), as CSR (made on first use)."""
        table = getattr(self, "_neighbours", None)
        if table is None:
            src, dst, kinds = self._edges(self.relations)
            a, b = self.nodes_.get_indexer(src), self.nodes_.get_indexer(dst)
            keep = a != b
            code = {k: j for j, k in enumerate(self.kinds_)}
            codes = np.array([code.get(k, -1) for k in kinds[keep].tolist()], dtype=np.intp)
            rows = np.concatenate([a[keep], b[keep]])
            order = np.argsort(rows, kind="stable")
            ptr = np.concatenate([[0], np.cumsum(np.bincount(rows, minlength=len(self.nodes_)))])
            table = (
                ptr,
                np.concatenate([b[keep], a[keep]])[order],
                np.concatenate([codes, codes])[order],
            )
            self._neighbours = table
        return table

    def __getstate__(self) -> dict[str, Any]:
        state = super().__getstate__()
        state.pop("_neighbours", None)  # a cache, made again from the edges on first use
        return state


def links_of_rows(rows: Sequence[Mapping[str, Any]]) -> list[Any] | None:
    """Each raw applicant's own links (:data:`LINKS_KEY`), None when no row has any."""
    links = [row.get(LINKS_KEY) for row in rows]
    return links if any(links) else None


def _row_links(links: Sequence[tuple[Any, Any]] | None) -> list[Link]:
    """Row links with their kinds named as at fit (snake case; None: ``unspecified``)."""
    return [
        (node, snake("unspecified" if kind is None or kind != kind else str(kind)))
        for node, kind in links or ()
    ]


def _added_to(added: Mapping[Any, list[Link]], node: Any) -> list[Link]:
    """The links added to ``node`` (an unhashable id has none)."""
    try:
        return added.get(node, [])
    except TypeError:
        return []


def _same(a: Any, b: Any) -> bool:
    """Whether two ids are the same borrower (as ``==``, never raising)."""
    try:
        return bool(a == b)
    except Exception:  # noqa: BLE001 - ids of odd types are simply different
        return False
