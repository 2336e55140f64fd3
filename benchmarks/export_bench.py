"""Export time and peak memory for a simulated instance of N applications (default 1,000).

    python benchmarks/export_bench.py [--apps 1000] [--runs 3]

Each run is `drkit export` in a fresh process against the simulator (in this process, over HTTP on
127.0.0.1) into a fresh local directory store. Peak memory is the child's max RSS (ru_maxrss is a
high-water mark across children, so runs report the largest so far).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(__file__))

from instance import TOKEN, start  # noqa: E402
from measure import run  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--apps", type=int, default=1000)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    t0 = time.perf_counter()
    sim = start(args.apps)
    print(f"simulator seeded with {args.apps} applications in {time.perf_counter() - t0:.1f} s")
    try:
        for i in range(args.runs):
            with tempfile.TemporaryDirectory() as store:
                seconds, peak, code = run(
                    [
                        "export",
                        "--server",
                        sim.address,
                        "--plaintext",
                        "--auth-token",
                        TOKEN,
                        "--store",
                        store,
                        "--instance",
                        "bench",
                        "-o",
                        "json",
                    ]
                )
                files = sum(len(f) for _, _, f in os.walk(store))
                print(
                    f"run {i + 1}: export of {args.apps} apps: {seconds:.2f} s, peak RSS {peak:.0f} MiB, "
                    f"{files} files, exit {code}"
                )
        gets = sim.gateway.requests
        print(f"requests served by the simulator: {len(gets)}")
    finally:
        sim.stop()


if __name__ == "__main__":
    main()
