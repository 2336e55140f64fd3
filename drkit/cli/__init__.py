"""drkit's command line: parse flags, build objects, call one library function, render; the only place that exits.

Stage: the outermost layer: `flags` turns flags into objects, `output` renders, and one module per group of
commands (`export`, `backups`, `restore`, `drill`) holds the click commands, each calling one library function.
May import: drkit.errors, drkit.argocd, drkit.kube, drkit.backup, drkit.export, drkit.restore, drkit.ops.
"""

from __future__ import annotations

import sys
from typing import Any

import click

from drkit import __version__
from drkit.cli import backups, drill, export, restore
from drkit.errors import DrkitError


class DrkitGroup(click.Group):
    """Maps DrkitError to its exit code and message, so commands contain no try."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except DrkitError as err:
            click.echo(f"drkit: error: {err}", err=True)
            sys.exit(err.exit_code)


@click.group(cls=DrkitGroup, context_settings={"help_option_names": ["-h", "--help"], "show_default": True})
@click.version_option(__version__, prog_name="drkit")
def main() -> None:
    """Disaster recovery for Argo CD: back up through the API, restore in dependency order.

    Exit codes: 0 success; 1 failed; 2 usage or configuration error; 3 finished, but some objects failed, apps
    did not become healthy, or the backup looks suspicious (listed); 130 / 143 interrupted by SIGINT / SIGTERM.
    """


for command in (
    export.export,
    backups.list_,
    backups.show,
    backups.verify,
    backups.prune,
    backups.history,
    restore.restore,
    restore.diff,
    drill.drill,
):
    main.add_command(command)
