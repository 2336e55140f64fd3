"""AppProject endpoints and role tokens (API-NOTES §2.4, §3, §6 items 31-36)."""

from __future__ import annotations

import copy

import pytest
import requests

PROJECTS = "/api/v1/projects"


def project(name="team", **spec):
    body = {
        "metadata": {"name": name},
        "spec": {
            "sourceRepos": ["https://git.example.com/*"],
            "destinations": [{"server": "https://kubernetes.default.svc", "namespace": "team-*"}],
        },
    }
    body["spec"].update(copy.deepcopy(spec))
    return body


def role(name="ci", policies=None, groups=None, project_name="team"):
    return {
        "name": name,
        "policies": policies or [f"p, proj:{project_name}:{name}, applications, sync, {project_name}/*, allow"],
        "groups": groups or ["ci-bots"],
    }


def test_default_project_on_a_fresh_instance(api):
    """§3, §6.46: a fresh instance has project `default` with the wildcard spec."""
    r = api.get(PROJECTS + "/default")
    assert r.status_code == 200
    assert r.json()["spec"] == {
        "sourceRepos": ["*"],
        "destinations": [{"server": "*", "namespace": "*"}],
        "clusterResourceWhitelist": [{"group": "*", "kind": "*"}],
    }
    assert [p["metadata"]["name"] for p in api.get(PROJECTS).json()["items"]] == ["default"]
    r = api.get(PROJECTS + "/nope")
    assert r.status_code == 404 and r.json()["message"] == 'appprojects.argoproj.io "nope" not found'


def test_create_equal_different_upsert(api):
    """§6.31: upsert comes from the body (query ignored); equal 200; different 400; upsert replaces spec only."""
    body = project()
    body["metadata"]["labels"] = {"keep": "me"}
    first = api.post(PROJECTS, {"project": body}).json()
    assert api.post(PROJECTS, {"project": body}).json()["metadata"]["uid"] == first["metadata"]["uid"]
    changed = project(description="changed")
    changed["metadata"]["labels"] = {"other": "x"}
    r = api.post(PROJECTS + "?upsert=true", {"project": changed})
    assert r.status_code == 400
    assert r.json()["message"] == (
        'existing project spec is different; use upsert flag to force update; difference in keys "description"'
    )
    r = api.post(PROJECTS, {"project": changed, "upsert": True})
    assert r.status_code == 200
    assert r.json()["spec"]["description"] == "changed"
    assert r.json()["metadata"]["labels"] == {"keep": "me"}


@pytest.mark.parametrize(
    ("spec", "status", "text"),
    [
        ({"roles": [role(), role()]}, 409, "role 'ci' already exists"),
        ({"roles": [role(policies=["p, proj:team:ci, applications, get, team/*, allow"] * 2)]}, 409, "already exists"),
        ({"roles": [role(groups=["g", "g"])]}, 409, "group 'g' already exists for role 'ci'"),
        ({"roles": [role(policies=["p, proj:other:ci, applications, get, team/*, allow"])]}, 400, "policy subject"),
        ({"roles": [role(policies=["p, proj:team:ci, applications, get, other/*, allow"])]}, 400, "object must be"),
        ({"roles": [role(name="bad name")]}, 400, "invalid role name"),
        ({"sourceRepos": ["!*"]}, 400, "'!*'"),
        ({"destinations": [{"server": "!*", "namespace": "x"}]}, 400, "'!*'"),
        ({"sourceRepos": ["a", "a"]}, 400, "source repository 'a' already added"),
        ({"destinations": [{"server": "s", "namespace": "n"}] * 2}, 400, "already added"),
    ],
)
def test_validation(api, spec, status, text):
    """§6.32: duplicate role, policy or group is 409; a bad policy, `!*` or duplicates are 400."""
    r = api.post(PROJECTS, {"project": project(**spec)})
    assert r.status_code == status, r.text
    assert text in r.json()["message"]


def test_update_needs_current_resource_version(api):
    """§6.33: PUT without resourceVersion is 400, with a stale one 409, with the live one 200."""
    created = api.post(PROJECTS, {"project": project()}).json()
    body = project(description="new")
    assert api.put(PROJECTS + "/team", {"project": body}).status_code == 400
    body["metadata"]["resourceVersion"] = "1"
    assert api.put(PROJECTS + "/team", {"project": body}).status_code == 409
    body["metadata"]["resourceVersion"] = created["metadata"]["resourceVersion"]
    r = api.put(PROJECTS + "/team", {"project": body})
    assert r.status_code == 200, r.text
    assert int(r.json()["metadata"]["resourceVersion"]) > int(created["metadata"]["resourceVersion"])


def test_update_refuses_to_invalidate_apps(api, make_app):
    """§6.33: a PUT that would make an app's source or destination invalid is refused with counts."""
    created = api.post(PROJECTS, {"project": project()}).json()
    app = make_app(project="team", source={"repoURL": "https://git.example.com/app.git", "path": "."})
    app["spec"]["destination"]["namespace"] = "team-web"
    assert api.post("/api/v1/applications", app).status_code == 200
    body = project(sourceRepos=["https://other.example.com/*"])
    body["metadata"]["resourceVersion"] = created["metadata"]["resourceVersion"]
    r = api.put(PROJECTS + "/team", {"project": body})
    assert r.status_code == 400
    assert r.json()["message"] == (
        "as a result of project update 1 applications source became invalid and 0 applications "
        "destination became invalid"
    )


def test_delete_rules(api, make_app):
    """§6.34: default 400; a project used by apps 400; missing 404; otherwise {}."""
    r = api.delete(PROJECTS + "/default")
    assert r.status_code == 400 and r.json()["message"] == "name 'default' is reserved and cannot be deleted"
    assert api.delete(PROJECTS + "/nope").status_code == 404
    api.post(PROJECTS, {"project": project(sourceRepos=["*"], destinations=[{"server": "*", "namespace": "*"}])})
    api.post("/api/v1/applications", make_app(project="team"))
    r = api.delete(PROJECTS + "/team")
    assert r.status_code == 400 and r.json()["message"] == "project is referenced by 1 applications"
    api.delete("/api/v1/applications/guestbook?cascade=false")
    assert api.delete(PROJECTS + "/team").json() == {}
    assert api.get(PROJECTS + "/team").status_code == 404


def test_jwt_tokens_are_normalised(api):
    """§6.35: spec.roles[].jwtTokens and status.jwtTokensByRole are merged by id, id defaulting to iat."""
    body = project(roles=[dict(role(), jwtTokens=[{"iat": 1535390316}])])
    body["status"] = {"jwtTokensByRole": {"ci": {"items": [{"iat": 1600000000, "id": "restored"}]}}}
    api.post(PROJECTS, {"project": body})
    got = api.get(PROJECTS + "/team").json()
    expected = [{"iat": 1535390316, "id": "1535390316"}, {"iat": 1600000000, "id": "restored"}]
    assert got["spec"]["roles"][0]["jwtTokens"] == expected
    assert got["status"]["jwtTokensByRole"]["ci"]["items"] == expected


def test_role_tokens(api, sim):
    """§6.36: token create returns {token} and records {iat,exp,id}; reused id 400; missing role 404; delete revokes."""
    api.post(PROJECTS, {"project": project(roles=[role()])})
    r = api.post(PROJECTS + "/team/roles/ci/token", {"id": "build-1", "expiresIn": 3600})
    assert r.status_code == 200
    token = r.json()["token"]
    stored = sim.projects["team"]
    record = stored["spec"]["roles"][0]["jwtTokens"][0]
    assert record["id"] == "build-1" and record["exp"] == record["iat"] + 3600
    assert stored["status"]["jwtTokensByRole"]["ci"]["items"] == [record]
    headers = {"Authorization": f"Bearer {token}"}
    assert requests.get(sim.url + "/api/v1/applications", headers=headers, timeout=10).status_code == 200
    r = api.post(PROJECTS + "/team/roles/ci/token", {"id": "build-1"})
    assert r.status_code == 400 and r.json()["message"] == "Token id 'build-1' has been used."
    r = api.post(PROJECTS + "/team/roles/nope/token", {})
    assert r.status_code == 404 and r.json()["message"] == "project 'team' does not have role 'nope'"
    assert api.post(PROJECTS + "/ghost/roles/ci/token", {}).status_code == 404
    assert api.delete(PROJECTS + f"/team/roles/ci/token/{record['iat']}?id=build-1").json() == {}
    assert requests.get(sim.url + "/api/v1/applications", headers=headers, timeout=10).status_code == 401
