"""drkit's command line: parse, build objects, call one library function, render; the only place that exits."""

from __future__ import annotations

import sys

import click

from drkit import __version__
from drkit.errors import EXIT_FAILED, DrkitError


class DrkitGroup(click.Group):
    """Maps DrkitError to its exit code and message, so commands contain no try."""

    def invoke(self, ctx: click.Context):  # type: ignore[override]
        try:
            return super().invoke(ctx)
        except DrkitError as err:
            click.echo(f"drkit: error: {err}", err=True)
            sys.exit(err.exit_code)


@click.group(cls=DrkitGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="drkit")
def main() -> None:
    """Disaster recovery for Argo CD: back up through the API, restore in dependency order."""


def _not_built(name: str) -> None:
    click.echo(f"drkit: '{name}' is not built yet in drkit {__version__}.", err=True)
    sys.exit(EXIT_FAILED)


for _name, _help in [
    ("export", "Snapshot an Argo CD instance into a backup in the store."),
    ("list", "List the backups of an instance, newest first."),
    ("show", "Show a backup's summary, or one object's YAML."),
    ("verify", "Check every checksum, schema and reference of a backup."),
    ("diff", "Compare a backup with a live Argo CD instance."),
    ("restore", "Restore a backup onto an Argo CD instance."),
    ("prune", "Delete old backups by a retention policy."),
]:
    main.add_command(
        click.Command(
            _name,
            help=f"{_help} (not built yet)",
            callback=lambda _n=_name: _not_built(_n),
            context_settings={"ignore_unknown_options": True, "allow_extra_args": True},
        )
    )
