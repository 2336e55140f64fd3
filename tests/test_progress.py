"""Restore progress: library code counts through a callback; the ticker shows it on a terminal or in a log."""

from __future__ import annotations

import threading

from drkit.backup.format import Backup
from drkit.restore.apply import RestoreOptions, restore
from drkit.restore.converge import converge
from drkit.restore.progress import Progress, Ticker, line
from drkit.testing import Simulator
from tests import test_restore_plan as shared
from tests.test_restore_plan import client_of

source = shared.source
target = shared.target


def test_a_restore_reports_every_write_and_every_app(source: Backup, target: Simulator) -> None:
    seen: list[Progress] = []
    report = restore(
        client_of(target), source, None, RestoreOptions(timeout=30), converge=converge, progress=seen.append
    )
    last = seen[-1]
    writes = sum(1 for o in report.objects if o.action in ("create", "update", "fail"))
    assert last.objects == last.written == writes > 0
    assert last.apps == len(report.apps) > 0
    assert last.healthy == sum(1 for a in report.converged if a.outcome == "healthy" and a.kind == "applications")
    assert last.synced >= last.healthy and last.failed == 0
    written = [p.written for p in seen]  # apps' news come between the applications' writes (drkit.restore.pipeline)
    assert written == sorted(written) and set(range(1, writes + 1)) <= set(written)  # counted one by one, in order


def test_the_line_says_where_the_phase_under_way_stands() -> None:
    writing = Progress(objects=100, written=25)
    assert line(writing, 10, 10) == "objects 25/100 written, 10s elapsed, ETA 30s"
    converging = Progress(objects=100, written=100, apps=40, synced=30, healthy=9, failed=1)
    assert line(converging, 200, 60) == (
        "objects 100/100 written, apps 30/40 synced, 9 healthy, 1 failed, 3m20s elapsed, ETA 3m00s"
    )


def test_off_a_terminal_a_line_comes_at_a_steady_interval_even_when_nothing_moves() -> None:
    lines: list[str] = []
    enough = threading.Event()

    def write(text: str) -> None:
        lines.append(text)
        if len(lines) >= 3:
            enough.set()

    with Ticker(write, terminal=False, interval=0.01) as ticker:
        ticker(Progress(objects=10, written=4))
        assert enough.wait(10)
    assert lines[0].startswith("progress: objects 4/10 written") and lines[0].endswith("\n")
    assert len({text.split(",")[0] for text in lines}) == 1  # the same state, told again: alive, not stuck


def test_on_a_terminal_the_line_is_redrawn_in_place_and_ended() -> None:
    lines: list[str] = []
    with Ticker(lines.append, terminal=True, redraw=60) as ticker:
        ticker(Progress(objects=10, written=1))
    assert lines[0].startswith("\robjects 1/10 written") and "\n" not in lines[0]
    assert lines[-1].endswith("\n")
