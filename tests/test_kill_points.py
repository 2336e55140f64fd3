"""Kill points (issue 11): a real drkit process SIGKILLed at named points of an export and of a restore.

Each run arms one point in tests/killpoint.py, so the death comes at the same place every time (a counter,
not a timer). After an export dies: no backup is listed complete unless every object and the manifest are
there, and `latest` never moves to a broken backup. After a restore dies: a re-run converges to the end state
of a restore that was never interrupted, with every application re-armed.
"""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from drkit.argocd.client import Client
from drkit.argocd.shapes import generated_by
from drkit.backup import format as backup
from drkit.backup.store import open_store
from drkit.backup.verify import verify
from drkit.cli import main
from drkit.export.export import export
from drkit.testing import Simulator, seed
from tests.figures import record
from tests.secretguard import WATCH
from tests.test_concurrent_runs import live_state
from tests.test_export import small_seed

INSTANCE = "prod"
LAUNCHER = str(Path(__file__).with_name("killpoint.py"))


def run_killed(point: dict[str, Any], argv: list[str]) -> subprocess.CompletedProcess[str]:
    """Run `drkit ARGV` with one kill point armed; the caller checks it died there."""
    point = {"nth": 1, "when": "before", **point}
    command = [sys.executable, LAUNCHER, json.dumps(point), "--", *argv]
    died = subprocess.run(command, capture_output=True, text=True, timeout=120)
    WATCH.emitted("a killed drkit's output", died.stdout + died.stderr)  # the secret guard reads it too
    return died


def server_args(sim: Simulator, token_file: Path) -> list[str]:
    token_file.write_text(sim.token)
    return ["--server", sim.address, "--plaintext", "--auth-token-file", str(token_file)]


@pytest.fixture
def small_sim() -> Iterator[Simulator]:
    with Simulator() as sim:
        seed.load(sim, small_seed(apps=4))
        yield sim


# export ----------------------------------------------------------------------------------------------------------

OBJECT = r"/(applications|projects|clusters|repositories)/"
MANIFEST = r"/manifest\.yaml$"
EXPORT_POINTS = {
    "after listing the first kind": {"on": "request", "match": r"GET /api/v1/certificates", "when": "after"},
    "after listing every kind": {"on": "request", "match": r"GET /api/v1/applications$", "when": "after"},
    "before the first object": {"on": "put", "match": OBJECT},
    "after the first object": {"on": "put", "match": OBJECT, "when": "after"},
    "mid-write, first object torn": {"on": "write", "match": OBJECT},
    "mid-write, third object torn": {"on": "write", "match": OBJECT, "nth": 3},
    "object written, not renamed": {"on": "replace", "match": OBJECT, "nth": 2},
    "after the last object": {"on": "put", "match": OBJECT, "nth": 7, "when": "after"},
    "before the manifest": {"on": "put", "match": MANIFEST},
    "mid-write, manifest torn": {"on": "write", "match": MANIFEST},
    "manifest written, not renamed": {"on": "replace", "match": MANIFEST},
    "after the manifest": {"on": "put", "match": MANIFEST, "when": "after"},
}
S3_EXPORT_POINTS = {
    "s3: after the second object": {"on": "put", "match": OBJECT, "nth": 2, "when": "after"},
    "s3: before the manifest": {"on": "put", "match": MANIFEST},
    "s3: after the manifest": {"on": "put", "match": MANIFEST, "when": "after"},
}


def check_store_after_kill(store_url: str, good: str) -> tuple[int, int, str | None]:
    """(false complete backups, broken latest, the new complete backup if any) after a killed export."""
    store = open_store(store_url)
    listed = backup.list_backups(store, INSTANCE)
    false_complete = sum(1 for b in listed if b.complete and not verify(store, INSTANCE, b.backup_id).ok)
    latest = backup.resolve(store, INSTANCE, "latest")
    broken = 0 if verify(store, INSTANCE, latest).ok else 1
    new = [b.backup_id for b in listed if b.backup_id != good]
    return false_complete, broken, (new[0] if new else None)


@pytest.mark.parametrize("name", [*EXPORT_POINTS, *S3_EXPORT_POINTS])
def test_an_export_killed_at_a_point_never_leaves_a_false_complete_backup(
    name: str, small_sim: Simulator, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    s3 = name.startswith("s3:")
    url = f"s3://{request.getfixturevalue('s3_bucket')}/kill" if s3 else str(tmp_path / "store")
    point = {**EXPORT_POINTS, **S3_EXPORT_POINTS}[name]
    good = export(Client(small_sim.url, small_sim.token), open_store(url), INSTANCE).backup_id
    argv = ["export", *server_args(small_sim, tmp_path / "token"), "--store", url, "--instance", INSTANCE]
    died = run_killed(point, [*argv, "--concurrency", "1"])
    assert died.returncode == -signal.SIGKILL, f"{name}: not killed there (exit {died.returncode}): {died.stderr}"
    false_complete, broken, new = check_store_after_kill(url, good)
    record("kill points", export=1, false_complete=false_complete, latest_broken=broken)
    assert (false_complete, broken) == (0, 0)
    store = open_store(url)
    if "after the manifest" in name:  # the manifest was in place: the backup is whole, and it is `latest`
        assert new and backup.resolve(store, INSTANCE, "latest") == new
    else:
        assert new is None and backup.resolve(store, INSTANCE, "latest") == good
    after = export(Client(small_sim.url, small_sim.token), store, INSTANCE)  # debris stops nothing
    assert after.ok and backup.resolve(store, INSTANCE, "latest") == after.backup_id
    assert verify(store, INSTANCE, "latest").ok


# restore ---------------------------------------------------------------------------------------------------------

NAMESPACES = ("team-a",)


@dataclass
class Reference:
    """An uninterrupted restore of the demo backup: its store, the end state, and its writes in order."""

    store: str
    state: dict[str, bytes]
    writes: list[str]
    armed: dict[str, Any]  # app name -> the backup's syncPolicy.automated, for apps that have one


def restore_argv(sim: Simulator, store: str, token_file: Path) -> list[str]:
    args = ["restore", "latest", *server_args(sim, token_file), "--store", store, "--instance", INSTANCE]
    return [*args, "--concurrency", "1", "--timeout", "60", "-o", "json"]


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> Reference:
    root = tmp_path_factory.mktemp("restore-kill")
    store = str(root / "store")
    with Simulator(app_namespaces=NAMESPACES) as source:
        seed.load(source, seed.read("demo"))
        export(Client(source.url, source.token), open_store(store), INSTANCE)
        apps = Client(source.url, source.token).items("/api/v1/applications")
    armed = {
        a["metadata"]["name"]: a["spec"]["syncPolicy"]["automated"]
        for a in apps
        if a["spec"].get("syncPolicy", {}).get("automated") and not generated_by(a)
    }
    with Simulator(app_namespaces=NAMESPACES) as target:
        done = subprocess.run(
            [sys.executable, "-m", "drkit", *restore_argv(target, store, root / "token")],
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert done.returncode == 0, done.stdout + done.stderr
        writes = [f"{m} {p}" for m, p in target.gateway.mutating_requests()]
        state = live_state(target, root / "state")
    return Reference(store, state, writes, armed)


def restore_points(writes: list[str]) -> dict[str, tuple[str, int, str]]:
    """Named kill points as (pattern, nth write matching it, before|after), read off the uninterrupted restore's
    writes. Each counts only its own kind of write: converge syncs apps while later ones are still written
    (drkit.restore.pipeline), so a position among all writes differs from run to run, and so may their number (a sync
    answered "another operation is already in progress" is sent again)."""

    def point(pattern: str, which: int, when: str) -> tuple[str, int, str]:
        hits = sum(1 for w in writes if re.search(pattern, w))
        return pattern, (which if which > 0 else hits + 1 + which) if hits else 0, when

    points = {
        f"after the {kind}": point(rf"^POST /api/v1/{kind}(\?|$)", -1, "after")
        for kind in ("gpgkeys", "repocreds", "repositories", "clusters", "projects", "applicationsets")
    }
    creates, syncs = r"^POST /api/v1/applications(\?|$)", r"/sync$"
    rearms = r"^PUT /api/v1/applications/[^/]+(\?|$)"
    half = {p: sum(1 for w in writes if re.search(p, w)) // 2 or 1 for p in (creates, syncs, rearms)}
    points |= {
        "mid-applications": point(creates, half[creates], "after"),
        "after the applications": point(creates, -1, "after"),
        "mid-converge, first sync sent": point(syncs, 1, "after"),
        "mid-converge, half the syncs sent": point(syncs, half[syncs], "after"),
        "between sync and re-arm": point(rearms, 1, "before"),
        "mid re-arm": point(rearms, half[rearms], "after"),
        # the ApplicationSets' re-apply, near the end: the re-arms of the apps they generate that follow it race
        # the ApplicationSet controller, which may regenerate them armed first (then there is nothing to write)
        "before the ApplicationSets are re-applied": point(r"^(POST|PUT) /api/v1/applicationsets", -1, "before"),
    }
    return {name: found for name, found in points.items() if found[1]}


RESTORE_POINTS = [
    "after the gpgkeys", "after the repocreds", "after the repositories", "after the clusters", "after the projects",
    "after the applicationsets", "mid-applications", "after the applications", "mid-converge, first sync sent",
    "mid-converge, half the syncs sent", "between sync and re-arm", "mid re-arm",
    "before the ApplicationSets are re-applied",
]  # fmt: skip


@pytest.mark.parametrize("name", RESTORE_POINTS)
def test_a_restore_killed_at_a_point_converges_on_a_rerun(name: str, reference: Reference, tmp_path: Path) -> None:
    match, nth, when = restore_points(reference.writes)[name]
    with Simulator(app_namespaces=NAMESPACES) as target:
        argv = restore_argv(target, reference.store, tmp_path / "token")
        died = run_killed({"on": "request", "match": match, "nth": nth, "when": when}, argv)
        assert died.returncode == -signal.SIGKILL, f"{name}: not killed there ({died.returncode}): {died.stderr}"
        rerun = CliRunner().invoke(main, argv)  # in this process: one interpreter start less per point
        state = live_state(target, tmp_path / "state")
        apps = {a["metadata"]["name"]: a for a in Client(target.url, target.token).items("/api/v1/applications")}
    rearmed = sum(
        1
        for app, auto in reference.armed.items()
        if apps.get(app, {}).get("spec", {}).get("syncPolicy", {}).get("automated") == auto
    )
    converged = rerun.exit_code == 0 and state == reference.state
    record("kill points", restore=1, reruns=1, converged=int(converged), apps=len(reference.armed), rearmed=rearmed)
    assert rerun.exit_code == 0, rerun.output
    assert rearmed == len(reference.armed)
    assert sorted(state) == sorted(reference.state)
    assert {k for k in state if state[k] != reference.state[k]} == set()
