"""An export run: a new backup id, every kind read and written as it streams, then the manifest, last."""

from __future__ import annotations

from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from drkit import __version__
from drkit.argocd import sources
from drkit.argocd.client import Client
from drkit.argocd.kinds import KINDS, RESTORE_ORDER, normalize
from drkit.argocd.listing import projects_named
from drkit.backup import schema, sealing, signing
from drkit.backup.documents import dump
from drkit.backup.format import MANIFEST, iter_backups, new_backup_id, stamp, utcnow
from drkit.backup.store import Store
from drkit.errors import ApiError, ConfigError
from drkit.export.snapshot import Progress, Writer, fetch, skipped
from drkit.kube import kinds as kube_kinds
from drkit.kube.capture import Capture


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


def write_objects(writer: Writer, client: Client, kinds: Iterable[str]) -> list[str]:
    """Read, serialise and put every object of `kinds` as it arrives; warnings for kinds left out.

    The projects named by the objects read (kinds in restore order: repositories, clusters and ApplicationSets
    before applications) are handed to the applications' read, which reads them past the gRPC limit by name.
    """
    warnings: list[str] = []
    named: set[str] = set()
    for kind in kinds:
        try:
            for obj in fetch(client, kind, writer.pool, warnings, named):
                named |= projects_named(kind, obj)
                writer.put(kind, *serialise(kind, obj))
        except ApiError as err:
            if not skipped(err):
                raise
            warnings.append(f"{kind}: not backed up: {err}")
    return warnings


def write_captured(writer: Writer, captured: Capture) -> None:
    """Put the ConfigMaps and Secrets `--kube` read (each validated as it is put); sealed like every object."""
    for kind, docs in captured.objects.items():
        for doc in docs:
            key = kube_kinds.key(kind, doc)
            schema.validate(kind, doc, key.removesuffix(".yaml"))
            writer.put(kind, key, dump(doc))


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
    kube: Capture | None = None,
) -> ExportResult:
    """Snapshot the instance into a new backup; the manifest is written after every object.

    With `seal`, every object is encrypted before it is stored, and so are the manifest's sensitive fields.

    Objects are written as the lists are read, so memory does not grow with the instance; a backup whose
    export failed halfway has no manifest, and so does not exist. `kube` is what `--kube` read from Argo CD's
    namespace, before this call, so a missing RBAC rule stopped the export before anything was written.
    """
    if kube is not None and kube.objects.get("secrets") and seal is None:
        raise ConfigError("Secrets are stored only in a client-side encrypted backup", hint="pass --encrypt")
    started = utcnow()
    backup_id = new_backup_id(started)
    kinds = tuple(kinds)
    version = client.version()
    with ThreadPoolExecutor(concurrency) as pool:
        writer = Writer(store, f"{instance}/{backup_id}", pool, 2 * concurrency, progress, seal)
        if kube is not None:
            write_captured(writer, kube)
        warnings = (kube.warnings if kube else []) + write_objects(writer, client, kinds)
        entries = writer.finish()
    counts = {kind: 0 for kind in kinds} | ({kind: 0 for kind in kube.objects} if kube else {})
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
        "startedAt": stamp(started),
        "finishedAt": stamp(utcnow()),
        "complete": True,
        "counts": counts,
        "objects": entries,
        "warnings": warnings,
        **about,
    }
    if kube is not None:
        manifest["kube"] = {"namespace": kube.namespace, "secrets": kube.secrets}
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
