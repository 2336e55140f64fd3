"""Seeding goes through the simulator's own handlers, so seeds obey the API's rules; the demo instance loads."""

from __future__ import annotations

import pytest
import requests
import yaml

from drkit.testing import Simulator, seed


@pytest.fixture(scope="module")
def demo() -> dict:
    return seed.read("demo")


def test_demo_loads_every_kind(demo):
    """§5 restore order: the demo document loads through the API into a fresh instance (§3)."""
    with Simulator(controller=False) as sim:
        sim.seed(demo)
        assert {"platform", "team-a", "monitoring", "default"} <= set(sim.projects)
        assert len(sim.applications) >= 12
        assert ("team-a", "api") in sim.applications and "team-a" in sim.app_namespaces
        assert len(sim.applicationsets) == 2
        assert len(sim.repositories) == len(demo["repositories"])
        assert len(sim.repocreds) == 2 and len(sim.clusters) == 2
        posts = [path for method, path in sim.gateway.mutating_requests() if method == "POST"]
        assert posts.count("/api/v1/applications") == len(demo["applications"])
        assert posts.count("/api/v1/projects") == len(demo["projects"])


def test_demo_secrets_are_stored_and_sync_hints_applied(demo):
    """§2.2: seeded apps start OutOfSync/Missing unless `x-synced: true`; secrets are held in state."""
    with Simulator() as sim:
        sim.seed(demo)
        root = sim.applications[("argocd", "root-apps")]
        assert root["status"]["sync"]["status"] == "Synced" and root["status"]["health"]["status"] == "Healthy"
        assert "x-synced" not in root
        passwords = [r.get("password") for r in sim.repositories.values()]
        assert "demo-password-2" in passwords
        assert sim.clusters["https://prod.k8s.example.com:6443"]["config"]["bearerToken"] == "demo-password-5"


def test_load_refuses_what_the_api_refuses(tmp_path):
    """§6.12: a seed app in a missing project fails like a client would, naming the object."""
    path = tmp_path / "seed.yaml"
    path.write_text(
        yaml.safe_dump(
            {
                "applications": [
                    {
                        "metadata": {"name": "orphan"},
                        "spec": {
                            "project": "ghost",
                            "source": {"repoURL": "https://git.example.com/a.git", "path": "."},
                            "destination": {"server": "https://kubernetes.default.svc", "namespace": "x"},
                        },
                    }
                ]
            }
        )
    )
    with Simulator(controller=False) as sim, pytest.raises(seed.SeedError) as err:
        sim.seed(seed.read(str(path)))
    assert "orphan" in str(err.value) and "400" in str(err.value)
    assert "does not exist" in str(err.value)


def test_seeded_app_without_hint_is_out_of_sync(tmp_path):
    """§6.26: after load an app without `x-synced` is OutOfSync/Missing until synced."""
    document = {
        "projects": [
            {
                "metadata": {"name": "p"},
                "spec": {"sourceRepos": ["*"], "destinations": [{"server": "*", "namespace": "*"}]},
            }
        ],
        "applications": [
            {
                "metadata": {"name": "plain"},
                "spec": {
                    "project": "p",
                    "source": {"repoURL": "https://git.example.com/a.git", "path": "."},
                    "destination": {"server": "https://kubernetes.default.svc", "namespace": "x"},
                },
            }
        ],
    }
    with Simulator() as sim:
        sim.seed(document)
        app = requests.get(
            f"{sim.url}/api/v1/applications/plain?refresh=normal",
            headers={"Authorization": f"Bearer {sim.token}"},
            timeout=10,
        ).json()
    assert app["status"]["sync"]["status"] == "OutOfSync"
    assert app["status"]["health"]["status"] == "Missing"
