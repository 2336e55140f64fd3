"""Fault injection in the simulator: latency, 503, 429, dropped connections, unreachable repos and clusters."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
import requests

from drkit.testing import Simulator, gateway


def h(sim: Simulator) -> dict[str, str]:
    return {"Authorization": f"Bearer {sim.token}", "Content-Type": "application/json"}


def test_503_fault_answers_every_request(sim: Simulator) -> None:
    """Faults: error_503=1 makes every request a 503, as an overloaded proxy in front of Argo CD would."""
    sim.gateway.faults.error_503 = 1.0
    r = requests.get(sim.url + "/api/v1/repocreds", headers=h(sim))
    assert r.status_code == 503


def test_429_fault_carries_retry_after(sim: Simulator) -> None:
    """Faults: error_429 answers 429 with the configured Retry-After."""
    sim.gateway.faults.error_429 = 1.0
    sim.gateway.faults.retry_after = 7
    r = requests.get(sim.url + "/api/v1/repocreds", headers=h(sim))
    assert (r.status_code, r.headers["Retry-After"]) == (429, "7")


def test_dropped_connection_raises_connection_error(sim: Simulator) -> None:
    """Faults: drop closes the connection without an answer."""
    sim.gateway.faults.drop = 1.0
    with pytest.raises(requests.ConnectionError):
        requests.get(sim.url + "/api/v1/repocreds", headers=h(sim))


def test_truncate_cuts_the_body_halfway_and_max_hits_bounds_the_faults(sim: Simulator) -> None:
    """Faults: truncate sends the headers and half the body, then closes; max_hits=1 hits one request only."""
    sim.gateway.faults.truncate, sim.gateway.faults.max_hits = 1.0, 1
    with pytest.raises(requests.exceptions.ChunkedEncodingError, match="IncompleteRead"):
        requests.get(sim.url + "/api/v1/projects", headers=h(sim))
    assert requests.get(sim.url + "/api/v1/projects", headers=h(sim)).json()["items"]
    assert sim.gateway.faults.max_hits == 0


def test_path_pattern_limits_faults(sim: Simulator) -> None:
    """Faults: only paths matching path_pattern are hit; others are served normally."""
    sim.gateway.faults.error_503 = 1.0
    sim.gateway.faults.path_pattern = r"^/api/v1/clusters"
    assert requests.get(sim.url + "/api/v1/repocreds", headers=h(sim)).status_code == 200
    assert requests.get(sim.url + "/api/v1/clusters", headers=h(sim)).status_code == 503


def test_fractional_faults_are_seeded_and_partial() -> None:
    """Faults: a fraction hits only some requests, reproducibly for a given seed."""
    with Simulator(controller=False) as sim:
        faults = sim.gateway.faults
        faults.error_503, faults.seed = 0.5, 42
        faults.__post_init__()
        codes = [requests.get(sim.url + "/api/version").status_code for _ in range(40)]
    assert 200 in codes and 503 in codes


def test_latency_is_added_only_where_path_pattern_matches(sim: Simulator, monkeypatch: pytest.MonkeyPatch) -> None:
    """Faults: latency sleeps before answering, only on matching paths (the sleep is recorded, not timed)."""
    slept: list[float] = []
    monkeypatch.setattr(gateway, "time", SimpleNamespace(sleep=slept.append))
    sim.gateway.faults.latency = 0.25
    sim.gateway.faults.path_pattern = r"^/api/version$"
    assert requests.get(sim.url + "/api/v1/settings").status_code == 200
    assert slept == []
    assert requests.get(sim.url + "/api/version").status_code == 200
    assert slept == [0.25]


def test_unreachable_repo_fails_create_and_lists_failed(sim: Simulator) -> None:
    """§6.41: `sim.unreachable` fails the repo connection test at create and marks the repo Failed."""
    repo = "https://git.example.com/app.git"
    sim.unreachable.add(repo)
    r = requests.post(sim.url + "/api/v1/repositories", headers=h(sim), json={"repo": repo, "type": "git"})
    assert r.status_code == 500
    sim.unreachable.clear()
    assert requests.post(sim.url + "/api/v1/repositories", headers=h(sim), json={"repo": repo, "type": "git"}).ok
    sim.unreachable.add(repo)
    (item,) = requests.get(sim.url + "/api/v1/repositories", headers=h(sim)).json()["items"]
    assert item["connectionState"]["status"] == "Failed"


def test_unreachable_cluster_fails_create_and_update(sim: Simulator) -> None:
    """§6.44: `sim.unreachable` fails the cluster /version call at create and at update."""
    server = "https://k8s.example.com"
    assert requests.post(sim.url + "/api/v1/clusters", headers=h(sim), json={"server": server}).ok
    sim.unreachable.add(server)
    r = requests.put(
        f"{sim.url}/api/v1/clusters/https%3A%2F%2Fk8s.example.com", headers=h(sim), json={"server": server}
    )
    assert r.status_code == 500
    r = requests.post(sim.url + "/api/v1/clusters?upsert=true", headers=h(sim), json={"server": server, "name": "x"})
    assert r.status_code == 500
    assert sim.clusters[server]["name"] == server
