"""The simulated application and ApplicationSet controllers: refreshes, sync operations, auto-sync, deletion, sets.

Work arrives through `sim.pending` (handlers add the keys they touch), so an idle controller sleeps on
`sim.changed` instead of scanning every app. One tick handles everything pending after waiting
`sim.reconcile_seconds`, which is how long "the controller takes" to react.

What is simulated (API-NOTES §2.2, §6 items 22, 26): refresh annotations are cleared with an RV bump and
`status.reconciledAt`; an operation goes Running on one tick and Succeeded (or Failed when a source repo or
the destination server is in `sim.unreachable`, or Terminating was requested) on the next; a successful
sync makes the app Synced and Healthy (Degraded if its name is in `sim.unhealthy`); a spec change since the
last sync makes it OutOfSync; apps never synced are OutOfSync/Missing; an armed `syncPolicy.automated`
starts a sync by itself; deleting apps lose Argo CD's finalizers and vanish. ApplicationSets: only `list`
generators generate; `syncPolicy.applicationsSync` limits updates/deletes of generated apps.
"""

from __future__ import annotations

import copy
import threading
from typing import Any

from drkit.testing import app_sync
from drkit.testing import applications as apps
from drkit.testing import applicationsets as sets
from drkit.testing.sim import now

CONTROLLER_FINALIZERS = (apps.RESOURCES_FINALIZER, "post-delete-finalizer.argocd.argoproj.io")


def run(sim: Any, stopping: threading.Event) -> None:
    """The controller loop: sleep until work is pending, let `reconcile_seconds` pass, reconcile it."""
    while not stopping.is_set():
        with sim.changed:
            while not sim.pending and not stopping.is_set():
                sim.changed.wait(1.0)
        if stopping.wait(sim.reconcile_seconds):
            return
        tick(sim)


def tick(sim: Any) -> None:
    """Reconcile everything pending once (tests without a controller thread call this directly)."""
    with sim.lock:
        work = sorted(sim.pending)
        sim.pending.clear()
    for kind, key in work:
        with sim.lock:
            if kind == "app":
                reconcile_app(sim, key)
            else:
                reconcile_appset(sim, key)


def settle(sim: Any) -> None:
    """Reconcile pending sets, then pending apps, once each: a freshly seeded instance's first pass."""
    with sim.lock:
        for _, key in sorted(k for k in sim.pending if k[0] == "appset"):
            reconcile_appset(sim, key)
        for _, key in sorted(k for k in sim.pending if k[0] == "app"):
            reconcile_app(sim, key)


def _compared_to(spec: dict[str, Any]) -> dict[str, Any]:
    out = {"destination": spec.get("destination", {})}
    if spec.get("sources"):
        out["sources"] = spec["sources"]
    else:
        out["source"] = spec.get("source", {})
    return out


def _targets(spec: dict[str, Any]) -> list[str]:
    return [s.get("targetRevision") or "HEAD" for s in apps.sources_of(spec)]


def _failure(sim: Any, spec: dict[str, Any]) -> str:
    for src in apps.sources_of(spec):
        if src.get("repoURL") in sim.unreachable:
            return f"ComparisonError: repository not accessible: {src['repoURL']}"
    server = apps.destination_of(sim, spec)[0]
    if server in sim.unreachable:
        return f"ComparisonError: failed to connect to cluster {server}"
    return ""


def _finish(sim: Any, app: dict[str, Any], state: dict[str, Any]) -> None:
    """Complete the running operation: phase, finishedAt, syncResult, history; clear `operation`."""
    spec, status = app["spec"], app["status"]
    operation = app.pop("operation")
    sync = operation.get("sync", {})
    failure = "Operation terminated" if state["phase"] == "Terminating" else _failure(sim, spec)
    state["phase"] = "Failed" if failure else "Succeeded"
    state["message"] = failure or "successfully synced (all tasks run)"
    state["finishedAt"] = now()
    revision = {"revisions": sync["revisions"]} if "revisions" in sync else {"revision": sync.get("revision", "")}
    state["syncResult"] = {**revision, **{k: v for k, v in _compared_to(spec).items() if k != "destination"}}
    if failure or sync.get("dryRun"):
        return
    status["sync"] = {"status": "Synced", "comparedTo": _compared_to(spec), **revision}
    history = status.setdefault("history", [])
    history.append(
        {
            "id": (history[-1]["id"] + 1) if history else 0,
            "deployStartedAt": state["startedAt"],
            "deployedAt": state["finishedAt"],
            "initiatedBy": operation.get("initiatedBy", {}),
            **revision,
            **{k: v for k, v in _compared_to(spec).items() if k != "destination"},
        }
    )
    del history[:-10]


def _auto_sync(app: dict[str, Any]) -> dict[str, Any] | None:
    """The operation auto-sync starts, unless it already failed for these targets."""
    spec, status = app["spec"], app.get("status", {})
    if not app_sync.automated(spec) or app.get("operation") or app["metadata"].get("deletionTimestamp"):
        return None
    if status.get("sync", {}).get("status") == "Synced":
        return None
    last = status.get("operationState", {})
    last_sync = last.get("operation", {}).get("sync", {})
    last_targets = last_sync.get("revisions") or [last_sync.get("revision")]
    if last.get("phase") in ("Failed", "Error") and last_targets == _targets(spec):
        return None
    auto = spec["syncPolicy"]["automated"]
    targets = _targets(spec)
    sync: dict[str, Any] = (
        {"revisions": targets} if spec.get("sources") else {"revision": targets[0] if targets else ""}
    )
    if auto.get("prune"):
        sync["prune"] = True
    if spec["syncPolicy"].get("syncOptions"):
        sync["syncOptions"] = spec["syncPolicy"]["syncOptions"]
    return {"sync": sync, "initiatedBy": {"automated": True}}


def _health_and_sync(sim: Any, app: dict[str, Any]) -> None:
    status = app["status"]
    sync = status.setdefault("sync", {})
    if sync.get("comparedTo") and sync.get("status") in ("Synced", "OutOfSync"):
        sync["status"] = "Synced" if sync["comparedTo"] == _compared_to(app["spec"]) else "OutOfSync"
        degraded = app["metadata"]["name"] in sim.unhealthy
        status["health"] = {"status": "Degraded" if degraded else "Healthy"}
    else:
        sync["status"] = "OutOfSync"
        status["health"] = {"status": "Missing"}


def reconcile_app(sim: Any, key: tuple[str, str]) -> None:
    """One reconciliation of one app; call with the lock held."""
    app = sim.applications.get(key)
    if app is None:
        return
    new = copy.deepcopy(app)
    meta, status = new["metadata"], new.setdefault("status", {})
    if meta.get("deletionTimestamp"):
        kept = [f for f in meta.get("finalizers", []) if not f.startswith(CONTROLLER_FINALIZERS)]
        if not kept:
            apps.remove(sim, key)
        elif kept != meta.get("finalizers"):
            meta["finalizers"] = kept
            apps.write(sim, key, new, app)
        sim.pending.discard(("app", key))
        return
    more = False
    if new.get("operation"):
        state = status.get("operationState")
        if not state or state.get("phase") not in ("Running", "Terminating"):
            status["operationState"] = {
                "operation": copy.deepcopy(new["operation"]),
                "phase": "Running",
                "message": "one or more tasks are running",
                "startedAt": now(),
            }
            more = True
        else:
            _finish(sim, new, state)
    (meta.get("annotations") or {}).pop(apps.REFRESH, None)
    if not meta.get("annotations"):
        meta.pop("annotations", None)
    _health_and_sync(sim, new)
    if (operation := _auto_sync(new)) and not app_sync.sync_blocked(sim, new, manual=False):  # appcontroller autoSync
        new["operation"] = operation
        more = True
    status["reconciledAt"] = now()
    apps.write(sim, key, new, app)
    sim.pending.discard(("app", key))
    if more:
        sim.pending.add(("app", key))


def mark_synced(sim: Any, key: tuple[str, str]) -> None:
    """Make an app Synced and Healthy directly in state, as if a sync had finished (seeding's `x-synced`)."""
    with sim.lock:
        app = sim.applications[key]
        new = copy.deepcopy(app)
        targets = _targets(new["spec"])
        revision = {"revisions": targets} if new["spec"].get("sources") else {"revision": targets[0]}
        new["status"] = {
            "sync": {"status": "Synced", "comparedTo": _compared_to(new["spec"]), **revision},
            "health": {"status": "Healthy"},
            "reconciledAt": now(),
        }
        apps.write(sim, key, new, app)
        sim.pending.discard(("app", key))


def reconcile_appset(sim: Any, key: tuple[str, str]) -> None:
    """Create, update and delete a set's generated apps as its applicationsSync policy allows; lock held."""
    appset = sim.applicationsets.get(key)
    if appset is None:
        return
    policy = (appset["spec"].get("syncPolicy") or {}).get("applicationsSync") or "sync"
    may_update, may_delete = policy in ("create-update", "sync"), policy in ("create-delete", "sync")
    preserve = bool((appset["spec"].get("syncPolicy") or {}).get("preserveResourcesOnDeletion"))
    uid = appset["metadata"]["uid"]
    generated = sets.render(appset)
    wanted = set()
    for app in generated:
        app_key = (app["metadata"]["namespace"], app["metadata"]["name"])
        wanted.add(app_key)
        current = sim.applications.get(app_key)
        if current is None:
            apps.write(sim, app_key, app, None)
        elif _owned(current, uid) and may_update and _differs(current, app):
            new = copy.deepcopy(current)
            new["spec"] = app["spec"]
            for field in ("labels", "annotations", "finalizers"):
                apps._set_or_drop(new["metadata"], field, app["metadata"].get(field))
            apps.write(sim, app_key, new, current)
    if may_delete:
        stale = [k for k, a in sim.applications.items() if k not in wanted and _owned(a, uid)]
        for app_key in stale:
            apps.delete_app(sim, app_key, False if preserve else None, "")
    resources = sets.resources_of(generated)
    if appset.get("status", {}).get("resources") != resources:
        new_set = copy.deepcopy(appset)
        new_set.setdefault("status", {})["resources"] = resources
        sets._write(sim, key, new_set, appset)
    sim.pending.discard(("appset", key))


def _owned(app: dict[str, Any], uid: str) -> bool:
    return any(o.get("uid") == uid for o in app["metadata"].get("ownerReferences", []))


def _differs(current: dict[str, Any], wanted: dict[str, Any]) -> bool:
    if current.get("spec") != wanted.get("spec"):
        return True
    return any(
        (current["metadata"].get(f) or None) != (wanted["metadata"].get(f) or None)
        for f in ("labels", "annotations", "finalizers")
    )
