"""Restore a backup onto an Argo CD: select with dependency closure, remap, plan, apply in order, converge, report.

One object failing is a result, not an exception: it is recorded with Argo CD's words and a next step, the
objects that depend on it are skipped with the reason, and everything else goes on (exit code 3).
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from functools import partial
from typing import Any

from drkit.argocd import listing, sources, versions
from drkit.argocd import settings as argocd_settings
from drkit.argocd.client import Client
from drkit.argocd.kinds import KINDS, RESTORE_ORDER, normalize
from drkit.argocd.refs import MAY_USE, Index, kinds_to_read, refs  # noqa: F401 (kinds_to_read: for the CLI)
from drkit.errors import ApiError, AuthError, Stop, ends_run
from drkit.kube import settings as kube_settings
from drkit.restore import kube as kube_restore
from drkit.restore import readback
from drkit.restore.kube import KubeTarget
from drkit.restore.pipeline import Beside, Written, with_waiters
from drkit.restore.plan import Plan, Step, plan
from drkit.restore.progress import Callback, Tally
from drkit.restore.remap import remap, select
from drkit.restore.report import ACTIONS, DiffReport, Outcome, RestoreReport, not_in_backup  # noqa: F401 (ACTIONS: for the CLI)
from drkit.restore.targets import AppTarget, app_targets, appsets_to_rearm, still_disarmed

__all__ = ["AppTarget", "Outcome", "Plan", "RestoreOptions", "RestoreReport", "apply", "diff", "restore", "select"]

Objects = dict[str, list[dict[str, Any]]]
WRITES = ("create", "update")


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
    concurrency: int = 8  # API requests at once
    max_syncs: int = 200  # apps with a sync in flight at once (converge.MAX_SYNCS)
    allow_field_loss: bool = False  # keep going with objects the target's version could not hold whole
    keep_tokens: bool = False  # the target verifies the source's tokens (--kube restored its signing key)


# apply --------------------------------------------------------------------------------------------------------


def read_live(
    client: Client, kinds: list[str], warnings: list[str] | None = None, backup: Objects | None = None
) -> Objects:
    """The target's objects of each kind, one list call per kind, normalised as an export stores them.

    Applications are read as an export reads them (listing.applications): per project when the whole list
    passes the target's gRPC message limit, the projects the `backup`'s objects name included; what may be
    missing then is added to `warnings`.
    """
    notes = [] if warnings is None else warnings
    named = {p for kind, docs in (backup or {}).items() for doc in docs for p in listing.projects_named(kind, doc)}
    read = {
        kind: listing.applications(client, notes, named) if kind == "applications" else client.list(kind)
        for kind in kinds
    }
    return {kind: [normalize(kind, item) for item in items] for kind, items in read.items()}


def apply(
    client: Client,
    plan: Plan,
    options: RestoreOptions,
    tally: Tally | None = None,
    stop: Stop | None = None,
    *,
    kinds: tuple[str, ...] = RESTORE_ORDER,
    broken: Index | None = None,
    done: Callable[[Outcome], None] = lambda outcome: None,
) -> list[Outcome]:
    """Write the plan: kinds in restore order, one kind's objects in parallel; failures recorded, dependants skipped.

    `kinds` limits it to some kinds; `broken` carries the objects not restored across calls (what later kinds must
    not depend on); `done` hears each outcome as soon as it is known. Once `stop` is halted (a run-ending error, or
    a signal), no new write starts: the rest is skipped with the reason.
    """
    broken, outcomes = broken if broken is not None else Index(), []
    tally, stop = tally or Tally(None), stop if stop is not None else Stop()

    def work(step: Step) -> Outcome:
        outcome = _apply_step(client, plan, step, broken, options, stop)
        if step.action in WRITES:
            tally.add(written=1)
        done(outcome)
        return outcome

    for kind in (k for k in RESTORE_ORDER if k in kinds):
        steps = plan.by_kind(kind)
        if not steps:
            continue
        with ThreadPoolExecutor(max_workers=max(1, options.concurrency)) as pool:
            results = list(pool.map(work, steps))
        for step, outcome in zip(steps, results, strict=True):
            if outcome.action == "fail" or outcome.blocked_by:
                broken.add(step.kind, step.doc)
        outcomes += results
    return outcomes


def blocker(step: Step, broken: Index) -> str | None:
    """`<kind> <name>` of an object this step needs that was not restored (failed, or skipped for that), or None."""
    for ref in refs(step.kind, step.doc):
        found = broken.find(ref) if ref.need != MAY_USE else []
        if found:
            row = KINDS[ref.kind]
            return f"{row.singular} {row.identity(found[0])}"
    return None


def _apply_step(client: Client, plan: Plan, step: Step, broken: Index, options: RestoreOptions, stop: Stop) -> Outcome:
    if step.action not in WRITES:
        return Outcome(step.kind, step.name, step.action, diff=step.changes or None, reason=step.reason)
    if stop:
        return Outcome(step.kind, step.name, "skip", reason=f"not written: the restore stopped ({stop.reason})")
    needed = blocker(step, broken)
    if needed:
        reason = f"depends on {needed}, which was not restored"
        return Outcome(step.kind, step.name, "skip", reason=reason, blocked_by=needed)
    row = KINDS[step.kind]
    try:
        answer = client.write(step.kind, _payload(plan, step), update=step.action == "update")
    except AuthError as err:
        if not row.remote_401:
            return _stopped(step, err, stop)
        section = row.credentials[0] if row.credentials else row.name
        error = (
            f"{row.singular} {step.name}: the {row.singular} refused the credentials Argo CD was given (HTTP 401 "
            f"from the managed {row.singular}, not from drkit's token: {err.api_message}); fix its entry under "
            f"`{section}:` in the credentials file"
        )
        return Outcome(step.kind, step.name, "fail", error=error)
    except ApiError as err:
        if ends_run(err):
            return _stopped(step, err, stop)
        return Outcome(step.kind, step.name, "fail", error=_failure(step, err))
    lost = readback.read_back(client, step, answer)
    outcome = Outcome(step.kind, step.name, step.action, diff=step.changes or None, reason=step.reason, dropped=lost,
                      written=True)  # fmt: skip
    if any(loss.policy for loss in lost) and not options.allow_field_loss:
        outcome.action, outcome.error = "fail", readback.field_loss(step, lost, plan.target_version)
    return outcome


def _stopped(step: Step, err: ApiError, stop: Stop) -> Outcome:
    """The write that met a run-ending error: halt the run; whether Argo CD stored the object is not known."""
    stop.on_error(err)
    error = f"{KINDS[step.kind].singular} {step.name}: not known to be written, the restore stopped here: {err}"
    return Outcome(step.kind, step.name, "fail", error=error)


def _payload(plan: Plan, step: Step) -> dict[str, Any]:
    """The request object: a certificate from the credentials file, or the body with its secrets merged in."""
    if step.certificate is not None:
        return step.certificate.api_item()
    row, body = KINDS[step.kind], step.body or {}
    if row.credentials is None:
        return body
    return plan.credentials.merge_into(step.kind, body[row.credentials[1]], body)


def _failure(step: Step, err: ApiError) -> str:
    """`<kind> <name>: <what> (HTTP n: <Argo CD's words>); <next step>`."""
    said = f"HTTP {err.status}: {err.api_message}" if err.status else str(err)
    row = KINDS[step.kind]
    if row.connects:
        what = "Argo CD could not connect"
        if step.needs_credentials:
            todo = "add it to the credentials file"
        else:
            todo = "check its credentials-file entry and that Argo CD can reach it"
    elif "namespace" in err.api_message and "not permitted" in err.api_message:
        what, todo = "Argo CD refused it", "enable that namespace on the target (application.namespaces) first"
    else:
        what, todo = "Argo CD refused it", "fix it (in the backup, with a remap, or on the target) and restore again"
    return f"{row.singular} {step.name}: {what} ({said}); {todo}"


# the whole restore ----------------------------------------------------------------------------------------------


Converge = Callable[..., list[Any]]


def restore(
    client: Client,
    backup: Any,
    credentials: Any,
    options: RestoreOptions,
    converge: Converge | None = None,
    warn: Callable[[str], None] = lambda text: None,
    progress: Callback | None = None,
    stop: Stop | None = None,
    kube: KubeTarget | None = None,
) -> RestoreReport:
    """Select, remap, plan, then (unless a dry run) apply and converge; the report says what happened.

    With `kube`, the backup's ConfigMaps and Secrets are planned first and written before any API object, and the
    credentials their Secrets hold fill in what `credentials` (the file, which wins per field) does not give.

    `warn` hears each settings difference before anything is written (the report's notes hold them too).
    `progress` is called with a Progress after each object written and each change in an app's state. When
    `stop` halts (a run-ending error, SIGTERM or SIGINT), no new work starts; the report says why, what was done,
    and which objects stay disarmed (a re-run of the same command re-arms them).
    """
    stop = stop if stop is not None else Stop()
    client.stop = stop  # once halted, a failed request is not retried (Client._send): the stop stays quick
    objects = remap(select(backup.objects, options), options.remap_clusters, options.remap_repos).objects
    objects, inferred = sources.fill_repocreds_types(objects, credentials)
    version = target_version(client)
    warnings = preflight(client, backup.manifest, version)
    if kube is not None:  # settings keys the target's release ignores (issue 18)
        warnings += kube_settings.unknown_keys(backup.objects.get("configmaps", []), version)
    for warning in warnings:
        warn(warning)
    kube_done: list[Outcome] = []
    if kube is not None:
        credentials, options, kube_done = kube_restore.write(client, kube, backup.objects, credentials, options, stop)
        if stop:  # a Kubernetes write failed (a missing RBAC rule, a conflict) or a signal came: no API call after it
            report = RestoreReport(backup.backup_id, options.dry_run, objects=kube_done, target_version=version)
            report.notes += warnings
            report.stopped, report.stop_code = stop.reason, stop.exit_code
            return report
    live_notes: list[str] = []
    live = read_live(client, [k for k in RESTORE_ORDER if k in objects], live_notes, objects)
    the_plan = plan(objects, live, credentials, options)
    readback.predict_plan(the_plan, version)
    report = RestoreReport(backup.backup_id, options.dry_run, plan=the_plan, target_version=version)
    report.warnings = live_notes  # what may be missing from the look at the target: the plan may be wrong (exit 3)
    report.notes += warnings + inferred + sources.restore_notes(backup.manifest)
    if options.dry_run:
        report.objects = kube_done + planned(the_plan, options)
    else:
        tally = Tally(progress, objects=sum(1 for s in the_plan.steps if s.action in WRITES))
        if options.sync and converge is not None:
            report.objects, report.converged = converging(client, the_plan, backup.objects, options, converge, tally,
                                                          stop)  # fmt: skip
        else:
            report.objects = apply(client, the_plan, options, tally, stop)
        report.objects = kube_done + report.objects
        targets = app_targets(the_plan, report.objects, backup.objects)
        appsets = appsets_to_rearm(the_plan, report.objects)
        if (any(t.rearm_spec for t in targets) or appsets) and not stop and not report.converged:
            report.notes.append(
                f"{sum(1 for t in targets if t.rearm_spec)} application(s) left with automated sync disarmed and "
                f"{len(appsets)} ApplicationSet(s) unable to delete; restore again with --sync to re-arm them"
            )
        report.stopped, report.stop_code = stop.reason, stop.exit_code
        report.still_disarmed = still_disarmed(targets, appsets, report.converged)
    report.not_in_backup = not_in_backup(the_plan, objects, kube=kube is not None)
    return report


def converging(
    client: Client,
    the_plan: Plan,
    backup_objects: Objects,
    options: RestoreOptions,
    converge: Converge,
    tally: Tally,
    stop: Stop,
) -> tuple[list[Outcome], list[Any]]:
    """Apply the plan and converge the applications, each app's converge beginning once it is written (pipeline)."""
    broken, others = Index(), tuple(k for k in RESTORE_ORDER if k != "applications")
    outcomes = apply(client, the_plan, options, tally, stop, kinds=others, broken=broken)
    planned_apps = [Outcome(s.kind, s.name, s.action) for s in the_plan.by_kind("applications")]
    candidates = app_targets(the_plan, outcomes + planned_apps, backup_objects)
    appsets = appsets_to_rearm(the_plan, outcomes)
    if stop or not (candidates or appsets):
        return outcomes + apply(client, the_plan, options, tally, stop, kinds=("applications",), broken=broken), []
    written = Written(s.name for s in the_plan.by_kind("applications"))
    writing, syncing = split_requests(options)
    writes = partial(apply, client, the_plan, writing, tally, stop, kinds=("applications",), broken=broken,
                     done=lambda outcome: written.record(outcome.name, outcome.action))  # fmt: skip
    beside = Beside(writes, written)
    try:
        converged = converge(client, with_waiters(candidates, written), appsets, syncing, progress=tally, stop=stop,
                             ready=beside.start)  # fmt: skip
    finally:
        written_apps = beside.result()
    return outcomes + (written_apps or []), converged


def split_requests(options: RestoreOptions) -> tuple[RestoreOptions, RestoreOptions]:
    """`--concurrency` shared by the applications' writes and converge while both run (`pipeline`): half each,
    at least one each. (Measured on the simulator: no slower than the whole flag each, which only added contention.)"""
    writes = max(1, options.concurrency // 2)
    return replace(options, concurrency=writes), replace(options, concurrency=max(1, options.concurrency - writes))


def target_version(client: Client) -> str:
    """The target's version endpoint (it answers without auth), or "" when it does not say."""
    try:
        return client.version()
    except ApiError:
        return ""


def preflight(client: Client, manifest: dict[str, Any], version: str) -> list[str]:
    """Where the target's settings differ from the backup's source in what a sync does; none for old backups."""
    kept = manifest.get("argocdSettings")
    if kept is None:
        return []
    try:
        now = client.settings()
    except ApiError as err:
        return [f"settings: the target's settings could not be read ({err}); compare them with the source by hand"]
    source_version = versions.parse_version(manifest.get("argocdVersion", ""))
    return argocd_settings.differences(kept, source_version, now, versions.parse_version(version))


def planned(the_plan: Plan, options: RestoreOptions) -> list[Outcome]:
    """A dry run's outcomes: each action, the fields the target will drop and what that will do, the objects the
    restore would record failed (`would_fail`: the dry run exits 3, as the restore would), and the objects that
    would be held back because something they depend on would be recorded failed."""
    held, out = Index(), []
    for step in the_plan.steps:
        reason, fails = step.reason, False
        needed = blocker(step, held) if step.action in ("create", "update") else None
        if needed:
            reason = f"would be held back: depends on {needed}, which will be recorded failed"
            held.add(step.kind, step.doc)
        elif any(loss.policy for loss in step.losses) and not options.allow_field_loss:
            reason, fails = "will be recorded failed (the target cannot hold it whole) unless --allow-field-loss", True
            held.add(step.kind, step.doc)
        outcome = Outcome(step.kind, step.name, step.action, diff=step.changes or None, reason=reason, would_fail=fails)
        outcome.dropped = step.losses
        out.append(outcome)
    return out


def diff(client: Client, backup: Any, options: RestoreOptions, kube: KubeTarget | None = None) -> DiffReport:
    """The restore comparison as a drift report, without writes; `extra` lists live objects the backup lacks.

    With `kube`, the backup's ConfigMaps and Secrets are compared too, first, by the names of the keys that differ.
    """
    objects = remap(select(backup.objects, options), options.remap_clusters, options.remap_repos).objects
    warnings: list[str] = []
    live = read_live(client, [k for k in RESTORE_ORDER if k in objects], warnings, objects)
    the_plan = plan(objects, live, None, options)
    readback.predict_plan(the_plan, target_version(client))  # what the target's version would drop, per object
    if kube is not None:
        steps = kube_restore.plan(kube, backup.objects)
        the_plan.steps[:0] = [Step(s.kind, s.name, s.action, s.body, changes=s.changes, reason=s.reason) for s in steps]
    return DiffReport(backup.backup_id, client.base, the_plan, warnings)
