"""One rule for errors that end a run (errors.ends_run): Argo CD unreachable after retries, or the token refused.

Issue 7 defect 5: once Argo CD is found unreachable, no other request spends a retry budget of its own; export,
restore's apply and its converge step stop once, and the report says what was written before.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import pytest

from drkit.argocd import client as argocd
from drkit.argocd.client import Client
from drkit.backup.format import list_backups
from drkit.backup.store import open_store
from drkit.errors import EXIT_FAILED, Stop, Unreachable, ends_run
from drkit.export.export import export
from drkit.restore.apply import RestoreOptions, restore
from drkit.restore.converge import converge
from drkit.testing import Simulator
from tests import test_restore_plan as shared

source = shared.source  # the demo instance as a backup, built once per module
target = shared.target  # a fresh simulator with the demo's app namespaces


class Counting(Client):
    """A client that counts the attempts it sends, and makes Argo CD go away at the first write of `kind`."""

    def __init__(self, sim: Simulator, down_at: str = "", **options: Any) -> None:
        super().__init__(sim.url, sim.token, **options)
        self.sim, self.down_at, self.sent = sim, down_at, []
        self.lock = threading.Lock()
        send = self.session.request

        def counted(method: str, url: str, **kw: Any) -> Any:
            with self.lock:
                self.sent.append((method, url.removeprefix(sim.url)))
            return send(method, url, **kw)

        self.session.request = counted  # type: ignore[method-assign]

    def request(self, method: str, path: str, **kw: Any) -> Any:
        if self.down_at and method != "GET" and path.startswith(self.down_at):
            self.sim.gateway.faults.drop = 1.0  # every connection from now on is closed without an answer
        return super().request(method, path, **kw)


@pytest.fixture(autouse=True)
def no_backoff(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Retries without their sleeps: the count of attempts is what matters here, not the time they take."""
    monkeypatch.setattr(argocd, "_backoff", lambda attempt: 0.0)
    yield


def test_once_unreachable_every_other_request_fails_at_once_without_retrying(target: Simulator) -> None:
    client = Counting(target, retries=3)
    target.gateway.faults.drop = 1.0
    with pytest.raises(Unreachable) as first:
        client.get("/api/v1/applications")
    assert len(client.sent) == 4 and ends_run(first.value)  # its own retries: 1 + 3
    with pytest.raises(Unreachable) as later:
        client.post("/api/v1/projects", {"project": {"metadata": {"name": "x"}}})
    assert len(client.sent) == 4  # nothing more sent
    assert "not sent, Argo CD at" in str(later.value) and "stopped answering" in str(later.value)


def test_a_slow_answer_to_a_bounded_call_is_that_calls_failure_not_the_runs(target: Simulator) -> None:
    """A hard refresh blocks until the controller reconciles; converge bounds it and takes a timeout as a note."""
    client = Client(target.url, target.token, retries=0)
    target.gateway.faults.latency = 0.5
    with pytest.raises(argocd.ConnectionFailed) as slow:
        client.get("/api/v1/applications", timeout=0.05)
    assert not ends_run(slow.value) and client.unreachable is None
    target.gateway.faults.latency = 0.0
    assert client.get("/api/v1/applications") is not None


def test_restore_stops_once_when_argo_cd_goes_away_and_says_what_was_written(source: Any, target: Simulator) -> None:
    client = Counting(target, down_at="/api/v1/projects", retries=2)
    options = RestoreOptions(timeout=30, concurrency=1)  # one write at a time: the count of attempts is exact
    report = restore(client, source, None, options, converge=converge)
    assert report.exit_code == EXIT_FAILED and "could not reach Argo CD" in report.stopped
    actions = {(o.kind, o.action) for o in report.objects}
    assert ("clusters", "create") in actions and ("repositories", "create") in actions  # written before
    first, *others = [o for o in report.objects if o.kind == "projects" and o.action != "unchanged"]
    assert first.action == "fail" and "not known to be written, the restore stopped here" in first.error
    assert others and all(
        o.action == "skip" and o.reason.startswith("not written: the restore stopped (") for o in others
    )
    later = [o for o in report.objects if o.kind in ("applicationsets", "applications") and o.action != "skip"]
    assert later == []  # not one write after Argo CD went away, nor a converge step
    assert not any("refused it" in (o.error or "") for o in report.objects)  # not blamed on the objects
    assert report.converged == []
    assert not [p for m, p in client.sent if m != "GET" and p.startswith(("/api/v1/applications",))]
    attempts = [p for m, p in client.sent if m == "POST" and p.startswith("/api/v1/projects")]
    assert len(attempts) == 3  # one retry budget (1 + 2 retries) in all, not one per remaining object
    lines = "\n".join(report.lines())
    assert "stopped: " in lines and "exit code 1" in lines
    assert report.to_json()["stopped"] == report.stopped


def test_export_stops_once_and_writes_no_backup(target: Simulator, tmp_path: Any) -> None:
    store = open_store(str(tmp_path))
    client = Counting(target, retries=1)
    target.gateway.faults.drop, target.gateway.faults.path_pattern = 1.0, "^/api/v1/"  # /api/version answers
    with pytest.raises(Unreachable) as stopped:
        export(client, store, "demo")
    assert "could not reach Argo CD" in str(stopped.value)
    assert list_backups(store, "demo") == []


def test_a_stop_keeps_its_first_reason_and_exit_code() -> None:
    stop = Stop()
    assert not stop
    stop.on_signal(15)
    stop.halt("later", 1)
    assert stop and stop.exit_code == 143 and stop.reason.startswith("interrupted by SIGTERM")
