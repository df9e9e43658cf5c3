"""Differential privacy for federated training, with Opacus doing the accounting.

Two guarantees, for two different neighbours:

- **local** (record level, the default): each lender trains with DP-SGD (Opacus:
  per-example gradient clipping to ``max_grad_norm`` and Gaussian noise of
  ``noise_multiplier * max_grad_norm``, Poisson-sampled batches of expected size
  ``batch_size``). Whatever the lender sends, and so the final model, is
  (epsilon, delta)-DP with respect to any one applicant of that lender. The noise
  multiplier is chosen before training so that the whole planned run (rounds x local
  epochs) spends at most the target epsilon; RDP accounting of the subsampled Gaussian
  mechanism gives epsilon after every round.
- **central** (lender level): Flower's ``DifferentialPrivacyServerSideFixedClipping``
  clips each lender's update to ``clipping_norm`` and adds Gaussian noise to their sum.
  Every round is one Gaussian release without subsampling; the same RDP accountant gives
  epsilon, now with respect to a whole lender's participation. With a handful of
  lenders the noise needed is large (the benchmark shows what it costs).

Batch normalisation mixes examples within a batch, which per-example clipping cannot
bound; networks trained under local DP are built without it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from opacus import GradSampleModule
from opacus.accountants import RDPAccountant
from opacus.accountants.utils import get_noise_multiplier
from opacus.optimizers import DPOptimizer
from torch import nn

from greenscore.errors import ConfigError
from greenscore.models.torch.encoding import EncodedInputs

MODES = ("none", "local", "central")
ERR_MODE = "--dp-mode must be one of {choices}, not '{value}'"
ERR_EPSILON = "--dp-epsilon must be positive, got {value}"
ERR_DELTA = "--dp-delta must be in (0, 1), got {value}"


def check_dp(mode: str, epsilon: float | None, delta: float) -> None:
    """Refuse an unknown mode or out-of-range epsilon/delta.

    Raises
    ------
    ConfigError
    """
    if mode not in MODES:
        raise ConfigError(ERR_MODE.format(choices=", ".join(MODES), value=mode))
    if mode != "none" and (epsilon is None or not epsilon > 0):
        raise ConfigError(ERR_EPSILON.format(value=epsilon))
    if not 0 < delta < 1:
        raise ConfigError(ERR_DELTA.format(value=delta))


def epsilon_after(
    *, noise_multiplier: float, sample_rate: float, steps: int, delta: float
) -> float:
    """Epsilon of ``steps`` subsampled Gaussian releases (RDP accounting); 0 for no steps."""
    if steps <= 0:
        return 0.0
    accountant = RDPAccountant()
    accountant.history = [(float(noise_multiplier), float(sample_rate), int(steps))]
    return float(accountant.get_epsilon(delta))


def noise_for(*, epsilon: float, delta: float, sample_rate: float, steps: int) -> float:
    """The smallest noise multiplier that keeps ``steps`` releases within ``epsilon``."""
    return float(
        get_noise_multiplier(
            target_epsilon=epsilon,
            target_delta=delta,
            sample_rate=sample_rate,
            steps=steps,
            accountant="rdp",
            epsilon_tolerance=0.005,
        )
    )


@dataclass(frozen=True)
class LocalDpPlan:
    """One lender's DP-SGD plan for the whole run.

    Attributes
    ----------
    sample_rate : expected batch size over the lender's rows.
    steps_per_round : optimisation steps each round (local epochs / sample rate).
    noise_multiplier : chosen so that every planned round fits ``epsilon``.
    max_grad_norm : per-example clipping bound.
    """

    sample_rate: float
    steps_per_round: int
    noise_multiplier: float
    max_grad_norm: float

    def epsilon(self, rounds: int, delta: float) -> float:
        """Epsilon spent after ``rounds`` rounds."""
        return epsilon_after(
            noise_multiplier=self.noise_multiplier,
            sample_rate=self.sample_rate,
            steps=rounds * self.steps_per_round,
            delta=delta,
        )


def plan_local_dp(
    *,
    rows: int,
    batch_size: int,
    epochs: int,
    rounds: int,
    epsilon: float,
    delta: float,
    max_grad_norm: float = 1.0,
) -> LocalDpPlan:
    """The DP-SGD plan that spends ``epsilon`` over ``rounds`` rounds of ``epochs`` epochs."""
    rate = min(1.0, batch_size / max(rows, 1))
    steps = max(1, int(round(epochs / rate)))
    sigma = noise_for(epsilon=epsilon, delta=delta, sample_rate=rate, steps=steps * rounds)
    return LocalDpPlan(rate, steps, sigma, max_grad_norm)


def dp_train_round(
    module: nn.Module,
    data: EncodedInputs,
    y: np.ndarray,
    plan: LocalDpPlan,
    *,
    lr: float,
    seed: int,
) -> dict[str, float]:
    """One round of DP-SGD on ``module`` (trained in place); returns the mean loss.

    Batches are Poisson samples (each row in with probability ``plan.sample_rate``), as
    the accounting assumes; an empty draw still counts as a step.
    """
    rng = np.random.default_rng(seed)
    generator = torch.Generator().manual_seed(seed)
    wrapped = GradSampleModule(module)
    optimizer = DPOptimizer(
        torch.optim.Adam(wrapped.parameters(), lr=lr),
        noise_multiplier=plan.noise_multiplier,
        max_grad_norm=plan.max_grad_norm,
        expected_batch_size=max(1, int(round(plan.sample_rate * len(y)))),
        generator=generator,
    )
    loss_fn = nn.BCEWithLogitsLoss()
    targets = torch.from_numpy(y.astype(np.float32))
    losses = []
    wrapped.train()
    try:
        for _ in range(plan.steps_per_round):
            rows = np.flatnonzero(rng.random(len(y)) < plan.sample_rate)
            if rows.size == 0:
                continue
            optimizer.zero_grad(set_to_none=True)
            logits = wrapped(**data.tensors(rows))
            loss = loss_fn(logits.float(), targets[rows])
            loss.backward()
            optimizer.step()
            losses.append(float(loss.item()))
    finally:
        wrapped._close()  # remove Opacus' hooks: the module goes back to plain torch
    module.eval()
    return {"train_loss": float(np.mean(losses)) if losses else float("nan")}


def central_noise(*, epsilon: float, delta: float, rounds: int) -> float:
    """Noise multiplier of the central (lender-level) Gaussian mechanism over ``rounds``."""
    return noise_for(epsilon=epsilon, delta=delta, sample_rate=1.0, steps=rounds)
