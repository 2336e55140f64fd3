"""Repositories and repository credential templates in the simulator (API-NOTES §2.5, §2.6, §6 items 38-42, 50)."""

from __future__ import annotations

from urllib.parse import quote

import requests

from drkit.testing import Simulator
from drkit.testing.repositories import normalize_url, same_url

REPO = "https://github.com/example/guestbook.git"


def h(sim: Simulator) -> dict[str, str]:
    return {"Authorization": f"Bearer {sim.token}", "Content-Type": "application/json"}


def post(sim: Simulator, body: dict, query: str = "") -> requests.Response:
    return requests.post(f"{sim.url}/api/v1/repositories{query}", headers=h(sim), json=body)


def path(url: str) -> str:
    return quote(url, safe="")


def test_same_url_follows_git_rules() -> None:
    """§1.1, §6.40: git.SameURL: lower case, `.git` stripped, scp-like ssh normalised."""
    assert same_url("https://GitHub.com/Example/Guestbook.git", "https://github.com/example/guestbook")
    assert same_url("git@github.com:org/x.git", "ssh://git@github.com/org/x")
    assert not same_url("https://github.com/org/x", "https://github.com/org/y")
    assert normalize_url("git@github.com:org/x.git") == "git@github.com/org/x"


def test_repo_stored_whole_and_redacted_by_whitelist(sim: Simulator) -> None:
    """§6.38: secrets are stored but absent (not "*****") from GET and list; insecure flags fold into insecure."""
    body = {
        "repo": REPO, "type": "git", "name": "guestbook", "username": "bot", "password": "s3cret",
        "tlsClientCertData": "CERT", "tlsClientCertKey": "KEY", "insecureIgnoreHostKey": True,
        "webhookManifestCacheWarmDisabled": True, "enableLfs": True, "depth": 1,
    }  # fmt: skip
    r = post(sim, body)
    assert r.json() == {"repo": REPO, "type": "git", "name": "guestbook"}
    assert sim.repositories[(normalize_url(REPO), "")]["password"] == "s3cret"
    got = requests.get(f"{sim.url}/api/v1/repositories/{path(REPO)}", headers=h(sim)).json()
    state = got.pop("connectionState")
    assert got == {
        "repo": REPO, "type": "git", "name": "guestbook", "username": "bot", "insecure": True, "enableLfs": True,
        "depth": 1,
    }  # fmt: skip
    assert state["status"] == "Successful" and state["attemptedAt"].endswith("Z")
    listed = requests.get(sim.url + "/api/v1/repositories", headers=h(sim)).json()["items"]
    assert [r["repo"] for r in listed] == [REPO]
    assert "password" not in listed[0] and "tlsClientCertData" not in listed[0]


def test_inherited_credentials_from_longest_prefix(sim: Simulator) -> None:
    """§6.39: a repo without credentials shows the longest-prefix template's username and inheritedCreds."""
    for url, user in (("https://github.com/", "short"), ("https://github.com/example", "long")):
        body = {"url": url, "username": user, "password": "p"}
        assert requests.post(sim.url + "/api/v1/repocreds", headers=h(sim), json=body).ok
    post(sim, {"repo": REPO, "type": "git"})
    post(sim, {"repo": "https://gitlab.com/x/y", "type": "git"})
    items = requests.get(sim.url + "/api/v1/repositories", headers=h(sim)).json()["items"]
    by_repo = {i["repo"]: i for i in items}
    assert by_repo[REPO]["username"] == "long" and by_repo[REPO]["inheritedCreds"] is True
    assert "username" not in by_repo["https://gitlab.com/x/y"]
    assert "inheritedCreds" not in by_repo["https://gitlab.com/x/y"]
    assert "username" not in sim.repositories[(normalize_url(REPO), "")]


def test_list_sorted_filters_ignored_and_null_when_empty(sim: Simulator) -> None:
    """§6.39, §1.4: sorted by project/repo; `repo`/`appProject` filters ignored; items may be null when empty."""
    assert requests.get(sim.url + "/api/v1/repositories", headers=h(sim)).json()["items"] is None
    post(sim, {"repo": "https://z.example.com/r", "type": "git"})
    post(sim, {"repo": "https://a.example.com/r", "type": "git", "project": "team"})
    post(sim, {"repo": "https://b.example.com/r", "type": "git"})
    r = requests.get(sim.url + "/api/v1/repositories?repo=https://b.example.com/r&appProject=x", headers=h(sim))
    got = [(i.get("project", ""), i["repo"]) for i in r.json()["items"]]
    assert got == [
        ("", "https://b.example.com/r"),
        ("", "https://z.example.com/r"),
        ("team", "https://a.example.com/r"),
    ]


def test_connection_state_failed_for_unreachable(sim: Simulator) -> None:
    """§2.5: each listed repo carries connectionState; a repo that cannot be reached is Failed."""
    post(sim, {"repo": REPO, "type": "git"})
    sim.unreachable.add(REPO)
    (item,) = requests.get(sim.url + "/api/v1/repositories", headers=h(sim)).json()["items"]
    assert item["connectionState"]["status"] == "Failed"
    assert "authentication required" in item["connectionState"]["message"]


def test_get_and_delete_unknown_are_403_put_is_404(sim: Simulator) -> None:
    """§6.40: GET/DELETE of an unknown URL give bare 403 `permission denied`; PUT gives 404 `repo '<url>' not found`."""
    missing = "https://nowhere.example.com/x"
    for method in ("GET", "DELETE"):
        r = requests.request(method, f"{sim.url}/api/v1/repositories/{path(missing)}", headers=h(sim))
        assert (r.status_code, r.json()["message"]) == (403, "permission denied")
    r = requests.put(f"{sim.url}/api/v1/repositories/{path(missing)}", headers=h(sim), json={"repo": missing})
    assert (r.status_code, r.json()["message"]) == (404, f"repo '{missing}' not found")


def test_lookup_is_case_insensitive_and_ignores_dot_git(sim: Simulator) -> None:
    """§6.40: URL matching uses git.SameURL; path ids are percent-encoded."""
    post(sim, {"repo": REPO, "type": "git"})
    other = "https://GITHUB.com/Example/guestbook"
    assert requests.get(f"{sim.url}/api/v1/repositories/{path(other)}", headers=h(sim)).json()["repo"] == REPO
    assert requests.delete(f"{sim.url}/api/v1/repositories/{path(other)}", headers=h(sim)).json() == {}
    assert sim.repositories == {}


def test_project_scoped_repo_needs_app_project_to_disambiguate(sim: Simulator) -> None:
    """§2.5: GET takes `appProject` when project-scoped repos share a URL."""
    post(sim, {"repo": REPO, "type": "git", "project": "a", "username": "ua"})
    post(sim, {"repo": REPO, "type": "git", "project": "b", "username": "ub"})
    got = requests.get(f"{sim.url}/api/v1/repositories/{path(REPO)}?appProject=b", headers=h(sim)).json()
    assert (got["project"], got["username"]) == ("b", "ub")


def test_create_tests_connection_for_global_repos_only(sim: Simulator) -> None:
    """§6.41: create of a global repo fails when repo-server cannot reach it (500); project repos skip it."""
    sim.unreachable.add(REPO)
    r = post(sim, {"repo": REPO, "type": "git", "username": "u", "password": "p"})
    assert r.status_code == 500
    assert r.json()["message"] == "error testing repository connectivity: authentication required"
    assert sim.repositories == {}
    assert post(sim, {"repo": REPO, "type": "git", "project": "team"}).status_code == 200


def test_create_existing_equal_different_upsert(sim: Simulator) -> None:
    """§6.41: equal gives 200, different 400 unless upsert (a full replace); credsOnly is ignored."""
    body = {"repo": REPO, "type": "git", "username": "u", "password": "p"}
    assert post(sim, body).status_code == 200
    assert post(sim, dict(body)).status_code == 200
    changed = dict(body, password="other")
    r = post(sim, changed, "?credsOnly=true")
    assert r.status_code == 400
    assert r.json()["message"].startswith("existing repository spec is different; use upsert flag to force update")
    assert post(sim, changed, "?upsert=true").status_code == 200
    assert sim.repositories[(normalize_url(REPO), "")]["password"] == "other"


def test_upsert_of_a_different_repository_answers_the_request_as_sent(sim: Simulator) -> None:
    """§2.5 create step 3 (v3.5.1 `server/repository/repository.go` CreateRepository returns
    `s.db.UpdateRepository(ctx, r)`, which returns `r`): the request itself, connectionState set Successful."""
    body = {"repo": REPO, "type": "git", "username": "u", "password": "p"}
    assert post(sim, body).json() == {"repo": REPO, "type": "git"}  # a new repository: {repo, type, name}
    changed = dict(body, password="other", proxy="http://proxy:3128")
    answer = post(sim, changed, "?upsert=true").json()
    assert answer == changed | {"connectionState": {"status": "Successful", "message": "", "attemptedAt": None}}
    assert sim.repositories[(normalize_url(REPO), "")]["password"] == "other"


def test_type_defaults_to_git_when_comparing(sim: Simulator) -> None:
    """§2.5 create step 3: the existing type is defaulted to git before comparing."""
    assert post(sim, {"repo": REPO, "username": "u"}).status_code == 200
    assert post(sim, {"repo": REPO, "type": "git", "username": "u"}).status_code == 200


def test_request_type_is_not_defaulted_when_comparing(sim: Simulator) -> None:
    """§2.5 create step 3 (inferred there): only the stored repo's type is defaulted, so re-posting without
    `type` differs from it and needs upsert; drkit must always send `type`."""
    assert post(sim, {"repo": REPO, "username": "u"}).status_code == 200
    r = post(sim, {"repo": REPO, "username": "u"})
    assert r.status_code == 400 and "use upsert flag" in r.json()["message"]


def test_put_path_url_wins_over_body(sim: Simulator) -> None:
    """§1.1, §6.1: PUT /repositories/{repo.repo} and /repocreds/{creds.url} take the URL from the path, which
    the gateway writes over the body's field after decoding it."""
    post(sim, {"repo": REPO, "type": "git"})
    body = {"repo": "https://github.com/example/other.git", "type": "git", "name": "gb"}
    r = requests.put(f"{sim.url}/api/v1/repositories/{path(REPO)}", headers=h(sim), json=body)
    assert r.json() == {"repo": REPO, "type": "git", "name": "gb"}
    creds = {"url": "https://github.com/", "username": "a"}
    requests.post(sim.url + "/api/v1/repocreds", headers=h(sim), json=creds)
    other = {"url": "https://gitlab.com/", "username": "b"}
    r = requests.put(f"{sim.url}/api/v1/repocreds/{path(creds['url'])}", headers=h(sim), json=other)
    assert (r.status_code, r.json()) == (200, {"url": "https://github.com/"})
    assert sim.repocreds["https://github.com/"]["username"] == "b" and "https://gitlab.com/" not in sim.repocreds


def test_reposting_inheriting_repo_without_upsert_fails(sim: Simulator) -> None:
    """§2.5 create step 3: the stored repo is compared with creds enriched, so an inheriting repo differs."""
    requests.post(sim.url + "/api/v1/repocreds", headers=h(sim), json={"url": "https://github.com/", "username": "t"})
    assert post(sim, {"repo": REPO, "type": "git"}).status_code == 200
    assert post(sim, {"repo": REPO, "type": "git"}).status_code == 400


def test_update_replaces_stored_repo(sim: Simulator) -> None:
    """§2.5: PUT /repositories/{repo.repo} returns {repo,type,name} and replaces the stored repo."""
    post(sim, {"repo": REPO, "type": "git", "username": "u", "password": "p"})
    body = {"repo": REPO, "type": "git", "name": "gb", "username": "u2", "password": "p2"}
    r = requests.put(f"{sim.url}/api/v1/repositories/{path(REPO)}", headers=h(sim), json=body)
    assert r.json() == {"repo": REPO, "type": "git", "name": "gb"}
    assert sim.repositories[(normalize_url(REPO), "")]["password"] == "p2"


def test_write_repositories_disabled(sim: Simulator) -> None:
    """§6.50: /api/v1/write-repositories give 501 `hydrator is disabled`."""
    r = requests.get(sim.url + "/api/v1/write-repositories", headers=h(sim))
    assert (r.status_code, r.json()["message"]) == (501, "hydrator is disabled")


def test_repocreds_list_shows_only_url_username_type_enable_oci(sim: Simulator) -> None:
    """§6.42: the list returns only {url, username, type, enableOCI}; the secret is stored whole."""
    body = {
        "url": "https://charts.example.com", "username": "u", "password": "p", "type": "helm", "enableOCI": True,
        "proxy": "http://proxy:3128", "tlsClientCertData": "CERT", "githubAppID": 7,
    }  # fmt: skip
    r = requests.post(sim.url + "/api/v1/repocreds", headers=h(sim), json=body)
    assert r.json() == {"url": "https://charts.example.com"}
    items = requests.get(sim.url + "/api/v1/repocreds?url=ignored", headers=h(sim)).json()["items"]
    assert items == [{"url": "https://charts.example.com", "username": "u", "type": "helm", "enableOCI": True}]
    assert sim.repocreds["https://charts.example.com"]["password"] == "p"


def test_repocreds_empty_list_is_empty_array(sim: Simulator) -> None:
    """§1.4: empty repocreds list is []."""
    assert requests.get(sim.url + "/api/v1/repocreds", headers=h(sim)).json()["items"] == []


def test_repocreds_has_no_get_one(sim: Simulator) -> None:
    """§6.42: there is no GET-by-URL; the path answers 405 (only PUT and DELETE exist there)."""
    r = requests.get(f"{sim.url}/api/v1/repocreds/{path('https://x.example.com')}", headers=h(sim))
    assert r.status_code == 405


def test_repocreds_equal_different_upsert_and_empty_url(sim: Simulator) -> None:
    """§2.6: empty url 400; equal 200; different 400 unless upsert."""
    url = sim.url + "/api/v1/repocreds"
    assert requests.post(url, headers=h(sim), json={"username": "u"}).status_code == 400
    body = {"url": "https://git.example.com/", "username": "u", "password": "p"}
    assert requests.post(url, headers=h(sim), json=body).status_code == 200
    assert requests.post(url, headers=h(sim), json=body).status_code == 200
    changed = dict(body, password="q")
    r = requests.post(url, headers=h(sim), json=changed)
    assert r.status_code == 400
    assert r.json()["message"].startswith("existing repository credentials spec is different")
    assert requests.post(url + "?upsert=true", headers=h(sim), json=changed).status_code == 200
    assert sim.repocreds["https://git.example.com/"]["password"] == "q"


def test_repocreds_update_and_delete_missing_are_404(sim: Simulator) -> None:
    """§6.42: update or delete of a missing entry gives 404 `repository credentials '<url>' not found`."""
    missing = "https://git.example.com/none"
    message = f"repository credentials '{missing}' not found"
    r = requests.put(f"{sim.url}/api/v1/repocreds/{path(missing)}", headers=h(sim), json={"url": missing})
    assert (r.status_code, r.json()["message"]) == (404, message)
    r = requests.delete(f"{sim.url}/api/v1/repocreds/{path(missing)}", headers=h(sim))
    assert (r.status_code, r.json()["message"]) == (404, message)


def test_write_repocreds_list_only_entries_with_password(sim: Simulator) -> None:
    """§6.50: write-repocreds are not gated and their list shows only entries that have a password."""
    url = sim.url + "/api/v1/write-repocreds"
    assert requests.post(url, headers=h(sim), json={"url": "https://a.example.com", "username": "u"}).ok
    assert requests.post(url, headers=h(sim), json={"url": "https://b.example.com", "password": "p"}).ok
    assert [i["url"] for i in requests.get(url, headers=h(sim)).json()["items"]] == ["https://b.example.com"]
    assert sim.repocreds == {}
