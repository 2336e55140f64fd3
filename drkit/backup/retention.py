"""Backup retention: which backups a keep-last/daily/weekly/monthly policy keeps, and deleting the rest.

The policy is restic's `forget`: each rule keeps the newest backup of each of its last N periods; a backup
kept by any rule stays, and so does the newest backup not flagged suspicious. Folders that are not drkit
backup ids are never touched. Incomplete exports (no manifest) older than the newest complete backup and older
than DEBRIS_AGE are deleted too: they are debris, never restorable. The age matters: an export that started
before the newest complete one may still be running (two exports at once), and has no manifest yet. A backup
whose manifest is damaged is neither kept nor deleted.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

from drkit.backup.format import BACKUP_ID, MANIFEST, backup_time, list_backups, walk_keys
from drkit.backup.store import Store
from drkit.errors import ConfigError

DEBRIS_AGE = timedelta(hours=24)  # no export runs this long; a nightly export's debris goes the next night


@dataclass(frozen=True)
class Policy:
    last: int = 0
    daily: int = 0
    weekly: int = 0
    monthly: int = 0

    def empty(self) -> bool:
        return not (self.last or self.daily or self.weekly or self.monthly)


@dataclass
class PruneResult:
    kept: list[str] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)
    dry_run: bool = False

    def to_json(self) -> dict[str, Any]:
        return {"kept": self.kept, "deleted": self.deleted, "dry_run": self.dry_run}

    def lines(self) -> list[str]:
        verb = "would delete" if self.dry_run else "deleted"
        return [f"kept {len(self.kept)} backup(s); {verb} {len(self.deleted)}"] + [
            f"  {verb}: {b}" for b in self.deleted
        ]


def _period(backup_id: str, rule: str) -> str:
    at = backup_time(backup_id)
    if rule == "daily":
        return at.strftime("%Y-%m-%d")
    if rule == "weekly":
        year, week, _ = at.isocalendar()
        return f"{year}-W{week:02d}"
    return at.strftime("%Y-%m")


def keep(backup_ids: list[str], policy: Policy) -> set[str]:
    """The ids a policy keeps, from ids sorted newest first."""
    kept = set(backup_ids[: policy.last])
    for rule, count in (("daily", policy.daily), ("weekly", policy.weekly), ("monthly", policy.monthly)):
        seen: list[str] = []
        for backup_id in backup_ids:
            period = _period(backup_id, rule)
            if period not in seen:
                if len(seen) == count:
                    break
                seen.append(period)
                kept.add(backup_id)
    return kept


def prune(
    store: Store, instance: str, policy: Policy, *, dry_run: bool = False, now: datetime | None = None
) -> PruneResult:
    """Delete the backups the policy does not keep; a policy that keeps nothing is refused."""
    if policy.empty():
        raise ConfigError(
            "refusing to prune with no --keep-* rule: that would delete every backup",
            hint="give at least one of --keep-last, --keep-daily, --keep-weekly, --keep-monthly",
        )
    listed = list_backups(store, instance)
    complete = [b.backup_id for b in listed if b.complete]
    kept = keep(complete, policy)
    # flagged exports (a token that lost permissions, night after night) must never push out the last good one
    trusted = next((b.backup_id for b in listed if b.complete and not b.manifest.get("suspicious")), None)
    if trusted:
        kept.add(trusted)
    newest = complete[0] if complete else ""
    folders = [n.rstrip("/") for n in store.list(f"{instance}/") if n.endswith("/") and BACKUP_ID.match(n)]
    with_manifest = {b.backup_id for b in listed}  # a damaged manifest is evidence: prune leaves it alone
    cutoff = (now or datetime.now(timezone.utc)) - DEBRIS_AGE
    debris = [b for b in folders if b not in with_manifest and b < newest and backup_time(b) < cutoff]
    doomed = sorted((set(complete) - kept) | set(debris), reverse=True)
    if not dry_run:
        for backup_id in doomed:
            _delete_backup(store, f"{instance}/{backup_id}")
    return PruneResult(sorted(kept, reverse=True), doomed, dry_run)


def _delete_backup(store: Store, prefix: str) -> None:
    """Delete the manifest first, so a half-deleted backup is never taken for a complete one."""
    store.delete(f"{prefix}/{MANIFEST}")
    for key in walk_keys(store, prefix + "/"):
        store.delete(key)
