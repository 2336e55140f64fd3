"""The backup format: backup ids, manifests, listing backups, resolving `latest`, and loading one whole.

Layout in a store: `<instance>/<backup-id>/<kind>/<file>.yaml` per object and `<instance>/<backup-id>/manifest.yaml`,
written last. A backup without its manifest does not exist.
"""

from __future__ import annotations

import itertools
import re
import secrets
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

import yaml

from drkit.argocd.kinds import RESTORE_ORDER
from drkit.backup import documents, schema, sealing, signing
from drkit.backup.checking import fetch_object, open_object, parse_all, read_all, read_object  # noqa: F401 (read_object: re-exported)
from drkit.backup.folders import MANIFEST, misplaced, unlisted, walk_keys  # noqa: F401 (re-exported)
from drkit.backup.store import Store
from drkit.errors import BackupNotFound, ConfigError, IntegrityError, ObjectNotFound

# what new_backup_id names a backup folder; anything else under an instance (drills/, a stray folder) is not a backup
ID_TIME = "%Y%m%dT%H%M%SZ"
BACKUP_ID = re.compile(r"^(\d{8}T\d{6}Z)-")

dump = documents.dump  # deterministic YAML, never an alias
load_yaml = documents.load  # refuses oversized documents and aliases


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


def new_backup_id(at: datetime) -> str:
    """An id that sorts by time: `20261129T041959Z-123-3f2a9c01` (milliseconds, then a random tag).

    The milliseconds keep two exports in the same second in order, so `latest` and `list` stay right; 32 random
    bits keep two exports started in the same millisecond (a retried Job) out of each other's folder.
    """
    return at.strftime(ID_TIME) + f"-{at.microsecond // 1000:03d}-" + secrets.token_hex(4)


def backup_time(backup_id: str) -> datetime:
    """When a backup id says its export started (to the second, UTC); ValueError for a name that is not an id."""
    found = BACKUP_ID.match(backup_id)
    if not found:
        raise ValueError(f"{backup_id!r} is not a drkit backup id")
    return datetime.strptime(found[1], ID_TIME).replace(tzinfo=timezone.utc)


def stamp(at: datetime) -> str:
    return at.strftime("%Y-%m-%dT%H:%M:%SZ")


# reading --------------------------------------------------------------------------------------------------


@dataclass
class BackupInfo:
    backup_id: str
    manifest: dict[str, Any]

    @property
    def counts(self) -> dict[str, int]:
        return self.manifest.get("counts", {})

    @property
    def complete(self) -> bool:
        return self.manifest.get("complete") is True

    def to_json(self) -> dict[str, Any]:
        return {
            "backup_id": self.backup_id,
            "created_at": self.manifest.get("finishedAt"),
            "complete": self.complete,
            "counts": self.counts,
            "suspicious": bool(self.manifest.get("suspicious")),
        }


def read_manifest(store: Store, instance: str, backup_id: str) -> dict[str, Any]:
    """A backup's validated manifest; a backup without one does not exist."""
    where = f"{instance}/{backup_id}/{MANIFEST}"
    try:
        manifest = load_yaml(store.get(where))
    except ObjectNotFound:
        raise BackupNotFound(
            f"backup {backup_id} of instance {instance} has no manifest in {store.url}: it does not exist or "
            "its export did not finish",
            hint="run `drkit list` to see the complete backups",
        ) from None
    except yaml.YAMLError as err:
        raise IntegrityError(f"{where}: not valid YAML ({err})") from None
    schema.validate("manifest", manifest, where)
    wrong = misplaced(manifest, instance, backup_id)
    if wrong:
        raise IntegrityError(f"{where}: {wrong}", hint="restore another backup (`drkit list`); nothing was written")
    return manifest


def iter_backups(store: Store, instance: str) -> Iterator[BackupInfo]:
    """Backups with a manifest, newest first, reading each manifest only when asked for.

    A manifest that cannot be read as one yields a backup that is not `complete`, rather than an exception: one
    damaged backup must not stop `list`, `latest`, prune or the next export's shrink guard.
    """
    folders = (name.rstrip("/") for name in store.list(f"{instance}/") if name.endswith("/"))
    ids = sorted((name for name in folders if BACKUP_ID.match(name)), reverse=True)
    for backup_id in ids:
        try:
            manifest = load_yaml(store.get(f"{instance}/{backup_id}/{MANIFEST}"))
        except ObjectNotFound:
            continue
        except yaml.YAMLError:
            manifest = None
        if not isinstance(manifest, dict):
            manifest = {"complete": False, "damaged": f"{MANIFEST} is not a YAML mapping; run `drkit verify`"}
        elif misplaced(manifest, instance, backup_id):
            manifest = {
                "complete": False,
                "damaged": f"{misplaced(manifest, instance, backup_id)}; run `drkit verify`",
            }
        yield BackupInfo(backup_id, manifest)


def list_backups(store: Store, instance: str, *, limit: int | None = None) -> list[BackupInfo]:
    """Backups with a manifest, newest first (a damaged one is listed as not complete)."""
    return list(itertools.islice(iter_backups(store, instance), limit))


def resolve(store: Store, instance: str, backup: str, require: Iterable[str] = ()) -> str:
    """A backup id, or `latest` as the newest complete backup's id that holds every kind in `require`.

    An export made with `--kinds projects` is complete, but a restore of everything must not take it for `latest`.
    """
    return backup if backup != "latest" else _latest(store, instance, set(require)).backup_id


def _latest(store: Store, instance: str, require: set[str]) -> BackupInfo:
    """The newest complete backup holding every kind in `require`, its manifest read once."""
    holds = (b for b in iter_backups(store, instance) if b.complete and require <= set(b.counts))
    newest = next(holds, None)
    if newest is None:
        others = [n.rstrip("/") for n in store.list("") if n.endswith("/") and n.rstrip("/") != instance]
        held = f"; the store holds instance(s) {', '.join(others)}" if others else ""
        kinds = f" holding {', '.join(k for k in RESTORE_ORDER if k in require)}" if require else ""
        raise BackupNotFound(
            f"instance {instance} has no complete backup{kinds} in {store.url}{held}",
            hint="pass --instance NAME (it defaults to the --server host name), check --store, or run `drkit export`",
        )
    return newest


@dataclass
class Backup:
    """A complete backup whose objects have been read and checked."""

    backup_id: str
    instance: str
    manifest: dict[str, Any]
    objects: dict[str, list[dict[str, Any]]]  # kind -> documents


def load(
    store: Store,
    instance: str,
    backup: str,
    kinds: Iterable[str] = RESTORE_ORDER,
    *,
    require: Iterable[str] = (),
    concurrency: int = 16,
    keys: sealing.Keys | None = None,
) -> Backup:
    """Read a backup, checking every object of `kinds`; any problem raises before the caller writes anything.

    `latest` means the newest complete backup holding every kind in `require`; `keys` open an encrypted one.
    """
    if backup == "latest":  # its manifest is read already: a manifest of 10,000 apps takes a second to parse
        newest = _latest(store, instance, set(require))
        backup_id, manifest = newest.backup_id, newest.manifest
        schema.validate("manifest", manifest, f"{instance}/{backup_id}/{MANIFEST}")
    else:
        backup_id, manifest = backup, read_manifest(store, instance, backup)
    keys = keys or sealing.Keys()
    signing.check(manifest, keys.sign, f"{instance}/{backup_id}/{MANIFEST}")
    seal = sealing.for_reading(manifest, keys, required=f"backup {backup_id}")
    kinds = set(kinds)
    entries = [e for e in manifest["objects"] if e["kind"] in kinds]
    version, prefix = manifest["formatVersion"], f"{instance}/{backup_id}"
    opened = read_all(store, lambda e: open_object(e, fetch_object(store, f"{prefix}/{e['key']}"), seal), entries,
                      concurrency)  # fmt: skip
    results = parse_all(
        [(e, plain) for e, (plain, _) in zip(entries, opened, strict=True) if plain is not None], version
    )
    problems = [p for _, found in opened for p in found] + [p for _, found in results for p in found]
    problems += unlisted(store, instance, backup_id, manifest)
    if problems:
        raise IntegrityError(
            f"backup {backup_id} failed its checks ({len(problems)} problem(s)): " + "; ".join(problems[:20]),
            hint="nothing was written; restore another backup (`drkit list`) or leave the damaged kinds out (--kinds)",
        )
    objects: dict[str, list[dict[str, Any]]] = {k: [] for k in schema.KINDS if k in kinds}
    for entry, (doc, _) in zip(entries, results, strict=True):  # no problem: every entry was opened and parsed
        objects[entry["kind"]].append(doc)
    return Backup(backup_id, instance, sealing.open_manifest(manifest, seal), objects)


def find_entry(manifest: dict[str, Any], ref: str) -> dict[str, Any]:
    """The manifest entry for KIND/NAME: the exact key, or a unique match on the name or identity."""
    kind, _, wanted = ref.partition("/")
    if kind not in schema.KINDS or not wanted:
        raise ConfigError(f"{ref!r} is not KIND/NAME", hint=f"kinds are {', '.join(schema.KINDS)}")
    entries = [e for e in manifest["objects"] if e["kind"] == kind]
    exact = [e for e in entries if e["name"] == wanted]
    loose = [e for e in entries if e["name"].rsplit("/", 1)[-1] == wanted or wanted in e["name"]]
    matches = exact or loose
    if len(matches) != 1:
        names = ", ".join(e["name"] for e in matches[:10]) or "none"
        raise ConfigError(f"{ref!r} matches {len(matches)} objects ({names})", hint="give the full KIND/NAME")
    return matches[0]
