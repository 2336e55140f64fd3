"""SIGTERM and SIGINT during a real `drkit restore` process: it stops starting work, prints its report (exit 143 /
130, CONTRACT.md) listing what stays disarmed, and the same command run again re-arms everything (issue 7 defect 6).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from drkit.ops import metrics
from drkit.testing import Simulator
from tests.test_roundtrip import (
    CREDENTIALS,
    ENV,
    ROOT,
    assert_all_synced_and_healthy,
    assert_same_state,
    fresh,
    report,
    restore_args,
    run_restore,
    source,  # noqa: F401 (fixture)
    state,
    store,  # noqa: F401 (fixture)
    wait_for,
)


def writes(target: Simulator) -> list[tuple[str, str]]:
    return target.gateway.mutating_requests()


def _apps_written(target: Simulator) -> bool:
    return any(p.startswith("/api/v1/applications") and "/sync" not in p for _, p in writes(target))


def _syncing(target: Simulator) -> bool:
    return any(p.endswith("/sync") for _, p in writes(target))


# (signal, when to send it, the phase it lands in)
KILL_POINTS: list[tuple[signal.Signals, Callable[[Simulator], bool], str]] = [
    (signal.SIGTERM, lambda t: len(writes(t)) >= 3, "while certificates and credentials are written"),
    (signal.SIGTERM, _apps_written, "while applications are written"),
    (signal.SIGTERM, _syncing, "while applications are synced"),
    (signal.SIGINT, _syncing, "Ctrl-C while applications are synced"),
]


@pytest.fixture
def target() -> Iterator[Simulator]:
    instance = fresh()
    yield instance
    instance.stop()


@pytest.mark.parametrize(("signum", "when", "phase"), KILL_POINTS, ids=[p[2] for p in KILL_POINTS])
def test_a_signalled_restore_reports_and_a_rerun_rearms_everything(
    source: Simulator,  # noqa: F811
    store: Path,  # noqa: F811
    target: Simulator,
    signum: signal.Signals,
    when: Callable[[Simulator], bool],
    phase: str,
) -> None:
    target.gateway.faults.latency = 0.05  # every request takes a while, so the signal lands mid-restore
    args = restore_args(target, store, "--credentials", str(CREDENTIALS), "--concurrency", "2", "-o", "json")
    proc = subprocess.Popen(
        [sys.executable, "-m", "drkit", *args, "--sync", "--wait"],
        cwd=ROOT,
        env={**os.environ, **ENV},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        wait_for(lambda: when(target) or proc.poll() is not None, attempts=12000)
        assert proc.poll() is None, f"the restore ended before the signal ({phase}): {proc.stderr.read()}"
        proc.send_signal(signum)
        out, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == {signal.SIGINT: 130, signal.SIGTERM: 143}[signum], err
    doc = json.loads(out)  # the report of what was done, as one JSON document
    assert doc["stopped"].startswith(f"interrupted by {signum.name}") and doc["ok"] is False
    disarmed = {f"application {k[0]}/{k[1]}" for k, app in target.applications.items() if _disarmed(source, k, app)}
    assert disarmed <= set(doc["still_disarmed"])  # every app left disarmed on the target is listed
    assert "Traceback" not in err
    target.gateway.faults.latency = 0.0
    again = run_restore(target, store, "--sync", "--wait")
    assert again.exit_code == 0, again.output
    assert report(again)["still_disarmed"] == []
    assert target.auto_synced == []  # nothing synced by itself before drkit re-armed it
    assert_same_state(state(target), state(source))  # automated sync as in the backup, ApplicationSets too
    assert_all_synced_and_healthy(target)


def _disarmed(source: Simulator, key: tuple[str, str], app: dict) -> bool:  # noqa: F811
    want = source.applications.get(key)
    return (
        want is not None
        and "automated" in want["spec"].get("syncPolicy", {})
        and ("automated" not in app["spec"].get("syncPolicy", {}))
    )


GRACE_SECONDS = 30  # Kubernetes' default terminationGracePeriodSeconds: SIGTERM, then SIGKILL this much later
STOP_BOUND = GRACE_SECONDS - metrics.PUSH_TIMEOUT  # the report and a Pushgateway push must fit in what is left


def test_a_signal_stops_the_restore_within_the_grace_period_while_a_hard_refresh_hangs(
    store: Path,  # noqa: F811
) -> None:
    """A hard refresh blocks until the controller reconciles (API-NOTES §2.2); this controller never does. After
    SIGTERM the restore still ends, with its report, early enough to leave the grace period room for the metrics."""
    target = Simulator(app_namespaces=("team-a",), controller=False).start()
    proc = None
    try:
        first = run_restore(target, store, "--no-sync")  # every object there: the next run hard-refreshes its apps
        assert first.exit_code == 0, first.output
        args = restore_args(target, store, "--credentials", str(CREDENTIALS), "-o", "json")
        proc = subprocess.Popen(
            [sys.executable, "-m", "drkit", *args, "--sync", "--wait"],
            cwd=ROOT,
            env={**os.environ, **ENV},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        wait_for(lambda: any(target.app_waiters.values()) or proc.poll() is not None, attempts=12000)
        assert proc.poll() is None, f"the restore ended before a hard refresh was in flight: {proc.stderr.read()}"
        signalled = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        try:
            out, err = proc.communicate(timeout=GRACE_SECONDS)
        except subprocess.TimeoutExpired:
            raise AssertionError(f"still running {GRACE_SECONDS}s after SIGTERM: the pod would be killed") from None
        took = time.monotonic() - signalled
    finally:
        if proc is not None and proc.poll() is None:
            proc.kill()
            proc.wait()
        target.stop()
    assert proc.returncode == 143, err
    assert took < STOP_BOUND, f"{took:.1f}s from SIGTERM to exit"
    doc = json.loads(out)
    assert doc["stopped"].startswith("interrupted by SIGTERM") and doc["still_disarmed"]


def test_uninterrupted_restore_lists_nothing_disarmed(store: Path) -> None:  # noqa: F811
    target = fresh()
    try:
        result = run_restore(target, store)
        assert result.exit_code == 0, result.output
        assert report(result)["stopped"] is None and report(result)["still_disarmed"] == []
    finally:
        target.stop()
