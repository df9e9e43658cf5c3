"""The federation's one aggregation primitive: the row-weighted mean of lenders' vectors.

Statistics (encoder moments, scorecard histograms and gradients) all reduce to it. In the
clear, each lender answers a ``query`` message with its vector and row count and the
server averages with Flower's own FedAvg arithmetic (``aggregate_arrayrecords``); with
``secure=True`` the same vectors go through SecAgg+ (:func:`~.secure.secure_mean`) and the
server sees only the mean. Lenders that fail or time out are left out and named.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from flwr.app import ConfigRecord, Message, MessageType, RecordDict
from flwr.serverapp import Grid
from flwr.serverapp.strategy.strategy_utils import aggregate_arrayrecords

from greenscore.errors import ModelError
from greenscore.federated.records import as_int, error_reason
from greenscore.federated.secure import secure_mean

ERR_NONE = "no lender answered the '{task}' step ({failures})"


@dataclass
class Mean:
    """A weighted mean and who contributed.

    Attributes
    ----------
    vectors : the mean, one array per array the lenders sent.
    rows : total weight (rows) of the lenders counted.
    nodes : node id -> its weight.
    failures : node id -> why it was left out.
    """

    vectors: list[np.ndarray]
    rows: int
    nodes: dict[int, int] = field(default_factory=dict)
    failures: dict[int, str] = field(default_factory=dict)


def weighted_mean(
    grid: Grid,
    node_ids: Sequence[int],
    *,
    action: str,
    task: str,
    config: dict,
    secure: bool,
    clip: float = 1.0,
    max_weight: float = 1_000_000.0,
    timeout: float | None = None,
    round_id: int = 0,
) -> Mean:
    """Ask ``node_ids`` for their vectors for ``task`` and return the row-weighted mean.

    Parameters
    ----------
    grid : the ServerApp's grid.
    node_ids : lenders to ask.
    action : the ClientApp query action answering in the clear (``stats``, ``scorecard``).
    task : the task name (the SecAgg+ path dispatches on it).
    config : the task's settings.
    secure : aggregate through SecAgg+.
    clip : SecAgg+ clipping range (every entry must lie within it).
    max_weight : an upper bound on a lender's rows (SecAgg+ weight scaling).
    timeout : seconds to wait for replies.
    round_id : stamped on the messages.

    Raises
    ------
    ModelError
        If no lender answers.
    """
    if secure:
        result = secure_mean(
            grid,
            node_ids,
            task=task,
            config={**config, "server-round": round_id},
            clip=clip,
            max_weight=max_weight,
            timeout=timeout,
            round_id=round_id,
        )
        return Mean(result.mean, sum(result.weights.values()), dict(result.weights))
    messages = [
        Message(
            RecordDict(
                {"config": ConfigRecord({**config, "task": task, "server-round": round_id})}
            ),
            dst_node_id=nid,
            message_type=f"{MessageType.QUERY}.{action}",
            group_id=f"{task}-{round_id}",
        )
        for nid in node_ids
    ]
    replies = list(grid.send_and_receive(messages, timeout=timeout))
    good = [r for r in replies if not r.has_error()]
    failures = {r.metadata.src_node_id: error_reason(r) for r in replies if r.has_error()}
    answered = {r.metadata.src_node_id for r in replies}
    failures.update({nid: "no reply before the timeout" for nid in node_ids if nid not in answered})
    if not good:
        raise ModelError(ERR_NONE.format(task=task, failures=failures or "none asked"))
    contents = [r.content for r in good]
    weights = {
        r.metadata.src_node_id: as_int(
            r.content.metric_records["metrics"]["num-examples"], "num-examples"
        )
        for r in good
    }
    if sum(weights.values()) <= 0:
        raise ModelError(ERR_NONE.format(task=task, failures="every lender reported 0 rows"))
    mean = aggregate_arrayrecords(contents, "num-examples")
    return Mean(
        [a.numpy().astype(np.float64) for a in mean.values()],
        sum(weights.values()),
        weights,
        failures,
    )
