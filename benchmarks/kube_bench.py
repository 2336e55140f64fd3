"""Export and restore with and without `--kube` (issue 18): each figure beside its floor, as a ratio, from one run.

    python benchmarks/kube_bench.py [--apps 1000] [--repositories 1000] [--no-demo]

Two sources, each a simulator in this process (Argo CD's API and the cluster's core/v1 API over HTTP on
127.0.0.1, `Simulator(kube=True)`): the demo instance (drkit/testing/demo.yaml: its ConfigMaps and Secrets in the
namespace), and N apps (benchmarks/instance.py) with M more repositories, each with credentials of its own (a
username and a 40-character token, or a 387-byte ed25519 OpenSSH key), created by the seed through the simulator's
Argo CD API handlers, so each is a labelled Secret in the namespace as Argo CD keeps it.
Every drkit run is a fresh child process:
- export with `--encrypt age:` and without `--kube`, then with it; floor: benchmarks/lean_kube.py export (the lean
  API export, each file sealed for the same recipient, and with `--kube` the same ConfigMaps and Secrets read with
  raw GETs and a chunked labelled list), on the same simulator in the same run;
- restore with `--no-sync` (sync time is the controller's: benchmarks/restore_bench.py) onto a fresh, empty
  simulator: without `--kube` with a credentials file covering every repository, template and cluster; with
  `--kube` and no credentials file, as the source's token (the restored server.secretkey makes the target verify
  it). Floors: benchmarks/lean_restore.py sending drkit's own API requests (recorded from its plan, bodies
  prepared in advance), and for `--kube` benchmarks/lean_kube.py restore: the backup's ConfigMaps and Secrets
  (decrypted in advance) written with raw POSTs and PUTs, then drkit's API requests for a target that already
  holds them (recorded from its plan against a scratch target the lean writer filled).
- with each `--kube` run, its Kubernetes requests alone: from the first one's arrival to the last one's answer,
  timed in the simulated API server, beside the floor's (drkit's restore GETs each object before writing it, one
  at a time; the lean writer lists each kind once and writes 8 at a time).
Each time includes the process's start; CPU times (user + system, drkit/floor) are in the note.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from collections import Counter
from typing import Any

sys.path.insert(0, os.path.dirname(__file__))

import pyrage  # noqa: E402
from instance import credentials_file, seed_document  # noqa: E402
from lean_kube import write_kube  # noqa: E402
from measure import Measured, measured  # noqa: E402
from restore_bench import Recorder  # noqa: E402

from drkit.argocd.client import Client  # noqa: E402
from drkit.backup import format as backup  # noqa: E402
from drkit.backup.sealing import Keys  # noqa: E402
from drkit.backup.store import open_store  # noqa: E402
from drkit.kube import kinds as kk  # noqa: E402
from drkit.restore import apply as restoring  # noqa: E402
from drkit.restore import credentials  # noqa: E402
from drkit.restore.kube import captured_credentials  # noqa: E402
from drkit.testing import Simulator, seed  # noqa: E402

HERE = os.path.dirname(__file__)
LEAN_KUBE = os.path.join(HERE, "lean_kube.py")
LEAN_RESTORE = os.path.join(HERE, "lean_restore.py")
DEMO_CREDENTIALS = os.path.join(HERE, "..", "runbooks", "demo-credentials.yaml")
DEMO_ENV = {"DEMO_GUESTBOOK_PASSWORD": "demo-password-2"}  # the demo credentials file's one {env: ...} value
INSTANCE = "bench"
NAMESPACES = ("team-a",)  # the demo's apps in another namespace
KUBE_SPAN = "  its Kubernetes requests, first to last, s"


def simulator(document: dict[str, Any] | None = None) -> Simulator:
    sim = Simulator(kube=True, app_namespaces=NAMESPACES)
    if document:
        seed.load(sim, document)
    return sim.start()


def drkit(*args: str) -> Measured:
    run = measured([sys.executable, "-m", "drkit", *args])
    if run.code:
        raise SystemExit(f"drkit {args[0]} failed (exit {run.code})")
    return run


def lean(*argv: str) -> Measured:
    run = measured([sys.executable, *argv])
    if run.code:
        raise SystemExit(f"{os.path.basename(argv[0])} failed (exit {run.code})")
    return run


def target(sim: Simulator, store: str, token: str) -> list[str]:
    return ["--server", sim.address, "--plaintext", "--auth-token", token, "--store", store, "--instance", INSTANCE]


def kube_calls(sim: Simulator) -> str:
    """The Kubernetes requests the simulator heard since the last call, by verb; the log is emptied."""
    counts = Counter(seen.verb for seen in sim.kube_api.requests)
    sim.kube_api.requests.clear()
    return " ".join(f"{n} {verb}" for verb, n in sorted(counts.items()))


def clocked(sim: Simulator) -> list[tuple[float, float]]:
    """(start, end) of each Kubernetes request `sim` serves from now on, its answer sent included (the server's
    request handler timed, as `KubeApi.handle` returns before the answer is encoded and written)."""
    times: list[tuple[float, float]] = []
    server = sim.kube_api._server

    class Timed(server.RequestHandlerClass):  # type: ignore[name-defined]
        def _serve(self) -> None:
            started = time.perf_counter()
            try:
                super()._serve()
            finally:
                times.append((started, time.perf_counter()))

        do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = _serve

    server.RequestHandlerClass = Timed
    return times


def span(times: list[tuple[float, float]]) -> float:
    """Seconds from the first Kubernetes request's start to the last one's end; the list is emptied."""
    seconds = max(end for _, end in times) - min(start for start, _ in times) if times else 0.0
    times.clear()
    return seconds


def record(loaded: Any, target: Simulator, token: str, secrets: Any, options: Any, out: str) -> int:
    """drkit's API requests for restoring `loaded` onto `target` as it is now (planned against its live objects,
    recorded, not sent), into `out`; their count."""
    recorder = Recorder()
    objects = {k: v for k, v in loaded.objects.items() if k in restoring.RESTORE_ORDER}
    live = restoring.read_live(Client(target.url, token), list(objects))
    restoring.apply(recorder, restoring.plan(objects, live, secrets, options), options)
    with open(out, "w", encoding="utf-8") as fh:
        fh.writelines(json.dumps(item) + "\n" for item in recorder.sent)
    return len(recorder.sent)


def prepare(store: str, keys: Keys, creds: str, scratch: str, token: str) -> tuple[int, int, int]:
    """The floors' prepared work, each planned against a scratch target: the API requests of a restore without
    `--kube` (plain.jsonl), the backup's ConfigMaps and Secrets (kube.jsonl), and the API requests of a restore
    with it, onto a target the lean writer gave them (kube-api.jsonl). Their counts."""
    plain = backup.load(open_store(os.path.join(store, "plain")), INSTANCE, "latest", keys=keys)
    kinds = (*restoring.RESTORE_ORDER, *kk.KUBE_KINDS)
    loaded = backup.load(open_store(os.path.join(store, "kube")), INSTANCE, "latest", kinds, keys=keys)
    objects = [[kind, doc] for kind in kk.KUBE_KINDS for doc in loaded.objects.get(kind, [])]
    with open(f"{scratch}/kube.jsonl", "w", encoding="utf-8") as fh:
        fh.writelines(json.dumps(item) + "\n" for item in objects)
    sim = simulator()
    try:
        secrets = credentials.load(creds, env=DEMO_ENV, fetch_secret=None)
        count = record(plain, sim, sim.token, secrets, restoring.RestoreOptions(sync=False), f"{scratch}/plain.jsonl")
        write_kube(sim.kube_url, sim.kube_token, sim.namespace, objects)
        secrets = credentials.Credentials({}, []).over(captured_credentials({"secrets": loaded.objects["secrets"]}))
        options = restoring.RestoreOptions(sync=False, keep_tokens=True)
        after = record(loaded, sim, token, secrets, options, f"{scratch}/kube-api.jsonl")
    finally:
        sim.stop()
    return count, len(objects), after


def restored(sim: Simulator, apps: int) -> int:
    """The API writes a restore made; it must have restored every app."""
    if len(sim.applications) != apps:
        raise SystemExit(f"the restore left {len(sim.applications)} of {apps} apps")
    return len(sim.gateway.mutating_requests())


def measure(label: str, document: dict[str, Any], creds: str, identity: str, recipient: str) -> list[tuple]:
    """Every run for one source, once each, drkit and its floor alternating."""
    t0 = time.perf_counter()
    source = simulator(document)
    apps, secrets = len(source.applications), len(source.kube.items("secrets", source.namespace))
    print(f"\n{label}: seeded in {time.perf_counter() - t0:.1f} s, {secrets} Secrets in the namespace", flush=True)
    with tempfile.TemporaryDirectory() as scratch:
        store, config = os.path.join(scratch, "store"), os.path.join(scratch, "kubeconfig")
        source.write_kubeconfig(config)
        kube, times = [source.kube_url, source.kube_token, source.namespace], clocked(source)
        seal = ["--encrypt", f"age:{recipient}"]
        try:
            plain = drkit("export", *target(source, f"{store}/plain", source.token), *seal)
            lean_plain = lean(LEAN_KUBE, "export", source.address, source.token, f"{scratch}/lean", recipient)
            args = [*target(source, f"{store}/kube", source.token), *seal, "--kube", "--kubeconfig", config]
            source.kube_api.requests.clear()
            with_kube, kube_span, calls = drkit("export", *args), span(times), kube_calls(source)
            lean_kube = lean(LEAN_KUBE, "export", source.address, source.token, f"{scratch}/lean", recipient, *kube)
            lean_span, lean_calls = span(times), kube_calls(source)
        finally:
            source.stop()
        rows = [
            (label, "export without --kube, wall s", plain, lean_plain, ""),
            (label, "export with --kube, wall s", with_kube, lean_kube, ""),
            (label, KUBE_SPAN, kube_span, lean_span, f"{calls} (lean {lean_calls})"),
        ]
        print(*map(line, rows), sep="\n", flush=True)
        with open(identity, encoding="utf-8") as fh:
            count, objects, after = prepare(store, Keys(fh.read(), None), creds, scratch, source.token)

        restore = ["latest", "--identity", identity, "--no-sync"]
        fresh = simulator()
        try:
            plain = drkit("restore", *target(fresh, f"{store}/plain", fresh.token), *restore, "--credentials", creds)
            note = f"{restored(fresh, apps)} API writes (lean {count})"
        finally:
            fresh.stop()
        fresh = simulator()
        try:
            lean_plain = lean(LEAN_RESTORE, fresh.address, fresh.token, f"{scratch}/plain.jsonl")
        finally:
            fresh.stop()
        fresh = simulator()
        try:
            fresh.write_kubeconfig(config)
            times = clocked(fresh)
            args = [*target(fresh, f"{store}/kube", source.token), *restore, "--kube", "--kubeconfig", config]
            with_kube, kube_span, calls = drkit("restore", *args), span(times), kube_calls(fresh)
            kube_note = f"{restored(fresh, apps)} API writes (lean {after})"
        finally:
            fresh.stop()
        fresh = simulator()
        try:
            times = clocked(fresh)
            kube = [fresh.kube_url, fresh.kube_token, fresh.namespace, f"{scratch}/kube.jsonl"]
            lean_kube = lean(LEAN_KUBE, "restore", *kube, fresh.address, source.token, f"{scratch}/kube-api.jsonl")
            lean_span, lean_calls = span(times), kube_calls(fresh)
        finally:
            fresh.stop()
        rows += [
            (label, "restore --no-sync without --kube, wall s", plain, lean_plain, note),
            (label, "restore --no-sync with --kube, wall s", with_kube, lean_kube, kube_note),
            (label, KUBE_SPAN, kube_span, lean_span, f"{calls} (lean {lean_calls})"),
        ]
        print(*map(line, rows[3:]), sep="\n", flush=True)
    return rows


def line(row: tuple) -> str:
    """One figure: drkit's value, its floor, their ratio, and a note (for a timed run, both CPU times)."""
    source, figure, value, floor, note = row
    if isinstance(value, Measured):
        value, floor, note = value.seconds, floor.seconds, f"CPU {value.cpu:.2f}/{floor.cpu:.2f} s; {note}"
    return f"{source:>9}  {figure:<44} {value:>6.2f} {floor:>6.2f} {value / floor:>6.2f}  {note.strip('; ')}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--apps", type=int, default=1000, help="apps of the large instance [default: 1000]")
    parser.add_argument("--repositories", type=int, default=1000, help="its repository Secrets [default: 1000]")
    parser.add_argument("--no-demo", action="store_true", help="only the large instance")
    args = parser.parse_args()
    print(f"load average at start: {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs", flush=True)
    os.environ.update(DEMO_ENV)  # the child drkit reads the demo credentials file's {env: ...} value
    key = pyrage.x25519.Identity.generate()
    rows = []
    with tempfile.TemporaryDirectory() as keys:
        identity = os.path.join(keys, "identity.txt")
        with open(identity, "w", encoding="utf-8") as fh:
            fh.write(f"{key}\n")
        recipient = str(key.to_public())
        if not args.no_demo:
            rows += measure("demo", seed.read("demo"), DEMO_CREDENTIALS, identity, recipient)
        creds = credentials_file(os.path.join(keys, "credentials.yaml"), args.repositories)
        large = seed_document(args.apps, repositories=args.repositories)
        label = f"{args.apps}+{args.repositories}"
        rows += measure(label, large, creds, identity, recipient)
    print(f"\n{'source':>9}  {'figure':<44} {'drkit':>6} {'floor':>6} {'ratio':>6}")
    print(*map(line, rows), sep="\n")
    print(f"load average at end: {os.getloadavg()[0]:.1f} (above {os.cpu_count()}: the CPU was shared)")


if __name__ == "__main__":
    main()
