"""The simulator's own cost per request, so other figures can be read net of it.

    python benchmarks/sim_overhead.py [--requests 2000]

Sequential GETs of one application over one keep-alive connection. Go's HTTP server sets TCP_NODELAY;
without it, each keep-alive request would wait ~40 ms for a delayed ACK, and this figure shows it.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

import requests

sys.path.insert(0, os.path.dirname(__file__))

from instance import TOKEN, start  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=2000)
    args = parser.parse_args()
    sim = start(10)
    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {TOKEN}"
    url = f"{sim.url}/api/v1/applications/app-00001"
    times = []
    try:
        for _ in range(args.requests):
            t = time.perf_counter()
            session.get(url).raise_for_status()
            times.append(time.perf_counter() - t)
    finally:
        sim.stop()
    times.sort()
    print(
        f"{args.requests} keep-alive GETs: mean {statistics.mean(times) * 1000:.2f} ms, "
        f"p50 {times[len(times) // 2] * 1000:.2f} ms, p99 {times[int(len(times) * 0.99)] * 1000:.2f} ms"
    )


if __name__ == "__main__":
    main()
