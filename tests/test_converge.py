"""converge over the simulator: refresh, sync in waves, wait for Synced+Healthy, re-arm apps and ApplicationSets."""

from __future__ import annotations

import copy
import threading
from dataclasses import dataclass, field
from typing import Any

import pytest

from drkit.argocd.client import Client
from drkit.errors import ApiError, ConnectionFailed, Stop
from drkit.restore.converge import AppResult, converge, in_progress, stages
from drkit.testing import Simulator

REPO = "https://git.example.com/team/apps.git"
FAST = {"poll_start": 0.01, "poll_max": 0.05}


@dataclass
class Target:
    """Stand-in for restore.AppTarget."""

    name: str
    wave: int = 0
    parents: list[str] = field(default_factory=list)
    rearm_spec: dict[str, Any] | None = None
    namespace: str = "argocd"
    generated: bool = False
    project: str = ""


@dataclass
class Options:
    """Stand-in for restore.RestoreOptions."""

    sync: bool = True
    prune: bool = False
    wait: bool = True
    timeout: float = 10.0
    concurrency: int = 4
    max_syncs: int = 200


class Recording:
    """A Client wrapper that snapshots the simulator's app health at each sync request, and records sync errors."""

    def __init__(self, client: Client, sim: Simulator) -> None:
        self.client, self.sim = client, sim
        self.retries = client.retries
        self.health_at_sync: dict[str, dict[str, str]] = {}
        self.sync_errors: list[tuple[str, ApiError]] = []
        self.lock = threading.Lock()

    def get(self, path: str, params: dict[str, Any] | None = None, *, timeout: float | None = None) -> Any:
        return self.client.get(path, params, timeout=timeout)

    def put(self, path: str, body: Any, params: dict[str, Any] | None = None) -> Any:
        return self.client.put(path, body, params)

    def write(self, kind: str, body: Any, *, update: bool = False) -> Any:
        return self.client.write(kind, body, update=update)

    def post(self, path: str, body: Any, params: dict[str, Any] | None = None) -> Any:
        if path.endswith("/sync"):
            name = path.split("/")[-2]
            with self.sim.lock:
                seen = {
                    k[1]: (a.get("status") or {}).get("health", {}).get("status", "")
                    for k, a in self.sim.applications.items()
                }
            with self.lock:
                self.health_at_sync.setdefault(name, seen)
            try:
                return self.client.post(path, body, params)
            except ApiError as err:
                with self.lock:
                    self.sync_errors.append((name, err))
                raise
        return self.client.post(path, body, params)


def spec(*, path: str = "guestbook", automated: dict[str, Any] | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {
        "project": "default",
        "source": {"repoURL": REPO, "path": path, "targetRevision": "HEAD"},
        "destination": {"server": "https://kubernetes.default.svc", "namespace": "apps"},
    }
    if automated is not None:
        out["syncPolicy"] = {"automated": automated}
    return out


def create(client: Client, name: str, app_spec: dict[str, Any] | None = None) -> None:
    body = {"metadata": {"name": name, "namespace": "argocd", "labels": {"team": "a"}}, "spec": app_spec or spec()}
    client.post("/api/v1/applications", body, {"validate": "false"})


def sync_posts(sim: Simulator) -> list[str]:
    """App names in the order their sync requests reached the server."""
    return [p.split("/")[-2] for m, p in list(sim.gateway.requests) if m == "POST" and p.endswith("/sync")]


@pytest.fixture
def client(sim: Simulator) -> Client:
    return Client(sim.url, sim.token)


def by_name(results: list[AppResult]) -> dict[str, AppResult]:
    return {r.name: r for r in results if r.kind == "applications"}


# waiting and waves ------------------------------------------------------------------------------------


def test_apps_become_synced_and_healthy(sim: Simulator, client: Client) -> None:
    for name in ("one", "two", "three"):
        create(client, name)
    results = converge(client, [Target("one"), Target("two"), Target("three")], [], Options(), **FAST)
    assert [(r.name, r.sync, r.health, r.phase, r.outcome) for r in results] == [
        (n, "Synced", "Healthy", "Succeeded", "healthy") for n in ("one", "two", "three")
    ]
    assert all(r.ok and not r.rearmed for r in results)
    live = sim.applications[("argocd", "two")]
    assert live["status"]["sync"]["status"] == "Synced" and not in_progress(live)


def test_waves_and_parents_are_worked_in_order(sim: Simulator, client: Client) -> None:
    for name in ("base", "base2", "root", "child", "late"):
        create(client, name, spec(path=name))
    targets = [
        Target("late", wave=2),
        Target("child", wave=1, parents=["root"]),
        Target("root", wave=1),
        Target("base", wave=0),
        Target("base2", wave=0),
    ]
    recording = Recording(client, sim)
    results = converge(recording, targets, [], Options(concurrency=8), **FAST)
    assert all(r.outcome == "healthy" for r in results)
    order = sync_posts(sim)
    assert set(order[:2]) == {"base", "base2"} and order[2:] == ["root", "child", "late"]
    seen = recording.health_at_sync
    assert seen["root"]["base"] == seen["root"]["base2"] == "Healthy"
    assert seen["child"]["root"] == "Healthy"
    assert seen["late"]["child"] == "Healthy"
    assert seen["base"].get("root") != "Healthy"


def test_stages_order_by_wave_then_depth() -> None:
    grand = Target("grand", wave=0, parents=["argocd/child"])
    child = Target("child", wave=0, parents=["root"])
    root = Target("root", wave=0)
    other = Target("other", wave=-1, parents=["not-restored"])
    loop_a, loop_b = Target("a", wave=3, parents=["b"]), Target("b", wave=3, parents=["a"])
    assert [[t.name for t in s] for s in stages([grand, child, root, other, loop_a, loop_b])] == [
        ["other"],
        ["root"],
        ["child"],
        ["grand"],
        ["b"],
        ["a"],
    ]


def test_unhealthy_app_times_out_others_are_fine(sim: Simulator, client: Client) -> None:
    sim.unhealthy.add("broken")
    create(client, "broken")
    create(client, "fine")
    results = by_name(converge(client, [Target("broken"), Target("fine")], [], Options(timeout=2), **FAST))
    broken = results["broken"]
    assert (broken.outcome, broken.sync, broken.health, broken.ok) == ("timeout", "Synced", "Degraded", False)
    assert "not Synced and Healthy within --timeout 2s" in broken.message and "health Degraded" in broken.message
    assert results["fine"].outcome == "healthy"


def test_no_wait_returns_right_after_the_sync_requests(sim: Simulator, client: Client) -> None:
    create(client, "first")
    create(client, "second")
    results = converge(client, [Target("second", wave=1), Target("first")], [], Options(wait=False), **FAST)
    assert [(r.name, r.outcome) for r in results] == [("first", "sent"), ("second", "sent")]
    assert sync_posts(sim) == ["first", "second"]
    requests = list(sim.gateway.requests)
    last_sync = max(i for i, (m, p) in enumerate(requests) if p.endswith("/second/sync"))
    assert not [p for _, p in requests[last_sync + 1 :] if "/applications/" in p], "polled after --no-wait"
    assert results[1].phase == "" and results[1].sync != "Synced"


def test_past_the_timeout_every_stage_still_gets_its_sync(sim: Simulator, client: Client) -> None:
    create(client, "early")
    create(client, "later")
    results = by_name(converge(client, [Target("early"), Target("later", wave=5)], [], Options(timeout=0), **FAST))
    assert sync_posts(sim) == ["early", "later"]
    assert {r.outcome for r in results.values()} == {"timeout"}
    assert "not refreshed: --timeout reached" in results["later"].message


def test_a_refresh_that_hangs_is_bounded_by_the_timeout() -> None:
    with Simulator(controller=False) as idle:  # nobody reconciles: the hard refresh would block for ever
        client = Client(idle.url, idle.token, retries=0)
        create(client, "stuck")
        ticks, naps = iter(range(10_000)), []
        [result] = converge(
            client,
            [Target("stuck")],
            [],
            Options(timeout=0.5),
            clock=lambda: next(ticks) * 0.01,
            sleep=naps.append,
            quiet=0,  # the watch counts as quiet at once: the app is read at the polling pace
            **FAST,
        )
    assert naps and max(naps) <= FAST["poll_max"]
    assert result.outcome == "timeout"
    assert "hard refresh got no answer in time" in result.message and "operation requested" in result.message


# operations -------------------------------------------------------------------------------------------


def test_an_operation_already_in_progress_is_waited_out() -> None:
    with Simulator(reconcile_seconds=0.2) as slow:  # the controller needs two ticks to finish an operation
        client = Client(slow.url, slow.token)
        create(client, "busy")
        recording = Recording(client, slow)
        original_post = recording.post

        def post_after_someone_else(path: str, body: Any, params: dict[str, Any] | None = None) -> Any:
            if path.endswith("/sync") and not slow.applications[("argocd", "busy")].get("operation"):
                client.post(path, {"appNamespace": "argocd"})  # another user's sync, just before ours
            return original_post(path, body, params)

        recording.post = post_after_someone_else  # type: ignore[method-assign]
        [result] = converge(recording, [Target("busy")], [], Options(), **FAST)
    assert [e.status for _, e in recording.sync_errors] == [400]
    assert "another operation is already in progress" in recording.sync_errors[0][1].api_message
    assert (result.outcome, result.sync, result.health) == ("healthy", "Synced", "Healthy")


def test_a_failed_sync_is_retried_once_then_reported(sim: Simulator, client: Client) -> None:
    create(client, "ok")
    sim.unreachable.add(REPO + "-other")
    app = spec(path="y")
    app["source"]["repoURL"] = REPO + "-other"
    create(client, "bad", app)
    results = by_name(converge(client, [Target("bad"), Target("ok")], [], Options(), **FAST))
    bad = results["bad"]
    assert (bad.outcome, bad.phase) == ("failed", "Failed")
    assert "sync Failed (also after one retry): ComparisonError: repository not accessible" in bad.message
    assert sync_posts(sim).count("bad") == 2
    assert results["ok"].outcome == "healthy"


def test_prune_lands_in_the_operation(sim: Simulator, client: Client) -> None:
    create(client, "pruned")
    create(client, "kept")
    converge(client, [Target("pruned")], [], Options(prune=True), **FAST)
    converge(client, [Target("kept")], [], Options(prune=False), **FAST)
    state = sim.applications[("argocd", "pruned")]["status"]["operationState"]
    assert state["operation"]["sync"]["prune"] is True
    assert not sim.applications[("argocd", "kept")]["status"]["operationState"]["operation"]["sync"].get("prune")


def test_a_missing_app_is_that_apps_failure(sim: Simulator, client: Client) -> None:
    create(client, "present")
    results = by_name(converge(client, [Target("absent"), Target("present")], [], Options(), **FAST))
    assert results["absent"].outcome == "failed" and "HTTP 403: permission denied" in results["absent"].message
    assert results["present"].outcome == "healthy"


def test_awaiting_a_generated_app_a_real_permission_refusal_fails_at_once(sim: Simulator) -> None:
    """Asked with `?project=`, a missing app is 404 (waited for) and a 403 is a real refusal (API-NOTES §2.1)."""
    sim.policies["viewer"] = [("applications", "get", "other/*")]
    viewer = Client(sim.url, sim.mint_token("viewer:apiKey"))
    results = converge(viewer, [Target("later", generated=True, project="default")], [], Options(timeout=30), **FAST)
    assert results[0].outcome == "failed" and "HTTP 403: permission denied: applications, get" in results[0].message
    asked = [p for m, p in sim.gateway.requests if m == "GET" and not p.startswith("/api/v1/stream/")]
    assert asked == ["/api/v1/applications/later"]  # asked once (beside the one watch of every app)


def test_a_refused_token_stops_the_run_once_and_nothing_more_starts(sim: Simulator) -> None:
    """errors.ends_run: a refused token ends the run (exit 2); later apps are not started, no re-arm is tried."""
    stranger = Client(sim.url, Simulator().mint_token("admin:apiKey"))  # signed by another instance's key
    stop = Stop()
    targets = [Target("any", rearm_spec=spec()), Target("other", rearm_spec=spec())]
    results = converge(stranger, targets, [], Options(concurrency=1, max_syncs=1), stop=stop, **FAST)
    assert stop and stop.exit_code == 2 and "HTTP 401" in stop.reason
    assert [(r.outcome, r.rearmed) for r in results] == [("failed", False), ("stopped", False)]
    assert results[1].message == f"not started: {stop.reason}"
    assert len([r for r in sim.gateway.requests if "/api/v1/applications" in r[1]]) == 1  # one refusal, then none


# re-arming --------------------------------------------------------------------------------------------


def test_rearm_after_healthy_and_at_the_end_for_unhealthy(sim: Simulator, client: Client) -> None:
    armed = spec(automated={"prune": True, "selfHeal": True})
    disarmed = spec()  # as a restore writes it: no `automated`
    sim.unhealthy.add("sick")
    create(client, "well", disarmed)
    create(client, "sick", copy.deepcopy(disarmed))
    targets = [Target("well", rearm_spec=armed), Target("sick", rearm_spec=armed), Target("plain")]
    create(client, "plain")
    results = by_name(converge(client, targets, [], Options(timeout=2), **FAST))
    for name in ("well", "sick"):
        assert sim.applications[("argocd", name)]["spec"]["syncPolicy"] == {
            "automated": {"prune": True, "selfHeal": True}
        }
        assert sim.applications[("argocd", name)]["metadata"]["labels"] == {"team": "a"}
    assert (results["well"].rearmed, results["well"].rearmed_healthy, results["well"].ok) == (True, True, True)
    assert (results["sick"].rearmed, results["sick"].rearmed_healthy, results["sick"].outcome) == (
        True,
        False,
        "timeout",
    )
    assert not results["plain"].rearmed and "syncPolicy" not in sim.applications[("argocd", "plain")]["spec"]

    puts_before = [p for m, p in sim.gateway.mutating_requests() if m == "PUT"]
    again = by_name(converge(client, targets[:1], [], Options(), **FAST))
    assert again["well"].rearmed and [p for m, p in sim.gateway.mutating_requests() if m == "PUT"] == puts_before


def test_applicationsets_are_reapplied_and_failures_reported(sim: Simulator, client: Client) -> None:
    template = {"metadata": {"name": "{{name}}"}, "spec": spec(path="{{name}}")}
    good = {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "ApplicationSet",
        "metadata": {"name": "fleet", "namespace": "argocd", "resourceVersion": "7", "uid": "old"},
        "spec": {"generators": [{"list": {"elements": [{"name": "gen-a"}]}}], "template": template},
        "status": {"conditions": []},
    }
    bad = copy.deepcopy(good)
    bad["metadata"]["name"] = "orphan"
    bad["spec"]["template"]["spec"]["project"] = "no-such-project"
    results = converge(client, [], [good, bad], Options())
    assert [(r.kind, r.name, r.rearmed, r.outcome) for r in results] == [
        ("applicationsets", "fleet", True, "rearmed"),
        ("applicationsets", "orphan", False, "failed"),
    ]
    assert ("argocd", "fleet") in sim.applicationsets and "no-such-project" in results[1].message
    assert converge(client, [], [good], Options())[0].rearmed  # a second run is an unchanged upsert


# the CLI's wait conditions ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("app", "expected"),
    [
        ({"operation": {"sync": {}}}, True),
        ({"status": {}}, False),
        ({"status": {"operationState": {"phase": "Running"}}}, True),
        ({"status": {"operationState": {"finishedAt": "2026-01-01T00:00:05Z"}}}, True),
        (
            {
                "status": {
                    "operationState": {"finishedAt": "2026-01-01T00:00:05Z"},
                    "reconciledAt": "2026-01-01T00:00:04Z",
                }
            },
            True,
        ),
        (
            {
                "status": {
                    "operationState": {"finishedAt": "2026-01-01T00:00:05Z"},
                    "reconciledAt": "2026-01-01T00:00:05Z",
                }
            },
            False,
        ),
        (
            {
                "status": {
                    "operationState": {"finishedAt": "2026-01-01T00:00:05Z", "operation": {"sync": {"dryRun": True}}},
                    "reconciledAt": "2026-01-01T00:00:04Z",
                }
            },
            False,
        ),
    ],
)
def test_in_progress_follows_check_app_wait_conditions(app: dict[str, Any], expected: bool) -> None:
    assert in_progress(app) is expected


def test_without_sync_only_refreshes(sim: Simulator, client: Client) -> None:
    create(client, "idle")
    [result] = converge(client, [Target("idle")], [], Options(sync=False), **FAST)
    assert (result.outcome, result.sync, result.health) == ("refreshed", "OutOfSync", "Missing")
    assert sync_posts(sim) == [] and ("GET", "/api/v1/applications/idle") in sim.gateway.requests


# the controller's pace ----------------------------------------------------------------------------------


class Watched(Client):
    """A Client that records how many apps have an operation running when each sync is asked for."""

    def __init__(self, sim: Simulator, cut_after: int = 0) -> None:
        super().__init__(sim.url, sim.token)
        self.sim, self.cut_after, self.running_at_sync, self.streams = sim, cut_after, [], 0

    def post(self, path: str, body: Any, params: dict[str, Any] | None = None) -> Any:
        if path.endswith("/sync"):
            with self.sim.lock:
                self.running_at_sync.append(sum(1 for a in self.sim.applications.values() if in_progress(a)))
        return super().post(path, body, params)

    def stream(self, path: str, params: dict[str, Any] | None = None) -> Any:
        """The watch; the first one is cut after `cut_after` events (0: never), as a proxy or a restart would."""
        self.streams += 1
        for n, event in enumerate(super().stream(path, params), 1):
            yield event
            if self.streams == 1 and n == self.cut_after:
                raise ConnectionFailed("GET /api/v1/stream/applications: the watch ended (cut by the test)")


def app_requests(sim: Simulator) -> list[str]:
    return [p for _, p in sim.gateway.requests if p.startswith("/api/v1/applications/")]


def converge_many(client: Watched, count: int, options: Options) -> list[AppResult]:
    """`count` apps created, then converged with a watch that counts as quiet only after 30 s."""
    names = [f"app-{n}" for n in range(count)]
    for name in names:
        create(client, name)
    return converge(client, [Target(n) for n in names], [], options, quiet=30, **FAST)


def test_apps_are_followed_on_one_watch_with_few_requests_each() -> None:
    with Simulator(reconcile_seconds=0.05) as sim:
        client = Watched(sim)
        results = converge_many(client, 12, Options(concurrency=2))
        assert all(r.outcome == "healthy" for r in results)
        assert len(app_requests(sim)) / 12 <= 2  # a hard refresh and a sync each; no polling
        assert client.streams == 1


def test_syncs_in_flight_are_bounded_by_max_syncs_not_concurrency() -> None:
    with Simulator(reconcile_seconds=0.05) as sim:
        client = Watched(sim)
        results = converge_many(client, 8, Options(concurrency=8, max_syncs=2))
        assert all(r.outcome == "healthy" for r in results)
        assert len(client.running_at_sync) == 8 and max(client.running_at_sync) < 2  # ours: at most one other


def test_a_cut_watch_is_reconnected_and_nothing_is_missed() -> None:
    with Simulator(reconcile_seconds=0.3) as sim:
        client = Watched(sim, cut_after=3)
        results = converge_many(client, 6, Options(concurrency=4))
        assert all(r.outcome == "healthy" for r in results)
        assert client.streams >= 2
