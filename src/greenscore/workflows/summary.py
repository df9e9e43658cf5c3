"""Rich tables that summarise a train for the terminal."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.table import Table


def print_train_summary(metrics: dict[str, Any], *, console: Console | None = None) -> None:
    """One row per model: AUC ± std, Gini, KS, Brier, ECE, fit time, energy and CO2."""
    # Off a terminal (CI logs, pipes) Rich would squeeze the table into 80 columns.
    console = console or Console(width=None if Console().is_terminal else 160)
    table = Table(
        title=f"cross-validated ({metrics['cv']['folds']} folds, {metrics['cv']['strategy']})"
    )
    for column in (
        "model",
        "AUC",
        "Gini",
        "KS",
        "Brier",
        "ECE",
        "fit s",
        "kWh/fit",
        "g CO2e/fit",
        "kWh/1k pred",
    ):
        table.add_column(column, justify="right" if column != "model" else "left")
    for name, m in metrics["models"].items():
        marker = " *" if name == metrics["best"] else ""
        table.add_row(
            name + marker,
            f"{m['auc']:.4f}±{m['auc_std']:.4f}",
            f"{m['gini']:.4f}",
            f"{m['ks']:.4f}",
            f"{m['brier']:.4f}",
            f"{m['ece']:.4f}",
            f"{m['fit_seconds']:.1f}",
            f"{m['energy_kwh']:.2e}",
            f"{m['co2_kg'] * 1000:.3f}",
            f"{m['energy_kwh_per_1k_predictions']:.2e}",
        )
    console.print(table)
    method = next(iter(metrics["models"].values()))["energy_method"]
    console.print(f"energy measured by: {method}", highlight=False)
