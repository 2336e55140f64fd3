"""Tampering (issue 11): every way of altering a backup is caught before the first write, naming the object.

Each case alters a copy of a real export, then runs `drkit restore` against a fresh simulator and checks three
things: the restore fails (exit 1), its message names the altered file, and the target saw no write at all.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from drkit.argocd.client import Client
from drkit.backup import format as backup
from drkit.backup.store import open_store
from drkit.backup.verify import verify
from drkit.cli import main
from drkit.export.export import export
from drkit.testing import Simulator, seed
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
        first = export(client, store, INSTANCE).backup_id
        app = client.get("/api/v1/applications/app-01")
        app["spec"]["source"]["path"] = "moved"
        client.put("/api/v1/applications/app-01", app)
        second = export(client, store, INSTANCE).backup_id
        export(client, store, "staging")
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


# signed manifests (--sign-key) -----------------------------------------------------------------------------------


def rehash(folder: Path) -> None:
    """What an attacker with write access does: edit an object, then fix its checksum in the manifest."""
    data = (folder / APP).read_bytes().replace(b"app-01", b"app-01-evil")
    (folder / APP).write_bytes(data)

    def match(manifest: dict) -> None:
        entry = next(e for e in manifest["objects"] if e["key"] == APP)
        entry.update(size=len(data), sha256=hashlib.sha256(data).hexdigest())

    rewrite_manifest(folder, match)


@pytest.fixture(scope="module")
def signed(source_sim: Simulator, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, str]:
    """A store with one backup signed by an HMAC key file: (store root, key file, backup id)."""
    root = tmp_path_factory.mktemp("signed")
    key = root.parent / f"{root.name}.key"
    key.write_bytes(b"0123456789abcdef0123456789abcdef\n")
    argv = ["export", "--server", source_sim.url, "--auth-token", source_sim.token, "--store", str(root / "store")]
    result = CliRunner().invoke(main, [*argv, "--instance", INSTANCE, "--sign-key", str(key), "-o", "json"])
    assert result.exit_code == 0, result.output
    return root / "store", key, json.loads(result.stdout)["backup_id"]


@pytest.fixture(scope="module")
def source_sim() -> Iterator[Simulator]:
    with Simulator() as sim:
        seed.load(sim, small_seed())
        yield sim


SIGNED_CASES = {
    "signed manifest, object edited and re-hashed": (rehash, "signature does not match"),
    "signed manifest, signature removed": (
        lambda folder: rewrite_manifest(folder, lambda m: m.pop("signature")),
        "not signed",
    ),
    "signed manifest, another key": ("other-key", "signature does not match"),
}


@pytest.mark.parametrize("case", SIGNED_CASES)
def test_a_signed_backup_is_refused_when_its_signature_does_not_hold(
    case: str, signed: tuple[Path, Path, str], target: Simulator, tmp_path: Path
) -> None:
    source, key, backup_id = signed
    root = tmp_path / "store"
    shutil.copytree(source, root)
    tamper, expected = SIGNED_CASES[case]
    if tamper == "other-key":
        key = tmp_path / "other.key"
        key.write_bytes(b"another-key-another-key-another-key")
    else:
        tamper(root / INSTANCE / backup_id)
    before = len(target.gateway.mutating_requests())
    argv = ["restore", backup_id, "--server", target.url, "--auth-token", target.token, "--store", str(root)]
    result = CliRunner().invoke(main, [*argv, "--instance", INSTANCE, "--no-wait", "--sign-key", str(key)])
    checked = CliRunner().invoke(main, ["verify", backup_id, "--store", str(root), "--instance", INSTANCE,
                                        "--sign-key", str(key)])  # fmt: skip
    writes = len(target.gateway.mutating_requests()) - before
    caught = result.exit_code == 1 and expected in result.output and "manifest.yaml" in result.output
    record("tampering", cases=1, caught=int(caught and checked.exit_code == 3), writes=writes)
    assert (result.exit_code, writes, checked.exit_code) == (1, 0, 3), result.output + checked.output
    assert expected in result.output and expected in checked.output


def test_a_signed_backup_verifies_and_restores_with_its_key(signed: tuple[Path, Path, str], tmp_path: Path) -> None:
    source, key, backup_id = signed
    checked = CliRunner().invoke(main, ["verify", backup_id, "--store", str(source), "--instance", INSTANCE,
                                        "--sign-key", str(key)])  # fmt: skip
    assert checked.exit_code == 0, checked.output
    with Simulator() as target:
        argv = ["restore", backup_id, "--server", target.url, "--auth-token", target.token, "--store", str(source)]
        result = CliRunner().invoke(main, [*argv, "--instance", INSTANCE, "--dry-run", "--sign-key", str(key)])
    assert result.exit_code == 0, result.output


def test_a_kms_hmac_key_signs_and_checks(source_sim: Simulator, s3_server: str, tmp_path: Path) -> None:
    import boto3

    kms = boto3.session.Session().client("kms")
    keys = [kms.create_key(KeySpec="HMAC_256", KeyUsage="GENERATE_VERIFY_MAC")["KeyMetadata"]["KeyId"] for _ in "ab"]
    store = str(tmp_path / "store")
    argv = ["export", "--server", source_sim.url, "--auth-token", source_sim.token, "--store", store]
    made = CliRunner().invoke(main, [*argv, "--instance", INSTANCE, "--sign-key", f"kms:{keys[0]}", "-o", "json"])
    assert made.exit_code == 0, made.output
    backup_id = json.loads(made.stdout)["backup_id"]
    verify_argv = ["verify", backup_id, "--store", store, "--instance", INSTANCE, "--sign-key"]
    assert CliRunner().invoke(main, [*verify_argv, f"kms:{keys[0]}"]).exit_code == 0
    wrong = CliRunner().invoke(main, [*verify_argv, f"kms:{keys[1]}"])
    assert wrong.exit_code == 3 and "signature does not match" in wrong.output
