"""Simulated Argo CD endpoints: ApplicationSets (list, get, create/upsert, delete, generate, watch)."""

from __future__ import annotations

from typing import Any

from drkit.testing import gojson, versions
from drkit.testing import watch as streams
from drkit.testing.labels import parse_selector
from drkit.testing.rpc import INVALID_ARGUMENT, NOT_FOUND, UNKNOWN, GrpcError, Request, Response
from drkit.testing.specs import USER_META, appset_project, clone, same_meta, upserted
from drkit.testing.state import State
from drkit.testing.templates import render, resources_of


def _get_set(state: State, name: str, namespace: str) -> dict[str, Any]:
    with state.lock:
        appset = state.applicationsets.get((namespace or state.namespace, name))
    if appset is None:
        raise GrpcError(NOT_FOUND, f'applicationsets.argoproj.io "{name}" not found')
    return appset


def list_sets(state: State, req: Request) -> Any:
    namespace = req.arg("appsetNamespace") or state.namespace
    projects, selector = set(req.args("projects")), parse_selector(req.arg("selector"))
    with state.lock:
        sets = [s for (ns, _), s in sorted(state.applicationsets.items()) if ns == namespace]
        rv = str(state.rv)
    items = [
        s
        for s in sets
        if (not projects or s["spec"].get("template", {}).get("spec", {}).get("project") in projects)
        and selector(s["metadata"].get("labels") or {})
        and state.allowed(req.subject, "applicationsets", "get", state.appset_rbac(s))
    ]
    return {"metadata": {"resourceVersion": rv}, "items": items}


def get(state: State, req: Request) -> Any:
    appset = _get_set(state, req.params["name"], req.arg("appsetNamespace"))
    state.enforce(req, "applicationsets", "get", state.appset_rbac(appset))
    return appset


def _check_create(state: State, body: dict[str, Any], namespace: str) -> None:
    """The API server's checks before a set is stored (server/applicationset/applicationset.go Create)."""
    project = body.get("spec", {}).get("template", {}).get("spec", {}).get("project") or "default"
    if "{{" in project:
        raise GrpcError(
            UNKNOWN, "the Argo CD API does not currently support creating ApplicationSets with templated project fields"
        )
    if any(not generator for generator in body.get("spec", {}).get("generators") or []):
        # validateAppSet -> utils.CheckInvalidGenerators: a generator with no type set; a plain error, so 500
        raise GrpcError(
            UNKNOWN,
            f"error validating ApplicationSets: ApplicationSet {body['metadata'].get('name', '')} contains "
            "unrecognized generators",
        )
    if not state.app_enabled(namespace):
        raise GrpcError(UNKNOWN, f"namespace '{namespace}' is not permitted")


def create(state: State, req: Request) -> Any:
    body = req.body or {}
    meta = body.setdefault("metadata", {})
    namespace = meta["namespace"] = meta.get("namespace") or state.namespace
    _check_create(state, body, namespace)
    state.enforce(req, "applicationsets", "create", state.appset_rbac(body))
    project = appset_project(body)
    with state.lock:
        if project not in state.projects:
            raise GrpcError(INVALID_ARGUMENT, f"ApplicationSet references project {project} which does not exist")
    stored = {"metadata": {k: v for k, v in meta.items() if k in USER_META and v}, "spec": body.get("spec", {})}
    if req.flag("dryRun"):
        preview = clone(stored)
        preview["status"] = {"resources": resources_of(render(preview, _decoder(state)))}
        return preview
    if not meta.get("name"):  # kube-apiserver validation: Invalid, hence InvalidArgument
        raise GrpcError(
            INVALID_ARGUMENT,
            'ApplicationSet.argoproj.io "" is invalid: metadata.name: Required value: name or generateName is required',
        )
    key = (namespace, meta["name"])
    with state.lock:
        existing = state.applicationsets.get(key)
        if existing is None:
            return state.put_appset(key, stored, None)
        if existing.get("spec") == body.get("spec") and same_meta(existing["metadata"], meta):
            return existing
        if not req.flag("upsert"):
            raise GrpcError(
                INVALID_ARGUMENT, "existing ApplicationSet spec is different, use upsert flag to force update"
            )
    state.enforce(req, "applicationsets", "update", state.appset_rbac(body))
    with state.lock:
        existing = state.applicationsets.get(key) or existing
        return state.put_appset(key, upserted(existing, stored["spec"], meta), existing)


def delete(state: State, req: Request) -> Any:
    appset = _get_set(state, req.params["name"], req.arg("appsetNamespace"))
    state.enforce(req, "applicationsets", "delete", state.appset_rbac(appset))
    with state.lock:
        key = (appset["metadata"]["namespace"], appset["metadata"]["name"])
        if key in state.applicationsets:
            state.delete_appset(key)
    return {}


def generate(state: State, req: Request) -> Any:
    appset = clone((req.body or {}).get("applicationSet") or {})
    appset.setdefault("metadata", {}).setdefault("namespace", state.namespace)
    appset["metadata"].setdefault("name", "")
    state.enforce(req, "applicationsets", "create", state.appset_rbac(appset))
    return {"applications": render(appset, _decoder(state))}


def _decoder(state: State) -> Any:
    """What decoding into this release's Application does to a patched app (templates.render's `decode`)."""
    types = gojson.Types(versions.lacks(state.release), versions.pointers(state.release))
    return lambda app: gojson.decode(app, {"$ref": "#/definitions/v1alpha1Application"}, types=types)


def watch(state: State, req: Request) -> Response:
    """`Watch` (master server/applicationset/applicationset.go, `isApplicationsetPermitted`): initial ADDED events
    only when `name` is set; every event filtered by RV at least `resourceVersion` (unparsable: 0), name,
    `appSetNamespace` (on its own, no default), projects, selector, enabled namespace and RBAC."""
    name, namespace = req.arg("name"), req.arg("appSetNamespace")
    projects, selector = set(req.args("projects")), parse_selector(req.arg("selector"))
    since = req.arg("resourceVersion")
    floor = int(since) if since.isdigit() else 0

    def match(appset: dict[str, Any]) -> bool:
        meta = appset["metadata"]
        if (name and meta["name"] != name) or (namespace and meta["namespace"] != namespace):
            return False
        project = appset["spec"].get("template", {}).get("spec", {}).get("project")
        if (projects and project not in projects) or int(meta.get("resourceVersion") or 0) < floor:
            return False
        return (
            selector(meta.get("labels") or {})
            and state.app_enabled(meta["namespace"])
            and state.allowed(req.subject, "applicationsets", "get", state.appset_rbac(appset))
        )

    with state.lock:
        seq = state.journal.seq
        initial = [s for _, s in sorted(state.applicationsets.items()) if match(s)] if name else []
    return streams.respond(state.journal, state.stopping, req, "appset", "applicationSet", seq, initial, match)


HANDLERS = {
    "ApplicationSetService_List": list_sets,
    "ApplicationSetService_Get": get,
    "ApplicationSetService_Create": create,
    "ApplicationSetService_Delete": delete,
    "ApplicationSetService_Generate": generate,
    "ApplicationSetService_Watch": watch,
}
