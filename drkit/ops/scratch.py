"""A scratch Argo CD for `drkit drill --simulate`: the simulator, hosted in this process for one drill.

It is configured as the operator would configure a throwaway instance for this backup: apps enabled in every
namespace the backup's applications live in (`--application-namespaces`, API-NOTES §2 "Apps in any
namespace"), and nothing else.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from drkit.argocd.client import Client
from drkit.testing.sim import Simulator

NAME = "drkit's in-process Argo CD simulator"


def app_namespaces(objects: dict[str, list[dict[str, Any]]], home: str = "argocd") -> tuple[str, ...]:
    """Namespaces besides Argo CD's own that hold the backup's applications."""
    found = {a.get("metadata", {}).get("namespace") or home for a in objects.get("applications", [])}
    return tuple(sorted(found - {home}))


@contextmanager
def hosted(backup: Any) -> Iterator[Client]:
    """A client of a fresh simulator that lives as long as the `with` block."""
    with Simulator(app_namespaces=app_namespaces(backup.objects)) as sim:
        yield Client(sim.address, sim.token, plaintext=True)
