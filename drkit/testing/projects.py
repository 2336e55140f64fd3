"""Simulated Argo CD endpoints: AppProjects and role tokens, with Argo CD's project validation (API-NOTES §2.4)."""

from __future__ import annotations

import base64
import json
import re
import uuid
from typing import Any

from drkit.testing.auth import mint_token
from drkit.testing.permissions import destination_permitted, source_permitted
from drkit.testing.rpc import (
    ABORTED,
    ALREADY_EXISTS,
    FAILED_PRECONDITION,
    INTERNAL,
    INVALID_ARGUMENT,
    NOT_FOUND,
    OUT_OF_RANGE,
    GrpcError,
    Request,
)
from drkit.testing.specs import clone, destination_of, sources_of
from drkit.testing.state import State

ROLE_NAME = re.compile(r"^[a-zA-Z0-9]([-_a-zA-Z0-9]*[a-zA-Z0-9])?$")
POLICY_RESOURCES = ("applications", "applicationsets", "repositories", "clusters", "logs", "exec")


def not_found(name: str) -> GrpcError:
    return GrpcError(NOT_FOUND, f'appprojects.argoproj.io "{name}" not found')


# validation (ValidateProject, validatePolicy) ----------------------------------------------------------


def validate(project: dict[str, Any]) -> None:
    """Raise Argo CD's error for an invalid AppProject (API-NOTES §2.4)."""
    name = project.get("metadata", {}).get("name", "")
    spec = project.get("spec", {})
    _unique([d.get("server", "") + "/" + d.get("namespace", "") for d in spec.get("destinations", [])], "destination")
    _unique(spec.get("sourceRepos", []), "source repository")
    _unique(spec.get("sourceNamespaces", []), "source namespace")
    if "!*" in spec.get("sourceRepos", []):
        raise GrpcError(INVALID_ARGUMENT, "source repository has an invalid format, '!*'")
    for dest in spec.get("destinations", []):
        for field in ("server", "namespace", "name"):
            if dest.get(field) == "!*":
                raise GrpcError(INVALID_ARGUMENT, f"{field} has an invalid format, '!*'")
    roles: set[str] = set()
    for role in spec.get("roles", []):
        _validate_role(name, role, roles)
    windows: set[tuple[str, str, str]] = set()
    for window in spec.get("syncWindows", []):
        key = (window.get("kind", ""), window.get("schedule", ""), window.get("duration", ""))
        if key in windows:
            raise GrpcError(ALREADY_EXISTS, "window '{}':'{}':'{}' already exists, update or edit".format(*key))
        windows.add(key)
        if not any(window.get(t) for t in ("applications", "clusters", "namespaces")):
            raise GrpcError(
                OUT_OF_RANGE, "window '{}':'{}':'{}' requires one of application, cluster or namespace".format(*key)
            )


def _unique(values: list[str], what: str) -> None:
    seen: set[str] = set()
    for value in values:
        if value in seen:
            raise GrpcError(INVALID_ARGUMENT, f"{what} '{value}' already added")
        seen.add(value)


def _validate_role(project: str, role: dict[str, Any], seen: set[str]) -> None:
    rname = role.get("name", "")
    if not ROLE_NAME.match(rname):
        raise GrpcError(INVALID_ARGUMENT, f"invalid role name '{rname}'")
    if rname in seen:
        raise GrpcError(ALREADY_EXISTS, f"role '{rname}' already exists")
    seen.add(rname)
    policies: set[str] = set()
    for policy in role.get("policies", []):
        if policy in policies:
            raise GrpcError(ALREADY_EXISTS, f"policy '{policy}' already exists for role '{rname}'")
        policies.add(policy)
        _validate_policy(project, rname, policy)
    groups: set[str] = set()
    for group in role.get("groups", []):
        if group in groups:
            raise GrpcError(ALREADY_EXISTS, f"group '{group}' already exists for role '{rname}'")
        groups.add(group)


def _validate_policy(project: str, role: str, policy: str) -> None:
    parts = [p.strip() for p in policy.split(",")]
    bad = f"invalid policy rule '{policy}': "
    if len(parts) != 6 or parts[0] != "p":
        raise GrpcError(INVALID_ARGUMENT, bad + "must be of the form: 'p, sub, res, act, obj, eft'")
    subject = f"proj:{project}:{role}"
    if parts[1] != subject:
        raise GrpcError(INVALID_ARGUMENT, bad + f"policy subject must be: '{subject}', not '{parts[1]}'")
    if parts[2] not in POLICY_RESOURCES:
        raise GrpcError(
            INVALID_ARGUMENT,
            bad + "project resource must be: 'applications', 'applicationsets', 'repositories', 'clusters', "
            f"'logs' or 'exec', not '{parts[2]}'",
        )
    if not parts[4].startswith(project + "/"):
        raise GrpcError(
            INVALID_ARGUMENT,
            bad + f"object must be of form '{project}/*', '{project}[/<NAMESPACE>]/<APPNAME>' "
            f"or '{project}/<APPNAME>', not '{parts[4]}'",
        )
    if parts[5] not in ("allow", "deny"):
        raise GrpcError(INVALID_ARGUMENT, bad + "effect must be: 'allow' or 'deny'")


def normalize_tokens(project: dict[str, Any]) -> dict[str, Any]:
    """A copy with spec.roles[].jwtTokens and status.jwtTokensByRole merged by id (id defaults to iat)."""
    project = clone(project)
    by_role = project.get("status", {}).get("jwtTokensByRole", {})
    for role in project.get("spec", {}).get("roles", []):
        merged: dict[str, dict[str, Any]] = {}
        for token in role.get("jwtTokens", []) + by_role.get(role["name"], {}).get("items", []):
            token = dict(token)
            token["id"] = token.get("id") or str(token.get("iat", 0))
            merged.setdefault(token["id"], token)
        if merged:
            items = list(merged.values())
            role["jwtTokens"] = items
            project.setdefault("status", {}).setdefault("jwtTokensByRole", {})[role["name"]] = {"items": list(items)}
    return project


def _clean(project: dict[str, Any]) -> dict[str, Any]:
    """What is stored from a request body: the AppProject with its metadata trimmed to what users set."""
    meta = project.get("metadata", {})
    keep = {k: meta[k] for k in ("name", "labels", "annotations", "finalizers") if k in meta}
    out = {"metadata": keep, "spec": project.get("spec", {})}
    if project.get("status"):
        out["status"] = project["status"]
    return out


def _app_counts(state: State, name: str, old: dict[str, Any], new: dict[str, Any]) -> tuple[int, int]:
    """Apps in the control-plane namespace whose source / destination the new spec makes invalid."""
    bad_src = bad_dst = 0
    for (ns, _), app in state.applications.items():
        if ns != state.namespace or app.get("spec", {}).get("project", "default") != name:
            continue
        urls = [s.get("repoURL", "") for s in sources_of(app["spec"])]
        if all(source_permitted(old, u) for u in urls) and not all(source_permitted(new, u) for u in urls):
            bad_src += 1
        server, cname, namespace = destination_of(state.clusters, app["spec"])
        if destination_permitted(old, server, cname, namespace) and not destination_permitted(
            new, server, cname, namespace
        ):
            bad_dst += 1
    return bad_src, bad_dst


def _get_project(state: State, name: str) -> dict[str, Any]:
    project = state.projects.get(name)
    if project is None:
        raise not_found(name)
    return project


def list_projects(state: State, req: Request) -> Any:
    with state.lock:
        items = [normalize_tokens(p) for n, p in sorted(state.projects.items())]
        rv = str(state.rv)
    items = [p for p in items if state.allowed(req.subject, "projects", "get", p["metadata"]["name"])]
    return {"metadata": {"resourceVersion": rv}, "items": items}


def get(state: State, req: Request) -> Any:
    name = req.params["name"]
    state.enforce(req, "projects", "get", name)
    with state.lock:
        return normalize_tokens(_get_project(state, name))


def create(state: State, req: Request) -> Any:
    body = req.body or {}
    project = body.get("project") or {}
    name = project.get("metadata", {}).get("name", "")
    state.enforce(req, "projects", "create", name)
    if not name:
        raise GrpcError(INVALID_ARGUMENT, "project name is required")
    if project.get("metadata", {}).get("resourceVersion"):
        raise GrpcError(INTERNAL, "resourceVersion should not be set on objects to be created")
    validate(project)
    with state.lock:
        existing = state.projects.get(name)
        if existing is None:
            stored = state.stamp(_clean(project))
            state.projects[name] = stored
            return normalize_tokens(stored)
        if existing.get("spec", {}) == project.get("spec", {}):
            return normalize_tokens(existing)
        if not body.get("upsert"):
            old, new = existing.get("spec", {}), project.get("spec", {})
            keys = ",".join(sorted(k for k in set(old) | set(new) if old.get(k) != new.get(k)))
            raise GrpcError(
                INVALID_ARGUMENT,
                f'existing project spec is different; use upsert flag to force update; difference in keys "{keys}"',
            )
        state.enforce(req, "projects", "update", name)
        updated = clone(existing)
        updated["spec"] = project.get("spec", {})
        state.projects[name] = state.stamp(updated, existing)
        return normalize_tokens(state.projects[name])


def update(state: State, req: Request) -> Any:
    project = (req.body or {}).get("project") or {}
    name = req.params["project.metadata.name"]
    project.setdefault("metadata", {})["name"] = name
    state.enforce(req, "projects", "update", name)
    validate(project)
    with state.lock:
        existing = _get_project(state, name)
        rv = project["metadata"].get("resourceVersion", "")
        if not rv:
            raise GrpcError(
                INVALID_ARGUMENT,
                f'appprojects.argoproj.io "{name}" is invalid: metadata.resourceVersion: Invalid value: 0x0: '
                "must be specified for an update",
            )
        if rv != existing["metadata"]["resourceVersion"]:
            raise GrpcError(
                ABORTED,
                f'Operation cannot be fulfilled on appprojects.argoproj.io "{name}": the object has been '
                "modified; please apply your changes to the latest version and try again",
            )
        bad_src, bad_dst = _app_counts(state, name, existing.get("spec", {}), project.get("spec", {}))
        if bad_src or bad_dst:
            raise GrpcError(
                FAILED_PRECONDITION,
                f"as a result of project update {bad_src} applications source became invalid and {bad_dst} "
                "applications destination became invalid",
            )
        stored = normalize_tokens(_clean(project))
        state.projects[name] = state.stamp(stored, existing)
        return stored


def delete(state: State, req: Request) -> Any:
    name = req.params["name"]
    state.enforce(req, "projects", "delete", name)
    if name == "default":
        raise GrpcError(INVALID_ARGUMENT, "name 'default' is reserved and cannot be deleted")
    with state.lock:
        _get_project(state, name)
        used = sum(
            1
            for (ns, _), app in state.applications.items()
            if ns == state.namespace and app.get("spec", {}).get("project", "default") == name
        )
        if used:
            raise GrpcError(FAILED_PRECONDITION, f"project is referenced by {used} applications")
        del state.projects[name]
        state.notify()
    return {}


def _find_role(project: dict[str, Any], pname: str, rname: str) -> dict[str, Any]:
    """The project's role, or Argo CD's 404 (`createToken`)."""
    role = next((r for r in project["spec"].get("roles", []) if r.get("name") == rname), None)
    if role is None:
        raise GrpcError(NOT_FOUND, f"project '{pname}' does not have role '{rname}'")
    return role


def create_token(state: State, req: Request) -> Any:
    pname, rname = req.params["project"], req.params["role"]
    body = req.body or {}
    state.enforce(req, "projects", "update", pname)
    with state.lock:
        project = normalize_tokens(_get_project(state, pname))
        role = _find_role(project, pname, rname)
        token_id = body.get("id") or str(uuid.uuid4())
        if any(t.get("id") == token_id for t in role.get("jwtTokens", [])):
            raise GrpcError(INVALID_ARGUMENT, f"Token id '{token_id}' has been used.")
        token = mint_token(state, f"proj:{pname}:{rname}", expires_in=body.get("expiresIn") or None, jti=token_id)
        claims = json.loads(base64.urlsafe_b64decode(token.split(".")[1] + "=="))
        record = {"iat": claims["iat"], "id": token_id}
        if "exp" in claims:
            record["exp"] = claims["exp"]
        role.setdefault("jwtTokens", []).append(record)
        stored = normalize_tokens(project)
        state.projects[pname] = state.stamp(stored, state.projects[pname])
    return {"token": token}


def delete_token(state: State, req: Request) -> Any:
    pname, rname, iat = req.params["project"], req.params["role"], req.params["iat"]
    token_id = req.arg("id")
    state.enforce(req, "projects", "update", pname)
    with state.lock:
        project = normalize_tokens(_get_project(state, pname))
        role = _find_role(project, pname, rname)

        def keep(t: dict[str, Any]) -> bool:
            return t.get("id") != token_id if token_id else str(t.get("iat")) != iat

        role["jwtTokens"] = [t for t in role.get("jwtTokens", []) if keep(t)]
        by_role = project.get("status", {}).get("jwtTokensByRole", {})
        if rname in by_role:
            by_role[rname]["items"] = [t for t in by_role[rname].get("items", []) if keep(t)]
        state.projects[pname] = state.stamp(project, state.projects[pname])
    return {}


HANDLERS = {
    "ProjectService_List": list_projects,
    "ProjectService_Get": get,
    "ProjectService_Create": create,
    "ProjectService_Update": update,
    "ProjectService_Delete": delete,
    "ProjectService_CreateToken": create_token,
    "ProjectService_DeleteToken": delete_token,
}
