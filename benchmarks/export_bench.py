"""Export at a real instance's scale: each figure beside its floor, as a ratio, from one run per size.

    python benchmarks/export_bench.py [--apps 1000,10000] [--chart export.png]

The simulator (in this process, over HTTP on 127.0.0.1) holds N apps with a real instance's status
(drkit/testing/app_status.py: 40 to 1,500 resources, long-tailed, ten history entries); moto's S3 server runs
here too. Every export is a fresh child process; its peak RSS is its own (wait4). Per size:
- peak RSS, floor: drkit exporting only the 10 largest of those apps, i.e. the process's baseline (imports,
  pools, schemas) plus the largest objects. A ratio near 1 means memory does not grow with the instance.
- wall time to a directory and to S3, floor: benchmarks/lean_export.py (list every kind, then 16 parallel puts,
  no validation or checksums) on the same simulator and store, in the same run.
- the export of an app list past the gRPC limit (the simulator's --grpc-max-mb set to a third of the list):
  it must succeed with every app; its time beside the plain export's.
"""

from __future__ import annotations

import argparse
import itertools
import json
import logging
import os
import sys
import tempfile
import time
from collections.abc import Iterator
from typing import Any

import ijson
import requests

sys.path.insert(0, os.path.dirname(__file__))

from instance import TOKEN, start, target_args  # noqa: E402
from measure import Measured, measured  # noqa: E402

LEAN = os.path.join(os.path.dirname(__file__), "lean_export.py")


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


def export(sim: Any, store: str) -> tuple[Measured, dict[str, Any]]:
    """One `drkit export`, measured, and its JSON document."""
    with tempfile.TemporaryFile("w+") as out:
        run = measured([sys.executable, "-m", "drkit", "export", *target_args(sim, store), "-o", "json"], out)
        out.seek(0)
        document = json.loads(out.read() or "{}")
    return run, document


def lean(sim: Any, store: str) -> Measured:
    run = measured([sys.executable, LEAN, sim.address, TOKEN, store])
    if run.code:
        raise SystemExit(f"lean exporter failed (exit {run.code})")
    return run


def list_size(sim: Any) -> tuple[int, int]:
    """(bytes of the whole app list, bytes of the largest app in it)."""
    body = requests.get(f"{sim.url}/api/v1/applications", headers={"Authorization": f"Bearer {TOKEN}"}).content
    return len(body), max(len(json.dumps(a, separators=(",", ":"))) for a in json.loads(body)["items"])


def measure(apps: int, buckets: Iterator[str]) -> dict[str, Any]:
    """Every run for one size, once each, drkit and the lean exporter alternating."""
    t0 = time.perf_counter()
    sim = start(apps, real_status=True)
    small = start(apps, real_status=True, only=10)
    print(f"\n{apps} apps: simulator seeded in {time.perf_counter() - t0:.0f} s", flush=True)
    row: dict[str, Any] = {"apps": apps}
    try:
        row["list_bytes"], row["largest_bytes"] = list_size(sim)
        with tempfile.TemporaryDirectory() as local:
            row["floor"], _ = export(small, os.path.join(local, "floor"))
            row["dir"], _ = export(sim, os.path.join(local, "drkit"))
            row["lean_dir"] = lean(sim, local)
            row["s3"], _ = export(sim, next(buckets))
            row["lean_s3"] = lean(sim, next(buckets))
            sim.grpc_max_mb = row["list_bytes"] / 3 / (1024 * 1024)
            row["split"], split = export(sim, os.path.join(local, "split"))
        row["split_apps"] = split.get("counts", {}).get("applications", 0)
    finally:
        sim.stop()
        small.stop()
    return row


def report(rows: list[dict[str, Any]]) -> None:
    mib = 1024 * 1024
    print(f"\n{'apps':>6}  {'figure':<44} {'drkit':>8} {'floor':>8} {'ratio':>6}")
    for r in rows:
        lines = [
            ("export peak RSS, MiB (floor: the 10 largest)", r["dir"].peak, r["floor"].peak),
            ("export to a directory, wall s (floor: lean)", r["dir"].seconds, r["lean_dir"].seconds),
            ("export to a directory, CPU s (floor: lean)", r["dir"].cpu, r["lean_dir"].cpu),
            ("export to S3, wall s (floor: lean)", r["s3"].seconds, r["lean_s3"].seconds),
            ("export to S3, CPU s (floor: lean)", r["s3"].cpu, r["lean_s3"].cpu),
            ("past the gRPC limit, wall s (vs plain)", r["split"].seconds, r["dir"].seconds),
        ]
        for label, value, floor in lines:
            print(f"{r['apps']:>6}  {label:<44} {value:>8.1f} {floor:>8.1f} {value / floor:>6.2f}")
        ok = r["split"].code == 0 and r["split_apps"] == r["apps"]
        print(
            f"{'':>6}  app list {r['list_bytes'] / mib:.0f} MiB ({r['list_bytes'] / r['apps'] / 1024:.1f} KiB/app, "
            f"largest app {r['largest_bytes'] / 1024:.0f} KiB); peak RSS: to S3 {r['s3'].peak:.0f} MiB, past the "
            f"limit {r['split'].peak:.0f} MiB, lean {r['lean_dir'].peak:.0f} MiB; exits {r['dir'].code}, "
            f"{r['s3'].code}, {r['split'].code}; past the limit: {r['split_apps']} apps backed up: "
            f"{'OK' if ok else 'FAILED'}"
        )


def chart(rows: list[dict[str, Any]], path: str) -> None:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("no chart: matplotlib is not installed (pip install -e '.[bench]')")
        return
    apps = [r["apps"] for r in rows]
    fig, (left, right) = plt.subplots(1, 2, figsize=(12, 4.8))
    series = (
        ("dir", "drkit → directory", "C0", "-"),
        ("lean_dir", "lean → directory", "C0", ":"),
        ("s3", "drkit → S3", "C1", "-"),
        ("lean_s3", "lean → S3", "C1", ":"),
        ("split", "drkit, list past gRPC limit", "C2", "--"),
    )
    for key, label, color, style in series:
        left.plot(apps, [r[key].seconds for r in rows], style, color=color, marker="o", label=label)
    left.set(xscale="log", yscale="log", xlabel="applications", ylabel="wall time (s)", title="Export time")
    for key, label, color, style in (
        ("dir", "drkit", "C0", "-"),
        ("floor", "floor: drkit on the 10 largest apps", "C2", "--"),
        ("lean_dir", "lean (whole list in memory)", "C3", ":"),
    ):
        right.plot(apps, [r[key].peak for r in rows], style, color=color, marker="o", label=label)
    right.axhline(300, color="grey", linestyle="-.", linewidth=1, label="target at 10,000 apps (issue 9)")
    right.set(xscale="log", xlabel="applications", ylabel="peak RSS (MiB)", title="Export peak memory")
    right.set_ylim(bottom=0)
    for axis in (left, right):
        axis.grid(True, which="both", alpha=0.3)
        axis.legend(fontsize=8)
    fig.suptitle(f"drkit export, apps of real size (~{rows[-1]['list_bytes'] / rows[-1]['apps'] / 1024:.0f} KiB each)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    print(f"chart written to {path}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--apps", default="1000,10000", help="comma-separated sizes [default: 1000,10000]")
    parser.add_argument("--chart", default="export-bench.png", help="PNG chart path [default: export-bench.png]")
    args = parser.parse_args()
    print(f"ijson backend: {ijson.backend}; load average at start: {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    buckets = s3_buckets()
    rows = [measure(int(n), buckets) for n in args.apps.split(",")]
    report(rows)
    print(f"load average at end: {os.getloadavg()[0]:.1f} (above {os.cpu_count()}: the CPU was shared)")
    chart(rows, args.chart)


if __name__ == "__main__":
    main()
