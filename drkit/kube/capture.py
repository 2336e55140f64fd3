"""Capture: read the ConfigMaps and Secrets a `--kube` backup holds from Argo CD's namespace, normalised.

Everything is read before the backup's first write, so a missing RBAC rule stops the export with nothing written.
Secrets are read only when the backup will hold them (`secrets=True`: the caller checked it is encrypted).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from drkit.kube.client import KubeClient
from drkit.kube.kinds import CONFIGMAPS, NAMED_SECRETS, SECRET_TYPE_LABEL, Doc, normalize, referenced_secrets


@dataclass
class Capture:
    """What was read: objects by kind, in name order, and what a reader of the backup should know."""

    namespace: str
    objects: dict[str, list[Doc]] = field(default_factory=dict)
    secrets: str = "stored"  # or "skipped" (--kube-secrets=skip)
    warnings: list[str] = field(default_factory=list)


def capture(client: KubeClient, *, secrets: bool) -> Capture:
    """The namespace's Argo CD ConfigMaps (those that exist) and, with `secrets`, its Argo CD Secrets."""
    found = Capture(client.namespace, secrets="stored" if secrets else "skipped")
    configmaps = [normalize("configmaps", cm) for name in CONFIGMAPS if (cm := client.get("configmaps", name))]
    found.objects["configmaps"] = configmaps
    if not secrets:
        return found
    picked: dict[str, Doc] = {}
    for name in NAMED_SECRETS:
        if (secret := client.get("secrets", name)) is not None:
            picked[name] = secret
    for secret in client.list("secrets", SECRET_TYPE_LABEL):  # every Secret with the label, whatever its value
        picked[secret["metadata"]["name"]] = secret
    for name in sorted(referenced_secrets(configmaps) - picked.keys()):
        secret = client.get("secrets", name)
        if secret is None:
            found.warnings.append(
                f"secret {client.namespace}/{name}: argocd-cm or argocd-rbac-cm names it (`${name}:...`), but it does "
                "not exist; the setting that names it does not work on the source either"
            )
        else:
            picked[name] = secret
    found.objects["secrets"] = [normalize("secrets", picked[name]) for name in sorted(picked)]
    return found
