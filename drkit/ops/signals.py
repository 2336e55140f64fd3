"""How a run hears SIGTERM and SIGINT: they halt its `Stop`, so it starts no new work and still reports.

A Job's activeDeadlineSeconds or a pod eviction sends SIGTERM, Ctrl-C SIGINT; the run then reports what it did and
what stays disarmed, with exit 143 / 130 (CONTRACT.md). A second signal means "now": the caller says what that does.

The stop has to fit the pod's grace period (Kubernetes' default terminationGracePeriodSeconds is 30 s, then
SIGKILL) with the report and the metrics push (metrics.PUSH_TIMEOUT) after it. So once halted, nothing waits on
its own: the app watch ends and wakes its waiters (converge registers it with `Stop.on_halt`), the client retries
nothing, and a hard refresh, the one request that waits on the controller, asks at most converge.REFRESH_SLICE
seconds at a time. What remains is a request in flight to an API server that answers slowly (at most the client's
timeout). tests/test_restore_interrupt.py measures SIGTERM to exit against a controller that never answers.
"""

from __future__ import annotations

import contextlib
import signal
from collections.abc import Callable, Iterator
from typing import Any

from drkit.errors import EXIT_SIGNAL, Stop


@contextlib.contextmanager
def halt_on(notice: Callable[[str], None], at_once: Callable[[int], Any]) -> Iterator[Stop]:
    """A `Stop` that SIGTERM and SIGINT halt while the block runs; `notice` hears each, a second calls `at_once`."""
    stop = Stop()

    def handle(signum: int, frame: Any) -> None:
        if stop:
            at_once(EXIT_SIGNAL[signum])
            return
        notice(f"{signal.Signals(signum).name}: starting no new work; the report follows (again to stop at once)")
        stop.on_signal(signum)

    previous = {signum: signal.signal(signum, handle) for signum in EXIT_SIGNAL}
    try:
        yield stop
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
