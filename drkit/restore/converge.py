"""After a restore wrote the objects: hard-refresh, sync in waves, wait until Synced and Healthy, re-arm auto-sync.

Choices a caller relies on:
- Order: apps are worked in stages sorted by `(wave, depth in the parents tree)`, so an app-of-apps parent goes
  before its children. With `wait`, a stage finishes (Synced+Healthy, failed, or out of time) before the next
  starts; stages after `--timeout` still get their sync requests, so everything is set going, and are reported
  as timed out.
- Pace: the controller's, not ours. Up to `max_syncs` apps of a stage are in flight at once (refresh, sync,
  wait), while `concurrency` bounds the API requests; app state comes from one watch of every app
  (drkit.restore.watching), not from polling each app: a refresh and a sync are the requests of an app, plus a re-arm.
  Apps are read one by one only while the watch is down or quiet (a client without `watch_apps` always polls).
- Fresh state before deciding: an app is hard-refreshed before converge decides whether it needs a sync; an app
  this restore created is not (Argo CD compares a new app at once): its first reconciliation, on the watch, is.
- Each app starts as soon as its write is over (drkit.restore.pipeline), while later apps are still being written.
- A sync that ends Failed/Error is retried once: right after a restore, failures are often transient (a CRD
  not yet established, a webhook not yet up). The second failure is final.
- A 400 `another operation is already in progress` is not a failure: that operation is waited out, and our
  sync is sent afterwards only if it left the app OutOfSync or failed.
- A hard refresh that does not answer in time (the controller is slow or down) is noted, not fatal: the sync
  is sent anyway, and the wait decides.
- Re-arm puts an app's original spec back (its syncPolicy exactly as in the backup): once it is Healthy, else at
  the end. ApplicationSets are re-applied at the end, then the apps they generate are re-armed: before that, a
  set still tightened with a disarmed template would undo them. Re-arm writes are read back as the first writes
  are: what the target did not keep is reported (rearm.read_back).
- The result list holds one `AppResult` per target (kind `applications`), in the order worked, then one per
  re-applied ApplicationSet (kind `applicationsets`; `rearmed` False and `message` set when the upsert failed).
"""

from __future__ import annotations

import math
import random
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from typing import Any, Protocol

from drkit.argocd.kinds import KINDS
from drkit.argocd.shapes import kept_paused
from drkit.argocd.versions import Version
from drkit.errors import ApiError, ConnectionFailed, Stop, ends_run
from drkit.restore.appstate import (  # noqa: F401 (in_progress: re-exported)
    HEALTHY,
    SYNCED,
    WATCHED,
    explain,
    failure,
    in_progress,
    join,
    stages,
    states,
    timeout_message,
)
from drkit.restore.pipeline import Gated, start_workers
from drkit.restore.progress import Tally
from drkit.restore.rearm import REARM_METADATA, AppResult, read_back, rearm_appsets, target_release
from drkit.restore.watching import Watch, key_of, version_of

APPS = KINDS["applications"]
NOT_CREATED = "Missing"  # the sync status of a generated app its set has not created (Argo CD never says it)
FAILED_PHASES = frozenset({"Failed", "Error"})
IN_PROGRESS = "another operation is already in progress"
SYNC_RETRIES = 1
REFRESH_SLICE = 5.0  # seconds one hard-refresh request may wait: what a stop waits for at most (ops.signals)
NO_REFRESH = "hard refresh got no answer in time (is the application controller running?)"
MAX_SYNCS = 200  # default in flight: a controller of 10 shards at Argo CD's 20 status processors each, kept busy


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
    concurrency: int  # API requests at once
    max_syncs: int  # apps in flight at once


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
    quiet: float = 30.0,
    progress: Tally | None = None,
    stop: Stop | None = None,
    ready: Callable[[], None] = lambda: None,
) -> list[AppResult]:
    """Refresh, sync and (with `options.wait`) wait for every target in waves; re-arm; see the module docstring.

    `ready` is called once every worker is up, before the first app is worked: drkit.restore.pipeline starts the
    applications' writes then.
    """
    watching = options.sync and options.wait
    stream = getattr(client, "watch_apps", None) if watching else None
    watch = Watch(stream and partial(stream, WATCHED), quiet=quiet, clock=clock).start()
    run = _Run(Gated(client, options.concurrency), options, clock, sleep, poll_start, poll_max, watch)
    run.stop = stop if stop is not None else Stop()
    run.stop.on_halt(watch.stop)  # a stop wakes every worker waiting on the watch, and ends the stream
    run.version = target_release(client) if appsets_to_rearm or any(t.rearm_spec for t in targets) else None
    tally = progress or Tally(None)
    tally.add(apps=len(targets))
    results: list[AppResult] = []
    by_key: dict[tuple[str, str], Target] = {}
    in_flight = max_syncs(options) if watching else options.concurrency
    try:
        workers = max(1, min(int(in_flight or 1), len(targets)))
        with ThreadPoolExecutor(max_workers=workers) as pool:
            start_workers(pool, workers)
            ready()
            for stage in stages(targets):
                by_key.update({(t.namespace, t.name): t for t in stage})
                results.extend(r for r in pool.map(lambda t: run.app(t, tally), stage) if r is not None)
    finally:
        watch.stop()
    if run.stop:  # no new work: what stays disarmed is in the report, and a re-run re-arms it
        return results
    # the sets before their generated apps: a set still tightened with a disarmed template would undo them
    appsets = rearm_appsets(client, appsets_to_rearm, run.version, run.stop, run.allow_loss)
    for result in results:
        target = by_key[(result.namespace, result.name)]
        if target.rearm_spec is not None and not result.rearmed and result.sync != NOT_CREATED:
            run.rearm(target, result, healthy=result.health == HEALTHY)
    return results + appsets


def max_syncs(options: Options) -> int:
    """Apps with a sync in flight at once: `--max-syncs`, independent of the request workers (`--concurrency`)."""
    return int(options.max_syncs or MAX_SYNCS)


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
        watch: Watch,
    ) -> None:
        self.client, self.options, self.clock, self.sleep, self.watch = client, options, clock, sleep, watch
        self.poll_start, self.poll_max = poll_start, max(poll_start, poll_max)
        self.deadline = clock() + float(options.timeout)
        self.version: Version | None = None  # the target's, for what re-arm may write (see shapes.kept_paused)
        self.stop = Stop()  # halted by a run-ending error or a signal: no app starts, waits end (errors.Stop)
        self.allow_loss = bool(getattr(options, "allow_field_loss", False))  # a re-arm's dropped field is no error

    def remaining(self) -> float:
        return self.deadline - self.clock()

    def app(self, target: Target, tally: Tally) -> AppResult | None:
        """Work one app from refresh to its end state, re-arm it when it is Healthy, count it; None for an app whose
        write (still under way when converge began, see drkit.restore.pipeline) did not restore it."""
        written = getattr(target, "written", None)
        if written is not None and not written():
            tally.add(apps=-1)
            return None
        return tally.finished(self._app(target))

    def _app(self, target: Target) -> AppResult:
        if self.stop:
            message = f"not started: {self.stop.reason}"
            return AppResult(target.name, target.namespace, outcome="stopped", message=message)
        try:
            result = self._work(target)
        except ApiError as err:
            if ends_run(err):
                self.stop.on_error(err)
            result = AppResult(target.name, target.namespace, outcome="failed", message=explain(target, err))
        generated = getattr(target, "generated", False)
        if target.rearm_spec is not None and result.health == HEALTHY and not generated and not self.stop:
            self.rearm(target, result, healthy=True)
        return result

    def _work(self, target: Target) -> AppResult:
        if getattr(target, "generated", False) and not self._await_generated(target):
            outcome, message = "awaited", "its ApplicationSet has not created it yet; not waited for (--no-wait)"
            if self.options.wait:
                outcome = "stopped" if self.stop else "timeout"
                message = self.stop.reason or (
                    f"its ApplicationSet did not recreate it within --timeout {self.options.timeout:g}s; check the "
                    "ApplicationSet's status conditions (`kubectl -n argocd get applicationset -o yaml`)"
                )
            return AppResult(target.name, target.namespace, NOT_CREATED, "Missing", outcome=outcome, message=message)
        note, app = self._first_look(target) if getattr(target, "created", False) else self._refresh(target)
        if self.stop:  # no sync starts after a stop
            known = app or self.watch.get((target.namespace, target.name)) or {}
            return result_of(target, known, "stopped", join(note, f"not synced: {self.stop.reason}"))
        app = app or self._state(target)
        if not self.options.sync:
            return result_of(target, app, "refreshed", note)
        if not in_progress(app) and states(app)[:2] == (SYNCED, HEALTHY):
            return result_of(target, app, "healthy", join(note, "already Synced and Healthy: not synced again"))
        answer, ours = self._sync(target)
        if not self.options.wait:
            app = answer
            if not ours:
                note = join(note, f"{IN_PROGRESS}; not waited for (--no-wait)")
            return result_of(target, app or self._get(target), "sent", note)
        return self._wait(target, answer, app, ours, note)

    def _await_generated(self, target: Target) -> bool:
        """Wait (until the deadline; with --no-wait, look once) for its ApplicationSet to create an app.

        Asked with the app's project: Argo CD then answers 404 for an app that does not exist yet, on every version
        (API-NOTES §2.1 existence hiding, `getAppEnforceRBAC`). Without it a missing app is a 403, the same answer
        as a real RBAC refusal; taking every 403 for "not there yet" would turn a missing permission into a long
        wait and a wrong "the ApplicationSet did not recreate it". So 404 waits and any other error stays an error.
        """
        pace, project = self._pace(), getattr(target, "project", "") or "default"
        key, looked = (target.namespace, target.name), False
        while True:
            if looked and not self.watch.stale():  # it shows on the watch once created
                if self.watch.newer(key, 0, min(max(0.0, self.remaining()), self.watch.quiet)) is not None:
                    return True
            else:
                try:
                    self._get(target, project=project)
                    return True
                except ApiError as err:
                    if err.status != 404:
                        raise
                looked = True
            left = self.remaining()
            if left <= 0 or not self.options.wait or self.stop:
                return False
            if self.watch.stale():
                self.sleep(min(next(pace), left))

    def _first_look(self, target: Target) -> tuple[str, dict[str, Any] | None]:
        """An app this restore created: its first reconciliation, seen on the watch, instead of a hard refresh.

        Argo CD compares a new app at once and from scratch: one never reconciled (no `reconciledAt`) is refreshed
        with the latest comparison, which sets `reconciledAt` (v3.5.1 controller/appcontroller.go
        `needRefreshAppStatus`, `processAppRefreshQueueItem`). A hard refresh would ask for a second one. Without
        a trustworthy watch, or with no news before the deadline, it is refreshed as any other app.
        """
        key = (target.namespace, target.name)
        known = self.watch.get(key) or {}
        while self.watch.awaited() and self.remaining() > 0 and not self.stop:
            if (known.get("status") or {}).get("reconciledAt"):
                return "", known
            known = self.watch.newer(key, version_of(known), min(self.remaining(), 1.0)) or known  # then look again
        return self._refresh(target)

    def _refresh(self, target: Target) -> tuple[str, dict[str, Any] | None]:
        """Hard-refresh, bounded by the time left (it blocks until the controller reconciles and answers the app).

        Each request waits at most REFRESH_SLICE seconds and is asked again until the time left is spent (asked
        again, Argo CD sets the refresh annotation it already holds: no change), so a stop ends the one in flight
        within a slice, not the time left. ("", the refreshed app), or (a note, None) when it got no answer in time
        or a server error.
        """
        left = self.remaining()
        if left <= 0:
            return "not refreshed: --timeout reached", None
        attempts = int(getattr(self.client, "retries", 0) or 0) + 1  # the client retries timeouts itself
        wait = max(0.05, min(REFRESH_SLICE, left / attempts))  # one request's, of `attempts` per call
        path, params = APPS.object_path(target.name), {"refresh": "hard", "appNamespace": target.namespace}
        for _ in range(max(1, math.ceil(left / (wait * attempts)))):
            if self.stop:
                return f"not refreshed: {self.stop.reason}", None
            try:
                app = self.client.get(path, params, timeout=wait)
                break
            except ApiError as err:
                if ends_run(err) or (err.status and err.status < 500):  # 403/404 and refusals are this app's failure
                    raise
                if not isinstance(err, ConnectionFailed):
                    return f"hard refresh failed (HTTP {err.status}: {err.api_message})", None
                if self.remaining() <= 0:
                    return NO_REFRESH, None
        else:
            return NO_REFRESH, None
        self.watch.offer(app)
        return "", self.watch.get(key_of(app)) if isinstance(app, dict) and app.get("metadata") else app

    def _sync(self, target: Target) -> tuple[dict[str, Any] | None, bool]:
        """Ask for a sync; (the app, True), or (None, False) when another operation is in progress."""
        body = {"appNamespace": target.namespace, "prune": bool(self.options.prune)}
        try:
            app = self.client.post(APPS.object_path(target.name, "sync"), body)
        except ApiError as err:
            if err.status == 400 and IN_PROGRESS in (err.api_message or ""):
                return None, False
            raise
        self.watch.offer(app)
        return app, True

    def _wait(
        self, target: Target, answer: dict[str, Any] | None, known: dict[str, Any], ours: bool, note: str
    ) -> AppResult:
        """Follow the app until Synced+Healthy, a final failure, or the deadline; retry a failed sync once.

        `answer` is the sync's (None when another operation was in progress: then news of it comes first).
        """
        retries, pace = SYNC_RETRIES, self._pace()
        app = answer or self._next(target, known, pace, max(0.0, self.remaining()))
        while True:
            if not in_progress(app):
                sync, health, phase = states(app)
                if sync == SYNCED and health == HEALTHY:
                    return result_of(target, app, "healthy", note)
                if phase in FAILED_PHASES and ours and (retries == 0 or self.remaining() <= 0):
                    return result_of(target, app, "failed", join(note, failure(app, SYNC_RETRIES - retries)))
                if phase in FAILED_PHASES or (not ours and sync != SYNCED):
                    if ours:
                        retries -= 1
                    answer, ours = self._sync(target)
                    if answer is not None:  # else another operation runs: wait for news of it
                        app = answer
                        continue
            left = self.remaining()
            if left <= 0 or self.stop:
                why = self.stop.reason or timeout_message(app, self.options.timeout)
                return result_of(target, app, "stopped" if self.stop else "timeout", join(note, why))
            app = self._next(target, app, pace, left)

    def _next(self, target: Target, app: dict[str, Any], pace: Iterator[float], left: float) -> dict[str, Any]:
        """The app's next state: from the watch, or read after a pause while the watch is down or quiet."""
        if self.watch.stale():
            self.sleep(min(next(pace), left))
            return self._get(target)
        key = (target.namespace, target.name)
        return self.watch.newer(key, version_of(app), min(left, self.watch.quiet)) or app

    def _state(self, target: Target) -> dict[str, Any]:
        """What the watch knows of the app, or the app as read now."""
        known = None if self.watch.stale() else self.watch.get((target.namespace, target.name))
        return known or self._get(target)

    def _get(self, target: Target, **params: str) -> dict[str, Any]:
        app = self.client.get(APPS.object_path(target.name), {"appNamespace": target.namespace, **params})
        self.watch.offer(app)
        return app

    def _pace(self) -> Iterator[float]:
        """Jittered polling intervals growing from `poll_start` to `poll_max`."""
        interval = self.poll_start
        while True:
            yield random.uniform(interval / 2, interval)
            interval = min(self.poll_max, interval * 1.5)

    def rearm(self, target: Target, result: AppResult, *, healthy: bool) -> None:
        """Put back the app's original spec (automated sync armed), keeping its live metadata; idempotent: nothing is
        written when its syncPolicy is already the backup's (the only part of the spec the restore changed)."""
        spec, note = kept_paused("applications", {"spec": target.rearm_spec}, self.version)
        result.message = join(result.message, note)
        try:
            live = self._state(target)  # from the watch: of its spec, only syncPolicy (appstate.WATCHED)
            if (live.get("spec") or {}).get("syncPolicy") != spec["spec"].get("syncPolicy"):
                meta = {k: v for k, v in (live.get("metadata") or {}).items() if k in REARM_METADATA}
                body = {"metadata": meta, "spec": spec["spec"]}
                answer = self.client.write("applications", body, update=True)
                read_back(self.client, result, body, answer, self.version, self.allow_loss)
        except ApiError as err:
            if ends_run(err):
                self.stop.on_error(err)
            result.rearm_error = (
                f"re-arming automated sync failed: {err}; restore spec.syncPolicy.automated from the backup by hand"
            )
            return
        result.rearmed, result.rearmed_healthy = True, healthy


def result_of(target: Target, app: dict[str, Any], outcome: str, message: str) -> AppResult:
    sync, health, phase = states(app)
    return AppResult(target.name, target.namespace, sync, health, phase, message, outcome=outcome)
