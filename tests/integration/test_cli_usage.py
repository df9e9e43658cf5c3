"""How the ``greenscore`` command line answers a new user's mistakes, and its conventions.

Every command and subcommand is found by walking the Click tree behind the Typer app, so a
command added later is covered without editing this file. Each is called in-process
through ``greenscore.cli.main`` (the console script's entry point, error policy included)
with a missing required option and with an unknown one: Click's usage line and exit 2,
never "internal error". One real subprocess runs the installed console script.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import typer.main

import greenscore
from greenscore import cli as cli_module
from greenscore.config import Settings, use_settings

#: The short flag of each long option that has one, in every command that takes it.
SHORT_FLAGS = {
    "--data": "-d",
    "--model": "-m",
    "--out": "-o",
    "--preset": "-p",
    "--spec": "-s",
    "--target": "-t",
    "--query": "-q",
    "--force": "-f",
    "--config": "-c",
    "--version": "-V",
    "--help": "-h",
}

Call = Callable[..., tuple[int, str, str]]


def _tree() -> list[tuple[list[str], object]]:
    """(path after ``greenscore``, click command) for every group and command."""
    found: list[tuple[list[str], object]] = []

    def walk(command: object, path: list[str]) -> None:
        found.append((path, command))
        for name, sub in sorted(getattr(command, "commands", {}).items()):
            walk(sub, [*path, name])

    walk(typer.main.get_command(cli_module.app), [])
    return found


TREE = _tree()
LEAVES = [(path, cmd) for path, cmd in TREE if not getattr(cmd, "commands", None)]
GROUPS = [(path, cmd) for path, cmd in TREE if getattr(cmd, "commands", None)]


def _ids(items: list[tuple[list[str], object]]) -> list[str]:
    return [" ".join(path) or "greenscore" for path, _ in items]


@pytest.fixture
def cli(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> Iterator[Call]:
    """Run ``cli.main(args)``; returns (exit code, stdout, stderr)."""
    use_settings(Settings(home=tmp_path / "home"))
    monkeypatch.chdir(tmp_path)
    capsys.readouterr()

    def call(*args: str) -> tuple[int, str, str]:
        with pytest.raises(SystemExit) as stopped:
            cli_module.main(list(args))
        captured = capsys.readouterr()
        return int(stopped.value.code or 0), captured.out, captured.err

    yield call
    use_settings(None)


def _assert_usage_error(code: int, err: str, path: list[str], message: str) -> None:
    assert code == 2, err
    assert "internal error" not in err and "Traceback" not in err, err
    usage = " ".join(["Usage: greenscore", *path])
    assert usage in err, err
    assert f"Try '{' '.join(['greenscore', *path])} --help' for help." in err, err
    assert message in err, err


def _dummy_arguments(command: object) -> list[str]:
    """Values for the command's required positional arguments, so an option is what is missing."""
    # "1" parses as every argument type the CLI uses (text, path, integer).
    return [
        "1"
        for param in command.params  # type: ignore[attr-defined]
        if param.param_type_name == "argument" and param.required
    ]


# ---------------------------------------------------------------- every command
def test_the_walk_finds_every_command_group() -> None:
    names = {" ".join(path) for path, _ in TREE}
    assert {"train", "score", "keys create", "gdpr consent grant", "mlflow ui"} <= names
    assert len(LEAVES) > 40


def _required_options(command: object) -> list:
    return [
        p
        for p in command.params  # type: ignore[attr-defined]
        if p.param_type_name == "option" and p.required
    ]


#: Commands with at least one required option (the others cannot miss one).
WITH_REQUIRED = [(path, command) for path, command in LEAVES if _required_options(command)]


def test_most_commands_have_a_required_option_to_miss() -> None:
    assert len(WITH_REQUIRED) > 20


@pytest.mark.parametrize(("path", "command"), WITH_REQUIRED, ids=_ids(WITH_REQUIRED))
def test_missing_required_option_is_a_usage_error(
    cli: Call, path: list[str], command: object
) -> None:
    required = _required_options(command)
    code, _, err = cli(*path, *_dummy_arguments(command))
    _assert_usage_error(code, err, path, "Missing option '")
    assert any(f"'{p.opts[0]}'" in err for p in required), err


@pytest.mark.parametrize(("path", "command"), TREE, ids=_ids(TREE))
def test_unknown_option_is_a_usage_error(cli: Call, path: list[str], command: object) -> None:
    code, _, err = cli(*path, "--no-such-option")
    _assert_usage_error(code, err, path, "No such option: --no-such-option")


@pytest.mark.parametrize(("path", "command"), TREE, ids=_ids(TREE))
def test_dash_h_is_help_everywhere(cli: Call, path: list[str], command: object) -> None:
    code, out, err = cli(*path, "-h")
    assert code == 0, err
    assert " ".join(["Usage: greenscore", *path]) in out


def test_the_same_long_option_has_the_same_short_flag_everywhere() -> None:
    shorts: dict[str, set[tuple[str, ...]]] = {}
    where: dict[str, set[str]] = {}
    for path, command in TREE:
        context = command.make_context(  # type: ignore[attr-defined]
            "greenscore", [], resilient_parsing=True, help_option_names=["--help", "-h"]
        )
        params = [*command.params, command.get_help_option(context)]  # type: ignore[attr-defined]
        for param in params:
            if param is None or param.param_type_name != "option":
                continue
            for long in (o for o in param.opts if o.startswith("--")):
                short = tuple(sorted(o for o in param.opts if not o.startswith("--")))
                shorts.setdefault(long, set()).add(short)
                where.setdefault(long, set()).add(" ".join(path) or "greenscore")
    differing = {long: variants for long, variants in shorts.items() if len(variants) > 1}
    assert not differing, f"short flags differ between commands: {differing}"
    for long, short in SHORT_FLAGS.items():
        assert shorts.get(long) == {(short,)}, (long, shorts.get(long), where.get(long))
    owners: dict[str, str] = {}
    for long, (variant,) in shorts.items():
        for short in variant:
            assert owners.setdefault(short, long) == long, (short, owners[short], long)


# ---------------------------------------------------------------- the cases
def test_train_without_data(cli: Call) -> None:
    code, _, err = cli("train")
    _assert_usage_error(code, err, ["train"], "Missing option '--data'")
    assert "Usage: greenscore train [OPTIONS]" in err


def test_unknown_command(cli: Call) -> None:
    code, _, err = cli("nosuch")
    _assert_usage_error(code, err, [], "No such command 'nosuch'")


def test_option_without_its_value(cli: Call) -> None:
    code, _, err = cli("validate", "--data")
    assert code == 2, err
    assert "Option '--data' requires an argument" in err
    assert "internal error" not in err


def test_keys_create_without_name(cli: Call) -> None:
    code, _, err = cli("keys", "create", "--role", "scorer")
    _assert_usage_error(code, err, ["keys", "create"], "Missing option '--name'")


def test_bare_command_prints_help_without_an_error(cli: Call) -> None:
    code, out, err = cli()
    assert code == 2  # what Click does for a group run without a command
    assert "Usage: greenscore [OPTIONS] COMMAND" in out and "train" in out
    assert "Error" not in err and "internal error" not in err, err


@pytest.mark.parametrize("flag", ["--version", "-V"])
def test_version(cli: Call, flag: str) -> None:
    code, out, _ = cli(flag)
    assert code == 0
    assert out.strip() == f"greenscore {greenscore.__version__}"


def test_console_script_prints_clicks_usage_error(tmp_path: Path) -> None:
    script = shutil.which("greenscore") or str(Path(sys.executable).with_name("greenscore"))
    done = subprocess.run(
        [script, "train"], cwd=tmp_path, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 2, done.stderr
    assert "Usage: greenscore train [OPTIONS]" in done.stderr
    assert "Try 'greenscore train --help' for help." in done.stderr
    assert "Missing option '--data'" in done.stderr
    assert "internal error" not in done.stderr


# ---------------------------------------------------------------- train's output folder
def test_train_refuses_a_non_empty_out_before_reading_any_data(cli: Call, tmp_path: Path) -> None:
    previous = tmp_path / "train-out"
    previous.mkdir()
    (previous / "metrics.json").write_text('{"best": "kept"}')
    code, _, err = cli("train", "-d", "nowhere.csv", "-t", "y")  # default --out train-out
    assert code == 2, err
    assert "output folder train-out is not empty (it holds metrics.json)" in err
    assert "--force" in err and "file not found" not in err
    assert (previous / "metrics.json").read_text() == '{"best": "kept"}'


def test_train_force_lets_a_non_empty_out_through(cli: Call, tmp_path: Path) -> None:
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "notes.txt").write_text("x")
    code, _, err = cli("train", "-d", "nowhere.csv", "-t", "y", "-o", "run", "--force")
    assert code == 2, err
    assert "file not found" in err  # past the folder check, stopped by the missing data


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--approve-below", "0.5", "--decline-above", "0.2"], "must not exceed decline_above"),
        (["--decline-above", "1.5"], "Invalid value for '--decline-above'"),
    ],
)
def test_train_refuses_bad_cutoffs(cli: Call, args: list[str], message: str) -> None:
    code, _, err = cli("train", "-d", "nowhere.csv", "-t", "y", *args)
    assert code == 2, err
    assert message in err and "file not found" not in err


# ---------------------------------------------------------------- config show
def test_config_show_resolves_what_is_left_to_defaults(
    cli: Call, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import yaml

    use_settings(
        Settings(home=tmp_path / "home", database_url="postgresql://bob:hunter2@db:5432/gs")
    )
    code, out, err = cli("config", "show")
    assert code == 0, err
    shown = yaml.safe_load(out)
    assert shown["tracking"]["uri"] is None  # what is configured stays visible
    home = (tmp_path / "home").resolve()
    assert shown["effective"] == {
        "home": str(home),
        "database_url": "postgresql://bob:***@db:5432/gs",
        "tracking_uri": f"sqlite:///{home / 'mlflow.db'}",
        "registry_uri": f"sqlite:///{home / 'mlflow.db'}",
        "artifact_root": (home / "mlartifacts").as_uri(),
    }
    assert "hunter2" not in out
    assert not home.exists()  # showing settings creates nothing


def test_config_show_json_has_the_same_effective_section(cli: Call) -> None:
    import json

    code, out, _ = cli("config", "show", "--json")
    assert code == 0
    assert json.loads(out)["effective"]["tracking_uri"].endswith("/home/mlflow.db")
