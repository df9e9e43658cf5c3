"""The lenders' Flower ClientApp: thin wiring from messages to :mod:`.client_tasks`.

A SuperNode is started with its lender's node config (``lender``, ``data``, optionally
``home`` and ``epsilon-budget``); the run config carries the federation's plan. Message
types:

- ``query.schema``: the lender's schema report;
- ``query.stats``: encoder statistics in the clear (``stage`` 1 or 2);
- ``train``: a DNN round from a Flower strategy (``arrays`` + ``config``), or, inside
  SecAgg+, any task as a legacy ``FitIns`` whose config names it (``task``);
- ``evaluate``: the global model's score histograms on validation rows;
- ``query.final``: the lender's "what joining is worth" comparison;
- ``query.scorecard``: the federated scorecard's plain tasks.

``secaggplus_mod`` only sees SecAgg+ messages (:func:`secure_only`); Flower strategies'
ordinary ``train`` messages pass by it.
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np
from flwr.app import Array, ArrayRecord, ConfigRecord, Context, Message, MetricRecord, RecordDict
from flwr.client.mod import secaggplus_mod
from flwr.clientapp import ClientApp
from flwr.common.secure_aggregation.secaggplus_constants import RECORD_KEY_CONFIGS
from flwr.compat.common import recorddict_compat as compat

from greenscore.data.spec import DatasetSpec
from greenscore.errors import DataError
from greenscore.federated import client_tasks as tasks
from greenscore.federated.lender import lender_rows, lender_settings
from greenscore.federated.lender_data import ERR_SPEC, spec_fingerprint
from greenscore.federated.plan import FederationPlan
from greenscore.federated.records import as_float, as_int
from greenscore.federated.secure import fit_reply

ERR_NODE_CONFIG = (
    "this SuperNode's node config lacks '{key}' (start it with greenscore federate client)"
)


def secure_only(msg: Message, context: Context, call_next: Any) -> Message:
    """Run Flower's ``secaggplus_mod`` on SecAgg+ messages only."""
    if msg.has_content() and RECORD_KEY_CONFIGS in msg.content.config_records:
        return secaggplus_mod(msg, context, call_next)
    return call_next(msg, context)


app = ClientApp(mods=[secure_only])


def _task(context: Context, state_json: str) -> tasks.Task:
    node = context.node_config
    for key in ("lender", "data"):
        if key not in node:
            raise KeyError(ERR_NODE_CONFIG.format(key=key))
    plan = FederationPlan.from_run_config(dict(context.run_config))
    import yaml

    spec = DatasetSpec.from_dict(yaml.safe_load(plan.spec))
    local = node.get("spec-fingerprint")
    if local is not None and str(local) != spec_fingerprint(spec):
        raise DataError(
            ERR_SPEC.format(lender=node["lender"], local=local, federation=spec_fingerprint(spec))
        )
    rows = lender_rows(
        str(node["data"]),
        spec,
        lender=str(node["lender"]),
        test_fraction=plan.test_fraction,
        val_fraction=plan.validation_fraction,
        seed=plan.seed,
    )
    budget = node.get("epsilon-budget")
    return tasks.Task(
        lender=str(node["lender"]),
        rows=rows,
        spec=spec,
        plan=plan,
        state_json=state_json,
        node_state=context.state,
        epsilon_budget=float(budget) if budget is not None else None,
    )


def _home(context: Context) -> str | None:
    home = context.node_config.get("home")
    return str(home) if home else None


def _arrays(record: ArrayRecord) -> list[np.ndarray]:
    return [a.numpy() for a in record.values()]


def _reply(
    msg: Message,
    metrics: dict[str, Any],
    *,
    arrays: ArrayRecord | None = None,
    info: dict | None = None,
) -> Message:
    content = RecordDict(
        {"metrics": MetricRecord({k: v for k, v in metrics.items() if _numeric(v)})}
    )
    if arrays is not None:
        content["arrays"] = arrays
    if info:
        content["info"] = ConfigRecord(info)
    return Message(content, reply_to=msg)


def _numeric(value: Any) -> bool:
    if isinstance(value, list):
        return all(isinstance(v, int | float) for v in value)
    return isinstance(value, int | float) and not isinstance(value, bool)


@app.query("schema")
def query_schema(msg: Message, context: Context) -> Message:
    """The lender's schema report (rows, columns, levels; never a row)."""
    with lender_settings(_home(context)):
        task = _task(context, state_json="")
        report = tasks.schema(task)
    return _reply(
        msg,
        {"num-examples": len(task.rows.y_train)},
        info={"report": report, "lender": task.lender},
    )


@app.query("stats")
def query_stats(msg: Message, context: Context) -> Message:
    """Encoder statistics in the clear (stage 1 or 2)."""
    config = msg.content["config"]
    with lender_settings(_home(context)):
        task = _task(context, str(config["state"]))
        vector = _stats(task, dict(config))
    record = ArrayRecord({"vector": Array(vector)})
    return _reply(msg, {"num-examples": len(task.rows.y_train)}, arrays=record)


def _stats(task: tasks.Task, config: dict[str, Any]) -> np.ndarray:
    if int(config["stage"]) == 1:
        return tasks.stats_first(task)
    log_mask = np.asarray(json.loads(str(config["log-mask"])), dtype=bool)
    scales = json.loads(str(config["scales"]))
    return tasks.stats_second(
        task, log_mask=log_mask, scales=None if scales is None else np.asarray(scales)
    )


@app.train()
def train(msg: Message, context: Context) -> Message:
    """A DNN round (Message API), or a SecAgg+ task (legacy FitIns inside the protocol)."""
    if "fitins.parameters" in msg.content.array_records:
        return _secure_task(msg, context)
    config = msg.content.config_records["config"]
    server_round = as_int(config["server-round"], "server-round")
    base = _arrays(msg.content.array_records["arrays"])
    with lender_settings(_home(context)):
        task = _task(context, str(config["state"]))
        local, metrics = tasks.dnn_round(
            task,
            base,
            server_round=server_round,
            mu=as_float(config.get("proximal-mu", 0.0), "proximal-mu"),
        )
        if task.plan.compression == "none":
            record = ArrayRecord(
                {k: Array(v) for k, v in zip(msg.content["arrays"].keys(), local, strict=True)}
            )
        else:
            record = tasks.compress_update(task, local, base, server_round=server_round)
    return _reply(msg, metrics, arrays=record)


def _secure_task(msg: Message, context: Context) -> Message:
    fitins = compat.recorddict_to_fitins(msg.content, keep_input=True)
    config = dict(fitins.config)
    from flwr.common import parameters_to_ndarrays

    arrays = parameters_to_ndarrays(fitins.parameters)
    with lender_settings(_home(context)):
        task = _task(context, str(config["state"]))
        name = str(config["task"])
        weight = len(task.rows.y_train)
        metrics: dict[str, Any] = {}
        if name == "stats":
            vector = [_stats(task, config)]
        elif name == "dnn":
            local, metrics = tasks.dnn_round(
                task,
                arrays,
                server_round=int(config["server-round"]),
                mu=float(config.get("proximal-mu", 0.0)),
            )
            # Deltas, not weights: small and centred, so SecAgg+'s clipping range holds them.
            vector = [a - b for a, b in zip(local, arrays, strict=True)]
        else:
            from greenscore.federated import scorecard_client

            vector, weight = scorecard_client.secure_task(task, name, config)
    reply = fit_reply(vector, weight=weight, metrics=metrics)
    return Message(compat.fitres_to_recorddict(reply, keep_input=True), reply_to=msg)


@app.evaluate()
def evaluate(msg: Message, context: Context) -> Message:
    """Score histograms of the global model on the lender's validation rows."""
    config = msg.content.config_records["config"]
    with lender_settings(_home(context)):
        task = _task(context, str(config["state"]))
        metrics = tasks.evaluate(task, _arrays(msg.content.array_records["arrays"]))
    return _reply(msg, metrics)


@app.query("final")
def query_final(msg: Message, context: Context) -> Message:
    """The lender's comparison of federated, personalised and local-only models."""
    config = msg.content.config_records["config"]
    model_dir = context.node_config.get("model-dir")
    with lender_settings(_home(context)):
        task = _task(context, str(config["state"]))
        metrics = tasks.final(
            task,
            _arrays(msg.content.array_records["arrays"]),
            model_dir=str(model_dir) if model_dir else None,
        )
    return _reply(msg, metrics)


@app.query("scorecard")
def query_scorecard(msg: Message, context: Context) -> Message:
    """The federated scorecard's plain tasks (histograms, WoE moments, gradients)."""
    from greenscore.federated import scorecard_client

    config = dict(msg.content["config"])
    with lender_settings(_home(context)):
        task = _task(context, str(config["state"]))
        vector, weight = scorecard_client.secure_task(task, str(config["task"]), config)
    record = ArrayRecord(
        {str(i): Array(np.asarray(v, dtype=np.float64)) for i, v in enumerate(vector)}
    )
    return _reply(msg, {"num-examples": weight}, arrays=record)
