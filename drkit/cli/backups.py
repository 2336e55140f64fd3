"""The commands that read the store: `list`, `show`, `verify`, `prune` and `history`."""

from __future__ import annotations

import sys

import click

from drkit.backup import format as backup
from drkit.backup import sealing, signing
from drkit.backup.sealing import Keys
from drkit.backup.verify import verify as verify_backup
from drkit.cli.flags import (
    Place,
    at_instance,
    opt,
    output_option,
    with_keys,
)
from drkit.cli.output import emit, metrics_options, observe
from drkit.kube import kinds as kube_kinds
from drkit.ops import metrics


@click.command("list")
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


@click.command()
@at_instance(naming_flags=True)
@click.argument("backup_id", metavar="BACKUP")
@click.argument("object_ref", metavar="[KIND/NAME]", required=False)
@with_keys
def show(place: Place, backup_id: str, object_ref: str | None, keys: Keys) -> None:
    """Show a backup's summary, or one object's YAML (KIND/NAME, e.g. applications/argocd/guestbook).

    A Secret (secrets/NAME) is shown by its key names and a sha256 fingerprint of each value, never the values.
    """
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
    click.echo(backup.dump(kube_kinds.summary(doc) if entry["kind"] == "secrets" else doc).decode(), nl=False)


@click.command()
@at_instance(naming_flags=True)
@click.argument("backup_id", metavar="BACKUP")
@with_keys
@output_option
def verify(place: Place, backup_id: str, keys: Keys, output: str) -> None:
    """Check every checksum, schema and reference of a backup (an encrypted one's checksums only, without its key)."""
    result = verify_backup(place.store, place.instance, backup_id, keys=keys)
    emit(output, result.to_json(), result.lines())
    sys.exit(result.exit_code)


@click.command()
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


@click.command()
@at_instance(by_server=False)
@click.argument("object_ref", metavar="KIND/NAME")
@opt("--diff", "with_diff", is_flag=True, help="Show a unified diff between consecutive versions.")
@with_keys
@output_option
def history(place: Place, object_ref: str, with_diff: bool, keys: Keys, output: str) -> None:
    """List the backups in which one object changed (e.g. applications/argocd/guestbook), oldest first.

    The versions come from the manifests; --diff reads them, and an encrypted backup's with --identity.
    """
    from drkit.backup.history import history as object_history

    found = object_history(place.store, place.instance, object_ref, diffs=with_diff, keys=keys)
    emit(output, found.to_json(), found.lines())
