"""Model names the CLI accepts, how each is built, and what ``--models auto`` picks.

Every entry builds a scikit-learn classifier that takes the feature pipeline's output, so
cross-validation, tracking, energy metering, bundles and explainers treat all alike.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pandas as pd

from greenscore.data.spec import DatasetSpec
from greenscore.errors import ConfigError

Factory = Callable[..., Any]


def _scorecard(
    *, spec: DatasetSpec, relations: pd.DataFrame | None, seed: int, params: dict[str, Any]
) -> Any:
    from greenscore.config import get_settings
    from greenscore.models.scorecard import WoEScorecardClassifier

    settings = get_settings()
    scoring = settings.scoring
    defaults = {
        "max_characteristics": settings.training.scorecard_characteristics,
        # The spec's columns are the given ones; the rest are built by the feature
        # pipeline and give way to a given column they nearly duplicate.
        "given_features": spec.feature_columns(),
    }
    return WoEScorecardClassifier(
        base_score=scoring.base_score,
        base_odds=scoring.base_odds,
        pdo=scoring.pdo,
        **{**defaults, **params},
    )


def _lightgbm(
    *, spec: DatasetSpec, relations: pd.DataFrame | None, seed: int, params: dict[str, Any]
) -> Any:
    from greenscore.config import get_settings
    from greenscore.models.gbm import LightGBMCreditClassifier

    params.setdefault("monotone", dict(spec.monotone) or None)
    return LightGBMCreditClassifier(
        random_state=seed, n_jobs=get_settings().training.n_jobs, **params
    )


def _torch(class_name: str, *, needs_relations: bool = False) -> Factory:
    def build(
        *, spec: DatasetSpec, relations: pd.DataFrame | None, seed: int, params: dict[str, Any]
    ) -> Any:
        import greenscore.models.torch as nets

        cls = getattr(nets, class_name)
        extra = {"relations": relations} if needs_relations else {}
        return cls(spec=spec, random_state=seed, **extra, **params)

    return build


FACTORIES: dict[str, Factory] = {
    "scorecard": _scorecard,
    "lightgbm": _lightgbm,
    "dnn": _torch("DNNClassifier"),
    "lstm": _torch("BiLSTMClassifier"),
    "tcn": _torch("TCNClassifier"),
    "gnn": _torch("GNNClassifier", needs_relations=True),
}
TUNABLE = {"lightgbm"}


def make_estimator(
    name: str,
    *,
    spec: DatasetSpec,
    relations: pd.DataFrame | None = None,
    seed: int = 42,
    params: dict[str, Any] | None = None,
) -> Any:
    """Build an unfitted classifier by name.

    Raises
    ------
    ConfigError
        If the name is unknown (the known names are listed).
    """
    if name not in FACTORIES:
        raise ConfigError(f"unknown model '{name}'; choose from: {', '.join(FACTORIES)} or auto")
    return FACTORIES[name](spec=spec, relations=relations, seed=seed, params=dict(params or {}))


def parse_models(text: str, *, spec: DatasetSpec, n_rows: int, has_relations: bool) -> list[str]:
    """Turn ``--models`` (comma list or ``auto``) into model names, checked."""
    if text.strip() == "auto":
        return auto_models(spec=spec, n_rows=n_rows, has_relations=has_relations)
    names = [n.strip() for n in text.split(",") if n.strip()]
    if not names:
        raise ConfigError("--models is empty; give e.g. scorecard,lightgbm or auto")
    for name in names:
        if name not in FACTORIES:
            raise ConfigError(
                f"unknown model '{name}'; choose from: {', '.join(FACTORIES)} or auto"
            )
    if "gnn" in names and not has_relations and n_rows > 50_000:
        raise ConfigError("gnn without relations builds a kNN graph; too large above 50,000 rows")
    return names


def auto_models(*, spec: DatasetSpec, n_rows: int, has_relations: bool) -> list[str]:
    """Pick models for the data size: the scorecard and LightGBM always; nets only where
    they have structure to use (sequences, relations) and enough rows to learn it."""
    names = ["scorecard", "lightgbm"]
    if n_rows >= 5_000 and spec.sequences:
        names.append("lstm")
    if n_rows >= 5_000 and has_relations:
        names.append("gnn")
    return names


def auto_tune_trials(n_rows: int) -> int:
    """Tuning budget for ``auto``: more trials where fits are cheap."""
    if n_rows <= 5_000:
        return 30
    if n_rows <= 50_000:
        return 20
    return 10
