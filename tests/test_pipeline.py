"""Converge begins while the applications are still being written (restore.pipeline), without changing what is synced.

The target's API server is made slow to write (ServerCost), so the applications' writes take long enough to
tell the order of requests apart.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import pytest

from drkit.argocd.client import Client
from drkit.backup.format import Backup
from drkit.restore.apply import RestoreOptions, restore
from drkit.restore.converge import converge
from drkit.testing import Simulator
from drkit.testing.capacity import ServerCost
from tests.test_restore_plan import client_of, export_backup

APPS = 24
REPO = "https://git.example.com/apps/pipeline.git"


def app(name: str, **labels: str) -> dict[str, Any]:
    return {
        "metadata": {"name": name, "namespace": "argocd", "labels": labels},
        "spec": {
            "project": "default",
            "source": {"repoURL": REPO, "path": name},
            "destination": {"server": "https://kubernetes.default.svc", "namespace": name},
            "syncPolicy": {"automated": {"prune": True}},
        },
    }


@pytest.fixture(scope="module")
def source() -> Iterator[Backup]:
    """A root app of apps (`root`, named by its children's instance label), its children, and other apps."""
    with Simulator() as instance:
        client = client_of(instance)
        client.post("/api/v1/repositories", {"repo": REPO, "type": "git"})
        docs = [app("root")] + [app(f"app-{i:02d}", **({"app.kubernetes.io/instance": "root"} if i % 3 else {}))
                                for i in range(APPS)]  # fmt: skip
        for doc in docs:
            client.post("/api/v1/applications", doc, {"validate": "false"})
        yield export_backup(instance)


@pytest.fixture
def target() -> Iterator[Simulator]:
    with Simulator(server_cost=ServerCost(write=0.05)) as instance:
        yield instance


def order(target: Simulator) -> tuple[dict[str, int], dict[str, int]]:
    """Index in the target's request log of each app's create and of its first sync request."""
    created, synced = {}, {}
    for i, (method, path) in enumerate(target.gateway.requests):
        if method == "POST" and path == "/api/v1/applications":
            created[f"#{len(created)}"] = i
        elif path.endswith("/sync"):
            synced.setdefault(path.split("/")[4], i)
    return created, synced


def test_syncs_begin_before_the_last_application_is_written(source: Backup, target: Simulator) -> None:
    report = restore(client_of(target), source, None, RestoreOptions(timeout=60, concurrency=2), converge=converge)
    assert report.exit_code == 0, report.lines()
    created, synced = order(target)
    assert len(created) == APPS + 1 and len(synced) == APPS + 1
    assert min(synced.values()) < max(created.values())  # the controller is not idle while drkit writes
    assert all(a["sync"] == "Synced" and a["health"] == "Healthy" for a in report.apps)
    assert target.auto_synced == []  # nothing auto-synced before drkit re-armed it
    rearmed = [target.applications[("argocd", a["name"])]["spec"]["syncPolicy"] for a in report.apps]
    assert all(policy.get("automated") == {"prune": True} for policy in rearmed)


def test_an_app_of_apps_syncs_only_once_every_application_is_written(source: Backup, target: Simulator) -> None:
    """Its sync applies its children's Application manifests: they must not race drkit's disarmed writes."""
    report = restore(client_of(target), source, None, RestoreOptions(timeout=60, concurrency=2), converge=converge)
    assert report.exit_code == 0, report.lines()
    created, synced = order(target)
    assert synced["root"] > max(created.values())


def test_an_app_whose_write_failed_is_not_converged(source: Backup, target: Simulator) -> None:
    broken = next(a for a in source.objects["applications"] if a["metadata"]["name"] == "app-05")
    broken["spec"]["destination"] = {"server": "https://nowhere.example.com:6443", "namespace": "x"}
    try:
        report = restore(client_of(target), source, None, RestoreOptions(timeout=60), converge=converge)
    finally:
        broken["spec"]["destination"] = {"server": "https://kubernetes.default.svc", "namespace": "app-05"}
    failed = [o for o in report.objects if o.action == "fail"]
    assert [o.name for o in failed] == ["argocd/app-05"] and report.exit_code == 3
    assert "app-05" not in {a["name"] for a in report.apps} and len(report.apps) == APPS
    assert "application argocd/app-05" not in report.still_disarmed


class Counting(Client):
    """A client that counts the hard refreshes it sends, and the most refreshes and other API requests it had open
    at once."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.lock, self.refreshes = threading.Lock(), 0
        self.open = {True: 0, False: 0}  # refresh or not -> open now
        self.most = {True: 0, False: 0}

    def _send(self, method: str, path: str, **kwargs: Any) -> Any:
        refresh = bool((kwargs.get("params") or {}).get("refresh"))
        with self.lock:
            self.refreshes += refresh
            self.open[refresh] += 1
            self.most[refresh] = max(self.most[refresh], self.open[refresh])
        try:
            return super()._send(method, path, **kwargs)
        finally:
            with self.lock:
                self.open[refresh] -= 1


def test_a_hard_refresh_waits_on_the_controller_without_holding_a_request_slot(source: Backup) -> None:
    """argocd-server holds a hard refresh until the controller reconciled the app: in a `--concurrency` slot, the
    slots would pace converge at their number of reconciliations at a time, whatever the controller can do."""
    with Simulator(reconcile_seconds=0.3) as slow:
        client = Counting(slow.url, slow.token)
        restore(client, source, None, RestoreOptions(sync=False))  # then apps already there: each hard-refreshed
        report = restore(client, source, None, RestoreOptions(timeout=120, concurrency=1), converge=converge)
    assert report.exit_code == 0, report.lines()
    assert client.most[True] > 1


def test_an_app_the_restore_created_is_not_hard_refreshed_but_awaited_on_the_watch(source: Backup) -> None:
    """Argo CD compares a new app at once (v3.5.1 controller/appcontroller.go `needRefreshAppStatus`: no
    `reconciledAt`, refresh); converge decides on that first comparison instead of asking for a second one."""
    with Simulator() as instance:
        client = Counting(instance.url, instance.token)
        report = restore(client, source, None, RestoreOptions(timeout=60), converge=converge)
    assert report.exit_code == 0, report.lines()
    assert client.refreshes == 0 and len(report.apps) == APPS + 1
    assert all(a["health"] == "Healthy" for a in report.apps)


def test_writes_and_converge_share_the_concurrency_flag_while_both_run(source: Backup, target: Simulator) -> None:
    """--concurrency bounds the API requests of the whole run, also while apps are written and synced at once."""
    client = Counting(target.url, target.token)
    report = restore(client, source, None, RestoreOptions(timeout=60, concurrency=4), converge=converge)
    assert report.exit_code == 0, report.lines()
    assert 1 < client.most[False] <= 4
