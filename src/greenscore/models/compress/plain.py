"""A trained DNN as a plain MLP, and the nets inside a bundle's last step.

:class:`PlainNet` is the serving form of :class:`~greenscore.models.torch.dnn.DNNNet`:
embeddings, ``Linear -> activation`` layers and a one-logit head. Batch normalisation is
folded into the linear layer before it and dropout (an identity in eval mode) is left
out, so :func:`from_dnn` gives exactly the same logits with fewer tensors; pruning then
removes neurons from plain linear layers, and ONNX Runtime quantizes a graph of plain
matrix products.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any, cast

import torch
from torch import nn

from greenscore.errors import ModelError
from greenscore.models.torch.layers import ACTIVATIONS, make_activation

NOT_A_DNN = "{what} is not a DNN's net (Linear, BatchNorm, activation, Dropout layers)"


class PlainNet(nn.Module):
    """Embeddings + ``Linear -> activation`` layers + a one-logit head.

    Notes
    -----
    ``forward(num [n, d_num], cat [n, d_cat]) -> logits [n]``, the encoder's tensors as
    every GreenScore net takes them.
    """

    def __init__(
        self,
        *,
        num_features: int,
        cardinalities: list[int],
        embedding_dims: list[int],
        sizes: list[int],
        activation: str = "relu",
    ) -> None:
        super().__init__()
        self.embeddings = nn.ModuleList(
            nn.Embedding(k, d) for k, d in zip(cardinalities, embedding_dims, strict=True)
        )
        in_dim = num_features + sum(embedding_dims)
        layers = []
        for size in sizes:
            layers.append(nn.Linear(in_dim, size))
            in_dim = size
        self.layers = nn.ModuleList(layers)
        self.activation = make_activation(activation)
        self.head = nn.Linear(in_dim, 1)
        self.activation_name = activation
        self.num_features = num_features

    def forward(self, num: torch.Tensor, cat: torch.Tensor, **_: torch.Tensor) -> torch.Tensor:
        """Logits of default for each row."""
        parts = [num] + [emb(cat[:, j]) for j, emb in enumerate(self.embeddings)]
        x = torch.cat(parts, dim=1) if len(parts) > 1 else num
        for layer in self.layers:
            x = self.activation(layer(x))
        return self.head(x).squeeze(-1)

    def config(self) -> dict[str, Any]:
        """Keyword arguments that rebuild this net's shape (for pickling its weights)."""
        return {
            "num_features": self.num_features,
            "cardinalities": [e.num_embeddings for e in self.embeddings],
            "embedding_dims": [e.embedding_dim for e in self.embeddings],
            "sizes": [layer.out_features for layer in self.hidden()],
            "activation": self.activation_name,
        }

    def hidden(self) -> list[nn.Linear]:
        """The hidden layers, in order."""
        return [cast(nn.Linear, layer) for layer in self.layers]

    def linears(self) -> list[nn.Linear]:
        """The hidden layers and the head, in order."""
        return [*self.hidden(), self.head]


def count_parameters(module: nn.Module) -> int:
    """Numbers held by a module's parameters."""
    return int(sum(p.numel() for p in module.parameters()))


def _activation_name(module: nn.Module) -> str:
    for name, cls in ACTIVATIONS.items():
        if type(module) is cls:
            return name
    raise ModelError(NOT_A_DNN.format(what=type(module).__name__))


@torch.no_grad()
def from_dnn(net: nn.Module) -> PlainNet:
    """The same function as a trained ``DNNNet`` in eval mode, batch norm folded in.

    ``BN(Wx + b) = g * (Wx + b - mu) / sqrt(var + eps) + beta``: scale each output row of
    ``W`` and shift ``b``, and the normalisation is gone.

    Raises
    ------
    ModelError
        If ``net`` is not laid out as a DNN (static input, MLP body, linear head).
    """
    static, body, head = (getattr(net, n, None) for n in ("static", "body", "head"))
    if static is None or body is None or not isinstance(head, nn.Linear):
        raise ModelError(NOT_A_DNN.format(what=type(net).__name__))
    linears: list[tuple[nn.Linear, nn.BatchNorm1d | None]] = []
    activation = "relu"
    for module in body:
        if isinstance(module, nn.Linear):
            linears.append((module, None))
        elif isinstance(module, nn.BatchNorm1d) and linears:
            linears[-1] = (linears[-1][0], module)
        elif isinstance(module, nn.Dropout):
            continue
        else:
            activation = _activation_name(module)
    embeddings = [cast(nn.Embedding, e) for e in cast(nn.ModuleList, static.embeddings)]
    plain = PlainNet(
        num_features=int(static.out_dim) - sum(e.embedding_dim for e in embeddings),
        cardinalities=[e.num_embeddings for e in embeddings],
        embedding_dims=[e.embedding_dim for e in embeddings],
        sizes=[linear.out_features for linear, _ in linears],
        activation=activation,
    )
    for source, target in zip(embeddings, plain.embeddings, strict=True):
        cast(nn.Embedding, target).weight.copy_(source.weight)
    for (linear, norm), target in zip(linears, plain.hidden(), strict=True):
        weight, bias = linear.weight.clone(), linear.bias.clone()
        if norm is not None:
            variance = cast(torch.Tensor, norm.running_var)
            mean = cast(torch.Tensor, norm.running_mean)
            scale = norm.weight / torch.sqrt(variance + norm.eps)
            weight = weight * scale[:, None]
            bias = (bias - mean) * scale + norm.bias
        target.weight.copy_(weight)
        target.bias.copy_(bias)
    plain.head.weight.copy_(head.weight)
    plain.head.bias.copy_(head.bias)
    return plain.eval()


# ---------------------------------------------------------------------- nets in a bundle
Slot = tuple[Any, Callable[[Any], None]]


def net_slots(estimator: Any) -> Iterator[Slot]:
    """Each fitted DNN inside a bundle's last step, with a setter that replaces it.

    Looks through a calibrated step (its fitted model) and a bag of fold models (each of
    them), which is how ``greenscore train`` wraps a net; a bare DNN is its own slot.
    """
    from greenscore.models.torch.dnn import DNNClassifier

    if isinstance(estimator, DNNClassifier):
        yield estimator, lambda _new: None  # the caller replaces the step itself
        return
    inner = getattr(estimator, "estimator_", None)
    if inner is not None:
        if isinstance(inner, DNNClassifier):
            yield inner, lambda new: setattr(estimator, "estimator_", new)
            return
        members = getattr(inner, "estimators_", None)
        if isinstance(members, list):
            for i, member in enumerate(members):
                if isinstance(member, DNNClassifier):
                    yield member, _list_setter(members, i)


def _list_setter(items: list[Any], i: int) -> Callable[[Any], None]:
    def put(new: Any) -> None:
        items[i] = new

    return put
