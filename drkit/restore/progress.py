"""Where a long restore stands (objects written, apps synced, healthy, failed) and one line that says so.

Library code reports through a callback that takes a `Progress`; the CLI decides where and how often to show it.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any


@dataclass(frozen=True)
class Progress:
    """A snapshot: `objects` to write and `written` so far; `apps` to converge and how many are where."""

    objects: int = 0
    written: int = 0
    apps: int = 0
    synced: int = 0  # a sync was requested (or none was needed)
    healthy: int = 0
    failed: int = 0  # failed or out of time

    @property
    def converging(self) -> bool:
        """The apps' phase has begun (with a sync, while the applications are still written: drkit.restore.pipeline)."""
        return self.apps > 0

    @property
    def phase(self) -> tuple[int, int]:
        """(done, total) of the phase under way: objects written, or apps finished."""
        if self.converging:
            return self.healthy + self.failed, self.apps
        return self.written, self.objects


Callback = Callable[[Progress], None]
REDRAW_AT_MOST = 0.2  # seconds between two redraws on a terminal


class Tally:
    """A thread-safe Progress that workers add to; every change goes to the callback (if any)."""

    def __init__(self, callback: Callback | None, **start: int) -> None:
        self.callback, self.state, self._lock = callback, Progress(**start), threading.Lock()

    def add(self, **counts: int) -> None:
        """Add to the named counters (e.g. written=1, or apps=N when the converge step learns its size)."""
        if self.callback is None:
            return
        with self._lock:
            self.state = replace(self.state, **{k: getattr(self.state, k) + v for k, v in counts.items()})
            state = self.state
        self.callback(state)

    def finished(self, result: Any) -> Any:
        """Count an app converge is done with (a converge.AppResult) and hand it back."""
        synced = result.outcome in ("healthy", "sent", "failed", "timeout")  # a sync went out
        self.add(synced=int(synced), healthy=int(result.outcome == "healthy"), failed=int(not result.ok))
        return result


def line(progress: Progress, elapsed: float, phase_elapsed: float) -> str:
    """`objects 1025/1025 written, apps 300/1000 synced, 120 healthy, 2 failed, 2m10s elapsed, ETA 3m05s`.

    The ETA is the phase under way's (writing, or converging, begun `phase_elapsed` seconds ago) at its pace so far.
    """
    parts = [f"objects {progress.written}/{progress.objects} written"] if progress.objects else []
    if progress.apps:
        parts.append(
            f"apps {progress.synced}/{progress.apps} synced, {progress.healthy} healthy, {progress.failed} failed"
        )
    parts.append(f"{_duration(elapsed)} elapsed")
    done, total = progress.phase
    if 0 < done < total:
        parts.append(f"ETA {_duration(phase_elapsed * (total - done) / done)}")
    return ", ".join(parts)


def bar(done: int, total: int, width: int = 30) -> str:
    """`\r  writing [#####.....] 12/40`, ending its line once done."""
    filled = width * done // max(total, 1)
    return f"\r  writing [{'#' * filled}{'.' * (width - filled)}] {done}/{total}{chr(10) if done == total else ''}"


def _duration(seconds: float) -> str:
    seconds = int(seconds)
    hours, rest = divmod(seconds, 3600)
    minutes, seconds = divmod(rest, 60)
    return f"{hours}h{minutes:02d}m" if hours else f"{minutes}m{seconds:02d}s" if minutes else f"{seconds}s"


class Ticker:
    """Shows progress through `write`: on a terminal, one line redrawn as it changes and every `redraw` seconds;
    elsewhere (a Job's log), one line every `interval` seconds whether or not anything moved, so a slow restore
    can be told from a stuck one. A callback for library code; use it as a context manager.
    """

    def __init__(
        self,
        write: Callable[[str], None],
        terminal: bool,
        *,
        interval: float = 30.0,
        redraw: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.write, self.terminal, self.interval, self.redraw, self.clock = write, terminal, interval, redraw, clock
        self.state, self.started, self.converging_since = Progress(), clock(), 0.0
        self.drawn, self._stop = 0.0, threading.Event()

    def __call__(self, progress: Progress) -> None:
        self.state = progress
        if progress.converging and not self.converging_since:
            self.converging_since = self.clock()
        if self.terminal and self.clock() - self.drawn >= REDRAW_AT_MOST:
            self.drawn = self.clock()
            self.write(f"\r{self.text()}\x1b[K")

    def text(self) -> str:
        now = self.clock()
        return line(self.state, now - self.started, now - (self.converging_since or self.started))

    def __enter__(self) -> Ticker:
        threading.Thread(target=self._tick, name="progress", daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self.terminal and self.drawn:
            self.write(f"\r{self.text()}\x1b[K\n")

    def _tick(self) -> None:
        while not self._stop.wait(self.redraw if self.terminal else self.interval):
            if not self.terminal:
                self.write(f"progress: {self.text()}\n")
            elif self.drawn:  # once there is something to show: keep the elapsed time and ETA moving
                self.drawn = self.clock()
                self.write(f"\r{self.text()}\x1b[K")
