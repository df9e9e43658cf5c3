"""Exact TreeSHAP for LightGBM boosters from per-leaf tables (Fast TreeSHAP v2 style).

LightGBM's ``pred_contrib`` runs the path-dependent TreeSHAP recursion for every row:
O(T L D^2) per row. Most of that work depends only on the trees, so it is done once here,
when a model is loaded, and a row then costs O(T L D) table lookups.

For one leaf with value ``v`` and the distinct features ``P`` on its path (``D = |P|``),
let ``z_k`` be the share of training rows that follow the path at the nodes splitting on
feature ``k`` (the product of child count / parent count over those nodes), and ``Q`` the
features whose path conditions the row satisfies. The path-dependent game of this leaf is
``g(S) = v * prod_{k in S} 1[k in Q] * prod_{k in P \\ S} z_k`` and its Shapley values are

* ``phi_i = -v * G(Q)`` for ``i`` not in ``Q``, and
* ``phi_i = v * (1 / z_i - 1) * G(Q \\ {i})`` for ``i`` in ``Q``,

with ``G(R) = sum_{S subset of R} w_D(|S|) prod_{k in P \\ S} z_k`` and the Shapley weight
``w_D(s) = s! (D - s - 1)! / D!``. ``G`` depends on the tree only: it is tabulated for
every subset of every leaf's path (``2^D`` values per leaf). Leaves with a longer path
than :data:`MAX_TABLE_DEPTH` compute ``G`` per row from elementary symmetric polynomials
(O(D^2)) instead of a table. The bias column is ``sum_l v_l prod_{k in P_l} z_k``, the
model's expected raw score, as in ``pred_contrib``.

A row's direction at every split is decided exactly as LightGBM decides it (missing-value
types, default directions, categorical bitsets), so the contributions equal
``Booster.predict(X, pred_contrib=True)`` to rounding; the tests check 1e-9.
"""

from __future__ import annotations

from dataclasses import dataclass
from math import factorial
from typing import Any

import numba
import numpy as np

from greenscore.errors import ModelError

#: Longest distinct-feature path that gets a table (2**14 doubles = 128 KiB per leaf).
#: Measured on a 160-tree, 31-leaf, 75-feature model: tables to depth 14 explained 8x as
#: many rows per CPU-second as ``pred_contrib``, depth 8 5.4x, no tables 2.8x.
MAX_TABLE_DEPTH = 14
#: Largest total table size (doubles, 128 MB) before the remaining leaves compute G per row.
MAX_TABLE_ENTRIES = 16_000_000
_MAX_D = 64
#: Rows explained together, innermost in every loop of the kernel (vector code); a block's
#: split directions and unmet bits (128 rows x a tree's nodes) stay in cache.
_BLOCK_ROWS = 128
#: Up to this many rows, :func:`_contributions_few` (scalar, row by row) is faster than the
#: block kernel, whose per-step set-up dominates a small block.
_FEW_ROWS = 4

_MISSING = {"None": 0, "Zero": 1, "NaN": 2}
#: LightGBM's kZeroThreshold: ``1e-35f``, a float widened to double (not the double 1e-35).
_ZERO = float(np.float32(1e-35))
NOT_BINARY = "exact contributions need a binary LightGBM model (one tree per iteration)"
LINEAR_TREES = "exact contributions are not available for LightGBM linear trees"
ZERO_COVER = "tree {tree} has a path through a split with no training rows"


def _shapley_weights() -> np.ndarray:
    out = np.zeros((_MAX_D + 1, _MAX_D + 1))
    for d in range(1, _MAX_D + 1):
        for s in range(d):
            out[d, s] = factorial(s) * factorial(d - s - 1) / factorial(d)
    return out


_WEIGHTS = _shapley_weights()


@dataclass(frozen=True)
class TreeTables:
    """A booster flattened for :func:`contributions`; build with :meth:`from_booster`.

    Attributes
    ----------
    n_features : int
        Columns of the booster's input matrix.
    expected_value : float
        The bias column of ``pred_contrib`` (expected raw score).
    sigmoid : float
        The objective's sigmoid scale (PD is ``1 / (1 + exp(-sigmoid * raw))``); NaN when
        the objective does not turn raw scores into probabilities that way.
    table_entries : int
        Doubles held by the G tables (memory is ``8 * table_entries`` bytes).
    """

    n_features: int
    expected_value: float
    sigmoid: float
    table_entries: int
    # internal nodes, all trees (global indices)
    node_feature: np.ndarray
    node_threshold: np.ndarray
    node_kind: np.ndarray  # 0 numerical, 1 categorical
    node_missing: np.ndarray
    node_default_left: np.ndarray
    node_cat_start: np.ndarray
    node_cat_len: np.ndarray
    node_left: np.ndarray  # local index of the left child; ~leaf index for a leaf
    node_right: np.ndarray
    cat_bits: np.ndarray
    tree_node_start: np.ndarray
    tree_node_count: np.ndarray
    tree_leaf_start: np.ndarray
    tree_leaf_count: np.ndarray
    # leaves, all trees
    leaf_value: np.ndarray
    leaf_depth: np.ndarray  # distinct features on the path (D)
    leaf_slot_start: np.ndarray
    leaf_pos: np.ndarray  # the leaf's position in its tree's pre-order
    leaf_table: np.ndarray  # offset into g_table, -1 when G is computed per row
    slot_feature: np.ndarray
    slot_factor: np.ndarray  # 1 / z - 1
    slot_z: np.ndarray
    # every node of a tree in pre-order, root first: how a row gets there from its parent
    tree_pos_start: np.ndarray
    tree_pos_count: np.ndarray
    pos_parent: np.ndarray  # local position of the parent (-1 for the root)
    pos_split: np.ndarray  # local index of the parent's split
    pos_left: np.ndarray  # 1 when this node is its parent's left child
    pos_bit: np.ndarray  # slot bit of the parent's feature on paths through this node
    g_table: np.ndarray

    @classmethod
    def from_booster(cls, booster: Any) -> TreeTables:
        """Flatten a fitted binary ``lightgbm.Booster`` (best iteration, as ``predict``).

        Raises
        ------
        ModelError
            If the model is not binary, uses linear trees, or has a zero-count path.
        """
        dump = booster.dump_model()
        if int(dump.get("num_tree_per_iteration", 1)) != 1:
            raise ModelError(NOT_BINARY)
        builder = _Builder(n_features=int(dump["max_feature_idx"]) + 1)
        for t, info in enumerate(dump["tree_info"]):
            builder.add_tree(t, info["tree_structure"])
        return builder.finish(sigmoid=_sigmoid(str(dump.get("objective", ""))))


class _Builder:
    """Walks dumped trees into flat arrays and fills the G tables."""

    def __init__(self, n_features: int) -> None:
        self.n_features = n_features
        self.nodes: dict[str, list[Any]] = {
            k: []
            for k in ("feature", "threshold", "kind", "missing", "default_left", "left", "right")
        }
        self.cat_start: list[int] = []
        self.cat_len: list[int] = []
        self.cat_bits: list[int] = []
        self.tree_node_start: list[int] = []
        self.tree_node_count: list[int] = []
        self.tree_leaf_start: list[int] = []
        self.tree_leaf_count: list[int] = []
        self.leaves: dict[str, list[Any]] = {
            k: [] for k in ("value", "depth", "slot_start", "pos", "table")
        }
        self.slot_feature: list[int] = []
        self.slot_z: list[float] = []
        self.positions: dict[str, list[int]] = {k: [] for k in ("parent", "split", "left", "bit")}
        self.tree_pos_start: list[int] = []
        self.tree_pos_count: list[int] = []
        self.tables: list[np.ndarray] = []
        self.table_entries = 0
        self.expected = 0.0

    def add_tree(self, t: int, root: dict[str, Any]) -> None:
        self.tree_node_start.append(len(self.nodes["feature"]))
        self.tree_leaf_start.append(len(self.leaves["value"]))
        self.tree_pos_start.append(len(self.positions["parent"]))
        internal: list[dict[str, Any]] = []
        leaves: list[tuple[dict[str, Any], int, dict[int, int], list[float]]] = []
        self._walk(t, root, parent=(-1, 0, 0, 0), slots={}, z=[], internal=internal, leaves=leaves)
        internal.sort(key=lambda n: n["split_index"])
        for node in internal:
            self._add_node(node)
        self.tree_node_count.append(len(internal))
        self.tree_leaf_count.append(len(leaves))
        self.tree_pos_count.append(len(self.positions["parent"]) - self.tree_pos_start[-1])
        for leaf, pos, slots, z in sorted(leaves, key=lambda item: item[0].get("leaf_index", 0)):
            self._add_leaf(leaf, pos, slots, z)

    def _walk(
        self,
        t: int,
        node: dict[str, Any],
        *,
        parent: tuple[int, int, int, int],
        slots: dict[int, int],
        z: list[float],
        internal: list[dict[str, Any]],
        leaves: list[tuple[dict[str, Any], int, dict[int, int], list[float]]],
    ) -> None:
        """Pre-order walk; ``slots`` maps each feature met on the way down to its slot."""
        pos = len(self.positions["parent"]) - self.tree_pos_start[-1]
        for key, value in zip(("parent", "split", "left", "bit"), parent, strict=True):
            self.positions[key].append(value)
        if "split_index" not in node:
            leaves.append((node, pos, slots, z))
            return
        if "split_feature" not in node:
            raise ModelError(LINEAR_TREES)
        internal.append(node)
        feature = int(node["split_feature"])
        slot = slots.get(feature, len(slots))
        total = float(node["internal_count"])
        for child_key, left in (("left_child", 1), ("right_child", 0)):
            child = node[child_key]
            count = float(
                child["internal_count"] if "split_index" in child else child["leaf_count"]
            )
            if total <= 0 or count <= 0:
                raise ModelError(ZERO_COVER.format(tree=t))
            # A feature split twice on one path keeps its slot; its fractions multiply.
            child_z = [*z, 1.0] if slot == len(z) else list(z)
            child_z[slot] *= count / total
            self._walk(
                t,
                child,
                parent=(pos, int(node["split_index"]), left, 1 << slot),
                slots={**slots, feature: slot},
                z=child_z,
                internal=internal,
                leaves=leaves,
            )

    def _add_node(self, node: dict[str, Any]) -> None:
        categorical = node["decision_type"] == "=="
        self.nodes["feature"].append(int(node["split_feature"]))
        self.nodes["kind"].append(1 if categorical else 0)
        self.nodes["missing"].append(_MISSING[str(node.get("missing_type", "None"))])
        self.nodes["default_left"].append(1 if node.get("default_left") else 0)
        for key, child in (("left", node["left_child"]), ("right", node["right_child"])):
            # Internal nodes sit at their split index within the tree; leaves are ~index.
            self.nodes[key].append(
                int(child["split_index"]) if "split_index" in child else ~int(child["leaf_index"])
            )
        self.cat_start.append(len(self.cat_bits))
        if categorical:
            values = [int(v) for v in str(node["threshold"]).split("||")]
            words = np.zeros(max(values) // 32 + 1, dtype=np.uint32)
            for v in values:
                words[v // 32] |= np.uint32(1 << (v % 32))
            self.cat_bits.extend(int(w) for w in words)
            self.cat_len.append(len(words))
            self.nodes["threshold"].append(0.0)
        else:
            self.cat_len.append(0)
            self.nodes["threshold"].append(_threshold(float(node["threshold"])))

    def _add_leaf(
        self, leaf: dict[str, Any], pos: int, slots: dict[int, int], z: list[float]
    ) -> None:
        depth = len(z)
        if depth > _MAX_D:
            raise ModelError(f"a path splits on {depth} features; at most {_MAX_D} are supported")
        value = float(leaf["leaf_value"])
        self.leaves["value"].append(value)
        self.leaves["depth"].append(depth)
        self.leaves["slot_start"].append(len(self.slot_feature))
        self.leaves["pos"].append(pos)
        self.slot_feature.extend(sorted(slots, key=slots.__getitem__))
        self.slot_z.extend(z)
        self.expected += value * float(np.prod(z)) if z else value
        size = 1 << depth
        if depth <= MAX_TABLE_DEPTH and self.table_entries + size <= MAX_TABLE_ENTRIES:
            self.leaves["table"].append(self.table_entries)
            self.tables.append(_g_table(np.asarray(z, dtype=np.float64), _WEIGHTS[depth]))
            self.table_entries += size
        else:
            self.leaves["table"].append(-1)

    def finish(self, *, sigmoid: float) -> TreeTables:
        i64, f64 = np.int64, np.float64
        n = self.nodes
        lv = self.leaves
        return TreeTables(
            n_features=self.n_features,
            expected_value=self.expected,
            sigmoid=sigmoid,
            table_entries=self.table_entries,
            node_feature=np.asarray(n["feature"], dtype=i64),
            node_threshold=np.asarray(n["threshold"], dtype=f64),
            node_kind=np.asarray(n["kind"], dtype=i64),
            node_missing=np.asarray(n["missing"], dtype=i64),
            node_default_left=np.asarray(n["default_left"], dtype=i64),
            node_cat_start=np.asarray(self.cat_start, dtype=i64),
            node_cat_len=np.asarray(self.cat_len, dtype=i64),
            node_left=np.asarray(n["left"], dtype=i64),
            node_right=np.asarray(n["right"], dtype=i64),
            cat_bits=np.asarray(self.cat_bits, dtype=np.uint32),
            tree_node_start=np.asarray(self.tree_node_start, dtype=i64),
            tree_node_count=np.asarray(self.tree_node_count, dtype=i64),
            tree_leaf_start=np.asarray(self.tree_leaf_start, dtype=i64),
            tree_leaf_count=np.asarray(self.tree_leaf_count, dtype=i64),
            leaf_value=np.asarray(lv["value"], dtype=f64),
            leaf_depth=np.asarray(lv["depth"], dtype=i64),
            leaf_slot_start=np.asarray(lv["slot_start"], dtype=i64),
            leaf_pos=np.asarray(lv["pos"], dtype=i64),
            leaf_table=np.asarray(lv["table"], dtype=i64),
            slot_feature=np.asarray(self.slot_feature, dtype=i64),
            slot_factor=1.0 / np.asarray(self.slot_z, dtype=f64) - 1.0,
            slot_z=np.asarray(self.slot_z, dtype=f64),
            tree_pos_start=np.asarray(self.tree_pos_start, dtype=i64),
            tree_pos_count=np.asarray(self.tree_pos_count, dtype=i64),
            pos_parent=np.asarray(self.positions["parent"], dtype=i64),
            pos_split=np.asarray(self.positions["split"], dtype=i64),
            pos_left=np.asarray(self.positions["left"], dtype=i64),
            pos_bit=np.asarray(self.positions["bit"], dtype=i64),
            g_table=np.concatenate(self.tables) if self.tables else np.zeros(0, dtype=f64),
        )


def _threshold(dumped: float) -> float:
    """A split threshold as the booster holds it: ``dump_model`` clamps infinities to
    +-1e300 (LightGBM's ``AvoidInf``), but a split of missing values against every number
    has an infinite threshold in the model itself (``inf`` in its text), so a value above
    1e300 goes left there."""
    if dumped >= 1e300:
        return float("inf")
    if dumped <= -1e300:
        return float("-inf")
    return dumped


def _sigmoid(objective: str) -> float:
    """The sigmoid scale of a binary objective (``binary sigmoid:1``), NaN for others."""
    words = objective.split()
    if words and words[0] in ("binary", "cross_entropy", "xentropy"):
        for word in words[1:]:
            if word.startswith("sigmoid:"):
                return float(word.split(":", 1)[1])
        return 1.0
    return float("nan")


@numba.njit(cache=True)
def _g_table(z: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """G(R) for every subset R (bit mask over the leaf's path slots)."""
    d = z.shape[0]
    size = 1 << d
    # poly[R] holds e_0..e_d of {z_k : k in R}; outside[R] is prod_{k not in R} z_k.
    poly = np.zeros((size, d + 1))
    outside = np.ones(size)
    total = 1.0
    for k in range(d):
        total *= z[k]
    poly[0, 0] = 1.0
    outside[0] = total
    out = np.empty(size)
    out[0] = weights[0] * total if d > 0 else 0.0
    for r in range(1, size):
        low = r & -r
        k = 0
        while (1 << k) != low:
            k += 1
        prev = r ^ low
        outside[r] = outside[prev] / z[k]
        poly[r, 0] = 1.0
        for j in range(1, d + 1):
            poly[r, j] = poly[prev, j] + z[k] * poly[prev, j - 1]
        size_r = 0
        m = r
        while m:
            m &= m - 1
            size_r += 1
        acc = 0.0
        for j in range(size_r + 1):
            acc += weights[size_r - j] * poly[r, j]
        out[r] = outside[r] * acc
    return out


@numba.njit(cache=True)
def _decide(
    x: float,
    threshold: float,
    kind: int,
    missing: int,
    default_left: int,
    cat_start: int,
    cat_len: int,
    cat_bits: np.ndarray,
) -> bool:
    """LightGBM's own decision at one split (``Tree::Decision``): True goes left."""
    if abs(x) <= _ZERO:
        x = 0.0  # LightGBM's dense-row reader drops such values: the split sees zero
    if kind == 1:
        if np.isnan(x) or x < 0:
            return False
        v = int(x)
        word = v // 32
        if word >= cat_len:
            return False
        return (cat_bits[cat_start + word] >> np.uint32(v % 32)) & np.uint32(1) == 1
    if np.isnan(x) and missing != 2:
        x = 0.0
    if (missing == 1 and x == 0.0) or (missing == 2 and np.isnan(x)):
        return default_left == 1
    return x <= threshold


@numba.njit(cache=True)
def _leaf_direct(
    out: np.ndarray,
    r: int,
    v: float,
    q: int,
    d: int,
    s0: int,
    slot_feature: np.ndarray,
    slot_z: np.ndarray,
    weights: np.ndarray,
    poly: np.ndarray,
    less: np.ndarray,
) -> None:
    """One leaf's contributions to row ``r`` of ``out`` (features by rows) without a
    table: G from elementary symmetric polynomials.

    ``poly`` holds e_j of the satisfied slots' z; removing slot ``s`` is one synthetic
    division by ``(1 + z_s t)``, stable because every z is at most 1.
    """
    for j in range(d + 1):
        poly[j] = 0.0
    poly[0] = 1.0
    outside = 1.0
    size_q = 0
    for k in range(d):
        zk = slot_z[s0 + k]
        if (q >> k) & 1:
            size_q += 1
            for j in range(size_q, 0, -1):
                poly[j] += zk * poly[j - 1]
        else:
            outside *= zk
    g_q = 0.0
    for j in range(size_q + 1):
        g_q += weights[d, size_q - j] * poly[j]
    g_q *= outside
    for s in range(d):
        f = slot_feature[s0 + s]
        zs = slot_z[s0 + s]
        if (q >> s) & 1:
            less[0] = 1.0
            acc = weights[d, size_q - 1]
            for j in range(1, size_q):
                less[j] = poly[j] - zs * less[j - 1]
                acc += weights[d, size_q - 1 - j] * less[j]
            out[f, r] += v * (1.0 / zs - 1.0) * outside * zs * acc
        else:
            out[f, r] -= v * g_q


@numba.njit(cache=True)
def _split_left(
    x: np.ndarray,
    go_left: np.ndarray,
    threshold: float,
    kind: int,
    missing: int,
    default_left: int,
    cat_start: int,
    cat_len: int,
    cat_bits: np.ndarray,
) -> None:
    """:func:`_decide` of one split for a block of rows (``x``: the split's column).

    The split's kind and missing-value type are tested once, outside the loop over rows,
    so each case is a loop without calls or data-dependent exits that the compiler turns
    into vector code; every case decides exactly as :func:`_decide` does.
    """
    n = x.shape[0]
    if kind == 1:
        for r in range(n):
            go_left[r] = _decide(
                x[r], threshold, kind, missing, default_left, cat_start, cat_len, cat_bits
            )
    elif missing == 2:  # NaN: missing goes the default way, zero is a number
        for r in range(n):
            v = x[r]
            v = 0.0 if abs(v) <= _ZERO else v
            go_left[r] = default_left if np.isnan(v) else (1 if v <= threshold else 0)
    elif missing == 1:  # Zero: missing counts as zero, and zero goes the default way
        for r in range(n):
            v = x[r]
            v = 0.0 if np.isnan(v) or abs(v) <= _ZERO else v
            go_left[r] = default_left if v == 0.0 else (1 if v <= threshold else 0)
    else:  # None: missing counts as zero
        for r in range(n):
            v = x[r]
            v = 0.0 if np.isnan(v) or abs(v) <= _ZERO else v
            go_left[r] = 1 if v <= threshold else 0


@numba.njit(cache=True)
def _contributions(
    XT: np.ndarray,  # noqa: N803
    out: np.ndarray,
    raw: np.ndarray,
    node_feature: np.ndarray,
    node_threshold: np.ndarray,
    node_kind: np.ndarray,
    node_missing: np.ndarray,
    node_default_left: np.ndarray,
    node_cat_start: np.ndarray,
    node_cat_len: np.ndarray,
    cat_bits: np.ndarray,
    tree_node_start: np.ndarray,
    tree_node_count: np.ndarray,
    tree_leaf_start: np.ndarray,
    tree_leaf_count: np.ndarray,
    tree_pos_start: np.ndarray,
    tree_pos_count: np.ndarray,
    pos_parent: np.ndarray,
    pos_split: np.ndarray,
    pos_left: np.ndarray,
    pos_bit: np.ndarray,
    leaf_value: np.ndarray,
    leaf_depth: np.ndarray,
    leaf_slot_start: np.ndarray,
    leaf_pos: np.ndarray,
    leaf_table: np.ndarray,
    slot_feature: np.ndarray,
    slot_factor: np.ndarray,
    slot_z: np.ndarray,
    g_table: np.ndarray,
    weights: np.ndarray,
) -> None:
    """Add a block of rows' contributions to ``out`` (features by rows, like ``XT``) and
    their raw scores to ``raw``.

    Rows are the innermost loop of every step -- a tree's splits, its paths' unmet
    conditions, each leaf's slots -- over columns of the transposed matrices, so each
    step is one pass over contiguous memory that the compiler vectorises. Each row's
    terms are added in the same order as a row-by-row walk would add them (trees, then
    leaves, then slots), so the sums do not depend on the block. The leaf a row reaches
    is the one whose path it meets everywhere (no unmet bit): its value is added to the
    row's raw score tree after tree, in order, as :func:`_raw_scores` adds them.
    """
    n_rows = XT.shape[1]
    n_trees = tree_node_start.shape[0]
    max_nodes = 1
    max_pos = 1
    for t in range(n_trees):
        max_nodes = max(max_nodes, tree_node_count[t])
        max_pos = max(max_pos, tree_pos_count[t])
    left = np.zeros((max_nodes, n_rows), dtype=np.int64)
    # unmet[p, r]: slot bits of the path to position p whose condition row r does not meet
    unmet = np.zeros((max_pos, n_rows), dtype=np.int64)
    q = np.zeros(n_rows, dtype=np.int64)
    minus_g_q = np.zeros(n_rows)
    poly = np.zeros(weights.shape[0])
    less = np.zeros(weights.shape[0])
    for t in range(n_trees):
        base = tree_node_start[t]
        for j in range(tree_node_count[t]):
            g = base + j
            _split_left(
                XT[node_feature[g]],
                left[j],
                node_threshold[g],
                node_kind[g],
                node_missing[g],
                node_default_left[g],
                node_cat_start[g],
                node_cat_len[g],
                cat_bits,
            )
        p0 = tree_pos_start[t]
        for p in range(1, tree_pos_count[t]):
            k = p0 + p
            parent = unmet[pos_parent[k]]
            went = left[pos_split[k]]
            here = unmet[p]
            wanted = pos_left[k]
            bit = pos_bit[k]
            for r in range(n_rows):
                here[r] = parent[r] | (bit * (went[r] ^ wanted))
        for li in range(tree_leaf_start[t], tree_leaf_start[t] + tree_leaf_count[t]):
            d = leaf_depth[li]
            v = leaf_value[li]
            path = unmet[leaf_pos[li]]
            for r in range(n_rows):
                if path[r] == 0:
                    raw[r] += v
            if d == 0:
                continue
            full = (1 << d) - 1
            s0 = leaf_slot_start[li]
            table = leaf_table[li]
            if table < 0:
                for r in range(n_rows):
                    _leaf_direct(
                        out, r, v, full & ~path[r], d, s0, slot_feature, slot_z, weights, poly, less
                    )
                continue
            for r in range(n_rows):
                qr = full & ~path[r]
                q[r] = qr
                minus_g_q[r] = -v * g_table[table + qr]
            for s in range(d):
                bit = 1 << s
                scale = v * slot_factor[s0 + s]
                row = out[slot_feature[s0 + s]]
                for r in range(n_rows):
                    qr = q[r]
                    # Read unconditionally (qr ^ bit is in the leaf's table either way):
                    # a select, not a branch, so the loop vectorises.
                    met = scale * g_table[table + (qr ^ bit)]
                    row[r] += met if qr & bit else minus_g_q[r]


@numba.njit(cache=True)
def _contributions_few(
    XT: np.ndarray,  # noqa: N803
    out: np.ndarray,
    raw: np.ndarray,
    node_feature: np.ndarray,
    node_threshold: np.ndarray,
    node_kind: np.ndarray,
    node_missing: np.ndarray,
    node_default_left: np.ndarray,
    node_cat_start: np.ndarray,
    node_cat_len: np.ndarray,
    cat_bits: np.ndarray,
    tree_node_start: np.ndarray,
    tree_node_count: np.ndarray,
    tree_leaf_start: np.ndarray,
    tree_leaf_count: np.ndarray,
    tree_pos_start: np.ndarray,
    tree_pos_count: np.ndarray,
    pos_parent: np.ndarray,
    pos_split: np.ndarray,
    pos_left: np.ndarray,
    pos_bit: np.ndarray,
    leaf_value: np.ndarray,
    leaf_depth: np.ndarray,
    leaf_slot_start: np.ndarray,
    leaf_pos: np.ndarray,
    leaf_table: np.ndarray,
    slot_feature: np.ndarray,
    slot_factor: np.ndarray,
    slot_z: np.ndarray,
    g_table: np.ndarray,
    weights: np.ndarray,
) -> None:
    """:func:`_contributions` one row at a time, for the few rows of a real-time request.

    The block kernel's loops over rows cost their set-up at every split, path position
    and leaf slot whatever the number of rows: with one row that is most of its time
    (about 0.2 ms for 160 trees here, against a few microseconds a row in a full block).
    Here each step is scalar. The terms are the same and added in the same order (trees,
    then leaves, then slots; every split decided by :func:`_decide`), so a row's sums are
    the block kernel's bit for bit.
    """
    n_rows = XT.shape[1]
    n_trees = tree_node_start.shape[0]
    max_nodes = 1
    max_pos = 1
    for t in range(n_trees):
        max_nodes = max(max_nodes, tree_node_count[t])
        max_pos = max(max_pos, tree_pos_count[t])
    left = np.zeros(max_nodes, dtype=np.int64)
    unmet = np.zeros(max_pos, dtype=np.int64)  # unmet[0], the root's path, stays empty
    poly = np.zeros(weights.shape[0])
    less = np.zeros(weights.shape[0])
    for r in range(n_rows):
        for t in range(n_trees):
            base = tree_node_start[t]
            for j in range(tree_node_count[t]):
                g = base + j
                left[j] = _decide(
                    XT[node_feature[g], r],
                    node_threshold[g],
                    node_kind[g],
                    node_missing[g],
                    node_default_left[g],
                    node_cat_start[g],
                    node_cat_len[g],
                    cat_bits,
                )
            p0 = tree_pos_start[t]
            for p in range(1, tree_pos_count[t]):
                k = p0 + p
                unmet[p] = unmet[pos_parent[k]] | (pos_bit[k] * (left[pos_split[k]] ^ pos_left[k]))
            for li in range(tree_leaf_start[t], tree_leaf_start[t] + tree_leaf_count[t]):
                d = leaf_depth[li]
                v = leaf_value[li]
                path = unmet[leaf_pos[li]]
                if path == 0:
                    raw[r] += v
                if d == 0:
                    continue
                q = ((1 << d) - 1) & ~path
                s0 = leaf_slot_start[li]
                table = leaf_table[li]
                if table < 0:
                    _leaf_direct(out, r, v, q, d, s0, slot_feature, slot_z, weights, poly, less)
                    continue
                minus_g_q = -v * g_table[table + q]
                for s in range(d):
                    bit = 1 << s
                    if q & bit:
                        scale = v * slot_factor[s0 + s]
                        out[slot_feature[s0 + s], r] += scale * g_table[table + (q ^ bit)]
                    else:
                        out[slot_feature[s0 + s], r] += minus_g_q


def contributions(tables: TreeTables, X: np.ndarray) -> np.ndarray:  # noqa: N803
    """Exact path-dependent TreeSHAP of each row: shape ``(n_rows, n_features + 1)``.

    Columns follow the booster's features; the last is the expected raw score (bias), as
    in LightGBM's ``pred_contrib``. Each row adds up to its raw score (log-odds).

    Raises
    ------
    ModelError
        If ``X`` does not have the booster's number of columns.
    """
    return contributions_and_raw(tables, X)[0]


def contributions_and_raw(tables: TreeTables, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:  # noqa: N803
    """:func:`contributions` and, from the same pass over the trees, :func:`raw_scores`
    (bit for bit: the reached leaves' values added in tree order).

    Raises
    ------
    ModelError
        If ``X`` does not have the booster's number of columns.
    """
    X = np.asarray(X, dtype=np.float64)  # noqa: N806
    if X.ndim != 2 or X.shape[1] != tables.n_features:
        raise ModelError(f"expected a matrix with {tables.n_features} columns, got {X.shape}")
    n = X.shape[0]
    # Features by rows: a split reads, and a slot writes, one contiguous run of rows.
    out = np.zeros((tables.n_features + 1, n))
    out[-1] = tables.expected_value
    raw = np.zeros(n)
    for start in range(0, n, _BLOCK_ROWS):
        block = slice(start, min(start + _BLOCK_ROWS, n))
        done = np.zeros((tables.n_features, block.stop - block.start))
        _run(tables, np.ascontiguousarray(X[block].T), done, raw[block])
        out[:-1, block] = done
    return np.ascontiguousarray(out.T), raw


def _run(t: TreeTables, XT: np.ndarray, out: np.ndarray, raw: np.ndarray) -> None:  # noqa: N803
    kernel = _contributions_few if XT.shape[1] <= _FEW_ROWS else _contributions
    kernel(
        XT,
        out,
        raw,
        t.node_feature,
        t.node_threshold,
        t.node_kind,
        t.node_missing,
        t.node_default_left,
        t.node_cat_start,
        t.node_cat_len,
        t.cat_bits,
        t.tree_node_start,
        t.tree_node_count,
        t.tree_leaf_start,
        t.tree_leaf_count,
        t.tree_pos_start,
        t.tree_pos_count,
        t.pos_parent,
        t.pos_split,
        t.pos_left,
        t.pos_bit,
        t.leaf_value,
        t.leaf_depth,
        t.leaf_slot_start,
        t.leaf_pos,
        t.leaf_table,
        t.slot_feature,
        t.slot_factor,
        t.slot_z,
        t.g_table,
        _WEIGHTS,
    )


@numba.njit(cache=True)
def _raw_scores(
    X: np.ndarray,  # noqa: N803
    out: np.ndarray,
    node_feature: np.ndarray,
    node_threshold: np.ndarray,
    node_kind: np.ndarray,
    node_missing: np.ndarray,
    node_default_left: np.ndarray,
    node_cat_start: np.ndarray,
    node_cat_len: np.ndarray,
    node_left: np.ndarray,
    node_right: np.ndarray,
    cat_bits: np.ndarray,
    tree_node_start: np.ndarray,
    tree_node_count: np.ndarray,
    tree_leaf_start: np.ndarray,
    leaf_value: np.ndarray,
) -> None:
    n_trees = tree_node_start.shape[0]
    for r in range(X.shape[0]):
        # Trees added in order, in double, as LightGBM's own Predict adds them.
        acc = 0.0
        for t in range(n_trees):
            leaf0 = tree_leaf_start[t]
            if tree_node_count[t] == 0:
                acc += leaf_value[leaf0]
                continue
            base = tree_node_start[t]
            j = 0
            while True:
                g = base + j
                left = _decide(
                    X[r, node_feature[g]],
                    node_threshold[g],
                    node_kind[g],
                    node_missing[g],
                    node_default_left[g],
                    node_cat_start[g],
                    node_cat_len[g],
                    cat_bits,
                )
                j = node_left[g] if left else node_right[g]
                if j < 0:
                    acc += leaf_value[leaf0 + ~j]
                    break
        out[r] = acc


def raw_scores(tables: TreeTables, X: np.ndarray) -> np.ndarray:  # noqa: N803
    """Raw scores (log-odds) of each row, as ``Booster.predict(X, raw_score=True)``.

    Raises
    ------
    ModelError
        If ``X`` does not have the booster's number of columns.
    """
    X = np.ascontiguousarray(X, dtype=np.float64)  # noqa: N806
    if X.ndim != 2 or X.shape[1] != tables.n_features:
        raise ModelError(f"expected a matrix with {tables.n_features} columns, got {X.shape}")
    out = np.empty(X.shape[0])
    t = tables
    _raw_scores(
        X,
        out,
        t.node_feature,
        t.node_threshold,
        t.node_kind,
        t.node_missing,
        t.node_default_left,
        t.node_cat_start,
        t.node_cat_len,
        t.node_left,
        t.node_right,
        t.cat_bits,
        t.tree_node_start,
        t.tree_node_count,
        t.tree_leaf_start,
        t.leaf_value,
    )
    return out
