"""Test support shipped with drkit: an Argo CD API simulator for drkit's tests and users' restore drills.

Stage: a test double beside the flow; its own layers are in README.md here (tests/sim/test_layers.py).
May import: nothing.
"""

from __future__ import annotations

from typing import Any

__all__ = ["Simulator"]


def __getattr__(name: str) -> Any:
    """Import the simulator lazily, so `python -m drkit.testing.sim` does not import its module twice."""
    if name == "Simulator":
        from drkit.testing.sim import Simulator

        return Simulator
    raise AttributeError(name)
