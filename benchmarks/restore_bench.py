"""Restore at a real instance's scale: each figure beside its floor, as a ratio, from one run.

    python benchmarks/restore_bench.py [--apps 1000,10000] [--sync-apps 1000] [--processors 20,100]
                                       [--sync-seconds 1] [--chart restore-bench.png]

A source simulator (in this process, over HTTP on 127.0.0.1) holds N apps whose specs have a real app's size
(inline Helm values and parameters, several KB); it is exported once to a directory. Every restore is a fresh
child process into a new, empty simulator. Figures:
- restore without sync, wall time; floor: benchmarks/lean_restore.py sending the same requests (recorded from
  drkit's own plan, bodies prepared in advance) with a thread pool of the same size, in the same run.
- restore with sync and wait onto a controller with P operation processors and S-second syncs; floor: the
  controller's own capacity, ceil(N / P) x S, plus S per extra stage (one stage here).
- API requests per app during the restore with sync, counted by the simulator (floor: 3, the issue's target).
- the restore with sync against the controller's pace measured in the same run (every sync sent at once to apps
  created beforehand, one watch): the theoretical floor as this machine, whose speed drifts, runs it now.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import tempfile
import time
from typing import Any

sys.path.insert(0, os.path.dirname(__file__))

from controller_capacity import sync_all  # noqa: E402
from instance import TOKEN, credentials_file, seed_document, target_args  # noqa: E402
from measure import Measured, measured  # noqa: E402

from drkit.argocd.client import Client  # noqa: E402
from drkit.backup import format as backup  # noqa: E402
from drkit.backup.store import open_store  # noqa: E402
from drkit.errors import ApiError  # noqa: E402
from drkit.restore import apply as restoring  # noqa: E402
from drkit.restore import credentials
from drkit.testing import Simulator  # noqa: E402
from drkit.testing.seed import load  # noqa: E402

LEAN = os.path.join(os.path.dirname(__file__), "lean_restore.py")
CONCURRENCY = 8


def real_size(doc: dict[str, Any]) -> dict[str, Any]:
    """The seed with every app's spec at a real app's size: ~4 KB of inline values, 20 parameters; every other
    app syncs automatically, so a restore disarms it and re-arms it once it is healthy (a request more)."""
    for n, app in enumerate(doc["applications"]):
        if n % 2 == 0:
            app["spec"]["syncPolicy"]["automated"] = {"prune": True, "selfHeal": True}
        source = app["spec"]["source"]
        lines = [f"  key{i:03d}: value-{n}-{i} # {'x' * 40}" for i in range(60)]
        source["helm"] = {
            "releaseName": app["metadata"]["name"],
            "valueFiles": ["values.yaml", "values-prod.yaml"],
            "parameters": [{"name": f"image.tag{i}", "value": f"1.{n % 50}.{i}"} for i in range(20)],
            "values": "config:\n" + "\n".join(lines) + "\n",
        }
    return doc


def simulator(apps: int = 0, **capacity: Any) -> Simulator:
    sim = Simulator(token=TOKEN, **capacity)
    if apps:
        load(sim, real_size(seed_document(apps)))
    return sim.start()


class Recorder(Client):
    """A client that records each request instead of sending it: the lean client's prepared requests."""

    def __init__(self) -> None:
        super().__init__("http://127.0.0.1:1", TOKEN)
        self.sent: list[list[Any]] = []

    def request(self, method: str, path: str, *, body: Any = None, params: Any = None, timeout: Any = None) -> Any:
        """A write is recorded and answered with what it wrote; a read (drkit's read-back) is not the lean
        client's work and is answered 404, which read-back takes as "not readable now"."""
        if method == "GET":
            raise ApiError(f"GET {path}: not recorded", status=404)
        self.sent.append([method, path, params, body])
        return body.get("project", body) if isinstance(body, dict) and "upsert" in body else body


def prepare(store: str, creds: str, out: str) -> int:
    """Write drkit's requests for restoring the latest backup onto an empty instance; their count."""
    loaded = backup.load(open_store(store), "bench", "latest")
    options = restoring.RestoreOptions(sync=False)
    secrets = credentials.load(creds, env={}, fetch_secret=None)
    recorder = Recorder()
    restoring.apply(recorder, restoring.plan(loaded.objects, {}, secrets, options), options)
    with open(out, "w", encoding="utf-8") as fh:
        for item in recorder.sent:
            fh.write(json.dumps(item) + "\n")
    return len(recorder.sent)


class Timed(list):
    """The simulator's request log, noting when the first sync request came: where converging begins."""

    first_sync = 0.0

    def append(self, item: Any) -> None:
        if not self.first_sync and item[1].endswith("/sync"):
            self.first_sync = time.perf_counter()
        super().append(item)


def restore(store: str, creds: str, *extra: str, **capacity: Any) -> tuple[Measured, Simulator, float]:
    """One drkit restore into a fresh simulator: measured, the simulator, and seconds from its first sync to its end."""
    target = simulator(**capacity)
    target.gateway.requests = Timed()
    args = ["restore", *target_args(target, store), "latest", "--credentials", creds, "-o", "json", *extra]
    try:
        run = measured([sys.executable, "-m", "drkit", *args])
        ended = time.perf_counter()
        return run, target, ended - target.gateway.requests.first_sync if target.gateway.requests.first_sync else 0.0
    finally:
        target.stop()


def lean(requests_file: str, target: Simulator | None = None) -> Measured:
    """benchmarks/lean_restore.py sending the prepared requests to `target` (default: a fresh, empty instance)."""
    fresh = target is None
    target = simulator() if target is None else target
    try:
        run = measured([sys.executable, LEAN, target.address, TOKEN, requests_file, "--concurrency", str(CONCURRENCY)])
    finally:
        if fresh:
            target.stop()
    if run.code:
        raise SystemExit(f"lean restore failed (exit {run.code})")
    return run


def controller_pace(store: str, creds: str, capacity: dict[str, Any]) -> float:
    """The controller's own pace, measured in this run on a simulator of this capacity: the backup's apps created
    first (benchmarks/lean_restore.py), then seconds from sending every sync at once until one watch has seen each
    Succeeded (benchmarks/controller_capacity.py). The floor ceil(N / P) x S, as this machine runs it now."""
    requests_file = os.path.join(store, "requests.jsonl")
    if not os.path.exists(requests_file):
        prepare(store, creds, requests_file)
    target = simulator(**capacity)
    try:
        lean(requests_file, target)
        return sync_all(target.url, sorted(name for _, name in target.applications))
    finally:
        target.stop()


def healthy(sim: Simulator) -> int:
    return sum(1 for a in sim.applications.values() if a.get("status", {}).get("health", {}).get("status") == "Healthy")


def per_app(sim: Simulator, apps: int) -> tuple[float, float]:
    """Application API requests per app during one restore: (all of them, those after the create: converge's)."""
    paths = [path for _, path in sim.gateway.requests if "/applications" in path]
    after = [p for p in paths if p.startswith(("/api/v1/applications/", "/api/v1/stream/applications"))]
    return len(paths) / apps, len(after) / apps


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--apps", default="1000,10000", help="sizes restored without sync [default: 1000,10000]")
    parser.add_argument("--sync-apps", type=int, default=1000, help="apps restored with sync [default: 1000]")
    parser.add_argument("--processors", default="20,100", help="operation processors [default: 20,100]")
    parser.add_argument("--sync-seconds", type=float, default=1.0, help="seconds per sync [default: 1]")
    parser.add_argument("--chart", default="restore-bench.png", help="PNG chart path [default: restore-bench.png]")
    args = parser.parse_args()
    print(f"load average at start: {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs", flush=True)
    rows = []
    for size in sorted({int(n) for n in args.apps.split(",")} | {args.sync_apps}):
        with tempfile.TemporaryDirectory() as store:
            rows += measure_size(size, store, args, size in {int(n) for n in args.apps.split(",")})
    print(f"\n{'apps':>6}  {'figure':<58} {'drkit':>8} {'floor':>8} {'ratio':>6}")
    for apps, label, value, floor, note in rows:
        print(f"{apps:>6}  {label:<58} {value:>8.2f} {floor:>8.2f} {value / floor:>6.2f}  {note}")
    print(f"load average at end: {os.getloadavg()[0]:.1f} (above {os.cpu_count()}: the CPU was shared)")
    chart(rows, args.chart)


def measure_size(size: int, store: str, args: argparse.Namespace, without_sync: bool) -> list[tuple]:
    source = simulator(size)
    try:
        exported = measured([sys.executable, "-m", "drkit", "export", *target_args(source, store)])
        print(f"{size} apps exported in {exported.seconds:.1f} s (exit {exported.code})", flush=True)
    finally:
        source.stop()
    creds = credentials_file(os.path.join(store, "credentials.yaml"))
    rows: list[tuple] = []
    if without_sync:
        requests_file = os.path.join(store, "requests.jsonl")
        count = prepare(store, creds, requests_file)
        floor = lean(requests_file)
        run, target, _ = restore(store, creds, "--no-sync", "--concurrency", str(CONCURRENCY))
        note = f"exit {run.code}, {len(target.applications)} apps, {count} writes; CPU {run.cpu:.1f}/{floor.cpu:.1f} s"
        rows.append((size, "restore without sync, wall s (floor: lean client)", run.seconds, floor.seconds, note))
        print(rows[-1], flush=True)
    if size == args.sync_apps:
        for processors in (int(p) for p in args.processors.split(",")):
            capacity = {"operation_processors": processors, "sync_seconds": args.sync_seconds}
            run, target, converging = restore(store, creds, "--timeout", "3600", **capacity)
            floor = math.ceil(size / processors) * args.sync_seconds
            note = f"exit {run.code}, {healthy(target)}/{size} Healthy"
            label = f"restore with sync and wait, {processors} processors, wall s"
            rows.append((size, label, run.seconds, floor, note))
            label = f"  from its first sync to its end, {processors} processors, s"
            rows.append((size, label, converging, floor, "the converge phase alone"))
            every, converging = per_app(target, size)
            note = f"{every:.2f} with the create and the list"
            rows.append((size, f"  converge's API requests per app ({processors} processors)", converging, 3.0, note))
            label = f"  the same against the controller's measured pace, {processors} processors, s"
            note = "floor: every sync at once on created apps, measured in this run"
            rows.append((size, label, run.seconds, controller_pace(store, creds, capacity), note))
            print(*rows[-4:], sep="\n", flush=True)
    return rows


def chart(rows: list[tuple], path: str) -> None:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("no chart: matplotlib is not installed (pip install -e '.[bench]')")
        return
    timed = [r for r in rows if "wall" in r[1]]
    fig, axis = plt.subplots(figsize=(9, 4.8))
    labels = [
        f"{r[0]} apps\n{r[1].split(',')[0].removeprefix('restore ')}\n{r[1].split(',')[1].strip()}" for r in timed
    ]
    xs = range(len(timed))
    axis.bar([x - 0.2 for x in xs], [r[2] for r in timed], 0.4, label="drkit")
    axis.bar([x + 0.2 for x in xs], [r[3] for r in timed], 0.4, label="floor (lean client / controller)")
    for x, r in zip(xs, timed, strict=True):
        axis.annotate(f"{r[2] / r[3]:.2f}x", (x - 0.2, r[2]), ha="center", va="bottom", fontsize=8)
    axis.set_xticks(list(xs), labels, fontsize=7)
    axis.set(ylabel="wall time (s)", title="drkit restore against its floor")
    axis.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    print(f"chart written to {path}")


if __name__ == "__main__":
    main()
