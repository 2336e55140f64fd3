"""Simulated Argo CD endpoints: certificates (to be written)."""

from __future__ import annotations

from typing import Any

DEFAULT_KNOWN_HOSTS: list[dict[str, Any]] = []


def handlers(sim: Any) -> dict[str, Any]:
    return {}
