"""The borrower graph a GNN trains and scores on.

Two ways to link applicants:

- **relations**: the spec's edge table (``source``/``target`` id columns) restricted to the
  ids at hand, made undirected, without self-loops or duplicates;
- **kNN**: when a dataset has no relations, each row is linked to its ``k`` nearest rows in
  standardised static-feature space (symmetrised).

Scoring is **inductive**: new applicants become extra nodes. They receive messages from
the training nodes they are linked to (and from each other, for relations among them),
but send none to the training nodes, so the training nodes' embeddings stay those of the
training graph and one applicant's score does not depend on who else is in the batch
except through their own declared links. :func:`label_features` summarises the *known*
labels of a node's neighbours (never the node's own).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.neighbors import NearestNeighbors

from greenscore.errors import DataError

MSG_RELATION_COLUMNS = (
    "relations frame lacks column(s) {columns} (spec.relations: {source}, {target})"
)
MSG_DUPLICATE_IDS = "a graph model needs unique applicant ids in X.index; duplicated: {ids}"
#: Width of :func:`label_features`' output.
LABEL_FEATURES = 3


def check_ids(index: pd.Index) -> np.ndarray:
    """The applicant ids of ``X.index`` as an array.

    Raises
    ------
    DataError
        If an id occurs twice.
    """
    if index.has_duplicates:
        raise DataError(MSG_DUPLICATE_IDS.format(ids=index[index.duplicated()][:5].tolist()))
    return index.to_numpy()


def _undirected(edges: np.ndarray) -> np.ndarray:
    """Both directions of every edge, deduplicated, self-loops removed: ``[2, E]``."""
    if edges.size == 0:
        return np.zeros((2, 0), dtype=np.int64)
    both = np.concatenate([edges, edges[:, ::-1]])
    both = both[both[:, 0] != both[:, 1]]
    return np.unique(both, axis=0).T.astype(np.int64)


def relation_pairs(
    relations: pd.DataFrame, *, source: str, target: str, left: np.ndarray, right: np.ndarray
) -> np.ndarray:
    """Positions ``(i, j)`` of relation edges with one end in ``left`` and the other in ``right``.

    Edges are read in both directions, so ``i`` indexes ``left`` and ``j`` indexes ``right``.

    Raises
    ------
    DataError
        If the relations frame lacks the source or target column.
    """
    missing = [c for c in (source, target) if c not in relations.columns]
    if missing:
        raise DataError(MSG_RELATION_COLUMNS.format(columns=missing, source=source, target=target))
    a = relations[source].to_numpy()
    b = relations[target].to_numpy()
    a, b = np.r_[a, b], np.r_[b, a]
    li = pd.Index(left).get_indexer(a)
    ri = pd.Index(right).get_indexer(b)
    keep = (li >= 0) & (ri >= 0)
    return np.column_stack([li[keep], ri[keep]]).astype(np.int64)


def relation_graph(
    relations: pd.DataFrame, ids: np.ndarray, *, source: str, target: str
) -> np.ndarray:
    """Undirected ``edge_index [2, E]`` among ``ids`` from the relations table."""
    return _undirected(relation_pairs(relations, source=source, target=target, left=ids, right=ids))


def knn_graph(features: np.ndarray, k: int) -> tuple[np.ndarray, NearestNeighbors]:
    """Symmetrised kNN ``edge_index [2, E]`` and the fitted neighbour index."""
    k = min(k, len(features) - 1)
    index = NearestNeighbors(n_neighbors=k + 1).fit(features)
    _, nearest = index.kneighbors(features)
    pairs = np.column_stack([np.repeat(np.arange(len(features)), k), nearest[:, 1:].ravel()])
    return _undirected(pairs), index


def inductive_edges(
    train_edges: np.ndarray, links_in: np.ndarray, links_new: np.ndarray, n_train: int
) -> np.ndarray:
    """Training graph plus new nodes ``n_train + j``.

    Parameters
    ----------
    train_edges : ``[2, E]`` edges among training nodes.
    links_in : ``[m, 2]`` pairs (training node ``i``, new row ``j``): message ``i -> j`` only.
    links_new : ``[m', 2]`` pairs of new rows, linked both ways.
    n_train : number of training nodes (new node ``j`` is ``n_train + j``).
    """
    incoming = np.stack([links_in[:, 0], n_train + links_in[:, 1]]) if len(links_in) else None
    among = _undirected(links_new) + n_train if len(links_new) else None
    parts = [train_edges] + [p for p in (incoming, among) if p is not None]
    edges = np.concatenate(parts, axis=1) if len(parts) > 1 else train_edges
    return np.unique(edges, axis=1).astype(np.int64)


def label_features(edge_index: np.ndarray, known: np.ndarray, n_nodes: int) -> np.ndarray:
    """Per node: default share among neighbours with a known label, log1p of their count,
    and whether there is any.

    Parameters
    ----------
    edge_index : ``[2, E]`` edges ``source -> target``; a node reads its sources.
    known : float ``[n_nodes]`` with the 0/1 label where known and NaN elsewhere.
    n_nodes : number of nodes.

    Returns
    -------
    ndarray float32 ``[n_nodes, 3]``
        A node's own label never enters its own row (there are no self-loops).
    """
    src, dst = edge_index
    has = ~np.isnan(known[src])
    count = np.bincount(dst[has], minlength=n_nodes).astype(np.float64)
    bad = np.bincount(dst[has], weights=known[src][has], minlength=n_nodes)
    share = np.divide(bad, count, out=np.zeros(n_nodes), where=count > 0)
    return np.column_stack([share, np.log1p(count), (count > 0).astype(float)]).astype(np.float32)
