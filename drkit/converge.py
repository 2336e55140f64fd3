"""After a restore wrote the objects: hard-refresh, sync in waves, wait until Synced and Healthy, re-arm auto-sync.

Choices a caller relies on:
- Order: apps are worked in stages sorted by `(wave, depth in the parents tree)`, so an app-of-apps parent goes
  before its children; one stage runs in parallel under `options.concurrency`. With `wait`, a stage finishes
  (Synced+Healthy, failed, or out of time) before the next starts; stages after `--timeout` still get their
  sync requests, so everything is set going, and are reported as timed out.
- A sync that ends Failed/Error is retried once: right after a restore, failures are often transient (a CRD
  not yet established, a webhook not yet up). The second failure is final.
- A 400 `another operation is already in progress` is not a failure: that operation is waited out, and our
  sync is sent afterwards only if it left the app OutOfSync or failed.
- A hard refresh that does not answer in time (the controller is slow or down) is noted, not fatal: the sync
  is sent anyway, and the wait decides.
- Re-arm puts an app's original spec back (its syncPolicy exactly as in the backup): once it is Healthy, else at
  the end. ApplicationSets are re-applied at the end, then the apps they generate are re-armed: before that, a
  set still tightened with a disarmed template would undo them.
- The result list holds one `AppResult` per target (kind `applications`), in the order worked, then one per
  re-applied ApplicationSet (kind `applicationsets`; `rearmed` False and `message` set when the upsert failed).
"""

from __future__ import annotations

import copy
import random
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any, Protocol

from drkit.errors import ApiError, AuthError, ConnectionFailed
from drkit.kinds import KINDS
from drkit.shapes import kept_paused
from drkit.versions import Version

APPS = KINDS["applications"]
SYNCED, HEALTHY = "Synced", "Healthy"
NOT_CREATED = "Missing"  # the sync status of a generated app its set has not created (Argo CD never says it)
FAILED_PHASES = frozenset({"Failed", "Error"})
IN_PROGRESS = "another operation is already in progress"
SYNC_RETRIES = 1
REARM_METADATA = ("name", "namespace", "labels", "annotations", "finalizers")
SERVER_METADATA = ("uid", "resourceVersion", "generation", "creationTimestamp", "managedFields", "selfLink")


class Target(Protocol):
    """What converge needs of a restored app (restore.AppTarget has these fields)."""

    namespace: str
    name: str
    wave: int
    parents: list[str]
    rearm_spec: dict[str, Any] | None


class Options(Protocol):
    """What converge needs of the restore options (restore.RestoreOptions has these fields)."""

    sync: bool
    prune: bool
    wait: bool
    timeout: float
    concurrency: int


@dataclass
class AppResult:
    """Where one app (or re-applied ApplicationSet) ended up.

    `outcome` is `healthy`, `failed`, `timeout`, `sent` (sync requested, not waited for), `refreshed` (no sync
    asked for), `awaited` (its ApplicationSet has yet to create it, not waited for) for apps, and `rearmed` or
    `failed` for ApplicationSets.
    """

    name: str
    namespace: str
    sync: str = "Unknown"
    health: str = "Unknown"
    phase: str = ""
    message: str = ""
    rearmed: bool = False
    rearmed_healthy: bool = False
    outcome: str = ""
    rearm_error: str = ""
    kind: str = "applications"

    @property
    def ok(self) -> bool:
        """Nothing to report: healthy, or sent/refreshed as asked, and re-armed when that was asked."""
        return self.outcome in ("healthy", "sent", "refreshed", "awaited", "rearmed") and not self.rearm_error

    def as_json(self) -> dict[str, Any]:
        """CONTRACT.md's `{name, sync, health, phase}` plus the details, as plain data."""
        return asdict(self)


def converge(
    client: Any,
    targets: Sequence[Target],
    appsets_to_rearm: Sequence[dict[str, Any]],
    options: Options,
    *,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
    poll_start: float = 0.2,
    poll_max: float = 2.0,
) -> list[AppResult]:
    """Refresh, sync and (with `options.wait`) wait for every target in waves; re-arm; see the module docstring."""
    run = _Run(client, options, clock, sleep, poll_start, poll_max)
    run.version = _version(client) if appsets_to_rearm or any(t.rearm_spec for t in targets) else None
    results: list[AppResult] = []
    by_key: dict[tuple[str, str], Target] = {}
    with ThreadPoolExecutor(max_workers=max(1, int(options.concurrency or 1))) as pool:
        for stage in stages(targets):
            by_key.update({(t.namespace, t.name): t for t in stage})
            results.extend(pool.map(run.app, stage))
    appsets = rearm_appsets(
        client, appsets_to_rearm, run.version
    )  # before their generated apps, or the sets would undo them
    for result in results:
        target = by_key[(result.namespace, result.name)]
        if target.rearm_spec is not None and not result.rearmed and result.sync != NOT_CREATED:
            run.rearm(target, result, healthy=result.health == HEALTHY)
    return results + appsets


def stages(targets: Sequence[Target]) -> list[list[Target]]:
    """Targets grouped by `(wave, depth)`, in the order they are worked; parents count by name or ns/name."""
    index: dict[str, Target] = {}
    for t in targets:
        index.setdefault(t.name, t)
        index[f"{t.namespace}/{t.name}"] = t
    depths: dict[tuple[str, str], int] = {}

    def depth(t: Target, seen: frozenset[tuple[str, str]]) -> int:
        key = (t.namespace, t.name)
        if key not in depths:
            known = [index[p] for p in t.parents or [] if p in index and index[p] is not t]
            fresh = [p for p in known if (p.namespace, p.name) not in seen]  # a cycle ends the climb
            depths[key] = max((depth(p, seen | {key}) + 1 for p in fresh), default=0)
        return depths[key]

    groups: dict[tuple[int, int], list[Target]] = {}
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


def rearm_appsets(client: Any, appsets: Sequence[dict[str, Any]], version: Version | None) -> list[AppResult]:
    """Re-apply original ApplicationSets with `POST ?upsert=true` (an equal one is left as it is)."""
    results = []
    for doc in appsets:
        body, note = kept_paused("applicationsets", copy.deepcopy(doc), version)
        body.pop("status", None)
        meta = body.setdefault("metadata", {})
        for field in SERVER_METADATA:
            meta.pop(field, None)
        result = AppResult(meta.get("name", ""), meta.get("namespace", ""), "", "", "", note, kind="applicationsets")
        try:
            client.write("applicationsets", body)
            result.rearmed, result.outcome = True, "rearmed"
        except AuthError:
            raise
        except ApiError as err:
            result.outcome = "failed"
            result.rearm_error = result.message = (
                f"re-applying the ApplicationSet failed: {err}; re-apply it from the backup by hand"
            )
        results.append(result)
    return results


class _Run:
    """One converge call: the client, options, overall deadline and polling pace, shared by the workers."""

    def __init__(
        self,
        client: Any,
        options: Options,
        clock: Callable[[], float],
        sleep: Callable[[float], None],
        poll_start: float,
        poll_max: float,
    ) -> None:
        self.client, self.options, self.clock, self.sleep = client, options, clock, sleep
        self.poll_start, self.poll_max = poll_start, max(poll_start, poll_max)
        self.deadline = clock() + float(options.timeout)
        self.version: Version | None = None  # the target's, for what re-arm may write (see shapes.kept_paused)

    def remaining(self) -> float:
        return self.deadline - self.clock()

    def app(self, target: Target) -> AppResult:
        """Work one app from refresh to its end state; re-arm it when it is Healthy."""
        try:
            result = self._work(target)
        except AuthError:
            raise
        except ApiError as err:
            result = AppResult(target.name, target.namespace, outcome="failed", message=_explain(target, err))
        if target.rearm_spec is not None and result.health == HEALTHY and not getattr(target, "generated", False):
            self.rearm(target, result, healthy=True)
        return result

    def _work(self, target: Target) -> AppResult:
        if getattr(target, "generated", False) and not self._await_generated(target):
            outcome, message = ("awaited", "its ApplicationSet has not created it yet; not waited for (--no-wait)")
            if self.options.wait:
                outcome, message = (
                    "timeout",
                    (
                        f"its ApplicationSet did not recreate it within --timeout {self.options.timeout:g}s; check the "
                        "ApplicationSet's status conditions (`kubectl -n argocd get applicationset -o yaml`)"
                    ),
                )
            return AppResult(target.name, target.namespace, NOT_CREATED, "Missing", outcome=outcome, message=message)
        note = self._refresh(target)
        app = self._get(target)
        if not self.options.sync:
            return _result(target, app, "refreshed", note)
        if not in_progress(app) and _states(app)[:2] == (SYNCED, HEALTHY):
            return _result(target, app, "healthy", _join(note, "already Synced and Healthy: not synced again"))
        app, ours = self._sync(target)
        if not self.options.wait:
            if not ours:
                note = _join(note, f"{IN_PROGRESS}; not waited for (--no-wait)")
            return _result(target, app or self._get(target), "sent", note)
        return self._wait(target, ours, note)

    def _await_generated(self, target: Target) -> bool:
        """Wait (until the deadline; with --no-wait, look once) for its ApplicationSet to create an app.

        Asked with the app's project: Argo CD then answers 404 for an app that does not exist yet, on every version
        (API-NOTES §2.1 existence hiding, `getAppEnforceRBAC`). Without it a missing app is a 403, the same answer
        as a real RBAC refusal; taking every 403 for "not there yet" would turn a missing permission into a long
        wait and a wrong "the ApplicationSet did not recreate it". So 404 waits and any other error stays an error.
        """
        pace, project = self._pace(), getattr(target, "project", "") or "default"
        while True:
            try:
                self._get(target, project=project)
                return True
            except ApiError as err:
                if err.status != 404:
                    raise
            left = self.remaining()
            if left <= 0 or not self.options.wait:
                return False
            self.sleep(min(next(pace), left))

    def _get(self, target: Target, **params: str) -> dict[str, Any]:
        return self.client.get(APPS.object_path(target.name), {"appNamespace": target.namespace, **params})

    def _refresh(self, target: Target) -> str:
        """Hard-refresh, bounded by the time left (it blocks until the controller reconciles); "" or a note."""
        left = self.remaining()
        if left <= 0:
            return "not refreshed: --timeout reached"
        attempts = int(getattr(self.client, "retries", 0) or 0) + 1  # the client retries timeouts itself
        path = APPS.object_path(target.name)
        try:
            self.client.get(
                path, {"refresh": "hard", "appNamespace": target.namespace}, timeout=max(0.05, left / attempts)
            )
        except AuthError:
            raise
        except ConnectionFailed:
            return "hard refresh got no answer in time (is the application controller running?)"
        except ApiError as err:
            if err.status < 500:  # 403/404 and other refusals are this app's failure
                raise
            return f"hard refresh failed (HTTP {err.status}: {err.api_message})"
        return ""

    def _sync(self, target: Target) -> tuple[dict[str, Any] | None, bool]:
        """Ask for a sync; (the app, True), or (None, False) when another operation is in progress."""
        body = {"appNamespace": target.namespace, "prune": bool(self.options.prune)}
        try:
            return self.client.post(APPS.object_path(target.name, "sync"), body), True
        except ApiError as err:
            if err.status == 400 and IN_PROGRESS in (err.api_message or ""):
                return None, False
            raise

    def _wait(self, target: Target, ours: bool, note: str) -> AppResult:
        """Poll until Synced+Healthy, a final failure, or the deadline; retry a failed sync once."""
        retries, pace = SYNC_RETRIES, self._pace()
        while True:
            app = self._get(target)
            if not in_progress(app):
                sync, health, phase = _states(app)
                if sync == SYNCED and health == HEALTHY:
                    return _result(target, app, "healthy", note)
                if phase in FAILED_PHASES and ours and (retries == 0 or self.remaining() <= 0):
                    return _result(target, app, "failed", _join(note, _failure(app, SYNC_RETRIES - retries)))
                if phase in FAILED_PHASES or (not ours and sync != SYNCED):
                    if ours:
                        retries -= 1
                    _, ours = self._sync(target)
            left = self.remaining()
            if left <= 0:
                return _result(target, app, "timeout", _join(note, self._timeout_message(app)))
            self.sleep(min(next(pace), left))

    def _pace(self) -> Iterator[float]:
        """Jittered polling intervals growing from `poll_start` to `poll_max`."""
        interval = self.poll_start
        while True:
            yield random.uniform(interval / 2, interval)
            interval = min(self.poll_max, interval * 1.5)

    def _timeout_message(self, app: dict[str, Any]) -> str:
        sync, health, phase = _states(app)
        status = app.get("status") or {}
        detail = (status.get("health") or {}).get("message") or next(
            (c.get("message") for c in status.get("conditions") or [] if c.get("message")), ""
        )
        running = f", operation {phase or 'requested'}" if in_progress(app) else ""
        return (
            f"not Synced and Healthy within --timeout {self.options.timeout:g}s (sync {sync}, health {health}"
            f"{running}){': ' + detail if detail else ''}; check it with `argocd app get {_qualified(app)}`"
        )

    def rearm(self, target: Target, result: AppResult, *, healthy: bool) -> None:
        """Put back the app's original spec (automated sync armed), keeping its live metadata; idempotent."""
        spec, note = kept_paused("applications", {"spec": target.rearm_spec}, self.version)
        result.message = _join(result.message, note)
        try:
            live = self._get(target)
            if live.get("spec") != spec["spec"]:
                meta = {k: v for k, v in (live.get("metadata") or {}).items() if k in REARM_METADATA}
                self.client.write("applications", {"metadata": meta, "spec": spec["spec"]}, update=True)
        except AuthError:
            raise
        except ApiError as err:
            result.rearm_error = (
                f"re-arming automated sync failed: {err}; restore spec.syncPolicy.automated from the backup by hand"
            )
            return
        result.rearmed, result.rearmed_healthy = True, healthy


def _version(client: Any) -> Version | None:
    """The target's Argo CD version (the version endpoint answers without auth), or None when it does not say."""
    try:
        return client.release()
    except ApiError:
        return None


def _states(app: dict[str, Any]) -> tuple[str, str, str]:
    status = app.get("status") or {}
    return (
        (status.get("sync") or {}).get("status") or "Unknown",
        (status.get("health") or {}).get("status") or "Unknown",
        (status.get("operationState") or {}).get("phase") or "",
    )


def _result(target: Target, app: dict[str, Any], outcome: str, message: str) -> AppResult:
    sync, health, phase = _states(app)
    return AppResult(target.name, target.namespace, sync, health, phase, message, outcome=outcome)


def _failure(app: dict[str, Any], retried: int) -> str:
    state = (app.get("status") or {}).get("operationState") or {}
    again = " (also after one retry)" if retried else ""
    return (
        f"sync {state.get('phase', 'Failed')}{again}: {state.get('message') or 'no message from Argo CD'}; "
        f"see `argocd app get {_qualified(app)}` for the failed resources"
    )


def _explain(target: Target, err: ApiError) -> str:
    """An API error on one app as that app's failure, with a next step."""
    text = str(err)
    if "sync window" in (err.api_message or ""):
        return f"{text}; sync it when the window opens (argocd app sync {target.namespace}/{target.name})"
    if err.status == 404 and not err.hint:
        return f"{text}; was {target.namespace}/{target.name} deleted after the restore wrote it?"
    return text


def _qualified(app: dict[str, Any]) -> str:
    meta = app.get("metadata") or {}
    return f"{meta.get('namespace', '')}/{meta.get('name', '')}".lstrip("/")


def _join(*parts: str) -> str:
    return "; ".join(p for p in parts if p)


def _time(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))
