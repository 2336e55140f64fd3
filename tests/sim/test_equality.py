"""Create-of-existing equality: what the REST client sent, as the Argo CD handler sees it (API-NOTES §6.18, .30, .31,
.41, .44).

The handlers compare with Go `reflect.DeepEqual`, where an empty map or slice differs from a nil one. But a REST body
never reaches them as JSON: the gateway decodes it, then calls the API server over a loopback gRPC connection
(`server/server.go` `Listen`: `grpc.Dial("localhost:<port>")`; `newHTTPServer` registers every gateway handler on
that connection), so the request is protobuf-encoded in between. Protobuf has no encoding for an empty map or an
empty repeated field, so `labels: {}` or `finalizers: []` arrive as nil, exactly like the omitempty'd stored object.
A non-nil pointer to an empty struct does survive (an empty embedded message), and the stored JSON keeps it as `{}`.
"""

from __future__ import annotations

import copy

from tests.sim.test_applicationsets import SETS, appset

SERVER = "https://equal.example.com:6443"


def test_app_empty_maps_and_lists_equal_missing(api, make_app):
    """`server/application/application.go` `Create`: DeepEqual of spec, labels, annotations, finalizers."""
    assert api.post("/api/v1/applications", make_app("eq")).status_code == 200
    again = make_app("eq", info=[], syncPolicy={"syncOptions": []})
    again["metadata"].update(labels={}, annotations={}, finalizers=[])
    r = api.post("/api/v1/applications", again)
    assert r.status_code == 200, r.text
    changed = make_app("eq")
    changed["metadata"]["labels"] = {"team": "a"}
    assert api.post("/api/v1/applications", changed).status_code == 400


def test_appset_empty_maps_equal_missing_but_empty_struct_differs(api):
    """`server/applicationset/applicationset.go` `Create`: empty map is nil after protobuf; an empty struct is not."""
    body = appset("eq")
    assert api.post(SETS, body).status_code == 200
    again = copy.deepcopy(body)
    again["metadata"].update(annotations={}, finalizers=[])
    again["spec"]["template"]["metadata"]["annotations"] = {}
    assert api.post(SETS, again).status_code == 200
    pointer = copy.deepcopy(body)
    pointer["spec"]["syncPolicy"] = {}  # *ApplicationSetSyncPolicy: non-nil, stored as {} by Kubernetes
    r = api.post(SETS, pointer)
    assert r.status_code == 400
    assert r.json()["message"] == "existing ApplicationSet spec is different, use upsert flag to force update"


def test_project_empty_lists_equal_missing(api):
    """`server/project/project.go` `Create`: DeepEqual of spec only."""
    spec = {"sourceRepos": ["*"], "destinations": [{"server": "*", "namespace": "*"}]}
    assert api.post("/api/v1/projects", {"project": {"metadata": {"name": "eq"}, "spec": spec}}).status_code == 200
    empty = dict(spec, roles=[], sourceNamespaces=[], syncWindows=[])
    again = {"metadata": {"name": "eq", "labels": {}}, "spec": empty}
    assert api.post("/api/v1/projects", {"project": again}).status_code == 200
    other = {"metadata": {"name": "eq"}, "spec": dict(spec, sourceNamespaces=["x"])}
    assert api.post("/api/v1/projects", {"project": other}).status_code == 400


def test_cluster_empty_maps_and_lists_equal_missing(api):
    """`pkg/apis/application/v1alpha1/types.go` `Cluster.Equals`: namespaces joined, maps by StringMapsEqual."""
    body = {"server": SERVER, "name": "eq", "config": {"bearerToken": "t"}}
    assert api.post("/api/v1/clusters", body).status_code == 200
    again = dict(body, namespaces=[], labels={}, annotations={})
    again["config"] = {"bearerToken": "t", "execProviderConfig": None}
    assert api.post("/api/v1/clusters", again).status_code == 200
    assert api.post("/api/v1/clusters", dict(body, labels={"a": "b"})).status_code == 400


def test_managed_by_url_must_be_http(api, make_app):
    """§2.1 step 8; `util/argo` managed-by URL validation (util/argo/argo_test.go): a non-http(s) URL is 400."""
    body = make_app("managed")
    body["metadata"]["annotations"] = {"argocd.argoproj.io/managed-by-url": "javascript:alert(1)"}
    r = api.post("/api/v1/applications", body)
    assert r.status_code == 400
    assert r.json()["message"] == (
        "application spec for managed is invalid: InvalidSpecError: "
        "invalid managed-by URL: URL must include http or https protocol"
    )
    body["metadata"]["annotations"]["argocd.argoproj.io/managed-by-url"] = "https://other.example.com"
    assert api.post("/api/v1/applications", body).status_code == 200


def test_appset_generator_without_type_is_500(api):
    """§2.3 create step 2; `applicationset/utils` `CheckInvalidGenerators`: no generator type set is a plain error.

    Two types set is not checked by the API server (only a generator with none is).
    """
    body = appset("nogen")
    body["spec"]["generators"].append({})
    r = api.post(SETS, body)
    assert r.status_code == 500
    assert r.json()["message"].endswith("ApplicationSet nogen contains unrecognized generators")
    assert api.get(SETS + "/nogen").status_code == 404
