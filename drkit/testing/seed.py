"""Seed a simulator with a document of API bodies, loaded through the simulator's own handlers.

A seed document is YAML/JSON with these optional keys, each a list of exactly what a client would POST:
`certificates` (entries of the `{"items": [...]}` body, certData base64), `gpgkeys` (`{"keyData": armored}`),
`repocreds`, `repositories`, `clusters` (secrets included), `projects` (AppProjects), `applicationsets`,
`applications`. Plus `settings: {app_namespaces: [...]}` to enable apps in more namespaces, and per
application an optional top-level `x-synced: true` to start it Synced/Healthy instead of OutOfSync/Missing.
And `kube`: ConfigMap and Secret manifests, applied first to the simulated cluster (as `kubectl apply` would:
created, or strategic-merged over the fresh install's object of that name), in Argo CD's namespace unless
they name another; a Secret labelled `argocd.argoproj.io/secret-type` is then a repository, template or cluster.

Going through `sim.gateway.handle` means a seed obeys the same validation as a client; `sim.seed` and
`python -m drkit.testing.sim --seed demo` both use `load`. Before returning, `load` runs the controllers'
first pass, so ApplicationSets have generated their apps and every app has a status.
"""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from drkit.testing.controller import mark_synced, settle
from drkit.testing.kube.patch import STRATEGIC
from drkit.testing.kube.status import KubeError

# (document key, API path), in API-NOTES §5 restore order
KINDS: tuple[tuple[str, str], ...] = (
    ("certificates", "/api/v1/certificates?upsert=true"),
    ("gpgkeys", "/api/v1/gpgkeys"),
    ("repocreds", "/api/v1/repocreds"),
    ("repositories", "/api/v1/repositories"),
    ("clusters", "/api/v1/clusters"),
    ("projects", "/api/v1/projects"),
    ("applicationsets", "/api/v1/applicationsets"),
    ("applications", "/api/v1/applications?validate=false"),
)
SYNCED = "x-synced"


class SeedError(RuntimeError):
    """The simulator refused a seed object; the message names the object and quotes the API's answer."""


def read(name_or_path: str) -> dict[str, Any]:
    """The seed document named 'demo' (packaged demo.yaml) or stored at a YAML/JSON path."""
    if name_or_path == "demo":
        text = resources.files("drkit.testing").joinpath("demo.yaml").read_text()
    else:
        text = Path(name_or_path).read_text()
    document = yaml.safe_load(text) or {}
    if not isinstance(document, dict):
        raise SeedError(f"seed {name_or_path}: the document must be a mapping of kinds to lists")
    return document


def _name(kind: str, item: dict[str, Any]) -> str:
    """A human name for an item in error messages (never a secret)."""
    if kind in ("repocreds", "repositories"):
        return str(item.get("url") or item.get("repo"))
    if kind == "clusters":
        return str(item.get("server"))
    if kind == "certificates":
        return f"{item.get('serverName')} ({item.get('certType')}/{item.get('certSubType', '')})"
    if kind == "gpgkeys":
        return "GPG key"
    meta = item.get("metadata", {})
    namespace = meta.get("namespace")
    return f"{namespace}/{meta.get('name')}" if namespace else str(meta.get("name"))


def _post(sim: Any, kind: str, path: str, body: Any, label: str) -> Any:
    headers = {"authorization": f"Bearer {sim.token}", "content-type": "application/json"}
    response = sim.gateway.handle("POST", path, headers, json.dumps(body).encode())
    if response.status != 200:
        answer = response.body.get("message") if isinstance(response.body, dict) else response.body
        raise SeedError(f"seed {kind} {label}: the simulator answered {response.status}: {answer}")
    return response.body


def _apply(sim: Any, manifest: dict[str, Any]) -> None:
    """Create a ConfigMap or Secret, or strategic-merge it over the existing one, through the kube store."""
    meta = manifest.get("metadata") or {}
    namespace, name = meta.get("namespace") or sim.namespace, meta.get("name", "")
    resource = {"ConfigMap": "configmaps", "Secret": "secrets"}.get(manifest.get("kind", ""))
    if resource is None:
        raise SeedError(f"seed kube {manifest.get('kind')} {name}: only ConfigMaps and Secrets are simulated")
    manager = "kubectl-client-side-apply"
    try:
        if sim.kube.find(resource, namespace, name) is None:
            sim.kube.create(resource, namespace, manifest, manager=manager)
        else:
            sim.kube.patch(resource, namespace, name, STRATEGIC, json.dumps(manifest).encode(), manager=manager)
    except KubeError as err:  # Status messages name keys, never values
        raise SeedError(
            f"seed kube {resource} {namespace}/{name}: the API answered {err.code}: {err.message}"
        ) from None


def load(sim: Any, document: dict[str, Any]) -> None:
    """Create every object of `document` through the API handlers, in restore order; raise SeedError on refusal."""
    namespaces = (document.get("settings") or {}).get("app_namespaces") or []
    for namespace in namespaces:
        if namespace not in sim.app_namespaces:
            sim.app_namespaces.append(namespace)
        sim.kube.add_namespace(namespace)
    for manifest in document.get("kube") or []:
        _apply(sim, manifest)
    for kind, path in KINDS:
        items = document.get(kind) or []
        if kind == "certificates" and items:
            _post(sim, kind, path, {"items": items}, f"{len(items)} entries")
            continue
        for item in items:
            item = dict(item)
            synced = bool(item.pop(SYNCED, False))
            body = {"project": item, "upsert": True} if kind == "projects" else item
            stored = _post(sim, kind, path, body, _name(kind, item))
            if kind == "applications" and synced:
                meta = stored["metadata"]
                mark_synced(sim, (meta["namespace"], meta["name"]))
    settle(sim)  # generated apps exist and every app has a status when load returns
