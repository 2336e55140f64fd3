"""Simulated Argo CD endpoints: Applications (list, get/refresh, create, update, watch); sync is in app_sync."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from drkit.testing import grpc_limit
from drkit.testing import watch as streams
from drkit.testing.app_validation import check_app
from drkit.testing.labels import parse_selector
from drkit.testing.rpc import DEADLINE_EXCEEDED, INTERNAL, INVALID_ARGUMENT, NOT_FOUND, GrpcError, Request, Response
from drkit.testing.specs import REFRESH, USER_META, clone, same_meta, set_or_drop, sources_of, upserted
from drkit.testing.state import State


def _stored(app: dict[str, Any], namespace: str, spec: dict[str, Any]) -> dict[str, Any]:
    meta = {k: clone(v) for k, v in app.get("metadata", {}).items() if k in USER_META and v}
    meta["namespace"] = namespace
    out = {"metadata": meta, "spec": spec}
    if app.get("status"):
        out["status"] = app["status"]
    return out


def _project_arg(req: Request) -> str:
    values = req.args("project") or req.args("projects")
    if len(values) > 1:
        raise GrpcError(INVALID_ARGUMENT, "project param must have at most one value")
    return values[0] if values else ""


def matcher(state: State, req: Request, *, watch: bool = False) -> Callable[[dict[str, Any]], bool]:
    """The list/watch filter for this request's name, projects, selector, repo and appNamespace (§6.11)."""
    name, namespace, repo = req.arg("name"), req.arg("appNamespace"), req.arg("repo")
    projects = set(req.args("project") or req.args("projects"))
    selector = parse_selector(req.arg("selector"))

    def match(app: dict[str, Any]) -> bool:
        meta = app["metadata"]
        if not state.app_enabled(meta["namespace"]) or (name and meta["name"] != name):
            return False
        if namespace and (name or not watch) and meta["namespace"] != namespace:
            return False
        if projects and app.get("spec", {}).get("project") not in projects:
            return False
        if repo and (sources_of(app.get("spec", {})) or [{}])[0].get("repoURL") != repo:
            return False
        return selector(meta.get("labels") or {}) and state.allowed(
            req.subject, "applications", "get", state.app_rbac(app)
        )

    return match


def list_apps(state: State, req: Request) -> Any:
    """`List`: filtered by the server, sent as one gRPC message, then cut to `fields` by the gateway.

    The server filters by name, projects, repo, selector, appNamespace and RBAC before it sends (v3.5.1 and
    v2.14.21 `server/application/application.go` `List`), so those shrink the message the gRPC limit is
    applied to. `fields` is not in `ApplicationQuery` (`application.proto`): the gateway's forwarder projects
    the list it has already received whole (`pkg/apiclient/application/forwarder_overwrite.go`
    `forward_ApplicationService_List_0 = UnaryForwarderWithFieldProcessor(processApplicationListField)`;
    argoproj/pkg v2.0.1 `grpc/http/forwarders.go`), so a projected list fails the limit as the whole one does.
    """
    match = matcher(state, req)
    with state.lock:
        apps = list(state.applications.values())
        rv = str(state.rv)
    items = sorted((a for a in apps if match(a)), key=lambda a: (a["metadata"]["name"], a["metadata"]["namespace"]))
    if req.arg("name"):
        items = items[:1]
    body = grpc_limit.checked({"metadata": {"resourceVersion": rv}, "items": items}, state.grpc_max_mb)
    if req.arg("fields"):
        body["items"] = project_fields(items, req.arg("fields"))
    return body


def get(state: State, req: Request) -> Any:
    name, namespace = req.params["name"], req.arg("appNamespace") or state.namespace
    app = state.find_app(req, name, namespace, _project_arg(req), "get")
    refresh = req.arg("refresh")
    if not refresh:
        return app
    key = (namespace, name)
    with state.lock:
        current = state.applications[key]
        new = clone(current)
        new["metadata"].setdefault("annotations", {})[REFRESH] = "hard" if refresh == "hard" else "normal"
        patched = int(state.put_app(key, new, current)["metadata"]["resourceVersion"])
    answer: list[dict[str, Any]] = []

    def refreshed(app: dict[str, Any] | None) -> bool:
        if app is None:
            raise GrpcError(NOT_FOUND, f'applications.argoproj.io "{name}" not found')
        meta = app["metadata"]
        if int(meta["resourceVersion"]) > patched and REFRESH not in (meta.get("annotations") or {}):
            answer.append(app)
        return bool(answer)

    if not state.await_app(key, refreshed):
        raise GrpcError(DEADLINE_EXCEEDED, "application refresh deadline exceeded")
    return answer[0]


def create(state: State, req: Request) -> Any:
    app = req.body or {}
    meta = app.get("metadata", {})
    name, namespace = meta.get("name", ""), meta.get("namespace") or state.namespace
    pname = app.get("spec", {}).get("project") or "default"
    state.enforce(req, "applications", "create", state.rbac_name(pname, namespace, name))
    spec = check_app(state, name, namespace, app.get("spec", {}), req.flag("validate", True), meta.get("annotations"))
    if meta.get("resourceVersion"):
        raise GrpcError(INTERNAL, "resourceVersion should not be set on objects to be created")
    key = (namespace, name)
    with state.lock:
        existing = state.applications.get(key)
        if existing is None:
            return state.put_app(key, _stored(app, namespace, spec), None)
        if existing.get("spec") == spec and same_meta(existing["metadata"], meta):
            return existing
        if not req.flag("upsert"):
            raise GrpcError(INVALID_ARGUMENT, "existing application spec is different, use upsert flag to force update")
    state.enforce(req, "applications", "update", state.rbac_name(pname, namespace, name))
    with state.lock:
        existing = state.applications.get(key) or existing
        return state.put_app(key, upserted(existing, spec, meta), existing)


def _update(state: State, req: Request, app: dict[str, Any], namespace: str, spec_only: bool) -> dict[str, Any]:
    name = req.params.get("application.metadata.name") or req.params["name"]
    existing = state.find_app(req, name, namespace, req.arg("project"), "update")
    spec = app.get("spec", {})
    new_project = spec.get("project") or "default"
    if new_project != existing["spec"].get("project"):
        state.enforce(req, "applications", "create", state.rbac_name(new_project, namespace, name))
    spec = check_app(state, name, namespace, spec, req.flag("validate", True))
    key = (namespace, name)
    with state.lock:
        current = state.applications.get(key, existing)
        new = clone(current)
        new["spec"] = spec
        if not spec_only:
            for field in ("labels", "annotations", "finalizers"):
                set_or_drop(new["metadata"], field, app.get("metadata", {}).get(field))
        return state.put_app(key, new, current)


def put(state: State, req: Request) -> Any:
    app = req.body or {}
    return _update(state, req, app, app.get("metadata", {}).get("namespace") or state.namespace, False)


def put_spec(state: State, req: Request) -> Any:
    return _update(state, req, {"spec": req.body or {}}, req.arg("appNamespace") or state.namespace, True)["spec"]


def watch(state: State, req: Request) -> Response:
    """`Watch` (master server/application/application.go): initial ADDED events when `resourceVersion` is empty
    or `name` is set, then live events from now on; nothing is replayed, so a client that reconnects lists first.

    Every event, initial or live, is filtered as `isApplicationPermitted` does: RV at least `resourceVersion`
    (an unparsable one counts as 0), `name` with `appNamespace` (default the control plane's), projects,
    selector, enabled namespace, RBAC.
    """
    match = matcher(state, req, watch=True)
    name, since = req.arg("name"), req.arg("resourceVersion")
    namespace = req.arg("appNamespace") or state.namespace
    floor = int(since) if since.isdigit() else 0

    def permitted(app: dict[str, Any]) -> bool:
        meta = app["metadata"]
        if name and meta["namespace"] != namespace:
            return False
        return int(meta.get("resourceVersion") or 0) >= floor and match(app)

    with state.lock:
        seq = state.journal.seq
        initial = [a for _, a in sorted(state.applications.items()) if permitted(a)] if not since or name else []
    return streams.respond(state.journal, state.stopping, req, "app", "application", seq, initial, permitted)


def project_fields(items: list[dict[str, Any]], fields: str) -> list[dict[str, Any]]:
    """`?fields=items.a.b,...` keeps only those paths; a leading `-` drops them instead (§1.4, §6.51)."""
    exclude = fields.startswith("-")
    paths = [f.strip().removeprefix("items.").split(".") for f in fields.lstrip("-").split(",") if f.strip()]
    return [_without(item, paths) if exclude else _only(item, paths) for item in items]


def _without(item: dict[str, Any], paths: list[list[str]]) -> dict[str, Any]:
    kept = clone(item)
    for path in paths:
        parent: Any = kept
        for part in path[:-1]:
            parent = parent.get(part) if isinstance(parent, dict) else None
        if isinstance(parent, dict):
            parent.pop(path[-1], None)
    return kept


def _only(item: dict[str, Any], paths: list[list[str]]) -> dict[str, Any]:
    kept: dict[str, Any] = {}
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
    return kept


HANDLERS = {
    "ApplicationService_List": list_apps,
    "ApplicationService_Get": get,
    "ApplicationService_Create": create,
    "ApplicationService_Update": put,
    "ApplicationService_UpdateSpec": put_spec,
    "ApplicationService_Watch": watch,
}
