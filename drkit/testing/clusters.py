"""Simulated Argo CD cluster endpoints (API-NOTES §2.7, §6 items 43-46).

Clusters are labelled Secrets in Argo CD's namespace (secret_db.py), credentials in their `config` JSON, seen as
`state.clusters[server]` (server without trailing `/`). Every response is sanitised as `Cluster.Sanitized`
does and gains `info`. The in-cluster entry is listed (and readable) without being stored, as on a fresh
install. As db.CreateCluster does, a create writes a Secret named URIToSecretName("cluster", server as sent)
and meets an existing cluster only when a Secret of that name exists: a cluster Secret written under another
name for the same server makes the create a second cluster Secret, as in Argo CD (both are listed).
"""

from __future__ import annotations

from collections import Counter
from typing import Any
from urllib.parse import unquote

from drkit.testing import versions
from drkit.testing.clock import now
from drkit.testing.rpc import INTERNAL, INVALID_ARGUMENT, NOT_FOUND, PERMISSION_DENIED, UNKNOWN, GrpcError, Request
from drkit.testing.secret_codec import uri_to_secret_name
from drkit.testing.secret_db import normalize_server, secret_to_request
from drkit.testing.specs import IN_CLUSTER, IN_CLUSTER_NAME
from drkit.testing.state import State
from drkit.testing.versions import Release

SERVER_VERSION = "1.33"
LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"
# Cluster.Equals compares these (not project)
COMPARED = ("server", "name", "namespaces", "shard", "clusterResources", "labels", "annotations", "config")
UPDATABLE = ("name", "namespaces", "config", "shard", "clusterResources", "labels", "annotations", "project")


def synthetic_in_cluster() -> dict[str, Any]:
    """The in-cluster entry a fresh install lists without a Secret."""
    return {"server": IN_CLUSTER, "name": IN_CLUSTER_NAME, "config": {"tlsClientConfig": {"insecure": False}}}


def safe_config(config: dict[str, Any], release: Release) -> dict[str, Any]:
    """The config a response shows: `Cluster.Sanitized`, or before the 2025 fix only the secrets blanked.

    Pre-fix `toAPIResponse` (e.g. v3.1.1 `server/cluster/cluster.go`) clears password, bearerToken and keyData
    and empties execProviderConfig's env and args, so caData, certData and the exec command come back.
    """
    tls = config.get("tlsClientConfig") or {}
    if not versions.patched(release, versions.CLUSTER_LIST_FIX):
        shown = {k: v for k, v in config.items() if k not in ("password", "bearerToken")}
        shown["tlsClientConfig"] = {"insecure": False, **{k: v for k, v in tls.items() if k != "keyData"}}
        if "execProviderConfig" in config:
            shown["execProviderConfig"] = {
                k: v for k, v in config["execProviderConfig"].items() if k not in ("env", "args")
            }
        return shown
    safe: dict[str, Any] = {"tlsClientConfig": {"insecure": bool(tls.get("insecure"))}}
    if tls.get("serverName") and release >= versions.SANITIZED_SERVER_NAME:
        safe["tlsClientConfig"]["serverName"] = tls["serverName"]
    for key in ("awsAuthConfig", "proxyUrl", "disableCompression"):
        if config.get(key):
            safe[key] = config[key]
    return safe


def sanitized(cluster: dict[str, Any], release: Release, reachable: bool, attempted: str, apps: int) -> dict[str, Any]:
    """A cluster as responses show it: its config made safe (see safe_config), plus connection state and `info`."""
    out = {k: v for k, v in cluster.items() if k not in ("config", "info", "connectionState", "serverVersion")}
    out["config"] = safe_config(cluster.get("config") or {}, release)
    state = {
        "status": "Successful" if reachable else "Failed",
        "message": "" if reachable else f"Unable to connect to cluster: {unreachable_message(cluster['server'])}",
        "attemptedAt": attempted,
    }
    version = SERVER_VERSION if reachable else ""
    out["connectionState"] = state
    if version:
        out["serverVersion"] = version
    info: dict[str, Any] = {"connectionState": state, "cacheInfo": {}, "applicationsCount": apps}
    if version:
        info["serverVersion"] = version
    out["info"] = info
    return out


def unreachable_message(server: str) -> str:
    """What client-go says when a cluster's /version cannot be reached."""
    return f'Get "{server}/version?timeout=32s": dial tcp: lookup {server}: no such host'


def _app_counts(state: State) -> Counter[str]:
    counts: Counter[str] = Counter()
    for app in state.applications.values():
        dest = app.get("spec", {}).get("destination", {})
        counts[normalize_server(dest.get("server", "")) or "name:" + dest.get("name", "")] += 1
    return counts


def _respond(state: State, cluster: dict[str, Any], counts: Counter[str] | None = None) -> dict[str, Any]:
    if counts is None:
        counts = _app_counts(state)
    apps = counts[cluster["server"]] + counts["name:" + cluster.get("name", "")]
    return sanitized(cluster, state.release, cluster["server"] not in state.unreachable, now(), apps)


def _all_clusters(state: State) -> list[dict[str, Any]]:
    items = state.clusters.every()
    if IN_CLUSTER not in state.clusters:
        items.insert(0, synthetic_in_cluster())
    return items


def _rbac_object(cluster: dict[str, Any]) -> str:
    return f"{cluster['project']}/{cluster['server']}" if cluster.get("project") else cluster["server"]


def _lookup(state: State, req: Request, value: str) -> list[dict[str, Any]]:
    """Clusters named by a path id and `id.type` (server by default); call under state.lock."""
    kind = req.arg("id.type")
    if kind in ("name", "name_escaped"):
        name = unquote(value) if kind == "name_escaped" else value
        return [c for c in _all_clusters(state) if c.get("name", c["server"]) == name]
    server = normalize_server(value)
    if server in state.clusters:
        return [state.clusters[server]]
    return [synthetic_in_cluster()] if server == IN_CLUSTER else []


def _one(state: State, req: Request, action: str) -> dict[str, Any]:
    found = _lookup(state, req, req.params["id.value"])
    if not found:
        raise GrpcError(PERMISSION_DENIED, "permission denied")
    state.enforce(req, "clusters", action, _rbac_object(found[0]))
    return found[0]


def _connect(state: State, cluster: dict[str, Any]) -> None:
    if cluster["server"] in state.unreachable:
        raise GrpcError(UNKNOWN, unreachable_message(cluster["server"]))


def _decoded(req: Request) -> dict[str, Any]:
    cluster = {k: v for k, v in (req.body or {}).items() if k not in ("info", "connectionState", "serverVersion")}
    cluster.pop("refreshRequestedAt", None)
    if LAST_APPLIED in (cluster.get("annotations") or {}):
        raise GrpcError(INVALID_ARGUMENT, f"annotation {LAST_APPLIED} cannot be set on a cluster")
    return cluster


def list_clusters(state: State, req: Request) -> dict[str, Any]:
    server, name = normalize_server(req.arg("server")), req.arg("name")
    if req.arg("id.value"):
        if req.arg("id.type") in ("name", "name_escaped"):
            name = unquote(req.arg("id.value"))
        else:
            server = normalize_server(req.arg("id.value"))
    with state.lock:
        counts = _app_counts(state)
        items = [
            _respond(state, c, counts)
            for c in _all_clusters(state)
            if (not server or c["server"] == server)
            and (not name or c.get("name") == name)
            and state.allowed(req.subject, "clusters", "get", _rbac_object(c))
        ]
    return {"metadata": {}, "items": items}


def get(state: State, req: Request) -> dict[str, Any]:
    with state.lock:
        return _respond(state, _one(state, req, "get"))


def create(state: State, req: Request) -> dict[str, Any]:
    cluster = _decoded(req)
    if not cluster.get("server"):
        raise GrpcError(INVALID_ARGUMENT, "server is required")
    sent = cluster["server"]
    cluster["server"] = normalize_server(cluster["server"])
    cluster.setdefault("name", cluster["server"])
    state.enforce(req, "clusters", "create", _rbac_object(cluster))
    _connect(state, cluster)
    try:
        name = uri_to_secret_name("cluster", sent)
    except ValueError as err:
        raise GrpcError(UNKNOWN, f"error creating cluster: {err}") from None
    with state.lock:
        if state.kube.find("secrets", state.namespace, name) is None:
            state.clusters.create(cluster, name)
            return _respond(state, state.clusters[cluster["server"]])
        existing = state.clusters.get(cluster["server"])
        if existing is None:
            why = f'rpc error: code = NotFound desc = cluster "{cluster["server"]}" not found'
            raise GrpcError(INTERNAL, f"unable to check existing cluster details: {why}")
        normalized = secret_to_request(cluster)  # the request as a Go struct holds it, for Cluster.Equals
        if all(existing.get(k) == normalized.get(k) for k in COMPARED):
            return _respond(state, existing)
        if not req.flag("upsert"):
            raise GrpcError(INVALID_ARGUMENT, "existing cluster spec is different; use upsert flag to force update")
        state.enforce(req, "clusters", "update", _rbac_object(existing))
        state.clusters[cluster["server"]] = cluster
        out = _respond(state, state.clusters[cluster["server"]])
    state.notify()
    return out


def update(state: State, req: Request) -> dict[str, Any]:
    body = _decoded(req)
    fields = [f for value in req.args("updatedFields") for f in value.split(",") if f]
    with state.lock:
        existing = _one(state, req, "update")
        if fields:
            cluster = dict(existing)
            for field in fields:
                if field in UPDATABLE:
                    if field in body:
                        cluster[field] = body[field]
                    else:
                        cluster.pop(field, None)
        else:
            cluster = body
            cluster["server"] = normalize_server(body.get("server") or existing["server"])
            cluster.setdefault("name", cluster["server"])
        _connect(state, cluster)
        if existing["server"] != cluster["server"]:
            state.clusters.pop(existing["server"], None)
        state.clusters[cluster["server"]] = cluster
        out = _respond(state, state.clusters[cluster["server"]])
    state.notify()
    return out


def delete(state: State, req: Request) -> dict[str, Any]:
    with state.lock:
        found = _lookup(state, req, req.params["id.value"])
        if not found:
            raise GrpcError(PERMISSION_DENIED, "permission denied")
        for cluster in found:
            state.enforce(req, "clusters", "delete", _rbac_object(cluster))
        for cluster in found:
            if cluster["server"] not in state.clusters:
                raise GrpcError(NOT_FOUND, f'cluster "{cluster["server"]}" not found')
            del state.clusters[cluster["server"]]
    state.notify()
    return {}


def invalidate_cache(state: State, req: Request) -> dict[str, Any]:
    with state.lock:
        return _respond(state, _one(state, req, "update"))


def rotate_auth(state: State, req: Request) -> dict[str, Any]:
    with state.lock:
        _one(state, req, "update")
    return {}


HANDLERS = {
    "ClusterService_List": list_clusters,
    "ClusterService_Get": get,
    "ClusterService_Create": create,
    "ClusterService_Update": update,
    "ClusterService_Delete": delete,
    "ClusterService_InvalidateCache": invalidate_cache,
    "ClusterService_RotateAuth": rotate_auth,
}
