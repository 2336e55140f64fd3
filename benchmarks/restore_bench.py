"""Restore time for N applications (default 1,000), without and with sync, into fresh simulated instances.

    python benchmarks/restore_bench.py [--apps 1000] [--concurrency 8]

The backup is exported once from a seeded simulator; each restore is `drkit restore` in a fresh process into a
new, empty simulator (in this process, over HTTP on 127.0.0.1). The simulator's controller finishes a sync
after ~2 reconcile ticks (20 ms each), so "with sync" measures drkit's refresh/sync/poll work and the API
round trips, not real deployment time.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(__file__))

from instance import credentials_file, start, target_args  # noqa: E402
from measure import run  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--apps", type=int, default=1000)
    parser.add_argument("--concurrency", type=int, default=8)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as store:
        source = start(args.apps)
        try:
            seconds, _, code = run(["export", *target_args(source, store)])
            print(f"export of {args.apps} apps: {seconds:.2f} s (exit {code})")
        finally:
            source.stop()
        creds = credentials_file(os.path.join(store, "credentials.yaml"))
        for label, extra in (("without sync", ["--no-sync"]), ("with sync and wait", ["--timeout", "1800"])):
            target = start(0)
            try:
                t0 = time.perf_counter()
                seconds, peak, code = run(
                    [
                        "restore",
                        *target_args(target, store),
                        "latest",
                        "--credentials",
                        creds,
                        "--concurrency",
                        str(args.concurrency),
                        "-o",
                        "json",
                        *extra,
                    ]
                )
                healthy = sum(
                    1
                    for a in target.applications.values()
                    if a.get("status", {}).get("health", {}).get("status") == "Healthy"
                )
                print(
                    f"restore {label}: {seconds:.2f} s, peak RSS {peak:.0f} MiB, exit {code}, "
                    f"{len(target.applications)} apps on target, {healthy} Healthy, "
                    f"{len(target.gateway.requests)} API requests ({time.perf_counter() - t0:.1f} s wall)"
                )
            finally:
                target.stop()


if __name__ == "__main__":
    main()
