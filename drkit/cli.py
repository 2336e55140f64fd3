"""drkit's command line: parse, build objects, call one library function, render; the only place that exits."""

from __future__ import annotations

import functools
import json
import os
import sys
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

import click

from drkit import __version__, backup, metrics
from drkit.argocd import Client, server_url
from drkit.errors import EXIT_FAILED, EXIT_OK, EXIT_PARTIAL, ConfigError, DrkitError
from drkit.kinds import KINDS, parse_kinds
from drkit.store import Store, open_store
from drkit.verify import verify as verify_backup

DEFAULT_STORE = "./drkit-backups"


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

    Exit codes: 0 success; 1 failed; 2 usage or configuration error; 3 finished, but some objects failed,
    applications did not become healthy, or the backup looks suspicious (listed in the output).
    """


# shared options ---------------------------------------------------------------------------------------------


def _opt(*names: str, **kw: Any) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    if "envvar" in kw:
        kw.setdefault("show_envvar", True)
    return click.option(*names, **kw)


store_options = [
    _opt("--store", envvar="DRKIT_STORE", default=DEFAULT_STORE, help="s3://bucket[/prefix], or a local directory."),
    _opt("--instance", envvar="DRKIT_INSTANCE", help="Instance name in the store [default: the server's host]."),
]
server_options = [
    _opt(
        "--server",
        envvar="ARGOCD_SERVER",
        help="Argo CD API server: https://host[:port], http://host:port or host[:port].",
    ),
    _opt("--auth-token", envvar="ARGOCD_AUTH_TOKEN", help="Argo CD API token (prefer --auth-token-file)."),
    _opt(
        "--auth-token-file", type=click.Path(dir_okay=False), help="Read the token from this file (a mounted Secret)."
    ),
    _opt("--username", envvar="ARGOCD_USERNAME", help="Log in with a local account instead of a token."),
    _opt("--password", envvar="ARGOCD_PASSWORD", help="Password for --username."),
    _opt("--insecure", is_flag=True, envvar="ARGOCD_INSECURE", help="Skip TLS certificate verification."),
    _opt("--plaintext", is_flag=True, envvar="ARGOCD_PLAINTEXT", help="Use http for a bare host[:port]."),
    _opt("--ca-bundle", type=click.Path(dir_okay=False, exists=True), help="PEM bundle to verify the server with."),
    _opt("--request-timeout", type=float, default=30.0, help="Seconds to wait for one API answer."),
]
output_option = _opt("-o", "--output", type=click.Choice(["text", "json"]), default="text", help="Output format.")


def apply_options(options: list[Callable[..., Any]]) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    def decorate(fn: Callable[..., Any]) -> Callable[..., Any]:
        for option in reversed(options):
            fn = option(fn)
        return fn

    return decorate


def metrics_options(fn: Callable[..., Any]) -> Callable[..., Any]:
    """--metrics-textfile and --pushgateway: publish the run's metrics whatever its outcome (see drkit.metrics)."""

    @functools.wraps(fn)
    def run(*args: Any, metrics_textfile: str | None, pushgateway: str | None, **kwargs: Any) -> Any:
        if not metrics_textfile and not pushgateway:
            return fn(*args, **kwargs)
        ctx = click.get_current_context()
        ctx.meta["drkit.metrics"] = recorder = metrics.Run(ctx.info_name or "", kwargs.get("instance") or "")
        code = EXIT_FAILED
        try:
            fn(*args, **kwargs)
            code = EXIT_OK
        except SystemExit as stop:
            code = stop.code if isinstance(stop.code, int) else EXIT_FAILED
            raise
        except DrkitError as err:
            code = err.exit_code
            raise
        finally:
            try:
                metrics.publish(recorder, code, metrics_textfile, pushgateway)
            except DrkitError as err:  # the run's own outcome stands; the missing metrics will alert
                click.echo(f"drkit: warning: {err}", err=True)

    textfile = _opt("--metrics-textfile", type=click.Path(dir_okay=False), help="Write Prometheus metrics here.")
    gateway = _opt("--pushgateway", metavar="URL", help="Push Prometheus metrics to this Pushgateway.")
    return textfile(gateway(run))


def observe(instance: str, record: Callable[[metrics.Run], None]) -> None:
    """Hand the command's result to the metrics, when --metrics-textfile or --pushgateway asked for them."""
    recorder = click.get_current_context().meta.get("drkit.metrics")
    if recorder is not None:
        recorder.instance = instance
        record(recorder)


def make_client(
    server: str | None,
    auth_token: str | None,
    auth_token_file: str | None,
    username: str | None,
    password: str | None,
    insecure: bool,
    plaintext: bool,
    ca_bundle: str | None,
    request_timeout: float,
) -> Client:
    """The API client from flags, environment and files; the token is never echoed."""
    if not server:
        raise ConfigError("no Argo CD server given", hint="pass --server or set ARGOCD_SERVER")
    options = {"plaintext": plaintext, "insecure": insecure, "ca_bundle": ca_bundle, "timeout": request_timeout}
    if auth_token_file:
        try:
            with open(auth_token_file, encoding="utf-8") as fh:
                auth_token = fh.read().strip()
        except OSError as err:
            raise ConfigError(f"cannot read --auth-token-file {auth_token_file}: {err.strerror}") from None
    if auth_token:
        return Client(server, auth_token, **options)
    if username and password:
        return Client.login(server, username, password, **options)
    raise ConfigError(
        "no Argo CD credentials given",
        hint="pass --auth-token-file, --auth-token or ARGOCD_AUTH_TOKEN, or --username and --password",
    )


def instance_name(instance: str | None, server: str | None, plaintext: bool, store: Store) -> str:
    """`--instance`, else the server's host name, else the store's only instance."""
    if instance:
        return instance
    if server:
        return urlsplit(server_url(server, plaintext=plaintext)).hostname or ""
    found = [name.rstrip("/") for name in store.list("") if name.endswith("/")]
    if len(found) == 1:
        return found[0]
    raise ConfigError(
        f"say which instance: {store.url} holds {', '.join(found) or 'no instance'}",
        hint="pass --instance NAME or --server, or set DRKIT_INSTANCE",
    )


def emit(output: str, document: Any, lines: list[str]) -> None:
    """One JSON document on stdout for -o json, else human lines."""
    if output == "json":
        click.echo(json.dumps(document, indent=2, sort_keys=False))
    else:
        for line in lines:
            click.echo(line)


def load_credentials(path: str | None) -> Any:
    """The resolved credentials file, or None; every entry is resolved now, before anything is written."""
    if not path:
        return None
    from drkit import credentials, secretsmanager

    return credentials.load(path, env=dict(os.environ), fetch_secret=secretsmanager.fetcher())


def kinds_option(text: str | None) -> tuple[str, ...]:
    try:
        return parse_kinds(text)
    except ValueError as err:
        raise ConfigError(str(err)) from None


def progress_bar() -> Callable[[int, int], None] | None:
    """A progress line on stderr, only when stderr is a terminal."""
    if not sys.stderr.isatty():
        return None

    def show(done: int, total: int) -> None:
        width = 30
        filled = width * done // max(total, 1)
        end = "\n" if done == total else ""
        click.echo(f"\r  writing [{'#' * filled}{'.' * (width - filled)}] {done}/{total}{end}", err=True, nl=False)

    return show


# commands ---------------------------------------------------------------------------------------------------


@main.command()
@metrics_options
@apply_options(server_options + store_options)
@_opt("--kinds", help=f"Comma-separated kinds to export [default: all: {','.join(KINDS)}].")
@_opt(
    "--max-shrink",
    type=click.FloatRange(0, 1),
    default=0.5,
    help="Flag the backup when it shrinks by more than this fraction.",
)
@_opt("--sse", type=click.Choice(["AES256", "aws:kms", "none"]), default="AES256", help="S3 server-side encryption.")
@_opt("--kms-key-id", help="KMS key for --sse aws:kms.")
@_opt("--object-lock-days", type=click.IntRange(1), help="S3 Object Lock retention (compliance mode), in days.")
@_opt("--concurrency", type=click.IntRange(1, 64), default=16, help="Parallel requests and writes.")
@output_option
def export(
    server: str | None,
    store: str,
    instance: str | None,
    kinds: str | None,
    max_shrink: float,
    sse: str,
    kms_key_id: str | None,
    object_lock_days: int | None,
    concurrency: int,
    output: str,
    **auth: Any,
) -> None:
    """Snapshot an Argo CD instance into a new backup in the store."""
    selected = kinds_option(kinds)
    client = make_client(server, **auth)
    target = open_store(
        store, sse=None if sse == "none" else sse, kms_key_id=kms_key_id, object_lock_days=object_lock_days
    )
    name = instance_name(instance, server, auth["plaintext"], target)
    result = backup.export(
        client, target, name, selected, max_shrink=max_shrink, concurrency=concurrency, progress=progress_bar()
    )
    counts = ", ".join(f"{n} {k}" for k, n in result.counts.items())
    lines = [f"backup {result.backup_id} of {name} written to {target.url}: {counts}"]
    lines += [f"warning: {w}" for w in result.to_json()["warnings"]]
    observe(name, lambda run: metrics.record_manifest(run, backup.read_manifest(target, name, result.backup_id)))
    emit(output, result.to_json(), lines)
    sys.exit(EXIT_OK if result.ok else EXIT_PARTIAL)


@main.command("list")
@apply_options(store_options)
@_opt("--server", envvar="ARGOCD_SERVER", help="Only used to name the instance.")
@_opt("--plaintext", is_flag=True, hidden=True)
@_opt("--drills", is_flag=True, help="List the restore drill records instead, newest first.")
@output_option
def list_(store: str, instance: str | None, server: str | None, plaintext: bool, drills: bool, output: str) -> None:
    """List the complete backups of an instance, newest first."""
    source = open_store(store)
    name = instance_name(instance, server, plaintext, source)
    if drills:
        from drkit.drill import list_drills, table

        records = list_drills(source, name)
        lines = table(records) if records else [f"no drill of {name} in {source.url}"]
        emit(output, [r.to_record() for r in records], lines)
        return
    found = backup.list_backups(source, name)
    lines = [f"{'BACKUP':<26} {'CREATED':<21} OBJECTS  FLAGS"]
    for info in found:
        flags = "suspicious" if info.manifest.get("suspicious") else ""
        flags = f"damaged: {info.manifest['damaged']}" if info.manifest.get("damaged") else flags
        total = sum(info.counts.values())
        lines.append(f"{info.backup_id:<26} {info.manifest.get('finishedAt', ''):<21} {total:>7}  {flags}")
    if not found:
        lines = [f"no complete backup of {name} in {source.url}"]
    emit(output, [b.to_json() for b in found], lines)


@main.command()
@apply_options(store_options)
@_opt("--server", envvar="ARGOCD_SERVER", help="Only used to name the instance.")
@_opt("--plaintext", is_flag=True, hidden=True)
@click.argument("backup_id", metavar="BACKUP")
@click.argument("object_ref", metavar="[KIND/NAME]", required=False)
def show(
    store: str, instance: str | None, server: str | None, plaintext: bool, backup_id: str, object_ref: str | None
) -> None:
    """Show a backup's summary, or one object's YAML (KIND/NAME, e.g. applications/argocd/guestbook)."""
    source = open_store(store)
    name = instance_name(instance, server, plaintext, source)
    resolved = backup.resolve(source, name, backup_id)
    manifest = backup.read_manifest(source, name, resolved)
    if object_ref is None:
        summary = {k: v for k, v in manifest.items() if k != "objects"}
        click.echo(backup.dump(summary).decode(), nl=False)
        return
    entry = backup.find_entry(manifest, object_ref)
    doc, problems = backup.read_object(source, f"{name}/{resolved}", entry, manifest["formatVersion"])
    if problems:
        raise backup.IntegrityError("; ".join(problems))
    click.echo(backup.dump(doc).decode(), nl=False)


@main.command()
@apply_options(store_options)
@_opt("--server", envvar="ARGOCD_SERVER", help="Only used to name the instance.")
@_opt("--plaintext", is_flag=True, hidden=True)
@click.argument("backup_id", metavar="BACKUP")
@output_option
def verify(store: str, instance: str | None, server: str | None, plaintext: bool, backup_id: str, output: str) -> None:
    """Check every checksum, schema and reference of a backup."""
    source = open_store(store)
    name = instance_name(instance, server, plaintext, source)
    result = verify_backup(source, name, backup_id)
    lines = [f"backup {result.backup_id}: {'ok' if result.ok else f'{len(result.problems)} problem(s)'}"]
    lines += [f"  {p}" for p in result.problems]
    emit(output, result.to_json(), lines)
    sys.exit(EXIT_OK if result.ok else EXIT_PARTIAL)


@main.command()
@metrics_options
@apply_options(store_options)
@_opt("--keep-last", type=click.IntRange(0), default=0, help="Keep the N newest backups.")
@_opt("--keep-daily", type=click.IntRange(0), default=0, help="Keep the newest backup of each of N days.")
@_opt("--keep-weekly", type=click.IntRange(0), default=0, help="Keep the newest backup of each of N weeks.")
@_opt("--keep-monthly", type=click.IntRange(0), default=0, help="Keep the newest backup of each of N months.")
@_opt("--dry-run", is_flag=True, help="Show what would be deleted, delete nothing.")
@_opt("--server", envvar="ARGOCD_SERVER", help="Only used to name the instance.")
@_opt("--plaintext", is_flag=True, hidden=True)
@output_option
def prune(
    store: str,
    instance: str | None,
    keep_last: int,
    keep_daily: int,
    keep_weekly: int,
    keep_monthly: int,
    dry_run: bool,
    server: str | None,
    plaintext: bool,
    output: str,
) -> None:
    """Delete old backups by a retention policy (never the ones any --keep-* rule keeps)."""
    from drkit.retention import Policy
    from drkit.retention import prune as run_prune

    source = open_store(store)
    name = instance_name(instance, server, plaintext, source)
    result = run_prune(source, name, Policy(keep_last, keep_daily, keep_weekly, keep_monthly), dry_run=dry_run)
    verb = "would delete" if dry_run else "deleted"
    lines = [f"kept {len(result.kept)} backup(s); {verb} {len(result.deleted)}"]
    lines += [f"  {verb}: {b}" for b in result.deleted]
    observe(name, lambda run: metrics.record_prune(run, result))
    emit(output, result.to_json(), lines)


# restore and diff -------------------------------------------------------------------------------------------


@main.command()
@metrics_options
@apply_options(server_options + store_options)
@click.argument("backup_id", metavar="BACKUP")
@_opt("--dry-run", is_flag=True, help="Print the plan; make no change.")
@_opt("--credentials", type=click.Path(dir_okay=False, exists=True), help="Credentials file (see CONTRACT.md).")
@_opt("--remap-cluster", multiple=True, metavar="OLD=NEW", help="Replace a cluster server URL or name everywhere.")
@_opt("--remap-repo", multiple=True, metavar="OLD=NEW", help="Replace a repository URL (or URL prefix ending in /).")
@_opt("--kinds", help="Comma-separated kinds to restore [default: all].")
@_opt("--app", "apps", multiple=True, metavar="GLOB", help="Only applications whose name (or ns/name) matches.")
@_opt("--project", "projects", multiple=True, metavar="NAME", help="Only applications of this project.")
@_opt("--sync/--no-sync", default=True, help="Refresh and sync the applications after writing them.")
@_opt("--prune", is_flag=True, help="Let the syncs prune resources (never deletes Argo CD objects).")
@_opt("--wait/--no-wait", default=True, help="Wait until applications are Synced and Healthy.")
@_opt("--timeout", type=click.FloatRange(1), default=600.0, help="Seconds to wait for applications overall.")
@_opt("--concurrency", type=click.IntRange(1, 64), default=8, help="Objects written, apps synced in parallel.")
@output_option
def restore(
    server: str | None,
    store: str,
    instance: str | None,
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
    output: str,
    **auth: Any,
) -> None:
    """Restore a backup onto an Argo CD instance: check, plan, write in dependency order, sync, wait.

    Nothing on the target is deleted. Every checksum, schema and credential is checked before the first
    write; a problem there changes nothing.
    """
    from drkit import converge, remap
    from drkit import restore as restoring

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
    )
    source = open_store(store)
    name = instance_name(instance, server, auth["plaintext"], source)
    loaded = backup.load(source, name, backup_id, restoring.kinds_to_read(options.kinds), require=options.kinds)
    secrets = load_credentials(credentials)
    client = make_client(server, **auth)
    report = restoring.restore(client, loaded, secrets, options, converge=converge.converge)
    if loaded.manifest.get("suspicious"):
        report.notes.insert(0, f"this backup was flagged at export: {loaded.manifest['suspicious']['reason']}")
    observe(name, lambda run: metrics.record_restore(run, report, loaded.manifest, restoring.ACTIONS))
    emit(output, report.to_json(), report.lines())
    sys.exit(report.exit_code)


@main.command()
@apply_options(server_options + store_options)
@click.argument("backup_id", metavar="BACKUP")
@_opt("--kinds", help="Comma-separated kinds to compare [default: all].")
@output_option
def diff(
    server: str | None, store: str, instance: str | None, backup_id: str, kinds: str | None, output: str, **auth: Any
) -> None:
    """Compare a backup with a live Argo CD instance (drift report; exit 3 when they differ)."""
    from drkit import restore as restoring

    options = restoring.RestoreOptions(kinds=kinds_option(kinds), dry_run=True)
    source = open_store(store)
    name = instance_name(instance, server, auth["plaintext"], source)
    loaded = backup.load(source, name, backup_id, options.kinds, require=options.kinds)
    report = restoring.diff(make_client(server, **auth), loaded, options)
    emit(output, report.to_json(), report.lines())
    sys.exit(report.exit_code)


@main.command()
@metrics_options
@apply_options(server_options + store_options)
@click.argument("backup_id", metavar="BACKUP", default="latest")
@_opt("--simulate", is_flag=True, help="Restore onto drkit's Argo CD simulator, hosted in this process.")
@_opt("--credentials", type=click.Path(dir_okay=False, exists=True), help="Credentials file (see CONTRACT.md).")
@_opt("--timeout", type=click.FloatRange(1), default=600.0, help="Seconds to wait for applications overall.")
@output_option
def drill(
    server: str | None,
    store: str,
    instance: str | None,
    backup_id: str,
    simulate: bool,
    credentials: str | None,
    timeout: float,
    output: str,
    **auth: Any,
) -> None:
    """Restore a backup onto a scratch Argo CD, read it back, and record how long and how faithfully.

    Use a throwaway instance (--server): the drill writes to it. With --simulate it needs no instance. The
    record goes to <instance>/drills/ in the store; `drkit list --drills` shows them. Exit 3 when an object
    failed, an application did not become healthy, or something read back different.
    """
    import contextlib

    from drkit import converge
    from drkit import drill as drilling
    from drkit import restore as restoring

    if simulate == bool(server):
        raise ConfigError("say where to restore", hint="pass either --server of a throwaway Argo CD or --simulate")
    source = open_store(store)
    name = instance_name(instance, None, False, source)
    secrets = load_credentials(credentials)
    if simulate:
        from drkit.testing import scratch

        connect, target = scratch.hosted, scratch.NAME
    else:
        client = make_client(server, **auth)
        connect, target = (lambda _: contextlib.nullcontext(client)), client.base
    options = restoring.RestoreOptions(timeout=timeout)
    result = drilling.drill(
        source, name, backup_id, connect, target, credentials=secrets, options=options, converge=converge.converge
    )
    drilling.save(source, result)
    observe(name, lambda run: metrics.record_drill(run, result, restoring.ACTIONS))
    emit(output, result.to_record(), result.lines())
    sys.exit(result.exit_code)


@main.command()
@apply_options(store_options)
@click.argument("object_ref", metavar="KIND/NAME")
@_opt("--diff", "with_diff", is_flag=True, help="Show a unified diff between consecutive versions.")
@output_option
def history(store: str, instance: str | None, object_ref: str, with_diff: bool, output: str) -> None:
    """List the backups in which one object changed (e.g. applications/argocd/guestbook), oldest first."""
    from drkit.history import history as object_history

    source = open_store(store)
    found = object_history(source, instance_name(instance, None, False, source), object_ref, diffs=with_diff)
    emit(output, found.to_json(), found.lines())
