"""The simulated application controller at finite capacity: status and operation processors as threads.

As in Argo CD (`controller/appcontroller.go` `Run`): a refresh queue served by `--status-processors` workers
and an operation queue served by `--operation-processors` workers, both client-go work queues, so one app is in
the hands of one worker at a time and a key added while it is processed is queued again after. A
reconciliation occupies a status processor for `reconcile_seconds`, a sync an operation processor for
`sync_seconds`; queued work waits for a free processor. The ApplicationSet controller is a separate one.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable
from typing import Any

from drkit.testing import controller
from drkit.testing.capacity import Capacity
from drkit.testing.state import Key, State


class WorkQueue:
    """client-go's workqueue: each key once in the queue, and never handed to two workers at the same time."""

    def __init__(self, stopping: threading.Event) -> None:
        self.stopping = stopping
        self.ready = threading.Condition()
        self.queue: deque[Key] = deque()
        self.dirty: set[Key] = set()
        self.processing: set[Key] = set()

    def add(self, key: Key) -> None:
        with self.ready:
            if key in self.dirty:
                return
            self.dirty.add(key)
            if key not in self.processing:
                self.queue.append(key)
                self.ready.notify()

    def get(self) -> Key | None:
        """The next key, waiting for one; None once the simulator stops."""
        with self.ready:
            while not self.queue:
                if self.stopping.is_set():
                    return None
                self.ready.wait(0.5)
            key = self.queue.popleft()
            self.dirty.discard(key)
            self.processing.add(key)
            return key

    def done(self, key: Key) -> None:
        with self.ready:
            self.processing.discard(key)
            if key in self.dirty:
                self.queue.append(key)
                self.ready.notify()

    def __len__(self) -> int:
        with self.ready:
            return len(self.queue) + len(self.processing)


class Controller:
    """The application controller's processors, fed from `state.pending` by one dispatcher thread."""

    def __init__(self, state: State, capacity: Capacity) -> None:
        self.state = state
        self.capacity = capacity
        self.refreshes = WorkQueue(state.stopping)
        self.operations = WorkQueue(state.stopping)
        self.threads: list[threading.Thread] = []

    def start(self) -> None:
        self._spawn(self._dispatch, "dispatcher")
        for i in range(self.capacity.status_processors):
            self._spawn(self._serve, f"status-{i}", self.refreshes, self._reconcile)
        for i in range(self.capacity.operation_processors):
            self._spawn(self._serve, f"operation-{i}", self.operations, self._sync)

    def _spawn(self, target: Callable[..., None], name: str, *args: Any) -> None:
        thread = threading.Thread(target=target, args=args, name=f"argocd-controller-{name}", daemon=True)
        thread.start()
        self.threads.append(thread)

    def _dispatch(self) -> None:
        """Hand pending apps to the queues (an app with an operation to both); reconcile due sets here."""
        state, queued = self.state, dict[Key, float]()
        while not state.stopping.is_set():
            with state.changed:
                while not state.pending and not state.stopping.is_set():
                    state.changed.wait(1.0)
                work = controller.due(state, self.capacity.appset_seconds, queued)
                syncing = {k for kind, k in work if kind == "app" and state.applications.get(k, {}).get("operation")}
            for kind, key in work:
                if kind == "appset":
                    with state.lock:
                        controller.reconcile_appset(state, key)
                    continue
                if key in syncing:
                    self.operations.add(key)
                self.refreshes.add(key)
            if state.pending and not work:  # only sets not yet due: look again shortly
                state.stopping.wait(0.05)

    def _serve(self, queue: WorkQueue, work: Callable[[Key], None]) -> None:
        while (key := queue.get()) is not None:
            try:
                work(key)
            finally:
                queue.done(key)

    def _reconcile(self, key: Key) -> None:
        if not self.state.stopping.wait(self.capacity.reconcile_seconds) and controller.refresh_app(self.state, key):
            self.operations.add(key)

    def _sync(self, key: Key) -> None:
        if controller.begin_operation(self.state, key) and not self.state.stopping.wait(self.capacity.sync):
            controller.end_operation(self.state, key)
