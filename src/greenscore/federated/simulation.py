"""``greenscore federate simulate``: lenders cut from one dataset, trained together.

The dataset is split into lenders (:mod:`.partition`); each lender gets a folder under
``OUT/lenders/<name>/`` holding its rows (``data.parquet``), its own GreenScore home
(audit log, privacy ledger, energy) and, after the run, its personalised model. The
ServerApp's federation then runs over those lenders on the in-process engine
(:class:`~.local_grid.LocalGrid`: the same ServerApp, strategies, mods and ClientApp as a
deployment, lenders one after another; the federated-learning ADR says why not Ray).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from greenscore.data.loading import Dataset
from greenscore.federated.federation import FederationResult, run_federation
from greenscore.federated.partition import split_lenders
from greenscore.federated.plan import FederationPlan
from greenscore.json_document import write_json

if TYPE_CHECKING:
    from flwr.app import UserConfigValue

LENDERS_FILE = "lenders.json"


def lender_names(count: int) -> list[str]:
    """``lender-1`` .. ``lender-N``."""
    return [f"lender-{k + 1}" for k in range(count)]


def prepare_lenders(
    dataset: Dataset,
    *,
    out: Path,
    lenders: int,
    split: str,
    alpha: float = 0.5,
    seed: int = 42,
) -> dict[str, dict[str, str]]:
    """Split ``dataset`` into lender folders; return each lender's node config.

    Raises
    ------
    ConfigError, DataError
        From the splitter (bad split name, too few rows, no region column).
    """
    parts = split_lenders(
        dataset.frame, dataset.y, method=split, lenders=lenders, alpha=alpha, seed=seed
    )
    configs: dict[str, dict[str, str]] = {}
    for name, rows in zip(lender_names(lenders), parts, strict=True):
        folder = out / "lenders" / name
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / "data.parquet"
        dataset.frame.iloc[rows].to_parquet(path, index=False)
        configs[name] = {
            "lender": name,
            "data": str(path.resolve()),
            "home": str((folder / "home").resolve()),
            "model-dir": str((folder / "model").resolve()),
        }
    write_json(out / "lenders" / LENDERS_FILE, configs)
    return configs


def lender_summary(
    dataset: Dataset, configs: Mapping[str, Mapping[str, str]]
) -> dict[str, dict[str, float]]:
    """Rows and default rate of each lender (for the report)."""
    import pandas as pd

    out = {}
    for name, config in configs.items():
        frame = pd.read_parquet(config["data"])
        from greenscore.data.loading import encode_target

        y = encode_target(frame[dataset.spec.target], dataset.spec)
        out[name] = {"rows": float(len(y)), "default_rate": float(np.mean(y))}
    return out


def simulate(
    plan: FederationPlan,
    node_configs: Mapping[str, Mapping[str, UserConfigValue]],
    *,
    availability: Mapping[str, float] | None = None,
) -> FederationResult:
    """Run the federation over simulated lenders.

    Parameters
    ----------
    plan : the checked plan (``plan.out`` receives the outputs).
    node_configs : lender -> node config (from :func:`prepare_lenders`).
    availability : lender -> chance it answers a message (default: always).
    """
    import logging

    from greenscore.federated.client_app import app as client_app
    from greenscore.federated.local_grid import LocalGrid

    # Flower narrates every round at INFO; in one process with the lenders that is noise
    # (GreenScore's own log and the command's summary say what happened).
    logging.getLogger("flwr").setLevel(max(logging.WARNING, logging.getLogger().level))
    grid = LocalGrid(
        client_app=client_app,
        node_configs=node_configs,
        run_config=plan.to_run_config(),
        availability=dict(availability or {}),
        seed=plan.seed,
    )
    return run_federation(grid, plan)


def simulate_file(
    data: str | Path,
    *,
    plan: FederationPlan,
    lenders: int,
    split: str,
    alpha: float = 0.5,
    preset: str | None = None,
    spec: str | Path | None = None,
    target: str | None = None,
    force: bool = False,
    availability: Mapping[str, float] | None = None,
) -> tuple[FederationResult, dict[str, dict[str, float]]]:
    """Load and validate ``data``, cut it into lenders under ``plan.out`` and federate.

    Returns the run's result and each lender's rows and default rate.

    Raises
    ------
    ConfigError
        For a bad option or a non-empty ``plan.out`` without ``force``.
    DataError
        When the data cannot be read, fails validation, or cannot be split.
    """
    from greenscore.workflows.load import load_validated
    from greenscore.workflows.out_folder import check_out_folder

    plan.check()
    out = check_out_folder(plan.out, force=force)
    dataset, _warnings = load_validated(data, preset=preset, spec_path=spec, target=target)
    plan.spec = dataset.spec.to_yaml()
    configs = prepare_lenders(
        dataset, out=out, lenders=lenders, split=split, alpha=alpha, seed=plan.seed
    )
    summary = lender_summary(dataset, configs)
    result = simulate(plan, configs, availability=availability)
    result.extra["lenders"] = summary
    (out / "federation.json").write_text(result.to_json(), "utf-8")
    return result, summary
