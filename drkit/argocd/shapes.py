"""Per-kind readings of an Argo CD object, which the kind table (`drkit.argocd.kinds`) puts in each kind's row.

Identity, match key, what a restore can set and read back (`view_*`), the request body (`body_*`), the safety
transform, what the object depends on (`refs_*`) and the keys others find it by (`answers_*`). Pure functions
of plain documents; the API facts behind them are cited per function (API-NOTES §2).
"""

from __future__ import annotations

import copy
from collections.abc import Hashable
from dataclasses import dataclass
from typing import Any

from drkit.argocd import patches, versions
from drkit.argocd.urls import IN_CLUSTER_SERVER, has_repo_prefix, is_ssh, normalize_repo_url, normalize_server

Doc = dict[str, Any]

# Repository.Sanitized(): all a GET or list returns, so all a comparison can look at (API-NOTES §2.5)
REPO_FIELDS = (
    "repo", "type", "name", "username", "insecure", "enableLfs", "enableOCI", "proxy", "noProxy", "project",
    "forceHttpBasicAuth", "githubAppID", "githubAppInstallationID", "githubAppEnterpriseBaseUrl",
    "useAzureWorkloadIdentity", "azureActiveDirectoryEndpoint", "azureServicePrincipalClientId",
    "azureServicePrincipalTenantId", "depth",
)  # fmt: skip
REPOCREDS_FIELDS = ("url", "username", "type", "enableOCI")  # ListRepositoryCredentials (API-NOTES §2.6)
CLUSTER_FIELDS = ("server", "name", "namespaces", "clusterResources", "project", "shard", "labels", "annotations")
CLUSTER_CONFIG_FIELDS = ("awsAuthConfig", "proxyUrl", "disableCompression")  # Cluster.Sanitized (API-NOTES §2.7)
CLUSTER_AUTH = ("bearerToken", "password", "awsAuthConfig", "execProviderConfig")
CRD_METADATA = ("labels", "annotations", "finalizers")

# How strongly an object needs what it refers to.
REQUIRED = "required"  # Argo CD refuses it, or it cannot work, without the other: verify reports a missing one
USED = "used"  # used when present (a private repository's credentials): a failed one blocks, a missing one is fine
MAY_USE = "may use"  # perhaps used (a credential template whose prefix covers the URL): brought along, never blocks


@dataclass(frozen=True)
class Ref:
    """One thing an object depends on: an object of `kind` that answers to (`by`, `value`)."""

    kind: str
    by: str  # "name" | "server" | "url" | "prefix"
    value: str  # normalised the way the other object's `answers` are
    what: str  # for messages: "project 'team'", "destination cluster https://..."
    need: str = REQUIRED


# identities and match keys -----------------------------------------------------------------------------------


def meta_id(doc: Doc) -> str:
    meta = doc.get("metadata", {})
    return f"{meta.get('namespace', '')}/{meta['name']}"


def meta_key(doc: Doc) -> Hashable:
    meta = doc.get("metadata", {})
    return (meta.get("namespace", ""), meta["name"])


def project_id(doc: Doc) -> str:
    return doc["metadata"]["name"]


def repo_id(doc: Doc) -> str:
    project = doc.get("project")
    return f"{doc['repo']} (project {project})" if project else doc["repo"]


def repo_key(doc: Doc) -> Hashable:
    return (normalize_repo_url(doc["repo"]), doc.get("project", ""))


def repocreds_id(doc: Doc) -> str:
    return doc["url"]


def repocreds_key(doc: Doc) -> Hashable:
    return normalize_repo_url(doc["url"])


def cluster_id(doc: Doc) -> str:
    return doc["server"]


def cluster_key(doc: Doc) -> Hashable:
    return normalize_server(doc["server"])


def cert_id(doc: Doc) -> str:
    return f"{doc['certType']} {doc['serverName']} {doc.get('certSubType', '')}".strip()


def cert_key(doc: Doc) -> Hashable:
    return (doc["certType"], doc["serverName"], doc.get("certSubType", ""))


def gpg_id(doc: Doc) -> str:
    return doc["keyID"]


# comparable views: the part of a document the API lets a restore set and read back ---------------------------


def canonical(value: Any) -> Any:
    """Drop None, empty strings, maps and lists recursively: what Go's `omitempty` makes indistinguishable.

    Except an empty map under a name in PRESENCE: that one is a struct pointer whose presence means something.
    """
    if isinstance(value, dict):
        out = {}
        for key, item in value.items():
            if isinstance(item, (dict, list)):
                item = canonical(item)
                if not item and not (key in PRESENCE and isinstance(item, dict)):
                    continue
            elif item is None or item == "":
                continue
            out[key] = item
        return out
    if isinstance(value, list):
        return [canonical(item) if isinstance(item, (dict, list)) else item for item in value]
    return value


# Struct pointers Argo CD acts on when present, even empty (v3.5.1 types.go): `automated: {}` turns auto-sync on
# (SyncPolicy.IsAutomatedSyncEnabled); `helm: {}`, `kustomize: {}`, `directory: {}`, `plugin: {}` set the source's
# type (ApplicationSource.ExplicitType), `plugin: {}` meaning "find a config management plugin".
PRESENCE = frozenset({"automated", "helm", "kustomize", "directory", "plugin"})


def view_whole(doc: Doc, live: Doc | None = None) -> Doc:
    return canonical(doc)


def view_crd(doc: Doc, live: Doc | None = None) -> Doc:
    meta = doc.get("metadata", {})
    return canonical({"metadata": {k: meta.get(k) for k in CRD_METADATA}, "spec": doc.get("spec")})


def view_project(doc: Doc, live: Doc | None = None) -> Doc:
    return canonical({"spec": strip_tokens(doc.get("spec", {}))})


def _view_fields(doc: Doc, live: Doc | None, fields: tuple[str, ...], ident: str) -> Doc:
    out = {k: doc.get(k) for k in fields}
    out["type"] = out.get("type") or "git"
    if live is not None:  # older servers return fewer fields: compare only what this one returns
        out = {k: v for k, v in out.items() if k in live or k == ident or v}
    return canonical(out)


def view_repo(doc: Doc, live: Doc | None = None) -> Doc:
    return _view_fields(doc, live, REPO_FIELDS, "repo")


def view_repocreds(doc: Doc, live: Doc | None = None) -> Doc:
    return _view_fields(doc, live, REPOCREDS_FIELDS, "url")


def view_cluster(doc: Doc, live: Doc | None = None) -> Doc:
    out = {k: doc.get(k) for k in CLUSTER_FIELDS}
    out["server"] = normalize_server(doc["server"])
    out["name"] = doc.get("name") or out["server"]
    config = doc.get("config", {})
    tls = {k: config.get("tlsClientConfig", {}).get(k) for k in ("insecure", "serverName")}
    out["config"] = {k: config.get(k) for k in CLUSTER_CONFIG_FIELDS} | {"tlsClientConfig": tls}
    out["config"] = {k: v for k, v in out["config"].items() if v is not False}
    return canonical(out)


def strip_tokens(spec: Doc) -> Doc:
    """A project spec without `roles[].jwtTokens`: the old tokens die with the old signing key."""
    spec = copy.deepcopy(spec)
    for role in spec.get("roles", []):
        role.pop("jwtTokens", None)
    return spec


# request bodies and safety transforms ----------------------------------------------------------------------------


def body_copy(doc: Doc) -> Doc:
    return copy.deepcopy(doc)


def body_crd(doc: Doc) -> Doc:
    """A custom resource as the API takes it: no ownerReferences (old uids), no status.

    Like the safety transforms, it shares the parts it does not change with `doc`: a body is never changed in
    place (what changes one, like a credentials merge, copies it first).
    """
    body = {k: v for k, v in doc.items() if k != "status"}
    meta = doc.get("metadata")
    if isinstance(meta, dict) and "ownerReferences" in meta:
        body["metadata"] = {k: v for k, v in meta.items() if k != "ownerReferences"}
    return body


def body_project(doc: Doc) -> Doc:
    body = body_crd(doc)
    body["spec"] = strip_tokens(body.get("spec", {}))
    return body


def body_typed(doc: Doc) -> Doc:
    """Repositories and templates: `type` explicit, since the server compares it defaulted (API-NOTES §2.5)."""
    body = copy.deepcopy(doc)
    body["type"] = body.get("type") or "git"
    return body


def body_gpg(doc: Doc) -> Doc:
    return {"keyData": doc.get("keyData", "")}  # the body GPG key create takes (API-NOTES §2.9)


def disarmed(doc: Doc) -> Doc:
    """An application without `spec.syncPolicy.automated`: the one disarmed form every Argo CD version honours.

    `automated.enabled: false` exists only from v3.1.0; older targets drop it silently and create the app armed
    (VERSIONS.md). The original spec is put back whole at re-arm, so a paused app stays paused.
    """
    spec = doc.get("spec")
    if not isinstance(spec, dict) or (spec.get("syncPolicy") or {}).get("automated") is None:
        return doc  # nothing to take out
    return {**doc, "spec": _without_automated(spec)}


def tightened(doc: Doc) -> Doc:
    """An ApplicationSet that cannot delete and generates disarmed apps; both are undone at re-arm.

    `create-only` is kept, anything else becomes `create-update`, resources are preserved; the template loses
    `automated`, and so does its templatePatch (`patches.disarmed`), so a generated app waits for drkit's sync
    instead of syncing by itself out of wave order.
    """
    doc = copy.deepcopy(doc)
    policy = doc.setdefault("spec", {}).setdefault("syncPolicy", {})
    policy["applicationsSync"] = "create-only" if policy.get("applicationsSync") == "create-only" else "create-update"
    policy["preserveResourcesOnDeletion"] = True
    template = doc["spec"].get("template")
    if isinstance(template, dict) and isinstance(template.get("spec"), dict):
        template["spec"] = _without_automated(template["spec"])
    if isinstance(doc["spec"].get("templatePatch"), str):
        doc["spec"]["templatePatch"] = patches.disarmed(doc["spec"]["templatePatch"])
    return doc


def kept_paused(kind: str, doc: Doc, version: versions.Version | None) -> tuple[Doc, str]:
    """`doc` as a target at `version` keeps it paused, and a note when that differs from `doc`.

    A paused app (`automated.enabled: false`) on a target before v3.1.0 would be armed: it drops `enabled` and
    syncs any app that has `automated` (versions.FACTS). There the only paused form is no `automated` at all, so
    that is what re-arm writes; a target whose version is unknown is treated as such an old one.
    """
    doc, lost = copy.deepcopy(doc), False
    enabled = [
        d.path for d in versions.dropped(kind, doc, version or (0, 0, 0)) if d.path.endswith(".automated.enabled")
    ]
    for path in enabled:  # spec.syncPolicy... or spec.template.spec.syncPolicy...: no list on the way
        *parents, last = path.removesuffix(".syncPolicy.automated.enabled").split(".")
        owner = doc
        for part in parents:
            owner = owner[part]
        if owner[last]["syncPolicy"]["automated"]["enabled"] is False:
            owner[last], lost = _without_automated(owner[last]), True
    if not lost:
        return doc, ""
    where = f"Argo CD v{'.'.join(map(str, version))}" if version else "this Argo CD (version unknown)"
    return doc, f"paused in the backup (automated.enabled: false), which {where} cannot hold: left without automated"


def _without_automated(spec: Doc) -> Doc:
    policy = {k: v for k, v in (spec.get("syncPolicy") or {}).items() if k != "automated"}
    out = {k: v for k, v in spec.items() if k != "syncPolicy"}
    if policy:  # Argo CD stores an empty syncPolicy as none (NormalizeApplicationSpec)
        out["syncPolicy"] = policy
    return out


# what an object depends on, and the keys others find it by ----------------------------------------------------


def sources_of(spec: Doc) -> list[Doc]:
    """Every source of an app spec: `source`, `sources[]` and the hydrator's dry source."""
    found = list(spec.get("sources") or [])
    if spec.get("source"):
        found.append(spec["source"])
    dry = (spec.get("sourceHydrator") or {}).get("drySource")
    return found + ([dry] if dry else [])


def generated_by(doc: Doc) -> str | None:
    """The name of the ApplicationSet that generated this stored Application, if any."""
    for ref in doc.get("metadata", {}).get("ownerReferences", []):
        if ref.get("kind") == "ApplicationSet":
            return ref.get("name")
    return None


def _templated(value: str) -> bool:
    """A value an ApplicationSet fills in per generated app: no reference until then."""
    return "{{" in value


def _spec_refs(spec: Doc) -> list[Ref]:
    """An application spec's project, destination cluster and repositories (with their credential templates)."""
    project = spec.get("project") or "default"
    out = [Ref("projects", "name", project, f"project {project!r}")]
    dest = spec.get("destination") or {}
    server, name = dest.get("server") or "", dest.get("name") or ""
    if server:
        out.append(Ref("clusters", "server", normalize_server(server), f"destination cluster {server}"))
    if name:
        out.append(Ref("clusters", "name", name, f"destination cluster named {name!r}"))
    for url in [s["repoURL"] for s in sources_of(spec) if s.get("repoURL")]:
        out.append(Ref("repositories", "url", normalize_repo_url(url), f"repository {url}", USED))
        out.append(Ref("repocreds", "prefix", normalize_repo_url(url), f"credential template for {url}", MAY_USE))
    return [r for r in out if not _templated(r.value)]


def refs_app(doc: Doc) -> list[Ref]:
    out = _spec_refs(doc.get("spec") or {})
    owner = generated_by(doc)
    if owner:
        qualified = f"{doc['metadata'].get('namespace', '')}/{owner}"
        out.append(Ref("applicationsets", "name", qualified, f"generating ApplicationSet {owner!r}"))
    return out


def refs_appset(doc: Doc) -> list[Ref]:
    return _spec_refs(((doc.get("spec") or {}).get("template") or {}).get("spec") or {})


def refs_repo(doc: Doc) -> list[Ref]:
    """A repository without credentials of its own inherits them from the covering template (API-NOTES §2.5)."""
    url = doc["repo"]
    return [Ref("repocreds", "prefix", normalize_repo_url(url), f"credential template for {url}", USED)]


def refs_none(doc: Doc) -> list[Ref]:
    return []


def answers_meta(doc: Doc) -> list[tuple[str, str]]:
    return [("name", meta_id(doc))]


def answers_project(doc: Doc) -> list[tuple[str, str]]:
    return [("name", doc["metadata"]["name"])]


def answers_repo(doc: Doc) -> list[tuple[str, str]]:
    return [("url", normalize_repo_url(doc["repo"]))]


def answers_repocreds(doc: Doc) -> list[tuple[str, str]]:
    return [("prefix", normalize_repo_url(doc["url"]))]


def answers_cluster(doc: Doc) -> list[tuple[str, str]]:
    return [("server", normalize_server(doc["server"]))] + ([("name", doc["name"])] if doc.get("name") else [])


def answers_none(doc: Doc) -> list[tuple[str, str]]:
    return []


# what a write needs from the credentials file -------------------------------------------------------------------


def repo_needs_secrets(doc: Doc, objects: dict[str, list[Doc]], creds: Any) -> bool:
    """True when a repository probably needs secrets the credentials file does not hold (Argo CD will tell)."""
    url = doc["repo"]
    own = creds.lookup("repositories", url) or {}
    covering = [t["url"] for t in objects.get("repocreds", []) if has_repo_prefix(t["url"], url)]
    if any(creds.lookup("repocreds", t) for t in covering):
        return False
    if is_ssh(url):
        return "sshPrivateKey" not in own
    return bool(doc.get("username")) and not any(k in own for k in ("password", "bearerToken"))


def repocreds_need_secrets(doc: Doc, objects: dict[str, list[Doc]], creds: Any) -> bool:
    return creds.lookup("repocreds", doc["url"]) is None


def cluster_needs_secrets(doc: Doc, objects: dict[str, list[Doc]], creds: Any) -> bool:
    if normalize_server(doc["server"]) == IN_CLUSTER_SERVER:
        return False
    config = (creds.lookup("clusters", doc["server"]) or {}) | doc.get("config", {})
    has_basic = bool(config.get("username") and config.get("password"))
    return not (has_basic or any(config.get(k) for k in CLUSTER_AUTH if k != "password"))


def no_secrets_needed(doc: Doc, objects: dict[str, list[Doc]], creds: Any) -> bool:
    return False
