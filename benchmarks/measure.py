"""Run one drkit command (or any script) as a child process and report its wall time, CPU time and own peak RSS.

The child is started by a small launcher process, which reads the child's peak RSS with wait4. Started from
this process directly, the child would carry this process's RSS as its peak: Linux keeps the larger of the
parent's resident size at fork (or vfork) and the child's own across exec, and the benchmark process holds
the whole simulated instance.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import time
from typing import IO, NamedTuple

LAUNCHER = (
    "import os, subprocess, sys; child = subprocess.Popen(sys.argv[2:]); _, status, use = os.wait4(child.pid, 0); "
    "open(sys.argv[1], 'w').write(f'{use.ru_maxrss} {use.ru_utime + use.ru_stime}'); "
    "sys.exit(os.waitstatus_to_exitcode(status))"
)


class Measured(NamedTuple):
    seconds: float  # wall time
    peak: float  # peak RSS, MiB
    code: int  # exit code
    cpu: float  # user + system CPU seconds: less sensitive than wall time to a CPU shared with others


def run(args: list[str], stdout: IO[str] | None = None) -> tuple[float, float, int]:
    """(seconds, peak RSS in MiB, exit code) of `python -m drkit ARGS` in a fresh process."""
    return run_command([sys.executable, "-m", "drkit", *args], stdout)


def run_command(argv: list[str], stdout: IO[str] | None = None) -> tuple[float, float, int]:
    """(seconds, peak RSS in MiB, exit code) of `argv`, the RSS being the child's own."""
    return measured(argv, stdout)[:3]


def measured(argv: list[str], stdout: IO[str] | None = None) -> Measured:
    """Wall time, own peak RSS, exit code and CPU time of `argv` in a fresh process."""
    with tempfile.TemporaryFile() as err, tempfile.NamedTemporaryFile("r") as usage:
        started = time.perf_counter()
        proc = subprocess.run(
            [sys.executable, "-c", LAUNCHER, usage.name, *argv], stdout=stdout or subprocess.DEVNULL, stderr=err
        )
        elapsed = time.perf_counter() - started
        if proc.returncode not in (0, 3):
            err.seek(0)
            sys.stderr.write(err.read().decode(errors="replace")[-3000:])
        rss, cpu = (usage.read() or "0 0").split()
    return Measured(elapsed, int(rss) / 1024, proc.returncode, float(cpu))
