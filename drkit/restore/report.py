"""What a restore or a diff did (or would do): CONTRACT.md's JSON documents and the human lines the CLI prints."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from drkit.argocd.kinds import KINDS
from drkit.errors import EXIT_OK, EXIT_PARTIAL
from drkit.restore.plan import Objects, Plan

ACTIONS = ("create", "update", "unchanged", "skip", "fail")
SETTINGS_NOTE = (
    "settings: argocd-cm, argocd-rbac-cm, local accounts and passwords, SSO and notifications config cannot be "
    "restored through the Argo CD API; re-apply them from where you manage Argo CD's own configuration"
)
KUBE_SETTINGS_NOTE = (
    "settings: argocd-cm, argocd-rbac-cm, accounts, SSO and notifications were restored from the backup's "
    "ConfigMaps and Secrets (--kube); argocd-cmd-params-cm is read only when Argo CD's components start: restart "
    "argocd-server, argocd-repo-server and argocd-application-controller if it changed"
)


@dataclass
class Outcome:
    """What happened to one object (or would, in a dry run); `blocked_by` names the failed object it needed."""

    kind: str
    name: str
    action: str  # create | update | unchanged | skip | fail
    error: str | None = None
    diff: list[str] | None = None
    reason: str | None = None
    blocked_by: str | None = None  # "cluster https://...": skipped because that was not restored
    dropped: list[Any] | None = None  # readback.Loss: fields the target did not keep (predicted, in a dry run)
    written: bool = False  # the write went through, so its read-back counts
    would_fail: bool = False  # a dry run's prediction: the restore would record it failed

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"kind": self.kind, "name": self.name, "action": self.action}
        optional = {"error": self.error, "reason": self.reason, "diff": self.diff, "blocked_by": self.blocked_by}
        optional["dropped"] = [loss.to_json() for loss in self.dropped or []]
        optional["would_fail"] = self.would_fail
        return out | {k: v for k, v in optional.items() if v}


@dataclass
class RestoreReport:
    """What a restore did (or would do)."""

    backup_id: str
    dry_run: bool
    objects: list[Outcome] = field(default_factory=list)
    converged: list[Any] = field(default_factory=list)  # converge.AppResult
    not_in_backup: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    plan: Plan | None = field(default=None, repr=False)
    target_version: str = ""  # what the target's version endpoint said
    stopped: str = ""  # why the run stopped starting new work (a run-ending error, or a signal); "" if it did not
    stop_code: int = EXIT_OK  # the exit code that stop means (errors.Stop)
    still_disarmed: list[str] = field(default_factory=list)  # "application ns/name", "ApplicationSet ns/name"
    warnings: list[str] = field(default_factory=list)  # what the look at the target may have missed (exit 3)

    @property
    def read_back(self) -> dict[str, int]:
        """`{"written", "as_written"}`: objects written, and those whose stored form kept every field sent."""
        written = [o for o in self.objects if o.written]
        return {"written": len(written), "as_written": sum(1 for o in written if not o.dropped)}

    @property
    def apps(self) -> list[dict[str, Any]]:
        """`{name, sync, health, phase}` per application the converge step worked (plus its details)."""
        out = []
        for r in self.converged:
            if getattr(r, "kind", "applications") != "applications":
                continue
            item = {"name": r.name, "sync": r.sync, "health": r.health, "phase": r.phase}
            details = {"namespace": r.namespace, "outcome": r.outcome, "message": r.message, "rearmed": r.rearmed}
            if getattr(r, "dropped", None):  # what the target did not keep of the re-arm (readback)
                details["dropped"] = [loss.to_json() for loss in r.dropped]
            out.append(item | details)
        return out

    @property
    def exit_code(self) -> int:
        """CONTRACT.md's: 3 when an object failed or an app is not as asked, or (a dry run) would be recorded failed."""
        if self.stopped:
            return self.stop_code
        failed = any(o.action == "fail" or o.would_fail for o in self.objects) or any(not r.ok for r in self.converged)
        return EXIT_PARTIAL if failed or self.warnings else EXIT_OK

    @property
    def ok(self) -> bool:
        return self.exit_code == EXIT_OK

    def to_json(self) -> dict[str, Any]:
        plan = self.plan or Plan(steps=[])
        return {
            "backup_id": self.backup_id,
            "dry_run": self.dry_run,
            "ok": self.ok,
            "objects": [o.to_json() for o in self.objects],
            "apps": self.apps,
            "applicationsets": [r.as_json() for r in self.converged if getattr(r, "kind", "") == "applicationsets"],
            "not_in_backup": self.not_in_backup,
            "tokens_to_reissue": plan.tokens_to_reissue,
            "needs_credentials": plan.needs_credentials,
            "notes": self.notes,
            "target_version": self.target_version,
            "read_back": self.read_back,
            "stopped": self.stopped or None,
            "still_disarmed": self.still_disarmed,
            "warnings": self.warnings,
        }

    def lines(self) -> list[str]:
        """The human report, one line per object that is not unchanged, then apps, gaps and a summary."""
        head = "restore plan (dry run, nothing written)" if self.dry_run else "restore"
        out = [f"{head} of backup {self.backup_id}:"]
        for o in self.objects:
            if o.action == "unchanged":
                continue
            detail = o.error or o.reason or (", ".join(o.diff) if o.diff else "")
            if o.dropped and not o.error:
                verb = "will drop" if self.dry_run else "dropped"
                detail += ("; " if detail else "") + f"the target {verb} " + ", ".join(map(str, o.dropped))
            out.append(f"  {o.action:<9} {o.kind} {o.name}" + (f": {detail}" if detail else ""))
        failing = [o for o in self.objects if o.would_fail]
        if failing:
            out.append("would fail (the restore would exit 3):")
            out += [f"  - {KINDS[o.kind].singular} {o.name}" for o in failing]
        if self.converged:
            out.append("applications:")
            out += [_converged_line(r) for r in self.converged]
        if self.stopped:
            out.append(f"stopped: {self.stopped}; what is listed above was done, nothing after it")
        if self.still_disarmed and (self.stopped or self.converged):
            out.append("still disarmed (automated sync off; run the same command again to re-arm them):")
            out += [f"  - {name}" for name in self.still_disarmed]
        if self.warnings:
            out.append("warnings (what was read of the target may be incomplete):")
            out += [f"  - {line}" for line in self.warnings]
        if self.not_in_backup or self.notes:
            out.append("not in the backup, or left to do:")
            out += [f"  - {line}" for line in self.not_in_backup + self.notes]
        counts = {a: sum(1 for o in self.objects if o.action == a) for a in ACTIONS}
        out.append("summary: " + ", ".join(f"{n} {a}" for a, n in counts.items()) + f"; exit code {self.exit_code}")
        if not self.dry_run:
            back = self.read_back
            out.append(f"{back['as_written']} of {back['written']} objects read back as written")
        return out


def _converged_line(r: Any) -> str:
    state = f"{r.sync} {r.health}" + (f" ({r.phase})" if r.phase else "")
    if getattr(r, "kind", "applications") == "applicationsets":
        state = "ApplicationSet re-armed" if r.rearmed else "ApplicationSet NOT re-armed"
    elif r.rearmed:
        state += ", automated sync re-armed"
    return f"  {r.namespace}/{r.name}: {state}" + (f": {r.message}" if r.message else "")


def not_in_backup(the_plan: Plan, objects: Objects, kube: bool = False) -> list[str]:
    """What an API-only backup could not hold, object by object, and what to do about it; with `kube` (the
    backup's ConfigMaps and Secrets were restored too) only what even those left out."""
    creds = the_plan.credentials
    out = []
    for step in the_plan.steps:
        row = KINDS[step.kind]
        label = f"{row.singular} {step.name}"
        if row.credentials and step.action != "skip":
            section, key = row.credentials
            if creds is not None and creds.lookup(section, step.doc[key]):
                if not kube or creds.from_file(section, step.doc[key]):
                    out.append(f"{label}: credentials re-injected from the credentials file")
            elif step.needs_credentials:
                out.append(f"{label}: credentials missing (the API never returns them); add it to the credentials file")
        if row.data_from_credentials and step.action == "skip":
            out.append(f"{label}: data not in the backup; {step.reason}")
    for t in the_plan.tokens_to_reissue:
        out.append(
            f"project {t['project']} role {t['role']}: token(s) {', '.join(t['ids'])} not restored (they died with the "
            f"old instance's signing key); issue new ones with `argocd proj role create-token {t['project']} "
            f"{t['role']}` and hand them out"
        )
    for kind, docs in objects.items():
        hidden = KINDS[kind].unreturned
        if docs and hidden and not kube:  # the Secrets a --kube backup restored hold every field
            out.append(
                f"{kind}: {', '.join(hidden[:-1])} and {hidden[-1]} are never returned by the API; set them in the "
                "credentials file if used"
            )
    out += [f"credentials file entry {e} was not used (a URL typo?)" for e in (creds.unused() if creds else [])]
    return out + [KUBE_SETTINGS_NOTE if kube else SETTINGS_NOTE]


@dataclass
class DiffReport:
    """The restore comparison as a drift report: what a restore would create or update, and live extras."""

    backup_id: str
    server: str
    plan: Plan
    warnings: list[str] = field(default_factory=list)  # what the look at the target may have missed (exit 3)

    @property
    def drift(self) -> list[Any]:
        return [s for s in self.plan.steps if s.action in ("create", "update")]

    @property
    def in_sync(self) -> bool:
        return not self.drift and not self.plan.extra

    @property
    def exit_code(self) -> int:
        return EXIT_OK if self.in_sync and not self.warnings else EXIT_PARTIAL

    def to_json(self) -> dict[str, Any]:
        """The drift per object; `dropped` (when any) the fields the target's version would not keep of it."""
        objects = []
        for s in self.plan.steps:
            item = {"kind": s.kind, "name": s.name, "action": s.action, "diff": s.changes, "reason": s.reason}
            objects.append(item | ({"dropped": [loss.to_json() for loss in s.losses]} if s.losses else {}))
        return {
            "backup_id": self.backup_id,
            "in_sync": self.in_sync,
            "objects": objects,
            "extra": self.plan.extra,
            "target_version": self.plan.target_version,
            "warnings": self.warnings,
        }

    def lines(self) -> list[str]:
        out = [f"backup {self.backup_id} against {self.server}:"]
        version = self.plan.target_version or "version unknown"
        for s in self.drift:
            what = "missing on the target" if s.action == "create" else "differs: " + ", ".join(s.changes)
            if s.losses:
                what += f"; the target ({version}) would drop " + ", ".join(map(str, s.losses))
            out.append(f"  {s.kind} {s.name}: {what}")
        out += [f"  {e}: on the target, not in the backup" for e in self.plan.extra]
        out += [f"  warning: {w}" for w in self.warnings]
        out.append("in sync" if self.in_sync else f"{len(self.drift) + len(self.plan.extra)} difference(s)")
        return out
