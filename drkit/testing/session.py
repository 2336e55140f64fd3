"""Simulated Argo CD endpoints: session (to be written)."""

from __future__ import annotations

from typing import Any


def handlers(sim: Any) -> dict[str, Any]:
    return {}
