"""drkit's command line: parse, build objects, call one library function, render; the only place that exits."""

from __future__ import annotations

import functools
import json
import os
import sys
from collections.abc import Callable
from typing import Any

import click

from drkit import __version__
from drkit.argocd.kinds import KINDS
from drkit.backup import format as backup
from drkit.backup import sealing, signing
from drkit.backup.sealing import Keys
from drkit.backup.verify import verify as verify_backup
from drkit.cli.flags import (
    Place,
    apply_options,
    at_instance,
    encrypt_option,
    export_seal,
    kinds_option,
    load_credentials,
    make_client,
    opt,
    output_option,
    read_sign_key,
    server_options,
    sign_key_option,
    with_keys,
)
from drkit.errors import EXIT_OK, EXIT_PARTIAL, ConfigError, DrkitError
from drkit.ops import metrics, signals
from drkit.restore.progress import Ticker, bar


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


# metrics and output -----------------------------------------------------------------------------------------


def metrics_options(fn: Callable[..., Any]) -> Callable[..., Any]:
    """--metrics-textfile and --pushgateway: publish the run's metrics whatever its outcome (see drkit.ops.metrics)."""

    @functools.wraps(fn)
    def run(*args: Any, metrics_textfile: str | None, pushgateway: str | None, **kwargs: Any) -> Any:
        if not metrics_textfile and not pushgateway:
            return fn(*args, **kwargs)
        ctx = click.get_current_context()
        ctx.meta["drkit.ops.metrics"] = recorder = metrics.Run(ctx.info_name or "", kwargs.get("instance") or "")
        with metrics.recording(recorder, metrics_textfile, pushgateway, warn=lambda m: click.echo(m, err=True)):
            return fn(*args, **kwargs)

    textfile = opt("--metrics-textfile", type=click.Path(dir_okay=False), help="Write Prometheus metrics here.")
    gateway = opt("--pushgateway", metavar="URL", help="Push Prometheus metrics to this Pushgateway.")
    return textfile(gateway(run))


def observe(instance: str, record: Callable[[metrics.Run], None]) -> None:
    """Hand the command's result to the metrics, when --metrics-textfile or --pushgateway asked for them."""
    recorder = click.get_current_context().meta.get("drkit.ops.metrics")
    if recorder is not None:
        recorder.instance = instance
        record(recorder)


def emit(output: str, document: Any, lines: list[str]) -> None:
    """One JSON document on stdout for -o json, else human lines."""
    if output == "json":
        click.echo(json.dumps(document, indent=2, sort_keys=False))
    else:
        for line in lines:
            click.echo(line)


def stderr(text: str) -> None:
    """Write progress to stderr as it is (the text says where lines end)."""
    click.echo(text, err=True, nl=False)


# commands ---------------------------------------------------------------------------------------------------


@main.command()
@metrics_options
@apply_options(server_options)
@at_instance()
@opt("--kinds", help=f"Comma-separated kinds to export [default: all: {','.join(KINDS)}].")
@opt(
    "--max-shrink",
    type=click.FloatRange(0, 1),
    default=0.5,
    help="Flag the backup when it shrinks by more than this fraction.",
)
@opt("--sse", type=click.Choice(["AES256", "aws:kms", "none"]), default="AES256", help="S3 server-side encryption.")
@opt("--kms-key-id", help="KMS key for --sse aws:kms.")
@opt("--object-lock-days", type=click.IntRange(1), help="S3 Object Lock retention (compliance mode), in days.")
@opt("--concurrency", type=click.IntRange(1, 64), default=16, help="Parallel requests and writes.")
@encrypt_option
@sign_key_option
@output_option
def export(
    place: Place,
    server: str | None,
    kinds: str | None,
    max_shrink: float,
    concurrency: int,
    encrypt: str | None,
    sign_key: str | None,
    output: str,
    **auth: Any,
) -> None:
    """Snapshot an Argo CD instance into a new backup in the store."""
    selected = kinds_option(kinds)
    seal, sign = export_seal(encrypt), read_sign_key(sign_key)
    client = make_client(server, **auth)
    target, name = place.store, place.instance
    tuning = {
        "max_shrink": max_shrink,
        "concurrency": concurrency,
        "progress": (lambda d, t: stderr(bar(d, t))) if sys.stderr.isatty() else None,
    }
    result = backup.export(client, target, name, selected, **tuning, seal=seal, sign=sign)
    counts = ", ".join(f"{n} {k}" for k, n in result.counts.items())
    lines = [f"backup {result.backup_id} of {name} written to {target.url}: {counts}"]
    lines += [f"warning: {w}" for w in result.to_json()["warnings"]]
    observe(name, lambda run: metrics.record_manifest(run, backup.read_manifest(target, name, result.backup_id)))
    emit(output, result.to_json(), lines)
    sys.exit(EXIT_OK if result.ok else EXIT_PARTIAL)


@main.command("list")
@at_instance(naming_flags=True)
@opt("--drills", is_flag=True, help="List the restore drill records instead, newest first.")
@output_option
def list_(place: Place, drills: bool, output: str) -> None:
    """List the complete backups of an instance, newest first."""
    source, name = place.store, place.instance
    if drills:
        from drkit.ops.drill import list_drills, table

        records = list_drills(source, name)
        lines = table(records) if records else [f"no drill of {name} in {source.url}"]
        emit(output, [r.to_record() for r in records], lines)
        return
    found = backup.list_backups(source, name)
    lines = [f"{'BACKUP':<30} {'CREATED':<21} OBJECTS  FLAGS"]
    for info in found:
        flags = "suspicious" if info.manifest.get("suspicious") else ""
        flags = f"damaged: {info.manifest['damaged']}" if info.manifest.get("damaged") else flags
        total = sum(info.counts.values())
        lines.append(f"{info.backup_id:<30} {info.manifest.get('finishedAt', ''):<21} {total:>7}  {flags}")
    if not found:
        lines = [f"no complete backup of {name} in {source.url}"]
    emit(output, [b.to_json() for b in found], lines)


@main.command()
@at_instance(naming_flags=True)
@click.argument("backup_id", metavar="BACKUP")
@click.argument("object_ref", metavar="[KIND/NAME]", required=False)
@with_keys
def show(place: Place, backup_id: str, object_ref: str | None, keys: Keys) -> None:
    """Show a backup's summary, or one object's YAML (KIND/NAME, e.g. applications/argocd/guestbook)."""
    source, name = place.store, place.instance
    resolved = backup.resolve(source, name, backup_id)
    manifest = backup.read_manifest(source, name, resolved)
    signing.check(manifest, keys.sign, f"{name}/{resolved}/{backup.MANIFEST}")
    seal = sealing.for_reading(manifest, keys, required=f"backup {resolved}" if object_ref else None)
    manifest = sealing.open_manifest(manifest, seal)
    if object_ref is None:
        summary = {k: v for k, v in manifest.items() if k != "objects"}
        click.echo(backup.dump(summary).decode(), nl=False)
        return
    entry = backup.find_entry(manifest, object_ref)
    doc, problems = backup.read_object(source, f"{name}/{resolved}", entry, manifest["formatVersion"], seal)
    if problems:
        raise backup.IntegrityError("; ".join(problems))
    click.echo(backup.dump(doc).decode(), nl=False)


@main.command()
@at_instance(naming_flags=True)
@click.argument("backup_id", metavar="BACKUP")
@with_keys
@output_option
def verify(place: Place, backup_id: str, keys: Keys, output: str) -> None:
    """Check every checksum, schema and reference of a backup (an encrypted one's checksums only, without its key)."""
    result = verify_backup(place.store, place.instance, backup_id, keys=keys)
    emit(output, result.to_json(), result.lines())
    sys.exit(result.exit_code)


@main.command()
@metrics_options
@at_instance(naming_flags=True)
@opt("--keep-last", type=click.IntRange(0), default=0, help="Keep the N newest backups.")
@opt("--keep-daily", type=click.IntRange(0), default=0, help="Keep the newest backup of each of N days.")
@opt("--keep-weekly", type=click.IntRange(0), default=0, help="Keep the newest backup of each of N weeks.")
@opt("--keep-monthly", type=click.IntRange(0), default=0, help="Keep the newest backup of each of N months.")
@opt("--dry-run", is_flag=True, help="Show what would be deleted, delete nothing.")
@output_option
def prune(
    place: Place, keep_last: int, keep_daily: int, keep_weekly: int, keep_monthly: int, dry_run: bool, output: str
) -> None:
    """Delete old backups by a retention policy (never the ones any --keep-* rule keeps)."""
    from drkit.backup.retention import Policy
    from drkit.backup.retention import prune as run_prune

    policy = Policy(keep_last, keep_daily, keep_weekly, keep_monthly)
    result = run_prune(place.store, place.instance, policy, dry_run=dry_run)
    observe(place.instance, lambda run: metrics.record_prune(run, result))
    emit(output, result.to_json(), result.lines())


# restore and diff -------------------------------------------------------------------------------------------


@main.command()
@metrics_options
@apply_options(server_options)
@at_instance()
@click.argument("backup_id", metavar="BACKUP")
@opt("--dry-run", is_flag=True, help="Print the plan; make no change.")
@opt("--credentials", type=click.Path(dir_okay=False, exists=True), help="Credentials file (see CONTRACT.md).")
@opt("--remap-cluster", multiple=True, metavar="OLD=NEW", help="Replace a cluster server URL or name everywhere.")
@opt("--remap-repo", multiple=True, metavar="OLD=NEW", help="Replace a repository URL (or URL prefix ending in /).")
@opt("--kinds", help="Comma-separated kinds to restore [default: all].")
@opt("--app", "apps", multiple=True, metavar="GLOB", help="Only applications whose name (or ns/name) matches.")
@opt("--project", "projects", multiple=True, metavar="NAME", help="Only applications of this project.")
@opt("--sync/--no-sync", default=True, help="Refresh and sync the applications after writing them.")
@opt("--prune", is_flag=True, help="Let the syncs prune resources (never deletes Argo CD objects).")
@opt("--wait/--no-wait", default=True, help="Wait until applications are Synced and Healthy.")
@opt("--timeout", type=click.FloatRange(1), default=600.0, help="Seconds to wait for applications overall.")
@opt("--concurrency", type=click.IntRange(1, 64), default=8, help="API requests in parallel (the request workers).")
@opt("--max-syncs", type=click.IntRange(1), default=200, help="Apps with a sync in flight at once (200: sharded).")
@opt(
    "--allow-field-loss",
    is_flag=True,
    help="Go on with objects the target's Argo CD version cannot hold whole (sync policy, project restrictions, "
    "generators, rendering); the dropped fields are still reported.",
)
@with_keys
@output_option
def restore(
    place: Place,
    server: str | None,
    backup_id: str,
    dry_run: bool,
    credentials: str | None,
    remap_cluster: tuple[str, ...],
    remap_repo: tuple[str, ...],
    kinds: str | None,
    apps: tuple[str, ...],
    projects: tuple[str, ...],
    sync: bool,
    prune: bool,
    wait: bool,
    timeout: float,
    concurrency: int,
    max_syncs: int,
    allow_field_loss: bool,
    keys: Keys,
    output: str,
    **auth: Any,
) -> None:
    """Restore a backup onto an Argo CD instance: check, plan, write in dependency order, sync, wait.

    Nothing on the target is deleted; every checksum, schema and credential is checked before the first write.
    """
    from drkit.restore import apply as restoring
    from drkit.restore import converge, remap

    options = restoring.RestoreOptions(
        kinds=kinds_option(kinds),
        apps=apps,
        projects=projects,
        remap_clusters=remap.parse_rules(remap_cluster, "--remap-cluster"),
        remap_repos=remap.parse_rules(remap_repo, "--remap-repo"),
        dry_run=dry_run,
        sync=sync,
        prune=prune,
        wait=wait,
        timeout=timeout,
        concurrency=concurrency,
        max_syncs=max_syncs,
        allow_field_loss=allow_field_loss,
    )
    kinds_read = restoring.kinds_to_read(options.kinds)
    loaded = backup.load(place.store, place.instance, backup_id, kinds_read, require=options.kinds, keys=keys)
    secrets = load_credentials(credentials)
    client = make_client(server, **auth)
    warn = lambda text: click.echo(f"drkit: warning: {text}", err=True)  # noqa: E731 (before any write)
    with signals.halt_on(warn, os._exit) as stop, Ticker(stderr, terminal=sys.stderr.isatty()) as ticker:
        report = restoring.restore(client, loaded, secrets, options, converge.converge, warn, ticker, stop)
    if loaded.manifest.get("suspicious"):
        report.notes.insert(0, f"this backup was flagged at export: {loaded.manifest['suspicious']['reason']}")
    observe(place.instance, lambda run: metrics.record_restore(run, report, loaded.manifest, restoring.ACTIONS))
    emit(output, report.to_json(), report.lines())
    sys.exit(report.exit_code)


@main.command()
@apply_options(server_options)
@at_instance()
@click.argument("backup_id", metavar="BACKUP")
@opt("--kinds", help="Comma-separated kinds to compare [default: all].")
@with_keys
@output_option
def diff(
    place: Place, server: str | None, backup_id: str, kinds: str | None, keys: Keys, output: str, **auth: Any
) -> None:
    """Compare a backup with a live Argo CD instance (drift report; exit 3 when they differ)."""
    from drkit.restore import apply as restoring

    options = restoring.RestoreOptions(kinds=kinds_option(kinds), dry_run=True)
    loaded = backup.load(place.store, place.instance, backup_id, options.kinds, require=options.kinds, keys=keys)
    report = restoring.diff(make_client(server, **auth), loaded, options)
    emit(output, report.to_json(), report.lines())
    sys.exit(report.exit_code)


@main.command()
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


@main.command()
@at_instance(by_server=False)
@click.argument("object_ref", metavar="KIND/NAME")
@opt("--diff", "with_diff", is_flag=True, help="Show a unified diff between consecutive versions.")
@output_option
def history(place: Place, object_ref: str, with_diff: bool, output: str) -> None:
    """List the backups in which one object changed (e.g. applications/argocd/guestbook), oldest first."""
    from drkit.backup.history import history as object_history

    found = object_history(place.store, place.instance, object_ref, diffs=with_diff)
    emit(output, found.to_json(), found.lines())
