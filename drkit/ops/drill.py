"""Restore drills: restore a backup onto a scratch Argo CD, read it back as `drkit diff` does, and record the result.

A drill record lives at `<instance>/drills/<drill-id>.yaml`, beside the backups; drill ids look like backup ids
but live under `drills/`, which `list`, `latest`, prune and verify never take for a backup.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import Any

import yaml

from drkit.argocd.client import Client
from drkit.backup import format as backup
from drkit.backup import schema
from drkit.backup.store import Store
from drkit.errors import EXIT_OK, EXIT_PARTIAL, ConfigError, IntegrityError, ObjectNotFound
from drkit.restore import kube as kube_restore
from drkit.restore.apply import RestoreOptions, RestoreReport, diff, restore
from drkit.restore.kube import KubeTarget

DRILLS = "drills"
PHASES = ("load", "apply", "converge")


@dataclass
class Scratch:
    """Where a drill restores: the scratch Argo CD, and its namespace when the backup holds Secrets (--kube)."""

    client: Client
    kube: KubeTarget | None = None


# Opens the scratch Argo CD for a loaded backup (a throwaway --server, or the simulator) and closes it after.
Connect = Callable[[backup.Backup], AbstractContextManager[Client | Scratch]]


@dataclass
class DrillResult:
    """What one drill proved: timings per phase, objects restored, read back identical, failed."""

    drill_id: str
    instance: str
    backup_id: str
    target: str
    started_at: str
    finished_at: str
    phases: dict[str, float]
    counts: dict[str, int]  # restored, identical, failed, compared, skipped
    apps: dict[str, int]  # healthy, failed
    differences: list[str] = field(default_factory=list)
    exit_code: int = EXIT_OK
    report: RestoreReport | None = field(default=None, repr=False)
    manifest: dict[str, Any] = field(default_factory=dict, repr=False)  # the drilled backup's

    @property
    def recovery_seconds(self) -> float:
        return sum(self.phases.values())

    @property
    def identical_ratio(self) -> float:
        return self.counts["identical"] / self.counts["compared"] if self.counts["compared"] else 1.0

    def to_record(self) -> dict[str, Any]:
        """The stored document, as schemas/v1/drill.json describes it."""
        return {
            "formatVersion": schema.FORMAT_VERSION,
            "drillId": self.drill_id,
            "instance": self.instance,
            "backupId": self.backup_id,
            "target": self.target,
            "startedAt": self.started_at,
            "finishedAt": self.finished_at,
            "recoverySeconds": round(self.recovery_seconds, 3),
            "phases": {p: round(s, 3) for p, s in self.phases.items()},
            "objects": self.counts,
            "apps": self.apps,
            "differences": self.differences,
            "exitCode": self.exit_code,
        }

    @classmethod
    def from_record(cls, doc: dict[str, Any]) -> DrillResult:
        keys = ("drillId", "instance", "backupId", "target", "startedAt", "finishedAt", "phases", "objects", "apps")
        return cls(*(doc[k] for k in keys), differences=doc["differences"], exit_code=doc["exitCode"])

    def lines(self) -> list[str]:
        c = self.counts
        timing = ", ".join(f"{p} {s:.1f}s" for p, s in self.phases.items())
        return [
            f"drill {self.drill_id}: backup {self.backup_id} restored onto {self.target}",
            f"  recovery time {self.recovery_seconds:.1f}s ({timing})",
            f"  {c['restored']} object(s) restored, {c['identical']} of {c['compared']} read back identical "
            f"({self.identical_ratio:.0%}), {c['failed']} failed, {c['skipped']} skipped",
            f"  applications: {self.apps['healthy']} healthy, {self.apps['failed']} failed",
            *(f"  differs: {d}" for d in self.differences),
        ]


def drill(
    store: Store,
    instance: str,
    backup_ref: str,
    connect: Connect,
    target: str,
    *,
    credentials: Any = None,
    options: RestoreOptions | None = None,
    converge: Callable[..., list[Any]] | None = None,
    clock: Callable[[], float] = time.monotonic,
    keys: Any = None,
) -> DrillResult:
    """Load, restore onto the scratch target, read back; the result says how long and how faithful."""
    options = options or RestoreOptions()
    started = backup.utcnow()
    phases = dict.fromkeys(PHASES, 0.0)
    mark = clock()
    loaded = backup.load(store, instance, backup_ref, schema.KINDS, require=options.kinds, keys=keys)
    phases["load"] = clock() - mark
    if target.rstrip("/") == str(loaded.manifest.get("server", "")).rstrip("/"):
        raise ConfigError(
            f"refusing to drill onto {target}: backup {loaded.backup_id} was taken from that instance, and a drill "
            "writes to its target",
            hint="give the --server of a throwaway Argo CD, or use --simulate",
        )

    def timed_converge(*args: Any, **kwargs: Any) -> list[Any]:
        begin = clock()
        try:
            return converge(*args, **kwargs) if converge else []
        finally:
            phases["converge"] = clock() - begin

    with connect(loaded) as opened:
        scratch = opened if isinstance(opened, Scratch) else Scratch(opened)
        client, kube = scratch.client, scratch.kube
        mark = clock()
        run = {"converge": timed_converge if converge else None, "kube": kube}
        report = restore(client, loaded, credentials, options, **run)
        phases["apply"] = clock() - mark - phases["converge"]
        readback = diff(client, loaded, options)
        steps = [(s.kind, s.name, s.action, s.changes) for s in readback.plan.steps]
        if kube is not None:  # the ConfigMaps and Secrets, read back as a second restore would plan them
            steps += [
                (s.kind, s.name, s.action, [f"data.{k}" for k in s.keys])
                for s in kube_restore.plan(kube, loaded.objects)
            ]
    compared = [s for s in steps if s[2] != "skip"]
    differences = [
        f"{kind} {name}: " + _what(action, changes) for kind, name, action, changes in compared if action != "unchanged"
    ]
    apps = [r for r in report.converged if getattr(r, "kind", "applications") == "applications"]
    counts = {
        "restored": sum(1 for o in report.objects if o.action in ("create", "update", "unchanged")),
        "identical": sum(1 for s in compared if s[2] == "unchanged"),
        "failed": sum(1 for o in report.objects if o.action == "fail"),
        "compared": len(compared),
        "skipped": len(steps) - len(compared),
    }
    return DrillResult(
        drill_id=backup.new_backup_id(started),
        instance=instance,
        backup_id=loaded.backup_id,
        target=target,
        started_at=backup.stamp(started),
        finished_at=backup.stamp(backup.utcnow()),
        phases=phases,
        counts=counts,
        apps={"healthy": sum(1 for r in apps if r.ok), "failed": sum(1 for r in apps if not r.ok)},
        differences=differences,
        exit_code=EXIT_OK if report.exit_code == EXIT_OK and not differences else EXIT_PARTIAL,
        report=report,
        manifest=loaded.manifest,
    )


def _what(action: str, changes: list[str]) -> str:
    return "missing on the target after the restore" if action == "create" else "differs: " + ", ".join(changes)


def save(store: Store, result: DrillResult) -> str:
    """Write the drill record (validated first); returns its key."""
    key = f"{result.instance}/{DRILLS}/{result.drill_id}.yaml"
    record = result.to_record()
    schema.validate("drill", record, key)
    store.put(key, backup.dump(record))
    return key


def iter_drills(store: Store, instance: str) -> Iterator[DrillResult]:
    """Drill records, newest first; a record that does not validate is an error naming its key."""
    names = sorted((n for n in store.list(f"{instance}/{DRILLS}/") if n.endswith(".yaml")), reverse=True)
    for name in names:
        key = f"{instance}/{DRILLS}/{name}"
        try:
            doc = backup.load_yaml(store.get(key))
        except ObjectNotFound:
            continue
        except yaml.YAMLError as err:
            raise IntegrityError(f"{key}: not valid YAML ({err})", hint="delete or repair that drill record") from None
        schema.validate("drill", doc, key)
        yield DrillResult.from_record(doc)


def list_drills(store: Store, instance: str) -> list[DrillResult]:
    return list(iter_drills(store, instance))


def table(records: list[DrillResult]) -> list[str]:
    """`drkit list --drills`: one line per drill, newest first."""
    lines = [f"{'DRILL':<26} {'BACKUP':<26} {'RECOVERY':>9} IDENTICAL  EXIT"]
    for r in records:
        identical = f"{r.counts['identical']}/{r.counts['compared']}"
        lines.append(f"{r.drill_id:<26} {r.backup_id:<26} {r.recovery_seconds:>8.1f}s {identical:>9}  {r.exit_code}")
    return lines
