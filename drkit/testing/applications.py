"""Simulated Argo CD endpoints: Applications (list, get/refresh, create, update, delete, sync, terminate, watch).

Stored applications are never mutated in place: every write builds a new dict, stamps it and replaces the
old one, so watch-journal entries and responses already handed out stay consistent snapshots.
"""

from __future__ import annotations

import copy
from typing import Any
from urllib.parse import urlsplit

from drkit.testing import applicationsets as sets
from drkit.testing.gateway import (
    DEADLINE_EXCEEDED,
    INTERNAL,
    INVALID_ARGUMENT,
    NOT_FOUND,
    PERMISSION_DENIED,
    UNKNOWN,
    GrpcError,
    Request,
    Response,
)
from drkit.testing.projects import destination_permitted, namespace_permitted, source_permitted
from drkit.testing.sim import now

IN_CLUSTER = "https://kubernetes.default.svc"
REFRESH = "argocd.argoproj.io/refresh"
MANAGED_BY_URL = "argocd.argoproj.io/managed-by-url"
RESOURCES_FINALIZER = "resources-finalizer.argocd.argoproj.io"
POLICY_FINALIZERS = {"": RESOURCES_FINALIZER, "foreground": RESOURCES_FINALIZER + "/foreground"}
POLICY_FINALIZERS["background"] = RESOURCES_FINALIZER + "/background"
ZERO_NILLED = ("helm", "kustomize", "directory")  # source blocks nil'd when zero (NormalizeSource)
USER_META = ("name", "namespace", "labels", "annotations", "finalizers", "ownerReferences")


# spec helpers ------------------------------------------------------------------------------------------


def sources_of(spec: dict[str, Any]) -> list[dict[str, Any]]:
    """The app's sources: a non-empty `sources` wins over `source` (HasMultipleSources)."""
    if spec.get("sources"):
        return spec["sources"]
    return [spec["source"]] if spec.get("source") else []


def registry(sim: Any) -> dict[str, str]:
    """Registered cluster server -> name, with the always-present in-cluster entry (§2.7, §6.46)."""
    reg = {IN_CLUSTER: "in-cluster"}
    for server, cluster in list(sim.clusters.items()):
        reg[server.rstrip("/")] = cluster.get("name") or server
    return reg


def resolve_destination(sim: Any, spec: dict[str, Any]) -> tuple[str, str, str]:
    """(server, name) of the registered cluster the destination names, else a ValueError (GetDestinationCluster)."""
    dest = spec.get("destination", {})
    server, name = dest.get("server", "").rstrip("/"), dest.get("name", "")
    reg = registry(sim)
    if server and name:
        raise ValueError(f"application destination can't have both name and server defined: {name} {server}")
    if name:
        servers = [s for s, n in reg.items() if n == name]
        if not servers:
            raise ValueError(f"unable to find destination server: there are no clusters with this name: {name}")
        if len(servers) > 1:
            raise ValueError(f"there are {len(servers)} clusters with the same name: [{' '.join(servers)}]")
        return servers[0], name, dest.get("namespace", "")
    if not server:
        raise ValueError("destination server or name is required")
    if server not in reg:
        raise ValueError(f"unable to find destination server: there are no clusters with this URL: {server}")
    return server, reg[server], dest.get("namespace", "")


def destination_of(sim: Any, spec: dict[str, Any]) -> tuple[str, str, str]:
    """Best-effort (server, name, namespace) of an app's destination, for project checks."""
    try:
        return resolve_destination(sim, spec)
    except ValueError:
        dest = spec.get("destination", {})
        return dest.get("server", ""), dest.get("name", ""), dest.get("namespace", "")


def rbac_name(sim: Any, project: str, namespace: str, name: str) -> str:
    """`<proj>/<name>`, or `<proj>/<ns>/<name>` outside the control-plane namespace (RBACName)."""
    return f"{project}/{name}" if namespace == sim.namespace else f"{project}/{namespace}/{name}"


def app_rbac(sim: Any, app: dict[str, Any]) -> str:
    meta = app["metadata"]
    return rbac_name(sim, app.get("spec", {}).get("project", "default"), meta["namespace"], meta["name"])


def enabled(sim: Any, namespace: str) -> bool:
    return namespace == sim.namespace or namespace in sim.app_namespaces


def _permission_conditions(sim: Any, pname: str, project: dict[str, Any], spec: dict[str, Any]) -> list[str]:
    multi = bool(spec.get("sources"))
    conditions = []
    for src in sources_of(spec):
        if not src.get("repoURL") or not (src.get("path") or src.get("chart") or (multi and src.get("ref"))):
            conditions.append(
                "spec.source.repoURL and either spec.source.path, spec.source.chart, or spec.source.ref are required"
            )
            continue
        if src.get("chart") and not src.get("targetRevision"):
            conditions.append("spec.source.targetRevision is required if the manifest source is a helm chart")
        if not source_permitted(project["spec"], src["repoURL"]):
            conditions.append(f"application repo {src['repoURL']} is not permitted in project '{pname}'")
    if not sources_of(spec):
        conditions.append(
            "spec.source.repoURL and either spec.source.path, spec.source.chart, or spec.source.ref are required"
        )
    server, cname, namespace = destination_of(sim, spec)
    scoped = sim.clusters.get(server, {}).get("project") == pname
    if not scoped and not destination_permitted(project["spec"], server, cname, namespace):
        conditions.append(
            f"application destination server '{server}' and namespace '{namespace}' do not match any of the "
            f"allowed destinations in project '{pname}'"
        )
    return conditions


def check_app(
    sim: Any, name: str, namespace: str, spec: dict[str, Any], validate: bool, annotations: dict[str, str] | None = None
) -> dict[str, Any]:
    """Argo CD's create/update validation in its order (§2.1, §6 items 12-16, 52); returns the normalised spec."""
    pname = spec.get("project") or "default"
    with sim.lock:
        project = sim.projects.get(pname)
    if project is None or not namespace_permitted(project.get("spec", {}), namespace, sim.namespace):
        raise GrpcError(INVALID_ARGUMENT, f'app is not allowed in project "{pname}", or the project does not exist')
    if not name:
        raise GrpcError(UNKNOWN, "resource name may not be empty")
    names = [s["name"] for s in sources_of(spec) if s.get("name")]
    if len(names) != len(set(names)):
        raise GrpcError(UNKNOWN, f"application {name} has duplicate source names")
    try:
        server, _, _ = resolve_destination(sim, spec)
    except ValueError as err:
        raise GrpcError(INVALID_ARGUMENT, f"application destination spec for {name} is invalid: {err}") from None
    if validate:
        _check_reachable(sim, name, spec, server)
    conditions = _permission_conditions(sim, pname, project, spec)
    managed_by = (annotations or {}).get(MANAGED_BY_URL, "")
    if managed_by and urlsplit(managed_by).scheme not in ("http", "https"):  # util/argo ValidateManagedByURL (§2.1.8)
        conditions.append("invalid managed-by URL: URL must include http or https protocol")
    if conditions:
        text = ";".join(f"InvalidSpecError: {c}" for c in conditions)
        raise GrpcError(INVALID_ARGUMENT, f"application spec for {name} is invalid: {text}")
    spec = normalize(dict(spec, project=pname))
    if not enabled(sim, namespace):
        raise GrpcError(UNKNOWN, f"namespace '{namespace}' is not permitted")
    return spec


def normalize(spec: dict[str, Any]) -> dict[str, Any]:
    """NormalizeApplicationSpec: drop a zero syncPolicy and, for a single `source`, zero helm/kustomize/directory.

    Multi-source specs keep theirs: Argo CD normalises a loop copy of each source (`for _, source := range`).
    """
    if not spec.get("syncPolicy"):
        spec.pop("syncPolicy", None)
    source = spec.get("source")
    if not spec.get("sources") and isinstance(source, dict):
        spec["source"] = {k: v for k, v in source.items() if not (k in ZERO_NILLED and v == {})}
    return spec


def _check_reachable(sim: Any, name: str, spec: dict[str, Any], server: str) -> None:
    """validate=true: repo-server and cluster must answer; a repo in sim.unreachable is 'not accessible' (§6.15)."""
    if "repo-server" in sim.unreachable:
        raise GrpcError(UNKNOWN, "rpc error: code = Unavailable desc = connection error: argocd-repo-server")
    if server in sim.unreachable:
        raise GrpcError(UNKNOWN, f'error getting server version: Get "{server}/version": connection refused')
    for src in sources_of(spec):
        if src.get("repoURL") in sim.unreachable:
            raise GrpcError(
                INVALID_ARGUMENT,
                f"application spec for {name} is invalid: InvalidSpecError: repository not accessible: "
                f"{src['repoURL']}: authentication required",
            )


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
