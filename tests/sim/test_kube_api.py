"""The simulated Kubernetes core/v1 API for ConfigMaps and Secrets, driven by the official client and by raw HTTP.

Each test names the Kubernetes documentation it follows; the expected messages are kube-apiserver's own (the
constructors of k8s.io/apimachinery pkg/api/errors, cited in drkit/testing/kube/status.py).
"""

from __future__ import annotations

import base64
import json

import pytest

kubernetes = pytest.importorskip("kubernetes")
ApiException = kubernetes.client.ApiException
FULL_ACCESS = [{"apiGroups": [""], "resources": ["*"], "verbs": ["*"]}]

API_CONCEPTS = "https://kubernetes.io/docs/reference/using-api/api-concepts/"


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def secret(name: str, **fields: object) -> dict:
    return {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": name}, **fields}


def status(exc: ApiException) -> dict:
    return json.loads(exc.body)


def test_stale_update_is_409_conflict(core, kube) -> None:
    """API concepts, "Resource versions", and the API conventions' "Concurrency Control and Consistency"
    (https://github.com/kubernetes/community/blob/master/contributors/devel/sig-architecture/api-conventions.md
    #concurrency-control-and-consistency): an update carrying a resourceVersion that is no longer the stored one
    is refused with 409 Conflict; every write gives the object a new resourceVersion."""
    created = core.create_namespaced_secret("argocd", secret("app", stringData={"k": "v1"}))
    first = created.metadata.resource_version
    created.data = {"k": b64("v2")}
    updated = core.replace_namespaced_secret("app", "argocd", created)
    assert int(updated.metadata.resource_version) > int(first)
    created.metadata.resource_version = first  # the stale copy
    with pytest.raises(ApiException) as raised:
        core.replace_namespaced_secret("app", "argocd", created)
    assert raised.value.status == 409
    assert status(raised.value) == {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": 'Operation cannot be fulfilled on secrets "app": the object has been modified; please apply '
        "your changes to the latest version and try again",
        "reason": "Conflict",
        "details": {"name": "app", "kind": "secrets"},
        "code": 409,
    }
    raw = kube("PUT", kube.secrets("app"), secret("app", metadata={"name": "app", "resourceVersion": first}))
    assert (raw.status_code, raw.json()["reason"]) == (409, "Conflict")
    # without a resourceVersion the update is unconditional (Secrets allow it); one that changes nothing keeps it
    same = kube("PUT", kube.secrets("app"), secret("app", data={"k": b64("v2")}))
    assert same.status_code == 200 and same.json()["metadata"]["resourceVersion"] == updated.metadata.resource_version


def test_create_of_an_existing_name_is_409_already_exists(core, kube) -> None:
    """API concepts, "Create": a name is unique per kind and namespace; a second create is 409 AlreadyExists."""
    core.create_namespaced_config_map("argocd", {"metadata": {"name": "settings"}, "data": {"a": "1"}})
    with pytest.raises(ApiException) as raised:
        core.create_namespaced_config_map("argocd", {"metadata": {"name": "settings"}})
    assert status(raised.value)["message"] == 'configmaps "settings" already exists'
    assert status(raised.value)["details"] == {"name": "settings", "kind": "configmaps"}
    raw = kube("POST", kube.configmaps(), {"metadata": {"name": "settings"}})
    assert (raw.status_code, raw.json()["reason"]) == (409, "AlreadyExists")


def test_label_selectors(core, kube) -> None:
    """https://kubernetes.io/docs/concepts/overview/working-with-objects/labels/#label-selectors: equality
    (`=`, `==`, `!=`, which also matches objects without the label), set-based (`in`, `notin`, `key`, `!key`),
    comma-separated terms ANDed; a malformed selector is 400."""
    for name, labels in {"a": {"tier": "web", "env": "prod"}, "b": {"tier": "db"}, "c": {}}.items():
        core.create_namespaced_secret("argocd", secret(name, metadata={"name": name, "labels": labels}))

    def names(selector: str) -> list[str]:
        listed = core.list_namespaced_secret("argocd", label_selector=selector).items
        return [s.metadata.name for s in listed if s.metadata.name in "abc"]

    assert names("tier=web") == names("tier==web") == ["a"]
    assert names("tier!=web") == ["b", "c"]
    assert names("tier in (web,db)") == ["a", "b"]
    assert names("tier notin (web)") == ["b", "c"]
    assert names("env") == ["a"] and names("!env") == ["b", "c"]
    assert names("tier,!env") == ["b"]
    bad = kube("GET", kube.secrets(), params={"labelSelector": "tier in (web"})
    assert (bad.status_code, bad.json()["reason"]) == (400, "BadRequest")
    assert bad.json()["message"].startswith("unable to parse requirement")


def test_field_selector_on_metadata_name(kube) -> None:
    """https://kubernetes.io/docs/concepts/overview/working-with-objects/field-selectors/: `metadata.name=`
    selects by name; a field the resource does not support is 400 `field label not supported`."""
    for name in ("one", "two"):
        kube("POST", kube.secrets(), secret(name))
    got = kube("GET", kube.secrets(), params={"fieldSelector": "metadata.name=two"}).json()
    assert [s["metadata"]["name"] for s in got["items"]] == ["two"]
    bad = kube("GET", kube.secrets(), params={"fieldSelector": "spec.foo=bar"})
    assert (bad.status_code, bad.json()["message"]) == (400, "field label not supported: spec.foo")


@pytest.mark.parametrize("name", ["Upper", "under_score", "-dash", "a" * 254])
def test_names_must_be_dns_subdomains(kube, name: str) -> None:
    """https://kubernetes.io/docs/concepts/overview/working-with-objects/names/#dns-subdomain-names: at most 253
    characters, lower-case alphanumerics, `-` and `.`, starting and ending alphanumeric; otherwise 422 Invalid."""
    r = kube("POST", kube.secrets(), secret(name))
    assert r.status_code == 422
    body = r.json()
    assert (body["reason"], body["details"]["kind"], body["details"]["causes"][0]["field"]) == (
        "Invalid",
        "Secret",
        "metadata.name",
    )
    assert body["message"].startswith(f'Secret "{name}" is invalid: ')
    expected = "must be no more than 253 characters" if len(name) > 253 else "a lowercase RFC 1123 subdomain"
    assert expected in body["message"]


def test_data_is_base64_and_string_data_is_write_only(core, kube) -> None:
    """https://kubernetes.io/docs/concepts/configuration/secret/#restriction-names-data: `data` values are
    base64 (a value that is not does not decode: 400 `illegal base64 data at input byte N`); `stringData` is
    merged into `data` on write, winning over it, and is never output."""
    bad = kube("POST", kube.secrets(), secret("bad", data={"password": "admin"}))
    assert bad.status_code == 400
    assert bad.json()["message"] == (
        'Secret in version "v1" cannot be handled as a Secret: illegal base64 data at input byte 4'
    )
    body = secret("mixed", data={"a": b64("from-data"), "b": b64("old")}, stringData={"b": "new"})
    created = kube("POST", kube.secrets(), body)
    assert created.status_code == 201
    for answer in (created.json(), kube("GET", kube.secrets("mixed")).json()):
        assert "stringData" not in answer
        assert answer["data"] == {"a": b64("from-data"), "b": b64("new")}
    listed = kube("GET", kube.secrets()).json()["items"]
    assert all("stringData" not in s for s in listed)
    assert core.read_namespaced_secret("mixed", "argocd").string_data is None


def test_immutable_objects_refuse_data_changes(core, kube) -> None:
    """https://kubernetes.io/docs/concepts/configuration/secret/#secret-immutable (and ConfigMaps'): once
    `immutable: true`, data cannot change and `immutable` cannot be unset (422); metadata still can."""
    kube("POST", kube.secrets(), secret("frozen", immutable=True, stringData={"k": "v"}))
    r = kube("PATCH", kube.secrets("frozen"), {"stringData": {"k": "other"}}, headers=MERGE)
    assert r.status_code == 422
    assert (
        r.json()["message"] == 'Secret "frozen" is invalid: data: Forbidden: field is immutable when `immutable` is set'
    )
    r = kube("PATCH", kube.secrets("frozen"), {"immutable": False}, headers=MERGE)
    assert r.status_code == 422 and "immutable: Forbidden" in r.json()["message"]
    labelled = core.patch_namespaced_secret(
        "frozen", "argocd", {"metadata": {"labels": {"ok": "yes"}}}, _content_type="application/merge-patch+json"
    )
    assert labelled.metadata.labels == {"ok": "yes"}
    core.create_namespaced_config_map("argocd", {"metadata": {"name": "frozen"}, "immutable": True, "data": {"a": "1"}})
    r = kube("PATCH", kube.configmaps("frozen"), {"data": {"a": "2"}}, headers=MERGE)
    assert r.status_code == 422 and r.json()["details"]["kind"] == "ConfigMap"


def test_missing_object_is_a_404_status(core, kube) -> None:
    """API conventions, "Response Status Kind": 404 with reason NotFound and details naming the object."""
    expected = {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": 'secrets "nothing" not found',
        "reason": "NotFound",
        "details": {"name": "nothing", "kind": "secrets"},
        "code": 404,
    }
    for method in ("GET", "PUT", "PATCH", "DELETE"):
        body = secret("nothing") if method == "PUT" else {} if method == "PATCH" else None
        r = kube(method, kube.secrets("nothing"), body, headers=MERGE if method == "PATCH" else {})
        assert (r.status_code, r.json()) == (404, expected)
    with pytest.raises(ApiException) as raised:
        core.read_namespaced_secret("nothing", "argocd")
    assert status(raised.value) == expected


def test_chunked_list_across_three_pages(ksim, core, kube) -> None:
    """API concepts, "Retrieving large results sets in chunks": `limit` and an opaque `continue` token; every
    page answers the first page's resourceVersion, from a consistent snapshot (objects written between pages do
    not show); `remainingItemCount` counts what is left when there is no selector; the last page has no token."""
    ksim.kube.add_namespace("paging")
    ksim.kube_grant(ksim.kube_user, FULL_ACCESS, namespace="paging")  # the default token's Role is argocd's only
    path = kube.configmaps(namespace="paging")
    for i in range(7):
        kube("POST", path, {"metadata": {"name": f"page-{i}", "labels": {"paged": "yes"}}})
    first = kube("GET", path, params={"limit": 3}).json()
    token = first["metadata"]["continue"]
    kube("POST", path, {"metadata": {"name": "page-9"}})  # written after the snapshot
    kube("DELETE", kube.configmaps("page-6", namespace="paging"))
    second = kube("GET", path, params={"limit": 3, "continue": token}).json()
    third = kube("GET", path, params={"limit": 3, "continue": second["metadata"]["continue"]}).json()
    pages = [[i["metadata"]["name"] for i in page["items"]] for page in (first, second, third)]
    assert pages == [["page-0", "page-1", "page-2"], ["page-3", "page-4", "page-5"], ["page-6"]]
    assert {p["metadata"]["resourceVersion"] for p in (first, second, third)} == {first["metadata"]["resourceVersion"]}
    assert (first["metadata"]["remainingItemCount"], second["metadata"]["remainingItemCount"]) == (4, 1)
    assert "continue" not in third["metadata"] and "remainingItemCount" not in third["metadata"]
    # with a selector: pages of `limit` matching objects, and no remainingItemCount
    selected = kube("GET", path, params={"limit": 2, "labelSelector": "paged=yes"}).json()
    assert len(selected["items"]) == 2 and "remainingItemCount" not in selected["metadata"]
    # the official client pages with `_continue`, and a fresh list sees the later writes
    names, token = [], None
    while True:
        page = core.list_namespaced_config_map("paging", limit=3, _continue=token)
        names += [i.metadata.name for i in page.items]
        token = page.metadata._continue
        if not token:
            break
    assert names == ["page-0", "page-1", "page-2", "page-3", "page-4", "page-5", "page-9"]
    bad = kube("GET", path, params={"limit": 3, "continue": "not-a-token"})
    assert (bad.status_code, bad.json()["reason"]) == (400, "BadRequest")


def test_bearer_token_authentication(ksim, kube) -> None:
    """https://kubernetes.io/docs/reference/access-authn-authz/authentication/: a bearer token the server does
    not know is 401 Unauthorized; a request without credentials is `system:anonymous`, whom RBAC allows nothing."""
    from tests.sim.conftest import Kube

    r = Kube(ksim, "not-a-token")("GET", kube.secrets())
    assert (r.status_code, r.json()) == (
        401,
        {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure", "message": "Unauthorized",
         "reason": "Unauthorized", "code": 401},
    )  # fmt: skip
    anonymous = Kube(ksim, anonymous=True)("GET", kube.secrets("argocd-secret"))
    assert anonymous.status_code == 403
    assert anonymous.json()["message"].startswith('secrets "argocd-secret" is forbidden: User "system:anonymous"')
    assert Kube(ksim, anonymous=True)("GET", "/version").status_code == 200


def test_server_metadata_is_set_and_managed_fields_kept(kube) -> None:
    """API concepts and the ObjectMeta reference: the server sets uid, creationTimestamp, resourceVersion and
    managedFields (server-side field management, one entry per manager); a client cannot set them on create
    (a create carrying a resourceVersion is refused with 500, as kube-apiserver's storage refuses it)."""
    created = kube("POST", kube.secrets(), secret("meta", metadata={"name": "meta", "uid": "mine"}), params={
        "fieldManager": "drkit"}).json()  # fmt: skip
    meta = created["metadata"]
    assert meta["uid"] != "mine" and meta["creationTimestamp"].endswith("Z") and meta["resourceVersion"]
    assert [(e["manager"], e["operation"]) for e in meta["managedFields"]] == [("drkit", "Update")]
    again = kube("POST", kube.secrets(), secret("meta2", metadata={"name": "meta2", "resourceVersion": "5"}))
    assert (again.status_code, again.json()["message"]) == (
        500,
        "resourceVersion should not be set on objects to be created",
    )


def test_unknown_fields_are_dropped_with_a_warning(kube) -> None:
    """API concepts, "Setting the field validation level": the default (`Warn`) drops unknown fields and says
    so in a `Warning` header; `Strict` refuses them."""
    r = kube("POST", kube.secrets(), secret("odd", spec={"x": 1}))
    assert r.status_code == 201 and "spec" not in r.json()
    assert 'unknown field \\"spec\\"' in r.headers["Warning"]
    strict = kube("POST", kube.secrets(), secret("odd2", spec={}), params={"fieldValidation": "Strict"})
    assert strict.status_code == 400


MERGE = {"Content-Type": "application/merge-patch+json"}


def test_patch_types(core, kube) -> None:
    """https://kubernetes.io/docs/tasks/manage-kubernetes-objects/update-api-object-kubectl-patch/: a JSON merge
    patch deletes a key with null; a strategic merge patch merges maps and takes `$patch: replace`; a JSON patch
    is a list of operations (the official client's default patch type); a patch naming a stale resourceVersion
    is 409."""
    kube(
        "POST",
        kube.secrets(),
        secret("p", stringData={"a": "1", "b": "2"}, metadata={"name": "p", "labels": {"x": "1"}}),
    )
    merged = kube("PATCH", kube.secrets("p"), {"data": {"a": None}, "stringData": {"c": "3"}}, headers=MERGE).json()
    assert sorted(merged["data"]) == ["b", "c"]
    strategic = {"Content-Type": "application/strategic-merge-patch+json"}
    replaced = kube(
        "PATCH", kube.secrets("p"), {"metadata": {"labels": {"$patch": "replace", "y": "2"}}}, headers=strategic
    )
    assert replaced.json()["metadata"]["labels"] == {"y": "2"}
    patched = core.patch_namespaced_secret("p", "argocd", [{"op": "add", "path": "/data/d", "value": b64("4")}])
    assert sorted(patched.data) == ["b", "c", "d"]
    stale = {"metadata": {"resourceVersion": merged["metadata"]["resourceVersion"]}, "data": {"e": b64("5")}}
    r = kube("PATCH", kube.secrets("p"), stale, headers=MERGE)
    assert (r.status_code, r.json()["reason"]) == (409, "Conflict")
    apply = kube("PATCH", kube.secrets("p"), data=b"{}", headers={"Content-Type": "application/apply-patch+yaml"})
    assert apply.status_code == 415


def test_delete_preconditions_and_finalizers(kube) -> None:
    """API concepts, "Deletion"/"Finalizers" (https://kubernetes.io/docs/concepts/overview/working-with-objects/
    finalizers/): a delete whose precondition does not hold is 409; an object with finalizers is only marked
    (deletionTimestamp, 202) and goes once they are removed; a plain delete answers a Success Status."""
    kube("POST", kube.configmaps(), {"metadata": {"name": "held", "finalizers": ["example.com/hold"]}})
    wrong = kube("DELETE", kube.configmaps("held"), {"preconditions": {"resourceVersion": "1"}})
    assert wrong.status_code == 409 and "Precondition failed" in wrong.json()["message"]
    marked = kube("DELETE", kube.configmaps("held"))
    assert marked.status_code == 202 and marked.json()["metadata"]["deletionTimestamp"]
    kube("PATCH", kube.configmaps("held"), {"metadata": {"finalizers": None}}, headers=MERGE)
    assert kube("GET", kube.configmaps("held")).status_code == 404
    kube("POST", kube.configmaps(), {"metadata": {"name": "plain"}})
    gone = kube("DELETE", kube.configmaps("plain")).json()
    assert (gone["kind"], gone["status"], gone["details"]["name"]) == ("Status", "Success", "plain")


def test_discovery_and_version(ksim, core) -> None:
    """The discovery documents clients read (API concepts, "Discovery API"): `/api` lists v1, `/api/v1` its
    resources; `/version` the server's version."""
    resources = {r.name: r for r in core.get_api_resources().resources}
    assert resources["secrets"].namespaced and resources["secrets"].kind == "Secret"
    assert "list" in resources["configmaps"].verbs
    version = kubernetes.client.VersionApi(core.api_client).get_code()
    assert version.major == "1" and version.git_version.startswith("v1.")


def test_unknown_namespace_and_resource(ksim, kube) -> None:
    """A create in a namespace that does not exist is 404 `namespaces "x" not found` (once RBAC allows it); a
    resource this server does not serve is 404 `the server could not find the requested resource`."""
    ksim.kube_grant(ksim.kube_user, FULL_ACCESS, namespace="nowhere")
    r = kube("POST", kube.secrets(namespace="nowhere"), secret("x"))
    assert (r.status_code, r.json()["message"]) == (404, 'namespaces "nowhere" not found')
    r = kube("GET", "/api/v1/namespaces/argocd/pods")
    assert (r.status_code, r.json()["message"]) == (404, "the server could not find the requested resource")
