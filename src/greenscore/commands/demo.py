"""``greenscore demo``: the whole product on generated data, in a few minutes."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer


def demo_command(
    rows: Annotated[int, typer.Option(help="Applications to generate.", min=500)] = 10_000,
    out: Annotated[Path, typer.Option("--out", "-o", help="Output folder.")] = Path("demo-out"),
    seed: Annotated[int | None, typer.Option(help="Seed (default: settings).")] = None,
) -> None:
    """Generate data, validate, profile, train and explain; write DIR/summary.json."""
    from rich.console import Console

    from greenscore.commands.progress import run_with_progress
    from greenscore.workflows.demo import demo_steps, run_demo
    from greenscore.workflows.summary import print_train_summary

    summary = run_with_progress(
        "demo", demo_steps(rows), lambda p: run_demo(rows=rows, out=out, seed=seed, progress=p)
    )
    import json

    metrics = json.loads(Path(summary["paths"]["metrics"]).read_text("utf-8"))
    console = Console(width=None if Console().is_terminal else 160)
    print_train_summary(metrics, console=console)
    declined = summary.get("declined_applicant")
    if declined:
        console.print(
            f"\n[bold]Declined applicant {declined['applicant_id']}[/bold]: PD {declined['probability_of_default']:.1%}, "
            f"score {declined['score']:.0f}. Principal reasons:"
        )
        for code in declined["reason_codes"]:
            console.print(f"  {code['code']}  {code['text']}", highlight=False)
    console.print(f"\nwrote {out / 'summary.json'}; report: {summary['paths']['report']}")
    console.print(
        f"serve this model:  greenscore serve --model {summary['paths']['model']} --port 8000",
        highlight=False,
    )


def register(app: typer.Typer) -> None:
    """Add demo to the CLI."""
    app.command("demo")(demo_command)
