"""Optuna search over the neural architectures: validation AUC against energy per fit.

:func:`search_space` maps a trial to constructor keyword arguments of one architecture
(``dnn``, ``lstm``, ``tcn``, ``gnn``). :func:`run_search` runs a two-objective study on a
stratified hold-out of the given rows: **maximise** hold-out AUC, **minimise** the energy
of the fit measured by :func:`greenscore.sustainability.energy.measure_energy` (kWh; when
that module is absent the fit's seconds are used instead and the result says so; a trial
whose energy the meter could not read is marked failed). It
returns the Pareto front, the hyper-parameter importance of each objective and the best
configurations as plain dicts, ready to store with the run and to pass back to the
estimator.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import train_test_split

from greenscore.data.spec import DatasetSpec
from greenscore.errors import ConfigError
from greenscore.logging import get_logger
from greenscore.models.torch.base import check_frame, check_target

log = get_logger(__name__)

ARCHITECTURES = ("dnn", "lstm", "tcn", "gnn")
ALIASES = {"bilstm": "lstm"}
MSG_ARCH = "unknown architecture '{arch}'; choose one of: {choices}"
OBJECTIVES = ("auc", "energy")
#: TCN dilation schedules offered to the sampler (Optuna choices must be plain values).
DILATIONS = {"1": (1,), "1-2": (1, 2), "1-2-4": (1, 2, 4)}


def _arch(arch: str) -> str:
    name = ALIASES.get(arch.lower(), arch.lower())
    if name not in ARCHITECTURES:
        raise ConfigError(MSG_ARCH.format(arch=arch, choices=", ".join(ARCHITECTURES)))
    return name


def estimator_class(arch: str) -> type:
    """The classifier class of an architecture name (``bilstm`` is ``lstm``)."""
    name = _arch(arch)
    if name == "dnn":
        from greenscore.models.torch.dnn import DNNClassifier

        return DNNClassifier
    if name == "lstm":
        from greenscore.models.torch.lstm import BiLSTMClassifier

        return BiLSTMClassifier
    if name == "tcn":
        from greenscore.models.torch.tcn import TCNClassifier

        return TCNClassifier
    from greenscore.models.torch.gnn import GNNClassifier

    return GNNClassifier


def search_space(trial: Any, arch: str) -> dict[str, Any]:
    """Sample constructor keyword arguments of ``arch`` from an Optuna trial.

    Parameters
    ----------
    trial : optuna.trial.BaseTrial
        A live trial, or ``optuna.trial.FixedTrial(params)`` to rebuild a configuration.
    arch : {"dnn", "lstm", "tcn", "gnn"}
        Architecture (``bilstm`` is accepted for ``lstm``).

    Returns
    -------
    dict
        Keyword arguments for the architecture's classifier.

    Raises
    ------
    ConfigError
        If the architecture is unknown.
    """
    name = _arch(arch)
    if name == "gnn":
        conv = trial.suggest_categorical("conv", ["gcn", "gat"])
        params: dict[str, Any] = {
            "conv": conv,
            "hidden_size": trial.suggest_categorical("hidden_size", [32, 64, 128]),
            "num_layers": trial.suggest_int("num_layers", 1, 3),
            "label_features": trial.suggest_categorical("label_features", [True, False]),
            "head_units": trial.suggest_categorical("head_units", [32, 64, 128]),
            "dropout": trial.suggest_float("dropout", 0.0, 0.5),
            "lr": trial.suggest_float("lr", 1e-3, 3e-2, log=True),
            "weight_decay": trial.suggest_float("weight_decay", 1e-6, 1e-3, log=True),
        }
        if conv == "gat":
            params["heads"] = trial.suggest_categorical("heads", [1, 2, 4])
        return params
    params = {
        "lr": trial.suggest_float("lr", 3e-4, 1e-2, log=True),
        "weight_decay": trial.suggest_float("weight_decay", 1e-6, 1e-3, log=True),
        "dropout": trial.suggest_float("dropout", 0.0, 0.5),
        "batch_size": trial.suggest_categorical("batch_size", [256, 512, 1024]),
    }
    if name == "dnn":
        params |= {
            "hidden_layers": trial.suggest_int("hidden_layers", 1, 4),
            "hidden_units": trial.suggest_categorical("hidden_units", [64, 128, 256, 512]),
            "batch_norm": trial.suggest_categorical("batch_norm", [True, False]),
        }
    elif name == "lstm":
        params |= {
            "hidden_size": trial.suggest_categorical("hidden_size", [16, 32, 64]),
            "num_layers": trial.suggest_int("num_layers", 1, 2),
            "attention_size": trial.suggest_categorical("attention_size", [8, 16, 32]),
            "head_units": trial.suggest_categorical("head_units", [32, 64, 128]),
        }
    else:
        params |= {
            "channels": trial.suggest_categorical("channels", [16, 32, 64]),
            "kernel_size": trial.suggest_int("kernel_size", 2, 3),
            "dilations": DILATIONS[trial.suggest_categorical("dilations", list(DILATIONS))],
            "head_units": trial.suggest_categorical("head_units", [32, 64, 128]),
        }
    return params


@dataclass
class SearchResult:
    """What a search found.

    Attributes
    ----------
    arch : architecture searched.
    energy_unit : ``"kwh"`` (measured) or ``"seconds"`` (fallback when
        :mod:`greenscore.sustainability.energy` is not installed).
    energy_method : how the energy was measured (the meter's own description).
    trials : every completed trial: number, params (constructor kwargs), auc, energy,
        fit_seconds.
    pareto : the non-dominated trials (``study.best_trials``), same fields.
    importance : ``{"auc": {param: share}, "energy": {param: share}}`` (fANOVA).
    best_configs : ``{"max_auc": kwargs, "min_energy": kwargs}`` among the Pareto trials.
    """

    arch: str
    energy_unit: str
    energy_method: str
    trials: list[dict[str, Any]] = field(default_factory=list)
    pareto: list[dict[str, Any]] = field(default_factory=list)
    importance: dict[str, dict[str, float]] = field(default_factory=dict)
    best_configs: dict[str, dict[str, Any]] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready data (tuples become lists)."""
        return asdict(self)


def _energy_meter() -> Any:
    try:
        from greenscore.sustainability.energy import measure_energy
    except ImportError:  # the energy module is optional at this layer
        return None
    return measure_energy


def _objective_value(i: int) -> Callable[[Any], float]:
    """A trial's value of objective ``i`` (what fANOVA explains)."""
    return lambda trial: trial.values[i]


def _importance(study: Any, seed: int) -> dict[str, dict[str, float]]:
    import optuna
    from optuna.importance import FanovaImportanceEvaluator

    out: dict[str, dict[str, float]] = {}
    for i, name in enumerate(OBJECTIVES):
        try:
            scores = optuna.importance.get_param_importances(
                study,
                evaluator=FanovaImportanceEvaluator(seed=seed),
                target=_objective_value(i),
            )
        except (RuntimeError, ValueError) as exc:
            # Too few trials or no varying parameter: say so instead of inventing shares.
            log.info("no importance", extra={"objective": name, "reason": str(exc)})
            scores = {}
        out[name] = {k: float(v) for k, v in scores.items()}
    return out


def run_search(
    arch: str,
    X: pd.DataFrame,  # noqa: N803
    y: Any,
    *,
    spec: DatasetSpec | None = None,
    relations: pd.DataFrame | None = None,
    n_trials: int = 20,
    timeout: float | None = None,
    holdout: float = 0.2,
    seed: int = 42,
    fixed_params: dict[str, Any] | None = None,
    storage: str | None = None,
    study_name: str | None = None,
) -> SearchResult:
    """Multi-objective search: hold-out AUC (max) against energy per fit (min).

    Parameters
    ----------
    arch : {"dnn", "lstm", "tcn", "gnn"}
        Architecture to tune.
    X, y : DataFrame and 0/1 array
        Rows to search on; a stratified ``holdout`` share scores each trial.
    spec : DatasetSpec, optional
        Passed to every estimator.
    relations : DataFrame, optional
        Borrower edges for the GNN (None: kNN graph).
    n_trials, timeout : int, float
        Study budget.
    holdout : float
        Share of rows held out for the AUC.
    seed : int
        Seed of the sampler, the split and every fit.
    fixed_params : dict, optional
        Constructor kwargs applied to every trial (e.g. ``{"max_epochs": 5}``).
    storage, study_name : str, optional
        Optuna RDB storage URL and study name, for parallel workers.

    Returns
    -------
    SearchResult
    """
    import optuna

    name = _arch(arch)
    X = check_frame(X, "run_search")
    y = check_target(y, len(X))
    cls = estimator_class(name)
    fit_rows, score_rows = train_test_split(
        np.arange(len(y)), test_size=holdout, stratify=y, random_state=seed
    )
    X_fit, y_fit = X.iloc[fit_rows], y[fit_rows]  # noqa: N806
    X_score, y_score = X.iloc[score_rows], y[score_rows]  # noqa: N806
    meter = _energy_meter()
    unit = "kwh" if meter is not None else "seconds"
    methods: list[str] = []

    def build(params: dict[str, Any]) -> Any:
        extra = {"relations": relations} if name == "gnn" else {}
        return cls(spec=spec, random_state=seed, **extra, **(fixed_params or {}), **params)

    def objective(trial: Any) -> tuple[float, float]:
        model = build(search_space(trial, name))
        started = time.perf_counter()
        kwh = math.nan
        if meter is not None:
            with meter(f"fit:{name}") as reading:
                model.fit(X_fit, y_fit)
            kwh = reading.kwh
            methods.append(reading.method)
        else:
            model.fit(X_fit, y_fit)
        seconds = time.perf_counter() - started
        trial.set_user_attr("fit_seconds", seconds)
        trial.set_user_attr("energy_kwh", kwh)
        auc = float(roc_auc_score(y_score, model.predict_proba(X_score)[:, 1]))
        # A NaN objective marks the trial failed: a fit whose energy the meter could not
        # read has no place on an accuracy-versus-energy front.
        return auc, kwh if unit == "kwh" else seconds

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(
        directions=["maximize", "minimize"],
        sampler=optuna.samplers.TPESampler(seed=seed),
        storage=storage,
        study_name=study_name,
        load_if_exists=storage is not None,
    )
    study.optimize(objective, n_trials=n_trials, timeout=timeout)
    complete = [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]

    def record(t: Any) -> dict[str, Any]:
        return {
            "number": t.number,
            "params": search_space(optuna.trial.FixedTrial(t.params), name),
            "auc": float(t.values[0]),
            "energy": float(t.values[1]),
            "fit_seconds": float(t.user_attrs["fit_seconds"]),
        }

    pareto = sorted((record(t) for t in study.best_trials), key=lambda r: -r["auc"])
    best = {}
    if pareto:
        best = {
            "max_auc": pareto[0]["params"],
            "min_energy": min(pareto, key=lambda r: r["energy"])["params"],
        }
    method = methods[-1] if methods else "fit seconds (no energy meter installed)"
    return SearchResult(
        arch=name,
        energy_unit=unit,
        energy_method=method,
        trials=[record(t) for t in complete],
        pareto=pareto,
        importance=_importance(study, seed) if len(complete) >= 2 else {},
        best_configs=best,
    )
