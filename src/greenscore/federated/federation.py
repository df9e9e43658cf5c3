"""A whole federated run, server side: the phases, the outputs and the MLflow record.

1. **schema** (``query.schema``): every lender checks its file against the spec and
   reports its columns, levels and rows; a lender whose columns differ, or whose file is
   refused, is left out and named. The shared feature pipeline is fitted from the merged
   schema (:mod:`.schema`).
2. **encoder statistics** (two weighted means, plain or SecAgg+): the network's input
   encoder (:mod:`.encoder_stats`).
3. **training**: DNN rounds (:mod:`.dnn_server`) or the federated scorecard
   (:mod:`.scorecard_server`).
4. **final** (``query.final``, DNN): each lender compares federated, personalised and
   local-only models on its own test rows.
5. **outputs** under ``plan.out``: ``model/`` (an ordinary bundle), ``federation.json``
   (curve, bytes, energy and privacy per round and lender, the per-lender table,
   alerts), and an MLflow run in the server's home.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import yaml
from flwr.app import ConfigRecord, Message, MessageType, RecordDict
from flwr.serverapp import Grid

from greenscore.config import get_settings
from greenscore.data.spec import DatasetSpec
from greenscore.errors import DataError
from greenscore.federated.aggregate import weighted_mean
from greenscore.federated.encoder_stats import EncoderLayout, read_first
from greenscore.federated.metering import MeteredGrid
from greenscore.federated.plan import FederationPlan
from greenscore.federated.records import as_float, error_reason
from greenscore.federated.schema import (
    FederationSchema,
    SchemaReport,
    fit_shared_features,
    merge_reports,
    schema_frame,
)
from greenscore.federated.shared import EncoderStats, SharedState, shared_encoder
from greenscore.json_document import dumps
from greenscore.logging import get_logger

log = get_logger(__name__)

ERR_TOO_FEW = "a federation needs at least {need} lenders; {have} joined ({refused})"
MODEL_DIR = "model"
REPORT_FILE = "federation.json"


@dataclass
class FederationResult:
    """Everything a run produced (``federation.json`` is its JSON form)."""

    plan: FederationPlan
    lenders: dict[int, str] = field(default_factory=dict)
    sizes: dict[int, int] = field(default_factory=dict)
    refused: dict[int, str] = field(default_factory=dict)
    rounds: list[dict[str, Any]] = field(default_factory=list)
    alerts: list[dict[str, Any]] = field(default_factory=list)
    best_round: int = 0
    best_val_auc: float = float("nan")
    per_lender: dict[str, dict[str, float]] = field(default_factory=dict)
    usage: dict[str, dict[str, int]] = field(default_factory=dict)
    energy: dict[str, Any] = field(default_factory=dict)
    privacy: dict[str, Any] = field(default_factory=dict)
    model_dir: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def name_of(self, node_id: int) -> str:
        """A lender's name (its node id when it never reported one)."""
        return self.lenders.get(node_id, str(node_id))

    def to_json(self) -> str:
        """The run as JSON (NaN as null)."""
        data = {k: getattr(self, k) for k in self.__dataclass_fields__ if k != "plan"}
        data["plan"] = json.loads(self.plan.to_json())
        data["plan"]["spec"] = "(spec YAML omitted)"
        return dumps(data)


def _schema_phase(
    grid: MeteredGrid, plan: FederationPlan, spec: DatasetSpec, result: FederationResult
) -> FederationSchema:
    grid.phase = "schema"
    nodes = list(grid.get_node_ids())
    messages = [
        Message(
            RecordDict({"config": ConfigRecord({"federation": plan.federation})}),
            dst_node_id=nid,
            message_type=f"{MessageType.QUERY}.schema",
            group_id="schema",
        )
        for nid in nodes
    ]
    replies = list(grid.send_and_receive(messages, timeout=plan.round_timeout))
    reports: dict[int, SchemaReport] = {}
    for reply in replies:
        nid = reply.metadata.src_node_id
        if reply.has_error():
            result.refused[nid] = error_reason(reply)
            continue
        info = reply.content["info"]
        reports[nid] = SchemaReport.from_json(str(info["report"]))
        result.lenders[nid] = str(info["lender"])
    answered = {r.metadata.src_node_id for r in replies}
    result.refused.update({n: "no reply before the timeout" for n in nodes if n not in answered})
    expected = spec.feature_columns()
    accepted: dict[int, SchemaReport] = {}
    for nid, report in reports.items():
        try:
            merge_reports([report], expected=expected)
        except DataError as exc:
            result.refused[nid] = exc.message
            continue
        accepted[nid] = report
    for nid, why in result.refused.items():
        log.warning(
            "lender refused", extra={"node": nid, "lender": result.name_of(nid), "reason": why}
        )
    if len(accepted) < plan.min_lenders:
        refused = (
            "; ".join(f"{result.name_of(n)}: {w}" for n, w in result.refused.items())
            or "none refused"
        )
        raise DataError(
            ERR_TOO_FEW.format(need=plan.min_lenders, have=len(accepted), refused=refused)
        )
    result.sizes = {nid: r.rows for nid, r in accepted.items()}
    return merge_reports(list(accepted.values()), expected=expected)


def _encoder_phase(
    grid: MeteredGrid, plan: FederationPlan, state: SharedState, nodes: list[int]
) -> EncoderStats:
    assert state.layout is not None
    max_rows = float(max(state.schema.rows.values()))
    grid.phase = "encoder-1"
    first_mean = weighted_mean(
        grid,
        nodes,
        action="stats",
        task="stats",
        config={"state": state.to_json(), "stage": 1},
        secure=plan.secagg,
        max_weight=max_rows,
        timeout=plan.round_timeout,
        round_id=1,
    )
    first = read_first(first_mean.vectors[0], state.layout)
    scales = first.scales if plan.secagg else None
    grid.phase = "encoder-2"
    second = weighted_mean(
        grid,
        nodes,
        action="stats",
        task="stats",
        config={
            "state": state.to_json(),
            "stage": 2,
            "log-mask": json.dumps(first.log_mask.tolist()),
            "scales": json.dumps(None if scales is None else scales.tolist()),
        },
        secure=plan.secagg,
        max_weight=max_rows,
        timeout=plan.round_timeout,
        round_id=2,
    )
    return EncoderStats(
        log_mask=first.log_mask.tolist(),
        missing=first.missing.tolist(),
        scales=None if scales is None else scales.tolist(),
        level_shares={k: v.tolist() for k, v in first.level_shares.items()},
        second_mean=second.vectors[0].tolist(),
        rows=int(first_mean.rows),
    )


def agree_features(
    grid: MeteredGrid, plan: FederationPlan, spec: DatasetSpec, result: FederationResult
) -> SharedState:
    """Phase 1: lenders report their schema; the shared feature steps and encoder layout.

    Lenders left out are named in ``result.refused``; their rows in ``result.sizes``.
    """
    schema = _schema_phase(grid, plan, spec, result)
    pipeline = fit_shared_features(schema, spec)
    layout = EncoderLayout.from_frame(pipeline.transform(schema_frame(schema, spec)), spec)
    return SharedState(schema, layout)


def encoder_statistics(
    grid: MeteredGrid, plan: FederationPlan, state: SharedState, nodes: list[int]
) -> EncoderStats:
    """Phase 2: the encoder's statistics, aggregated as the plan says (plain or SecAgg+)."""
    return _encoder_phase(grid, plan, state, nodes)


def run_federation(grid: Grid, plan: FederationPlan) -> FederationResult:
    """Run every phase and write the outputs (see the module docstring).

    Raises
    ------
    DataError
        If fewer than ``plan.min_lenders`` lenders pass the schema check.
    ModelError
        If a phase gets no answer at all.
    """
    from greenscore.sustainability.energy import measure_energy

    plan.check()
    metered = grid if isinstance(grid, MeteredGrid) else MeteredGrid(grid)
    spec = DatasetSpec.from_dict(yaml.safe_load(plan.spec))
    result = FederationResult(plan=plan)
    with measure_energy(f"federated:server:{plan.federation}") as total:
        state = agree_features(metered, plan, spec, result)
        nodes = sorted(result.sizes)
        if plan.model == "dnn":
            state.encoder = _encoder_phase(metered, plan, state, nodes)
            bundle = _run_dnn(metered, plan, spec, state, result)
        else:
            from greenscore.federated.scorecard_server import run_scorecard

            bundle = run_scorecard(metered, plan, spec, state, result, nodes)
    result.usage = {k: dict(v) for k, v in metered.usage.items()}
    result.energy = _energy_summary(result, total)
    _track(result)
    out = Path(plan.out) if plan.out else None
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
        bundle.metadata.federation = _bundle_summary(result)
        bundle.save(out / MODEL_DIR)
        result.model_dir = str(out / MODEL_DIR)
        (out / REPORT_FILE).write_text(result.to_json(), "utf-8")
    return result


def _run_dnn(
    metered: MeteredGrid,
    plan: FederationPlan,
    spec: DatasetSpec,
    state: SharedState,
    result: FederationResult,
) -> Any:
    from greenscore.federated.bundle_out import federated_bundle
    from greenscore.federated.dnn_local import build_classifier, get_arrays, set_arrays
    from greenscore.federated.dnn_server import keys_of, train_dnn
    from greenscore.federated.shared import shared_pipeline

    state_json = state.to_json()
    clf = build_classifier(shared_encoder(state_json, spec), plan.model_params())
    keys = keys_of(clf.module_)
    run = train_dnn(
        metered,
        plan,
        initial=get_arrays(clf.module_),
        keys=keys,
        state_json=state_json,
        sizes=result.sizes,
    )
    set_arrays(clf.module_, run.best_arrays)
    result.rounds = [_named_round(r, result) for r in run.rounds]
    result.alerts = run.monitor.alerts
    result.best_round = run.monitor.best_round
    result.best_val_auc = run.monitor.best_auc
    result.privacy = _privacy_summary(result, run.noise_multiplier)
    for nid, why in run.stopped.items():
        result.refused.setdefault(nid, why)
    clf.history_ = run.monitor.curve
    clf.best_epoch_, clf.best_score_ = run.monitor.best_round, run.monitor.best_auc
    result.per_lender = _final_phase(metered, plan, state_json, run.best_arrays, keys, result)
    return federated_bundle(
        pipeline_features=shared_pipeline(state_json, spec),
        estimator=clf,
        spec=spec,
        name="federated-dnn",
        levels=state.schema.levels,
        metadata={"metrics": {"val_auc": run.monitor.best_auc, "rounds": len(run.rounds)}},
    )


def _final_phase(
    grid: MeteredGrid,
    plan: FederationPlan,
    state_json: str,
    arrays: list[np.ndarray],
    keys: list[str],
    result: FederationResult,
) -> dict[str, dict[str, float]]:
    from greenscore.federated.dnn_server import _record

    grid.phase = "final"
    content = RecordDict(
        {"arrays": _record(keys, arrays), "config": ConfigRecord({"state": state_json})}
    )
    messages = [
        Message(
            content, dst_node_id=nid, message_type=f"{MessageType.QUERY}.final", group_id="final"
        )
        for nid in sorted(result.sizes)
    ]
    table: dict[str, dict[str, float]] = {}
    for reply in grid.send_and_receive(messages, timeout=plan.round_timeout):
        if reply.has_error():
            name = result.name_of(reply.metadata.src_node_id)
            result.extra.setdefault("final_failures", {})[name] = reply.error.reason
            log.warning(
                "lender's final comparison failed",
                extra={"lender": name, "reason": reply.error.reason},
            )
            continue
        metrics = reply.content.metric_records["metrics"]
        table[result.name_of(reply.metadata.src_node_id)] = {
            k: as_float(v, k) for k, v in metrics.items()
        }
    return table


def _named_round(entry: dict[str, Any], result: FederationResult) -> dict[str, Any]:
    named = dict(entry)
    named["chosen"] = [result.name_of(n) for n in entry["chosen"]]
    named["answered"] = [result.name_of(n) for n in entry["answered"]]
    named["missing"] = [result.name_of(n) for n in entry["missing"]]
    named["failed"] = {result.name_of(n): why for n, why in entry["failed"].items()}
    named["lenders"] = {result.name_of(n): m for n, m in entry["lenders"].items()}
    kwh = entry["server_kwh"] + sum(m.get("kwh", 0.0) for m in entry["lenders"].values())
    co2 = entry["server_co2_kg"] + sum(m.get("co2_kg", 0.0) for m in entry["lenders"].values())
    named["kwh"], named["co2_kg"] = kwh, co2
    return named


def _energy_summary(result: FederationResult, total: Any) -> dict[str, Any]:
    per_lender: dict[str, dict[str, float]] = {}
    for entry in result.rounds:
        for name, metrics in entry.get("lenders", {}).items():
            slot = per_lender.setdefault(name, {"kwh": 0.0, "co2_kg": 0.0, "rounds": 0.0})
            slot["kwh"] += metrics.get("kwh", 0.0)
            slot["co2_kg"] += metrics.get("co2_kg", 0.0)
            slot["rounds"] += 1
    for name, metrics in result.per_lender.items():
        slot = per_lender.setdefault(name, {"kwh": 0.0, "co2_kg": 0.0, "rounds": 0.0})
        slot["kwh_final"] = metrics.get("kwh", 0.0)
    return {
        "method": getattr(total, "method", ""),
        "server_total_kwh": float(total.kwh),
        "server_total_co2_kg": float(total.co2_kg),
        "rounds_kwh": float(sum(r.get("kwh", 0.0) for r in result.rounds)),
        "rounds_co2_kg": float(sum(r.get("co2_kg", 0.0) for r in result.rounds)),
        "per_lender": per_lender,
        "note": (
            "lender figures are each lender's own measured fits; in a simulation all "
            "parties share one machine, so the server's total includes the lenders' work"
        ),
    }


def _privacy_summary(result: FederationResult, sigma: float | None) -> dict[str, Any]:
    plan = result.plan
    if plan.dp_mode == "none":
        return {"mode": "none"}
    per_lender: dict[str, list[dict[str, float]]] = {}
    for entry in result.rounds:
        for name, metrics in entry.get("lenders", {}).items():
            if "epsilon" in metrics:
                per_lender.setdefault(name, []).append(
                    {
                        "round": entry["round"],
                        "epsilon_round": metrics["epsilon_round"],
                        "epsilon": metrics["epsilon"],
                    }
                )
    summary: dict[str, Any] = {
        "mode": plan.dp_mode,
        "target_epsilon": plan.dp_epsilon,
        "delta": plan.dp_delta,
        "per_lender": per_lender,
    }
    if plan.dp_mode == "central" and sigma is not None:
        from greenscore.federated.dp_local import epsilon_after

        rounds_done = len(result.rounds)
        summary["noise_multiplier"] = sigma
        summary["epsilon_spent"] = epsilon_after(
            noise_multiplier=sigma, sample_rate=1.0, steps=rounds_done, delta=plan.dp_delta
        )
        summary["guarantee"] = "lender-level (a whole lender's participation)"
    else:
        summary["guarantee"] = "record-level (any one applicant of a lender)"
    return summary


def _bundle_summary(result: FederationResult) -> dict[str, Any]:
    return {
        "federation": result.plan.federation,
        "model": result.plan.model,
        "strategy": result.plan.strategy,
        "lenders": sorted(result.lenders.values()),
        "rows": int(sum(result.sizes.values())),
        "best_round": result.best_round,
        "best_val_auc": result.best_val_auc,
        "secagg": result.plan.secagg,
        "privacy": {k: v for k, v in result.privacy.items() if k != "per_lender"},
    }


def _track(result: FederationResult) -> None:
    if not get_settings().tracking.enabled:
        return
    from greenscore.tracking.mlflow_run import start_run

    plan = result.plan
    params = {k: v for k, v in json.loads(plan.to_json()).items() if k not in {"spec", "out"}}
    with start_run(
        run_name=f"federate-{plan.federation}", params=params, tags={"kind": "federated"}
    ) as run:
        for entry in result.rounds:
            metrics = {
                "val_auc": entry.get("val_auc", float("nan")),
                "train_loss": entry.get("train_loss", float("nan")),
                "bytes_down": float(entry.get("bytes_down", 0)),
                "bytes_up": float(entry.get("bytes_up", 0)),
                "kwh": float(entry.get("kwh", 0.0)),
                "lenders": float(len(entry.get("answered", []))),
            }
            run.log_metrics(metrics, step=int(entry["round"]))
        run.log_metrics(
            {
                "best_val_auc": result.best_val_auc,
                "diverged": float(bool(result.alerts)),
                "alerts": float(len(result.alerts)),
            }
        )
        for i, alert in enumerate(result.alerts):
            run.log_metrics({"divergence_alert_round": float(alert["round"])}, step=i)
        result.extra["mlflow_run_id"] = getattr(run, "run_id", None)
