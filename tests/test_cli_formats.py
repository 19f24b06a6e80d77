"""Each command's `--format` help, error and completion name exactly its registry's formats.

The registries (`auditor.cli.*_FORMATS`, see `auditor/formats.py`) are the one place a
command's formats are listed; these tests read what a user sees (`--help`, the one-line
error for an unknown name, the shell completion list) and compare it with the registry.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import typer
import typer.core
import typer.main
from typer.testing import CliRunner

from auditor import cli
from auditor.formats import Format, Formats

# command -> (its registry, arguments that reach the --format check and nothing further)
COMMANDS: dict[str, tuple[Formats[Any], list[str]]] = {
    "check": (cli.CHECK_FORMATS, ["a/b!1"]),
    "sweep": (cli.SWEEP_FORMATS, []),
    "history": (cli.HISTORY_FORMATS, []),
    "report": (cli.EXPORT_FORMATS, []),
    "signoff": (cli.SIGNOFF_FORMATS, ["--service", "vemo-core"]),
}


def _format_option(command: str) -> typer.core.TyperOption:
    group = typer.main.get_command(cli.app)
    found = group.commands[command]  # type: ignore[attr-defined]
    return next(p for p in found.params if "--format" in getattr(p, "opts", ()))


@pytest.mark.parametrize("command", COMMANDS)
def test_help_lists_each_format_of_the_registry_in_order(command: str) -> None:
    formats, _ = COMMANDS[command]
    text = CliRunner().invoke(cli.app, [command, "--help"], env={"COLUMNS": "100"}).output
    after = " ".join(text.split()).split("--format FORMAT ", 1)[1]
    listing = "; ".join(f"{f.name}: {f.description}" for f in formats) + "."
    # the whole option help is the registry's listing, after report's note on --out
    lead = "Without --out, an export to stdout. " if command == "report" else ""
    assert after.startswith(lead + listing), after
    assert re.match(r"(\[default: [a-z]+\] )?-", after[len(lead + listing) :].lstrip())


@pytest.mark.parametrize("command", COMMANDS)
def test_an_unknown_format_is_refused_naming_the_registry(command: str, tmp_path: Path) -> None:
    formats, args = COMMANDS[command]
    result = CliRunner().invoke(
        cli.app,
        ["--config", str(tmp_path / "none.toml"), command, *args, "--format", "nope"],
        env={"GITLAB_TOKEN": ""},
    )
    assert result.exit_code == 2
    assert result.stderr == f"auditor: error: --format must be one of {', '.join(formats.names)}\n"


@pytest.mark.parametrize("command", COMMANDS)
def test_completion_offers_the_registry(command: str) -> None:
    formats, _ = COMMANDS[command]
    option = _format_option(command)
    group = typer.main.get_command(cli.app)
    ctx = group.commands[command].make_context(command, [], resilient_parsing=True)  # type: ignore[attr-defined]
    assert [item.value for item in option.shell_complete(ctx, "")] == list(formats.names)
    first = formats.names[0]
    offered = [item.value for item in option.shell_complete(ctx, first[:2])]
    assert offered == [name for name in formats.names if name.startswith(first[:2])]


def test_a_file_only_format_needs_output_and_the_registry_says_which() -> None:
    assert [f.name for f in cli.SIGNOFF_FORMATS if f.needs_output] == ["pdf"]
    result = CliRunner().invoke(cli.app, ["signoff", "--service", "vemo-core", "--format", "pdf"])
    assert result.exit_code == 2
    assert result.stderr == "auditor: error: --format pdf needs --output PATH\n"


def test_a_format_is_text_or_a_file_never_both_and_names_are_unique() -> None:
    with pytest.raises(ValueError, match="exactly one"):
        Format("x", "neither")
    with pytest.raises(ValueError, match="twice"):
        Formats(Format("x", "a", render=str), Format("x", "b", render=str))
