"""The one training loop behind every GreenScore network.

:func:`train_module` runs mini-batch (or full-batch) optimisation with AdamW, mixed
precision (bf16 autocast on CPU, fp16 with a gradient scaler on CUDA), gradient clipping,
a OneCycle or cosine learning-rate schedule, early stopping on a validation score (AUC)
with the best weights restored, and checkpoints that resume: model, optimiser, scheduler,
scaler, epoch, early-stopping state and every RNG state are saved, so a run stopped after
epoch *k* and restarted continues at *k + 1* and ends with the same weights as an
uninterrupted run. :func:`torch_runtime` makes a fit reproducible (seeded, deterministic
algorithms, a fixed thread count) without leaving those settings on the process.
"""

from __future__ import annotations

import copy
import math
import os
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

import torch
from torch import nn

from greenscore.errors import ConfigError, ModelError
from greenscore.logging import get_logger
from greenscore.models.torch.losses import make_loss

log = get_logger(__name__)

CHECKPOINT_FILE = "last.pt"
MSG_OTHER_RUN = (
    "checkpoint {path} belongs to another run (different data or parameters); "
    "remove it or choose another checkpoint_dir"
)
MSG_PRECISION = "precision '{precision}' needs a CUDA device; use 'bf16' or 'fp32' on CPU"


class Batch(NamedTuple):
    """One optimisation step's input.

    Attributes
    ----------
    inputs : keyword tensors of the net's ``forward``.
    target : 0/1 float targets of the rows the loss is taken on.
    select : indices of those rows in the net's output (full-graph nets), or None when the
        output rows are the targets' rows.
    """

    inputs: dict[str, torch.Tensor]
    target: torch.Tensor
    select: torch.Tensor | None = None


@dataclass(frozen=True)
class TrainConfig:
    """How to optimise one net (see :class:`TorchCreditClassifier` for the meanings)."""

    max_epochs: int = 30
    lr: float = 1e-3
    weight_decay: float = 1e-5
    loss: str = "bce"
    focal_gamma: float = 2.0
    pos_weight: float | None = None
    scheduler: str = "onecycle"
    grad_clip: float | None = 1.0
    patience: int | None = 5
    precision: str = "fp32"
    device: str = "cpu"
    checkpoint_dir: Path | None = None
    checkpoint_every: int = 1
    seed: int = 0


@dataclass
class TrainResult:
    """What a training run did.

    Attributes
    ----------
    history : one record per epoch run (``epoch``, ``train_loss``, ``val_score``, ``lr``,
        ``seconds``), including epochs replayed from a checkpoint.
    best_epoch : epoch whose weights were kept.
    best_score : validation score of that epoch (None without validation).
    resumed_from : epoch read from a checkpoint, or None for a fresh run.
    stopped_early : whether patience ran out before ``max_epochs``.
    """

    history: list[dict[str, float]] = field(default_factory=list)
    best_epoch: int = 0
    best_score: float | None = None
    resumed_from: int | None = None
    stopped_early: bool = False


def resolve_device(device: str) -> torch.device:
    """``"auto"`` is CUDA when present, else CPU; anything else is taken as given."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


def resolve_precision(precision: str, device: torch.device) -> str:
    """``"auto"`` is fp16 on CUDA and bf16 on CPU; fp16 on CPU is refused.

    Raises
    ------
    ConfigError
        If fp16 is asked for on a CPU.
    """
    if precision == "auto":
        return "fp16" if device.type == "cuda" else "bf16"
    if precision == "fp16" and device.type != "cuda":
        raise ConfigError(MSG_PRECISION.format(precision=precision))
    return precision


def autocast_context(precision: str, device: torch.device) -> Any:
    """The autocast context for a resolved precision (a no-op for fp32)."""
    if precision == "fp32":
        return nullcontext()
    dtype = torch.bfloat16 if precision == "bf16" else torch.float16
    return torch.autocast(device_type=device.type, dtype=dtype)


@contextmanager
def torch_runtime(*, seed: int | None, n_threads: int) -> Iterator[None]:
    """Run a block seeded, with deterministic algorithms and ``n_threads`` CPU threads.

    The global RNG, the thread count and the determinism flag are restored afterwards, so
    one estimator's fit does not change how the rest of the process runs.

    Parameters
    ----------
    seed : int, optional
        Seed of torch's global RNG inside the block; None leaves it unseeded.
    n_threads : int
        Intra-op threads (``settings.training.n_jobs``).
    """
    threads = torch.get_num_threads()
    deterministic = torch.are_deterministic_algorithms_enabled()
    warn_only = torch.is_deterministic_algorithms_warn_only_enabled()
    if torch.cuda.is_available():
        # cuBLAS is only deterministic with a fixed workspace.
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    devices = list(range(torch.cuda.device_count())) if torch.cuda.is_available() else []
    with torch.random.fork_rng(devices=devices):
        try:
            torch.set_num_threads(max(1, int(n_threads)))
            # warn_only: an op without a deterministic kernel warns instead of failing a fit.
            torch.use_deterministic_algorithms(True, warn_only=True)
            if seed is not None:
                torch.manual_seed(seed)
            yield
        finally:
            torch.set_num_threads(threads)
            torch.use_deterministic_algorithms(deterministic, warn_only=warn_only)


def _make_scheduler(
    optimizer: torch.optim.Optimizer, config: TrainConfig, total_steps: int
) -> torch.optim.lr_scheduler.LRScheduler | None:
    if config.scheduler == "onecycle":
        if total_steps < 4:
            return None  # too short to warm up and anneal: a constant rate
        # OneCycleLR divides by its warm-up length in steps, which must be at least 2.
        warmup = min(0.5, max(0.25, 2.0 / total_steps))
        return torch.optim.lr_scheduler.OneCycleLR(
            optimizer, max_lr=config.lr, total_steps=total_steps, pct_start=warmup
        )
    if config.scheduler == "cosine":
        return torch.optim.lr_scheduler.CosineAnnealingLR(
            optimizer, T_max=max(total_steps, 1), eta_min=config.lr * 0.01
        )
    return None


def _rng_state(generator: torch.Generator) -> dict[str, Any]:
    state: dict[str, Any] = {"torch": torch.get_rng_state(), "shuffle": generator.get_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def _set_rng_state(state: dict[str, Any], generator: torch.Generator) -> None:
    torch.set_rng_state(state["torch"])
    generator.set_state(state["shuffle"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def _save_atomic(payload: dict[str, Any], path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    torch.save(payload, tmp)
    # A crash mid-write must never leave a truncated "last" checkpoint behind.
    tmp.replace(path)


def train_module(
    module: nn.Module,
    *,
    batches: Callable[[torch.Generator], Iterable[Batch]],
    steps_per_epoch: int,
    config: TrainConfig,
    validate: Callable[[nn.Module], float] | None = None,
    fingerprint: str = "",
    on_epoch_end: Callable[[dict[str, float]], None] | None = None,
) -> TrainResult:
    """Train ``module`` in place and return what happened.

    Parameters
    ----------
    module : nn.Module
        A net whose ``forward(**batch.inputs)`` returns logits ``[n]``.
    batches : callable
        Given the run's shuffling generator, yields the epoch's :class:`Batch` es
        (exactly ``steps_per_epoch`` of them).
    steps_per_epoch : int
        Optimisation steps per epoch (sizes the learning-rate schedule).
    config : TrainConfig
        Optimisation settings.
    validate : callable, optional
        Returns the validation score (higher is better) of the net in eval mode; None
        trains for ``max_epochs`` and keeps the last weights.
    fingerprint : str
        Identity of the data and parameters; a checkpoint with another one is refused.
    on_epoch_end : callable, optional
        Called with each epoch's record after it is checkpointed.

    Raises
    ------
    ModelError
        If the loss becomes NaN or a checkpoint belongs to another run.
    """
    device = resolve_device(config.device)
    precision = resolve_precision(config.precision, device)
    module.to(device)
    optimizer = torch.optim.AdamW(
        module.parameters(), lr=config.lr, weight_decay=config.weight_decay
    )
    total_steps = config.max_epochs * steps_per_epoch
    scheduler = _make_scheduler(optimizer, config, total_steps)
    scaler = torch.amp.GradScaler(device.type, enabled=precision == "fp16")
    loss_fn = make_loss(config.loss, gamma=config.focal_gamma, pos_weight=config.pos_weight)
    generator = torch.Generator().manual_seed(config.seed)

    result = TrainResult()
    best_state: dict[str, torch.Tensor] | None = None
    bad_epochs, start = 0, 1
    path = config.checkpoint_dir / CHECKPOINT_FILE if config.checkpoint_dir else None
    if path is not None and path.exists():
        saved = torch.load(path, map_location=device, weights_only=True)
        if saved["fingerprint"] != fingerprint:
            raise ModelError(MSG_OTHER_RUN.format(path=path))
        module.load_state_dict(saved["model"])
        optimizer.load_state_dict(saved["optimizer"])
        if scheduler is not None:
            scheduler.load_state_dict(saved["scheduler"])
        scaler.load_state_dict(saved["scaler"])
        _set_rng_state(saved["rng"], generator)
        best_state, bad_epochs = saved["best_state"], saved["bad_epochs"]
        result.history = saved["history"]
        result.best_epoch, result.best_score = saved["best_epoch"], saved["best_score"]
        result.resumed_from = start = saved["epoch"]
        start += 1
        log.info("resumed from checkpoint", extra={"path": str(path), "epoch": saved["epoch"]})

    steps_done = (start - 1) * steps_per_epoch
    for epoch in range(start, config.max_epochs + 1):
        if config.patience is not None and validate is not None and bad_epochs >= config.patience:
            result.stopped_early = True
            break
        began = time.perf_counter()
        module.train()
        total, count = 0.0, 0
        for batch in batches(generator):
            inputs = {k: v.to(device) for k, v in batch.inputs.items()}
            target = batch.target.to(device)
            optimizer.zero_grad(set_to_none=True)
            with autocast_context(precision, device):
                logits = module(**inputs)
            if batch.select is not None:
                logits = logits[batch.select.to(device)]
            loss = loss_fn(logits.float(), target)
            if not torch.isfinite(loss):
                raise ModelError(f"training loss became {loss.item()} at epoch {epoch}; lower lr")
            scaler.scale(loss).backward()
            if config.grad_clip:
                scaler.unscale_(optimizer)
                nn.utils.clip_grad_norm_(module.parameters(), config.grad_clip)
            scaler.step(optimizer)
            scaler.update()
            # OneCycleLR refuses to step past its total; a short last epoch must not crash.
            if scheduler is not None and steps_done < total_steps:
                scheduler.step()
            steps_done += 1
            total += loss.item() * len(target)
            count += len(target)

        record = {
            "epoch": float(epoch),
            "train_loss": total / max(count, 1),
            "lr": float(optimizer.param_groups[0]["lr"]),
        }
        if validate is not None:
            module.eval()
            with torch.no_grad(), autocast_context(precision, device):
                score = float(validate(module))
            record["val_score"] = score
            if result.best_score is None or score > result.best_score:
                result.best_score, result.best_epoch, bad_epochs = score, epoch, 0
                best_state = copy.deepcopy(module.state_dict())
            else:
                bad_epochs += 1
        else:
            result.best_epoch = epoch
        record["seconds"] = time.perf_counter() - began
        result.history.append(record)
        log.debug("epoch done", extra=record)

        if path is not None and (
            epoch % config.checkpoint_every == 0 or epoch == config.max_epochs
        ):
            _save_atomic(
                {
                    "fingerprint": fingerprint,
                    "epoch": epoch,
                    "model": module.state_dict(),
                    "optimizer": optimizer.state_dict(),
                    "scheduler": scheduler.state_dict() if scheduler is not None else {},
                    "scaler": scaler.state_dict(),
                    "rng": _rng_state(generator),
                    "best_state": best_state,
                    "bad_epochs": bad_epochs,
                    "best_epoch": result.best_epoch,
                    "best_score": result.best_score,
                    "history": result.history,
                },
                path,
            )
        if on_epoch_end is not None:
            on_epoch_end(record)

    if best_state is not None:
        module.load_state_dict(best_state)
    module.eval()
    return result


def minibatch_steps(n_rows: int, batch_size: int) -> int:
    """Optimisation steps per epoch for ``n_rows`` rows in batches of about ``batch_size``.

    Rows are split into equal-sized chunks (sizes differ by at most one), so no step sees
    a single row, which batch normalisation cannot train on.
    """
    return max(1, math.floor(n_rows / batch_size + 0.5))
