"""Simulated Argo CD endpoints: Applications (list, get/refresh, create, update, delete, sync, terminate, watch).

Stored applications are never mutated in place: every write builds a new dict, stamps it and replaces the
old one, so watch-journal entries and responses already handed out stay consistent snapshots.
"""

from __future__ import annotations

import copy
from typing import Any

from drkit.testing import applicationsets as sets
from drkit.testing.app_validation import check_app, destination_of, enabled, sources_of  # noqa: F401 (re-exported)
from drkit.testing.gateway import (
    DEADLINE_EXCEEDED,
    INTERNAL,
    INVALID_ARGUMENT,
    NOT_FOUND,
    PERMISSION_DENIED,
    GrpcError,
    Request,
    Response,
)
from drkit.testing.sim import now

REFRESH = "argocd.argoproj.io/refresh"
RESOURCES_FINALIZER = "resources-finalizer.argocd.argoproj.io"
POLICY_FINALIZERS = {"": RESOURCES_FINALIZER, "foreground": RESOURCES_FINALIZER + "/foreground"}
POLICY_FINALIZERS["background"] = RESOURCES_FINALIZER + "/background"
USER_META = ("name", "namespace", "labels", "annotations", "finalizers", "ownerReferences")


# RBAC names and writes -----------------------------------------------------------------------------------


def rbac_name(sim: Any, project: str, namespace: str, name: str) -> str:
    """`<proj>/<name>`, or `<proj>/<ns>/<name>` outside the control-plane namespace (RBACName)."""
    return f"{project}/{name}" if namespace == sim.namespace else f"{project}/{namespace}/{name}"


def app_rbac(sim: Any, app: dict[str, Any]) -> str:
    meta = app["metadata"]
    return rbac_name(sim, app.get("spec", {}).get("project", "default"), meta["namespace"], meta["name"])


def _stored(app: dict[str, Any], namespace: str, spec: dict[str, Any]) -> dict[str, Any]:
    meta = {k: copy.deepcopy(v) for k, v in app.get("metadata", {}).items() if k in USER_META and v}
    meta["namespace"] = namespace
    out = {"metadata": meta, "spec": spec}
    if app.get("status"):
        out["status"] = app["status"]
    return out


def _same(existing: dict[str, Any], app: dict[str, Any], spec: dict[str, Any]) -> bool:
    old, new = existing["metadata"], app.get("metadata", {})
    return existing.get("spec") == spec and all(
        (old.get(k) or None) == (new.get(k) or None) for k in ("labels", "annotations", "finalizers")
    )


def write(sim: Any, key: tuple[str, str], new: dict[str, Any], previous: dict[str, Any] | None) -> dict[str, Any]:
    """Stamp, store and announce an application write; call with the lock held."""
    sim.stamp(new, previous)
    sim.applications[key] = new
    sim.emit("app", "MODIFIED" if previous else "ADDED", new)
    sim.pending.add(("app", key))
    return new


def remove(sim: Any, key: tuple[str, str]) -> None:
    """Delete an application for good and wake the ApplicationSet owning it; call with the lock held."""
    app = sim.applications.pop(key, None)
    if app is None:
        return
    gone = copy.deepcopy(app)
    gone["metadata"]["resourceVersion"] = sim.next_rv()
    sim.emit("app", "DELETED", gone)
    owners = {o.get("uid") for o in app["metadata"].get("ownerReferences", [])}
    for set_key, appset in sim.applicationsets.items():
        if appset["metadata"].get("uid") in owners:
            sim.pending.add(("appset", set_key))


# lookups -------------------------------------------------------------------------------------------------


def find(sim: Any, req: Request, name: str, namespace: str, project: str, action: str) -> dict[str, Any]:
    """The app, with Argo CD's existence hiding: 403 when missing unless `project` is given (§6.10)."""
    namespace = namespace or sim.namespace
    with sim.lock:
        app = sim.applications.get((namespace, name)) if enabled(sim, namespace) else None
    if app is None or (project and app["spec"].get("project") != project):
        if project:
            sim.enforce(req, "applications", "get", rbac_name(sim, project, namespace, name))
            raise GrpcError(NOT_FOUND, f'applications.argoproj.io "{name}" not found')
        raise GrpcError(PERMISSION_DENIED, "permission denied")
    sim.enforce(req, "applications", "get", app_rbac(sim, app))
    if action != "get":
        sim.enforce(req, "applications", action, app_rbac(sim, app))
    return app


def _project_arg(req: Request) -> str:
    values = req.args("project") or req.args("projects")
    if len(values) > 1:
        raise GrpcError(INVALID_ARGUMENT, "project param must have at most one value")
    return values[0] if values else ""


def matcher(sim: Any, req: Request, *, watch: bool = False) -> Any:
    """The list/watch filter for this request's name, projects, selector, repo and appNamespace (§6.11)."""
    name, namespace, repo = req.arg("name"), req.arg("appNamespace"), req.arg("repo")
    projects = set(req.args("project") or req.args("projects"))
    selector = sets.parse_selector(req.arg("selector"))

    def match(app: dict[str, Any]) -> bool:
        meta = app["metadata"]
        if not enabled(sim, meta["namespace"]) or (name and meta["name"] != name):
            return False
        if namespace and (name or not watch) and meta["namespace"] != namespace:
            return False
        if projects and app.get("spec", {}).get("project") not in projects:
            return False
        if repo and (sources_of(app.get("spec", {})) or [{}])[0].get("repoURL") != repo:
            return False
        return selector(meta.get("labels") or {}) and sim.allowed(
            req.subject, "applications", "get", app_rbac(sim, app)
        )

    return match


def handlers(sim: Any) -> dict[str, Any]:
    """The ApplicationService operations drkit uses (delete, sync and terminate live in app_sync)."""
    from drkit.testing.app_sync import operation_handlers

    def list_apps(req: Request) -> Any:
        match = matcher(sim, req)
        with sim.lock:
            apps = list(sim.applications.values())
            rv = str(sim._rv)
        items = sorted((a for a in apps if match(a)), key=lambda a: (a["metadata"]["name"], a["metadata"]["namespace"]))
        if req.arg("name"):
            items = items[:1]
        if req.arg("fields"):
            items = project_fields(items, req.arg("fields"))
        return {"metadata": {"resourceVersion": rv}, "items": items}

    def get(req: Request) -> Any:
        name, namespace = req.params["name"], req.arg("appNamespace") or sim.namespace
        app = find(sim, req, name, namespace, _project_arg(req), "get")
        refresh = req.arg("refresh")
        if not refresh:
            return app
        key = (namespace, name)
        with sim.lock:
            current = sim.applications[key]
            new = copy.deepcopy(current)
            new["metadata"].setdefault("annotations", {})[REFRESH] = "hard" if refresh == "hard" else "normal"
            patched = int(write(sim, key, new, current)["metadata"]["resourceVersion"])
        with sim.changed:
            while not sim._stopping.is_set():
                app = sim.applications.get(key)
                if app is None:
                    raise GrpcError(NOT_FOUND, f'applications.argoproj.io "{name}" not found')
                meta = app["metadata"]
                if int(meta["resourceVersion"]) > patched and REFRESH not in (meta.get("annotations") or {}):
                    return app
                sim.changed.wait(0.5)
        raise GrpcError(DEADLINE_EXCEEDED, "application refresh deadline exceeded")

    def create(req: Request) -> Any:
        app = req.body or {}
        meta = app.get("metadata", {})
        name, namespace = meta.get("name", ""), meta.get("namespace") or sim.namespace
        pname = app.get("spec", {}).get("project") or "default"
        sim.enforce(req, "applications", "create", rbac_name(sim, pname, namespace, name))
        spec = check_app(sim, name, namespace, app.get("spec", {}), req.flag("validate", True), meta.get("annotations"))
        if meta.get("resourceVersion"):
            raise GrpcError(INTERNAL, "resourceVersion should not be set on objects to be created")
        key = (namespace, name)
        with sim.lock:
            existing = sim.applications.get(key)
            if existing is None:
                return write(sim, key, _stored(app, namespace, spec), None)
            if _same(existing, app, spec):
                return existing
            if not req.flag("upsert"):
                raise GrpcError(
                    INVALID_ARGUMENT, "existing application spec is different, use upsert flag to force update"
                )
        sim.enforce(req, "applications", "update", rbac_name(sim, pname, namespace, name))
        with sim.lock:
            existing = sim.applications.get(key) or existing
            new = copy.deepcopy(existing)
            new["spec"] = spec
            for field in ("labels", "annotations"):
                merged = {**(existing["metadata"].get(field) or {}), **(meta.get(field) or {})}
                if merged:
                    new["metadata"][field] = merged
            _set_or_drop(new["metadata"], "finalizers", meta.get("finalizers"))
            return write(sim, key, new, existing)

    def update(req: Request, app: dict[str, Any], namespace: str, spec_only: bool) -> dict[str, Any]:
        name = req.params.get("application.metadata.name") or req.params["name"]
        existing = find(sim, req, name, namespace, req.arg("project"), "update")
        spec = app.get("spec", {})
        new_project = spec.get("project") or "default"
        if new_project != existing["spec"].get("project"):
            sim.enforce(req, "applications", "create", rbac_name(sim, new_project, namespace, name))
        spec = check_app(sim, name, namespace, spec, req.flag("validate", True))
        key = (namespace, name)
        with sim.lock:
            current = sim.applications.get(key, existing)
            new = copy.deepcopy(current)
            new["spec"] = spec
            if not spec_only:
                for field in ("labels", "annotations", "finalizers"):
                    _set_or_drop(new["metadata"], field, app.get("metadata", {}).get(field))
            return write(sim, key, new, current)

    def put(req: Request) -> Any:
        app = req.body or {}
        return update(req, app, app.get("metadata", {}).get("namespace") or sim.namespace, False)

    def put_spec(req: Request) -> Any:
        return update(req, {"spec": req.body or {}}, req.arg("appNamespace") or sim.namespace, True)["spec"]

    def watch(req: Request) -> Response:
        match = matcher(sim, req, watch=True)
        name, since = req.arg("name"), req.arg("resourceVersion")
        with sim.lock:
            seq = sim._seq
            initial = []
            if not since or name:
                initial = [a for _, a in sorted(sim.applications.items()) if match(a)]
                if since:
                    initial = [a for a in initial if int(a["metadata"]["resourceVersion"]) >= int(since)]
        return sets.respond(sim, req, "app", "application", seq, initial, match)

    return {
        "ApplicationService_List": list_apps,
        "ApplicationService_Get": get,
        "ApplicationService_Create": create,
        "ApplicationService_Update": put,
        "ApplicationService_UpdateSpec": put_spec,
        "ApplicationService_Watch": watch,
        **operation_handlers(sim),
    }


def project_fields(items: list[dict[str, Any]], fields: str) -> list[dict[str, Any]]:
    """`?fields=items.a.b,...` keeps only those paths; a leading `-` drops them instead (§1.4, §6.51)."""
    exclude = fields.startswith("-")
    paths = [f.strip().removeprefix("items.").split(".") for f in fields.lstrip("-").split(",") if f.strip()]
    out = []
    for item in items:
        if exclude:
            kept = copy.deepcopy(item)
            for path in paths:
                parent = kept
                for part in path[:-1]:
                    parent = parent.get(part) if isinstance(parent, dict) else None
                if isinstance(parent, dict):
                    parent.pop(path[-1], None)
        else:
            kept = {}
            for path in paths:
                value: Any = item
                for part in path:
                    value = value.get(part) if isinstance(value, dict) else None
                if value is None:
                    continue
                target = kept
                for part in path[:-1]:
                    target = target.setdefault(part, {})
                target[path[-1]] = value
        out.append(kept)
    return out


def _set_or_drop(meta: dict[str, Any], field: str, value: Any) -> None:
    if value:
        meta[field] = copy.deepcopy(value)
    else:
        meta.pop(field, None)


# delete, sync, terminate -------------------------------------------------------------------------------


def delete_app(sim: Any, key: tuple[str, str], cascade: bool | None, policy: str) -> None:
    """Kubernetes delete with Argo CD's cascade finalizer (None: a plain delete, as GC does); lock held (§6.21)."""
    current = sim.applications[key]
    new = copy.deepcopy(current)
    meta = new["metadata"]
    finalizers = list(meta.get("finalizers") or [])
    ours = [f for f in finalizers if f.startswith(RESOURCES_FINALIZER)]
    if cascade and not ours and not meta.get("deletionTimestamp"):
        finalizers.append(POLICY_FINALIZERS[policy])
    elif cascade is False:
        finalizers = [f for f in finalizers if not f.startswith(RESOURCES_FINALIZER)]
    _set_or_drop(meta, "finalizers", finalizers)
    if not finalizers:
        remove(sim, key)
        return
    meta.setdefault("deletionTimestamp", now())
    meta["deletionGracePeriodSeconds"] = 0
    write(sim, key, new, current)
