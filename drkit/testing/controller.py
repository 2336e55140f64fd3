"""The simulated application controller (to be written)."""

from __future__ import annotations

import threading
from typing import Any


def run(sim: Any, stopping: threading.Event) -> None:
    stopping.wait()
