"""Real-size Application status for scale tests: a long tail of managed resources, ten history entries, conditions.

A real app's `status` is most of its size in the app list: users report about 30 KB per app on average, with
apps of thousands of resources reaching hundreds of KB (argo-cd #28090, #4868). The shapes follow a real
Application's status (shared/reference/argocd/examples/controller/testdata/diff-cache.yaml): `resources`
entries of group/version/kind/namespace/name/status/health, `history` entries with the deployed source,
`conditions`, `summary.images`. The number of resources per app is Pareto-distributed from 40, clipped at
1,500, so about 15 KB per app on average; every draw is seeded by the app's name, so a run is reproducible.
"""

from __future__ import annotations

import copy
import random
from typing import Any

MIN_RESOURCES, MAX_RESOURCES, TAIL = 40, 1500, 2.2  # Pareto shape: mean about 73 resources
HISTORY = 10  # the controller keeps revisionHistoryLimit (default 10) entries
# (group, version, kind, has health): kinds a Helm chart commonly renders
KINDS = (
    ("apps", "v1", "Deployment", True),
    ("", "v1", "Service", True),
    ("", "v1", "ConfigMap", False),
    ("", "v1", "Secret", False),
    ("", "v1", "ServiceAccount", False),
    ("rbac.authorization.k8s.io", "v1", "RoleBinding", False),
    ("networking.k8s.io", "v1", "Ingress", True),
    ("autoscaling", "v2", "HorizontalPodAutoscaler", True),
    ("policy", "v1", "PodDisruptionBudget", True),
    ("batch", "v1", "CronJob", True),
)


def resource_count(namespace: str, name: str) -> int:
    """How many resources the app `namespace/name` manages: a Pareto draw seeded by its name."""
    return min(MAX_RESOURCES, int(MIN_RESOURCES * random.Random(f"{namespace}/{name}").paretovariate(TAIL)))


def _resources(name: str, namespace: str, count: int) -> list[dict[str, Any]]:
    out = []
    for i in range(count):
        group, version, kind, health = KINDS[i % len(KINDS)]
        entry: dict[str, Any] = {"kind": kind, "name": f"{name}-{kind.lower()}-{i}", "namespace": namespace}
        entry.update({"group": group} if group else {})
        entry.update(status="Synced", version=version)
        if health:
            entry["health"] = {"status": "Healthy"}
        out.append(entry)
    return out


def _history(spec: dict[str, Any], rng: random.Random) -> list[dict[str, Any]]:
    source = spec.get("source") or (spec.get("sources") or [{}])[0]
    entries = []
    for i in range(HISTORY):
        at = f"2026-11-{1 + i:02d}T02:{rng.randrange(60):02d}:{rng.randrange(60):02d}Z"
        who = {"automated": True} if i % 3 else {"username": "admin"}
        revision = f"{rng.getrandbits(160):040x}"
        entries.append(
            {
                "deployStartedAt": at,
                "deployedAt": at,
                "id": i,
                "initiatedBy": who,
                "revision": revision,
                "source": source,
            }
        )
    return entries


def _conditions(name: str, rng: random.Random) -> list[dict[str, Any]]:
    found = [
        {
            "lastTransitionTime": "2026-11-30T03:12:44Z",
            "message": f"ConfigMap/{name}-shared-{i} is part of applications argocd/{name} and argocd/{name}-legacy",
            "type": "SharedResourceWarning",
        }
        for i in range(rng.randrange(3))
    ]
    if rng.random() < 0.3:
        found.append(
            {
                "lastTransitionTime": "2026-11-30T03:12:44Z",
                "message": f"Application has {rng.randrange(1, 9)} orphaned resources",
                "type": "OrphanedResourceWarning",
            }
        )
    return found


def real_status(app: dict[str, Any]) -> dict[str, Any]:
    """`app`'s status with the resources, history, conditions and summary of a real instance's app."""
    meta, spec = app["metadata"], app.get("spec", {})
    rng = random.Random(f"{meta['namespace']}/{meta['name']}/status")
    namespace = spec.get("destination", {}).get("namespace") or meta["name"]
    status = copy.deepcopy(app.get("status", {}))
    status["resources"] = _resources(meta["name"], namespace, resource_count(meta["namespace"], meta["name"]))
    status["history"] = _history(spec, rng)
    status["conditions"] = _conditions(meta["name"], rng)
    status["summary"] = {"images": [f"registry.example.com/{meta['name']}/{p}:1.{rng.randrange(40)}" for p in "ab"]}
    status.update(sourceType="Helm" if (spec.get("source") or {}).get("helm") else "Directory")
    status["controllerNamespace"] = "argocd"
    return status


def add_real_status(sim: Any) -> None:
    """Give every app of `sim` (a State) a real-size status; the controller keeps what it does not own."""
    with sim.lock:
        for key, app in list(sim.applications.items()):
            new = dict(app, metadata=copy.deepcopy(app["metadata"]), status=real_status(app))
            sim.put_app(key, new, app)
        sim.pending.clear()  # nothing changed that the controller needs to look at
