"""Kill points (issue 11): a real drkit process SIGKILLed at named points of an export and of a restore.

Each run arms one point in tests/killpoint.py, so the death comes at the same place every time (a counter,
not a timer). After an export dies: no backup is listed complete unless every object and the manifest are
there, and `latest` never moves to a broken backup. After a restore dies: a re-run converges to the end state
of a restore that was never interrupted, with every application re-armed.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from drkit import backup
from drkit.argocd import Client
from drkit.store import open_store
from drkit.testing import Simulator, seed
from drkit.verify import verify
from tests.figures import record
from tests.test_export import small_seed

INSTANCE = "prod"
LAUNCHER = str(Path(__file__).with_name("killpoint.py"))


def run_killed(point: dict[str, Any], argv: list[str]) -> subprocess.CompletedProcess[str]:
    """Run `drkit ARGV` with one kill point armed; the caller checks it died there."""
    point = {"nth": 1, "when": "before", **point}
    command = [sys.executable, LAUNCHER, json.dumps(point), "--", *argv]
    return subprocess.run(command, capture_output=True, text=True, timeout=120)


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
    good = backup.export(Client(small_sim.url, small_sim.token), open_store(url), INSTANCE).backup_id
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
    after = backup.export(Client(small_sim.url, small_sim.token), store, INSTANCE)  # debris stops nothing
    assert after.ok and backup.resolve(store, INSTANCE, "latest") == after.backup_id
    assert verify(store, INSTANCE, "latest").ok
