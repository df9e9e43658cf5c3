"""Rich progress bars around a long job that reports (message, advance) as it goes."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

T = TypeVar("T")


def run_with_progress(
    title: str, total: float, job: Callable[[Callable[[str, float], None]], T]
) -> T:
    """Run ``job(progress)`` under a progress bar; ``progress(msg, advance)`` updates it."""
    console = Console(stderr=True)
    with Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        TextColumn("{task.completed:.0f}/{task.total:.0f}"),
        TimeElapsedColumn(),
        console=console,
        transient=False,
        disable=not console.is_terminal,
    ) as bar:
        task = bar.add_task(title, total=total)

        def progress(message: str, advance: float) -> None:
            bar.update(task, advance=advance, description=f"{title}: {message}")
            if not console.is_terminal:
                console.print(f"{title}: {message}", highlight=False)

        return job(progress)
