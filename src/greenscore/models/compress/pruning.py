"""Pruning with ``torch.nn.utils.prune``: magnitude (unstructured) and neurons (structured),
each an iterative prune -> fine-tune -> validate schedule.

* **magnitude**: the smallest weights of all linear layers together
  (``prune.global_unstructured`` with ``L1Unstructured``) are masked to zero. The net
  keeps its shape: a dense file of it is as large as before (zeros are still stored; only
  a compressing writer such as the bundle's zlib shrinks it), and dense kernels are not
  faster. It is kept for the record, and for sparse runtimes.
* **structured**: whole hidden neurons with the smallest L2 weight rows
  (``prune.ln_structured``, ``dim=0``) are masked, then removed for real: the layer loses
  the rows, the next layer the columns, so the net has fewer parameters, a smaller file
  and fewer multiply-adds. A removed neuron's constant output (its activated bias) is
  added to the next layer's bias, so removal changes only what its inputs contributed.

Each step takes the schedule one notch further (``steps`` equal notches up to the asked
sparsity), fine-tunes, and validates; the schedule stops at the first step that loses
more AUC than the gate allows and returns the last net that passed.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any, cast

import torch
from torch import nn
from torch.nn.utils import prune

from greenscore.errors import ConfigError
from greenscore.models.compress.plain import PlainNet
from greenscore.models.compress.steps import AccuracyGate, NetData, auc_of, fine_tune, logits_of

KINDS = ("structured", "magnitude")
BAD_SPARSITY = "sparsity must be in [0, 1), got {value}"
BAD_KIND = "unknown pruning '{kind}'; choose from: structured, magnitude"
#: Fewest neurons a hidden layer keeps, whatever the sparsity asked.
MIN_NEURONS = 4


@dataclass
class PruneResult:
    """The pruned net and how it got there.

    Attributes
    ----------
    net : the last net that passed the gate (the input net if none did).
    sparsity : reached neuron share removed (structured) or zero-weight share (magnitude).
    steps : the schedule's records (sparsity, AUC, drop, kept, fine-tune losses).
    stopped_early : whether the gate stopped the schedule before the asked sparsity.
    """

    net: PlainNet
    sparsity: float
    steps: list[dict[str, Any]] = field(default_factory=list)
    stopped_early: bool = False


def weight_sparsity(net: PlainNet) -> float:
    """Share of exactly-zero weights over all linear layers (biases and embeddings aside)."""
    weights = [layer.weight for layer in net.linears()]
    zeros = sum(int((w == 0).sum()) for w in weights)
    return zeros / max(1, sum(w.numel() for w in weights))


def neuron_sparsity(net: PlainNet, original: list[int]) -> float:
    """Share of the original hidden neurons removed."""
    kept = sum(layer.out_features for layer in net.hidden())
    return 1.0 - kept / max(1, sum(original))


@torch.no_grad()
def remove_neurons(net: PlainNet, keep_share: float, original: list[int]) -> PlainNet:
    """A copy of ``net`` with each hidden layer cut to ``keep_share`` of its original width.

    The neurons to drop are chosen by ``prune.ln_structured`` (L2 norm of their weight
    rows); they are then physically removed.
    """
    net = copy.deepcopy(net)
    layers = net.linears()
    for i in range(len(net.layers)):
        layer = net.hidden()[i]  # the previous round may have replaced it
        target = max(MIN_NEURONS, round(original[i] * keep_share))
        drop = layer.out_features - target
        if drop <= 0:
            continue
        prune.ln_structured(layer, "weight", amount=drop, n=2, dim=0)
        keep = cast(torch.Tensor, layer.weight_mask).any(dim=1)
        prune.remove(layer, "weight")
        gone = ~keep
        following = layers[i + 1]
        # The dropped neurons' constant output act(bias) still reached the next layer.
        constant = net.activation(layer.bias[gone])
        following.bias.add_(following.weight[:, gone] @ constant)
        smaller = nn.Linear(layer.in_features, int(keep.sum()))
        smaller.weight.copy_(layer.weight[keep])
        smaller.bias.copy_(layer.bias[keep])
        narrower = nn.Linear(int(keep.sum()), following.out_features)
        narrower.weight.copy_(following.weight[:, keep])
        narrower.bias.copy_(following.bias)
        net.layers[i] = smaller
        if i + 1 < len(net.layers):
            net.layers[i + 1] = narrower
        else:
            net.head = narrower
        layers = net.linears()
    return net.eval()


def _mask_weights(net: PlainNet, sparsity: float) -> None:
    """Mask the globally smallest weights until ``sparsity`` of them are zero."""
    params = [(layer, "weight") for layer in net.linears()]
    total = sum(layer.weight.numel() for layer in net.linears())
    masked = sum(int((layer.weight == 0).sum()) for layer in net.linears())
    amount = max(0, round(sparsity * total) - masked)
    if amount:
        prune.global_unstructured(params, pruning_method=prune.L1Unstructured, amount=amount)


def _make_permanent(net: PlainNet) -> PlainNet:
    for layer in net.linears():
        if prune.is_pruned(layer):
            prune.remove(layer, "weight")
    return net


def prune_net(
    net: PlainNet,
    train: NetData,
    valid: NetData,
    gate: AccuracyGate,
    *,
    kind: str = "structured",
    sparsity: float = 0.5,
    steps: int = 3,
    epochs: int = 3,
    lr: float = 1e-4,
    seed: int = 0,
) -> PruneResult:
    """Prune ``net`` towards ``sparsity`` in ``steps`` notches, fine-tuning after each.

    Parameters
    ----------
    net : the float net (not changed; copies are pruned).
    train, valid : fine-tuning rows and the rows the gate validates on.
    gate : the AUC tolerance against the original.
    kind : ``structured`` (neurons removed) or ``magnitude`` (weights zeroed).
    sparsity : share of hidden neurons (structured) or of linear weights (magnitude).
    steps, epochs, lr, seed : the schedule and each fine-tune (a fine-tune that lowers the
        validation AUC is undone: the trained net was already at its early-stopping point).

    Raises
    ------
    ConfigError
        For an unknown kind or a sparsity outside [0, 1).
    """
    if kind not in KINDS:
        raise ConfigError(BAD_KIND.format(kind=kind))
    if not 0.0 <= sparsity < 1.0:
        raise ConfigError(BAD_SPARSITY.format(value=sparsity))
    original = [layer.out_features for layer in net.hidden()]
    best = copy.deepcopy(net).eval()
    result = PruneResult(net=best, sparsity=0.0)
    current = copy.deepcopy(net)
    for k in range(1, max(1, steps) + 1):
        share = sparsity * k / max(1, steps)
        if kind == "structured":
            candidate = remove_neurons(current, 1.0 - share, original)
        else:
            candidate = copy.deepcopy(current)
            _mask_weights(candidate, share)
        before = auc_of(logits_of(candidate, valid), valid)
        untuned = copy.deepcopy(candidate)
        losses = fine_tune(candidate, train, epochs=epochs, lr=lr, seed=seed + k)
        auc = auc_of(logits_of(candidate, valid), valid)
        if before > auc:  # fine-tuning on the training rows overfitted: keep the pruned net
            candidate, auc = untuned, before
        reached = (
            neuron_sparsity(candidate, original)
            if kind == "structured"
            else weight_sparsity(candidate)
        )
        if not gate.check(f"prune:{kind}:{k}", auc, sparsity=reached, fine_tune_loss=losses):
            result.stopped_early = True
            break
        current = candidate
        result.net = _make_permanent(copy.deepcopy(candidate)).eval()
        result.sparsity = reached
    result.steps = [s for s in gate.log if str(s["step"]).startswith(f"prune:{kind}")]
    return result
