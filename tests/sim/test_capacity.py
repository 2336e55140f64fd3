"""The simulated controller's finite capacity and the API server's cost per request (capacity.py, workers.py).

No test here measures wall-clock time: concurrency is read from the order of the watch journal, costs from the
sleeps the gateway asks for.
"""

from __future__ import annotations

import json
import threading

import pytest

from drkit.testing import Simulator, capacity, workers
from drkit.testing import gateway as gateway_module
from drkit.testing import sim as sim_cli
from drkit.testing.capacity import Capacity, ServerCost
from tests.sim.conftest import Api, app_body


def _phases(instance: Simulator, names: set[str]) -> list[tuple[str, str]]:
    """(app, operation phase) for every journal entry of these apps, in order."""
    out = []
    for _, kind, _, obj in instance.journal.entries:
        if kind == "app" and obj["metadata"]["name"] in names:
            out.append((obj["metadata"]["name"], obj.get("status", {}).get("operationState", {}).get("phase", "")))
    return out


def _most_running_at_once(phases: list[tuple[str, str]]) -> int:
    running: set[str] = set()
    most = 0
    for name, phase in phases:
        (running.add if phase == "Running" else running.discard)(name)
        most = max(most, len(running))
    return most


def _sync_all(api: Api, names: list[str]) -> None:
    for name in names:
        assert api.post("/api/v1/applications", app_body(name)).status_code == 200
    for name in names:
        assert api.post(f"/api/v1/applications/{name}/sync", {}).status_code == 200


def _wait_all_synced(instance: Simulator, names: list[str]) -> None:
    with instance.changed:
        done = instance.changed.wait_for(
            lambda: all(
                instance.applications[(instance.namespace, n)].get("status", {}).get("operationState", {}).get("phase")
                == "Succeeded"
                for n in names
            ),
            timeout=60,
        )
    assert done, "the syncs never finished"


@pytest.mark.parametrize("processors", [1, 2, 3])
def test_syncs_queue_for_the_operation_processors(processors):
    """`--operation-processors N`: never more than N syncs Running at once, and every queued one runs."""
    names = [f"app-{i}" for i in range(6)]
    with Simulator(operation_processors=processors, sync_seconds=0.5, controller=False) as instance:
        _sync_all(Api(instance), names)
        instance.processors.start()  # every sync is queued before the first processor looks
        _wait_all_synced(instance, names)
        phases = _phases(instance, set(names))
    assert _most_running_at_once(phases) == processors


def test_a_sync_occupies_its_processor_for_the_sync_time():
    """With one processor, the next sync starts only after the previous one finished."""
    names = ["first", "second"]
    with Simulator(operation_processors=1, sync_seconds=0.2, controller=False) as instance:
        _sync_all(Api(instance), names)
        instance.processors.start()
        _wait_all_synced(instance, names)
        states = {n: instance.applications[(instance.namespace, n)]["status"]["operationState"] for n in names}
        phases = _phases(instance, set(names))
    started = [name for name, phase in phases if phase == "Running"]
    assert started[:1] == ["first"] and "second" in started
    first_done = phases.index(("first", "Succeeded"))
    assert phases.index(("second", "Running")) > first_done
    assert states["second"]["startedAt"] >= states["first"]["finishedAt"]


def test_default_capacity_is_argo_cds():
    """cmd/argocd-application-controller: --operation-processors 10, --status-processors 20."""
    assert (Capacity().operation_processors, Capacity().status_processors) == (10, 20)
    instance = Simulator(controller=False)
    assert (
        instance.capacity.operation_processors == 10 and instance.capacity.sync == instance.capacity.reconcile_seconds
    )


def test_status_processors_serve_hard_refreshes():
    """Refreshes wait for a status processor; each returns once its app was reconciled."""
    with Simulator(status_processors=1, reconcile_seconds=0.05) as instance:
        api = Api(instance)
        for i in range(4):
            api.post("/api/v1/applications", app_body(f"app-{i}"))
        answers: dict[int, int] = {}

        def refresh(i: int) -> None:
            answers[i] = api.get(f"/api/v1/applications/app-{i}?refresh=hard").status_code

        threads = [threading.Thread(target=refresh, args=(i,)) for i in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
    assert answers == dict.fromkeys(range(4), 200)


def test_work_queue_hands_a_key_to_one_worker_and_requeues_it_after():
    """client-go workqueue: a key is queued once; added while processed, it comes back after done."""
    queue = workers.WorkQueue(threading.Event())
    queue.add(("argocd", "a"))
    queue.add(("argocd", "a"))
    queue.add(("argocd", "b"))
    assert queue.get() == ("argocd", "a")
    queue.add(("argocd", "a"))  # while processing: not handed out again yet
    assert queue.get() == ("argocd", "b")
    queue.done(("argocd", "b"))
    assert len(queue) == 1  # a is still being processed
    queue.done(("argocd", "a"))
    assert queue.get() == ("argocd", "a")


def test_a_stopped_work_queue_hands_out_nothing():
    stopping = threading.Event()
    stopping.set()
    assert workers.WorkQueue(stopping).get() is None


def test_capacity_needs_a_processor():
    with pytest.raises(ValueError, match="at least one operation processor"):
        Capacity(operation_processors=0)


# server cost ------------------------------------------------------------------------------------------


def test_server_cost_of_each_kind_of_request():
    cost = ServerCost(call=0.001, write=0.01, validate=0.5, item=0.0001)
    assert cost.of("GET", "ApplicationService_Get", False, 0) == pytest.approx(0.001)
    assert cost.of("POST", "ApplicationService_Create", True, 0) == pytest.approx(0.511)
    assert cost.of("POST", "ApplicationService_Create", False, 0) == pytest.approx(0.011)
    assert cost.of("POST", "ProjectService_Create", True, 0) == pytest.approx(0.011)  # takes no validate
    assert cost.of("GET", "ApplicationService_List", False, 1000) == pytest.approx(0.101)


@pytest.fixture
def sleeps(monkeypatch):
    """What the gateway sleeps for, instead of sleeping."""
    taken: list[float] = []
    monkeypatch.setattr(gateway_module.time, "sleep", taken.append)
    return taken


def _handle(instance: Simulator, method: str, path: str, body: object = None) -> int:
    headers = {"authorization": f"Bearer {instance.token}", "content-type": "application/json"}
    raw = json.dumps(body).encode() if body is not None else b""
    return instance.gateway.handle(method, path, headers, raw).status


def test_the_gateway_spends_the_cost_of_each_request(sleeps):
    cost = ServerCost(call=0.001, write=0.01, validate=0.5, item=0.0001)
    instance = Simulator(controller=False, server_cost=cost)
    assert _handle(instance, "POST", "/api/v1/applications", app_body("a")) == 200
    assert _handle(instance, "POST", "/api/v1/applications?validate=false", app_body("b")) == 200
    assert _handle(instance, "GET", "/api/v1/applications") == 200
    assert _handle(instance, "GET", "/api/v1/applications/a") == 200
    assert sleeps == pytest.approx([0.511, 0.011, 0.0012, 0.001])


def test_no_cost_by_default(sleeps):
    instance = Simulator(controller=False)
    assert _handle(instance, "GET", "/api/v1/applications") == 200
    assert sleeps == []


# command line -----------------------------------------------------------------------------------------


def _parse(*argv: str):
    parser = sim_cli.argparse.ArgumentParser()
    capacity.add_arguments(parser)
    return capacity.from_arguments(parser.parse_args(list(argv)))


def test_cli_sets_the_capacity():
    options = _parse("--operation-processors", "100", "--status-processors", "40", "--sync-seconds", "1",
                     "--reconcile-seconds", "0.1", "--validate-seconds", "0.4", "--item-seconds", "0.0002")  # fmt: skip
    instance = Simulator(controller=False, **options)
    assert instance.capacity.operation_processors == 100 and instance.capacity.status_processors == 40
    assert instance.capacity.sync == 1.0 and instance.capacity.reconcile_seconds == 0.1
    assert instance.capacity.server == ServerCost(validate=0.4, item=0.0002)


@pytest.mark.parametrize("flag, value", [("--operation-processors", "0"), ("--status-processors", "x"),
                                         ("--sync-seconds", "-1"), ("--call-seconds", "nan")])  # fmt: skip
def test_cli_refuses_bad_capacity(flag, value, capsys):
    with pytest.raises(SystemExit) as refused:
        sim_cli.main([flag, value])
    assert refused.value.code == 2 and flag in capsys.readouterr().err


def test_a_sync_written_while_its_app_is_queued_for_a_refresh_still_runs():
    """A status processor's reconciliation consumes the app's pending mark, including one a sync request set
    after the refresh was queued; the operation must still reach the operation processors (appcontroller.go
    `processAppRefreshQueueItem` and `processAppOperationQueueItem` work from separate queues, so a refresh never
    swallows an operation). Two restores at once on one target met this: apps stayed "operation requested"."""
    with Simulator(controller=False, reconcile_seconds=0.0) as instance:
        api = Api(instance)
        assert api.post("/api/v1/applications", app_body("late")).status_code == 200
        key = (instance.namespace, "late")
        instance.processors.refreshes.add(key)  # queued for a refresh by the create
        assert api.post("/api/v1/applications/late/sync", {}).status_code == 200  # marks it pending again
        instance.processors._reconcile(key)  # the refresh runs first and takes the pending mark
        assert ("app", key) in instance.pending or len(instance.processors.operations) == 1
        with instance.lock:
            work = [k for _, k in sorted(instance.pending)]
            instance.pending.clear()
        for k in set(work) | set(instance.processors.operations.queue):
            instance.processors._sync(k)
        phase = instance.applications[key].get("status", {}).get("operationState", {}).get("phase")
        assert phase == "Succeeded"
