"""Concurrent runs (issue 11): two exports at once, prune during an export, two restores onto one target at once."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from drkit.argocd.client import Client
from drkit.backup import format as backup
from drkit.backup.retention import Policy, prune
from drkit.backup.store import Store, open_store
from drkit.backup.verify import verify
from drkit.export.export import export
from drkit.restore.apply import RestoreOptions, restore
from drkit.restore.converge import converge
from drkit.testing import Simulator, seed
from tests.figures import record
from tests.test_export import small_seed
from tests.test_restore_plan import NAMESPACES, source  # noqa: F401 (source: the demo instance as a backup)

INSTANCE = "prod"


@pytest.fixture(scope="module")
def small() -> Iterator[Simulator]:
    with Simulator() as sim:
        seed.load(sim, small_seed(apps=6))
        yield sim


def test_two_exports_at_once_complete_with_distinct_ids(small: Simulator, tmp_path: Path) -> None:
    store, start = open_store(str(tmp_path)), threading.Barrier(2)

    def one(_: int) -> str:
        start.wait()
        return export(Client(small.url, small.token), store, INSTANCE).backup_id

    with ThreadPoolExecutor(2) as pool:
        ids = list(pool.map(one, range(2)))
    listed = [b.backup_id for b in backup.list_backups(store, INSTANCE) if b.complete]
    ok = [verify(store, INSTANCE, i).ok for i in ids]
    record("concurrent runs", cases=1, exports=2, distinct=len(set(ids)))
    assert len(set(ids)) == 2 and sorted(listed) == sorted(ids) and all(ok)


def test_two_backup_ids_in_one_millisecond_differ() -> None:
    at = backup.utcnow()
    assert len({backup.new_backup_id(at) for _ in range(300)}) == 300  # 300 exports in one millisecond


class PausingStore:
    """A store whose `pause_at`th put waits until `go` is set, with `paused` set meanwhile."""

    def __init__(self, inner: Store, pause_at: int) -> None:
        self.inner, self.pause_at, self.puts, self.url = inner, pause_at, 0, inner.url
        self.paused, self.go = threading.Event(), threading.Event()

    def put(self, key: str, data: bytes) -> None:
        self.puts += 1
        if self.puts == self.pause_at:
            self.paused.set()
            assert self.go.wait(60)
        self.inner.put(key, data)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


def test_prune_during_an_export_never_deletes_its_objects(small: Simulator, tmp_path: Path) -> None:
    """The running export started before a newer one finished: its folder has no manifest yet, and is not debris."""
    store, client = open_store(str(tmp_path)), Client(small.url, small.token)
    export(client, store, INSTANCE)
    slow = PausingStore(store, pause_at=4)
    with ThreadPoolExecutor(1) as pool:
        running = pool.submit(export, client, slow, INSTANCE, concurrency=1)
        assert slow.paused.wait(60)
        newer = export(client, store, INSTANCE).backup_id
        pruned = prune(store, INSTANCE, Policy(last=1))
        slow.go.set()
        result = running.result(timeout=60)
    mine = result.backup_id in pruned.deleted
    record("concurrent runs", cases=1, pruned=int(mine or not verify(store, INSTANCE, result.backup_id).ok))
    assert not mine and newer in pruned.kept
    assert verify(store, INSTANCE, result.backup_id).ok


def live_state(sim: Simulator, store_root: Path) -> dict[str, bytes]:
    """The target as drkit would back it up: every object's normalised bytes, by key."""
    store = open_store(str(store_root))
    exported = export(Client(sim.url, sim.token), store, "state")
    prefix = store_root / "state" / exported.backup_id
    files = (p for p in prefix.rglob("*.yaml") if p.name != backup.MANIFEST)
    return {p.relative_to(prefix).as_posix(): p.read_bytes() for p in files}


def test_two_restores_onto_one_target_at_once_end_as_one(source: backup.Backup, tmp_path: Path) -> None:  # noqa: F811
    options = RestoreOptions(timeout=60)
    with Simulator(app_namespaces=NAMESPACES) as alone, Simulator(app_namespaces=NAMESPACES) as shared:
        single = restore(Client(alone.url, alone.token), source, None, options, converge=converge)
        start = threading.Barrier(2)

        def one(_: int) -> Any:
            start.wait()
            return restore(Client(shared.url, shared.token), source, None, options, converge=converge)

        with ThreadPoolExecutor(2) as pool:
            reports = list(pool.map(one, range(2)))
        expected, got = live_state(alone, tmp_path / "alone"), live_state(shared, tmp_path / "shared")
    equal = got == expected
    record("concurrent runs", cases=1, restores=2, equal=2 * int(equal))
    assert single.exit_code == 0, single.lines()
    assert [r.exit_code for r in reports] == [0, 0], [r.lines() for r in reports]
    assert sorted(got) == sorted(expected)
    assert {k for k in got if got[k] != expected[k]} == set()
