"""What a lender computes for each federation task, independent of how it travels.

Each function takes the lender's :class:`Task` (its rows, the federation's plan and shared
state) and returns plain arrays and metrics; :mod:`greenscore.federated.client_app` puts
them into Flower messages, in the clear or through SecAgg+. Every fit is measured with
:func:`~greenscore.sustainability.energy.measure_energy` and recorded in the lender's
audit log, in the lender's own home.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from flwr.app import RecordDict
from sklearn.metrics import roc_auc_score

from greenscore.data.spec import DatasetSpec
from greenscore.federated.lender import LenderRows
from greenscore.federated.plan import FederationPlan
from greenscore.federated.records import as_int
from greenscore.federated.schema import schema_report
from greenscore.federated.shared import SharedState, shared_encoder, shared_pipeline
from greenscore.logging import get_logger
from greenscore.security.audit import record_event
from greenscore.sustainability.energy import measure_energy

if TYPE_CHECKING:
    from greenscore.federated.dp_local import LocalDpPlan

# Each message of a deployment runs in a fresh process, and Flower gives a task 30 s to
# report in: what only training needs (torch's trainer, Opacus) is imported by the
# functions that train, not here.

log = get_logger(__name__)

#: Node-state records a lender keeps between rounds (Flower persists the node's context).
DP_STATE = "greenscore.dp"
RESIDUAL_STATE = "greenscore.residual"
#: Fewest defaulters (or non-defaulters) for a local-only model to keep validation rows.
MIN_LOCAL_MINORITY = 20


@dataclass
class Task:
    """Everything a lender needs for one task."""

    lender: str
    rows: LenderRows
    spec: DatasetSpec
    plan: FederationPlan
    state_json: str
    node_state: RecordDict
    epsilon_budget: float | None = None

    @property
    def state(self) -> SharedState:
        """The federation's shared state."""
        return SharedState.from_json(self.state_json)

    def frame(self, which: str) -> Any:
        """The lender's rows of a split after the shared feature steps (cached per schema:
        a scorecard fit asks for them at every one of its dozens of steps)."""
        import json

        schema = json.dumps(json.loads(self.state_json)["schema"], sort_keys=True)
        key = (schema, which)
        if key not in self.rows.frames:
            X = {"train": self.rows.X_train, "val": self.rows.X_val, "test": self.rows.X_test}[
                which
            ]  # noqa: N806
            self.rows.frames.clear() if len(self.rows.frames) > 6 else None
            self.rows.frames[key] = shared_pipeline(self.state_json, self.spec).transform(X)
        return self.rows.frames[key]


def _energy(reading: Any) -> dict[str, float]:
    return {
        "kwh": float(reading.kwh),
        "co2_kg": float(reading.co2_kg),
        "seconds": float(reading.duration_s),
    }


def _audit(task: Task, action: str, details: dict[str, Any]) -> None:
    record_event(
        action,
        actor=f"lender:{task.lender}",
        details={"federation": task.plan.federation, **details},
    )


# ------------------------------------------------------------------ preprocessing
def schema(task: Task) -> str:
    """The lender's schema report (JSON)."""
    report = schema_report(task.rows.X_train, task.spec, lender=task.lender)
    _audit(
        task, "federated.schema", {"rows": len(task.rows.y_train), "columns": len(report.columns)}
    )
    return report.to_json()


def stats_first(task: Task) -> np.ndarray:
    """Round one of the encoder statistics."""
    from greenscore.federated.encoder_stats import first_moments

    state = task.state
    assert state.layout is not None
    return first_moments(task.frame("train"), state.layout)


def stats_second(task: Task, *, log_mask: np.ndarray, scales: np.ndarray | None) -> np.ndarray:
    """Round two of the encoder statistics."""
    from greenscore.federated.encoder_stats import second_moments

    state = task.state
    assert state.layout is not None
    return second_moments(task.frame("train"), state.layout, log_mask=log_mask, scales=scales)


# ------------------------------------------------------------------ DNN
def _classifier(task: Task, arrays: list[np.ndarray]) -> Any:
    from greenscore.federated.dnn_local import build_classifier, set_arrays

    clf = build_classifier(shared_encoder(task.state_json, task.spec), task.plan.model_params())
    set_arrays(clf.module_, arrays)
    return clf


def _encoded(task: Task, clf: Any, which: str) -> Any:
    return clf.encoder_.transform(task.frame(which))


def _dp_charge(task: Task, server_round: int) -> tuple[dict[str, float], LocalDpPlan]:
    """Plan DP-SGD and charge this round to the lender's ledger before training.

    Returns the round's privacy metrics (sent) and the DP-SGD plan (used by the caller).
    """
    from greenscore.federated.dp_local import plan_local_dp
    from greenscore.federated.privacy_ledger import charge_round

    plan = task.plan
    dp = plan_local_dp(
        rows=len(task.rows.y_train),
        batch_size=plan.batch_size,
        epochs=plan.local_epochs,
        rounds=plan.rounds,
        epsilon=plan.dp_epsilon,
        delta=plan.dp_delta,
        max_grad_norm=plan.dp_clip,
    )
    state = task.node_state.config_records.get(DP_STATE)
    done = as_int(state.get("rounds", 0), "rounds") if state is not None else 0
    charge = charge_round(
        lender=task.lender,
        data_fingerprint=task.rows.fingerprint,
        round_=server_round,
        epsilon_before=dp.epsilon(done, plan.dp_delta),
        epsilon_after=dp.epsilon(done + 1, plan.dp_delta),
        delta=plan.dp_delta,
        budget=task.epsilon_budget if task.epsilon_budget is not None else plan.dp_epsilon,
    )
    from flwr.app import ConfigRecord

    task.node_state.config_records[DP_STATE] = ConfigRecord({"rounds": done + 1})
    metrics = {
        "epsilon": charge.epsilon_total,
        "epsilon_round": charge.epsilon_round,
        "delta": plan.dp_delta,
        "noise_multiplier": dp.noise_multiplier,
    }
    return metrics, dp


def dnn_round(
    task: Task, arrays: list[np.ndarray], *, server_round: int, mu: float
) -> tuple[list[np.ndarray], dict[str, float]]:
    """Train the global model one round on the lender's rows.

    Returns the local weights (float arrays) and the round's metrics (rows, loss, energy,
    and with local DP the epsilon spent).

    Raises
    ------
    PrivacyError
        When the round would pass the lender's privacy budget (nothing is trained).
    """
    from greenscore.federated.dnn_local import LocalTraining, get_arrays, train_round
    from greenscore.federated.dp_local import dp_train_round

    plan = task.plan
    metrics: dict[str, Any] = {}
    dp = None
    if plan.dp_mode == "local":
        metrics, dp = _dp_charge(task, server_round)
    clf = _classifier(task, arrays)
    data = _encoded(task, clf, "train")
    seed = plan.seed * 1009 + server_round
    with measure_energy(f"federated:fit:{task.lender}:round{server_round}") as reading:
        if dp is not None:
            fit = dp_train_round(clf.module_, data, task.rows.y_train, dp, lr=plan.lr, seed=seed)
        else:
            local = LocalTraining(
                epochs=plan.local_epochs, lr=plan.lr, batch_size=plan.batch_size, mu=mu, seed=seed
            )
            fit = train_round(clf, data, task.rows.y_train, local)
    metrics.update(fit)
    metrics.update(_energy(reading))
    metrics["num-examples"] = len(task.rows.y_train)
    metrics["lender-weight"] = 1.0  # the unweighted mean central DP needs (see strategies)
    _audit(
        task,
        "federated.train",
        {
            "round": server_round,
            "rows": len(task.rows.y_train),
            "kwh": metrics["kwh"],
            **{k: metrics[k] for k in ("epsilon",) if k in metrics},
        },
    )
    return get_arrays(clf.module_), metrics


def compress_update(
    task: Task, local: list[np.ndarray], base: list[np.ndarray], *, server_round: int
) -> Any:
    """The compressed delta ``local - base`` (top-k keeps its residual in the node state;
    running statistics travel exact, see :mod:`greenscore.federated.compression`)."""
    from flwr.app import Array, ArrayRecord

    from greenscore.federated import compression as comp
    from greenscore.federated.dnn_local import statistics_mask

    delta = [a - b for a, b in zip(local, base, strict=True)]
    residual = None
    if task.plan.compression == "topk" and RESIDUAL_STATE in task.node_state.array_records:
        residual = [a.numpy() for a in task.node_state.array_records[RESIDUAL_STATE].values()]
    record, left = comp.encode(
        delta,
        method=task.plan.compression,
        ratio=task.plan.topk_ratio,
        residual=residual,
        seed=server_round,
        exact=statistics_mask(_classifier(task, base).module_),
    )
    if task.plan.compression == "topk":
        task.node_state.array_records[RESIDUAL_STATE] = ArrayRecord(
            {str(i): Array(np.asarray(r, dtype=np.float32)) for i, r in enumerate(left)}
        )
    return record


def evaluate(task: Task, arrays: list[np.ndarray]) -> dict[str, Any]:
    """Histograms of the global model's PDs on the lender's validation rows."""
    from greenscore.federated.dnn_local import predict, score_histograms

    rows = task.rows
    if len(rows.y_val) == 0:
        return {"num-examples": 0, "hist-pos": [], "hist-neg": []}
    clf = _classifier(task, arrays)
    with measure_energy(f"federated:evaluate:{task.lender}") as reading:
        pd_ = predict(clf, task.frame("val"))
    pos, neg = score_histograms(pd_, rows.y_val)
    return {"num-examples": len(rows.y_val), "hist-pos": pos, "hist-neg": neg, **_energy(reading)}


def _auc(y: np.ndarray, p: np.ndarray) -> float:
    return float(roc_auc_score(y, p)) if np.unique(y).size == 2 else float("nan")


def final(task: Task, arrays: list[np.ndarray], *, model_dir: str | None) -> dict[str, float]:
    """What joining was worth to this lender, on its own test rows.

    Compares the federated model, the federated model fine-tuned on the lender's rows
    (kept only if it scores better on the lender's validation rows) and a model trained
    on the lender's rows alone (same network, same training budget, the product's
    ordinary ``DNNClassifier.fit``).
    """
    from greenscore.federated.dnn_local import LocalTraining as Plan
    from greenscore.federated.dnn_local import predict, train_round
    from greenscore.models.torch.dnn import DNNClassifier

    plan, rows = task.plan, task.rows
    started = time.perf_counter()
    with measure_energy(f"federated:final:{task.lender}") as reading:
        global_clf = _classifier(task, arrays)
        personal = _classifier(task, arrays)
        chose = 0.0
        if plan.personalise_epochs > 0 and len(rows.y_val):
            data = _encoded(task, personal, "train")
            train_round(
                personal,
                data,
                rows.y_train,
                Plan(
                    epochs=plan.personalise_epochs,
                    lr=plan.lr / 4,
                    batch_size=plan.batch_size,
                    seed=plan.seed,
                ),
            )
            val = task.frame("val")
            if _auc(rows.y_val, predict(personal, val)) > _auc(
                rows.y_val, predict(global_clf, val)
            ):
                chose = 1.0
        chosen = personal if chose else global_clf
        local_params = {
            **plan.model_params(),
            "max_epochs": max(1, plan.rounds * plan.local_epochs),
        }
        # A lender with a handful of defaulters cannot hold some out for early stopping;
        # with fewer than two it cannot train alone at all (joining is all it has).
        minority = int(np.bincount(rows.y_train, minlength=2).min())
        if minority < MIN_LOCAL_MINORITY:
            local_params["validation_fraction"] = 0.0
        # Without test rows there is nothing to compare on: no local-only model is trained.
        local_only = (
            DNNClassifier(spec=task.spec, **local_params).fit(task.frame("train"), rows.y_train)
            if minority >= 2 and len(rows.y_test)
            else None
        )
    out: dict[str, float] = {"test-rows": float(len(rows.y_test)), "personalised": chose}
    if len(rows.y_test):
        test = task.frame("test")
        out["auc-federated"] = _auc(rows.y_test, predict(global_clf, test))
        out["auc-personalised"] = _auc(rows.y_test, predict(chosen, test))
        out["auc-local"] = (
            _auc(rows.y_test, local_only.predict_proba(test)[:, 1]) if local_only else float("nan")
        )
    out.update(_energy(reading))
    out["seconds"] = time.perf_counter() - started
    if model_dir:
        Path(model_dir).mkdir(parents=True, exist_ok=True)
        _save_personal(task, chosen, Path(model_dir))
    _audit(task, "federated.final", {k: v for k, v in out.items() if np.isfinite(v)})
    return out


def _save_personal(task: Task, clf: Any, folder: Path) -> None:
    """The lender keeps its (personalised) model as an ordinary bundle in its home."""
    from greenscore.federated.bundle_out import federated_bundle

    bundle = federated_bundle(
        pipeline_features=shared_pipeline(task.state_json, task.spec),
        estimator=clf,
        spec=task.spec,
        name="federated-dnn-personalised",
        levels=task.state.schema.levels,
        metadata={
            "federation": {"name": task.plan.federation, "personalised": True},
            "lender": task.lender,
        },
    )
    bundle.save(folder)
