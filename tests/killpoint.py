"""Run drkit's command line and SIGKILL the whole process at a named point: the kill-point suite's launcher.

`python tests/killpoint.py POINT -- drkit ARGS...` where POINT is JSON `{"on", "match", "nth", "when"}`:
- `on`: `request` (an Argo CD API call, matched on `METHOD /path`), `put` (a store put, matched on its key),
  `replace` (the local store's rename of a finished temp file into place, matched on the final path) or
  `write` (the local store's write of an object's bytes: half of them are written, then the process dies);
- `match`: a regular expression searched in that text; `nth`: die at the nth match (1-based);
- `when`: `before` the call or `after` it returns.

The point is hit deterministically (a counter under a lock, not a timer), and the death is a real SIGKILL:
no `finally`, no atexit, no flush, exactly as the OOM killer or a node loss would end drkit.
"""

from __future__ import annotations

import json
import os
import re
import signal
import sys
import threading
from typing import Any

_lock = threading.Lock()
_hits = 0
_current = threading.local()


def _die() -> None:
    os.kill(os.getpid(), signal.SIGKILL)


def _matches(point: dict[str, Any], text: str) -> bool:
    """Count a match of the point's pattern; True when this one is the nth."""
    global _hits
    if not re.search(point["match"], text):
        return False
    with _lock:
        _hits += 1
        return _hits == point["nth"]


def _wrap(owner: Any, name: str, point: dict[str, Any], describe: Any) -> None:
    original = getattr(owner, name)

    def wrapper(*args: Any, **kwargs: Any) -> Any:
        hit = _matches(point, describe(*args))
        if hit and point["when"] == "before":
            _die()
        result = original(*args, **kwargs)
        if hit:
            _die()
        return result

    setattr(owner, name, wrapper)


def _wrap_write(point: dict[str, Any]) -> None:
    """Write half of the matching object's bytes to its temp file, then die: a torn write."""
    from drkit.backup.store import LocalStore

    put, write = LocalStore.put, os.write

    def tracking_put(self: Any, key: str, data: bytes) -> None:
        _current.key = key
        try:
            put(self, key, data)
        finally:
            _current.key = None

    def torn_write(fd: int, data: Any) -> int:
        key = getattr(_current, "key", None)
        if key is not None and _matches(point, key):
            write(fd, bytes(data)[: max(1, len(data) // 2)])
            os.fsync(fd)
            _die()
        return write(fd, data)

    LocalStore.put = tracking_put  # type: ignore[method-assign]
    os.write = torn_write


def install(point: dict[str, Any]) -> None:
    """Arm one kill point in this process."""
    from drkit.argocd.client import Client
    from drkit.backup.store import LocalStore, S3Store

    on = point["on"]
    if on == "request":
        # _send: every API request goes through it, lists read as they stream included
        _wrap(Client, "_send", point, lambda self, method, path, *a, **k: f"{method} {path}")
    elif on == "put":
        for store in (LocalStore, S3Store):
            _wrap(store, "put", point, lambda self, key, data: key)
    elif on == "replace":
        _wrap(os, "replace", point, lambda src, dst, *a, **k: os.fspath(dst))
    elif on == "write":
        _wrap_write(point)
    else:
        raise SystemExit(f"unknown kill point {on!r}")


if __name__ == "__main__":
    install(json.loads(sys.argv[1]))
    from drkit.cli import main

    main(sys.argv[sys.argv.index("--") + 1 :], prog_name="drkit")
