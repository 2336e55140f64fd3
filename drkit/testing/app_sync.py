"""Simulated Argo CD endpoints: Application delete, sync and terminate, with the checks Sync makes (API-NOTES §2.2)."""

from __future__ import annotations

from typing import Any

from drkit.testing import syncwindows
from drkit.testing.gojson import compact
from drkit.testing.rpc import FAILED_PRECONDITION, INVALID_ARGUMENT, PERMISSION_DENIED, UNKNOWN, GrpcError, Request
from drkit.testing.specs import POLICY_FINALIZERS, automated, clone, sources_of
from drkit.testing.state import State


def _operation(req: Request, app: dict[str, Any], body: dict[str, Any]) -> dict[str, Any]:
    """The `operation` a sync request sets (SetAppOperation, §6.23)."""
    spec = app["spec"]
    policy = spec.get("syncPolicy") or {}
    sources = sources_of(spec)
    sync: dict[str, Any] = {
        "prune": body.get("prune"),
        "dryRun": body.get("dryRun"),
        "syncStrategy": body.get("strategy"),
        "resources": body.get("resources"),
        "manifests": body.get("manifests"),
        "syncOptions": (body.get("syncOptions") or {}).get("items") or policy.get("syncOptions"),
    }
    if spec.get("sources"):
        sync["revisions"] = body.get("revisions") or [s.get("targetRevision") or "HEAD" for s in sources]
        sync["sourcePositions"] = body.get("sourcePositions")
    else:
        sync["revision"] = body.get("revision") or (sources[0].get("targetRevision") if sources else "") or "HEAD"
    subject = req.subject
    user = subject if subject.startswith("proj:") else subject.split(":", 1)[0]
    operation = {"sync": sync, "initiatedBy": {"username": user}, "info": body.get("infos")}
    operation["retry"] = body.get("retryStrategy") or policy.get("retry")
    return compact(operation)


def _check_sync(app: dict[str, Any], body: dict[str, Any]) -> None:
    spec = app["spec"]
    if body.get("manifests") and automated(spec) and not body.get("dryRun"):
        raise GrpcError(
            FAILED_PRECONDITION, "cannot use local sync when Automatic Sync Policy is enabled except for dry run"
        )
    if app["metadata"].get("deletionTimestamp"):
        raise GrpcError(FAILED_PRECONDITION, "application is deleting")
    sources = sources_of(spec)
    target = (sources[0].get("targetRevision") if sources else "") or "HEAD"
    if automated(spec) and body.get("revision") and body["revision"] != target and not spec.get("sources"):
        raise GrpcError(FAILED_PRECONDITION, f"Cannot sync to {body['revision']}: auto-sync currently set to {target}")
    for pos in body.get("sourcePositions") or []:
        if pos < 1 or pos > len(sources):
            raise GrpcError(UNKNOWN, "source position is out of range")
    if app.get("operation"):
        raise GrpcError(FAILED_PRECONDITION, "another operation is already in progress")


def delete(state: State, req: Request) -> Any:
    name, namespace = req.params["name"], req.arg("appNamespace") or state.namespace
    app = state.find_app(req, name, namespace, req.arg("project"), "delete")
    cascade, policy = req.flag("cascade", True), req.arg("propagationPolicy")
    if policy not in POLICY_FINALIZERS:
        raise GrpcError(INVALID_ARGUMENT, f"invalid propagation policy: {policy}")
    if not cascade and policy:
        raise GrpcError(INVALID_ARGUMENT, "cannot set propagation policy when cascading is disabled")
    with state.lock:
        if (namespace, name) in state.applications:
            state.delete_app((namespace, app["metadata"]["name"]), cascade, policy)
    return {}


def sync(state: State, req: Request) -> Any:
    body = req.body or {}
    name, namespace = req.params["name"], body.get("appNamespace") or state.namespace
    app = state.find_app(req, name, namespace, body.get("project", ""), "get")
    project = state.projects.get(app["spec"].get("project", "default"), {})
    if syncwindows.blocks(project.get("spec", {}), app):
        raise GrpcError(PERMISSION_DENIED, "cannot sync: blocked by sync window")
    state.enforce(req, "applications", "sync", state.app_rbac(app))
    if body.get("manifests"):
        state.enforce(req, "applications", "override", state.app_rbac(app))
    key = (namespace, name)
    with state.lock:
        current = state.applications.get(key, app)
        _check_sync(current, body)
        new = clone(current)
        new["operation"] = _operation(req, current, body)
        new.get("status", {}).pop("operationState", None)
        return state.put_app(key, new, current)


def terminate(state: State, req: Request) -> Any:
    name, namespace = req.params["name"], req.arg("appNamespace") or state.namespace
    state.find_app(req, name, namespace, req.arg("project"), "sync")
    key = (namespace, name)
    with state.lock:
        current = state.applications[key]
        if not current.get("operation") or not current.get("status", {}).get("operationState"):
            raise GrpcError(FAILED_PRECONDITION, "Unable to terminate operation. No operation is in progress")
        new = clone(current)
        new["status"]["operationState"]["phase"] = "Terminating"
        state.put_app(key, new, current)
    return {}


HANDLERS = {
    "ApplicationService_Delete": delete,
    "ApplicationService_Sync": sync,
    "ApplicationService_TerminateOperation": terminate,
}
