"""Test support shipped with drkit: an Argo CD API simulator for drkit's tests and users' restore drills."""

from drkit.testing.sim import Simulator

__all__ = ["Simulator"]
