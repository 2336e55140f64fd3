"""Storage faults (issue 11): S3 answering 500, 503 SlowDown or dropping connections; a full or read-only disk.

An export either completes with the same objects as one on a healthy store, or fails without a manifest (so it
does not exist); reads retry and still check every checksum.
"""

from __future__ import annotations

import errno
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from drkit.argocd.client import Client
from drkit.backup import format as backup
from drkit.backup import store as store_module
from drkit.backup.store import open_store
from drkit.backup.verify import verify
from drkit.cli import main
from drkit.errors import BackupNotFound, StoreError
from drkit.export.export import export
from drkit.testing import Simulator, seed
from drkit.testing.s3faults import S3FaultProxy, S3Faults
from tests.figures import record
from tests.test_export import small_seed

INSTANCE = "prod"
RUNS = 2  # exports through the faults; each costs seconds of botocore's backoff


@pytest.fixture(scope="module")
def source() -> Iterator[Simulator]:
    with Simulator() as sim:
        seed.load(sim, small_seed(apps=8))
        yield sim


@pytest.fixture
def faulty(s3_server: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[[S3Faults], S3FaultProxy]]:
    """Start a fault proxy in front of moto and point boto3 (through AWS_ENDPOINT_URL) at it."""
    proxies: list[S3FaultProxy] = []

    def start(faults: S3Faults) -> S3FaultProxy:
        proxy = S3FaultProxy(s3_server, faults).__enter__()
        proxies.append(proxy)
        monkeypatch.setenv("AWS_ENDPOINT_URL", proxy.url)
        return proxy

    yield start
    for proxy in proxies:
        proxy.__exit__(None, None, None)


def objects_of(s3_client: Any, bucket: str, prefix: str) -> dict[str, bytes]:
    """Every object under `prefix`, read straight from moto (not through the proxy)."""
    found = {}
    for page in s3_client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        for item in page.get("Contents", []):
            found[item["Key"][len(prefix) :]] = s3_client.get_object(Bucket=bucket, Key=item["Key"])["Body"].read()
    return found


def test_exports_through_faulty_s3_complete_with_identical_objects_or_leave_no_manifest(
    source: Simulator, faulty: Callable[[S3Faults], S3FaultProxy], s3_client: Any, s3_bucket: str
) -> None:
    client = Client(source.url, source.token)
    healthy = export(client, open_store(f"s3://{s3_bucket}/healthy"), INSTANCE)
    reference = objects_of(s3_client, s3_bucket, f"healthy/{INSTANCE}/{healthy.backup_id}/")
    reference.pop(backup.MANIFEST)
    proxy = faulty(S3Faults(error_500=0.07, slow_down=0.07, drop=0.06, seed=11))
    store = open_store(f"s3://{s3_bucket}/faulty")
    identical = failed = 0
    for _ in range(RUNS):
        try:
            result = export(client, store, INSTANCE)
        except StoreError:  # the retries ran out: the export must not exist
            failed += 1
            continue
        stored = objects_of(s3_client, s3_bucket, f"faulty/{INSTANCE}/{result.backup_id}/")
        manifest = stored.pop(backup.MANIFEST)
        identical += stored == reference and b"complete: true" in manifest
        loaded = backup.load(store, INSTANCE, result.backup_id)  # reads through the faults, checksums checked
        assert sum(len(docs) for docs in loaded.objects.values()) == len(reference)
    complete = [b for b in backup.list_backups(open_store(f"s3://{s3_bucket}/faulty"), INSTANCE) if b.complete]
    record("storage faults", faults=proxy.faults.injected, requests=proxy.faults.counts["requests"])
    record("storage faults", exports=RUNS, identical=identical, failures=failed)
    assert proxy.faults.injected >= 10, proxy.faults.counts  # the faults really happened
    assert {"500", "503"} <= set(proxy.faults.counts) and proxy.faults.counts["drop"] + proxy.faults.counts["lost"]
    assert identical + failed == RUNS and len(complete) == identical == RUNS


def test_an_export_whose_manifest_cannot_be_written_fails_without_a_manifest(
    source: Simulator, faulty: Callable[[S3Faults], S3FaultProxy], s3_bucket: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(store_module, "RETRIES", {**store_module.RETRIES, "total_max_attempts": 3})  # less backoff
    proxy = faulty(S3Faults(error_500=1.0, path_pattern=r"^PUT .*/manifest\.yaml"))
    argv = ["export", "--server", source.url, "--auth-token", source.token, "--store", f"s3://{s3_bucket}"]
    result = CliRunner().invoke(main, [*argv, "--instance", INSTANCE])
    assert result.exit_code == 1 and "manifest.yaml" in result.output and "InternalError" in result.output
    assert proxy.faults.counts["500"] == 3  # every attempt RETRIES allows, then a clear error
    with pytest.raises(BackupNotFound):
        backup.resolve(open_store(f"s3://{s3_bucket}"), INSTANCE, "latest")
    manifests = [b for b in backup.list_backups(open_store(f"s3://{s3_bucket}"), INSTANCE)]
    record("storage faults", failures=1, faults=3, requests=proxy.faults.counts["requests"], manifest=len(manifests))
    assert manifests == []


class FailingDisk:
    """The `os` module as drkit.backup.store sees it, but writes past `room` bytes fail (ENOSPC) or opens do (EROFS)."""

    def __init__(self, room: int, code: int) -> None:
        self.room, self.code = room, code

    def __getattr__(self, name: str) -> Any:
        return getattr(os, name)

    def open(self, path: Any, flags: int, *args: Any) -> int:
        if self.code == errno.EROFS and flags & os.O_CREAT:
            raise OSError(errno.EROFS, os.strerror(errno.EROFS), str(path))
        return os.open(path, flags, *args)

    def write(self, fd: int, data: Any) -> int:
        if len(data) > self.room:
            raise OSError(self.code, os.strerror(self.code))
        self.room -= len(data)
        return os.write(fd, data)


@pytest.mark.parametrize(
    "room, code",
    [(0, errno.EROFS), (0, errno.ENOSPC), (1500, errno.ENOSPC), (4000, errno.ENOSPC)],
    ids=["read-only", "full at once", "full mid-export", "full at the manifest"],
)
def test_a_full_or_read_only_directory_fails_the_export_without_a_manifest(
    room: int, code: int, source: Simulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    client, store = Client(source.url, source.token), open_store(str(tmp_path))
    good = export(client, store, INSTANCE).backup_id
    monkeypatch.setattr(store_module, "os", FailingDisk(room, code))
    with pytest.raises(StoreError, match=os.strerror(code)):
        export(client, store, INSTANCE)
    monkeypatch.undo()
    listed = [b.backup_id for b in backup.list_backups(store, INSTANCE)]
    record("storage faults", failures=1, manifest=len(listed) - 1)
    assert listed == [good]
    assert not [p for p in tmp_path.rglob("*.tmp")], "a temp file was left behind"
    assert backup.resolve(store, INSTANCE, "latest") == good and verify(store, INSTANCE, good).ok
