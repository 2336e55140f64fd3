"""Argo CD's settings database over its namespace's Secrets: the one store of repositories, templates and clusters.

As `util/db` and `util/settings` (argoproj/argo-cd v3.5.1) do, the simulated Argo CD keeps every repository,
credential template (read and write) and cluster as a Secret labelled `argocd.argoproj.io/secret-type` in its
namespace of the simulated cluster (kube/store.py), and reads them back through an informer: `SecretIndex`
hears every Secret write, whoever made it (the Argo CD API or a client of the Kubernetes API), and keeps each
labelled Secret decoded (secret_codec.py). So a repository created through the Argo CD API is at once a labelled
Secret, and a labelled Secret written through the Kubernetes API is at once a repository the API lists and uses.

`SecretView` is the dict-like face the handlers and tests use (`state.repositories[(normalize_url(url),
project)]`, `state.repocreds[url]`, `state.clusters[server]`): reading decodes nothing, writing goes through the
Store as Argo CD's service account would (manager `argocd-server`): an existing Secret for the key is updated
in place (its name, uid and foreign keys kept, as repositoryToSecret updates a copy of it), otherwise one is
created under Argo CD's name for it; deleting follows db.deleteSecret (a Secret without the `managed-by:
argocd.argoproj.io` annotation only loses its label). Repositories match by `git.SameURL` and project, as
getRepositorySecret does; several Secrets with one key (which Argo CD allows) all show in `every()`, the view
shows the first. A Secret Argo CD cannot decode is skipped, as its informer logs and skips it.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Callable, Iterator, MutableMapping
from typing import Any

from drkit.testing import secret_codec as codec
from drkit.testing.kube.status import KubeError
from drkit.testing.kube.store import Store, decoded, encode
from drkit.testing.rpc import (
    ABORTED,
    ALREADY_EXISTS,
    FAILED_PRECONDITION,
    INTERNAL,
    INVALID_ARGUMENT,
    NOT_FOUND,
    PERMISSION_DENIED,
    UNAUTHENTICATED,
    GrpcError,
)

MANAGER = "argocd-server"
ARGOCD_SECRET = "argocd-secret"
# util/grpc/errors.go kubeErrToGRPC
KUBE_TO_GRPC = {
    "NotFound": NOT_FOUND, "AlreadyExists": ALREADY_EXISTS, "Invalid": INVALID_ARGUMENT,
    "BadRequest": FAILED_PRECONDITION, "Conflict": ABORTED, "Forbidden": PERMISSION_DENIED,
    "Unauthorized": UNAUTHENTICATED,
}  # fmt: skip
_SCP_LIKE = re.compile(r"^[\w.\-]+@[\w.\-]+:(?!\d+/)")
Key = Any


def normalize_url(url: str) -> str:
    """A repo URL as git.NormalizeGitURL makes it: lower case, no `.git`, `git@host:x` as `git@host/x`."""
    url = url.strip().lower()
    if _SCP_LIKE.match(url):
        url = url.replace(":", "/", 1)
    url = url.removeprefix("ssh://")
    return url.removesuffix(".git")


def same_url(a: str, b: str) -> bool:
    """git.SameURL: do two repo URLs name the same repository?"""
    return normalize_url(a) == normalize_url(b)


def normalize_server(server: str) -> str:
    """A cluster server URL as Argo CD stores it: trailing `/` trimmed."""
    return server.rstrip("/")


def plain(obj: dict[str, Any]) -> dict[str, Any]:
    """An object as a Go struct holds it: zero values are no different from absent ones (reflect.DeepEqual)."""
    return {k: v for k, v in obj.items() if v not in (None, "", False, 0, [], {})}


def grpc_error(err: KubeError) -> GrpcError:
    """A Kubernetes API error as Argo CD's interceptor turns it into a gRPC status (kubeErrToGRPC)."""
    return GrpcError(KUBE_TO_GRPC.get(err.reason, INTERNAL), err.message)


class Kind:
    """How one secret type maps to objects: its label value, decoding, encoding, key and Secret name."""

    def __init__(
        self,
        label: str,
        key: Callable[[dict[str, Any]], Key],
        decode: Callable[[dict[str, Any]], dict[str, Any]],
        encode: Callable[[dict[str, Any], dict[str, Any] | None], dict[str, Any]],
        name: Callable[[dict[str, Any]], str],
        exists: Callable[[dict[str, Any]], str],
    ) -> None:
        self.label, self.key, self.decode, self.encode, self.name = label, key, decode, encode, name
        self.exists = exists  # the AlreadyExists message of Argo CD's create


def _repository_kind(label: str) -> Kind:
    def encode_repo(repo: dict[str, Any], existing: dict[str, Any] | None) -> dict[str, Any]:
        meta = (existing or {}).get("metadata", {})
        data = codec.to_data(codec.REPOSITORY_KEYS, repo, decoded(existing) if existing else {})
        return {"data": data, **codec.secret_metadata(meta.get("labels"), meta.get("annotations"), label)}

    return Kind(
        label,
        key=lambda r: (normalize_url(r["repo"]), r.get("project", "")),
        decode=lambda s: codec.from_data(codec.REPOSITORY_KEYS, decoded(s)),
        encode=encode_repo,
        name=lambda r: codec.repo_url_to_secret_name(codec.PREFIXES[label], r["repo"], r.get("project", "")),
        exists=lambda r: f'repository "{r["repo"]}" already exists',
    )


def _creds_kind(label: str) -> Kind:
    def encode_creds(creds: dict[str, Any], existing: dict[str, Any] | None) -> dict[str, Any]:
        meta = (existing or {}).get("metadata", {})
        data = codec.to_data(codec.REPO_CREDS_KEYS, creds, decoded(existing) if existing else {})
        return {"data": data, **codec.secret_metadata(meta.get("labels"), meta.get("annotations"), label)}

    return Kind(
        label,
        key=lambda c: c["url"],
        decode=lambda s: codec.from_data(codec.REPO_CREDS_KEYS, decoded(s)),
        encode=encode_creds,
        name=lambda c: codec.repo_url_to_secret_name(codec.PREFIXES[label], c["url"], ""),
        exists=lambda c: f'repository credentials "{c["url"]}" already exists',
    )


def _cluster_encode(cluster: dict[str, Any], existing: dict[str, Any] | None) -> dict[str, Any]:
    try:
        data, labels, annotations = codec.cluster_to_secret(cluster)
    except codec.SecretFormatError as err:
        raise GrpcError(INVALID_ARGUMENT, str(err)) from None
    return {"data": data, "labels": labels, "annotations": annotations}


def _cluster_name(cluster: dict[str, Any]) -> str:
    try:
        return codec.uri_to_secret_name("cluster", cluster.get("server", ""))
    except ValueError as err:
        raise GrpcError(2, str(err)) from None  # a plain Go error: Unknown


KINDS = {
    codec.REPOSITORY: _repository_kind(codec.REPOSITORY),
    codec.REPOSITORY_WRITE: _repository_kind(codec.REPOSITORY_WRITE),
    codec.REPO_CREDS: _creds_kind(codec.REPO_CREDS),
    codec.REPO_CREDS_WRITE: _creds_kind(codec.REPO_CREDS_WRITE),
    codec.CLUSTER: Kind(
        codec.CLUSTER,
        key=lambda c: normalize_server(c["server"]),
        decode=lambda s: codec.secret_to_cluster(
            decoded(s), s["metadata"].get("labels") or {}, s["metadata"].get("annotations") or {}
        ),
        encode=_cluster_encode,
        name=_cluster_name,
        exists=lambda c: f'cluster "{c["server"]}" already exists',
    ),
}


def secret_to_request(cluster: dict[str, Any]) -> dict[str, Any]:
    """A cluster as it would read back from its Secret (Go's zero values, config through json.Marshal)."""
    data, labels, annotations = codec.cluster_to_secret(cluster)
    return codec.secret_to_cluster(data, labels, annotations)


class SecretIndex:
    """The informer: every labelled Secret of Argo CD's namespace, decoded, by type and Secret name."""

    def __init__(self, store: Store, namespace: str, on_change: Callable[[], None] | None = None) -> None:
        self.store, self.namespace, self.on_change = store, namespace, on_change
        self.objects: dict[str, dict[str, dict[str, Any]]] = {label: {} for label in KINDS}
        self.keys: dict[str, dict[str, Key]] = {label: {} for label in KINDS}  # label -> secret name -> key
        self.by_key: dict[str, dict[Key, list[str]]] = {label: {} for label in KINDS}  # label -> key -> names
        self.settings: dict[str, bytes] = {}  # argocd-secret's data
        store.listeners.append(self.heard)
        for obj in store.items("secrets", namespace):
            self.heard("ADDED", "secrets", obj)

    def heard(self, event: str, resource: str, obj: dict[str, Any]) -> None:
        meta = obj["metadata"]
        if resource != "secrets" or meta.get("namespace") != self.namespace:
            return
        name = meta["name"]
        if name == ARGOCD_SECRET:
            self.settings = {} if event == "DELETED" else decoded(obj)
        label = (meta.get("labels") or {}).get(codec.SECRET_TYPE)
        for kind in self.objects:
            if kind != label or event == "DELETED":
                self._forget(kind, name)
        if event != "DELETED" and label in KINDS:
            try:
                value = KINDS[label].decode(obj)
                key = KINDS[label].key(value)
            except (codec.SecretFormatError, KeyError):
                self._forget(label, name)
            else:
                if self.keys[label].get(name, key) != key:
                    self._forget(label, name)
                if name not in self.keys[label]:
                    self.by_key[label].setdefault(key, []).append(name)
                self.objects[label][name] = value
                self.keys[label][name] = key
        if self.on_change is not None:
            self.on_change()

    def _forget(self, label: str, name: str) -> None:
        self.objects[label].pop(name, None)
        if name in self.keys[label]:
            key = self.keys[label].pop(name)
            names = self.by_key[label][key]
            names.remove(name)
            if not names:
                del self.by_key[label][key]

    def names(self, label: str, key: Key) -> list[str]:
        """The Secrets of this type whose object has this key, first seen first."""
        return list(self.by_key[label].get(key, ()))


class SecretView(MutableMapping[Key, dict[str, Any]]):
    """The objects of one secret type by key; see the module docstring. Never mutate what it returns."""

    def __init__(self, index: SecretIndex, label: str) -> None:
        self.index, self.label, self.kind = index, label, KINDS[label]

    def __getitem__(self, key: Key) -> dict[str, Any]:
        names = self.index.names(self.label, key)
        if not names:
            raise KeyError(key)
        return self.index.objects[self.label][names[0]]

    def __iter__(self) -> Iterator[Key]:
        return iter(list(self.index.by_key[self.label]))

    def __len__(self) -> int:
        return len(self.index.by_key[self.label])

    def __contains__(self, key: object) -> bool:
        return key in self.index.by_key[self.label]

    def __setitem__(self, key: Key, value: dict[str, Any]) -> None:
        names = self.index.names(self.label, key)
        self.write(value, names[0] if names else None)

    def __delitem__(self, key: Key) -> None:
        names = self.index.names(self.label, key)
        if not names:
            raise KeyError(key)
        self.remove(names[0])

    def __repr__(self) -> str:  # keys only: the values hold credentials
        return f"<{self.label} secrets: {list(self)}>"

    def __copy__(self) -> dict[Key, dict[str, Any]]:
        return dict(self.items())

    def __deepcopy__(self, memo: dict[int, Any]) -> dict[Key, dict[str, Any]]:
        return {k: copy.deepcopy(v, memo) for k, v in self.items()}

    def every(self) -> list[dict[str, Any]]:
        """Every object of this type, one per Secret (duplicates included), oldest Secret first."""
        return list(self.index.objects[self.label].values())

    def secret_name(self, key: Key) -> str | None:
        names = self.index.names(self.label, key)
        return names[0] if names else None

    def create(self, value: dict[str, Any], name: str = "") -> str:
        """Argo CD's create: a new Secret under Argo CD's name (or `name`); gRPC AlreadyExists when that name is
        taken, InvalidArgument when a repository's is taken by a Secret without the label (hasRepoTypeLabel)."""
        name = name or self.kind.name(value)
        existing = self.index.store.find("secrets", self.index.namespace, name)
        if existing is not None:
            unlabelled = codec.SECRET_TYPE not in (existing["metadata"].get("labels") or {})
            if unlabelled and self.label in (codec.REPOSITORY, codec.REPOSITORY_WRITE):
                fix = "please fix the secret or delete it"
                raise GrpcError(
                    INVALID_ARGUMENT, f'secret "{name}" doesn\'t have the proper "{codec.SECRET_TYPE}" label: {fix}'
                )
            raise GrpcError(ALREADY_EXISTS, self.kind.exists(value))
        return self.write(value, None, name)

    def write(self, value: dict[str, Any], name: str | None, new_name: str = "") -> str:
        """Update Secret `name` with the object, or (name None) create one under `new_name` or Argo CD's name."""
        store, namespace = self.index.store, self.index.namespace
        existing = store.find("secrets", namespace, name) if name else None
        name = name or new_name
        parts = self.kind.encode(value, existing)
        body: dict[str, Any] = {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": name or self.kind.name(value), "labels": parts["labels"]},
            "data": encode(parts["data"]),
        }
        if parts["annotations"]:
            body["metadata"]["annotations"] = parts["annotations"]
        try:
            if existing is None:
                store.create("secrets", namespace, body, manager=MANAGER)
            else:
                meta = existing["metadata"]
                body["metadata"].update(
                    {k: meta[k] for k in ("resourceVersion", "ownerReferences", "finalizers") if k in meta}
                )
                body["type"], body["immutable"] = existing.get("type"), existing.get("immutable")
                store.update("secrets", namespace, meta["name"], body, manager=MANAGER)
        except KubeError as err:
            raise grpc_error(err) from None
        return body["metadata"]["name"]

    def remove(self, name: str) -> None:
        """db.deleteSecret: delete a Secret Argo CD manages; from any other, only drop the secret-type label."""
        store, namespace = self.index.store, self.index.namespace
        secret = store.get("secrets", namespace, name)
        meta = secret["metadata"]
        try:
            if (meta.get("annotations") or {}).get(codec.MANAGED_BY) == codec.ARGOCD:
                store.delete("secrets", namespace, name)
            else:
                kept = copy.deepcopy(secret)
                kept["metadata"]["labels"].pop(codec.SECRET_TYPE, None)
                kept["metadata"].pop("managedFields", None)
                store.update("secrets", namespace, name, kept, manager=MANAGER)
        except KubeError as err:
            raise grpc_error(err) from None
