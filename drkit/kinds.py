"""The eight Argo CD kinds drkit backs up, as a data table in restore order, and `normalize()`.

A kind says where the API lists it, how an object is identified and named in the store, and which fields the
server owns. Restore order is Argo CD's own validation order (API-NOTES §5): certificates and GPG keys before
repositories (connection tests), repocreds before repositories (template credentials), clusters and repositories
before projects and applications.
"""

from __future__ import annotations

import copy
import hashlib
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

API_VERSION = "argoproj.io/v1alpha1"

# Annotations the server or kubectl writes, which change without anyone changing the object.
VOLATILE_ANNOTATIONS = frozenset(
    {
        "argocd.argoproj.io/refresh",
        "argocd.argoproj.io/refresh-timestamp",
        "argocd.argoproj.io/hydrate",
        "argocd.argoproj.io/hydrate-timestamp",
        "kubectl.kubernetes.io/last-applied-configuration",
    }
)
KEPT_METADATA = ("name", "namespace", "labels", "annotations", "finalizers")
IN_CLUSTER_SERVER = "https://kubernetes.default.svc"
_SSH_URL = re.compile(r"^(ssh://)?([^/:]*?)@[^@]+$")


@dataclass(frozen=True)
class Kind:
    """One Argo CD kind: its API path, identity, store naming and what normalisation strips."""

    name: str  # CONTRACT.md's name, also the store folder
    api_kind: str  # Kubernetes kind, or the API type for non-CRD kinds
    list_path: str
    identity: Callable[[dict[str, Any]], str]  # a human-readable unique id, e.g. "argocd/guestbook" or a URL
    namespaced: bool = False

    @property
    def order(self) -> int:
        return RESTORE_ORDER.index(self.name)

    def key(self, obj: dict[str, Any]) -> str:
        """The object's store key under a backup, `<kind>/<file>.yaml`."""
        ident = self.identity(obj)
        if self.namespaced:
            namespace, name = ident.split("/", 1)
            return f"{self.name}/{namespace}/{name}.yaml"
        if self.name == "projects":
            return f"{self.name}/{ident}.yaml"
        return f"{self.name}/{slug(ident)}.yaml"


def slug(identity: str) -> str:
    """A safe, readable file name for an identity such as a URL, unique by a short hash."""
    text = re.sub(r"[^a-z0-9.]+", "-", identity.lower()).strip("-.")[:80]
    return f"{text}-{hashlib.sha256(identity.encode()).hexdigest()[:8]}"


def _meta_id(obj: dict[str, Any]) -> str:
    meta = obj.get("metadata", {})
    return f"{meta.get('namespace', '')}/{meta['name']}"


def _repo_id(obj: dict[str, Any]) -> str:
    project = obj.get("project")
    return f"{obj['repo']} (project {project})" if project else obj["repo"]


def _cert_id(obj: dict[str, Any]) -> str:
    return f"{obj['certType']} {obj['serverName']} {obj.get('certSubType', '')}".strip()


KINDS: dict[str, Kind] = {
    k.name: k
    for k in (
        Kind("certificates", "RepositoryCertificate", "/api/v1/certificates", _cert_id),
        Kind("gpgkeys", "GnuPGPublicKey", "/api/v1/gpgkeys", lambda o: o["keyID"]),
        Kind("repocreds", "RepoCreds", "/api/v1/repocreds", lambda o: o["url"]),
        Kind("repositories", "Repository", "/api/v1/repositories", _repo_id),
        Kind("clusters", "Cluster", "/api/v1/clusters", lambda o: o["server"]),
        Kind("projects", "AppProject", "/api/v1/projects", lambda o: o["metadata"]["name"]),
        Kind("applicationsets", "ApplicationSet", "/api/v1/applicationsets", _meta_id, namespaced=True),
        Kind("applications", "Application", "/api/v1/applications", _meta_id, namespaced=True),
    )
}
RESTORE_ORDER = tuple(KINDS)
CRD_KINDS = frozenset({"projects", "applicationsets", "applications"})


def parse_kinds(text: str | None) -> tuple[str, ...]:
    """`--kinds a,b` as a tuple in restore order; None or "" means all. Unknown names raise ValueError."""
    if not text:
        return RESTORE_ORDER
    asked = {part.strip() for part in text.split(",") if part.strip()}
    unknown = sorted(asked - set(KINDS))
    if unknown:
        raise ValueError(f"unknown kind(s) {', '.join(unknown)}; kinds are {', '.join(RESTORE_ORDER)}")
    return tuple(k for k in RESTORE_ORDER if k in asked)


def normalize(kind: str, obj: dict[str, Any]) -> dict[str, Any]:
    """The object as drkit stores it: server-owned fields stripped, apiVersion and kind set. Pure."""
    obj = copy.deepcopy(obj)
    if kind in CRD_KINDS:
        return _normalize_crd(KINDS[kind], obj)
    for field in ("connectionState", "info", "serverVersion", "cacheInfo", "refreshRequestedAt"):
        obj.pop(field, None)
    if kind == "repositories" and obj.pop("inheritedCreds", False):
        obj.pop("username", None)  # filled from a repocreds template, not the repo's own (API-NOTES §2.5)
    if kind == "certificates":
        obj.pop("certData", None)  # always null from the API
    return _drop_empty(obj)


def _normalize_crd(kind: Kind, obj: dict[str, Any]) -> dict[str, Any]:
    meta = obj.get("metadata", {})
    kept = {k: meta[k] for k in KEPT_METADATA if meta.get(k)}
    annotations = {k: v for k, v in kept.get("annotations", {}).items() if k not in VOLATILE_ANNOTATIONS}
    if annotations:
        kept["annotations"] = annotations
    else:
        kept.pop("annotations", None)
    owners = [_owner(o) for o in meta.get("ownerReferences", []) if o.get("kind") == "ApplicationSet"]
    if kind.name == "applications" and owners:
        kept["ownerReferences"] = owners
    out = {"apiVersion": API_VERSION, "kind": kind.api_kind, "metadata": kept, "spec": obj.get("spec", {})}
    return _drop_empty(out)


def _owner(ref: dict[str, Any]) -> dict[str, Any]:
    """An ownerReference without its uid, which belongs to the old instance."""
    return {k: ref[k] for k in ("apiVersion", "kind", "name", "controller") if k in ref}


def _drop_empty(obj: Any) -> Any:
    """Remove None values recursively, so a field the server sent as null and one it omitted store alike."""
    if isinstance(obj, dict):
        return {k: _drop_empty(v) for k, v in obj.items() if v is not None}
    if isinstance(obj, list):
        return [_drop_empty(v) for v in obj]
    return obj


def generated_by(obj: dict[str, Any]) -> str | None:
    """The name of the ApplicationSet that generated this stored Application, if any."""
    for ref in obj.get("metadata", {}).get("ownerReferences", []):
        if ref.get("kind") == "ApplicationSet":
            return ref.get("name")
    return None


def is_default_in_cluster(cluster: dict[str, Any]) -> bool:
    """The synthetic in-cluster entry of a fresh install, not worth backing up (API-NOTES §2.7)."""
    if cluster.get("server") != IN_CLUSTER_SERVER or cluster.get("name", "in-cluster") != "in-cluster":
        return False
    customised = ("namespaces", "labels", "annotations", "project", "shard", "clusterResources")
    config = {k: v for k, v in cluster.get("config", {}).items() if v and k != "tlsClientConfig"}
    tls = {k: v for k, v in cluster.get("config", {}).get("tlsClientConfig", {}).items() if v}
    return not any(cluster.get(k) for k in customised) and not config and not tls


# identity rules Argo CD applies to repository and cluster URLs (API-NOTES §1.1) ---------------------------------


def normalize_repo_url(url: str) -> str:
    """Normalise a repo URL as Argo CD's `git.NormalizeGitURL` does: lower case, ssh form unified, no `.git`."""
    repo = url.strip().lower()
    if _SSH_URL.match(repo) and not repo.startswith("ssh://"):
        repo = "ssh://" + repo.replace(":", "/", 1)
    return repo.removesuffix(".git").removeprefix("ssh://")


def same_url(a: str, b: str) -> bool:
    """True when two repo URLs name the same repository, as Argo CD's `git.SameURL` decides."""
    left, right = normalize_repo_url(a), normalize_repo_url(b)
    return bool(left) and left == right


def normalize_server(server: str) -> str:
    """A cluster server URL as Argo CD stores it: trailing `/` trimmed."""
    return server.strip().rstrip("/")


def has_repo_prefix(prefix: str, url: str) -> bool:
    """True when a repocreds template URL `prefix` covers the repository `url` (Argo CD matches by prefix)."""
    return normalize_repo_url(url).startswith(normalize_repo_url(prefix))
