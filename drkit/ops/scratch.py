"""A scratch Argo CD for `drkit drill --simulate`: the simulator, hosted in this process for one drill.

It is configured as the operator would configure a throwaway instance for this backup: apps enabled in every
namespace the backup's applications live in (`--application-namespaces`, API-NOTES §2 "Apps in any
namespace"), and nothing else. A backup that holds Argo CD's Secrets (`export --kube`) gets a scratch with a
Kubernetes API too, so the drill restores them as `restore --kube` would: the scratch starts with the backup's
signing key, and the drill logs in as admin, as an operator does on an instance whose key was just restored.
"""

from __future__ import annotations

import base64
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from drkit.argocd.client import Client
from drkit.kube.client import KubeClient
from drkit.kube.kinds import SIGNING_KEY
from drkit.ops.drill import Scratch
from drkit.restore.kube import KubeTarget
from drkit.testing.sim import Simulator

NAME = "drkit's in-process Argo CD simulator"


def app_namespaces(objects: dict[str, list[dict[str, Any]]], home: str = "argocd") -> tuple[str, ...]:
    """Namespaces besides Argo CD's own that hold the backup's applications."""
    found = {a.get("metadata", {}).get("namespace") or home for a in objects.get("applications", [])}
    return tuple(sorted(found - {home}))


@contextmanager
def hosted(backup: Any) -> Iterator[Client | Scratch]:
    """A client of a fresh simulator (and, for a --kube backup, its Kubernetes API) for the `with` block."""
    secrets = {s["metadata"]["name"]: s for s in backup.objects.get("secrets", [])}
    with Simulator(app_namespaces=app_namespaces(backup.objects), kube=bool(secrets)) as sim:
        if not secrets:
            yield Client(sim.address, sim.token, plaintext=True)
            return
        key = ((secrets.get("argocd-secret") or {}).get("data") or {}).get(SIGNING_KEY)
        if key:
            sim.secret_key = base64.b64decode(key)
        with tempfile.TemporaryDirectory(prefix="drkit-drill-") as where:
            config = sim.write_kubeconfig(Path(where) / "kubeconfig")
            kube = KubeClient.connect(sim.namespace, kubeconfig=str(config))
            yield Scratch(Client(sim.address, sim.mint_token("admin:login"), plaintext=True), KubeTarget(kube))
