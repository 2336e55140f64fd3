"""The simulator's Application endpoints behave as API-NOTES.md §2.1 and §6 say Argo CD's do."""

from __future__ import annotations

import threading

import pytest
import requests

from drkit.testing import controller

REFRESH = "argocd.argoproj.io/refresh"
PROD = "https://prod.example.com:6443"


def names(response):
    assert response.status_code == 200, response.text
    return [(a["metadata"].get("namespace"), a["metadata"]["name"]) for a in response.json()["items"]]


def test_missing_app_is_403_unless_project_given(api):
    """§6.10: GET of a missing app is a bare 403 `permission denied`; with ?project= it is a 404."""
    r = api.get("/api/v1/applications/nope")
    assert r.status_code == 403
    assert r.json()["message"] == "permission denied"
    r = api.get("/api/v1/applications/nope?project=default")
    assert r.status_code == 404
    assert r.json()["message"] == 'applications.argoproj.io "nope" not found'
    for method, path in (("PUT", "/api/v1/applications/nope"), ("DELETE", "/api/v1/applications/nope")):
        assert api(method, path, {"metadata": {"name": "nope"}}).status_code == 403


def test_existing_app_in_other_project_is_404_with_project(api, make_app):
    """§6.10: an app that exists but lives in another project is a 404 when ?project= names a different one."""
    assert api.post("/api/v1/applications", make_app("a")).status_code == 200
    assert api.get("/api/v1/applications/a?project=default").status_code == 200
    assert api.get("/api/v1/applications/a?project=other").status_code == 404


def test_list_filters_and_sorting(api, make_app):
    """§6.11: list filters by name (0 or 1), projects, selector, repo (first source only) and sorts by name."""
    bodies = [make_app("zeta"), make_app("alpha"), make_app("mid")]
    bodies[0]["metadata"]["labels"] = {"team": "a", "tier": "web"}
    bodies[1]["metadata"]["labels"] = {"team": "b"}
    bodies[2]["spec"]["sources"] = [
        {"repoURL": "https://git.example.com/x.git", "path": "x"},
        {"repoURL": "https://github.com/argoproj/argocd-example-apps.git", "path": "y"},
    ]
    for body in bodies:
        assert api.post("/api/v1/applications", body).status_code == 200
    base = "/api/v1/applications"
    assert [n for _, n in names(api.get(base))] == ["alpha", "mid", "zeta"]
    assert [n for _, n in names(api.get(base + "?name=mid"))] == ["mid"]
    assert names(api.get(base + "?name=missing")) == []
    assert [n for _, n in names(api.get(base + "?selector=team%3Da"))] == ["zeta"]
    assert [n for _, n in names(api.get(base + "?selector=team!%3Da"))] == ["alpha", "mid"]
    assert [n for _, n in names(api.get(base + "?selector=team+in+(a,b),tier"))] == ["zeta"]
    assert [n for _, n in names(api.get(base + "?selector=!team"))] == ["mid"]
    repo = "https://github.com/argoproj/argocd-example-apps.git"
    assert [n for _, n in names(api.get(base, params={"repo": repo}))] == ["alpha", "zeta"]
    assert [n for _, n in names(api.get(base, params={"repo": "https://git.example.com/x.git"}))] == ["mid"]
    assert names(api.get(base + "?projects=other")) == []
    assert len(names(api.get(base + "?project=default"))) == 3


def test_list_drops_apps_the_caller_may_not_get(api, make_app, sim):
    """§6.9: the list silently drops apps the caller has no `get` on; GET of one is a 403 with Argo's text."""
    for name in ("visible", "hidden"):
        assert api.post("/api/v1/applications", make_app(name)).status_code == 200
    sim.policies["alice"] = [("applications", "get", "default/visible")]
    alice = api.as_user("alice:apiKey")
    assert [n for _, n in names(alice.get("/api/v1/applications"))] == ["visible"]
    r = alice.get("/api/v1/applications/hidden")
    assert r.status_code == 403
    assert r.json()["message"].startswith("permission denied: applications, get, default/hidden, sub: alice:apiKey")


def test_create_with_missing_project_is_400(api, make_app):
    """§6.12: a missing project is 400 with Argo CD's deliberately vague text."""
    r = api.post("/api/v1/applications", make_app(project="ghost"))
    assert r.status_code == 400
    assert r.json()["message"] == 'app is not allowed in project "ghost", or the project does not exist'


def test_empty_name_is_500(api, make_app):
    """§2.1 step 3 (§1.3): an empty metadata.name is a plain error, so HTTP 500."""
    assert api.post("/api/v1/applications", make_app("")).status_code == 500


def test_unregistered_destination_is_400_even_without_validation(api, make_app, sim):
    """§6.13: the destination must be a registered cluster, even with validate=false; in-cluster always is."""
    body = make_app(destination={"server": PROD, "namespace": "x"})
    r = api.post("/api/v1/applications?validate=false", body)
    assert r.status_code == 400
    assert r.json()["message"].startswith("application destination spec for guestbook is invalid: ")
    by_name = make_app("byname", destination={"name": "in-cluster", "namespace": "x"})
    assert api.post("/api/v1/applications?validate=false", by_name).status_code == 200
    both = make_app("both", destination={"name": "in-cluster", "server": PROD, "namespace": "x"})
    assert api.post("/api/v1/applications?validate=false", both).status_code == 400
    sim.clusters[PROD] = {"server": PROD, "name": "prod"}
    assert api.post("/api/v1/applications?validate=false", body).status_code == 200
    named = make_app("named", destination={"name": "prod", "namespace": "x"})
    assert api.post("/api/v1/applications?validate=false", named).status_code == 200


def test_permissions_are_checked_even_without_validation(api, make_app):
    """§6.14: repo and destination must match the project's globs (with `!` negation), always, as a 400."""
    project = {
        "metadata": {"name": "locked"},
        "spec": {
            "sourceRepos": ["https://git.example.com/*", "!https://git.example.com/secret*"],
            "destinations": [{"server": "https://kubernetes.default.svc", "namespace": "team-*"}],
        },
    }
    assert api.post("/api/v1/projects", {"project": project}).status_code == 200
    ok = make_app("ok", project="locked", source={"repoURL": "https://git.example.com/app.git", "path": "."})
    ok["spec"]["destination"]["namespace"] = "team-x"
    assert api.post("/api/v1/applications?validate=false", ok).status_code == 200
    denied = make_app("denied", project="locked", source={"repoURL": "https://git.example.com/secret.git", "path": "."})
    r = api.post("/api/v1/applications?validate=false", denied)
    assert r.status_code == 400
    assert r.json()["message"] == (
        "application spec for denied is invalid: InvalidSpecError: application repo "
        "https://git.example.com/secret.git is not permitted in project 'locked';InvalidSpecError: application "
        "destination server 'https://kubernetes.default.svc' and namespace 'default' do not match any of the "
        "allowed destinations in project 'locked'"
    )


def test_validate_checks_reachability(api, make_app, sim):
    """§6.15: validate=true needs the repo (400 when not accessible) and the cluster (500 when unreachable)."""
    sim.unreachable.add("https://github.com/argoproj/argocd-example-apps.git")
    r = api.post("/api/v1/applications", make_app())
    assert r.status_code == 400
    assert "repository not accessible" in r.json()["message"]
    assert api.post("/api/v1/applications?validate=false", make_app()).status_code == 200
    sim.unreachable.clear()
    sim.unreachable.add("https://kubernetes.default.svc")
    assert api.post("/api/v1/applications", make_app("other")).status_code == 500


def test_create_normalises_and_drops_operation(api, make_app, sim):
    """§6.16, §6.17: empty project becomes default, an empty syncPolicy vanishes, `operation` is dropped."""
    body = make_app(project="", syncPolicy={"syncOptions": []})
    body["operation"] = {"sync": {"revision": "HEAD"}}
    r = api.post("/api/v1/applications", body)
    assert r.status_code == 200
    app = r.json()
    assert app["spec"]["project"] == "default"
    assert "syncPolicy" not in app["spec"]
    assert "operation" not in app
    assert "operation" not in sim.applications[("argocd", "guestbook")]


def test_create_rejects_resource_version(api, make_app):
    """§6.17: a non-empty metadata.resourceVersion on create is rejected."""
    body = make_app()
    body["metadata"]["resourceVersion"] = "123"
    assert api.post("/api/v1/applications", body).status_code == 500


def test_create_existing_equal_different_upsert(api, make_app):
    """§6.18: equal is 200 with the existing object; different is 400 unless upsert, which merges labels."""
    body = make_app()
    body["metadata"]["labels"] = {"a": "1"}
    first = api.post("/api/v1/applications", body).json()
    again = api.post("/api/v1/applications", body)
    assert again.status_code == 200
    assert again.json()["metadata"]["uid"] == first["metadata"]["uid"]
    changed = make_app(source={"repoURL": "https://github.com/argoproj/argocd-example-apps.git", "path": "helm"})
    changed["metadata"]["labels"] = {"b": "2"}
    r = api.post("/api/v1/applications", changed)
    assert r.status_code == 400
    assert r.json()["message"] == "existing application spec is different, use upsert flag to force update"
    r = api.post("/api/v1/applications?upsert=true", changed)
    assert r.status_code == 200
    assert r.json()["spec"]["source"]["path"] == "helm"
    assert r.json()["metadata"]["labels"] == {"a": "1", "b": "2"}
    assert int(r.json()["metadata"]["resourceVersion"]) > int(first["metadata"]["resourceVersion"])


def test_put_replaces_and_ignores_rv_status_operation(api, make_app):
    """§6.19, §6.20: PUT replaces spec, labels, annotations, finalizers; ignores RV, status, operation."""
    body = make_app()
    body["metadata"]["labels"] = {"old": "x"}
    created = api.post("/api/v1/applications", body).json()
    update = make_app(source={"repoURL": "https://github.com/argoproj/argocd-example-apps.git", "path": "helm"})
    update["metadata"].update(
        labels={"new": "y"}, resourceVersion="1", finalizers=["resources-finalizer.argocd.argoproj.io"]
    )
    update["status"] = {"sync": {"status": "Synced"}}
    update["operation"] = {"sync": {"revision": "HEAD"}}
    r = api.put("/api/v1/applications/guestbook", update)
    assert r.status_code == 200, r.text
    app = r.json()
    assert app["metadata"]["labels"] == {"new": "y"}
    assert app["metadata"]["finalizers"] == ["resources-finalizer.argocd.argoproj.io"]
    assert app["metadata"]["uid"] == created["metadata"]["uid"]
    assert int(app["metadata"]["resourceVersion"]) > int(created["metadata"]["resourceVersion"])
    assert app["metadata"]["generation"] == created["metadata"]["generation"] + 1
    assert "operation" not in app
    assert app.get("status", {}).get("sync", {}).get("status") != "Synced"


def test_put_spec_returns_the_spec(api, make_app):
    """§2.1: PUT .../spec replaces only the spec and returns it."""
    api.post("/api/v1/applications", make_app())
    spec = make_app(source={"repoURL": "https://github.com/argoproj/argocd-example-apps.git", "path": "kustomize"})
    r = api.put("/api/v1/applications/guestbook/spec", spec["spec"])
    assert r.status_code == 200
    assert r.json()["source"]["path"] == "kustomize"


def test_delete_cascade_finalizer_and_controller_finishes(papi, paused, make_app):
    """§6.21: cascade delete adds the finalizer, leaves deletionTimestamp until the controller finishes."""
    papi.post("/api/v1/applications", make_app())
    assert papi.delete("/api/v1/applications/guestbook?cascade=false&propagationPolicy=foreground").status_code == 400
    assert papi.delete("/api/v1/applications/guestbook?propagationPolicy=sideways").status_code == 400
    r = papi.delete("/api/v1/applications/guestbook?propagationPolicy=foreground")
    assert r.status_code == 200 and r.json() == {}
    app = papi.get("/api/v1/applications/guestbook").json()
    assert app["metadata"]["deletionTimestamp"]
    assert app["metadata"]["finalizers"] == ["resources-finalizer.argocd.argoproj.io/foreground"]
    controller.tick(paused)
    assert papi.get("/api/v1/applications/guestbook").status_code == 403


def test_delete_without_cascade_removes_finalizer(papi, make_app):
    """§6.21: cascade=false removes Argo CD's finalizer, so the app goes at once."""
    body = make_app()
    body["metadata"]["finalizers"] = ["resources-finalizer.argocd.argoproj.io"]
    papi.post("/api/v1/applications", body)
    assert papi.delete("/api/v1/applications/guestbook?cascade=false").status_code == 200
    assert names(papi.get("/api/v1/applications")) == []


def test_refresh_blocks_until_controller_reconciles(api, make_app):
    """§6.22: ?refresh= returns only after the controller cleared the annotation and bumped the RV."""
    created = api.post("/api/v1/applications", make_app()).json()
    r = api.get("/api/v1/applications/guestbook?refresh=hard", timeout=10)
    assert r.status_code == 200
    app = r.json()
    assert REFRESH not in app["metadata"].get("annotations", {})
    assert int(app["metadata"]["resourceVersion"]) > int(created["metadata"]["resourceVersion"]) + 1
    assert app["status"]["reconciledAt"]


def test_refresh_hangs_without_a_controller(papi, paused, make_app):
    """§6.22: with no controller the refresh never answers; the annotation says which kind was asked."""
    papi.post("/api/v1/applications", make_app())
    with pytest.raises(requests.exceptions.ReadTimeout):
        papi.get("/api/v1/applications/guestbook?refresh=sideways", timeout=0.5)
    assert paused.applications[("argocd", "guestbook")]["metadata"]["annotations"][REFRESH] == "normal"
    done = threading.Event()

    def refresh() -> None:
        papi.get("/api/v1/applications/guestbook?refresh=normal", timeout=10)
        done.set()

    worker = threading.Thread(target=refresh)
    worker.start()
    while not done.is_set():
        controller.tick(paused)
        done.wait(0.02)
    worker.join()


def test_apps_in_other_namespaces(api, make_app, sim):
    """§6.52: sourceNamespaces gate (400), server enablement (500 create, 403 get), appNamespace addressing."""
    project = {
        "metadata": {"name": "team"},
        "spec": {
            "sourceRepos": ["*"],
            "destinations": [{"server": "*", "namespace": "*"}],
            "sourceNamespaces": ["team-*"],
        },
    }
    api.post("/api/v1/projects", {"project": project})
    body = make_app("svc", project="team")
    body["metadata"]["namespace"] = "team-a"
    assert api.post("/api/v1/applications", body).status_code == 500  # not enabled on the server
    sim.app_namespaces.append("team-a")
    assert api.post("/api/v1/applications", body).status_code == 200
    other = make_app("svc", project="default")
    other["metadata"]["namespace"] = "team-a"
    r = api.post("/api/v1/applications", other)
    assert r.status_code == 400 and "or the project does not exist" in r.json()["message"]
    assert api.get("/api/v1/applications/svc").status_code == 403
    assert api.get("/api/v1/applications/svc?appNamespace=team-a").json()["metadata"]["namespace"] == "team-a"
    assert names(api.get("/api/v1/applications?appNamespace=team-a")) == [("team-a", "svc")]
    assert names(api.get("/api/v1/applications?appNamespace=argocd")) == []
    sim.app_namespaces.remove("team-a")
    assert api.get("/api/v1/applications/svc?appNamespace=team-a").status_code == 403
    assert names(api.get("/api/v1/applications")) == []


def test_list_fields_projection(api, make_app):
    """§6.51: ?fields= keeps only the listed paths of each item; a leading `-` excludes them instead."""
    body = make_app()
    body["metadata"]["labels"] = {"a": "1"}
    api.post("/api/v1/applications", body)
    items = api.get("/api/v1/applications?fields=items.metadata.name,items.spec.project").json()["items"]
    assert items == [{"metadata": {"name": "guestbook"}, "spec": {"project": "default"}}]
    items = api.get("/api/v1/applications?fields=-items.spec,items.metadata.labels").json()["items"]
    assert "spec" not in items[0] and "labels" not in items[0]["metadata"]
    assert items[0]["metadata"]["name"] == "guestbook"


def test_create_nils_zero_source_blocks_for_a_single_source_only(api, make_app):
    """§6.16, §2.1 create step 9 (NormalizeApplicationSpec/NormalizeSource): a zero helm/kustomize/directory
    block is dropped from `source`; multi-source specs keep theirs (Argo CD normalises a loop copy)."""
    single = make_app("single")
    single["spec"]["source"].update(helm={"valueFiles": []}, kustomize={}, directory={"recurse": True})
    stored = api.post("/api/v1/applications", single).json()["spec"]["source"]
    assert "helm" not in stored and "kustomize" not in stored and stored["directory"] == {"recurse": True}
    multi = make_app("multi", sources=[dict(make_app()["spec"]["source"], helm={})])
    multi["spec"].pop("source")
    assert api.post("/api/v1/applications", multi).json()["spec"]["sources"][0]["helm"] == {}
