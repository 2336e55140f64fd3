"""One application watch (Client.watch_apps) that every converge worker learns app state from.

Argo CD's Watch (server/application/application.go; API-NOTES §2.2) sends ADDED for every app the token may
see when no `resourceVersion` is given, then each change, from every enabled namespace; nothing is replayed
after a disconnect. So each (re)connection asks without `resourceVersion` and the initial ADDED events bring
the state up to date again. The resourceVersion is used on the client side: an app's state is replaced only by
a newer one, whether it comes from the stream or from a request's answer (a sync's, a refresh's), so a late
event never rolls back what a worker already knows.

While the stream is down, or quiet for `quiet` seconds (a lost event cannot be told from an idle controller),
workers read the app themselves (`Watch.stale()` says when).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

from drkit.errors import ApiError

Key = tuple[str, str]  # (namespace, name)
RECONNECT_MAX = 10.0  # seconds between two reconnection attempts, at most


def key_of(app: dict[str, Any]) -> Key:
    meta = app.get("metadata") or {}
    return meta.get("namespace", ""), meta.get("name", "")


def version_of(app: dict[str, Any]) -> int:
    text = str((app.get("metadata") or {}).get("resourceVersion") or "")
    return int(text) if text.isdigit() else 0


class Watch:
    """The newest known state of each app, fed by one stream in a background thread and by request answers."""

    def __init__(
        self,
        stream: Callable[[], Iterator[dict[str, Any]]] | None,
        *,
        quiet: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.open, self.quiet, self.clock = stream, quiet, clock
        self.apps: dict[Key, dict[str, Any]] = {}
        self.lock = threading.Lock()
        self.signals: dict[Key, threading.Event] = {}  # set when that app changes: wakes only its own worker
        self.connected, self.heard, self.refused = False, clock(), False
        self.stopping = threading.Event()
        self.connections = 0

    def start(self) -> Watch:
        if self.open is not None:
            threading.Thread(target=self._run, name="app-watch", daemon=True).start()
        return self

    def stop(self) -> None:
        self.stopping.set()
        with self.lock:
            signals, self.signals = list(self.signals.values()), {}
        for signal in signals:
            signal.set()

    def offer(self, app: dict[str, Any] | None) -> None:
        """Keep `app` if it is newer than what is known of it (by resourceVersion)."""
        if not isinstance(app, dict) or not (app.get("metadata") or {}).get("name"):
            return
        key = key_of(app)
        with self.lock:
            known = self.apps.get(key)
            if known is not None and version_of(app) < version_of(known):
                return
            self.apps[key] = app
            signal = self.signals.pop(key, None)
        if signal is not None:
            signal.set()

    def get(self, key: Key) -> dict[str, Any] | None:
        with self.lock:
            return self.apps.get(key)

    def stale(self) -> bool:
        """Whether the stream cannot be trusted to bring news: down, or nothing heard for `quiet` seconds."""
        return not self.connected or self.clock() - self.heard >= self.quiet

    def awaited(self) -> bool:
        """Whether news may be waited for: the stream is up, or still opening without an error, and not quiet for
        `quiet` seconds. (A watch of an instance with no app yet answers nothing until the first one appears:
        API-NOTES §2.2.)"""
        return self.open is not None and not self.refused and self.clock() - self.heard < self.quiet

    def newer(self, key: Key, than: int, timeout: float) -> dict[str, Any] | None:
        """The app's state once its resourceVersion is above `than` (or it appears), else its state after `timeout`."""
        deadline = self.clock() + max(0.0, timeout)
        while True:
            with self.lock:
                app = self.apps.get(key)
                signal = self.signals.setdefault(key, threading.Event())
            left = deadline - self.clock()
            if (app is not None and version_of(app) > than) or left <= 0 or self.stopping.is_set():
                return app
            signal.wait(left)

    def _run(self) -> None:
        pause = 0.1
        while not self.stopping.is_set():
            try:
                self.connections += 1
                for event in self.open():  # type: ignore[misc]
                    self.connected, self.heard, self.refused, pause = True, self.clock(), False, 0.1
                    self.offer((event.get("result") or {}).get("application"))
                    if self.stopping.is_set():
                        return
            except ApiError:
                self.refused = True  # refused or cut: workers read apps themselves until the stream is back
            self.connected = False
            self.stopping.wait(pause)
            pause = min(RECONNECT_MAX, pause * 2)
