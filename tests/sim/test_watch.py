"""The application watch stream as Argo CD serves it (master server/application/application.go `Watch`,
`isApplicationPermitted`): resourceVersion filters every event, nothing is replayed across reconnects."""

from __future__ import annotations

import json

from drkit.testing import Simulator
from drkit.testing.watch import Fields
from tests.sim.conftest import Api, app_body, first_live_event

STREAM = "/api/v1/stream/applications"


def _relabel(api: Api, name: str, value: str, namespace: str = "argocd") -> int:
    """Change an app's labels (one write, one resourceVersion); return its new resourceVersion."""
    body = app_body(name)
    body["metadata"].update(namespace=namespace, labels={"n": value})
    answer = api.put(f"/api/v1/applications/{name}?validate=false", body)
    assert answer.status_code == 200, answer.text
    return int(answer.json()["metadata"]["resourceVersion"])


def _event(response) -> dict:
    return json.loads(next(response.iter_lines()))["result"]


def test_resource_version_filters_live_events_too(papi, paused):
    """An event for an app whose RV is below `resourceVersion` is not sent, initial or live."""
    papi.post("/api/v1/applications", app_body("guestbook"))
    floor = paused.rv + 3
    with first_live_event(
        papi, f"{STREAM}?name=guestbook&resourceVersion={floor}", lambda i: _relabel(papi, "guestbook", str(i))
    ) as r:
        event = _event(r)
    assert event["type"] == "MODIFIED"
    assert int(event["application"]["metadata"]["resourceVersion"]) == floor  # the first write at the floor


def test_an_unparsable_resource_version_counts_as_zero(papi):
    papi.post("/api/v1/applications", app_body("guestbook"))
    with papi.get(f"{STREAM}?name=guestbook&resourceVersion=abc", stream=True, timeout=10) as r:
        assert r.status_code == 200
        event = _event(r)
    assert event["type"] == "ADDED" and event["application"]["metadata"]["name"] == "guestbook"


def test_a_named_watch_is_of_the_control_plane_namespace_unless_told():
    """`appNs := s.appNamespaceOrDefault(q.GetAppNamespace())`: a name alone never matches another namespace."""
    with Simulator(controller=False, app_namespaces=("team-a",)) as instance:
        api = Api(instance)
        project = {"metadata": {"name": "default"}, "spec": {"sourceRepos": ["*"], "sourceNamespaces": ["team-a"],
                   "destinations": [{"server": "*", "namespace": "*"}]}}  # fmt: skip
        current = api.get("/api/v1/projects/default").json()
        project["metadata"]["resourceVersion"] = current["metadata"]["resourceVersion"]
        assert api.put("/api/v1/projects/default", {"project": project}).status_code == 200
        for namespace in ("argocd", "team-a"):
            other = app_body("dup")
            other["metadata"]["namespace"] = namespace
            assert api.post("/api/v1/applications", other).status_code == 200
        with api.get(f"{STREAM}?name=dup", stream=True, timeout=10) as r:
            lines = r.iter_lines()
            initial = json.loads(next(lines))["result"]
            _relabel(api, "dup", "x", "team-a")
            _relabel(api, "dup", "y", "argocd")
            live = json.loads(next(lines))["result"]
    assert initial["application"]["metadata"]["namespace"] == "argocd"
    assert live["application"]["metadata"]["namespace"] == "argocd"
    assert live["application"]["metadata"]["labels"] == {"n": "y"}


def test_a_reconnect_gets_only_what_happens_after_it(papi):
    """The broadcaster keeps no history: writes between two watches reach neither; a client lists again."""
    papi.post("/api/v1/applications", app_body("guestbook"))
    with papi.get(f"{STREAM}?name=guestbook", stream=True, timeout=10) as r:
        seen = int(_event(r)["application"]["metadata"]["resourceVersion"])
    missed = [_relabel(papi, "guestbook", "a"), _relabel(papi, "guestbook", "b")]
    path = f"{STREAM}?resourceVersion={seen}"
    with first_live_event(papi, path, lambda i: _relabel(papi, "guestbook", f"after-{i}")) as r:
        event = _event(r)
    assert int(event["application"]["metadata"]["resourceVersion"]) > max(missed)
    assert event["application"]["metadata"]["labels"]["n"].startswith("after-")


def test_appset_watch_filters_by_namespace_alone():
    """isApplicationsetPermitted: `appSetNamespace` filters even without a name."""
    with Simulator(controller=False, app_namespaces=("team-a",)) as instance:
        api = Api(instance)

        def create(i: int) -> None:
            for namespace in ("argocd", "team-a"):
                body = {"metadata": {"name": f"set-{i}", "namespace": namespace},
                        "spec": {"generators": [], "template": {"metadata": {}, "spec": {}}}}  # fmt: skip
                assert api.post("/api/v1/applicationsets", body).status_code == 200

        with first_live_event(api, "/api/v1/stream/applicationsets?appSetNamespace=team-a", create) as r:
            event = json.loads(next(r.iter_lines()))["result"]
    assert event["applicationSet"]["metadata"]["namespace"] == "team-a"


def test_appset_watch_floors_every_event_at_the_resource_version(papi, paused):
    appset = {"metadata": {"name": "set"}, "spec": {"generators": [], "template": {"metadata": {}, "spec": {}}}}
    assert papi.post("/api/v1/applicationsets", appset).status_code == 200
    floor = paused.rv + 2

    def relabel(i: int) -> None:
        body = dict(appset, metadata={"name": "set", "labels": {"n": str(i)}})
        assert papi.post("/api/v1/applicationsets?upsert=true", body).status_code == 200

    with first_live_event(papi, f"/api/v1/stream/applicationsets?name=set&resourceVersion={floor}", relabel) as r:
        event = json.loads(next(r.iter_lines()))["result"]
    assert int(event["applicationSet"]["metadata"]["resourceVersion"]) == floor


def test_fields_keep_only_the_listed_paths_and_dedupe_on_what_is_left(papi):
    """argoproj/pkg v2.0.1 grpc/http/forwarders.go: `newMarshaler` reads `fields`, `processItem` keeps a key whose
    path is listed (whole) or a string prefix of a listed one, list items share their list's path; the stream
    forwarder drops an event whose filtered JSON equals the last one sent for that name."""
    body = app_body("guestbook")
    body["metadata"]["labels"] = {"team": "a"}
    papi.post("/api/v1/applications", body)
    fields = "result.type,result.application.metadata.name,result.application.metadata.labels"
    with papi.get(f"{STREAM}?name=guestbook&fields={fields}", stream=True, timeout=10) as r:
        lines = r.iter_lines()
        first = json.loads(next(lines))
        meta = {"name": "guestbook", "labels": {"team": "a"}}
        assert first == {"result": {"type": "ADDED", "application": {"metadata": meta}}}
        _relabel(papi, "guestbook", "a")
        other = app_body("guestbook")
        other["metadata"]["labels"] = {"n": "a"}
        other["spec"]["destination"]["namespace"] = "elsewhere"  # a change the fields do not show: not sent
        assert papi.put("/api/v1/applications/guestbook?validate=false", other).status_code == 200
        _relabel(papi, "guestbook", "b")
        changes = [json.loads(next(lines))["result"]["application"]["metadata"]["labels"] for _ in range(2)]
    assert changes == [{"n": "a"}, {"n": "b"}]
    exclude = Fields("-result.application.spec,result.application.status.resources")
    event = {"result": {"application": {"spec": {"x": 1}, "status": {"resources": [1], "health": {"status": "ok"}}}}}
    assert exclude.apply(event) == {"result": {"application": {"status": {"health": {"status": "ok"}}}}}
    listed = Fields("result.items.name")
    assert listed.apply({"result": {"items": [{"name": "a", "x": 1}, {"name": "b"}]}}) == {
        "result": {"items": [{"name": "a"}, {"name": "b"}]}
    }
