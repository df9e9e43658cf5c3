"""GNN: node classification on the borrower graph with PyTorch Geometric.

Each applicant is a node whose input is its encoded static features (every column, as in
the DNN). ``num_layers`` GCN or GAT convolutions (residual, layer-normalised) let a node
read its neighbours' **features**; the readout joins the node's graph embedding with its
own encoded features and, optionally, a summary of its neighbours' **known** labels
(training rows only; see :func:`~greenscore.models.torch.graph.label_features`) and an MLP
gives the logit. Labels enter only at the readout, never the message passing, so no node
can read its own label back through a neighbour.

The graph comes from the relations table (``relations`` with the spec's source/target
columns) or, without one, from a kNN graph on standardised static features. Training is
full-batch on CPU; the internal validation nodes stay in the graph (their features carry
messages) but their labels are used neither in the loss nor in any label feature. Scoring
is inductive (see :mod:`greenscore.models.torch.graph`): the training graph is kept with
the model and new applicants are attached to it.
"""

from __future__ import annotations

import copy
import hashlib
from collections.abc import Callable, Sequence
from numbers import Integral, Real
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pandas as pd
import torch
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import check_is_fitted
from torch import nn
from torch_geometric.nn import GATConv, GCNConv

from greenscore.data.spec import DatasetSpec
from greenscore.errors import ConfigError, DataError
from greenscore.models.torch.base import TorchCreditClassifier, check_frame, check_target
from greenscore.models.torch.encoding import EncodedInputs, TabularEncoder
from greenscore.models.torch.graph import (
    LABEL_FEATURES,
    MSG_RELATION_COLUMNS,
    check_ids,
    inductive_edges,
    knn_graph,
    label_features,
    relation_graph,
    relation_pairs,
)
from greenscore.models.torch.layers import Head, StaticInput
from greenscore.models.torch.training import (
    Batch,
    autocast_context,
    torch_runtime,
    train_module,
)

MSG_GAT_ONLY = "attention_coefficients needs conv='gat'; this GNNClassifier uses conv='{conv}'"
MSG_HEADS = "hidden_size {hidden} must be divisible by heads {heads} for conv='gat'"


class GNNNet(nn.Module):
    """Static input -> residual GCN/GAT layers -> ``[embedding, own features, label summary]`` -> MLP.

    Notes
    -----
    ``forward(num [N, d_num], cat [N, d_cat], edge_index [2, E], labels [N, 3]) -> logits [N]``
    for every node of the graph.
    """

    def __init__(
        self,
        *,
        num_features: int,
        cardinalities: list[int],
        conv: str,
        hidden_size: int,
        num_layers: int,
        heads: int,
        head_sizes: list[int],
        dropout: float,
        label_features: bool,
        embedding_dim: int | None,
    ) -> None:
        super().__init__()
        self.static = StaticInput(
            num_features=num_features, cardinalities=cardinalities, embedding_dim=embedding_dim
        )
        self.input = nn.Sequential(nn.Linear(self.static.out_dim, hidden_size), nn.ReLU())
        self.convs = nn.ModuleList(
            GATConv(hidden_size, hidden_size // heads, heads=heads, dropout=dropout)
            if conv == "gat"
            else GCNConv(hidden_size, hidden_size)
            for _ in range(num_layers)
        )
        self.norms = nn.ModuleList(nn.LayerNorm(hidden_size) for _ in range(num_layers))
        self.dropout = nn.Dropout(dropout)
        self.use_labels = label_features
        extra = LABEL_FEATURES if label_features else 0
        self.head = Head(
            hidden_size + self.static.out_dim + extra, head_sizes, dropout=dropout, batch_norm=True
        )

    def embed(
        self,
        num: torch.Tensor,
        cat: torch.Tensor,
        edge_index: torch.Tensor,
        attention: list[tuple[torch.Tensor, torch.Tensor]] | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Own features ``[N, d]`` and graph embeddings ``[N, hidden]``.

        If ``attention`` is a list and the layers are GAT, each layer's
        ``(edge_index, alpha [E, heads])`` is appended to it.
        """
        x0 = self.static(num, cat)
        h = self.input(x0)
        for conv, norm in zip(self.convs, self.norms, strict=True):
            if attention is not None and isinstance(conv, GATConv):
                out, weights = conv(h, edge_index, return_attention_weights=True)
                attention.append(weights)
            else:
                out = conv(h, edge_index)
            h = self.dropout(torch.relu(norm(out))) + h
        return x0, h

    def forward(
        self,
        num: torch.Tensor,
        cat: torch.Tensor,
        edge_index: torch.Tensor,
        labels: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Logits of default for every node."""
        x0, h = self.embed(num, cat, edge_index)
        parts = [h, x0]
        if self.use_labels:
            parts.append(labels if labels is not None else x0.new_zeros(len(x0), LABEL_FEATURES))
        return self.head(torch.cat(parts, dim=1))


def _stack(a: EncodedInputs, b: EncodedInputs) -> dict[str, torch.Tensor]:
    return {
        "num": torch.from_numpy(np.concatenate([a.num, b.num])),
        "cat": torch.from_numpy(np.concatenate([a.cat, b.cat])),
    }


class GNNClassifier(TorchCreditClassifier):
    """Graph neural network over borrower relations (or a kNN graph), scored inductively.

    Parameters
    ----------
    relations : DataFrame, optional
        Edge table with the spec's ``relations.source``/``relations.target`` id columns
        (``source_id``/``target_id`` without a spec). It must also hold the links of the
        applicants scored later. None builds a kNN graph instead.
    conv : {"gcn", "gat"}
        Graph convolution.
    hidden_size : int
        Node embedding width.
    num_layers : int
        Graph convolutions (hops of neighbourhood read).
    heads : int
        Attention heads of a GAT layer (``hidden_size`` must be divisible by it).
    k_neighbors : int
        Neighbours per row of the kNN graph (used only without relations).
    label_features : bool
        Also join, at the readout only, the share of defaulters among a node's neighbours
        whose labels are known (training rows; never the row's own label nor the internal
        validation rows'). Off by default: the graph signal then comes from neighbours'
        features alone. It lets one borrower's recorded default raise a linked applicant's
        PD, which a lender must be able to justify.
    head_units : int
        Width of the first layer of the MLP head.
    dropout : float
        Dropout on node embeddings, GAT attention and the head.
    embedding_dim : int, optional
        Cap on categorical embedding widths.
    spec, max_epochs, lr, weight_decay, loss, focal_gamma, class_weight, scheduler, \
grad_clip, patience, validation_fraction, precision, device, checkpoint_dir, \
random_state, n_jobs
        Training parameters, see :class:`TorchCreditClassifier`; training is full-batch,
        so an epoch is one optimisation step.

    Attributes
    ----------
    graph_ids_ : ids of the training nodes (kept for inductive scoring).
    edge_index_ : ``[2, E]`` training graph.
    """

    _parameter_constraints: ClassVar[dict[str, list[Any]]] = {
        **{
            k: v
            for k, v in TorchCreditClassifier._parameter_constraints.items()
            if k != "batch_size"
        },
        "relations": [None, pd.DataFrame],
        "conv": [StrOptions({"gcn", "gat"})],
        "hidden_size": [Interval(Integral, 1, None, closed="left")],
        "num_layers": [Interval(Integral, 1, None, closed="left")],
        "heads": [Interval(Integral, 1, None, closed="left")],
        "k_neighbors": [Interval(Integral, 1, None, closed="left")],
        "label_features": ["boolean"],
        "head_units": [Interval(Integral, 1, None, closed="left")],
        "dropout": [Interval(Real, 0, 1, closed="left")],
        "embedding_dim": [None, Interval(Integral, 1, None, closed="left")],
    }

    def __init__(
        self,
        *,
        spec: DatasetSpec | None = None,
        relations: pd.DataFrame | None = None,
        conv: str = "gcn",
        hidden_size: int = 64,
        num_layers: int = 2,
        heads: int = 4,
        k_neighbors: int = 10,
        label_features: bool = False,
        head_units: int = 64,
        dropout: float = 0.2,
        embedding_dim: int | None = None,
        max_epochs: int = 150,
        lr: float = 1e-2,
        weight_decay: float = 1e-4,
        loss: str = "bce",
        focal_gamma: float = 2.0,
        class_weight: str | float | None = None,
        scheduler: str = "onecycle",
        grad_clip: float | None = 1.0,
        patience: int | None = 25,
        validation_fraction: float = 0.15,
        precision: str = "fp32",
        device: str = "cpu",
        checkpoint_dir: str | Path | None = None,
        random_state: int | None = None,
        n_jobs: int | None = None,
    ) -> None:
        self.spec = spec
        self.relations = relations
        self.conv = conv
        self.hidden_size = hidden_size
        self.num_layers = num_layers
        self.heads = heads
        self.k_neighbors = k_neighbors
        self.label_features = label_features
        self.head_units = head_units
        self.dropout = dropout
        self.embedding_dim = embedding_dim
        self.max_epochs = max_epochs
        self.lr = lr
        self.weight_decay = weight_decay
        self.loss = loss
        self.focal_gamma = focal_gamma
        self.class_weight = class_weight
        self.scheduler = scheduler
        self.grad_clip = grad_clip
        self.patience = patience
        self.validation_fraction = validation_fraction
        self.precision = precision
        self.device = device
        self.checkpoint_dir = checkpoint_dir
        self.random_state = random_state
        self.n_jobs = n_jobs

    # ------------------------------------------------------------------ structure
    @classmethod
    def _module_class(cls) -> type[nn.Module]:
        return GNNNet

    def _build_module(self, encoder: TabularEncoder) -> tuple[nn.Module, dict[str, Any]]:
        if self.conv == "gat" and self.hidden_size % self.heads:
            raise ConfigError(MSG_HEADS.format(hidden=self.hidden_size, heads=self.heads))
        config: dict[str, Any] = {
            "num_features": encoder.num_features_,
            "cardinalities": list(encoder.cardinalities_),
            "conv": self.conv,
            "hidden_size": self.hidden_size,
            "num_layers": self.num_layers,
            "heads": self.heads,
            "head_sizes": [self.head_units, max(16, self.head_units // 2)],
            "dropout": float(self.dropout),
            "label_features": self.label_features,
            "embedding_dim": self.embedding_dim,
        }
        return GNNNet(**config), config

    def _relation_columns(self) -> tuple[str, str]:
        if self.spec is not None and self.spec.relations is not None:
            return self.spec.relations.source, self.spec.relations.target
        return "source_id", "target_id"

    @property
    def uses_relations(self) -> bool:
        """Whether the graph comes from the relations table (else kNN)."""
        return self.relations is not None

    def with_links(self, links: pd.DataFrame) -> GNNClassifier:
        """A copy that also knows ``links`` (an edge table like ``relations``): the links
        of applicants scored now, which attach them to the training graph (messages flow
        from training borrowers into them, and both ways between applicants scored
        together), as links in ``relations`` itself would. The fitted net and training
        graph are shared, not changed; a net on a kNN graph is returned as it is.

        Raises
        ------
        DataError
            If ``links`` lacks the source or target column.
        """
        check_is_fitted(self, "module_")
        if not self.uses_relations:
            return self
        source, target = self._relation_columns()
        missing = [c for c in (source, target) if c not in links.columns]
        if missing:
            raise DataError(
                MSG_RELATION_COLUMNS.format(columns=missing, source=source, target=target)
            )
        step = copy.copy(self)
        step.relations = pd.concat(
            [self.relations, links[[source, target]]], ignore_index=True, sort=False
        )
        return step

    def with_row_links(self, links: Sequence[Sequence[tuple[Any, Any]] | None]) -> GNNClassifier:
        """A copy whose next scoring gives its ``i``-th row the links ``links[i]`` as well
        (``(borrower id, kind)`` pairs, as an applicant sends them): each link to a
        training borrower sends that borrower's messages into the row, and only into it,
        so applicants scored together never change each other's logits. A link to a
        borrower the training graph does not hold (another new applicant) is not used:
        such links join a net's graph from a relations file only (:meth:`with_links`).
        """
        check_is_fitted(self, "module_")
        if not self.uses_relations:
            return self
        step = copy.copy(self)
        step.row_links_ = list(links)
        return step

    def _row_links_in(self, X: pd.DataFrame) -> np.ndarray:  # noqa: N803
        """Pairs (training node, new row) of the rows' own links (:meth:`with_row_links`)."""
        row_links = getattr(self, "row_links_", None)
        if row_links is None:
            return np.zeros((0, 2), dtype=np.int64)
        if len(row_links) != len(X):
            raise ValueError(f"links were given for {len(row_links)} rows, X has {len(X)}")
        rows = [j for j, own in enumerate(row_links) for _ in own or ()]
        nodes = [node for own in row_links for node, _ in own or ()]
        at = pd.Index(self.graph_ids_).get_indexer(pd.Index(nodes, dtype=object))
        own_ids = X.index.to_numpy()[np.asarray(rows, dtype=np.intp)]
        keep = (at >= 0) & (np.asarray(nodes, dtype=object) != own_ids)
        return np.column_stack([at[keep], np.asarray(rows, dtype=np.int64)[keep]])

    def _fingerprint(self, X: pd.DataFrame, y: np.ndarray) -> str:  # noqa: N803
        base = super()._fingerprint(X, y)
        if self.relations is None:
            return base
        hashed = pd.util.hash_pandas_object(self.relations, index=False).to_numpy().tobytes()
        return hashlib.sha256(base.encode() + hashed).hexdigest()

    # ------------------------------------------------------------------ fit
    def fit(
        self,
        X: pd.DataFrame,  # noqa: N803
        y: Any,
        *,
        on_epoch_end: Callable[[dict[str, float]], None] | None = None,
    ) -> GNNClassifier:
        """Build the training graph and train full-batch with early stopping.

        Parameters
        ----------
        X : DataFrame ``[n, d]``
            Model input indexed by applicant id (ids must be unique).
        y : array-like ``[n]``
            1 for default, 0 otherwise.
        on_epoch_end : callable, optional
            Called with each epoch's record, as for every other net (an architecture
            search stops a hopeless trial through it).

        Returns
        -------
        self
        """
        self._check_params()
        X = check_frame(X, type(self).__name__)
        y = check_target(y, len(X))
        ids = check_ids(X.index)
        with torch_runtime(seed=self._seed(), n_threads=self._threads()):
            self.encoder_ = TabularEncoder(spec=self.spec, use_sequences=False)
            data = self.encoder_.fit_transform(X)
            if self.uses_relations:
                source, target = self._relation_columns()
                edges = relation_graph(self.relations, ids, source=source, target=target)
                self.knn_ = None
            else:
                edges, self.knn_ = knn_graph(data.num, self.k_neighbors)
            train, val = self._split(y)
            known = np.full(len(y), np.nan)
            known[train] = y[train]
            labels = torch.from_numpy(label_features(edges, known, len(y)))
            module, self.module_config_ = self._build_module(self.encoder_)
            inputs = {
                **data.tensors(),
                "edge_index": torch.from_numpy(edges),
                "labels": labels,
            }
            train_t = torch.from_numpy(train)
            target_t = torch.from_numpy(y[train].astype(np.float32))

            def batches(generator: torch.Generator) -> Any:
                yield Batch(inputs=inputs, target=target_t, select=train_t)

            validate = None
            if val is not None:

                def validate(m: nn.Module) -> float:
                    logits = m(**inputs)[torch.from_numpy(val)].float().numpy()
                    return self._score(y[val], logits)

            result = train_module(
                module,
                batches=batches,
                steps_per_epoch=1,
                config=self._train_config(y[train]),
                validate=validate,
                fingerprint=self._fingerprint(X, y),
                on_epoch_end=on_epoch_end,
            )
        self.module_ = module.cpu()
        self.graph_ids_ = ids
        self.graph_inputs_ = data
        self.graph_labels_ = y.astype(np.float64)
        self.edge_index_ = edges
        self._store_result(result)
        self._remember_columns(X)
        return self

    # ------------------------------------------------------------------ scoring
    def _scoring_graph(self, X: pd.DataFrame) -> tuple[dict[str, torch.Tensor], int]:  # noqa: N803
        """Training graph plus ``X`` as new nodes; returns forward inputs and ``n_train``,
        the number of training nodes before the new rows (0 when none is linked to them)."""
        new_ids = check_ids(X.index)
        data = self.encoder_.transform(X)
        n_train = len(self.graph_ids_)
        if self.uses_relations:
            source, target = self._relation_columns()
            links_in = relation_pairs(
                self.relations, source=source, target=target, left=self.graph_ids_, right=new_ids
            )
            links_new = relation_pairs(
                self.relations, source=source, target=target, left=new_ids, right=new_ids
            )
            links_in = np.concatenate([links_in, self._row_links_in(X)]).astype(np.int64)
        else:
            k = min(self.k_neighbors, n_train)
            assert self.knn_ is not None  # fitted without relations: a k-NN graph
            _, nearest = self.knn_.kneighbors(data.num, n_neighbors=k)
            links_in = np.column_stack([nearest.ravel(), np.repeat(np.arange(len(X)), k)])
            links_new = np.zeros((0, 2), dtype=np.int64)
        if not len(links_in):
            # No training borrower sends a message to a new row, so the training graph
            # cannot change their logits (training nodes read no new row): a pass over the
            # new rows alone gives them, for a fraction of the work. Sampled explanations
            # score thousands of such unlinked rows, a graph pass each.
            edges = inductive_edges(np.zeros((2, 0), dtype=np.int64), links_in, links_new, 0)
            inputs = {
                "num": torch.from_numpy(np.ascontiguousarray(data.num)),
                "cat": torch.from_numpy(np.ascontiguousarray(data.cat)),
                "edge_index": torch.from_numpy(edges),
                "labels": torch.from_numpy(label_features(edges, np.full(len(X), np.nan), len(X))),
            }
            return inputs, 0
        edges = inductive_edges(self.edge_index_, links_in, links_new, n_train)
        # Every fitted row's label is known at scoring time; new rows' labels are not.
        known = np.r_[self.graph_labels_, np.full(len(X), np.nan)]
        inputs = {
            **_stack(self.graph_inputs_, data),
            "edge_index": torch.from_numpy(edges),
            "labels": torch.from_numpy(label_features(edges, known, n_train + len(X))),
        }
        return inputs, n_train

    def decision_function(self, X: pd.DataFrame) -> np.ndarray:  # noqa: N803
        """Logits ``[n]`` of new applicants attached to the training graph."""
        check_is_fitted(self, "module_")
        X = check_frame(X, type(self).__name__)
        inputs, n_train = self._scoring_graph(X)
        device, precision = self._inference()
        with torch_runtime(seed=None, n_threads=self._threads()):
            self.module_.to(device).eval()
            with torch.no_grad(), autocast_context(precision, device):
                logits = self.module_(**{k: v.to(device) for k, v in inputs.items()})
            self.module_.cpu()
        return logits[n_train:].float().cpu().numpy().astype(np.float64)

    def attention_coefficients(
        self,
        X: pd.DataFrame,  # noqa: N803
        *,
        layer: int | None = -1,
    ) -> pd.DataFrame:
        """GAT attention on the edges into the scored applicants, averaged over heads.

        Parameters
        ----------
        X : DataFrame
            Applicants to score (attached to the training graph as in ``predict_proba``).
        layer : int or None
            Which GAT layer (default the last, nearest the readout); None gives all.

        Returns
        -------
        DataFrame
            One row per edge into a row of ``X`` with ``source`` (the neighbour's id, or
            the applicant's own for the self-loop), ``target`` (the scored applicant),
            ``weight`` (attention), ``layer`` and ``source_is_new`` (the neighbour is
            another scored row rather than a training node). A target's weights in one
            layer sum to 1.

        Raises
        ------
        ConfigError
            If the net uses GCN layers.
        """
        check_is_fitted(self, "module_")
        if self.conv != "gat":
            raise ConfigError(MSG_GAT_ONLY.format(conv=self.conv))
        X = check_frame(X, type(self).__name__)
        inputs, n_train = self._scoring_graph(X)
        attention: list[tuple[torch.Tensor, torch.Tensor]] = []
        net = self.module_
        assert isinstance(net, GNNNet)  # what _build_module made
        with torch_runtime(seed=None, n_threads=self._threads()), torch.no_grad():
            net.eval()
            net.embed(inputs["num"], inputs["cat"], inputs["edge_index"], attention)
        # The training nodes in the pass (none when no new row reads one), then the new rows.
        node_ids = np.concatenate([self.graph_ids_[:n_train], X.index.to_numpy()])
        layers = range(len(attention))
        chosen = list(layers) if layer is None else [layers[layer]]
        frames = []
        for number in chosen:
            edge_index, alpha = attention[number]
            src, dst = edge_index.numpy()
            into_new = dst >= n_train
            frames.append(
                pd.DataFrame(
                    {
                        "source": node_ids[src[into_new]],
                        "target": node_ids[dst[into_new]],
                        "weight": alpha.mean(dim=1).numpy()[into_new].astype(np.float64),
                        "layer": number,
                        "source_is_new": src[into_new] >= n_train,
                    }
                )
            )
        return pd.concat(frames, ignore_index=True)
