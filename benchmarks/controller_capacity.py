"""The simulated controller keeps to its capacity: N syncs of S seconds on P operation processors take about
ceil(N / P) x S, the floor drkit's converge is measured against.

    python benchmarks/controller_capacity.py [--apps 200] [--processors 20 100] [--sync-seconds 1]

The leanest client: every sync request sent at once from a thread pool, completion learnt from one watch
stream (no polling). Prints the time beside the floor, as a ratio.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
from concurrent.futures import ThreadPoolExecutor

import requests

sys.path.insert(0, os.path.dirname(__file__))

from instance import TOKEN, start  # noqa: E402


def sync_all(url: str, names: list[str]) -> float:
    """Seconds from the first sync request until every app's operation Succeeded, seen on the watch stream."""
    session = requests.Session()
    session.headers.update({"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"})
    pending = set(names)
    with session.get(f"{url}/api/v1/stream/applications", stream=True, timeout=600) as stream:
        lines = stream.iter_lines()
        for _ in names:  # the initial ADDED events: the watch is registered
            next(lines)
        started = time.perf_counter()
        with ThreadPoolExecutor(64) as pool:
            list(
                pool.map(
                    lambda n: session.post(f"{url}/api/v1/applications/{n}/sync", json={}).raise_for_status(), names
                )
            )
        for line in lines:
            app = json.loads(line)["result"]["application"]
            if app.get("status", {}).get("operationState", {}).get("phase") == "Succeeded":
                pending.discard(app["metadata"]["name"])
            if not pending:
                return time.perf_counter() - started
    raise RuntimeError("the watch ended before every sync finished")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--apps", type=int, default=200)
    parser.add_argument("--processors", type=int, nargs="+", default=[20, 100])
    parser.add_argument("--sync-seconds", type=float, default=1.0)
    args = parser.parse_args()
    print(f"{'processors':>10} {'apps':>6} {'seconds':>8} {'floor':>8} {'ratio':>6}")
    for processors in args.processors:
        sim = start(args.apps, operation_processors=processors, sync_seconds=args.sync_seconds)
        try:
            names = sorted(name for _, name in sim.applications)
            seconds = sync_all(sim.url, names)
        finally:
            sim.stop()
        floor = math.ceil(args.apps / processors) * args.sync_seconds
        print(f"{processors:>10} {args.apps:>6} {seconds:>8.2f} {floor:>8.2f} {seconds / floor:>6.2f}")


if __name__ == "__main__":
    main()
