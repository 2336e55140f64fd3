"""Converge while the applications are still being written: each app is refreshed and synced once it is written.

A restore writes every kind in order, and the applications last; waiting for the last application's write
before the first sync leaves the controller idle for the whole write phase. Here the applications' writes run in
one thread while converge works in another, and each app's converge starts when its own write is over:
- an app whose write failed or was skipped is dropped from converge, as if it had never been a target;
- an app of apps (another app names it as its parent) starts only once every application is written: its sync
  applies its children's Application manifests, which must not race drkit's own (disarmed) writes of them;
- apps an ApplicationSet generates are not written by drkit: they start at once (converge awaits their set);
- stages keep their order: a later wave or depth still waits for the one before (converge.stages).

Both threads share one request budget (`Gated`), and converge's workers are all started before the writes begin.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

WRITTEN = ("create", "update", "unchanged")


class Written:
    """Which applications the write phase is done with, and whether each was restored; shared by both threads."""

    def __init__(self, names: Iterable[str]) -> None:
        self._done = {name: threading.Event() for name in names}
        self._restored: dict[str, bool] = {}
        self._all = threading.Event()

    def record(self, name: str, action: str) -> None:
        """One application's outcome (its `action`): converge may start it."""
        self._restored[name] = action in WRITTEN
        if name in self._done:
            self._done[name].set()

    def finish(self) -> None:
        """The write phase is over (done, stopped or broken): nothing more will be written."""
        self._all.set()
        for event in self._done.values():
            event.set()

    def waiter(self, name: str, *, after_all: bool = False) -> Callable[[], bool]:
        """A call that blocks until `name` (with `after_all`, every application) is written; True if restored."""

        def written() -> bool:
            (self._all if after_all else self._done[name]).wait()
            return self._restored.get(name, False)

        return written


def with_waiters(targets: list[Any], written: Written) -> list[Any]:
    """`targets` (restore.AppTarget) each told what to wait for: see the module docstring."""
    parents = {p for t in targets for p in t.parents}
    for target in targets:
        if not target.generated:
            key = f"{target.namespace}/{target.name}"
            target.written = written.waiter(key, after_all=target.name in parents or key in parents)
    return targets


class Beside:
    """`work` (the applications' writes) in a thread of its own, started by `start` (converge's `ready`)."""

    def __init__(self, work: Callable[[], Any], written: Written) -> None:
        self.work, self.written, self.box = work, written, list[Any]()
        self.thread = threading.Thread(target=self._run, name="write-applications", daemon=True)

    def start(self) -> None:
        if self.thread.ident is None:  # not started yet
            self.thread.start()

    def result(self) -> Any:
        """What `work` returned, once it is over; the exception it raised is raised here. Not started: None."""
        if self.thread.ident is None:
            self.written.finish()
            return None
        self.thread.join()
        if isinstance(self.box[0], BaseException):
            raise self.box[0]
        return self.box[0]

    def _run(self) -> None:
        try:
            self.box.append(self.work())
        except BaseException as err:  # re-raised in the restoring thread, after converge has ended
            self.box.append(err)
        finally:
            self.written.finish()  # whatever happens: no converge worker waits forever


def start_workers(pool: ThreadPoolExecutor, workers: int) -> None:
    """Start every worker thread of `pool` now. Started on demand, each new thread would wait for the GIL behind
    the threads already writing applications: two hundred of them took a second, while the controller idled."""
    all_up = threading.Barrier(workers + 1)
    for _ in range(workers):
        pool.submit(all_up.wait)
    all_up.wait()


class Gated:
    """The client with at most `workers` requests at once: `--concurrency` bounds requests, not apps in flight.

    Except a hard refresh: argocd-server holds it open until the controller has reconciled the app (API-NOTES
    §2.2), so its length is the controller's (status processors, repo-server), not the API server's work. Held in
    a request slot, eight of them would pace the whole converge at eight reconciliations at a time; it is bounded
    by the apps in flight (`--max-syncs`) instead.
    """

    def __init__(self, client: Any, workers: int) -> None:
        self.client, self.slots = client, threading.BoundedSemaphore(max(1, int(workers or 1)))
        self.retries = getattr(client, "retries", 0)

    def get(self, path: str, params: dict[str, Any] | None = None, **options: Any) -> Any:
        if (params or {}).get("refresh"):
            return self.client.get(path, params, **options)
        with self.slots:
            return self.client.get(path, params, **options)

    def post(self, path: str, body: Any, params: dict[str, Any] | None = None) -> Any:
        with self.slots:
            return self.client.post(path, body, params)

    def write(self, kind: str, body: dict[str, Any], *, update: bool = False) -> Any:
        with self.slots:
            return self.client.write(kind, body, update=update)
