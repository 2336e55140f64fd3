"""Restore a backup onto an Argo CD: select with dependency closure, remap, plan, apply in order, converge, report.

One object failing is a result, not an exception: it is recorded with Argo CD's words and a next step, the
objects that depend on it are skipped with the reason, and everything else goes on (exit code 3).
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from drkit.argocd import Client, quote_id
from drkit.errors import EXIT_OK, EXIT_PARTIAL, ApiError, AuthError
from drkit.kinds import RESTORE_ORDER, generated_by, normalize_repo_url, normalize_server
from drkit.plan import Plan, Step, plan
from drkit.remap import kinds_to_read, remap, select, sources_of  # noqa: F401 (kinds_to_read: for the CLI)

__all__ = ["AppTarget", "Outcome", "Plan", "RestoreOptions", "RestoreReport", "apply", "diff", "restore", "select"]

Objects = dict[str, list[dict[str, Any]]]
SYNC_WAVE = "argocd.argoproj.io/sync-wave"
INSTANCE_LABEL = "app.kubernetes.io/instance"
TRACKING_ID = "argocd.argoproj.io/tracking-id"


@dataclass
class RestoreOptions:
    """What to restore and how; CONTRACT.md's `restore` flags."""

    kinds: tuple[str, ...] = RESTORE_ORDER
    apps: tuple[str, ...] = ()
    projects: tuple[str, ...] = ()
    remap_clusters: dict[str, str] = field(default_factory=dict)
    remap_repos: dict[str, str] = field(default_factory=dict)
    dry_run: bool = False
    sync: bool = True
    prune: bool = False
    wait: bool = True
    timeout: float = 600.0
    concurrency: int = 8


@dataclass
class Outcome:
    """What happened to one object (or would, in a dry run)."""

    kind: str
    name: str
    action: str  # create | update | unchanged | skip | fail
    error: str | None = None
    diff: list[str] | None = None
    reason: str | None = None

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"kind": self.kind, "name": self.name, "action": self.action}
        if self.error:
            out["error"] = self.error
        if self.reason:
            out["reason"] = self.reason
        if self.diff:
            out["diff"] = self.diff
        return out


@dataclass
class AppTarget:
    """An application for the converge step: refresh, sync in waves, wait, re-arm."""

    namespace: str
    name: str
    wave: int = 0
    parents: list[str] = field(default_factory=list)
    rearm_spec: dict[str, Any] | None = None
    generated: bool = False  # by an ApplicationSet: converge waits for the set to recreate it
    project: str = ""  # the app's project, which converge asks with while awaiting a generated app


# apply --------------------------------------------------------------------------------------------------------


class _Broken:
    """Objects that failed or were skipped because of a failure, by what dependants refer to them by."""

    def __init__(self) -> None:
        self.items: dict[str, dict[str, str]] = {k: {} for k in ("repocreds", "repositories", "clusters", "projects")}

    def add(self, step: Step) -> None:
        doc, bucket = step.doc, self.items.get(step.kind)
        if bucket is None:
            return
        if step.kind == "projects":
            bucket[doc["metadata"]["name"]] = step.name
        elif step.kind == "clusters":
            bucket[normalize_server(doc["server"])] = step.name
            bucket["name:" + (doc.get("name") or "")] = step.name
        else:
            bucket[normalize_repo_url(doc.get("repo") or doc.get("url", ""))] = step.name

    def blocker(self, step: Step) -> str | None:
        """`kind name` of a failed object this step needs, or None."""
        doc, spec = step.doc, step.doc.get("spec", {})
        if step.kind == "repositories":
            for url, name in self.items["repocreds"].items():
                if normalize_repo_url(doc["repo"]).startswith(url):
                    return f"repocreds {name}"
        if step.kind == "applicationsets":
            spec = spec.get("template", {}).get("spec", {})
        if step.kind not in ("applications", "applicationsets"):
            return None
        project = spec.get("project") or "default"
        if project in self.items["projects"]:
            return f"project {project}"
        dest = spec.get("destination", {})
        for key in (normalize_server(dest.get("server", "")), "name:" + dest.get("name", "")):
            if step.kind == "applications" and key not in ("", "name:") and key in self.items["clusters"]:
                return f"cluster {self.items['clusters'][key]}"
        for src in sources_of(spec) if step.kind == "applications" else []:
            name = self.items["repositories"].get(normalize_repo_url(src.get("repoURL", "")))
            if name:
                return f"repository {name}"
        return None


def apply(client: Client, plan: Plan, options: RestoreOptions) -> list[Outcome]:
    """Write the plan: kinds in restore order, one kind's objects in parallel; failures recorded, dependants skipped."""
    broken, outcomes = _Broken(), []
    for kind in RESTORE_ORDER:
        steps = plan.by_kind(kind)
        if not steps:
            continue
        with ThreadPoolExecutor(max_workers=max(1, options.concurrency)) as pool:
            results = list(pool.map(lambda s: _apply_step(client, plan, s, broken), steps))
        for step, outcome in zip(steps, results, strict=True):
            if outcome.action == "fail" or (
                outcome.action == "skip" and outcome.reason and "depends on" in outcome.reason
            ):
                broken.add(step)
        outcomes += results
    return outcomes


def _apply_step(client: Client, plan: Plan, step: Step, broken: _Broken) -> Outcome:
    if step.action not in ("create", "update"):
        return Outcome(step.kind, step.name, step.action, diff=step.changes or None, reason=step.reason)
    blocker = broken.blocker(step)
    if blocker:
        return Outcome(step.kind, step.name, "skip", reason=f"depends on {blocker}, which was not restored")
    try:
        _write(client, plan, step)
    except AuthError as err:
        if step.kind != "clusters":
            raise
        error = (
            f"cluster {step.name}: the cluster refused the credentials Argo CD was given (HTTP 401 from the "
            f"managed cluster, not from drkit's token: {err.api_message}); fix its entry under `clusters:` in the "
            "credentials file"
        )
        return Outcome(step.kind, step.name, "fail", error=error)
    except ApiError as err:
        return Outcome(step.kind, step.name, "fail", error=_failure(step, err))
    return Outcome(step.kind, step.name, step.action, diff=step.changes or None)


def _write(client: Client, plan: Plan, step: Step) -> None:
    """One object, with the endpoint and body API-NOTES §2 gives for its kind."""
    upsert, body, creds = {"upsert": "true"}, step.body, plan.credentials
    if step.kind == "certificates":
        client.post("/api/v1/certificates", {"items": [step.certificate.api_item()]}, upsert)
    elif step.kind == "gpgkeys":
        client.post("/api/v1/gpgkeys", body)
    elif step.kind == "repocreds":
        client.post("/api/v1/repocreds", creds.merge_into("repocreds", body["url"], body), upsert)
    elif step.kind == "repositories":
        client.post("/api/v1/repositories", creds.merge_into("repositories", body["repo"], body), upsert)
    elif step.kind == "clusters":
        client.post("/api/v1/clusters", creds.merge_into("clusters", body["server"], body), upsert)
    elif step.kind == "projects":
        client.post("/api/v1/projects", {"project": body, "upsert": True})
    elif step.kind == "applicationsets":
        client.post("/api/v1/applicationsets", body, upsert)
    elif step.action == "create":
        client.post("/api/v1/applications", body, {"validate": "false"})
    else:
        name = quote_id(body["metadata"]["name"])
        client.put(f"/api/v1/applications/{name}", body, {"validate": "false"})


_SINGULAR = {
    "certificates": "certificate",
    "gpgkeys": "GPG key",
    "repocreds": "repository credentials",
    "repositories": "repository",
    "clusters": "cluster",
    "projects": "project",
    "applicationsets": "ApplicationSet",
    "applications": "application",
}


def _failure(step: Step, err: ApiError) -> str:
    """`<kind> <name>: <what> (HTTP n: <Argo CD's words>); <next step>`."""
    said = f"HTTP {err.status}: {err.api_message}" if err.status else str(err)
    if step.kind in ("repositories", "clusters"):
        what = "Argo CD could not connect"
        if step.needs_credentials:
            todo = "add it to the credentials file"
        else:
            todo = "check its credentials-file entry and that Argo CD can reach it"
    elif "namespace" in err.api_message and "not permitted" in err.api_message:
        what, todo = "Argo CD refused it", "enable that namespace on the target (application.namespaces) first"
    else:
        what, todo = "Argo CD refused it", "fix it (in the backup, with a remap, or on the target) and restore again"
    return f"{_SINGULAR[step.kind]} {step.name}: {what} ({said}); {todo}"


# the report -----------------------------------------------------------------------------------------------------


SETTINGS_NOTE = (
    "settings: argocd-cm, argocd-rbac-cm, local accounts and passwords, SSO and notifications config cannot be "
    "restored through the Argo CD API; re-apply them from where you manage Argo CD's own configuration"
)


@dataclass
class RestoreReport:
    """What a restore did (or would do): CONTRACT.md's JSON and the human lines the CLI prints."""

    backup_id: str
    dry_run: bool
    objects: list[Outcome] = field(default_factory=list)
    converged: list[Any] = field(default_factory=list)  # converge.AppResult
    not_in_backup: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    plan: Plan | None = field(default=None, repr=False)

    @property
    def apps(self) -> list[dict[str, Any]]:
        """`{name, sync, health, phase}` per application the converge step worked (plus its details)."""
        out = []
        for r in self.converged:
            if getattr(r, "kind", "applications") != "applications":
                continue
            item = {"name": r.name, "sync": r.sync, "health": r.health, "phase": r.phase}
            details = {"namespace": r.namespace, "outcome": r.outcome, "message": r.message, "rearmed": r.rearmed}
            out.append(item | details)
        return out

    @property
    def exit_code(self) -> int:
        failed = any(o.action == "fail" for o in self.objects) or any(not r.ok for r in self.converged)
        return EXIT_PARTIAL if failed else EXIT_OK

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
        }

    def lines(self) -> list[str]:
        """The human report, one line per object that is not unchanged, then apps, gaps and a summary."""
        head = "restore plan (dry run, nothing written)" if self.dry_run else "restore"
        out = [f"{head} of backup {self.backup_id}:"]
        for o in self.objects:
            if o.action == "unchanged":
                continue
            detail = o.error or o.reason or (", ".join(o.diff) if o.diff else "")
            out.append(f"  {o.action:<9} {o.kind} {o.name}" + (f": {detail}" if detail else ""))
        if self.converged:
            out.append("applications:")
            for r in self.converged:
                state = f"{r.sync} {r.health}" + (f" ({r.phase})" if r.phase else "")
                if getattr(r, "kind", "applications") == "applicationsets":
                    state = "ApplicationSet re-armed" if r.rearmed else "ApplicationSet NOT re-armed"
                elif r.rearmed:
                    state += ", automated sync re-armed"
                out.append(f"  {r.namespace}/{r.name}: {state}" + (f": {r.message}" if r.message else ""))
        if self.not_in_backup or self.notes:
            out.append("not in the backup, or left to do:")
            out += [f"  - {line}" for line in self.not_in_backup + self.notes]
        counts = {a: sum(1 for o in self.objects if o.action == a) for a in ACTIONS}
        out.append("summary: " + ", ".join(f"{n} {a}" for a, n in counts.items()) + f"; exit code {self.exit_code}")
        return out


ACTIONS = ("create", "update", "unchanged", "skip", "fail")


def not_in_backup(the_plan: Plan, objects: Objects) -> list[str]:
    """What an API-only backup could not hold, object by object, and what to do about it."""
    creds = the_plan.credentials
    out = []
    for step in the_plan.steps:
        label = f"{_SINGULAR[step.kind]} {step.name}"
        if step.kind in ("repositories", "repocreds", "clusters") and step.action != "skip":
            lookup = {"repositories": "for_repository", "repocreds": "for_repocreds", "clusters": "for_cluster"}
            key = step.doc.get("repo") or step.doc.get("url") or step.doc.get("server")
            if creds is not None and getattr(creds, lookup[step.kind])(key):
                out.append(f"{label}: credentials re-injected from the credentials file")
            elif step.needs_credentials:
                out.append(f"{label}: credentials missing (the API never returns them); add it to the credentials file")
        if step.kind == "certificates" and step.action == "skip":
            out.append(f"{label}: data not in the backup; {step.reason}")
    for t in the_plan.tokens_to_reissue:
        out.append(
            f"project {t['project']} role {t['role']}: token(s) {', '.join(t['ids'])} not restored (they died with the "
            f"old instance's signing key); issue new ones with `argocd proj role create-token {t['project']} "
            f"{t['role']}` and hand them out"
        )
    if objects.get("repositories"):
        out.append(
            "repositories: tlsClientCertData, insecureIgnoreHostKey, insecureOCIForceHttp and "
            "webhookManifestCacheWarmDisabled are never returned by the API; set them in the credentials file if used"
        )
    out += [f"credentials file entry {e} was not used (a URL typo?)" for e in (creds.unused() if creds else [])]
    return out + [SETTINGS_NOTE]


# the whole restore ----------------------------------------------------------------------------------------------


Converge = Callable[..., list[Any]]


def restore(
    client: Client, backup: Any, credentials: Any, options: RestoreOptions, converge: Converge | None = None
) -> RestoreReport:
    """Select, remap, plan, then (unless a dry run) apply and converge; the report says what happened."""
    objects = remap(select(backup.objects, options), options.remap_clusters, options.remap_repos).objects
    the_plan = plan(client, objects, credentials, options)
    report = RestoreReport(backup.backup_id, options.dry_run, plan=the_plan)
    if options.dry_run:
        report.objects = [
            Outcome(s.kind, s.name, s.action, diff=s.changes or None, reason=s.reason) for s in the_plan.steps
        ]
    else:
        report.objects = apply(client, the_plan, options)
        targets = app_targets(the_plan, report.objects, backup.objects)
        done = {
            o.name for o in report.objects if o.kind == "applicationsets" and o.action != "fail" and o.action != "skip"
        }
        appsets = [doc for name, doc in the_plan.rearm_appsets.items() if name in done]
        if options.sync and converge is not None and (targets or appsets):
            report.converged = converge(client, targets, appsets, options)
        elif any(t.rearm_spec for t in targets) or appsets:
            report.notes.append(
                f"{sum(1 for t in targets if t.rearm_spec)} application(s) left with automated sync disarmed and "
                f"{len(appsets)} ApplicationSet(s) unable to delete; restore again with --sync to re-arm them"
            )
    report.not_in_backup = not_in_backup(the_plan, objects)
    return report


def app_targets(the_plan: Plan, outcomes: list[Outcome], backup_objects: Objects) -> list[AppTarget]:
    """Converge input: every application created, updated or unchanged, with its wave and app-of-apps parents.

    Applications an ApplicationSet generates are not written, but are converged too once their set is restored:
    they must end Synced and Healthy like the others.
    """
    names = {a["metadata"]["name"] for a in backup_objects.get("applications", [])}
    written = ("create", "update", "unchanged")
    restored = {o.name for o in outcomes if o.kind == "applications" and o.action in written}
    appsets = {o.name for o in outcomes if o.kind == "applicationsets" and o.action in written}
    targets = []
    for step in the_plan.by_kind("applications"):
        meta = step.doc["metadata"]
        owner = generated_by(step.doc)
        generated = owner is not None and f"{meta.get('namespace', '')}/{owner}" in appsets
        if step.name not in restored and not generated:
            continue
        wave = _int(meta.get("annotations", {}).get(SYNC_WAVE, "0"))
        parents = sorted(p for p in _parents(meta, names) if p != meta["name"])
        rearm = the_plan.rearm_apps.get(step.name)
        project = step.doc.get("spec", {}).get("project") or "default"
        targets.append(AppTarget(meta.get("namespace", ""), meta["name"], wave, parents, rearm, generated, project))
    return targets


def _int(text: str) -> int:
    try:
        return int(str(text).strip())
    except ValueError:
        return 0


def _parents(meta: dict[str, Any], names: set[str]) -> set[str]:
    """Apps named by the tracking label or the tracking-id annotation (`<app>:<group>/<kind>:<ns>/<name>`)."""
    candidates = {meta.get("labels", {}).get(INSTANCE_LABEL, "")}
    tracking = meta.get("annotations", {}).get(TRACKING_ID, "")
    if tracking:
        app = tracking.split(":", 1)[0]
        candidates |= {app, app.split("_", 1)[-1]}  # apps in other namespaces are tracked as `<ns>_<name>`
    return {c for c in candidates if c and c in names}


def diff(client: Client, backup: Any, options: RestoreOptions) -> Plan:
    """The restore comparison as a drift report, without writes; `extra` lists live objects the backup lacks."""
    objects = remap(select(backup.objects, options), options.remap_clusters, options.remap_repos).objects
    return plan(client, objects, None, options)
