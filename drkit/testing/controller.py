"""The simulated application and ApplicationSet controllers: refreshes, sync operations, auto-sync, deletion, sets.

Work arrives through `state.pending` (handlers add the keys they touch). `tick` steps everything pending once
(tests without a controller thread call it); `workers.Controller` runs the same steps on status and operation
processors of finite number and duration (capacity.py).

What is simulated (API-NOTES §2.2, §6 items 22, 26): refresh annotations are cleared with an RV bump and
`status.reconciledAt`; an operation goes Running when an operation processor takes it (on one tick) and
Succeeded a sync time later (on the next), or Failed when a source repo or the destination server is in
`state.unreachable` or Terminating was requested; a successful sync makes the app Synced and Healthy
(Degraded if its name is in `state.unhealthy`); a spec change since the last sync makes it OutOfSync; apps
never synced are OutOfSync/Missing; an armed `syncPolicy.automated` starts a sync by itself; deleting apps lose
Argo CD's finalizers and vanish. ApplicationSets: only `list` generators generate, `appset_seconds` after a
change (a separate controller, maybe slower than a client's first poll); `syncPolicy.applicationsSync` limits
updates/deletes of generated apps.
"""

from __future__ import annotations

import time
from typing import Any

from drkit.testing import gojson, syncwindows, versions
from drkit.testing.clock import now
from drkit.testing.specs import (
    CONTROLLER_FINALIZERS,
    REFRESH,
    automated,
    clone,
    compared_to,
    destination_of,
    next_status,
    owned,
    same_meta,
    set_or_drop,
    sources_of,
    targets,
)
from drkit.testing.state import Key, State
from drkit.testing.templates import render, resources_of


def tick(state: State, appset_seconds: float = 0.0, queued: dict[Key, float] | None = None) -> None:
    """Reconcile everything pending once (tests without a controller thread call this directly)."""
    with state.lock:
        work = due(state, appset_seconds, {} if queued is None else queued)
    for kind, key in work:
        with state.lock:
            if kind == "app":
                reconcile_app(state, key)
            else:
                reconcile_appset(state, key)


def due(state: State, appset_seconds: float, queued: dict[Key, float]) -> list[tuple[str, Key]]:
    """The pending work to do now; a set not yet `appset_seconds` past when it was first seen stays pending."""
    work, due, clock = sorted(state.pending), [], time.monotonic()
    state.pending.clear()
    for kind, key in work:
        if kind == "appset" and clock - queued.setdefault(key, clock) < appset_seconds:
            state.pending.add((kind, key))
        else:
            queued.pop(key, None)
            due.append((kind, key))
    return due


def settle(state: State) -> None:
    """Reconcile pending sets, then pending apps, once each: a freshly seeded instance's first pass."""
    with state.lock:
        for _, key in sorted(k for k in state.pending if k[0] == "appset"):
            reconcile_appset(state, key)
        for _, key in sorted(k for k in state.pending if k[0] == "app"):
            reconcile_app(state, key)


def _failure(state: State, spec: dict[str, Any]) -> str:
    for src in sources_of(spec):
        if src.get("repoURL") in state.unreachable:
            return f"ComparisonError: repository not accessible: {src['repoURL']}"
    server = destination_of(state.clusters, spec)[0]
    if server in state.unreachable:
        return f"ComparisonError: failed to connect to cluster {server}"
    return ""


def _finish(state: State, app: dict[str, Any], op: dict[str, Any]) -> None:
    """Complete the running operation: phase, finishedAt, syncResult, history; clear `operation`."""
    spec, status = app["spec"], app["status"]
    operation = app.pop("operation")
    sync = operation.get("sync", {})
    failure = "Operation terminated" if op["phase"] == "Terminating" else _failure(state, spec)
    op["phase"] = "Failed" if failure else "Succeeded"
    op["message"] = failure or "successfully synced (all tasks run)"
    op["finishedAt"] = now()
    revision = {"revisions": sync["revisions"]} if "revisions" in sync else {"revision": sync.get("revision", "")}
    op["syncResult"] = {**revision, **{k: v for k, v in compared_to(spec).items() if k != "destination"}}
    if failure or sync.get("dryRun"):
        return
    status["sync"] = {"status": "Synced", "comparedTo": compared_to(spec), **revision}
    history = status.setdefault("history", [])
    history.append(
        {
            "id": (history[-1]["id"] + 1) if history else 0,
            "deployStartedAt": op["startedAt"],
            "deployedAt": op["finishedAt"],
            "initiatedBy": operation.get("initiatedBy", {}),
            **revision,
            **{k: v for k, v in compared_to(spec).items() if k != "destination"},
        }
    )
    del history[:-10]


def _auto_sync(state: State, app: dict[str, Any]) -> dict[str, Any] | None:
    """The operation auto-sync starts, unless it already failed for these targets (appcontroller autoSync)."""
    spec, status = app["spec"], app.get("status", {})
    armed = automated(spec, honours_enabled=state.release >= versions.AUTOMATED_ENABLED)
    if not armed or app.get("operation") or app["metadata"].get("deletionTimestamp"):
        return None
    if status.get("sync", {}).get("status") == "Synced":
        return None
    last = status.get("operationState", {})
    last_sync = last.get("operation", {}).get("sync", {})
    last_targets = last_sync.get("revisions") or [last_sync.get("revision")]
    if last.get("phase") in ("Failed", "Error") and last_targets == targets(spec):
        return None
    auto = spec["syncPolicy"]["automated"]
    revisions = targets(spec)
    sync: dict[str, Any] = (
        {"revisions": revisions} if spec.get("sources") else {"revision": revisions[0] if revisions else ""}
    )
    if auto.get("prune"):
        sync["prune"] = True
    if spec["syncPolicy"].get("syncOptions"):
        sync["syncOptions"] = spec["syncPolicy"]["syncOptions"]
    return {"sync": sync, "initiatedBy": {"automated": True}}


def _health_and_sync(state: State, app: dict[str, Any]) -> None:
    status = app["status"]
    sync = status.setdefault("sync", {})
    if sync.get("comparedTo") and sync.get("status") in ("Synced", "OutOfSync"):
        sync["status"] = "Synced" if sync["comparedTo"] == compared_to(app["spec"]) else "OutOfSync"
        degraded = app["metadata"]["name"] in state.unhealthy
        status["health"] = {"status": "Degraded" if degraded else "Healthy"}
    else:
        sync["status"] = "OutOfSync"
        status["health"] = {"status": "Missing"}


def _finalize(state: State, key: Key, app: dict[str, Any]) -> None:
    """A deleting app loses Argo CD's finalizers, and vanishes when none is left (finalizeApplicationDeletion)."""
    new = clone(app)
    meta = new["metadata"]
    kept = [f for f in meta.get("finalizers", []) if not f.startswith(CONTROLLER_FINALIZERS)]
    if not kept:
        state.remove_app(key)
    elif kept != meta.get("finalizers"):
        meta["finalizers"] = kept
        state.put_app(key, new, app)
    state.pending.discard(("app", key))


def _begin(new: dict[str, Any]) -> bool:
    """Mark a requested operation Running; False when none is requested or one already runs."""
    status = new.setdefault("status", {})
    op = status.get("operationState")
    if not new.get("operation") or (op and op.get("phase") in ("Running", "Terminating")):
        return False
    status["operationState"] = {
        "operation": clone(new["operation"]),
        "phase": "Running",
        "message": "one or more tasks are running",
        "startedAt": now(),
    }
    return True


def _refresh(state: State, new: dict[str, Any]) -> bool:
    """A status reconciliation: clear the refresh request, compare, assess health, decide auto-sync.

    True when auto-sync requested an operation (processAppRefreshQueueItem, autoSync).
    """
    status, meta = new.setdefault("status", {}), new["metadata"]
    (meta.get("annotations") or {}).pop(REFRESH, None)
    if not meta.get("annotations"):
        meta.pop("annotations", None)
    _health_and_sync(state, new)
    operation = _auto_sync(state, new)
    requested = operation is not None and not _blocked(state, new)
    if requested:
        new["operation"] = operation
        state.auto_synced.append(((meta["namespace"], meta["name"]), clone(new["spec"]["syncPolicy"])))
    status["reconciledAt"] = now()
    return requested


def reconcile_app(state: State, key: Key, operations: bool = True) -> None:
    """One reconciliation of one app, lock held. With `operations` (a `tick`) it also begins or finishes the
    app's operation; the processors leave that to the operation processors (refresh_app)."""
    app = state.applications.get(key)
    if app is None:
        return
    if app["metadata"].get("deletionTimestamp"):
        _finalize(state, key, app)
        return
    new = next_status(app)
    more = operations and _begin(new)
    if operations and not more and new.get("operation"):
        _finish(state, new, new["status"]["operationState"])
    more = _refresh(state, new) or more
    state.put_app(key, new, app)
    state.pending.discard(("app", key))
    if more:
        state.pending.add(("app", key))  # the next tick, or the operation processors, take it from here


def refresh_app(state: State, key: Key) -> bool:
    """A status processor's work on one app: its status, not its operation. True when an operation awaits.

    The reconciliation consumes the app's pending mark, which may have come from a sync request written since
    it was queued; saying so lets the caller hand the operation to the operation processors itself.
    """
    with state.lock:
        reconcile_app(state, key, operations=False)
        return bool(state.applications.get(key, {}).get("operation"))


def begin_operation(state: State, key: Key) -> bool:
    """An operation processor starts the app's requested sync; True when one is now running."""
    with state.lock:
        app = state.applications.get(key)
        if app is None or app["metadata"].get("deletionTimestamp"):
            return False
        new = next_status(app)
        if not _begin(new):
            return bool(new.get("operation"))
        state.put_app(key, new, app)
        return True


def end_operation(state: State, key: Key) -> None:
    """An operation processor completes the running sync (Succeeded, Failed or terminated)."""
    with state.lock:
        app = state.applications.get(key)
        if app is None or not app.get("operation") or not app.get("status", {}).get("operationState"):
            return
        new = next_status(app)
        _finish(state, new, new["status"]["operationState"])
        _health_and_sync(state, new)
        state.put_app(key, new, app)


def mark_synced(state: State, key: Key) -> None:
    """Make an app Synced and Healthy directly in state, as if a sync had finished (seeding's `x-synced`)."""
    with state.lock:
        app = state.applications[key]
        new = clone(app)
        revisions = targets(new["spec"])
        revision = {"revisions": revisions} if new["spec"].get("sources") else {"revision": revisions[0]}
        new["status"] = {
            "sync": {"status": "Synced", "comparedTo": compared_to(new["spec"]), **revision},
            "health": {"status": "Healthy"},
            "reconciledAt": now(),
        }
        state.put_app(key, new, app)
        state.pending.discard(("app", key))


def reconcile_appset(state: State, key: Key) -> None:
    """Create, update and delete a set's generated apps as its applicationsSync policy allows; lock held."""
    appset = state.applicationsets.get(key)
    if appset is None:
        return
    policy = (appset["spec"].get("syncPolicy") or {}).get("applicationsSync") or "sync"
    may_update, may_delete = policy in ("create-update", "sync"), policy in ("create-delete", "sync")
    preserve = bool((appset["spec"].get("syncPolicy") or {}).get("preserveResourcesOnDeletion"))
    uid = appset["metadata"]["uid"]
    generated = render(appset, decoder(state))
    wanted = set()
    for app in generated:
        app_key = (app["metadata"]["namespace"], app["metadata"]["name"])
        wanted.add(app_key)
        current = state.applications.get(app_key)
        if current is None:
            state.put_app(app_key, app, None)
        elif owned(current, uid) and may_update and _differs(current, app):
            new = clone(current)
            new["spec"] = app["spec"]
            for field in ("labels", "annotations", "finalizers"):
                set_or_drop(new["metadata"], field, app["metadata"].get(field))
            state.put_app(app_key, new, current)
    if may_delete:
        stale = [k for k, a in state.applications.items() if k not in wanted and owned(a, uid)]
        for app_key in stale:
            state.delete_app(app_key, False if preserve else None, "")
    resources = resources_of(generated)
    if appset.get("status", {}).get("resources") != resources:
        new_set = clone(appset)
        new_set.setdefault("status", {})["resources"] = resources
        state.put_appset(key, new_set, appset)
    state.pending.discard(("appset", key))


def decoder(state: State) -> Any:
    """What decoding into this release's Application does to a patched app (templates.render's `decode`)."""
    types = gojson.Types(versions.lacks(state.release), versions.pointers(state.release))
    return lambda app: gojson.decode(app, {"$ref": "#/definitions/v1alpha1Application"}, types=types)


def _differs(current: dict[str, Any], wanted: dict[str, Any]) -> bool:
    return current.get("spec") != wanted.get("spec") or not same_meta(current["metadata"], wanted["metadata"])


def _blocked(state: State, app: dict[str, Any]) -> bool:
    """A sync window forbids an automated sync of this app now."""
    project = state.projects.get(app["spec"].get("project", "default"), {})
    return syncwindows.blocks(project.get("spec", {}), app, manual=False)
