"""The Kubernetes kinds a `--kube` backup holds (ConfigMaps and Secrets of Argo CD's namespace): which ones a
capture takes, how each is normalised, what its store key is, and how it is shown without its values.

What is captured is what `argocd admin export` takes, plus what it lost in v3 (the Secrets that settings name):
- the ConfigMaps Argo CD reads its settings from, each only if it exists;
- argocd-secret and argocd-notifications-secret, every Secret labelled `argocd.argoproj.io/secret-type`, and
  every Secret that argocd-cm or argocd-rbac-cm names as `$<secret>:<key>` (Argo CD's settings reference form,
  `util/settings/settings.go` `ReplaceMapSecret`; a bare `$<key>` names a key of argocd-secret).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable
from typing import Any

Doc = dict[str, Any]

CONFIGMAPS = (
    "argocd-cm",
    "argocd-rbac-cm",
    "argocd-cmd-params-cm",
    "argocd-notifications-cm",
    "argocd-ssh-known-hosts-cm",
    "argocd-tls-certs-cm",
    "argocd-gpg-keys-cm",
)
NAMED_SECRETS = ("argocd-secret", "argocd-notifications-secret")
SECRET_TYPE_LABEL = "argocd.argoproj.io/secret-type"
SECRET_TYPES = ("repository", "repo-creds", "repository-write", "repo-write-creds", "cluster")
KUBE_KINDS = ("configmaps", "secrets")  # the store folders; ConfigMaps are written before Secrets
API_KIND = {"configmaps": "ConfigMap", "secrets": "Secret"}
# argocd-secret keys only a restore given --kube itself writes: the token signing key, the admin password, SSO
SIGNING_KEY = "server.secretkey"
# metadata the API server owns, and kubectl's copy of the whole object (for a Secret: every value, in plain text)
SERVER_METADATA = ("uid", "resourceVersion", "generation", "creationTimestamp", "managedFields", "selfLink",
                   "deletionTimestamp", "deletionGracePeriodSeconds", "ownerReferences")  # fmt: skip
VOLATILE_ANNOTATIONS = ("kubectl.kubernetes.io/last-applied-configuration",)
# `$name:key` in a settings value: another Secret's key (a bare `$key` is argocd-secret's own)
_REFERENCE = re.compile(r"\$([a-z0-9]([-a-z0-9.]*[a-z0-9])?):[-._a-zA-Z0-9]+")


def normalize(kind: str, obj: Doc) -> Doc:
    """An object as a backup keeps it: apiVersion and kind set, what the API server owns stripped."""
    meta = obj.get("metadata") or {}
    kept: Doc = {"name": meta["name"], "namespace": meta.get("namespace", "")}
    for field in ("labels", "annotations"):
        values = {k: v for k, v in (meta.get(field) or {}).items() if k not in VOLATILE_ANNOTATIONS}
        if values:
            kept[field] = dict(sorted(values.items()))
    doc: Doc = {"apiVersion": "v1", "kind": API_KIND[kind], "metadata": kept}
    if kind == "secrets":
        doc["type"] = obj.get("type") or "Opaque"
    for field in ("data", "binaryData"):
        if obj.get(field):
            doc[field] = dict(sorted(obj[field].items()))
    if obj.get("immutable"):
        doc["immutable"] = True
    return doc


def key(kind: str, doc: Doc) -> str:
    """The object's store key under a backup: `<kind>/<name>.yaml` (a Kubernetes name is a safe file name)."""
    return f"{kind}/{doc['metadata']['name']}.yaml"


def referenced_secrets(configmaps: Iterable[Doc]) -> set[str]:
    """Secrets that argocd-cm and argocd-rbac-cm name through `$<secret>:<key>` (SSO client secrets, webhooks)."""
    names = set()
    for cm in configmaps:
        if cm["metadata"]["name"] in ("argocd-cm", "argocd-rbac-cm"):
            for value in (cm.get("data") or {}).values():
                names |= {m.group(1) for m in _REFERENCE.finditer(str(value))}
    return names - set(NAMED_SECRETS)


def fingerprint(value: str) -> str:
    """A value shown without itself: `sha256:` and the first 12 hex digits of the sha256 of its bytes."""
    return "sha256:" + hashlib.sha256(value.encode()).hexdigest()[:12]


def summary(doc: Doc) -> Doc:
    """What `show` and messages may print of an object: names, labels and, per key, a fingerprint of its value."""
    meta = doc["metadata"]
    values = {**(doc.get("data") or {}), **(doc.get("binaryData") or {})}
    return {
        "kind": doc.get("kind"),
        "name": meta["name"],
        "namespace": meta.get("namespace", ""),
        "labels": meta.get("labels", {}),
        "keys": {k: fingerprint(v) for k, v in sorted(values.items())},
    }


def differing_keys(backup: Doc, live: Doc | None) -> list[str]:
    """The keys whose values differ between a backup's object and the live one, by name only."""
    if live is None:
        return sorted({**(backup.get("data") or {}), **(backup.get("binaryData") or {})})
    ours = {**(backup.get("data") or {}), **(backup.get("binaryData") or {})}
    theirs = {**(live.get("data") or {}), **(live.get("binaryData") or {})}
    return sorted(k for k in ours.keys() | theirs.keys() if ours.get(k) != theirs.get(k))
