"""Secure aggregation: the weighted mean of lenders' vectors through Flower's SecAgg+.

The server learns only the mean; no lender's vector is ever seen in the clear (Bell et
al. 2020, as implemented by ``flwr.server.workflow.SecAggPlusWorkflow`` with
``flwr.client.mod.secaggplus_mod`` on the lenders). In Flower 1.42 that workflow still
speaks the pre-Message-API contract (a ``LegacyContext``, a legacy ``Strategy`` with
``configure_fit``/``aggregate_fit``, ``FitIns``/``FitRes`` records), so this module wraps
it as one call: :func:`secure_mean` sends a task to chosen lenders, the lenders' ClientApp
answers it as a ``FitRes`` (its vector as parameters, its row count as weight), and the
unmasked weighted mean comes back with each lender's (unprotected) metrics.

SecAgg+ quantises each entry to 22 bits within ``[-clip, clip]`` and clips outside it, so
callers send bounded quantities (model deltas, shares, scaled moments). The weight of a
lender is its row count over ``max_weight``, quantised the same way.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from flwr.app import ArrayRecord, ConfigRecord, Context, RecordDict
from flwr.common import (
    FitIns,
    FitRes,
    Parameters,
    Scalar,
    ndarrays_to_parameters,
    parameters_to_ndarrays,
)
from flwr.server import LegacyContext, ServerConfig
from flwr.server.client_manager import ClientManager, SimpleClientManager
from flwr.server.client_proxy import ClientProxy
from flwr.server.compat.grid_client_proxy import GridClientProxy
from flwr.server.strategy import Strategy as LegacyStrategy
from flwr.server.workflow import SecAggPlusWorkflow
from flwr.server.workflow.constant import MAIN_CONFIGS_RECORD, MAIN_PARAMS_RECORD, Key
from flwr.serverapp import Grid

from greenscore.errors import ModelError

ERR_TOO_FEW = "secure aggregation needs at least 2 lenders answering, got {n}"
ERR_FAILED = "secure aggregation of '{task}' failed: {why}"


@dataclass
class SecureResult:
    """What one secure aggregation returned.

    Attributes
    ----------
    mean : the weighted mean, one array per array sent.
    metrics : node id -> the metrics that lender sent beside its masked vector.
    weights : node id -> the weight (row count) it declared.
    """

    mean: list[np.ndarray]
    metrics: dict[int, dict[str, Scalar]] = field(default_factory=dict)
    weights: dict[int, int] = field(default_factory=dict)


class _OneShot(LegacyStrategy):
    """The legacy strategy SecAgg+ drives: one task to fixed nodes, the result captured."""

    def __init__(
        self, node_ids: Sequence[int], grid: Grid, parameters: Parameters, config: dict[str, Scalar]
    ) -> None:
        self.node_ids = list(node_ids)
        self.grid = grid
        self.parameters = parameters
        self.config = config
        self.result: SecureResult | None = None

    def initialize_parameters(self, client_manager: ClientManager) -> Parameters | None:
        return self.parameters

    def configure_fit(
        self, server_round: int, parameters: Parameters, client_manager: ClientManager
    ) -> list[tuple[ClientProxy, FitIns]]:
        run_id = self.grid.run.run_id
        fitins = FitIns(self.parameters, dict(self.config))
        return [(GridClientProxy(nid, self.grid, run_id), fitins) for nid in self.node_ids]

    def aggregate_fit(
        self,
        server_round: int,
        results: list[tuple[ClientProxy, FitRes]],
        failures: list[tuple[ClientProxy, FitRes] | BaseException],
    ) -> tuple[Parameters | None, dict[str, Scalar]]:
        if results:
            # SecAggPlusWorkflow has put the unmasked mean into every result.
            mean = parameters_to_ndarrays(results[0][1].parameters)
            self.result = SecureResult(
                mean=[np.asarray(a, dtype=np.float64) for a in mean],
                metrics={int(p.node_id): dict(r.metrics) for p, r in results},
                weights={int(p.node_id): int(r.num_examples) for p, r in results},
            )
        return None, {}

    def configure_evaluate(
        self, server_round: int, parameters: Parameters, client_manager: ClientManager
    ) -> list:
        return []

    def aggregate_evaluate(
        self, server_round: int, results: list, failures: list
    ) -> tuple[None, dict]:
        return None, {}

    def evaluate(self, server_round: int, parameters: Parameters) -> None:
        return None


def secure_mean(
    grid: Grid,
    node_ids: Sequence[int],
    *,
    task: str,
    config: dict[str, Scalar],
    arrays: list[np.ndarray] | None = None,
    round_id: int = 1,
    clip: float = 8.0,
    max_weight: float = 1_000_000.0,
    timeout: float | None = None,
) -> SecureResult:
    """Securely average the vectors the lenders compute for ``task``.

    Parameters
    ----------
    grid : the ServerApp's grid.
    node_ids : lenders taking part (at least 2).
    task : the ClientApp task name (sent as ``config["task"]``).
    config : the task's settings (Flower scalars only).
    arrays : arrays the lenders need (e.g. the global weights), sent in the clear.
    round_id : the round number stamped on the messages.
    clip : every entry must lie within ``[-clip, clip]`` (SecAgg+ clips the rest).
    max_weight : an upper bound on any lender's row count.
    timeout : seconds to wait at each protocol stage (None: until every lender answers;
        a lender that drops out is recovered from its neighbours' key shares).

    Raises
    ------
    ModelError
        If fewer than 2 lenders take part or the protocol halts (too many dropped).
    """
    if len(node_ids) < 2:
        raise ModelError(ERR_TOO_FEW.format(n=len(node_ids)))
    parameters = ndarrays_to_parameters([np.asarray(a) for a in (arrays or [])])
    strategy = _OneShot(node_ids, grid, parameters, {**config, "task": task})
    base = Context(
        run_id=grid.run.run_id, node_id=0, node_config={}, state=RecordDict(), run_config={}
    )
    context = LegacyContext(
        context=base,
        config=ServerConfig(num_rounds=1),
        strategy=strategy,
        client_manager=_Manager(node_ids, grid),
    )
    context.state.config_records[MAIN_CONFIGS_RECORD] = ConfigRecord(
        {Key.CURRENT_ROUND: round_id, Key.START_TIME: time.time()}
    )
    context.state.array_records[MAIN_PARAMS_RECORD] = ArrayRecord()
    workflow = SecAggPlusWorkflow(
        num_shares=1.0,  # every lender shares its keys with all the others
        reconstruction_threshold=0.67,  # a third may drop out and the mean is still recovered
        max_weight=max_weight,
        clipping_range=clip,
        timeout=timeout,
    )
    workflow(grid, context)
    if strategy.result is None:
        raise ModelError(ERR_FAILED.format(task=task, why="too few lenders answered every stage"))
    return strategy.result


class _Manager(SimpleClientManager):
    """A client manager holding exactly the chosen nodes (the workflow counts them)."""

    def __init__(self, node_ids: Sequence[int], grid: Grid) -> None:
        super().__init__()
        for nid in node_ids:
            self.register(GridClientProxy(nid, grid, grid.run.run_id))


def fit_reply(vector: list[np.ndarray], *, weight: int, metrics: dict[str, Any]) -> FitRes:
    """What a lender answers a secure task with (see :mod:`greenscore.federated.client_app`)."""
    from flwr.common import Code, Status

    plain = {k: v for k, v in metrics.items() if isinstance(v, int | float | str | bytes | bool)}
    return FitRes(Status(Code.OK, "ok"), ndarrays_to_parameters(vector), int(weight), plain)
