"""`drkit drill`: restore a backup onto a scratch Argo CD, read it back, and record the result."""

from __future__ import annotations

import sys
from typing import Any

import click

from drkit.backup.sealing import Keys
from drkit.cli.flags import (
    Place,
    apply_options,
    at_instance,
    load_credentials,
    make_client,
    opt,
    output_option,
    server_options,
    with_keys,
)
from drkit.cli.output import emit, metrics_options, observe
from drkit.errors import ConfigError
from drkit.ops import metrics


@click.command()
@metrics_options
@apply_options(server_options)
@at_instance(by_server=False)
@click.argument("backup_id", metavar="BACKUP", default="latest")
@opt("--simulate", is_flag=True, help="Restore onto drkit's Argo CD simulator, hosted in this process.")
@opt("--credentials", type=click.Path(dir_okay=False, exists=True), help="Credentials file (see CONTRACT.md).")
@opt("--timeout", type=click.FloatRange(1), default=600.0, help="Seconds to wait for applications overall.")
@with_keys
@output_option
def drill(
    place: Place,
    server: str | None,
    backup_id: str,
    simulate: bool,
    credentials: str | None,
    timeout: float,
    keys: Keys,
    output: str,
    **auth: Any,
) -> None:
    """Restore a backup onto a scratch Argo CD, read it back, and record how long and how faithfully.

    Use a throwaway instance (--server): the drill writes to it. With --simulate it needs no instance. The
    record goes to <instance>/drills/ in the store; `drkit list --drills` shows them. Exit 3 when an object
    failed, an application did not become healthy, or something read back different.
    """
    import contextlib

    from drkit.ops import drill as drilling
    from drkit.restore import apply as restoring
    from drkit.restore import converge

    if click.get_current_context().get_parameter_source("server") is click.core.ParameterSource.ENVIRONMENT:
        server = None  # ARGOCD_SERVER names the instance people work on: a drill writes only where it is told to
    if simulate == bool(server):
        raise ConfigError(
            "say where to restore", hint="pass either --server of a throwaway Argo CD (not ARGOCD_SERVER) or --simulate"
        )
    source, name = place.store, place.instance
    secrets = load_credentials(credentials)
    if simulate:
        from drkit.ops import scratch

        connect, target = scratch.hosted, scratch.NAME
    else:
        client = make_client(server, **auth)
        connect, target = (lambda _: contextlib.nullcontext(client)), client.base
    options = restoring.RestoreOptions(timeout=timeout)
    run = {"credentials": secrets, "options": options, "converge": converge.converge, "keys": keys}
    result = drilling.drill(source, name, backup_id, connect, target, **run)
    drilling.save(source, result)
    observe(name, lambda run: metrics.record_drill(run, result, restoring.ACTIONS))
    emit(output, result.to_record(), result.lines())
    sys.exit(result.exit_code)
