"""What belongs in a backup's folder: a manifest that names this very backup, and only the files it lists.

A manifest copied from another backup or instance, a renamed folder, or a file added after the export are
tampering (or an operator's mistake) that a checksum alone cannot see.
"""

from __future__ import annotations

from typing import Any

from drkit.backup.store import Store

MANIFEST = "manifest.yaml"


def misplaced(manifest: dict[str, Any], instance: str, backup_id: str) -> str | None:
    """Why a manifest does not belong in this folder (copied from another backup or instance, or renamed)."""
    claimed = (manifest.get("instance"), manifest.get("backupId"))
    if claimed == (instance, backup_id):
        return None
    return (
        f"the manifest is that of backup {claimed[1]} of instance {claimed[0]}, not of backup {backup_id} of "
        f"{instance}: the folder was renamed or the manifest copied from another backup"
    )


def walk_keys(store: Store, prefix: str) -> list[str]:
    """Every object key under folder `prefix`, at any depth."""
    keys = []
    for name in store.list(prefix):
        keys += walk_keys(store, prefix + name) if name.endswith("/") else [prefix + name]
    return keys


def unlisted(store: Store, instance: str, backup_id: str, manifest: dict[str, Any]) -> list[str]:
    """Problems for files in the backup's folder that its manifest does not list (added after the export)."""
    prefix = f"{instance}/{backup_id}/"
    listed = {e["key"] for e in manifest["objects"]} | {MANIFEST}
    extra = [key.removeprefix(prefix) for key in walk_keys(store, prefix)]
    return [
        f"{key}: in the backup's folder but not in its manifest (added after the export)"
        for key in extra
        if key not in listed
    ]
