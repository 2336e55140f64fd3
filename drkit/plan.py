"""The restore plan: each backup object compared with the live target, as create, update, unchanged or skip.

The comparison is like with like: the live object normalised as an export would store it, against the backup
document minus what the API never returns. Bodies carry the safety transforms (automated sync disarmed,
ApplicationSets unable to delete); a live object equal to the transformed body is `unchanged` too, so a second
restore after a first one that disarmed things (and maybe never re-armed them) writes nothing.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any

from drkit.argocd import Client
from drkit.credentials import Certificate
from drkit.kinds import (
    IN_CLUSTER_SERVER,
    KINDS,
    RESTORE_ORDER,
    generated_by,
    has_repo_prefix,
    is_default_in_cluster,
    normalize,
    normalize_repo_url,
    normalize_server,
)

Objects = dict[str, list[dict[str, Any]]]

# Repository.Sanitized(): all a GET or list returns, so all a comparison can look at (API-NOTES §2.5)
REPO_FIELDS = (
    "repo", "type", "name", "username", "insecure", "enableLfs", "enableOCI", "proxy", "noProxy", "project",
    "forceHttpBasicAuth", "githubAppID", "githubAppInstallationID", "githubAppEnterpriseBaseUrl",
    "useAzureWorkloadIdentity", "azureActiveDirectoryEndpoint", "azureServicePrincipalClientId",
    "azureServicePrincipalTenantId", "depth",
)  # fmt: skip
REPOCREDS_FIELDS = ("url", "username", "type", "enableOCI")
CLUSTER_FIELDS = ("server", "name", "namespaces", "clusterResources", "project", "shard", "labels", "annotations")
CLUSTER_CONFIG_FIELDS = ("awsAuthConfig", "proxyUrl", "disableCompression")
CLUSTER_AUTH = ("bearerToken", "password", "awsAuthConfig", "execProviderConfig")
CERT_HINT = "the Argo CD API never returns certificate data; add it under `certificates:` in the credentials file"


@dataclass
class Step:
    """One object's planned action; `body` is the request object without secrets."""

    kind: str
    name: str
    action: str  # create | update | unchanged | skip
    doc: dict[str, Any]
    body: dict[str, Any] | None = None
    changes: list[str] = field(default_factory=list)
    reason: str | None = None
    needs_credentials: bool = False
    rearm: dict[str, Any] | None = None  # the original spec, when the body disarms it
    certificate: Certificate | None = None


@dataclass
class Plan:
    """Every step in restore order, plus what the report and the converge step need."""

    steps: list[Step]
    rearm_apps: dict[str, dict[str, Any]] = field(default_factory=dict)  # "ns/name" -> original spec
    rearm_appsets: dict[str, dict[str, Any]] = field(default_factory=dict)  # "ns/name" -> original document
    tokens_to_reissue: list[dict[str, Any]] = field(default_factory=list)  # {project, role, ids}
    extra: list[str] = field(default_factory=list)  # "kind/name" live on the target, absent from the backup
    credentials: Any = field(default=None, repr=False)  # what apply merges secrets from

    @property
    def needs_credentials(self) -> list[str]:
        return [f"{s.kind}/{s.name}" for s in self.steps if s.needs_credentials]

    def by_kind(self, kind: str) -> list[Step]:
        return [s for s in self.steps if s.kind == kind]


class NoCredentials:
    """Stands in for a credentials file when none was given."""

    def for_repository(self, url: str) -> None:
        return None

    def for_repocreds(self, url: str) -> None:
        return None

    def for_cluster(self, server: str) -> None:
        return None

    def certificates(self) -> list[Certificate]:
        return []

    def merge_into(self, kind: str, identity: str, body: dict[str, Any]) -> dict[str, Any]:
        return copy.deepcopy(body)

    def unused(self) -> list[str]:
        return []


# identities and comparable views ---------------------------------------------------------------------------


def live_key(kind: str, obj: dict[str, Any]) -> Any:
    """How a backup document and a live object of one kind are matched."""
    if kind in ("applications", "applicationsets"):
        meta = obj.get("metadata", {})
        return (meta.get("namespace", ""), meta["name"])
    if kind == "projects":
        return obj["metadata"]["name"]
    if kind == "repositories":
        return (normalize_repo_url(obj["repo"]), obj.get("project", ""))
    if kind == "repocreds":
        return normalize_repo_url(obj["url"])
    if kind == "clusters":
        return normalize_server(obj["server"])
    if kind == "certificates":
        return (obj["certType"], obj["serverName"], obj.get("certSubType", ""))
    return obj["keyID"]


def canonical(value: Any) -> Any:
    """Drop None, empty strings, maps and lists recursively: what Go's `omitempty` makes indistinguishable."""
    if isinstance(value, dict):
        out = {k: canonical(v) for k, v in value.items()}
        return {k: v for k, v in out.items() if v not in (None, "", {}, [])}
    if isinstance(value, list):
        return [canonical(v) for v in value]
    return value


def view(kind: str, doc: dict[str, Any], live: dict[str, Any] | None = None) -> dict[str, Any]:
    """The part of a document the API lets a restore set and read back."""
    if kind in ("applications", "applicationsets"):
        meta = doc.get("metadata", {})
        kept = {k: meta.get(k) for k in ("labels", "annotations", "finalizers")}
        return canonical({"metadata": kept, "spec": doc.get("spec")})
    if kind == "projects":
        return canonical({"spec": strip_tokens(doc.get("spec", {}))})
    if kind in ("repositories", "repocreds"):
        fields = REPO_FIELDS if kind == "repositories" else REPOCREDS_FIELDS
        out = {k: doc.get(k) for k in fields}
        out["type"] = out.get("type") or "git"
        if live is not None:  # older servers return fewer fields: compare only what this one returns
            out = {k: v for k, v in out.items() if k in live or k in ("repo", "url") or v}
        return canonical(out)
    if kind == "clusters":
        out = {k: doc.get(k) for k in CLUSTER_FIELDS}
        out["server"] = normalize_server(doc["server"])
        out["name"] = doc.get("name") or out["server"]
        config = doc.get("config", {})
        tls = {k: config.get("tlsClientConfig", {}).get(k) for k in ("insecure", "serverName")}
        out["config"] = {k: config.get(k) for k in CLUSTER_CONFIG_FIELDS} | {"tlsClientConfig": tls}
        out["config"] = {k: v for k, v in out["config"].items() if v is not False}
        return canonical(out)
    return canonical(doc)


def strip_tokens(spec: dict[str, Any]) -> dict[str, Any]:
    """A project spec without `roles[].jwtTokens`: the old tokens die with the old signing key."""
    spec = copy.deepcopy(spec)
    for role in spec.get("roles", []):
        role.pop("jwtTokens", None)
    return spec


def changes(desired: Any, live: Any, path: str = "") -> list[str]:
    """Dotted paths where two views differ (lists compared whole)."""
    if isinstance(desired, dict) and isinstance(live, dict):
        out: list[str] = []
        for key in sorted(set(desired) | set(live), key=str):
            out += changes(desired.get(key), live.get(key), f"{path}.{key}" if path else str(key))
        return out
    return [] if desired == live else [path or "(whole object)"]


# safety transforms -------------------------------------------------------------------------------------------


def disarmed(doc: dict[str, Any]) -> dict[str, Any]:
    """An application with automated sync switched off (`automated.enabled: false`)."""
    doc = copy.deepcopy(doc)
    automated = doc.get("spec", {}).get("syncPolicy", {}).get("automated")
    if isinstance(automated, dict) and automated.get("enabled", True) is not False:
        automated["enabled"] = False
    return doc


def tightened(doc: dict[str, Any]) -> dict[str, Any]:
    """An ApplicationSet that cannot delete: `create-only` kept, else `create-update`; resources preserved."""
    doc = copy.deepcopy(doc)
    policy = doc.setdefault("spec", {}).setdefault("syncPolicy", {})
    policy["applicationsSync"] = "create-only" if policy.get("applicationsSync") == "create-only" else "create-update"
    policy["preserveResourcesOnDeletion"] = True
    return doc


def request_body(kind: str, doc: dict[str, Any]) -> dict[str, Any]:
    """The object as the API takes it: no ownerReferences (old uids), no jwtTokens, `type` explicit."""
    body = copy.deepcopy(doc)
    if kind in KINDS and kind in ("applications", "applicationsets", "projects"):
        body.get("metadata", {}).pop("ownerReferences", None)
        body.pop("status", None)
    if kind == "projects":
        body["spec"] = strip_tokens(body.get("spec", {}))
    if kind in ("repositories", "repocreds"):
        body["type"] = body.get("type") or "git"
    if kind == "applications":
        body = disarmed(body)
    if kind == "applicationsets":
        body = tightened(body)
    return body


# planning ---------------------------------------------------------------------------------------------------


def read_live(client: Client, kinds: list[str]) -> dict[str, dict[Any, dict[str, Any]]]:
    """The target's objects of each kind, one list call per kind, normalised and keyed as backup documents."""
    live: dict[str, dict[Any, dict[str, Any]]] = {}
    for kind in kinds:
        items = client.items(KINDS[kind].list_path)
        docs = [normalize(kind, item) for item in items]
        if kind == "certificates":  # certInfo is the only trace of the data; keep it
            docs = [{**d, "certInfo": item.get("certInfo", "")} for d, item in zip(docs, items, strict=True)]
        live[kind] = {live_key(kind, d): d for d in docs}
    return live


def plan(client: Client, objects: Objects, credentials: Any, options: Any) -> Plan:
    """Compare every selected object with the target's live state (read once per kind); writes nothing."""
    credentials = credentials or NoCredentials()
    kinds = [k for k in RESTORE_ORDER if k in objects]
    live = read_live(client, kinds)
    result = Plan(steps=[], extra=extras(live, objects), credentials=credentials)
    for kind in kinds:
        if kind == "certificates":
            result.steps += _certificates(objects.get(kind, []), live[kind], credentials)
            continue
        for doc in objects.get(kind, []):
            step = _step(kind, doc, live[kind], objects, credentials, result)
            if kind not in options.kinds and step.action == "update":
                step.action, step.body = "skip", None
                step.reason = f"on the target already, and --kinds did not ask to update {kind} (differs: "
                step.reason += ", ".join(step.changes) + ")"
            result.steps.append(step)
    return result


def _step(kind: str, doc: dict[str, Any], live: dict[Any, Any], objects: Objects, creds: Any, plan: Plan) -> Step:
    name = KINDS[kind].identity(doc)
    if kind == "applications" and generated_by(doc):
        reason = f"generated by ApplicationSet {generated_by(doc)}: the ApplicationSet recreates it"
        return Step(kind, name, "skip", doc, reason=reason)
    if kind == "projects":
        _record_tokens(doc, plan)
    current = live.get(live_key(kind, doc))
    if kind == "gpgkeys":
        action = "unchanged" if current is not None else "create"
        return Step(kind, name, action, doc, body={"keyData": doc.get("keyData", "")})
    body = request_body(kind, doc)
    step = Step(kind, name, "create", doc, body=body, needs_credentials=_needs_credentials(kind, doc, objects, creds))
    safe = kind in ("applications", "applicationsets") and view(kind, body) != view(kind, doc)
    if current is not None:
        desired = view(kind, doc, current)
        actual = view(kind, current)
        if desired == actual or (safe and view(kind, body, current) == actual):
            step.action = "unchanged"
        else:
            step.action, step.changes = "update", changes(desired, actual)
        if desired == actual:
            safe = False  # already armed as in the backup
    if safe and kind in ("applications", "applicationsets"):
        step.rearm = copy.deepcopy(doc.get("spec", {}))
        if kind == "applications":
            plan.rearm_apps[name] = step.rearm
        else:
            original = copy.deepcopy(doc)
            original.get("metadata", {}).pop("ownerReferences", None)
            plan.rearm_appsets[name] = original
    return step


def _record_tokens(doc: dict[str, Any], plan: Plan) -> None:
    project = doc["metadata"]["name"]
    for role in doc.get("spec", {}).get("roles", []):
        ids = [str(t.get("id") or t.get("iat")) for t in role.get("jwtTokens", [])]
        if ids:
            plan.tokens_to_reissue.append({"project": project, "role": role["name"], "ids": ids})


def _needs_credentials(kind: str, doc: dict[str, Any], objects: Objects, creds: Any) -> bool:
    """True when the object probably needs secrets the credentials file does not hold (Argo CD will tell)."""
    if kind == "repositories":
        url = doc["repo"]
        own = creds.for_repository(url) or {}
        templates = [c["url"] for c in objects.get("repocreds", []) if has_repo_prefix(c["url"], url)]
        if any(creds.for_repocreds(t) for t in templates):
            return False
        if _is_ssh(url):
            return "sshPrivateKey" not in own
        return bool(doc.get("username")) and not any(k in own for k in ("password", "bearerToken"))
    if kind == "repocreds":
        return creds.for_repocreds(doc["url"]) is None
    if kind == "clusters":
        if normalize_server(doc["server"]) == IN_CLUSTER_SERVER:
            return False
        config = (creds.for_cluster(doc["server"]) or {}) | doc.get("config", {})
        has_basic = bool(config.get("username") and config.get("password"))
        return not (has_basic or any(config.get(k) for k in CLUSTER_AUTH if k != "password"))
    return False


def _is_ssh(url: str) -> bool:
    return url.startswith("ssh://") or ("@" in url and "://" not in url)


def _certificates(docs: list[dict[str, Any]], live: dict[Any, Any], creds: Any) -> list[Step]:
    """Certificates: data only from the credentials file; an identical live entry is unchanged without it."""
    steps, offered = [], list(creds.certificates())
    for doc in docs:
        name, key = KINDS["certificates"].identity(doc), live_key("certificates", doc)
        current = live.get(key)
        cert = _offered(offered, doc)
        if cert is not None:
            offered.remove(cert)
        if current is not None and current.get("certInfo") == doc.get("certInfo"):
            steps.append(Step("certificates", name, "unchanged", doc))
        elif cert is None:
            steps.append(Step("certificates", name, "skip", doc, reason=CERT_HINT))
        else:
            action = "update" if current is not None else "create"
            steps.append(Step("certificates", name, action, doc, changes=["certData"], certificate=cert))
    for cert in offered:  # in the credentials file only: restore it too
        doc = {"serverName": cert.server_name, "certType": cert.cert_type, "certSubType": cert.cert_sub_type}
        present = any(k[0] == cert.cert_type and k[1] == cert.server_name for k in live)
        action = "unchanged" if present else "create"
        steps.append(Step("certificates", KINDS["certificates"].identity(doc), action, doc, certificate=cert))
    return steps


def _offered(offered: list[Certificate], doc: dict[str, Any]) -> Certificate | None:
    for cert in offered:
        if cert.server_name != doc["serverName"] or cert.cert_type != doc["certType"]:
            continue
        if cert.cert_type == "https" or cert.cert_sub_type == doc.get("certSubType", ""):
            return cert
    return None


def extras(live: dict[str, dict[Any, dict[str, Any]]], objects: Objects) -> list[str]:
    """Objects live on the target but absent from the backup, as `kind/name` (informational)."""
    out = []
    for kind, current in live.items():
        wanted = {live_key(kind, d) for d in objects.get(kind, [])}
        for key, doc in current.items():
            if key in wanted or (kind == "clusters" and is_default_in_cluster(doc)):
                continue
            out.append(f"{kind}/{KINDS[kind].identity(doc)}")
    return out
