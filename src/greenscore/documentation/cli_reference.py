"""The CLI reference page, generated from the Typer app's Click command tree.

Every command and group is listed with its usage line, help text and options (names, type,
default, help), in the order the tree holds them, so the reference is the CLI itself.
"""

from __future__ import annotations

from typing import Any


def _type_name(param: Any, ctx: Any) -> str:
    shown = param.display_type(ctx) if hasattr(param, "display_type") else param.type.name
    return f"`{str(shown or 'value').lower().strip('<>')}`"


def _option_row(param: Any, ctx: Any) -> str:
    names = ", ".join(f"`{n}`" for n in [*param.opts, *param.secondary_opts])
    kind = "flag" if getattr(param, "is_flag", False) else _type_name(param, ctx)
    default = param.default if not callable(param.default) else None
    shown = "" if default in (None, False, (), []) else f"`{default}`"
    text = (getattr(param, "help", None) or "").replace("|", "\\|").replace("\n", " ")
    required = " (required)" if param.required else ""
    return f"| {names} | {kind}{required} | {shown} | {text} |"


def _command_section(path: list[str], command: Any, ctx: Any) -> list[str]:
    name = " ".join(path)
    lines = [f"## `{name}`", ""]
    help_text = (command.help or "").strip()
    if help_text:
        lines += [help_text.split("\f")[0].strip(), ""]
    usage = " ".join(command.collect_usage_pieces(ctx))
    lines += ["```text", f"{name} {usage}".rstrip(), "```", ""]
    params = [p for p in command.params if p.param_type_name == "option" and p.name != "help"]
    arguments = [p for p in command.params if p.param_type_name == "argument"]
    if arguments:
        lines += ["Arguments: " + ", ".join(f"`{str(a.name).upper()}`" for a in arguments), ""]
    if params:
        lines += ["| option | type | default | help |", "| --- | --- | --- | --- |"]
        lines += [_option_row(p, ctx) for p in params] + [""]
    return lines


def _walk(path: list[str], command: Any, parent: Any) -> list[str]:
    # Typer ships its own copy of Click: its classes, not click's, so duck typing throughout.
    ctx = command.context_class(command, info_name=path[-1], parent=parent)
    lines = _command_section(path, command, ctx)
    if hasattr(command, "list_commands"):
        for sub in command.list_commands(ctx):
            child = command.get_command(ctx, sub)
            if child is not None and not getattr(child, "hidden", False):
                lines += _walk([*path, sub], child, ctx)
    return lines


def cli_reference(root: Any = None) -> str:
    """Markdown for every command of ``greenscore`` (or of ``root``, a Click command)."""
    if root is None:
        import typer.main

        from greenscore.cli import app

        root = typer.main.get_command(app)
    header = [
        "# CLI reference",
        "",
        "Generated from the command tree when the site is built (`make docs`); "
        "`greenscore COMMAND -h` prints the same.",
        "",
    ]
    return "\n".join(header + _walk(["greenscore"], root, None))
