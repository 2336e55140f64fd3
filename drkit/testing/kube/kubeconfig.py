"""A kubeconfig file for the simulated cluster: one cluster, one token user, one context with its namespace.

The format is https://kubernetes.io/docs/concepts/configuration/organize-cluster-access-kubeconfig/ (`apiVersion:
v1`, `kind: Config`, `clusters`, `users` with `token`, `contexts` with `namespace`, `current-context`). It is
written as JSON, which is YAML, so client-go, kubectl and the Python client's `load_kube_config` all read it;
the file holds a bearer token, so it is created readable by its owner only.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any


def kubeconfig(server: str, token: str, *, context: str, namespace: str, user: str = "drkit") -> dict[str, Any]:
    """The kubeconfig document."""
    return {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": context, "cluster": {"server": server}}],
        "users": [{"name": user, "user": {"token": token}}],
        "contexts": [{"name": context, "context": {"cluster": context, "user": user, "namespace": namespace}}],
        "current-context": context,
        "preferences": {},
    }


def write(path: str | os.PathLike[str], document: dict[str, Any]) -> Path:
    """Write a kubeconfig document, mode 0600, and return its path."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    descriptor = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w") as out:
        json.dump(document, out, indent=2)
    os.chmod(target, 0o600)
    return target
