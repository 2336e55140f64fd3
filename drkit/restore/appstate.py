"""What converge reads of apps: the order to work them in, whether an operation runs, their state, what to say."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from drkit.errors import ApiError

SYNCED, HEALTHY = "Synced", "Healthy"

# Every field of an app that converge reads (the functions below, and re-arm's metadata), as a watch's `fields`
# (API-NOTES §1.4: the gateway filters stream messages by path). A real app's status (its resources, history,
# sync result) is most of its size; the watch then carries a few hundred bytes an event instead of tens of KB.
WATCHED = tuple(
    f"result.{path}"
    for path in (
        "type",
        *(
            f"application.metadata.{name}"
            for name in ("name", "namespace", "resourceVersion", "labels", "annotations", "finalizers")
        ),  # fmt: skip
        "application.spec.syncPolicy",  # what re-arm compares
        "application.operation",
        "application.status.sync.status",
        "application.status.health",
        *(
            f"application.status.operationState.{name}"
            for name in ("phase", "message", "finishedAt", "operation.sync.dryRun")
        ),  # fmt: skip
        "application.status.reconciledAt",
        "application.status.conditions",
    )
)


def stages(targets: Sequence[Any]) -> list[list[Any]]:
    """Anys grouped by `(wave, depth)`, in the order they are worked; parents count by name or ns/name."""
    index: dict[str, Any] = {}
    for t in targets:
        index.setdefault(t.name, t)
        index[f"{t.namespace}/{t.name}"] = t
    depths: dict[tuple[str, str], int] = {}

    def depth(t: Any, seen: frozenset[tuple[str, str]]) -> int:
        key = (t.namespace, t.name)
        if key not in depths:
            known = [index[p] for p in t.parents or [] if p in index and index[p] is not t]
            fresh = [p for p in known if (p.namespace, p.name) not in seen]  # a cycle ends the climb
            depths[key] = max((depth(p, seen | {key}) + 1 for p in fresh), default=0)
        return depths[key]

    groups: dict[tuple[int, int], list[Any]] = {}
    for t in targets:
        groups.setdefault((int(t.wave), depth(t, frozenset())), []).append(t)
    return [groups[k] for k in sorted(groups)]


def in_progress(app: dict[str, Any]) -> bool:
    """The argocd CLI's `checkAppWaitConditions`: is an operation still running or not yet reconciled after?"""
    if app.get("operation") is not None:
        return True
    status = app.get("status") or {}
    state = status.get("operationState")
    if not state:
        return False
    finished = state.get("finishedAt")
    if not finished:
        return True
    if ((state.get("operation") or {}).get("sync") or {}).get("dryRun"):
        return False
    reconciled = status.get("reconciledAt")
    return not reconciled or _time(reconciled) < _time(finished)


def timeout_message(app: dict[str, Any], timeout: float) -> str:
    """Why an app is reported timed out, with what Argo CD says of it and where to look."""
    sync, health, phase = states(app)
    status = app.get("status") or {}
    detail = (status.get("health") or {}).get("message") or next(
        (c.get("message") for c in status.get("conditions") or [] if c.get("message")), ""
    )
    running = f", operation {phase or 'requested'}" if in_progress(app) else ""
    return (
        f"not Synced and Healthy within --timeout {timeout:g}s (sync {sync}, health {health}"
        f"{running}){': ' + detail if detail else ''}; check it with `argocd app get {qualified(app)}`"
    )


def states(app: dict[str, Any]) -> tuple[str, str, str]:
    status = app.get("status") or {}
    return (
        (status.get("sync") or {}).get("status") or "Unknown",
        (status.get("health") or {}).get("status") or "Unknown",
        (status.get("operationState") or {}).get("phase") or "",
    )


def failure(app: dict[str, Any], retried: int) -> str:
    state = (app.get("status") or {}).get("operationState") or {}
    again = " (also after one retry)" if retried else ""
    return (
        f"sync {state.get('phase', 'Failed')}{again}: {state.get('message') or 'no message from Argo CD'}; "
        f"see `argocd app get {qualified(app)}` for the failed resources"
    )


def explain(target: Any, err: ApiError) -> str:
    """An API error on one app as that app's failure, with a next step."""
    text = str(err)
    if "sync window" in (err.api_message or ""):
        return f"{text}; sync it when the window opens (argocd app sync {target.namespace}/{target.name})"
    if err.status == 404 and not err.hint:
        return f"{text}; was {target.namespace}/{target.name} deleted after the restore wrote it?"
    return text


def qualified(app: dict[str, Any]) -> str:
    meta = app.get("metadata") or {}
    return f"{meta.get('namespace', '')}/{meta.get('name', '')}".lstrip("/")


def join(*parts: str) -> str:
    return "; ".join(p for p in parts if p)


def _time(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))
