"""Object history: the backups in which one object changed, found from the manifests' checksums alone.

Only the manifests are read to find the changes (an encrypted backup's names and checksums are readable without
its key); with diffs, only the versions that changed are read, each checked against its checksum and decrypted
with `keys` as a restore would. A `keys.sign` key must have signed every manifest looked at.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from typing import Any

import yaml

from drkit.backup import format as backup
from drkit.backup import schema, sealing, signing
from drkit.backup.store import Store
from drkit.errors import ConfigError, IntegrityError
from drkit.kube import kinds as kube_kinds


@dataclass
class Version:
    """One change of the object: `added`, `changed` or `removed` in backup `backup_id`."""

    backup_id: str
    created_at: str
    change: str
    entry: dict[str, Any] | None  # the manifest entry, None when removed
    format_version: int = 1
    diff: list[str] = field(default_factory=list)
    seal: sealing.Seal | None = field(default=None, repr=False)  # opens the version's object (an encrypted backup)

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"backup_id": self.backup_id, "created_at": self.created_at, "change": self.change}
        out["sha256"] = self.entry["sha256"] if self.entry else None
        if self.diff:
            out["diff"] = "".join(self.diff)
        return out


@dataclass
class History:
    ref: str  # KIND/NAME as the manifests name it
    versions: list[Version]  # oldest first
    backups: int  # complete backups looked at

    def to_json(self) -> dict[str, Any]:
        return {"object": self.ref, "backups": self.backups, "versions": [v.to_json() for v in self.versions]}

    def lines(self) -> list[str]:
        out = [f"{self.ref}: {len(self.versions)} version(s) in {self.backups} complete backup(s)"]
        for v in self.versions:
            out.append(f"{v.backup_id}  {v.created_at}  {v.change}")
            out += ["  " + line.rstrip("\n") for line in v.diff]
        return out


def history(store: Store, instance: str, ref: str, *, diffs: bool = False, keys: sealing.Keys | None = None) -> History:
    """The versions of KIND/NAME across the instance's complete backups, oldest first; `keys` read encrypted ones."""
    keys = keys or sealing.Keys()
    infos = [b for b in backup.iter_backups(store, instance) if b.complete][::-1]
    for info in infos:
        signing.check(info.manifest, keys.sign, f"{instance}/{info.backup_id}/{backup.MANIFEST}")
    kind, name = _resolve(infos, ref)
    versions: list[Version] = []
    previous: dict[str, Any] | None = None
    for info in infos:
        if kind not in info.counts:  # that export left the kind out: absence says nothing
            continue
        entry = next((e for e in info.manifest["objects"] if e["kind"] == kind and e["name"] == name), None)
        if (entry or {}).get("sha256") == (previous or {}).get("sha256"):
            continue
        change = "added" if previous is None else "removed" if entry is None else "changed"
        created, version = info.manifest.get("finishedAt", ""), info.manifest.get("formatVersion", 1)
        seal = None
        if diffs and entry is not None:  # the versions read, and only those, need their key
            seal = sealing.for_reading(info.manifest, keys, required=f"backup {info.backup_id}")
        versions.append(Version(info.backup_id, created, change, entry, version, seal=seal))
        previous = entry
    if diffs:
        _add_diffs(store, instance, versions)
    return History(f"{kind}/{name}", versions, len(infos))


def _resolve(infos: list[backup.BackupInfo], ref: str) -> tuple[str, str]:
    """KIND and the exact manifest name for `ref`, matched as `drkit show` matches it, newest backup first."""
    kind, _, wanted = ref.partition("/")
    if kind not in schema.KINDS or not wanted:
        raise ConfigError(f"{ref!r} is not KIND/NAME", hint=f"kinds are {', '.join(schema.KINDS)}")
    for info in reversed(infos):
        if any(e["kind"] == kind and e["name"] == wanted for e in info.manifest.get("objects", [])):
            return kind, wanted
    for info in reversed(infos):
        if any(e["kind"] == kind for e in info.manifest.get("objects", [])):
            try:
                return kind, backup.find_entry(info.manifest, ref)["name"]
            except ConfigError:
                continue
    raise ConfigError(
        f"{ref} is in none of the {len(infos)} complete backup(s)", hint="check the name with `drkit show BACKUP`"
    )


def _add_diffs(store: Store, instance: str, versions: list[Version]) -> None:
    """A unified diff from each version to the next (the first against nothing)."""
    before, label = "", "/dev/null"
    for version in versions:
        after, where = "", "/dev/null"
        if version.entry is not None:
            where = f"{version.backup_id}/{version.entry['key']}"
            doc, problems = backup.read_object(
                store, f"{instance}/{version.backup_id}", version.entry, version.format_version, version.seal
            )
            if problems:
                raise IntegrityError(f"backup {version.backup_id}: " + "; ".join(problems), hint="run `drkit verify`")
            after = readable(kube_kinds.summary(doc) if version.entry["kind"] == "secrets" else doc)  # never a value
        lines = difflib.unified_diff(before.splitlines(True), after.splitlines(True), label, where)
        version.diff = list(lines)
        before, label = after, where


class _BlockDumper(yaml.SafeDumper):
    """Multi-line strings (inline Helm values, policies) as `|` blocks, so a diff shows the lines that changed."""


def _string(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_BlockDumper.add_representer(str, _string)


def readable(doc: Any) -> str:
    """An object as YAML for reading and diffing: sorted keys, block scalars for multi-line strings."""
    return yaml.dump(
        doc, Dumper=_BlockDumper, sort_keys=True, default_flow_style=False, allow_unicode=True, width=1 << 16
    )
