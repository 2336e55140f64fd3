"""Export time and peak memory for a simulated instance of N applications (default 1,000).

    python benchmarks/export_bench.py [--apps 1000] [--runs 3] [--s3]

Each run is `drkit export` in a fresh process against the simulator (in this process, over HTTP on
127.0.0.1) into a fresh local directory store, or with --s3 into a fresh bucket of moto's S3 server (also
in this process, over HTTP; boto3 in the child reaches it through AWS_ENDPOINT_URL). Peak memory is the
child's max RSS (ru_maxrss is a high-water mark across children, so runs report the largest so far).
"""

from __future__ import annotations

import argparse
import itertools
import logging
import os
import sys
import tempfile
import time
from collections.abc import Iterator

sys.path.insert(0, os.path.dirname(__file__))

from instance import start, target_args  # noqa: E402
from measure import run  # noqa: E402


def local_dirs() -> Iterator[str]:
    while True:
        with tempfile.TemporaryDirectory() as store:
            yield store


def s3_buckets() -> Iterator[str]:
    """Fresh buckets on a moto S3 server started here; the child drkit finds it through the environment."""
    import boto3
    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # moto's server logs every request otherwise
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0)
    server.start()
    host, port = server.get_host_and_port()
    os.environ.update(
        AWS_ACCESS_KEY_ID="bench",
        AWS_SECRET_ACCESS_KEY="bench",
        AWS_DEFAULT_REGION="us-east-1",
        AWS_ENDPOINT_URL=f"http://{host}:{port}",
    )
    client = boto3.client("s3")
    for n in itertools.count():
        client.create_bucket(Bucket=f"drkit-bench-{n}")
        yield f"s3://drkit-bench-{n}/backups"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--apps", type=int, default=1000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--s3", action="store_true", help="export into moto's S3 server instead of a directory")
    args = parser.parse_args()
    stores = s3_buckets() if args.s3 else local_dirs()
    t0 = time.perf_counter()
    sim = start(args.apps)
    print(f"simulator seeded with {args.apps} applications in {time.perf_counter() - t0:.1f} s")
    try:
        for i in range(args.runs):
            store = next(stores)
            seconds, peak, code = run(["export", *target_args(sim, store), "-o", "json"])
            where = store if args.s3 else "a local directory"
            print(
                f"run {i + 1}: export of {args.apps} apps to {where}: {seconds:.2f} s, peak RSS {peak:.0f} MiB, "
                f"exit {code}"
            )
        gets = sim.gateway.requests
        print(f"requests served by the simulator: {len(gets)}")
    finally:
        sim.stop()


if __name__ == "__main__":
    main()
