"""The backup format: write an export (objects, then the manifest last), list backups, resolve `latest`, verify.

Layout in a store: `<instance>/<backup-id>/<kind>/<file>.yaml` per object and `<instance>/<backup-id>/manifest.yaml`,
written last. A backup without its manifest does not exist.
"""

from __future__ import annotations

import itertools
import re
import secrets
from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

import yaml

from drkit import __version__
from drkit.argocd import sources
from drkit.argocd.client import Client
from drkit.argocd.kinds import KINDS, RESTORE_ORDER, normalize
from drkit.backup import documents, schema, sealing, signing
from drkit.backup.checking import fetch_object, open_object, parse_all, read_all, read_object  # noqa: F401 (read_object: re-exported)
from drkit.backup.folders import MANIFEST, misplaced, unlisted, walk_keys  # noqa: F401 (re-exported)
from drkit.backup.store import Store
from drkit.errors import ApiError, BackupNotFound, ConfigError, IntegrityError, ObjectNotFound
from drkit.export.snapshot import Progress, Writer, fetch, skipped

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


def _stamp(at: datetime) -> str:
    return at.strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class ExportResult:
    backup_id: str
    instance: str
    counts: dict[str, int]
    warnings: list[str] = field(default_factory=list)
    suspicious: dict[str, Any] | None = None
    complete: bool = True

    @property
    def ok(self) -> bool:
        return self.complete and not self.suspicious and not self.warnings

    def to_json(self) -> dict[str, Any]:
        return {
            "backup_id": self.backup_id,
            "instance": self.instance,
            "complete": self.complete,
            "counts": self.counts,
            "warnings": self.warnings + ([self.suspicious["reason"]] if self.suspicious else []),
        }


def serialise(kind: str, obj: dict[str, Any]) -> tuple[str, bytes]:
    """An object as drkit stores it, normalised and validated: its store key and YAML bytes."""
    doc = normalize(kind, obj)
    key = KINDS[kind].key(doc)
    schema.validate(kind, doc, key.removesuffix(".yaml"))
    return key, dump(doc)


# writing --------------------------------------------------------------------------------------------------


def write_objects(writer: Writer, client: Client, kinds: Iterable[str]) -> list[str]:
    """Read, serialise and put every object of `kinds` as it arrives; warnings for kinds left out."""
    warnings: list[str] = []
    for kind in kinds:
        try:
            for obj in fetch(client, kind, writer.pool, warnings):
                writer.put(kind, *serialise(kind, obj))
        except ApiError as err:
            if not skipped(err):
                raise
            warnings.append(f"{kind}: not backed up: {err}")
    return warnings


def export(
    client: Client,
    store: Store,
    instance: str,
    kinds: Iterable[str] = RESTORE_ORDER,
    *,
    max_shrink: float = 0.5,
    concurrency: int = 16,
    progress: Progress | None = None,
    seal: sealing.Seal | None = None,
    sign: signing.SignKey | None = None,
) -> ExportResult:
    """Snapshot the instance into a new backup; the manifest is written after every object.

    With `seal`, every object is encrypted before it is stored, and so are the manifest's sensitive fields.

    Objects are written as the lists are read, so memory does not grow with the instance; a backup whose
    export failed halfway has no manifest, and so does not exist.
    """
    started = utcnow()
    backup_id = new_backup_id(started)
    kinds = tuple(kinds)
    version = client.version()
    with ThreadPoolExecutor(concurrency) as pool:
        writer = Writer(store, f"{instance}/{backup_id}", pool, 2 * concurrency, progress, seal)
        warnings = write_objects(writer, client, kinds)
        entries = writer.finish()
    counts = {kind: 0 for kind in kinds}
    for entry in entries:
        counts[entry["kind"]] += 1
    about, more = sources.describe(client, version, counts)
    warnings += more
    manifest = {
        "formatVersion": schema.FORMAT_VERSION,
        "drkitVersion": __version__,
        "argocdVersion": version,
        "instance": instance,
        "server": client.base,
        "backupId": backup_id,
        "startedAt": _stamp(started),
        "finishedAt": _stamp(utcnow()),
        "complete": True,
        "counts": counts,
        "objects": entries,
        "warnings": warnings,
        **about,
    }
    suspicious = shrink_check(store, instance, counts, max_shrink)
    if suspicious:
        manifest["suspicious"] = suspicious
    if seal:
        manifest.update(sealing.seal_manifest(manifest, seal))
    if sign:
        manifest[signing.FIELD] = signing.sign(manifest, sign)
    schema.validate("manifest", manifest, f"{instance}/{backup_id}/{MANIFEST}")
    store.put(f"{instance}/{backup_id}/{MANIFEST}", dump(manifest))
    return ExportResult(backup_id, instance, counts, warnings, suspicious)


def shrink_check(store: Store, instance: str, counts: dict[str, int], max_shrink: float) -> dict[str, Any] | None:
    """A reason to distrust this export: it holds far fewer objects than the previous trusted backup.

    Backups already flagged are passed over, so a second small export after a flagged one is flagged too.
    """
    trusted = (b for b in iter_backups(store, instance) if b.complete and not b.manifest.get("suspicious"))
    previous = next(trusted, None)
    if previous is None:
        return None
    before = sum(previous.counts.get(k, 0) for k in counts)
    now = sum(counts.values())
    if before and now < before * (1 - max_shrink):
        return {
            "reason": (
                f"this backup holds {now} objects, the previous one ({previous.backup_id}) {before}: more than "
                f"{max_shrink:.0%} fewer; check the token's permissions and the instance before trusting it "
                "(--max-shrink tunes this guard)"
            ),
            "previousCount": before,
            "count": now,
        }
    return None


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
    objects: dict[str, list[dict[str, Any]]] = {k: [] for k in RESTORE_ORDER if k in kinds}
    for entry, (doc, _) in zip(entries, results, strict=True):  # no problem: every entry was opened and parsed
        objects[entry["kind"]].append(doc)
    return Backup(backup_id, instance, sealing.open_manifest(manifest, seal), objects)


def find_entry(manifest: dict[str, Any], ref: str) -> dict[str, Any]:
    """The manifest entry for KIND/NAME: the exact key, or a unique match on the name or identity."""
    kind, _, wanted = ref.partition("/")
    if kind not in KINDS or not wanted:
        raise ConfigError(f"{ref!r} is not KIND/NAME", hint=f"kinds are {', '.join(KINDS)}")
    entries = [e for e in manifest["objects"] if e["kind"] == kind]
    exact = [e for e in entries if e["name"] == wanted]
    loose = [e for e in entries if e["name"].rsplit("/", 1)[-1] == wanted or wanted in e["name"]]
    matches = exact or loose
    if len(matches) != 1:
        names = ", ".join(e["name"] for e in matches[:10]) or "none"
        raise ConfigError(f"{ref!r} matches {len(matches)} objects ({names})", hint="give the full KIND/NAME")
    return matches[0]
