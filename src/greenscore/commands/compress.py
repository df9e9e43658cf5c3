"""``greenscore compress``: prune, quantize or distill a model into smaller, faster bundles.

Reads the data with the model's own spec, writes each variant as an ordinary bundle under
``--out/models/``, the smallest one within the AUC tolerance as ``--out/model``, and one
table (``compression.md``, ``compression.json``) measuring them all against the original.
"""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer


class Pruning(StrEnum):
    """``--prune`` (Typer checks the choices: exit 2 with the usage)."""

    structured = "structured"
    magnitude = "magnitude"


class Scheme(StrEnum):
    """``--quantization``."""

    static = "static"
    dynamic = "dynamic"
    qat = "qat"


class Student(StrEnum):
    """``--student``."""

    lightgbm = "lightgbm"
    mlp = "mlp"


def _methods(value: str) -> str:
    """``--method``: checked at parse time, so a mistake is a usage error (exit 2)."""
    from greenscore.errors import ConfigError
    from greenscore.workflows.compress import parse_methods

    try:
        parse_methods(value)
    except ConfigError as exc:
        raise typer.BadParameter(exc.message) from None
    return value


def compress_command(
    model: Annotated[
        str,
        typer.Option(
            "--model", "-m", help="Bundle folder or models:/NAME/VERSION or models:/NAME@alias."
        ),
    ],
    data: Annotated[
        str,
        typer.Option(
            "--data",
            "-d",
            help="Applications with outcomes, read with the model's spec: fine-tuning, "
            "students and INT8 calibration use most of them, the AUC gate the rest.",
        ),
    ],
    method: Annotated[
        str,
        typer.Option(
            "--method",
            callback=_methods,
            help="prune, quantize, distill (a comma list) or all. prune and quantize need a "
            "DNN; distill takes any model as the teacher.",
        ),
    ] = "all",
    out: Annotated[Path, typer.Option("--out", "-o", help="Output folder.")] = Path("compress-out"),
    valid: Annotated[
        str | None,
        typer.Option(
            "--valid",
            help="Rows the model never trained on, to validate every step on (default: "
            "a fifth of --data, which a model trained on --data has seen).",
        ),
    ] = None,
    holdout: Annotated[
        str | None,
        typer.Option(
            "--holdout", help="Rows the table is measured on (default: the validation rows)."
        ),
    ] = None,
    prune: Annotated[
        Pruning,
        typer.Option(
            "--prune",
            help="structured (removes neurons: smaller and faster) or magnitude (zeroes "
            "weights: a dense file stays as large).",
        ),
    ] = Pruning.structured,
    sparsity: Annotated[
        float,
        typer.Option(
            "--sparsity", min=0.0, max=0.95, help="Share of neurons (or weights) to prune."
        ),
    ] = 0.5,
    prune_steps: Annotated[
        int, typer.Option("--prune-steps", min=1, max=20, help="Prune -> fine-tune rounds.")
    ] = 3,
    quantization: Annotated[
        Scheme,
        typer.Option(
            "--quantization",
            help="static (fixed activation scales: a row's PD does not depend on its batch), "
            "dynamic, or qat (quantization-aware fine-tuning, then static).",
        ),
    ] = Scheme.static,
    student: Annotated[
        Student,
        typer.Option("--student", help="Distilled student: lightgbm or mlp."),
    ] = Student.lightgbm,
    student_size: Annotated[
        int,
        typer.Option(
            "--student-size", min=4, help="Trees of a LightGBM student; 3x the units of an MLP's."
        ),
    ] = 100,
    temperature: Annotated[
        float, typer.Option("--temperature", min=0.05, help="Softening of the teacher's targets.")
    ] = 2.0,
    alpha: Annotated[
        float,
        typer.Option("--alpha", min=0.0, max=1.0, help="Weight of the soft targets (vs outcomes)."),
    ] = 0.7,
    tolerance: Annotated[
        float,
        typer.Option("--tolerance", min=0.0, max=0.5, help="Largest AUC loss a step may cause."),
    ] = 0.005,
    epochs: Annotated[
        int, typer.Option("--epochs", min=0, max=100, help="Fine-tuning epochs per step.")
    ] = 3,
    force: Annotated[
        bool, typer.Option("--force", "-f", help="Write over a non-empty --out folder.")
    ] = False,
    seed: Annotated[
        int | None, typer.Option("--seed", help="Seed (default: settings.seed).")
    ] = None,
) -> None:
    """Compress a model: new bundles and one table of size, speed, energy, AUC and fairness."""
    from greenscore.config import get_settings
    from greenscore.data.loading import load_dataset
    from greenscore.tracking.registry import load_bundle
    from greenscore.workflows.compress import CompressOptions, compress, parse_methods
    from greenscore.workflows.out_folder import check_out_folder

    methods = parse_methods(method)
    check_out_folder(out, force=force)
    bundle = load_bundle(model)
    dataset = load_dataset(data, spec=bundle.spec)
    rows = load_dataset(holdout, spec=bundle.spec) if holdout else None
    checked = load_dataset(valid, spec=bundle.spec) if valid else None
    options = CompressOptions(
        methods=methods,
        out=out,
        prune=prune.value,
        sparsity=sparsity,
        prune_steps=prune_steps,
        quantization=quantization.value,
        student=student.value,
        student_size=student_size,
        temperature=temperature,
        alpha=alpha,
        tolerance=tolerance,
        epochs=epochs,
        seed=get_settings().seed if seed is None else seed,
    )
    result = compress(
        bundle,
        dataset,
        options,
        holdout=rows,
        valid=checked,
        progress=lambda m: typer.echo(m, err=True),
    )
    typer.echo((out / "compression.md").read_text("utf-8"))
    if result.chosen is None:
        typer.secho(
            f"no variant stayed within {tolerance} AUC of the original; nothing in {out / 'model'}",
            fg="yellow",
            err=True,
        )
    else:
        typer.echo(f"wrote {out / 'model'} ({result.chosen}) and {out / 'compression.md'}")


def register(app: typer.Typer) -> None:
    """Add compress to the CLI."""
    app.command("compress")(compress_command)
