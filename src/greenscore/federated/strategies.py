"""The Flower strategy of a federated DNN: FedAvg, FedProx or FedAdam, optionally with
central differential privacy (``DifferentialPrivacyServerSideFixedClipping``).

Federated policy lives in the strategy (Flower's design): aggregation maths are Flower's
own classes; GreenScore only chooses and parameterises them. Which lenders a strategy may
pick from is narrowed beforehand (:class:`~greenscore.federated.selection.SubsetGrid`),
so the strategies always take every node they are shown.

Under central DP every lender weighs the same (the key ``lender-weight``, 1 for all):
the Gaussian noise Flower adds, ``noise_multiplier * clipping_norm / n``, is calibrated
to the sensitivity of an unweighted mean, not of a row-weighted one.
"""

from __future__ import annotations

from typing import Any

from flwr.serverapp.strategy import (
    DifferentialPrivacyServerSideFixedClipping,
    FedAdam,
    FedAvg,
    FedProx,
    Strategy,
)

from greenscore.federated.dp_local import central_noise
from greenscore.federated.plan import FederationPlan

ROWS_KEY = "num-examples"
UNIFORM_KEY = "lender-weight"


def make_strategy(plan: FederationPlan, *, lenders: int) -> tuple[Strategy, float | None]:
    """The plan's strategy and, under central DP, its noise multiplier.

    Parameters
    ----------
    plan : the federation's plan.
    lenders : lenders expected per round (central DP calibrates its noise to them).
    """
    common: dict[str, Any] = {
        "fraction_train": 1.0,
        "fraction_evaluate": 1.0,
        "min_train_nodes": 1,
        "min_evaluate_nodes": 1,
        "min_available_nodes": 1,
        "weighted_by_key": UNIFORM_KEY if plan.dp_mode == "central" else ROWS_KEY,
    }
    if plan.strategy == "fedprox":
        strategy: Strategy = FedProx(proximal_mu=plan.proximal_mu, **common)
    elif plan.strategy == "fedadam":
        # eta_l is the client's rate for FedOpt's bookkeeping only; clients use plan.lr.
        strategy = FedAdam(
            eta=plan.server_lr, eta_l=plan.lr, beta_1=0.9, beta_2=0.99, tau=1e-4, **common
        )
    else:
        strategy = FedAvg(**common)
    if plan.dp_mode != "central":
        return strategy, None
    sigma = central_noise(epsilon=plan.dp_epsilon, delta=plan.dp_delta, rounds=plan.rounds)
    wrapped = DifferentialPrivacyServerSideFixedClipping(
        strategy, noise_multiplier=sigma, clipping_norm=plan.dp_clip, num_sampled_clients=lenders
    )
    return wrapped, sigma
