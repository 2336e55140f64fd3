"""The docs are tested: every drkit command in the README, runbooks and CronJob parses, and every command has help."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import click
import pytest
import yaml
from click.testing import CliRunner

from drkit.cli import main

ROOT = Path(__file__).resolve().parent.parent
DOCS = [ROOT / "README.md", *sorted((ROOT / "runbooks").glob("*.md"))]


def drkit_commands(text: str) -> list[list[str]]:
    """Every `drkit ...` line of the fenced shell blocks, continuation lines joined, as argument lists."""
    commands = []
    for block in re.findall(r"```(?:sh|bash)\n(.*?)```", text, re.S):
        for line in block.replace("\\\n", " ").splitlines():
            line = line.strip()
            if line.startswith("python -m drkit.testing.sim ") and " -- drkit " in line:
                line = line.split(" -- ", 1)[1]  # the command the simulator hosts
            if line.startswith("drkit "):
                line = re.sub(r'"?\$\((?:[^()]|\([^()]*\))*\)"?', "VALUE", line)  # $(...) substitutions
                commands.append(shlex.split(line.replace("$", ""))[1:])
    return commands


def parse(args: list[str]) -> None:
    """Parse like click would, without running or checking files: an unknown command or option raises."""
    ctx = click.Context(main, info_name="drkit")
    name, command, rest = main.resolve_command(ctx, list(args))
    assert command is not None, f"unknown command {name}"
    sub = click.Context(command, info_name=name, parent=ctx)
    values, extra, _ = command.make_parser(sub).parse_args(list(rest))
    arguments = [p for p in command.params if isinstance(p, click.Argument)]
    required = sum(1 for p in arguments if p.required)
    assert len(extra) == 0 and sum(1 for p in arguments if values.get(p.name)) >= required, args


ALL = [(doc.name, args) for doc in DOCS for args in drkit_commands(doc.read_text())]


def test_the_docs_show_commands():
    names = {args[0] for _, args in ALL if args and not args[0].startswith("-")}
    assert {"export", "list", "verify", "restore", "diff", "show"} <= names


@pytest.mark.parametrize(("doc", "args"), ALL, ids=[f"{d}:{' '.join(a[:2])}" for d, a in ALL])
def test_documented_command_parses(doc: str, args: list[str]):
    parse(args)


def test_an_unknown_flag_fails_the_parse():
    """The check above can fail: a misspelt flag is caught."""
    with pytest.raises(click.UsageError):
        parse(["export", "--servre", "x"])


def test_cronjobs_run_a_valid_export_and_drill():
    docs = list(yaml.safe_load_all((ROOT / "cronjob.yaml").read_text()))
    containers = {
        d["metadata"]["name"]: d["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"][0]
        for d in docs
        if d["kind"] == "CronJob"
    }
    assert set(containers) == {"drkit-export", "drkit-drill"}
    for name, container in containers.items():
        parse(container["args"])
        env = {e["name"] for e in container["env"]}
        assert {"DRKIT_STORE", "DRKIT_INSTANCE"} <= env
        assert container["args"][0] == name.removeprefix("drkit-")
    assert "ARGOCD_SERVER" in {e["name"] for e in containers["drkit-export"]["env"]}


@pytest.mark.parametrize("command", sorted(main.commands))
def test_every_command_has_help(command: str):
    result = CliRunner().invoke(main, [command, "--help"])
    assert result.exit_code == 0
    assert main.commands[command].help, f"{command} has no help text"
    assert command in result.output


def test_runbook_index_links_every_page():
    index = (ROOT / "runbooks" / "README.md").read_text()
    for page in (ROOT / "runbooks").glob("*.md"):
        if page.name != "README.md":
            assert f"({page.name})" in index
