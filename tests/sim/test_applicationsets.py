"""ApplicationSet endpoints and the simulated ApplicationSet controller (API-NOTES §2.3, §6 item 30)."""

from __future__ import annotations

import copy

from drkit.testing import controller

SETS = "/api/v1/applicationsets"
REPO = "https://github.com/argoproj/argo-cd.git"


def appset(name="guestbook", elements=None, go=False, **sync_policy):
    """A list-generator ApplicationSet as in Argo CD's applicationset/examples/list-generator."""
    tag = (lambda k: "{{." + k + "}}") if go else (lambda k: "{{" + k + "}}")
    body = {
        "metadata": {"name": name, "labels": {"owner": "platform"}},
        "spec": {
            "generators": [{"list": {"elements": elements or [{"cluster": "dev", "foo": "bar"}]}}],
            "template": {
                "metadata": {"name": f"{tag('cluster')}-{name}", "labels": {"foo": tag("foo")}},
                "spec": {
                    "project": "default",
                    "source": {"repoURL": REPO, "targetRevision": "HEAD", "path": f"examples/{tag('cluster')}"},
                    "destination": {"server": "https://kubernetes.default.svc", "namespace": name},
                },
            },
        },
    }
    if go:
        body["spec"]["goTemplate"] = True
    if sync_policy:
        body["spec"]["syncPolicy"] = sync_policy
    return body


def test_create_rules(papi, paused):
    """§6.30: templated project 500; missing project 400; dryRun stores nothing; status is ignored."""
    templated = appset()
    templated["spec"]["template"]["spec"]["project"] = "{{cluster}}"
    r = papi.post(SETS, templated)
    assert r.status_code == 500
    assert "templated project fields" in r.json()["message"]
    missing = appset()
    missing["spec"]["template"]["spec"]["project"] = "ghost"
    r = papi.post(SETS, missing)
    assert r.status_code == 400
    assert r.json()["message"] == "ApplicationSet references project ghost which does not exist"
    r = papi.post(SETS + "?dryRun=true", appset())
    assert r.status_code == 200
    assert r.json()["status"]["resources"][0]["name"] == "dev-guestbook"
    assert paused.applicationsets == {}
    body = appset()
    body["status"] = {"conditions": [{"type": "ErrorOccurred", "message": "old"}]}
    assert "status" not in papi.post(SETS, body).json()


def test_existing_equal_different_upsert_and_get_delete(papi):
    """§6.30: equal 200, different 400 unless upsert (labels merged); GET of a missing set is 404; delete."""
    first = papi.post(SETS, appset()).json()
    assert papi.post(SETS, appset()).json()["metadata"]["uid"] == first["metadata"]["uid"]
    changed = appset(elements=[{"cluster": "prod", "foo": "baz"}])
    changed["metadata"]["labels"] = {"tier": "web"}
    r = papi.post(SETS, changed)
    assert r.status_code == 400
    assert r.json()["message"] == "existing ApplicationSet spec is different, use upsert flag to force update"
    updated = papi.post(SETS + "?upsert=true", changed).json()
    assert updated["metadata"]["labels"] == {"owner": "platform", "tier": "web"}
    assert updated["spec"]["generators"][0]["list"]["elements"] == [{"cluster": "prod", "foo": "baz"}]
    r = papi.get(SETS + "/nope")
    assert r.status_code == 404 and r.json()["message"] == 'applicationsets.argoproj.io "nope" not found'
    assert papi.delete(SETS + "/guestbook").json() == {}
    assert papi.get(SETS + "/guestbook").status_code == 404
    assert papi("PUT", SETS + "/guestbook", appset()).status_code in (404, 405)  # there is no PUT


def test_list_filters(papi):
    """§2.3: the list filters by template project and selector."""
    papi.post(SETS, appset("one"))
    other = appset("two")
    other["metadata"]["labels"] = {"owner": "apps"}
    papi.post(SETS, other)
    listed = papi.get(SETS).json()["items"]
    assert [s["metadata"]["name"] for s in listed] == ["one", "two"]
    assert [s["metadata"]["name"] for s in papi.get(SETS + "?selector=owner%3Dapps").json()["items"]] == ["two"]
    assert papi.get(SETS + "?projects=other").json()["items"] == []
    assert len(papi.get(SETS + "?projects=default").json()["items"]) == 2


def generated(sim):
    return {name: app for (_, name), app in sim.applications.items()}


def test_list_generator_renders_fasttemplate_and_go_template(papi, paused):
    """§2.3: generated apps carry a controller ownerReference to the set; both template syntaxes render."""
    fast = papi.post(SETS, appset("fast", [{"cluster": "a", "foo": "x"}, {"cluster": "b", "foo": "y"}])).json()
    papi.post(SETS, appset("go", [{"cluster": "c", "foo": "z"}], go=True))
    controller.tick(paused)
    apps = generated(paused)
    assert sorted(apps) == ["a-fast", "b-fast", "c-go"]
    assert apps["b-fast"]["spec"]["source"]["path"] == "examples/b"
    assert apps["c-go"]["metadata"]["labels"] == {"foo": "z"}
    owner = apps["a-fast"]["metadata"]["ownerReferences"][0]
    assert owner == {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "ApplicationSet",
        "name": "fast",
        "uid": fast["metadata"]["uid"],
        "controller": True,
        "blockOwnerDeletion": True,
    }
    assert paused.applicationsets[("argocd", "fast")]["status"]["resources"][1]["name"] == "b-fast"


def _change(papi, paused, body):
    papi.post(SETS + "?upsert=true", body)
    controller.tick(paused)
    controller.tick(paused)
    return generated(paused)


def test_applications_sync_policies(papi, paused):
    """§2.3: create-only neither updates nor deletes; create-update updates only; sync does both."""
    elements = [{"cluster": "dev", "foo": "bar"}, {"cluster": "prod", "foo": "bar"}]
    for policy, updates, deletes in (
        ("create-only", False, False),
        ("create-update", True, False),
        ("create-delete", False, True),
        ("sync", True, True),
    ):
        name = policy.replace("-", "")
        papi.post(SETS, appset(name, elements, applicationsSync=policy))
        controller.tick(paused)
        assert {f"dev-{name}", f"prod-{name}"} <= set(generated(paused))
        apps = _change(papi, paused, appset(name, [{"cluster": "dev", "foo": "new"}], applicationsSync=policy))
        assert (apps[f"dev-{name}"]["metadata"]["labels"]["foo"] == "new") is updates, policy
        assert (f"prod-{name}" not in apps) is deletes, policy


def test_generated_app_deleted_by_hand_is_recreated(papi, paused):
    """§2.3: the set recreates an app it generates when someone deletes it."""
    papi.post(SETS, appset())
    controller.tick(paused)
    uid = paused.applications[("argocd", "dev-guestbook")]["metadata"]["uid"]
    papi.delete("/api/v1/applications/dev-guestbook")
    controller.tick(paused)  # the app's cascade finishes and it is gone
    assert ("argocd", "dev-guestbook") not in paused.applications
    controller.tick(paused)  # the set notices
    assert paused.applications[("argocd", "dev-guestbook")]["metadata"]["uid"] != uid


def test_set_deletion_and_preserve_resources(papi, paused):
    """§2.3: deleting a set deletes its apps (cascading per their finalizers) unless preserveResourcesOnDeletion."""
    cascading = appset("cascade")
    cascading["spec"]["template"]["metadata"]["finalizers"] = ["resources-finalizer.argocd.argoproj.io"]
    preserving = copy.deepcopy(cascading)
    preserving["metadata"]["name"] = "keep"
    preserving["spec"]["template"]["metadata"]["name"] = "{{cluster}}-keep"
    preserving["spec"]["syncPolicy"] = {"preserveResourcesOnDeletion": True}
    papi.post(SETS, cascading)
    papi.post(SETS, preserving)
    controller.tick(paused)
    papi.delete(SETS + "/cascade")
    papi.delete(SETS + "/keep")
    apps = generated(paused)
    assert "dev-keep" not in apps  # finalizer removed: gone at once, resources preserved
    assert apps["dev-cascade"]["metadata"]["deletionTimestamp"]  # waits for the controller's cascade
    controller.tick(paused)
    assert "dev-cascade" not in generated(paused)


def test_create_without_name_is_400_and_stores_nothing(papi, paused):
    """§2.3 create, §6.30: the apiserver refuses an ApplicationSet without metadata.name (Invalid → 400)."""
    body = appset()
    body["metadata"].pop("name")
    r = papi.post("/api/v1/applicationsets", body)
    assert r.status_code == 400 and "metadata.name: Required value" in r.json()["message"]
    assert paused.applicationsets == {}


def test_template_patch_is_applied_to_each_generated_app_as_argo_cd_does(papi, paused):
    """`spec.templatePatch` (v2.10.0+; `applicationset/controllers/template/template.go` `GenerateApplications`,
    `patch.go` `applyTemplatePatch`): rendered with the element's params, a strategic merge patch on the generated
    app, unknown fields dropped by decoding into an Application, `spec.project` put back; a patch that does not
    decode into an Application generates no app."""
    body = appset("patched", [{"cluster": "dev", "foo": "a", "prune": True}, {"cluster": "qa", "foo": "b"}], go=True)
    body["spec"]["template"]["spec"]["syncPolicy"] = {"syncOptions": ["CreateNamespace=true"]}
    body["spec"]["templatePatch"] = (
        "metadata:\n  finalizers: [resources-finalizer.argocd.argoproj.io]\n"
        "spec:\n  project: hijacked\n  notAField: dropped\n"
        "  syncPolicy:\n    automated:\n      prune: {{ .prune }}\n"
    )
    assert papi.post(SETS, body).status_code == 200
    broken = appset("broken", [{"cluster": "x", "foo": "c"}], go=True)
    broken["spec"]["templatePatch"] = "- not an Application"
    assert papi.post(SETS, broken).status_code == 200
    controller.tick(paused)
    apps = generated(paused)
    assert "x-broken" not in apps
    dev = apps["dev-patched"]
    assert dev["spec"]["syncPolicy"] == {"syncOptions": ["CreateNamespace=true"], "automated": {"prune": True}}
    assert dev["spec"]["project"] == "default" and "notAField" not in dev["spec"]
    assert dev["metadata"]["finalizers"] == ["resources-finalizer.argocd.argoproj.io"]
    assert dev["metadata"]["labels"] == {"foo": "a"}
    # `{{ .prune }}` of a missing key renders `<no value>`, which YAML reads as a string: not a bool, no app
    assert "qa-patched" not in apps
