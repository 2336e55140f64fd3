"""Argo CD's checks on an Application create or update, in the API server's order, for the simulator.

Also the spec readings those checks share with the handlers and the controller: an app's sources, its resolved
destination, and whether its namespace may hold applications.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from drkit.testing.gateway import INVALID_ARGUMENT, UNKNOWN, GrpcError
from drkit.testing.projects import destination_permitted, namespace_permitted, source_permitted

IN_CLUSTER = "https://kubernetes.default.svc"
MANAGED_BY_URL = "argocd.argoproj.io/managed-by-url"
ZERO_NILLED = ("helm", "kustomize", "directory")  # source blocks nil'd when zero (NormalizeSource)


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
