"""A large simulated Argo CD instance for the benchmarks: N applications over a few projects and repositories."""

from __future__ import annotations

import base64
import functools
import hashlib
from typing import Any

from drkit.testing import Simulator
from drkit.testing.app_status import add_real_status, resource_count
from drkit.testing.seed import load

TOKEN = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhZG1pbjphcGlLZXkifQ.bench"


def seed_document(apps: int, projects: int = 10, repositories: int = 0) -> dict[str, Any]:
    """A seed with `apps` Helm and directory applications, each with inline values (real-sized specs); with
    `repositories`, that many more repositories with credentials of their own (`credentialed`)."""
    repos = [f"https://git.example.com/team-{i}/deploy.git" for i in range(projects)]
    doc: dict[str, Any] = {
        "repocreds": [{"url": "https://git.example.com/", "username": "bot", "password": "bench-secret"}],
        "repositories": [{"repo": url, "type": "git"} for url in repos],
        "clusters": [
            {
                "server": f"https://cluster-{i}.example.com:6443",
                "name": f"cluster-{i}",
                "config": {"bearerToken": "bench-cluster-token", "tlsClientConfig": {"insecure": True}},
            }
            for i in range(3)
        ],
        "projects": [
            {
                "metadata": {"name": f"team-{i}"},
                "spec": {"sourceRepos": [repos[i]], "destinations": [{"server": "*", "namespace": f"team-{i}-*"}]},
            }
            for i in range(projects)
        ],
        "applications": [],
    }
    doc["repositories"] += [
        {"repo": url, "type": "git", **fields} for url, fields in credentialed(repositories).items()
    ]
    for n in range(apps):
        team = n % projects
        source: dict[str, Any] = {"repoURL": repos[team], "targetRevision": "main", "path": f"apps/app-{n}"}
        if n % 2:
            source["helm"] = {
                "releaseName": f"app-{n}",
                "valueFiles": ["values.yaml", "values-prod.yaml"],
                "parameters": [{"name": "image.tag", "value": f"1.{n % 50}.0"}],
                "values": f"replicaCount: {1 + n % 3}\nresources:\n  limits:\n    memory: 256Mi\n",
            }
        doc["applications"].append(
            {
                "metadata": {
                    "name": f"app-{n:05d}",
                    "labels": {"team": f"team-{team}", "tier": "backend"},
                    "finalizers": ["resources-finalizer.argocd.argoproj.io"],
                },
                "spec": {
                    "project": f"team-{team}",
                    "source": source,
                    "destination": {
                        "server": f"https://cluster-{n % 3}.example.com:6443",
                        "namespace": f"team-{team}-app-{n}",
                    },
                    "syncPolicy": {"syncOptions": ["CreateNamespace=true"]},
                },
                "x-synced": True,
            }
        )
    return doc


def start(
    apps: int = 0,
    port: int = 0,
    reconcile_seconds: float = 0.02,
    *,
    real_status: bool = False,
    only: int = 0,
    **capacity: Any,
) -> Simulator:
    """A started simulator holding `apps` applications (0: a fresh, empty instance).

    `capacity` takes the Simulator's capacity options, e.g. operation_processors=20, sync_seconds=1.0,
    server_cost=ServerCost(validate=0.3), to bench against a controller of a real instance's pace. With
    `real_status`, each app carries a real instance's status (drkit/testing/app_status.py); with `only`, just
    the `only` apps of the `apps` whose status is largest, for a floor measured on the largest objects.
    """
    sim = Simulator(token=TOKEN, reconcile_seconds=reconcile_seconds, **capacity)
    if apps:
        document = seed_document(apps)
        if only:
            document["applications"] = largest(document["applications"], only)
        load(sim, document)
    if real_status:
        add_real_status(sim)
    return sim.start(port)


def largest(apps: list[dict[str, Any]], count: int) -> list[dict[str, Any]]:
    """The `count` apps that get the most resources (the draw is seeded by the app's namespace/name)."""

    return sorted(apps, key=lambda app: resource_count("argocd", app["metadata"]["name"]))[-count:]


@functools.cache  # OpenSSH's format holds a random check number: the same key is written the same way once
def credentialed(count: int) -> dict[str, dict[str, str]]:
    """`count` repositories with credentials of their own, by URL, as a real instance holds them: every other one
    over HTTPS with a username and a 40-character token, the others over SSH with an ed25519 OpenSSH private key
    (387 bytes). Each key is derived from the repository's number; the credentials file gets the same values."""
    repos: dict[str, dict[str, str]] = {}
    for n in range(count):
        digest = hashlib.sha256(f"bench-repository-{n}".encode()).digest()
        if n % 2:
            repos[f"git@git.internal.example.com:services/svc-{n:05d}.git"] = {"sshPrivateKey": ssh_key(digest)}
        else:
            token = "ghp_" + base64.b32encode(digest).decode().lower()[:36]
            repos[f"https://git.internal.example.com/services/svc-{n:05d}.git"] = {"username": "ci", "password": token}
    return repos


def ssh_key(seed: bytes) -> str:
    """An unencrypted ed25519 private key in OpenSSH format, from a 32-byte seed."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    key = Ed25519PrivateKey.from_private_bytes(seed)
    encoding, form = serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH
    return key.private_bytes(encoding, form, serialization.NoEncryption()).decode()


def credentials_file(path: str, repositories: int = 0) -> str:
    """A credentials file for the benchmark instance's repocreds and clusters (and its `repositories` ones)."""
    lines = ["repocreds:", "  https://git.example.com/:", "    password: bench-secret", "clusters:"]
    for i in range(3):
        lines += [f"  https://cluster-{i}.example.com:6443:", "    bearerToken: bench-cluster-token"]
    if repositories:
        lines.append("repositories:")
    for url, fields in credentialed(repositories).items():
        lines.append(f"  {url}:")
        if "password" in fields:
            lines.append(f"    password: {fields['password']}")
        else:
            lines += ["    sshPrivateKey: |", *(f"      {line}" for line in fields["sshPrivateKey"].splitlines())]
    with open(path, "w", encoding="utf-8") as fh:
        fh.write("\n".join(lines) + "\n")
    return path


def target_args(sim: Simulator, store: str) -> list[str]:
    """The flags that point a drkit command at `sim` and `store`, instance `bench`."""
    return ["--server", sim.address, "--plaintext", "--auth-token", TOKEN, "--store", store, "--instance", "bench"]
