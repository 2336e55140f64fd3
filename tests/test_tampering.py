"""Tampering (issue 11): every way of altering a backup is caught before the first write, naming the object.

Each case alters a copy of a real export, then runs `drkit restore` against a fresh simulator and checks three
things: the restore fails (exit 1), its message names the altered file, and the target saw no write at all.
"""

from __future__ import annotations

import hashlib
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from drkit import backup
from drkit.argocd import Client
from drkit.cli import main
from drkit.store import open_store
from drkit.testing import Simulator, seed
from drkit.verify import verify
from tests.figures import record
from tests.test_export import small_seed

INSTANCE = "prod"
APP = "applications/argocd/app-01.yaml"


@pytest.fixture(scope="module")
def pristine(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str, str]:
    """A store holding backups A and B of `prod` (app-01 changed between them) and one of `staging`: (root, A, B)."""
    root = tmp_path_factory.mktemp("pristine")
    store = open_store(str(root))
    with Simulator() as sim:
        seed.load(sim, small_seed())
        client = Client(sim.url, sim.token)
        first = backup.export(client, store, INSTANCE).backup_id
        app = client.get("/api/v1/applications/app-01")
        app["spec"]["source"]["path"] = "moved"
        client.put("/api/v1/applications/app-01", app)
        second = backup.export(client, store, INSTANCE).backup_id
        backup.export(client, store, "staging")
    return root, first, second


@pytest.fixture(scope="module")
def target() -> Iterator[Simulator]:
    with Simulator() as sim:
        yield sim


def rewrite_manifest(folder: Path, change: Callable[[dict], None]) -> None:
    path = folder / backup.MANIFEST
    manifest = yaml.safe_load(path.read_bytes())
    change(manifest)
    path.write_bytes(backup.dump(manifest))


def edit_object_and_manifest(folder: Path) -> None:
    """Break the object's schema, then make the manifest's checksum match the broken bytes."""
    doc = yaml.safe_load((folder / APP).read_bytes())
    doc["spec"]["destination"] = "nowhere"
    data = backup.dump(doc)
    (folder / APP).write_bytes(data)

    def match(manifest: dict) -> None:
        entry = next(e for e in manifest["objects"] if e["key"] == APP)
        entry.update(size=len(data), sha256=hashlib.sha256(data).hexdigest())

    rewrite_manifest(folder, match)


def other_instance_manifest(root: Path, folder: Path) -> None:
    other = next((root / "staging").iterdir())
    shutil.copy(other / backup.MANIFEST, folder / backup.MANIFEST)


def rename_folder(root: Path, folder: Path) -> None:
    folder.rename(folder.with_name("20991231T235959Z-999-beef"))


# case: (how to tamper with backup A, given the store root, A's folder and B's folder; the key the error must name)
CASES: dict[str, tuple[Callable[[Path, Path, Path], None], str]] = {
    "object edited": (lambda r, a, b: (a / APP).write_bytes((a / APP).read_bytes() + b"# edited\n"), APP),
    "object added": (lambda r, a, b: shutil.copy(a / APP, a / "applications/argocd/intruder.yaml"), "intruder.yaml"),
    "object deleted": (lambda r, a, b: (a / APP).unlink(), APP),
    "object swapped from another backup": (lambda r, a, b: shutil.copy(b / APP, a / APP), APP),
    "manifest from another instance": (lambda r, a, b: other_instance_manifest(r, a), backup.MANIFEST),
    "manifest from another backup": (lambda r, a, b: shutil.copy(b / backup.MANIFEST, a / backup.MANIFEST), "manifest"),
    "manifest edited to match an object failing its schema": (lambda r, a, b: edit_object_and_manifest(a), APP),
    "manifest edited, failing the manifest schema": (
        lambda r, a, b: rewrite_manifest(a, lambda m: m["objects"][0].update(sha256="not-a-checksum")),
        backup.MANIFEST,
    ),
    "backup id folder renamed": (lambda r, a, b: rename_folder(r, a), "20991231T235959Z-999-beef"),
}


@pytest.mark.parametrize("case", CASES)
def test_tampering_is_caught_before_any_write_naming_the_object(
    case: str, pristine: tuple[Path, str, str], target: Simulator, tmp_path: Path
) -> None:
    source, first, second = pristine
    root = tmp_path / "store"
    shutil.copytree(source, root)
    tamper, named = CASES[case]
    tamper(root, root / INSTANCE / first, root / INSTANCE / second)
    backup_id = "20991231T235959Z-999-beef" if "renamed" in case else first
    before = len(target.gateway.mutating_requests())
    argv = ["restore", backup_id, "--server", target.url, "--auth-token", target.token, "--store", str(root)]
    result = CliRunner().invoke(main, [*argv, "--instance", INSTANCE, "--no-wait"])
    writes = len(target.gateway.mutating_requests()) - before
    caught = result.exit_code == 1 and named in result.output and "Traceback" not in result.output
    record("tampering", cases=1, caught=int(caught), writes=writes)
    assert (result.exit_code, writes) == (1, 0), result.output
    assert named in result.output, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)


def test_a_renamed_or_foreign_backup_is_never_taken_for_latest(pristine: tuple[Path, str, str], tmp_path: Path) -> None:
    source, first, second = pristine
    root = tmp_path / "store"
    shutil.copytree(source, root)
    shutil.copy(root / INSTANCE / first / backup.MANIFEST, root / INSTANCE / second / backup.MANIFEST)
    store = open_store(str(root))
    assert backup.resolve(store, INSTANCE, "latest") == first
    listed = {b.backup_id: b.complete for b in backup.list_backups(store, INSTANCE)}
    assert listed == {first: True, second: False}


def test_verify_names_every_added_and_missing_object(pristine: tuple[Path, str, str], tmp_path: Path) -> None:
    source, first, _ = pristine
    root = tmp_path / "store"
    shutil.copytree(source, root)
    folder = root / INSTANCE / first
    (folder / "projects" / "extra.yaml").write_bytes(b"metadata: {name: extra}\n")
    (folder / "applications/argocd/app-02.yaml").unlink()
    problems = verify(open_store(str(root)), INSTANCE, first).problems
    assert problems == [
        "applications/argocd/app-02.yaml: missing from the store",
        "projects/extra.yaml: in the backup's folder but not in its manifest (added after the export)",
    ]
