"""Encryption at rest on the client (issue 11): `--encrypt age:RECIPIENT` or `kms:KEY_ID`, `--identity FILE`.

Every stored object and the manifest's sensitive fields are ciphertext; checksums cover the ciphertext, so verify
works without the key; restore decrypts and the round trip is exact.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyrage
import pytest
import yaml
from click.testing import CliRunner

from drkit.argocd.client import Client
from drkit.backup import format as backup
from drkit.backup import sealing
from drkit.backup.store import open_store
from drkit.backup.verify import verify
from drkit.cli import main
from drkit.export.export import export
from drkit.testing import Simulator, seed
from tests.figures import record
from tests.test_restore_plan import NAMESPACES

INSTANCE = "prod"


@pytest.fixture(scope="module")
def demo() -> Iterator[Simulator]:
    with Simulator(app_namespaces=NAMESPACES) as sim:
        seed.load(sim, seed.read("demo"))
        yield sim


@pytest.fixture(scope="module")
def age_key(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, Path]:
    identity = pyrage.x25519.Identity.generate()
    path = tmp_path_factory.mktemp("age") / "identity.txt"
    path.write_text(f"# created: for drkit's tests\n# public key: {identity.to_public()}\n{identity}\n")
    return str(identity.to_public()), path


@pytest.fixture
def kms_key(s3_server: str) -> str:
    import boto3

    return boto3.session.Session().client("kms").create_key(Description="drkit backups")["KeyMetadata"]["KeyId"]


def drkit(*argv: str) -> Any:
    return CliRunner().invoke(main, list(argv))


def plaintext_markers(sim: Simulator) -> set[bytes]:
    """Distinctive plaintext of the instance: every app's name and repo URL, every project's description."""
    client = Client(sim.url, sim.token)
    markers = {a["metadata"]["name"].encode() for a in client.items("/api/v1/applications")}
    markers |= {r["repo"].encode() for r in client.items("/api/v1/repositories")}
    return {m for m in markers if len(m) >= 8}


@pytest.mark.parametrize("scheme", ["age", "kms"])
def test_an_encrypted_round_trip_is_exact_and_stores_no_plaintext(
    scheme: str, demo: Simulator, age_key: tuple[str, Path], request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    recipient, identity = age_key
    spec = f"age:{recipient}" if scheme == "age" else f"kms:{request.getfixturevalue('kms_key')}"
    store = str(tmp_path / "store")
    server = ["--server", demo.url, "--auth-token", demo.token]
    exported = drkit("export", *server, "--store", store, "--instance", INSTANCE, "--encrypt", spec, "-o", "json")
    assert exported.exit_code == 0, exported.output
    backup_id = json.loads(exported.stdout)["backup_id"]
    files = {p: p.read_bytes() for p in (tmp_path / "store" / INSTANCE / backup_id).rglob("*") if p.is_file()}
    manifest = yaml.safe_load(files.pop(tmp_path / "store" / INSTANCE / backup_id / backup.MANIFEST))
    hits = sum(1 for data in files.values() for marker in plaintext_markers(demo) | {b"apiVersion"} if marker in data)
    assert manifest["encryption"]["scheme"] == scheme and manifest["server"] == "" and hits == 0
    unkeyed = verify(open_store(store), INSTANCE, backup_id)  # no identity, no KMS: the checksums still check
    assert unkeyed.ok and unkeyed.checked == "checksums", unkeyed.problems
    keys = ["--identity", str(identity)] if scheme == "age" else []
    deep = drkit("verify", "--store", store, "--instance", INSTANCE, backup_id, *keys, "-o", "json")
    assert deep.exit_code == 0 and "checked" not in json.loads(deep.stdout), deep.output  # a full check
    plain = backup.load(
        open_store(str(tmp_path / "plain")),
        INSTANCE,
        export(Client(demo.url, demo.token), open_store(str(tmp_path / "plain")), INSTANCE).backup_id,
    )
    reader = sealing.Keys(identity.read_text() if scheme == "age" else None, sealing.kms_client)
    opened = backup.load(open_store(store), INSTANCE, backup_id, keys=reader)
    pairs = [(a, b) for kind in plain.objects for a, b in zip(plain.objects[kind], opened.objects[kind], strict=True)]
    identical = sum(1 for a, b in pairs if a == b)
    record("encryption", objects=len(pairs), identical=identical, plaintext=hits, stored=len(files))
    assert identical == len(pairs) == len(files) and opened.manifest["server"] == demo.url.rstrip("/")
    with Simulator(app_namespaces=NAMESPACES) as target:
        argv = ["--server", target.url, "--auth-token", target.token, "--store", store, "--instance", INSTANCE]
        restored = drkit("restore", backup_id, *argv, *keys, "--timeout", "60")
    assert restored.exit_code == 0, restored.output


def test_restoring_an_age_backup_without_the_identity_stops_before_any_write(
    demo: Simulator, age_key: tuple[str, Path], tmp_path: Path
) -> None:
    store = str(tmp_path / "store")
    server = ["--server", demo.url, "--auth-token", demo.token]
    assert (
        drkit("export", *server, "--store", store, "--instance", INSTANCE, "--encrypt", f"age:{age_key[0]}").exit_code
        == 0
    )
    other = tmp_path / "other.txt"
    other.write_text(str(pyrage.x25519.Identity.generate()) + "\n")
    with Simulator(app_namespaces=NAMESPACES) as target:
        argv = ["restore", "latest", "--server", target.url, "--auth-token", target.token, "--store", store]
        missing = drkit(*argv, "--instance", INSTANCE)
        wrong = drkit(*argv, "--instance", INSTANCE, "--identity", str(other))
        writes = target.gateway.mutating_requests()
    assert missing.exit_code == 2 and "is encrypted with age" in missing.output and "--identity" in missing.output
    assert wrong.exit_code == 1 and "cannot decrypt" in wrong.output
    assert writes == []


def test_history_diffs_an_encrypted_backup_with_the_identity(
    demo: Simulator, age_key: tuple[str, Path], tmp_path: Path
) -> None:
    """`history` finds versions from the manifests alone (checksums are readable); `--diff` reads the objects, so
    an encrypted backup needs `--identity`, as restore does, and then shows the plaintext diff."""
    store = str(tmp_path / "store")
    server = ["--server", demo.url, "--auth-token", demo.token, "--store", store, "--instance", INSTANCE]
    assert drkit("export", *server, "--encrypt", f"age:{age_key[0]}").exit_code == 0
    ref = ["history", "--store", store, "--instance", INSTANCE, "applications/argocd/cert-manager"]
    listed = drkit(*ref, "-o", "json")
    assert listed.exit_code == 0 and [v["change"] for v in json.loads(listed.stdout)["versions"]] == ["added"]
    locked = drkit(*ref, "--diff")
    assert locked.exit_code == 2 and "is encrypted with age" in locked.output and "--identity" in locked.output
    opened = drkit(*ref, "--diff", "--identity", str(age_key[1]), "-o", "json")
    assert opened.exit_code == 0, opened.output
    (version,) = json.loads(opened.stdout)["versions"]
    assert "+  name: cert-manager" in version["diff"] and "repoURL: " in version["diff"]


def test_a_bad_encrypt_spec_is_refused_before_anything_is_read(tmp_path: Path) -> None:
    result = drkit(
        "export", "--server", "127.0.0.1:1", "--auth-token", "x", "--store", str(tmp_path), "--encrypt", "rot13"
    )
    assert result.exit_code == 2 and "age:RECIPIENT" in result.output
    result = drkit(
        "export", "--server", "127.0.0.1:1", "--auth-token", "x", "--store", str(tmp_path), "--encrypt", "age:nope"
    )
    assert result.exit_code == 2 and "not an age X25519 recipient" in result.output


def test_a_drill_of_an_encrypted_backup_reads_it_with_the_identity(
    demo: Simulator, age_key: tuple[str, Path], tmp_path: Path
) -> None:
    store = str(tmp_path / "store")
    server = ["--server", demo.url, "--auth-token", demo.token]
    made = drkit("export", *server, "--store", store, "--instance", INSTANCE, "--encrypt", f"age:{age_key[0]}")
    assert made.exit_code == 0, made.output
    argv = ["drill", "--simulate", "--store", store, "--instance", INSTANCE, "--timeout", "60", "-o", "json"]
    locked = drkit(*argv)
    opened = drkit(*argv, "--identity", str(age_key[1]))
    assert locked.exit_code == 2 and "--identity" in locked.output
    assert opened.exit_code in (0, 3) and json.loads(opened.stdout)["backupId"], opened.output
