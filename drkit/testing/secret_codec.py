"""How Argo CD stores repositories, credential templates and clusters as Secrets: names, labels and data keys.

Reproduced from argoproj/argo-cd v3.5.1: `util/db/repository_secrets.go` (repositoryToSecret, secretToRepository,
repoCredsToSecret, secretToRepoCred), `util/db/secrets.go` (updateSecretString/Bool/Int: a key is written when
it is already present or the value is not empty; boolOrFalse, intOrZero; addSecretMetadata; URIToSecretName),
`util/db/repository.go` (RepoURLToSecretName: `<prefix>-<fnv32a(repo + project)>`), `util/db/cluster.go`
(clusterToSecret, SecretToCluster; the Secret is named URIToSecretName("cluster", server), i.e.
`cluster-<host>-<fnv32a(server)>`) and `common/common.go` (the `argocd.argoproj.io/secret-type` label and its
values, the `managed-by: argocd.argoproj.io` annotation). Objects are the simulator's dicts: a Go struct's JSON
with `omitempty` (zero values absent), so what a Secret decodes to is what Argo CD's API would hold.
"""

from __future__ import annotations

import ipaddress
import json
import re
from typing import Any

SECRET_TYPE = "argocd.argoproj.io/secret-type"
MANAGED_BY, ARGOCD = "managed-by", "argocd.argoproj.io"
LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"
REFRESH = "argocd.argoproj.io/refresh"
REPOSITORY, REPO_CREDS = "repository", "repo-creds"
REPOSITORY_WRITE, REPO_CREDS_WRITE = "repository-write", "repo-write-creds"
CLUSTER = "cluster"
PREFIXES = {REPOSITORY: "repo", REPOSITORY_WRITE: "repo-write", REPO_CREDS: "creds", REPO_CREDS_WRITE: "creds-write"}

# (object field, Secret data key, kind) in repositoryToSecret's order; kind s(tring), b(ool), i(nt)
REPOSITORY_KEYS = tuple(
    (f, k or f, t)
    for f, k, t in (
        ("name", "", "s"), ("project", "", "s"), ("repo", "url", "s"), ("username", "", "s"), ("password", "", "s"),
        ("bearerToken", "", "s"), ("sshPrivateKey", "", "s"), ("enableOCI", "", "b"), ("insecureOCIForceHttp", "", "b"),
        ("tlsClientCertData", "", "s"), ("tlsClientCertKey", "", "s"), ("type", "", "s"),
        ("githubAppPrivateKey", "", "s"), ("githubAppID", "", "i"), ("githubAppInstallationID", "", "i"),
        ("githubAppEnterpriseBaseUrl", "", "s"), ("insecureIgnoreHostKey", "", "b"), ("insecure", "", "b"),
        ("enableLfs", "", "b"), ("proxy", "", "s"), ("noProxy", "", "s"), ("gcpServiceAccountKey", "", "s"),
        ("forceHttpBasicAuth", "", "b"), ("useAzureWorkloadIdentity", "", "b"), ("depth", "", "i"),
        ("webhookManifestCacheWarmDisabled", "", "b"), ("azureServicePrincipalClientId", "", "s"),
        ("azureServicePrincipalClientSecret", "", "s"), ("azureServicePrincipalTenantId", "", "s"),
        ("azureActiveDirectoryEndpoint", "", "s"),
    )
)  # fmt: skip
# repoCredsToSecret: note the `...ClientID`/`...TenantID` spelling of two data keys
REPO_CREDS_KEYS = tuple(
    (f, k or f, t)
    for f, k, t in (
        ("url", "", "s"), ("username", "", "s"), ("password", "", "s"), ("bearerToken", "", "s"),
        ("sshPrivateKey", "", "s"), ("enableOCI", "", "b"), ("insecureOCIForceHttp", "", "b"),
        ("tlsClientCertData", "", "s"), ("tlsClientCertKey", "", "s"), ("type", "", "s"),
        ("githubAppPrivateKey", "", "s"), ("githubAppID", "", "i"), ("githubAppInstallationID", "", "i"),
        ("githubAppEnterpriseBaseUrl", "", "s"), ("gcpServiceAccountKey", "", "s"), ("proxy", "", "s"),
        ("noProxy", "", "s"), ("forceHttpBasicAuth", "", "b"), ("useAzureWorkloadIdentity", "", "b"),
        ("azureServicePrincipalClientId", "azureServicePrincipalClientID", "s"),
        ("azureServicePrincipalClientSecret", "", "s"),
        ("azureServicePrincipalTenantId", "azureServicePrincipalTenantID", "s"),
        ("azureActiveDirectoryEndpoint", "", "s"),
    )
)  # fmt: skip
TRUE, FALSE = ("1", "t", "T", "TRUE", "true", "True"), ("0", "f", "F", "FALSE", "false", "False")  # strconv.ParseBool
Data = dict[str, bytes]


class SecretFormatError(ValueError):
    """A labelled Secret Argo CD cannot read (a bad bool, int or config JSON); the message names the key only."""


def fnv32a(data: bytes) -> int:
    value = 0x811C9DC5
    for byte in data:
        value = ((value ^ byte) * 0x01000193) & 0xFFFFFFFF
    return value


def repo_url_to_secret_name(prefix: str, repo: str, project: str) -> str:
    """RepoURLToSecretName: the URL as given (not normalised) and the project, hashed together."""
    return f"{prefix}-{fnv32a(repo.encode() + project.encode())}"


def uri_to_secret_name(uri_type: str, uri: str) -> str:
    """URIToSecretName: `<type>-<lower-case host without port>-<fnv32a(uri)>`; ValueError where Go's
    url.ParseRequestURI fails (no scheme and not an absolute path)."""
    if uri.startswith("/"):
        host = ""
    elif re.match(r"^[A-Za-z][A-Za-z0-9+.\-]*:", uri):
        rest = uri.split(":", 1)[1]
        host = rest[2:].split("/", 1)[0].split("?", 1)[0].rsplit("@", 1)[-1] if rest.startswith("//") else ""
    else:
        raise ValueError(f'parse "{uri}": invalid URI for request')
    if host.startswith("["):
        end = host.find("]")
        if end >= 0:
            try:
                host = str(ipaddress.ip_address(host[1:end].split("%", 1)[0])).replace(":", "-")
            except ValueError as err:
                raise ValueError(f'ParseAddr("{host[1:end]}"): {err}') from None
    elif ":" in host:
        host = host[: host.index(":")]
    return f"{uri_type}-{host.lower()}-{fnv32a(uri.encode())}"


def _text(value: bytes) -> str:
    return value.decode("utf-8", "replace")


def _go(value: Any, kind: str) -> str:
    if kind == "b":
        return "true" if value else "false"
    if kind == "i":
        return str(int(value or 0))
    return str(value or "")


def _zero(value: Any) -> bool:
    return value in (None, "", False, 0, [], {})


def to_data(keys: tuple[tuple[str, str, str], ...], obj: dict[str, Any], data: Data) -> Data:
    """updateSecretString/Bool/Int over `keys`: write a key when it is present or the value is not zero."""
    out = dict(data)
    for field, key, kind in keys:
        value = obj.get(field)
        if key in out or not _zero(value):
            out[key] = _go(value, kind).encode()
    return out


def from_data(keys: tuple[tuple[str, str, str], ...], data: Data) -> dict[str, Any]:
    """secretToRepository / secretToRepoCred: strings as they are, bools by ParseBool, ints by ParseInt."""
    out: dict[str, Any] = {}
    for field, key, kind in keys:
        if key not in data:
            continue
        text = _text(data[key])
        if kind == "b":
            if text not in TRUE + FALSE:
                raise SecretFormatError(f'strconv.ParseBool: parsing "{key}": invalid syntax')
            value: Any = text in TRUE
        elif kind == "i":
            if not re.fullmatch(r"[+-]?\d+", text):
                raise SecretFormatError(f'strconv.ParseInt: parsing "{key}": invalid syntax')
            value = int(text)
        else:
            value = text
        if not _zero(value):
            out[field] = value
    if keys is REPOSITORY_KEYS:
        out.setdefault("repo", "")
    else:
        out.setdefault("url", "")
    return out


def secret_metadata(labels: dict[str, str] | None, annotations: dict[str, str] | None, kind: str) -> dict[str, Any]:
    """addSecretMetadata: the `managed-by` annotation and the secret-type label, over what the Secret had."""
    return {
        "labels": {**(labels or {}), SECRET_TYPE: kind},
        "annotations": {**(annotations or {}), MANAGED_BY: ARGOCD},
    }


# clusters -------------------------------------------------------------------------------------------------

_TLS = ("insecure", "serverName", "certData", "keyData", "caData")
_AWS = ("clusterName", "roleARN", "profile")
_EXEC = ("command", "args", "env", "apiVersion", "installHint", "provideClusterInfo", "config")


def go_config(config: Any) -> dict[str, Any]:
    """A ClusterConfig through Go's json.Marshal: known fields in struct order, empty ones omitted,
    `tlsClientConfig` (not omitempty) always there with `insecure`."""
    config = config if isinstance(config, dict) else {}
    out: dict[str, Any] = {k: config[k] for k in ("username", "password", "bearerToken") if config.get(k)}
    tls = config.get("tlsClientConfig") or {}
    out["tlsClientConfig"] = {"insecure": bool(tls.get("insecure"))} | {k: tls[k] for k in _TLS[1:] if tls.get(k)}
    if isinstance(config.get("awsAuthConfig"), dict):
        out["awsAuthConfig"] = {k: config["awsAuthConfig"][k] for k in _AWS if config["awsAuthConfig"].get(k)}
    if isinstance(config.get("execProviderConfig"), dict):
        exec_config = config["execProviderConfig"]
        out["execProviderConfig"] = {k: exec_config[k] for k in _EXEC if not _zero(exec_config.get(k))}
        if "env" in out["execProviderConfig"]:
            out["execProviderConfig"]["env"] = dict(sorted(out["execProviderConfig"]["env"].items()))
    for key in ("disableCompression", "proxyUrl"):
        if config.get(key):
            out[key] = config[key]
    return out


def go_json(value: Any) -> bytes:
    """encoding/json's bytes: compact, `<`, `>`, `&`, U+2028 and U+2029 escaped."""
    text = json.dumps(value, separators=(",", ":"), ensure_ascii=False)
    for raw, escaped in (
        ("<", "\\u003c"),
        (">", "\\u003e"),
        ("&", "\\u0026"),
        ("\u2028", "\\u2028"),
        ("\u2029", "\\u2029"),
    ):
        text = text.replace(raw, escaped)
    return text.encode()


def cluster_to_secret(cluster: dict[str, Any]) -> tuple[Data, dict[str, str], dict[str, str]]:
    """clusterToSecret: (data, labels, annotations); the data is replaced whole, labels and annotations are the
    cluster's own plus Argo CD's metadata."""
    if LAST_APPLIED in (cluster.get("annotations") or {}):
        raise SecretFormatError(f"annotation {LAST_APPLIED} cannot be set")
    server = cluster.get("server", "")
    data: Data = {"server": server.rstrip("/").encode(), "name": (cluster.get("name") or server).encode()}
    if cluster.get("namespaces"):
        data["namespaces"] = ",".join(cluster["namespaces"]).encode()
    data["config"] = go_json(go_config(cluster.get("config")))
    if cluster.get("shard") is not None:
        data["shard"] = str(int(cluster["shard"])).encode()
    if cluster.get("clusterResources"):
        data["clusterResources"] = b"true"
    if cluster.get("project"):
        data["project"] = cluster["project"].encode()
    annotations = dict(cluster.get("annotations") or {})
    if cluster.get("refreshRequestedAt"):
        annotations[REFRESH] = cluster["refreshRequestedAt"]
    else:
        annotations.pop(REFRESH, None)
    meta = secret_metadata(cluster.get("labels"), annotations, CLUSTER)
    return data, meta["labels"], meta["annotations"]


def secret_to_cluster(data: Data, labels: dict[str, str], annotations: dict[str, str]) -> dict[str, Any]:
    """SecretToCluster, as the cluster's JSON (the Secret's uid, Go's `ID`, is `json:"-"`)."""
    try:
        config = json.loads(data["config"]) if data.get("config") else {}
    except ValueError:
        raise SecretFormatError("failed to unmarshal cluster config") from None
    out: dict[str, Any] = {
        "server": _text(data.get("server", b"")).rstrip("/"),
        "name": _text(data.get("name", b"")),
        "config": go_config(config),
    }
    namespaces = [n.strip() for n in _text(data.get("namespaces", b"")).split(",") if n.strip()]
    if namespaces:
        out["namespaces"] = namespaces
    if annotations.get(REFRESH):
        out["refreshRequestedAt"] = annotations[REFRESH]
    if "shard" in data and _text(data["shard"]).lstrip("-").isdigit():
        out["shard"] = int(_text(data["shard"]))
    if _text(data.get("clusterResources", b"")) == "true":
        out["clusterResources"] = True
    if data.get("project"):
        out["project"] = _text(data["project"])
    kept_labels = {k: v for k, v in labels.items() if k != SECRET_TYPE}
    kept_annotations = {k: v for k, v in annotations.items() if k not in (LAST_APPLIED, MANAGED_BY)}
    if kept_labels:
        out["labels"] = kept_labels
    if kept_annotations:
        out["annotations"] = kept_annotations
    return out
