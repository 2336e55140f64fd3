"""Clusters in the simulator (API-NOTES §2.7, §6 items 43-46)."""

from __future__ import annotations

from urllib.parse import quote

import requests

from drkit.testing import Simulator

SERVER = "https://prod.example.com:6443"
FULL = {
    "server": SERVER + "/",
    "name": "prod",
    "namespaces": ["apps"],
    "project": "team",
    "labels": {"env": "prod"},
    "config": {
        "username": "u",
        "password": "p",
        "bearerToken": "t0ken",
        "tlsClientConfig": {
            "insecure": False,
            "serverName": "prod",
            "caData": "Q0E=",
            "certData": "Q0Q=",
            "keyData": "S0Q=",
        },
        "awsAuthConfig": {"clusterName": "prod", "roleARN": "arn:aws:iam::1:role/x"},
        "execProviderConfig": {"command": "aws", "args": ["--secret"], "apiVersion": "client.authentication.k8s.io/v1"},
        "proxyUrl": "http://proxy:3128",
        "disableCompression": True,
    },
}


def h(sim: Simulator) -> dict[str, str]:
    return {"Authorization": f"Bearer {sim.token}", "Content-Type": "application/json"}


def create(sim: Simulator, body: dict, query: str = "") -> requests.Response:
    return requests.post(f"{sim.url}/api/v1/clusters{query}", headers=h(sim), json=body)


def one(sim: Simulator, server: str, query: str = "") -> requests.Response:
    return requests.get(f"{sim.url}/api/v1/clusters/{quote(server, safe='')}{query}", headers=h(sim))


def test_fresh_instance_lists_synthetic_in_cluster(sim: Simulator) -> None:
    """§6.46: a fresh fake lists in-cluster without a stored secret; GET works for it too."""
    (item,) = requests.get(sim.url + "/api/v1/clusters", headers=h(sim)).json()["items"]
    assert (item["server"], item["name"]) == ("https://kubernetes.default.svc", "in-cluster")
    assert sim.clusters == {}
    assert one(sim, "https://kubernetes.default.svc").json()["name"] == "in-cluster"
    assert one(sim, "in-cluster", "?id.type=name").json()["server"] == "https://kubernetes.default.svc"


def test_responses_are_sanitized_and_secrets_stored(sim: Simulator) -> None:
    """§6.43: config keeps only tlsClientConfig.insecure/serverName, awsAuthConfig, proxyUrl, disableCompression."""
    created = create(sim, FULL).json()
    stored = sim.clusters[SERVER]
    assert stored["config"]["bearerToken"] == "t0ken" and stored["config"]["tlsClientConfig"]["keyData"] == "S0Q="
    got = one(sim, SERVER).json()
    for response in (created, got):
        assert response["config"] == {
            "tlsClientConfig": {"insecure": False, "serverName": "prod"},
            "awsAuthConfig": {"clusterName": "prod", "roleARN": "arn:aws:iam::1:role/x"},
            "proxyUrl": "http://proxy:3128",
            "disableCompression": True,
        }
        assert response["info"]["connectionState"]["status"] == "Successful"
        assert response["info"]["serverVersion"]
        assert (response["server"], response["name"], response["project"]) == (SERVER, "prod", "team")


def test_trailing_slash_trimmed_and_name_defaults_to_server(sim: Simulator) -> None:
    """§6.45, §1.1: servers are stored with the trailing `/` trimmed; name defaults to server."""
    create(sim, {"server": "https://dev.example.com/"})
    assert list(sim.clusters) == ["https://dev.example.com"]
    assert one(sim, "https://dev.example.com/").json()["name"] == "https://dev.example.com"


def test_create_fails_when_cluster_unreachable(sim: Simulator) -> None:
    """§6.44: create calls the cluster's /version first; an unreachable server fails (plain error: 500)."""
    sim.unreachable.add(SERVER)
    r = create(sim, FULL)
    assert r.status_code == 500
    assert SERVER in r.json()["message"]
    assert sim.clusters == {}


def test_existing_equal_ignoring_project_different_upsert(sim: Simulator) -> None:
    """§6.44: exists-and-equal (project ignored) gives 200; different 400 unless upsert."""
    assert create(sim, FULL).status_code == 200
    assert create(sim, dict(FULL, project="other")).status_code == 200
    assert sim.clusters[SERVER]["project"] == "team"
    changed = dict(FULL, namespaces=["apps", "more"])
    r = create(sim, changed)
    assert r.status_code == 400
    assert r.json()["message"].startswith("existing cluster spec is different; use upsert flag to force update")
    assert create(sim, changed, "?upsert=true").status_code == 200
    assert sim.clusters[SERVER]["namespaces"] == ["apps", "more"]


def test_get_and_delete_unknown_are_403(sim: Simulator) -> None:
    """§6.45: GET or DELETE of an unknown server gives 403 `permission denied`."""
    for method in ("GET", "DELETE"):
        r = requests.request(method, f"{sim.url}/api/v1/clusters/{quote(SERVER, safe='')}", headers=h(sim))
        assert (r.status_code, r.json()["message"]) == (403, "permission denied")


def test_get_and_delete_by_name(sim: Simulator) -> None:
    """§6.45: `id.type=name` takes the path value as the cluster name; delete by name removes every match."""
    create(sim, FULL)
    create(sim, {"server": "https://other.example.com", "name": "prod"})
    assert one(sim, "prod", "?id.type=name").json()["name"] == "prod"
    r = requests.delete(f"{sim.url}/api/v1/clusters/prod?id.type=name", headers=h(sim))
    assert r.json() == {}
    assert sim.clusters == {}


def test_delete_in_cluster_without_secret_is_404(sim: Simulator) -> None:
    """§2.7: the synthetic in-cluster can be deleted only once a secret exists."""
    path = quote("https://kubernetes.default.svc", safe="")
    assert requests.delete(f"{sim.url}/api/v1/clusters/{path}", headers=h(sim)).status_code == 404
    create(sim, {"server": "https://kubernetes.default.svc", "name": "in-cluster", "namespaces": ["a"]})
    assert requests.delete(f"{sim.url}/api/v1/clusters/{path}", headers=h(sim)).status_code == 200


def test_last_applied_annotation_is_forbidden(sim: Simulator) -> None:
    """§2.7: the annotation kubectl.kubernetes.io/last-applied-configuration gives 400."""
    body = {"server": SERVER, "annotations": {"kubectl.kubernetes.io/last-applied-configuration": "{}"}}
    assert create(sim, body).status_code == 400


def test_update_with_updated_fields_copies_only_those(sim: Simulator) -> None:
    """§2.7: PUT with updatedFields copies only the named fields; without it, full replace."""
    create(sim, FULL)
    url = f"{sim.url}/api/v1/clusters/{quote(SERVER, safe='')}"
    r = requests.put(url + "?updatedFields=labels", headers=h(sim), json={"server": SERVER, "labels": {"env": "x"}})
    assert r.status_code == 200 and r.json()["labels"] == {"env": "x"}
    stored = sim.clusters[SERVER]
    assert stored["labels"] == {"env": "x"} and stored["namespaces"] == ["apps"]
    assert stored["config"]["bearerToken"] == "t0ken"
    r = requests.put(url, headers=h(sim), json={"server": SERVER, "name": "renamed"})
    # the Secret's config is Go's json.Marshal of an empty ClusterConfig: tlsClientConfig is not omitempty
    empty = {"tlsClientConfig": {"insecure": False}}
    assert sim.clusters[SERVER] == {"server": SERVER, "name": "renamed", "config": empty}


def test_update_unknown_is_403(sim: Simulator) -> None:
    """§2.7: PUT of a missing cluster gives 403."""
    r = requests.put(f"{sim.url}/api/v1/clusters/{quote(SERVER, safe='')}", headers=h(sim), json={"server": SERVER})
    assert r.status_code == 403


def test_list_filters_by_server_and_name(sim: Simulator) -> None:
    """§2.7: the list takes `server`, `name` and `id.type`/`id.value` filters."""
    create(sim, FULL)
    by_server = requests.get(f"{sim.url}/api/v1/clusters?server={SERVER}/", headers=h(sim)).json()["items"]
    assert [c["name"] for c in by_server] == ["prod"]
    by_name = requests.get(f"{sim.url}/api/v1/clusters?name=in-cluster", headers=h(sim)).json()["items"]
    assert [c["server"] for c in by_name] == ["https://kubernetes.default.svc"]
    by_id = requests.get(f"{sim.url}/api/v1/clusters?id.type=name&id.value=prod", headers=h(sim)).json()["items"]
    assert [c["server"] for c in by_id] == [SERVER]


def test_unreachable_cluster_lists_as_failed(sim: Simulator) -> None:
    """§2.7: the connection state reflects the last /version attempt."""
    create(sim, FULL)
    sim.unreachable.add(SERVER)
    assert one(sim, SERVER).json()["info"]["connectionState"]["status"] == "Failed"
