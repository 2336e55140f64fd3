"""Readings of Argo CD objects the handlers and the controller share: sources, destinations, auto-sync, ownership.

Plain functions over the stored dicts (no simulator state), each after the Argo CD function it names.
"""

from __future__ import annotations

import copy
import pickle
from typing import Any

IN_CLUSTER = "https://kubernetes.default.svc"
IN_CLUSTER_NAME = "in-cluster"
REFRESH = "argocd.argoproj.io/refresh"
RESOURCES_FINALIZER = "resources-finalizer.argocd.argoproj.io"
POLICY_FINALIZERS = {
    "": RESOURCES_FINALIZER,
    "foreground": RESOURCES_FINALIZER + "/foreground",
    "background": RESOURCES_FINALIZER + "/background",
}
CONTROLLER_FINALIZERS = (RESOURCES_FINALIZER, "post-delete-finalizer.argocd.argoproj.io")
USER_META = ("name", "namespace", "labels", "annotations", "finalizers", "ownerReferences")
COMPARED_META = ("labels", "annotations", "finalizers")


def clone(obj: Any) -> Any:
    """A deep copy of a stored object (JSON-like data), made to be changed into its next version: a pickle round
    trip, several times cheaper than copy.deepcopy, which the controller would otherwise spend most of its time in."""
    return pickle.loads(pickle.dumps(obj, pickle.HIGHEST_PROTOCOL))


def next_status(app: dict[str, Any]) -> dict[str, Any]:
    """A copy of a stored app for the controller to change into its next version: the controller changes its
    metadata, operation and status, never its spec, which the copy shares (an app's spec is its largest part
    written by users; stored objects are replaced, never changed in place)."""
    return {**clone({k: v for k, v in app.items() if k != "spec"}), **({"spec": app["spec"]} if "spec" in app else {})}


def sources_of(spec: dict[str, Any]) -> list[dict[str, Any]]:
    """The app's sources (`GetSources`): a hydrator's sync source, else a non-empty `sources`, else `source`."""
    if spec.get("sourceHydrator"):
        return [sync_source(spec["sourceHydrator"])]
    if spec.get("sources"):
        return spec["sources"]
    return [spec["source"]] if spec.get("source") else []


def sync_source(hydrator: dict[str, Any]) -> dict[str, Any]:
    """`SourceHydrator.GetSyncSource`: the dry repo (unless the sync source names one), sync path and branch."""
    dry, sync = hydrator.get("drySource") or {}, hydrator.get("syncSource") or {}
    source = {
        "repoURL": sync.get("repoURL") or dry.get("repoURL", ""),
        "path": sync.get("path", ""),
        "targetRevision": sync.get("targetBranch", ""),
    }
    return {k: v for k, v in source.items() if v}


def targets(spec: dict[str, Any]) -> list[str]:
    """Each source's target revision, `HEAD` when unset."""
    return [s.get("targetRevision") or "HEAD" for s in sources_of(spec)]


def compared_to(spec: dict[str, Any]) -> dict[str, Any]:
    """What `status.sync.comparedTo` records of a spec: destination and source(s)."""
    out = {"destination": spec.get("destination", {})}
    if spec.get("sources"):
        out["sources"] = spec["sources"]
    else:
        out["source"] = spec.get("source", {})
    return out


def automated(spec: dict[str, Any], honours_enabled: bool = True) -> bool:
    """Auto-sync is armed: `syncPolicy.automated` is present and, where the version reads it, not `enabled: false`.

    Before v3.1.0 there is no `enabled` field: the controller arms any non-nil `automated` (v3.0.0
    `controller/appcontroller.go` `autoSync` checks only `app.Spec.SyncPolicy.Automated == nil`; v3.1.0 calls
    `IsAutomatedSyncEnabled`).
    """
    auto = (spec.get("syncPolicy") or {}).get("automated")
    if auto is None:
        return False
    return not honours_enabled or auto.get("enabled", True) is not False


def project_of(app: dict[str, Any]) -> str:
    return app.get("spec", {}).get("project") or "default"


def appset_project(appset: dict[str, Any]) -> str:
    """The project of a set's template (what RBAC checks a set against)."""
    return appset.get("spec", {}).get("template", {}).get("spec", {}).get("project") or "default"


def owned(app: dict[str, Any], uid: str) -> bool:
    """Does the object with this uid own the app (an ApplicationSet's ownerReference)?"""
    return any(o.get("uid") == uid for o in app["metadata"].get("ownerReferences", []))


def same_meta(old: dict[str, Any], new: dict[str, Any]) -> bool:
    """Labels, annotations and finalizers are equal, empty and missing alike."""
    return all((old.get(k) or None) == (new.get(k) or None) for k in COMPARED_META)


def set_or_drop(meta: dict[str, Any], field: str, value: Any) -> None:
    """Set a metadata field to a copy of value, or remove it when value is empty."""
    if value:
        meta[field] = copy.deepcopy(value)
    else:
        meta.pop(field, None)


def upserted(existing: dict[str, Any], spec: dict[str, Any], meta: dict[str, Any]) -> dict[str, Any]:
    """An upsert's result: the new spec, labels and annotations merged over the old, finalizers replaced."""
    new = copy.deepcopy(existing)
    new["spec"] = spec
    for field in ("labels", "annotations"):
        merged = {**(existing["metadata"].get(field) or {}), **(meta.get(field) or {})}
        if merged:
            new["metadata"][field] = merged
    set_or_drop(new["metadata"], "finalizers", meta.get("finalizers"))
    return new


def registry(clusters: dict[str, dict[str, Any]]) -> dict[str, str]:
    """Registered cluster server -> name, with the always-present in-cluster entry (§2.7, §6.46)."""
    reg = {IN_CLUSTER: IN_CLUSTER_NAME}
    for server, cluster in list(clusters.items()):
        reg[server.rstrip("/")] = cluster.get("name") or server
    return reg


def resolve_destination(clusters: dict[str, dict[str, Any]], spec: dict[str, Any]) -> tuple[str, str, str]:
    """(server, name, namespace) of the registered cluster the destination names, else ValueError.

    After `util/argo` `GetDestinationCluster`.
    """
    dest = spec.get("destination", {})
    server, name = dest.get("server", "").rstrip("/"), dest.get("name", "")
    reg = registry(clusters)
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


def destination_of(clusters: dict[str, dict[str, Any]], spec: dict[str, Any]) -> tuple[str, str, str]:
    """Best-effort (server, name, namespace) of an app's destination, for project checks."""
    try:
        return resolve_destination(clusters, spec)
    except ValueError:
        dest = spec.get("destination", {})
        return dest.get("server", ""), dest.get("name", ""), dest.get("namespace", "")
