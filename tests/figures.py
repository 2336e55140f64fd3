"""The reliability table (issue 11): figures the tests record as they run, printed at the end of the session.

Every count comes from what a test actually did (a kill point run, a fault injected, a tamper case checked),
so a skipped or deselected test lowers the counts instead of leaving a hard-coded number in the table.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from typing import Any

import pytest

FIGURES: defaultdict[str, Counter[str]] = defaultdict(Counter)

ROWS = (
    ("kill points", "{export} export + {restore} restore points killed; {false_complete} false complete backup(s), "
     "{latest_broken} broken latest; re-runs converged {converged}/{reruns}, apps re-armed {rearmed}/{apps}"),
    ("storage faults", "{faults} faults injected in {requests} S3 requests ({rate}); exports through the faults "
     "identical {identical}/{exports}; failed exports (S3 errors past the retries, disk full or read-only) that left "
     "a manifest {manifest}/{failures}"),
    ("concurrent runs", "{cases} cases; distinct ids {distinct}/{exports}; running export objects pruned "
     "{pruned}; restores equal to one {equal}/{restores}"),
    ("tampering", "{caught}/{cases} cases caught, each naming the object; writes to Argo CD {writes}"),
    ("hostile input", "{inputs} inputs tried; {tracebacks} tracebacks; {outside} writes outside the prefix"),
    ("secrets", "{values} secret values checked in {tests} tests; {leaks} leaks"),
    ("encryption", "{identical}/{objects} objects identical after an encrypted round trip; "
     "{plaintext} plaintext hits in {stored} stored files"),
)  # fmt: skip


def record(row: str, **counts: int) -> None:
    """Add to one row's counters (a test calls this with what it has just checked)."""
    FIGURES[row].update(counts)


def render() -> list[str]:
    """One line per row some test recorded."""
    lines = []
    for row, template in ROWS:
        counts: dict[str, Any] = defaultdict(int, FIGURES.get(row, {}))
        if not FIGURES.get(row):
            continue
        if row == "storage faults":
            counts["rate"] = f"{counts['faults'] / max(counts['requests'], 1):.0%}"
        lines.append(f"{row:<16} {template.format_map(counts)}")
    return lines


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    lines = render()
    if lines:
        terminalreporter.section("drkit reliability (issue 11)")
        for line in lines:
            terminalreporter.write_line(line)
