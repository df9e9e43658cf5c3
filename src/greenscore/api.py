"""The Python API: what ``greenscore train``, ``score`` and ``explain`` do, for notebooks.

Thin, typed functions over the same workflows the command line runs, so a notebook and
the CLI give the same models, the same PDs and the same reasons. They are importable from
the package itself (``from greenscore import train``); importing ``greenscore`` loads
none of this until a function is first used.

Examples
--------
::

    import greenscore as gs

    run = gs.train("applications.csv", target="default", cv=5, out="runs/first")
    print(run.best, run.metrics["models"][run.best]["auc"])
    model = gs.load_model("runs/first/model")      # or "models:/my-pd@champion"
    scored = gs.score(model, "new_applications.csv")  # PD, points, decision per row
    report = gs.explain_applicants(model, "new_applications.csv", out="explain/")
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeAlias

import numpy as np
import pandas as pd

from greenscore.config import get_settings
from greenscore.data.io import read_table
from greenscore.data.loading import load_dataset
from greenscore.models.bundle import ScoringBundle
from greenscore.models.runtime import ScoringRuntime
from greenscore.tracking.registry import load_bundle
from greenscore.workflows.cutoffs import override_cutoffs
from greenscore.workflows.score import unlinked_warning, with_relations_beside
from greenscore.workflows.train import TrainResult
from greenscore.workflows.train import train as run_training
from greenscore.workflows.train_plan import DEFAULT_MODELS, plan_training

__all__ = [
    "ScoringBundle",
    "TrainResult",
    "ValidationWarning",
    "explain_applicants",
    "load_model",
    "member_contributions",
    "score",
    "train",
]

#: A model given to :func:`score` or :func:`explain_applicants`: loaded, or where to load it.
Model = ScoringBundle | str | Path
#: Applications: a frame of raw rows, a file path or a database URL.
Data: TypeAlias = pd.DataFrame | str | Path


class ValidationWarning(UserWarning):
    """A validation finding that does not stop training (shown once per message)."""


def train(
    data: str | Path,
    *,
    target: str | None = None,
    preset: str | None = None,
    spec: str | Path | None = None,
    query: str | None = None,
    models: str | Sequence[str] = DEFAULT_MODELS,
    cv: int | None = None,
    cv_strategy: str = "stratified",
    tune_trials: int | None = None,
    sampler: str | None = None,
    register: str | None = None,
    out: str | Path = "train-out",
    force: bool = False,
    seed: int | None = None,
    approve_below: float | None = None,
    decline_above: float | None = None,
    time_budget: str | float | None = None,
    fairness_constraint: str | None = None,
    max_gap: float = 0.05,
    progress: Callable[[str, float], None] | None = None,
) -> TrainResult:
    """Cross-validate credit models on a file and fit the final ones, as ``greenscore train``.

    Parameters
    ----------
    data : str or Path
        Applications file (CSV, JSON, Parquet) or a database URL (with ``query``).
    target, preset, spec : str or Path, optional
        What the columns mean, one of: the target column (the rest is inferred), a
        built-in preset (``taiwan``, ``german``, ``credit_risk``, ``synthetic``) or a
        DatasetSpec YAML file.
    query : str, optional
        SQL query when ``data`` is a database URL.
    models : str or sequence of str, default "scorecard,lightgbm"
        Model names (``scorecard``, ``lightgbm``, ``catboost``, ``xgboost``, ``logistic``,
        ``logistic_woe``, ``extratrees``, ``randomforest``, ``dnn``, ``lstm``, ``tcn``,
        ``gnn``, ``ensemble`` or ``ensemble:scorecard+lightgbm+logistic``) or ``"auto"``:
        an ensemble whose members and tuning fit ``time_budget``.
    cv : int, optional
        Cross-validation folds (2 to 20); default the settings' ``training.cv_folds`` (5).
    cv_strategy : {"stratified", "time"}
        ``time`` needs the spec's time column.
    tune_trials : int, optional
        Optuna trials for every tunable model (default: ``settings.training.tune_trials``;
        with ``auto``, the most per member, as the budget allows).
    sampler : str, optional
        Imbalance sampler on training folds (``smote``, ``random_under``, ...).
    register : str, optional
        Register the best model in the MLflow registry under this name.
    out : str or Path, default "train-out"
        Folder for ``metrics.json``, ``report.html``, ``model/`` and ``models/``.
    force : bool, default False
        Write into ``out`` even when it is not empty.
    seed : int, optional
        Seed of the whole run (default: ``settings.seed``).
    approve_below, decline_above : float, optional
        Decision cut-offs on the PD stored in the bundles (default: ``settings.scoring``).
    time_budget : str or float, optional
        Wall time of an ``auto`` ensemble (``"20m"``, ``"90s"`` or seconds; default 20m).
    fairness_constraint : str, optional
        ``demographic_parity`` or ``equalized_odds`` (``:ATTRIBUTE`` to name the
        protected column): train every model under it.
    max_gap : float, default 0.05
        Largest gap between groups the constraint allows.
    progress : callable, optional
        Called with ``(message, advance)`` after each fold and final fit.

    Returns
    -------
    TrainResult
        ``metrics`` (what ``metrics.json`` holds), ``results`` (per model: out-of-fold
        PDs, fold metrics, the fitted ``bundle``), ``best``, ``out``, ``run_id`` and
        ``registered_version``.

    Raises
    ------
    ConfigError
        For a bad option or a non-empty ``out`` without ``force``.
    DataError
        When the data cannot be read or fails validation.

    Warns
    -----
    ValidationWarning
        For each validation warning about the data.
    """
    dataset, options, findings = plan_training(
        data,
        preset=preset,
        spec=spec,
        target=target,
        query=query,
        models=models,
        cv=cv,
        cv_strategy=cv_strategy,
        tune_trials=tune_trials,
        sampler=sampler,
        register=register,
        out=out,
        force=force,
        seed=seed,
        approve_below=approve_below,
        decline_above=decline_above,
        time_budget=time_budget,
        fairness_constraint=fairness_constraint,
        max_gap=max_gap,
    )
    for message in findings:
        warnings.warn(message, ValidationWarning, stacklevel=2)
    return run_training(dataset, options, progress=progress)


def load_model(uri: str | Path) -> ScoringBundle:
    """Load a trained model: a bundle folder or a registry URI.

    Parameters
    ----------
    uri : str or Path
        A folder written by :func:`train` (e.g. ``runs/first/model``),
        ``models:/NAME/VERSION``, ``models:/NAME@ALIAS`` or ``models:/NAME/latest``.

    Returns
    -------
    ScoringBundle
        The fitted pipeline, its spec, its cut-offs and its metadata.

    Raises
    ------
    NotFoundError
        If there is no such folder, model, version or alias.
    """
    return load_bundle(uri)


def _bundle(model: Model) -> ScoringBundle:
    return model if isinstance(model, ScoringBundle) else load_model(model)


def _raw_frame(data: Data, query: str | None) -> pd.DataFrame:
    """Raw applications as read from a file; the bundle cleans them itself when scoring."""
    return data if isinstance(data, pd.DataFrame) else read_table(data, query=query)


def score(
    model: Model,
    data: Data,
    *,
    query: str | None = None,
    approve_below: float | None = None,
    decline_above: float | None = None,
    relations: Data | None = None,
) -> pd.DataFrame:
    """Score applications: probability of default, points and decision per row.

    Parameters
    ----------
    model : ScoringBundle, str or Path
        A loaded model, or a folder or registry URI for :func:`load_model`.
    data : DataFrame, str or Path
        Raw application rows, a file or a database URL (with ``query``).
    query : str, optional
        SQL query when ``data`` is a database URL.
    approve_below, decline_above : float, optional
        Cut-offs for this call instead of the model's own (a warning says so).
    relations : DataFrame, str or Path, optional
        The applicants' borrower links (an edge table like the training relations, or a
        file of one) for a model with relational features or a GNN. Default: for a file
        or folder, the relations file beside it, as ``greenscore score`` reads it; none
        for a frame or a database.

    Returns
    -------
    DataFrame
        One row per input row, same order and index: the id column when the spec has
        one, ``probability_of_default``, ``score`` and ``decision``.

    Warns
    -----
    UserWarning
        When the cut-offs given differ from the model's.
    """
    bundle, note = override_cutoffs(
        _linked(_bundle(model), data, query, relations),
        approve_below=approve_below,
        decline_above=decline_above,
    )
    if note:
        warnings.warn(note, UserWarning, stacklevel=2)
    return ScoringRuntime(bundle).score_frame(_raw_frame(data, query))


def _linked(
    bundle: ScoringBundle, data: Data, query: str | None, relations: Data | None
) -> ScoringBundle:
    """The bundle with the applicants' borrower links: ``relations`` when given, else the
    relations file beside a file or folder of applications (as ``greenscore score``).

    Warns
    -----
    UserWarning
        When the model reads links and none came (:func:`unlinked_warning`).
    """
    if relations is not None:
        links = relations if isinstance(relations, pd.DataFrame) else read_table(relations)
        return bundle.with_relations(links)
    found = 0
    if not isinstance(data, pd.DataFrame):
        bundle, found = with_relations_beside(bundle, data, query=query)
    if warning := unlinked_warning(bundle, found):
        warnings.warn(f"{warning}; pass relations=", UserWarning, stacklevel=3)
    return bundle


def member_contributions(model: Model, data: Data, *, query: str | None = None) -> pd.DataFrame:
    """Each ensemble member's part of every applicant's reasons, per model feature.

    Parameters
    ----------
    model : ScoringBundle, str or Path
        An ensemble bundle (``--models auto`` or ``ensemble``), or where to load one.
    data : DataFrame, str or Path
        Raw application rows, a file or a database URL (with ``query``); a file's
        borrower links (the relations file beside it) join the model's graph, as in
        :func:`score`.

    Returns
    -------
    DataFrame
        One row per applicant and weighted member (index: the applicant's id or row, and
        ``member``): ``weight``, ``exact`` and one column per model feature holding the
        member's weighted log-odds contribution on the served scale. Summed over the
        members of an applicant, the feature columns are the contributions its reason
        codes are ranked by.

    Raises
    ------
    ModelError
        If the model is not an ensemble.
    """
    bundle = _linked(_bundle(model), data, query, None)
    runtime = ScoringRuntime(bundle)
    X = bundle.model_input(_raw_frame(data, query))  # noqa: N806
    # Repaired as every consumer repairs inputs (clipped to the training range, say).
    encoded = runtime.encode_frame(bundle.input_rules(list(X.columns)).repair(X))
    parts = runtime.member_contributions(encoded)
    blocks = [
        pd.DataFrame(part.weight * part.values, columns=list(runtime.model_features)).assign(
            member=part.name, weight=part.weight, exact=part.exact, position=np.arange(len(X))
        )
        for part in parts
    ]
    out = pd.concat(blocks, ignore_index=True).sort_values("position", kind="stable")
    out.index = pd.MultiIndex.from_arrays(
        [np.asarray(encoded.ids, dtype=object)[out["position"]], out["member"]],
        names=["applicant", "member"],
    )
    return out[["weight", "exact", *runtime.model_features]]


def explain_applicants(
    model: Model,
    data: Data,
    *,
    out: str | Path,
    rows: Sequence[int] | None = None,
    shap_rows: int = 1000,
    lime: bool = True,
    counterfactuals: bool = True,
    seed: int | None = None,
) -> dict[str, Any]:
    """Reason codes for every applicant, SHAP, LIME and counterfactuals, as ``greenscore explain``.

    (Not named ``explain``: that is the name of the :mod:`greenscore.explain` package.)

    Parameters
    ----------
    model : ScoringBundle, str or Path
        A loaded model, or a folder or registry URI for :func:`load_model`.
    data : DataFrame, str or Path
        Raw application rows (a file is read with the model's spec), or a database URL.
    out : str or Path
        Folder for ``explanation.json``, ``reason_codes.csv`` and the plots.
    rows : sequence of int, optional
        0-based rows explained in detail (default: the first declined applicants).
    shap_rows : int, default 1000
        Rows sampled for the global SHAP importance.
    lime, counterfactuals : bool, default True
        Whether to run LIME and DiCE on the chosen rows.
    seed : int, optional
        Seed of every sampled step (default: ``settings.seed``).

    Returns
    -------
    dict
        What ``explanation.json`` holds: per chosen row its decision, PD, score and
        reason codes, global importance, files written and notes.
    """
    # SHAP, LIME and DiCE load only when an explanation is asked for.
    from greenscore.explain.report import explain_report

    bundle = _bundle(model)
    if isinstance(data, pd.DataFrame):
        frame = data
    else:
        # The applications' links join the model's graph, as greenscore explain reads them.
        dataset = load_dataset(data, spec=bundle.spec)
        bundle, frame = bundle.with_relations(dataset.relations), dataset.frame
    return explain_report(
        bundle,
        frame,
        out,
        rows=rows,
        max_shap_rows=shap_rows,
        lime=lime,
        counterfactuals=counterfactuals,
        seed=get_settings().seed if seed is None else seed,
    )
