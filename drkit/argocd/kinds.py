"""The eight Argo CD kinds drkit backs up, as one data table in restore order, and `normalize()`.

Each row owns its kind's behaviour: where the API lists and writes it and how the body is wrapped, how an object
is identified, matched with a live one, named in the store and in messages, what the server owns, what a restore
can compare, what it depends on, which secrets it needs, and (through `drkit.argocd.versions`) which of its fields older
Argo CD versions lack. Restore order is Argo CD's own validation order (API-NOTES §5): certificates and GPG keys
before repositories (connection tests), repocreds before repositories (template credentials), clusters and
repositories before projects and applications.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from drkit.argocd import rewrites as rw
from drkit.argocd import shapes as s
from drkit.argocd import sources, versions
from drkit.argocd.shapes import generated_by, sources_of  # noqa: F401 (re-exported)
from drkit.argocd.urls import (  # noqa: F401 (re-exported)
    IN_CLUSTER_NAME,
    IN_CLUSTER_SERVER,
    has_repo_prefix,
    normalize_repo_url,
    normalize_server,
    same_url,
    slug,
)

API_VERSION = "argoproj.io/v1alpha1"
Doc = dict[str, Any]

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
SERVER_FIELDS = ("connectionState", "info", "serverVersion", "cacheInfo", "refreshRequestedAt")
UPSERT = (("upsert", "true"),)


@dataclass(frozen=True)
class Write:
    """How the API takes a write of one object (API-NOTES §2)."""

    params: tuple[tuple[str, str], ...] = UPSERT  # query parameters of create (and update)
    wrap: str | None = None  # the body is `{wrap: object, "upsert": true}` (projects: `body: "*"`)
    items: bool = False  # the body is `{"items": [object]}` (certificates)
    replace_by_name: bool = False  # an update is `PUT <path>/<metadata.name>` (applications)


@dataclass(frozen=True)
class Kind:
    """One Argo CD kind and everything drkit does differently for it."""

    name: str  # CONTRACT.md's name, also the store folder
    api_kind: str  # Kubernetes kind, or the API type for non-CRD kinds
    singular: str  # in messages: "repository https://..."
    path: str  # list and create endpoint; `<path>/<id>` is one object
    identity: Callable[[Doc], str]  # a human-readable unique id, e.g. "argocd/guestbook" or a URL
    match: Callable[[Doc], Hashable]  # how a backup document and a live object are paired, as Argo CD compares
    view: Callable[..., Doc]  # (doc, live=None): what a restore can set and read back, for comparison
    body: Callable[[Doc], Doc] = s.body_copy  # the request object, before secrets and safety
    write: Write = Write()
    file: str = "slug"  # store file name: "slug" of the identity, "name" as it is, or "namespaced"
    crd: bool = False  # a custom resource: metadata and spec, server fields stripped
    stripped: tuple[str, ...] = ()  # further top-level fields the API fills that a backup does not keep
    tidy: Callable[[Doc], Doc] | None = None  # a kind's own normalisation after the general one
    safety: Callable[[Doc], Doc] | None = None  # written first in a form that cannot act; the original at re-arm
    refs: Callable[[Doc], list[s.Ref]] = s.refs_none  # what an object of this kind depends on
    depends_on: tuple[str, ...] = ()  # kinds `--kinds` reads along with this one, for what `refs` names in them
    answers: Callable[[Doc], list[tuple[str, str]]] = s.answers_none  # (by, value) pairs a Ref finds it by
    always: tuple[tuple[str, str], ...] = ()  # answers every Argo CD has without a backup (default project)
    builtin: Callable[[Doc], bool] | None = None  # a fresh install's own object: not exported, not "extra"
    read_each: bool = False  # the list omits data: GET `<path>/<identity>` per object at export
    immutable: bool = False  # Argo CD never replaces one: present means unchanged
    credentials: tuple[str, str] | None = None  # (credentials-file section, the field its entries are keyed by)
    secrets_under: str | None = None  # the body field the secrets merge into (clusters: `config`)
    needs_secrets: Callable[[Doc, dict[str, list[Doc]], Any], bool] = s.no_secrets_needed  # (doc, objects, creds)
    connects: bool = False  # Argo CD tests a connection before saving, so a failure is "could not connect"
    remote_401: bool = False  # a 401 on write comes from what Argo CD connects to, not from drkit's token
    data_from_credentials: bool = False  # the API never returns the data: only the credentials file has it
    unreturned: tuple[str, ...] = ()  # fields the API never returns, named in the restore report
    rewrite: Callable[[rw.Rewriter, Doc], Doc] = rw.unchanged  # where --remap-cluster/--remap-repo rewrite it
    generated: bool = False  # an ApplicationSet may generate it: the owner reference is kept to recognise that
    read_back: str = "answer"  # where a restore reads what was stored: the write's answer, a "get", or "" (neither)

    @property
    def order(self) -> int:
        return RESTORE_ORDER.index(self.name)

    @property
    def facts(self) -> tuple[versions.Fact, ...]:
        """Fields of this kind older Argo CD versions lack, with what losing each does."""
        return versions.facts_for(self.name)

    def key(self, obj: Doc) -> str:
        """The object's store key under a backup, `<kind>/<file>.yaml`."""
        ident = self.identity(obj)
        if self.file == "namespaced":
            namespace, name = ident.split("/", 1)
            return f"{self.name}/{namespace}/{name}.yaml"
        return f"{self.name}/{ident if self.file == 'name' else slug(ident)}.yaml"

    def object_path(self, name: str, action: str = "") -> str:
        """`<path>/<name>[/<action>]`, the name percent-encoded whole (API-NOTES §1.1)."""
        return f"{self.path}/{quote(name, safe='')}" + (f"/{action}" if action else "")


def _repository_tidy(obj: Doc) -> Doc:
    if obj.pop("inheritedCreds", False):
        obj.pop("username", None)  # filled from a repocreds template, not the repo's own (API-NOTES §2.5)
    return obj


def is_default_in_cluster(cluster: Doc) -> bool:
    """The synthetic in-cluster entry of a fresh install, not worth backing up (API-NOTES §2.7)."""
    if cluster.get("server") != IN_CLUSTER_SERVER or cluster.get("name", IN_CLUSTER_NAME) != IN_CLUSTER_NAME:
        return False
    customised = ("namespaces", "labels", "annotations", "project", "shard", "clusterResources")
    config = {k: v for k, v in cluster.get("config", {}).items() if v and k != "tlsClientConfig"}
    tls = {k: v for k, v in cluster.get("config", {}).get("tlsClientConfig", {}).items() if v}
    return not any(cluster.get(k) for k in customised) and not config and not tls


# Repository fields Sanitized() drops although they are not secret (API-NOTES §2.5)
_REPO_UNRETURNED = (
    "tlsClientCertData", "insecureIgnoreHostKey", "insecureOCIForceHttp", "webhookManifestCacheWarmDisabled",
)  # fmt: skip

KINDS: dict[str, Kind] = {
    k.name: k
    for k in (
        Kind(
            "certificates", "RepositoryCertificate", "certificate", "/api/v1/certificates", s.cert_id, s.cert_key,
            s.view_whole, write=Write(items=True), stripped=("certData",), data_from_credentials=True, read_back="",
        ),
        Kind(
            "gpgkeys", "GnuPGPublicKey", "GPG key", "/api/v1/gpgkeys", s.gpg_id, lambda o: o["keyID"], s.view_whole,
            body=s.body_gpg, write=Write(params=()), read_each=True, immutable=True, read_back="",
        ),
        Kind(
            "repocreds", "RepoCreds", "repository credentials", "/api/v1/repocreds", s.repocreds_id,
            s.repocreds_key, s.view_repocreds, body=s.body_typed, answers=s.answers_repocreds,
            credentials=("repocreds", "url"), needs_secrets=s.repocreds_need_secrets, read_back="",
            rewrite=rw.rewrite_repocreds,
        ),
        Kind(
            "repositories", "Repository", "repository", "/api/v1/repositories", s.repo_id, s.repo_key, s.view_repo,
            body=s.body_typed, tidy=_repository_tidy, refs=s.refs_repo, depends_on=("repocreds",),
            answers=s.answers_repo, credentials=("repositories", "repo"),
            needs_secrets=s.repo_needs_secrets, connects=True, unreturned=_REPO_UNRETURNED, read_back="get",
            rewrite=rw.rewrite_repository,
        ),
        Kind(
            "clusters", "Cluster", "cluster", "/api/v1/clusters", s.cluster_id, s.cluster_key, s.view_cluster,
            answers=s.answers_cluster, always=(("server", IN_CLUSTER_SERVER), ("name", IN_CLUSTER_NAME)),
            builtin=is_default_in_cluster, credentials=("clusters", "server"), secrets_under="config",
            tidy=sources.strip_cluster,
            needs_secrets=s.cluster_needs_secrets, connects=True, remote_401=True, rewrite=rw.rewrite_cluster,
        ),
        Kind(
            "projects", "AppProject", "project", "/api/v1/projects", s.project_id, s.project_id, s.view_project,
            body=s.body_project, write=Write(params=(), wrap="project"), file="name", crd=True,
            answers=s.answers_project, always=(("name", "default"),), rewrite=rw.rewrite_project,
        ),
        Kind(
            "applicationsets", "ApplicationSet", "ApplicationSet", "/api/v1/applicationsets", s.meta_id, s.meta_key,
            s.view_crd, body=s.body_crd, file="namespaced", crd=True, safety=s.tightened, refs=s.refs_appset,
            depends_on=("projects", "clusters", "repositories", "repocreds"), answers=s.answers_meta,
            rewrite=rw.rewrite_app,
        ),
        Kind(
            "applications", "Application", "application", "/api/v1/applications", s.meta_id, s.meta_key, s.view_crd,
            body=s.body_crd, write=Write(params=(*UPSERT, ("validate", "false")), replace_by_name=True),
            file="namespaced",
            crd=True, safety=s.disarmed, refs=s.refs_app, answers=s.answers_meta, generated=True,
            depends_on=("projects", "clusters", "repositories", "repocreds"),  # not the generating set: see select
            rewrite=rw.rewrite_app,
        ),
    )
}  # fmt: skip
RESTORE_ORDER = tuple(KINDS)
CRD_KINDS = frozenset(k.name for k in KINDS.values() if k.crd)


def parse_kinds(text: str | None) -> tuple[str, ...]:
    """`--kinds a,b` as a tuple in restore order; None or "" means all. Unknown names raise ValueError."""
    if not text:
        return RESTORE_ORDER
    asked = {part.strip() for part in text.split(",") if part.strip()}
    unknown = sorted(asked - set(KINDS))
    if unknown:
        raise ValueError(f"unknown kind(s) {', '.join(unknown)}; kinds are {', '.join(RESTORE_ORDER)}")
    return tuple(k for k in RESTORE_ORDER if k in asked)


def normalize(kind: str, obj: Doc) -> Doc:
    """The object as drkit stores it: server-owned fields stripped, apiVersion and kind set. Pure.

    No deep copy: `_drop_empty` rebuilds every dict and list it keeps, so the result shares nothing mutable
    with `obj`, and a CRD's `status` (most of an app's size) is never copied at all. What is stripped or tidied
    is top-level, so a shallow copy keeps `obj` whole.
    """
    row = KINDS[kind]
    if row.crd:
        return _normalize_crd(row, obj)
    obj = dict(obj)
    for name in SERVER_FIELDS + row.stripped:
        obj.pop(name, None)
    return _drop_empty(row.tidy(obj) if row.tidy else obj)


def _normalize_crd(kind: Kind, obj: Doc) -> Doc:
    meta = obj.get("metadata", {})
    kept = {k: meta[k] for k in KEPT_METADATA if meta.get(k)}
    annotations = {k: v for k, v in kept.get("annotations", {}).items() if k not in VOLATILE_ANNOTATIONS}
    if annotations:
        kept["annotations"] = annotations
    else:
        kept.pop("annotations", None)
    owners = [_owner(o) for o in meta.get("ownerReferences", []) if o.get("kind") == "ApplicationSet"]
    if kind.generated and owners:
        kept["ownerReferences"] = owners
    out = {"apiVersion": API_VERSION, "kind": kind.api_kind, "metadata": kept, "spec": obj.get("spec", {})}
    return _drop_empty(out)


def _owner(ref: Doc) -> Doc:
    """An ownerReference without its uid, which belongs to the old instance."""
    return {k: ref[k] for k in ("apiVersion", "kind", "name", "controller") if k in ref}


def _drop_empty(obj: Any) -> Any:
    """Remove None values recursively, so a field the server sent as null and one it omitted store alike."""
    if isinstance(obj, dict):
        return {k: _drop_empty(v) for k, v in obj.items() if v is not None}
    if isinstance(obj, list):
        return [_drop_empty(v) for v in obj]
    return obj
