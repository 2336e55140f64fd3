"""Time as Kubernetes and Argo CD write it: RFC 3339 timestamps at seconds precision."""

from __future__ import annotations

from datetime import datetime, timezone


def now() -> str:
    """An RFC 3339 timestamp, seconds precision, as Kubernetes writes metav1.Time."""
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def timestamp(seconds: float) -> str:
    """The RFC 3339 form of a Unix time, as Argo CD prints a token's `iat` in permission errors."""
    return datetime.fromtimestamp(seconds, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
