"""Verify a backup: every checksum, every schema, and the references between its objects."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from drkit.argocd.kinds import KINDS, RESTORE_ORDER
from drkit.argocd.refs import missing
from drkit.backup import sealing, signing
from drkit.backup.checking import read_all
from drkit.backup.format import read_manifest, read_object, resolve, unlisted
from drkit.backup.store import Store
from drkit.errors import EXIT_OK, EXIT_PARTIAL, ConfigError, IntegrityError


@dataclass
class VerifyResult:
    backup_id: str
    problems: list[str]
    checked: str = "all"  # or "checksums": an encrypted backup read without its key

    @property
    def ok(self) -> bool:
        return not self.problems

    def to_json(self) -> dict[str, Any]:
        shallow = {"checked": self.checked} if self.checked != "all" else {}  # only what CONTRACT.md lacks
        return {"backup_id": self.backup_id, "ok": self.ok, "problems": self.problems} | shallow

    def lines(self) -> list[str]:
        head = f"backup {self.backup_id}: {'ok' if self.ok else f'{len(self.problems)} problem(s)'}"
        if self.checked == "checksums":
            head += " (checksums only: the backup is encrypted; to check all, pass --identity or grant its KMS key)"
        return [head] + [f"  {p}" for p in self.problems]

    @property
    def exit_code(self) -> int:
        return EXIT_OK if self.ok else EXIT_PARTIAL


def verify(
    store: Store, instance: str, backup: str, *, concurrency: int = 16, keys: sealing.Keys | None = None
) -> VerifyResult:
    """Every checksum, every schema, and the references inside the backup, with problems listed by object.

    An encrypted backup whose key is not at hand (no `--identity`, or KMS refusing) gets its checksums checked,
    which needs no key: `checked` says so.
    """
    backup_id = resolve(store, instance, backup)
    manifest = read_manifest(store, instance, backup_id)
    keys = keys or sealing.Keys()
    signed = _signature_problems(manifest, keys, f"{instance}/{backup_id}/manifest.yaml")
    try:
        seal = sealing.for_reading(manifest, keys)
    except ConfigError:
        seal = sealing.for_reading(manifest, sealing.Keys())
    version = manifest["formatVersion"]
    entries = manifest["objects"]
    results = read_all(store, lambda e: read_object(store, f"{instance}/{backup_id}", e, version, seal), entries,
                       concurrency)  # fmt: skip
    problems = signed + [p for _, found in results for p in found] + unlisted(store, instance, backup_id, manifest)
    objects: dict[str, list[dict[str, Any]]] = {k: [] for k in RESTORE_ORDER}
    for entry, (doc, _) in zip(entries, results, strict=True):
        if doc is not None and entry["kind"] in objects:  # a --kube backup's ConfigMaps and Secrets name no object
            objects[entry["kind"]].append(doc)
    if seal and not seal.open:
        return VerifyResult(backup_id, problems, "checksums")
    problems += reference_problems(objects, set(manifest["counts"]))
    return VerifyResult(backup_id, problems)


def _signature_problems(manifest: dict[str, Any], keys: sealing.Keys, where: str) -> list[str]:
    """With --sign-key, an unsigned or wrongly signed manifest is the first problem."""
    if not keys.sign:
        return []
    try:
        signing.check(manifest, keys.sign, where)
    except IntegrityError as err:
        return [err.message]
    return []


def reference_problems(objects: dict[str, list[dict[str, Any]]], exported: set[str] | None = None) -> list[str]:
    """Objects whose project, destination cluster or generating ApplicationSet the backup lacks (`refs.missing`).

    Only kinds the export took are checked: a backup made with `--kinds applications` holds no projects on
    purpose, and saying so for every application would bury real problems. Repositories are not required: a
    public repository needs no Repository object.
    """
    exported = set(RESTORE_ORDER) if exported is None else exported
    return [
        f"{KINDS[kind].key(doc).removesuffix('.yaml')}: {ref.what} is not in the backup"
        for kind, doc, ref in missing(objects, exported)
    ]
