"""`drkit restore` and `drkit diff`: a backup against a live Argo CD, written or compared."""

from __future__ import annotations

import os
import sys
from typing import Any

import click

from drkit.backup import format as backup
from drkit.backup.sealing import Keys
from drkit.cli.flags import (
    Place,
    apply_options,
    at_instance,
    kinds_option,
    kube_client,
    kube_options,
    load_credentials,
    make_client,
    opt,
    output_option,
    server_options,
    with_keys,
)
from drkit.cli.output import emit, metrics_options, observe, stderr
from drkit.errors import ConfigError
from drkit.kube.kinds import KUBE_KINDS
from drkit.ops import metrics, signals
from drkit.restore.kube import KubeTarget
from drkit.restore.progress import Ticker


@click.command()
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
@apply_options(kube_options)
@opt(
    "--kube-keep-target-secretkey",
    is_flag=True,
    help="With --kube: keep the target's token signing key (argocd-secret server.secretkey); old tokens then die.",
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
    kube: bool,
    kube_namespace: str,
    kubeconfig: str | None,
    kube_context: str | None,
    kube_keep_target_secretkey: bool,
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
    kinds_read = restoring.kinds_to_read(options.kinds) + (KUBE_KINDS if kube else ())
    loaded = backup.load(place.store, place.instance, backup_id, kinds_read, require=options.kinds, keys=keys)
    if kube and "kube" not in loaded.manifest:
        raise ConfigError(
            f"backup {loaded.backup_id} was exported without --kube: it holds no ConfigMap or Secret",
            hint="restore it without --kube (and with --credentials), or pick a backup exported with --kube",
        )
    kubernetes = kube_client(kube, kube_namespace, kubeconfig, kube_context)
    if kubernetes is None and kube_keep_target_secretkey:
        raise ConfigError("--kube-keep-target-secretkey without --kube", hint="add --kube, or leave it out")
    secrets = load_credentials(credentials)
    client = make_client(server, **auth)
    warn = lambda text: click.echo(f"drkit: warning: {text}", err=True)  # noqa: E731 (before any write)
    with signals.halt_on(warn, os._exit) as stop, Ticker(stderr, terminal=sys.stderr.isatty()) as ticker:
        target = None
        if kubernetes is not None:
            target = KubeTarget(kubernetes, kube_keep_target_secretkey, options.remap_clusters, options.remap_repos)
        report = restoring.restore(client, loaded, secrets, options, converge.converge, warn, ticker, stop, target)
    if loaded.manifest.get("suspicious"):
        report.notes.insert(0, f"this backup was flagged at export: {loaded.manifest['suspicious']['reason']}")
    observe(place.instance, lambda run: metrics.record_restore(run, report, loaded.manifest, restoring.ACTIONS))
    emit(output, report.to_json(), report.lines())
    sys.exit(report.exit_code)


@click.command()
@apply_options(server_options)
@at_instance()
@click.argument("backup_id", metavar="BACKUP")
@opt("--kinds", help="Comma-separated kinds to compare [default: all].")
@with_keys
@apply_options(kube_options)
@output_option
def diff(
    place: Place,
    server: str | None,
    backup_id: str,
    kinds: str | None,
    keys: Keys,
    kube: bool,
    kube_namespace: str,
    kubeconfig: str | None,
    kube_context: str | None,
    output: str,
    **auth: Any,
) -> None:
    """Compare a backup with a live Argo CD instance (drift report; exit 3 when they differ).

    With --kube, its ConfigMaps and Secrets too, by the names of the keys that differ (never a value).
    """
    from drkit.restore import apply as restoring

    options = restoring.RestoreOptions(kinds=kinds_option(kinds), dry_run=True)
    read = options.kinds + (KUBE_KINDS if kube else ())
    loaded = backup.load(place.store, place.instance, backup_id, read, require=options.kinds, keys=keys)
    kubernetes = kube_client(kube, kube_namespace, kubeconfig, kube_context)
    target = None if kubernetes is None else KubeTarget(kubernetes)
    report = restoring.diff(make_client(server, **auth), loaded, options, target)
    emit(output, report.to_json(), report.lines())
    sys.exit(report.exit_code)
