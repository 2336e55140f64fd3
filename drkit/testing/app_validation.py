"""Argo CD's checks on an Application create or update, in the API server's order, for the simulator."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from drkit.testing.permissions import destination_permitted, namespace_permitted, source_permitted
from drkit.testing.rpc import INVALID_ARGUMENT, UNKNOWN, GrpcError
from drkit.testing.specs import destination_of, resolve_destination, sources_of
from drkit.testing.state import State

MANAGED_BY_URL = "argocd.argoproj.io/managed-by-url"
ZERO_NILLED = ("helm", "kustomize", "directory")  # source blocks nil'd when zero (NormalizeSource)


def _hydrator_conditions(pname: str, project: dict[str, Any], hydrator: dict[str, Any]) -> tuple[list[str], bool]:
    """validateSourceHydrator, then the dry and sync sources' permissions (master `util/argo/argo.go`).

    The bool says the spec itself is invalid, in which case ValidatePermissions returns at once.
    """
    dry, sync = hydrator.get("drySource") or {}, hydrator.get("syncSource") or {}
    invalid = []
    if not dry.get("repoURL"):
        invalid.append("spec.sourceHydrator.drySource.repoURL is required")
    if not sync.get("targetBranch"):
        invalid.append("spec.sourceHydrator.syncSource.targetBranch is required")
    if "hydrateTo" in hydrator and not (hydrator["hydrateTo"] or {}).get("targetBranch"):
        invalid.append(
            "when spec.sourceHydrator.hydrateTo is set, spec.sourceHydrator.hydrateTo.targetBranch is required"
        )
    if invalid:
        return invalid, True
    conditions = []
    if not source_permitted(project["spec"], dry["repoURL"]):
        conditions.append(f"application repo {dry['repoURL']} is not permitted in project '{pname}'")
    sync_repo = sync.get("repoURL") or dry["repoURL"]
    if sync_repo != dry["repoURL"] and not source_permitted(project["spec"], sync_repo):
        conditions.append(f"sync source repo {sync_repo} is not permitted in project '{pname}'")
    return conditions, False


def _permission_conditions(state: State, pname: str, project: dict[str, Any], spec: dict[str, Any]) -> list[str]:
    if spec.get("sourceHydrator"):
        conditions, invalid = _hydrator_conditions(pname, project, spec["sourceHydrator"])
        return conditions if invalid else conditions + _destination_conditions(state, pname, project, spec)
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
    return conditions + _destination_conditions(state, pname, project, spec)


def _destination_conditions(state: State, pname: str, project: dict[str, Any], spec: dict[str, Any]) -> list[str]:
    server, cname, namespace = destination_of(state.clusters, spec)
    scoped = state.clusters.get(server, {}).get("project") == pname
    if scoped or destination_permitted(project["spec"], server, cname, namespace):
        return []
    return [
        f"application destination server '{server}' and namespace '{namespace}' do not match any of the "
        f"allowed destinations in project '{pname}'"
    ]


def check_app(
    state: State,
    name: str,
    namespace: str,
    spec: dict[str, Any],
    validate: bool,
    annotations: dict[str, str] | None = None,
) -> dict[str, Any]:
    """Argo CD's create/update validation in its order (§2.1, §6 items 12-16, 52); returns the normalised spec."""
    pname = spec.get("project") or "default"
    with state.lock:
        project = state.projects.get(pname)
    if project is None or not namespace_permitted(project.get("spec", {}), namespace, state.namespace):
        raise GrpcError(INVALID_ARGUMENT, f'app is not allowed in project "{pname}", or the project does not exist')
    if not name:
        raise GrpcError(UNKNOWN, "resource name may not be empty")
    names = [s["name"] for s in sources_of(spec) if s.get("name")]
    if len(names) != len(set(names)):
        raise GrpcError(UNKNOWN, f"application {name} has duplicate source names")
    try:
        server, _, _ = resolve_destination(state.clusters, spec)
    except ValueError as err:
        raise GrpcError(INVALID_ARGUMENT, f"application destination spec for {name} is invalid: {err}") from None
    if validate:
        _check_reachable(state, name, spec, server)
    conditions = _permission_conditions(state, pname, project, spec)
    managed_by = (annotations or {}).get(MANAGED_BY_URL, "")
    if managed_by and urlsplit(managed_by).scheme not in ("http", "https"):  # util/argo ValidateManagedByURL (§2.1.8)
        conditions.append("invalid managed-by URL: URL must include http or https protocol")
    if conditions:
        text = ";".join(f"InvalidSpecError: {c}" for c in conditions)
        raise GrpcError(INVALID_ARGUMENT, f"application spec for {name} is invalid: {text}")
    spec = normalize(dict(spec, project=pname))
    if not state.app_enabled(namespace):
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


def _check_reachable(state: State, name: str, spec: dict[str, Any], server: str) -> None:
    """validate=true: repo-server and cluster must answer; a repo in state.unreachable is 'not accessible' (§6.15)."""
    if "repo-server" in state.unreachable:
        raise GrpcError(UNKNOWN, "rpc error: code = Unavailable desc = connection error: argocd-repo-server")
    if server in state.unreachable:
        raise GrpcError(UNKNOWN, f'error getting server version: Get "{server}/version": connection refused')
    for src in sources_of(spec):
        if src.get("repoURL") in state.unreachable:
            raise GrpcError(
                INVALID_ARGUMENT,
                f"application spec for {name} is invalid: InvalidSpecError: repository not accessible: "
                f"{src['repoURL']}: authentication required",
            )
