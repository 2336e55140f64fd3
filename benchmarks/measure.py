"""Run one drkit command as a child process and report its wall time and peak memory (max RSS)."""

from __future__ import annotations

import resource
import subprocess
import sys
import time


def run(args: list[str]) -> tuple[float, float, int]:
    """(seconds, peak RSS in MiB, exit code) of `python -m drkit ARGS` in a fresh process."""
    started = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "drkit", *args], capture_output=True, text=True)
    elapsed = time.perf_counter() - started
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    if proc.returncode not in (0, 3):
        sys.stderr.write(proc.stderr)
    return elapsed, peak, proc.returncode
