"""``greenscore card``, ``greenscore dossier`` and ``greenscore datasheet``: documents
generated from a train run's files and from a dataset's spec and profile.

``train`` writes the card and the dossier itself (and attaches them to its MLflow run);
these commands regenerate them, e.g. after a reviewer records an approval in the run's
``card.yaml``, or with further evidence folders cited.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from greenscore.commands.data import DataOpt, PresetOpt, QueryOpt, SpecOpt, TargetOpt

ModelOpt = Annotated[
    Path,
    typer.Option("--model", "-m", help="A train run folder, its model/ or models/NAME bundle."),
]
OutOpt = Annotated[
    Path | None,
    typer.Option("--out", "-o", help="Folder for the documents (default: the run folder)."),
]


def card_command(model: ModelOpt, out: OutOpt = None) -> None:
    """Write the model card (model_card.md and .html) from a train run's files."""
    from greenscore.documentation.card import write_card

    paths = write_card(model, out)
    typer.echo("wrote " + ", ".join(str(p) for p in paths))


def dossier_command(
    model: ModelOpt,
    out: OutOpt = None,
    evidence: Annotated[
        list[Path] | None,
        typer.Option(
            "--evidence",
            "-e",
            help="A folder of further reports to cite with their hashes (fairness, explain, "
            "compliance, monitor output); repeat for more.",
        ),
    ] = None,
) -> None:
    """Write the SR 11-7 documentation pack and EU AI Act Annex IV document of a run."""
    from greenscore.documentation.dossier import write_dossier

    for folder in evidence or []:
        if not folder.is_dir():
            raise typer.BadParameter(f"{folder} is not a folder", param_hint="--evidence")
    paths = write_dossier(model, out, evidence or [])
    typer.echo("wrote " + ", ".join(str(p) for p in paths))


def datasheet_command(
    data: DataOpt,
    out: Annotated[
        Path,
        typer.Option(
            "--out", "-o", help="The datasheet, NAME.md (NAME.html beside; facts in NAME.yaml)."
        ),
    ],
    preset: PresetOpt = None,
    spec: SpecOpt = None,
    target: TargetOpt = None,
    query: QueryOpt = None,
    facts: Annotated[
        Path | None,
        typer.Option("--facts", help="Facts YAML (default: NAME.yaml beside the datasheet)."),
    ] = None,
) -> None:
    """Write a datasheet (Gebru et al.) from the spec and a profile, with the facts file's prose."""
    from greenscore.data.loading import load_dataset
    from greenscore.documentation.datasheet import write_datasheet

    dataset = load_dataset(data, preset=preset, spec_path=spec, target=target, query=query)
    paths = write_datasheet(dataset, out, facts)
    typer.echo("wrote " + ", ".join(str(p) for p in paths))


def register(app: typer.Typer) -> None:
    """Add ``card``, ``dossier`` and ``datasheet`` to the CLI."""
    app.command("card")(card_command)
    app.command("dossier")(dossier_command)
    app.command("datasheet")(datasheet_command)
