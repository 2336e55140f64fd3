"""Sync, terminate, the simulated controller and the watch streams (API-NOTES §2.2, §6 items 22-29)."""

from __future__ import annotations

import json
import time

import pytest

from drkit.testing import controller
from tests.sim.conftest import first_live_event

APP = "/api/v1/applications/guestbook"


def status(api, path=APP):
    return api.get(path).json().get("status", {})


def wait_for(api, predicate, path=APP):
    """Poll (tiny intervals) until predicate(app) holds; the test's own timeout guards the loop."""
    for _ in range(500):
        app = api.get(path).json()
        if predicate(app):
            return app
        time.sleep(0.01)
    pytest.fail(f"condition never held for {path}: {json.dumps(app)[:500]}")


def test_sync_sets_operation_and_clears_state(papi, paused, make_app):
    """§6.23: sync writes `operation` from the request and clears status.operationState."""
    papi.post("/api/v1/applications", make_app(syncPolicy={"retry": {"limit": 2}}))
    body = {
        "revision": "v1.2.3",
        "prune": True,
        "dryRun": True,
        "strategy": {"apply": {"force": True}},
        "resources": [{"group": "apps", "kind": "Deployment", "name": "web", "namespace": "default"}],
        "syncOptions": {"items": ["CreateNamespace=true"]},
    }
    r = papi.post(APP + "/sync", body)
    assert r.status_code == 200, r.text
    operation = r.json()["operation"]
    assert operation["sync"] == {
        "revision": "v1.2.3",
        "prune": True,
        "dryRun": True,
        "syncStrategy": {"apply": {"force": True}},
        "resources": [{"group": "apps", "kind": "Deployment", "name": "web", "namespace": "default"}],
        "syncOptions": ["CreateNamespace=true"],
    }
    assert operation["initiatedBy"] == {"username": "admin"}
    assert operation["retry"] == {"limit": 2}
    assert "operationState" not in r.json().get("status", {})


def test_sync_while_operation_in_progress_is_400(papi, make_app):
    """§6.24: a second sync while `operation` is set is 400 `another operation is already in progress`."""
    papi.post("/api/v1/applications", make_app())
    assert papi.post(APP + "/sync", {}).status_code == 200
    r = papi.post(APP + "/sync", {})
    assert r.status_code == 400
    assert r.json() == {"error": "another operation is already in progress", "code": 9, "message": r.json()["message"]}


def test_sync_refusals(papi, paused, make_app):
    """§6.25: deleting app 400; revision other than targetRevision under auto-sync 400; deny window 403."""
    auto = make_app("auto", syncPolicy={"automated": {"prune": True}})
    papi.post("/api/v1/applications", auto)
    r = papi.post("/api/v1/applications/auto/sync", {"revision": "other"})
    assert r.status_code == 400 and r.json()["message"] == "Cannot sync to other: auto-sync currently set to HEAD"
    body = make_app()
    body["metadata"]["finalizers"] = ["example.com/keep"]
    papi.post("/api/v1/applications", body)
    papi.delete(APP)
    r = papi.post(APP + "/sync", {})
    assert r.status_code == 400 and r.json()["message"] == "application is deleting"
    project = paused.projects["default"]
    project["spec"]["syncWindows"] = [
        {"kind": "deny", "schedule": "* * * * *", "duration": "1h", "applications": ["*"]}
    ]
    r = papi.post("/api/v1/applications/auto/sync", {})
    assert r.status_code == 403 and r.json()["message"] == "cannot sync: blocked by sync window"


def test_operation_lifecycle(papi, paused, make_app):
    """§6.26: Running, then Succeeded with finishedAt; operation cleared; Synced/Healthy; reconciledAt >= finishedAt."""
    papi.post("/api/v1/applications", make_app())
    controller.tick(paused)
    before = status(papi)
    assert before["sync"]["status"] == "OutOfSync" and before["health"]["status"] == "Missing"
    papi.post(APP + "/sync", {})
    controller.tick(paused)
    running = papi.get(APP).json()
    assert running["operation"] and running["status"]["operationState"]["phase"] == "Running"
    assert "finishedAt" not in running["status"]["operationState"]
    controller.tick(paused)
    done = papi.get(APP).json()
    state = done["status"]["operationState"]
    assert "operation" not in done
    assert state["phase"] == "Succeeded" and state["finishedAt"]
    assert done["status"]["reconciledAt"] >= state["finishedAt"]
    assert done["status"]["sync"]["status"] == "Synced"
    assert done["status"]["health"]["status"] == "Healthy"
    assert done["status"]["history"][0]["revision"] == "HEAD"


def test_unreachable_repo_fails_and_unhealthy_degrades(api, sim, make_app):
    """§6.26: the operation fails when the repo is unreachable; sim.unhealthy apps never become Healthy."""
    sim.unreachable.add("https://github.com/argoproj/argocd-example-apps.git")
    api.post("/api/v1/applications?validate=false", make_app())
    api.post(APP + "/sync", {})
    app = wait_for(api, lambda a: a.get("status", {}).get("operationState", {}).get("finishedAt"))
    assert app["status"]["operationState"]["phase"] == "Failed"
    assert app["status"]["sync"]["status"] == "OutOfSync"
    sim.unreachable.clear()
    sim.unhealthy.add("sick")
    api.post("/api/v1/applications", make_app("sick"))
    api.post("/api/v1/applications/sick/sync", {})
    app = wait_for(
        api, lambda a: a.get("status", {}).get("operationState", {}).get("phase") == "Succeeded", APP[:-9] + "sick"
    )
    assert app["status"]["health"]["status"] == "Degraded"


def test_spec_change_makes_app_out_of_sync(api, make_app):
    """§6.26: after a sync, changing the spec makes the app OutOfSync again."""
    api.post("/api/v1/applications", make_app())
    api.post(APP + "/sync", {})
    wait_for(api, lambda a: a.get("status", {}).get("sync", {}).get("status") == "Synced")
    changed = make_app(source={"repoURL": "https://github.com/argoproj/argocd-example-apps.git", "path": "helm"})
    api.put(APP, changed)
    wait_for(api, lambda a: a.get("status", {}).get("sync", {}).get("status") == "OutOfSync")


def test_terminate(papi, paused, make_app):
    """§6.27: terminate with no operation is 400; during one it sets Terminating, answers {}, ends Failed."""
    papi.post("/api/v1/applications", make_app())
    r = papi.delete(APP + "/operation")
    assert r.status_code == 400
    assert r.json()["message"] == "Unable to terminate operation. No operation is in progress"
    papi.post(APP + "/sync", {})
    controller.tick(paused)
    r = papi.delete(APP + "/operation")
    assert r.status_code == 200 and r.json() == {}
    assert status(papi)["operationState"]["phase"] == "Terminating"
    controller.tick(paused)
    state = status(papi)["operationState"]
    assert state["phase"] == "Failed" and state["message"] == "Operation terminated"


def test_automated_sync_policy_syncs_by_itself(api, make_app):
    """§6.26: an armed `syncPolicy.automated` is synced by the controller; `enabled: false` is not armed."""
    api.post("/api/v1/applications", make_app("auto", syncPolicy={"automated": {"prune": True, "selfHeal": True}}))
    off = make_app("off", syncPolicy={"automated": {"enabled": False, "prune": True}})
    api.post("/api/v1/applications", off)
    app = wait_for(api, lambda a: a.get("status", {}).get("sync", {}).get("status") == "Synced", APP[:-9] + "auto")
    assert app["status"]["operationState"]["operation"]["initiatedBy"] == {"automated": True}
    assert app["status"]["operationState"]["operation"]["sync"]["prune"] is True
    off_app = api.get("/api/v1/applications/off?refresh=normal").json()
    assert off_app["status"]["sync"]["status"] == "OutOfSync"
    assert "operationState" not in off_app["status"]


@pytest.mark.parametrize(
    ("automated", "armed"),
    [
        ({}, True),
        ({"prune": True}, True),
        ({"enabled": True}, True),
        ({"enabled": False, "prune": True}, False),
        (None, False),
    ],
    ids=["empty", "prune", "enabled", "paused", "absent"],
)
def test_auto_sync_reads_automated_as_v3_1_and_is_recorded(papi, paused, make_app, automated, armed):
    """v3.1.0 `controller/appcontroller.go` `autoSync` runs when `SyncPolicy.IsAutomatedSyncEnabled()`
    (`types.go`: `Automated != nil && (Enabled == nil || *Enabled)`) and the app is OutOfSync; each such sync is
    recorded in `auto_synced` with the policy that armed it."""
    policy = {"syncOptions": ["CreateNamespace=true"]} | ({} if automated is None else {"automated": automated})
    papi.post("/api/v1/applications", make_app(syncPolicy=policy))
    controller.tick(paused)
    operation = paused.applications[("argocd", "guestbook")].get("operation")
    assert (operation or {}).get("initiatedBy") == ({"automated": True} if armed else None)
    assert paused.auto_synced == ([(("argocd", "guestbook"), policy)] if armed else [])


def test_watch_stream_initial_events_modified_and_deleted(api, make_app):
    """§6.28: NDJSON `{"result":{type,application}}`, initial ADDED sorted, live MODIFIED/DELETED events."""
    for name in ("b-app", "a-app"):
        api.post("/api/v1/applications", make_app(name))
    with api.get("/api/v1/stream/applications", stream=True, timeout=10) as r:
        assert r.status_code == 200 and r.headers["Content-Type"] == "application/json"
        events = (json.loads(line)["result"] for line in r.iter_lines() if line)
        first = [next(events), next(events)]
        assert [(e["type"], e["application"]["metadata"]["name"]) for e in first] == [
            ("ADDED", "a-app"),
            ("ADDED", "b-app"),
        ]
        api.delete("/api/v1/applications/a-app?cascade=false")
        seen = [next(events)]
        while seen[-1]["type"] != "DELETED":
            seen.append(next(events))
    assert seen[-1]["application"]["metadata"]["name"] == "a-app"
    assert all(e["type"] == "MODIFIED" for e in seen[:-1])


def test_watch_dedups_identical_events(paused, papi, make_app):
    """§6.28: an event byte-identical to the last one sent for the same app name is dropped."""
    papi.post("/api/v1/applications", make_app())
    app = paused.applications[("argocd", "guestbook")]
    with papi.get("/api/v1/stream/applications?name=guestbook", stream=True, timeout=10) as r:
        lines = r.iter_lines()
        assert json.loads(next(lines))["result"]["type"] == "ADDED"
        paused.emit("app", "ADDED", app)  # identical to the initial event: dropped
        paused.emit("app", "MODIFIED", app)
        assert json.loads(next(lines))["result"]["type"] == "MODIFIED"


def test_watch_with_resource_version_sends_no_initial_events(papi, paused, make_app):
    """§6.28: with resourceVersion and no name there are no initial ADDED events, so (§2.2, inferred) not even
    headers until the first live event; SSE framing with the header."""
    papi.post("/api/v1/applications", make_app("old"))
    headers = {"Accept": "text/event-stream"}
    path = "/api/v1/stream/applications?resourceVersion=1"
    with first_live_event(
        papi, path, lambda i: papi.post("/api/v1/applications", make_app(f"new-{i}")), headers=headers
    ) as r:
        chunk = next(r.iter_content(chunk_size=None))
    assert chunk.startswith(b"data: {")
    assert chunk.endswith(b" \n\n\n")
    event = json.loads(chunk[len(b"data: ") : -4])["result"]
    assert event["type"] == "ADDED" and event["application"]["metadata"]["name"].startswith("new-")


def test_appset_stream_initial_only_with_name(papi, paused):
    """§6.29: the appset stream uses key `applicationSet` and sends initial ADDED only when `name` is set."""
    appset = {
        "metadata": {"name": "set"},
        "spec": {"generators": [], "template": {"metadata": {}, "spec": {"project": "default"}}},
    }
    assert papi.post("/api/v1/applicationsets", appset).status_code == 200
    with papi.get("/api/v1/stream/applicationsets?name=set", stream=True, timeout=10) as r:
        event = json.loads(next(r.iter_lines()))["result"]
    assert event["type"] == "ADDED" and event["applicationSet"]["metadata"]["name"] == "set"

    def create(i: int) -> None:
        papi.post("/api/v1/applicationsets", dict(appset, metadata={"name": f"other-{i}"}))

    with first_live_event(papi, "/api/v1/stream/applicationsets", create) as r:
        event = json.loads(next(r.iter_lines()))["result"]
    assert event["type"] == "ADDED" and event["applicationSet"]["metadata"]["name"].startswith("other-")
