"""`drkit export` (issue 3) over the simulator, to a local directory and to S3 (moto): what a backup holds."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner

from drkit.argocd.client import Client
from drkit.argocd.kinds import CRD_KINDS, RESTORE_ORDER
from drkit.backup import checking, schema
from drkit.backup import format as backup
from drkit.backup.store import Store, open_store
from drkit.backup.verify import verify
from drkit.cli import main
from drkit.errors import BackupNotFound, IntegrityError
from drkit.export.export import export
from drkit.testing import Simulator, seed
from drkit.testing.gateway import Faults
from drkit.testing.gpg_demo_keys import DEMO_KEYS

pytest_plugins = ["tests.s3fixtures"]

INSTANCE = "prod"
SERVER_OWNED = {"status", "operation", "uid", "resourceVersion", "managedFields", "creationTimestamp", "generation"}
SECRET_FIELDS = {
    "password",
    "sshPrivateKey",
    "tlsClientCertKey",
    "githubAppPrivateKey",
    "bearerToken",
    "caData",
    "certData",
    "keyData",
    "bearerTokenFile",
    "secretAccessKey",
    "bearerTokenSecret",
    "gcpServiceAccountKey",
}


def small_seed(apps: int = 3) -> dict[str, Any]:
    """A small instance: a repo, a cluster, a project and `apps` applications."""
    return {
        "repositories": [{"repo": "https://git.example.com/small.git", "type": "git", "password": "small-secret-1"}],
        "clusters": [{"server": "https://small.example.com:6443", "name": "small", "config": {"bearerToken": "t0k"}}],
        "projects": [
            {
                "metadata": {"name": "small"},
                "spec": {"sourceRepos": ["*"], "destinations": [{"server": "*", "namespace": "*"}]},
            }
        ],
        "applications": [
            {
                "metadata": {"name": f"app-{i:02d}", "namespace": "argocd"},
                "spec": {
                    "project": "small",
                    "source": {"repoURL": "https://git.example.com/small.git", "path": f"app-{i}"},
                    "destination": {"server": "https://small.example.com:6443", "namespace": "default"},
                },
            }
            for i in range(apps)
        ],
    }


def rich_seed() -> dict[str, Any]:
    document = seed.read("demo")
    document["gpgkeys"] = [{"keyData": key} for key in DEMO_KEYS]  # both demo keys: more than one of every kind
    return document


@pytest.fixture(scope="module")
def rich_sim() -> Iterator[Simulator]:
    with Simulator(app_namespaces=("team-a",)) as sim:
        seed.load(sim, rich_seed())
        yield sim


@pytest.fixture(scope="module")
def module_bucket(s3_client) -> str:  # noqa: ANN001
    name = f"drkit-export-{os.getpid()}-{time.monotonic_ns() % 10**9}"
    s3_client.create_bucket(Bucket=name)
    return name


@pytest.fixture(scope="module", params=["local", "s3"])
def rich_backup(request, rich_sim: Simulator, tmp_path_factory) -> tuple[Store, str, dict[str, bytes]]:  # noqa: ANN001
    """The rich instance exported once per store kind: (store, backup id, every stored byte by key)."""
    if request.param == "local":
        url = str(tmp_path_factory.mktemp("rich"))
    else:
        url = f"s3://{request.getfixturevalue('module_bucket')}/team/backups"
    store = open_store(url)
    result = export(Client(rich_sim.url, rich_sim.token), store, INSTANCE)
    assert result.ok, result.to_json()
    return store, result.backup_id, read_back(request, url, f"{INSTANCE}/{result.backup_id}/")


def read_back(request, url: str, prefix: str) -> dict[str, bytes]:  # noqa: ANN001
    """Every object under `prefix`, read with the backend's own tools rather than drkit's store."""
    if not url.startswith("s3://"):
        root = Path(url) / prefix
        return {p.relative_to(root).as_posix(): p.read_bytes() for p in root.rglob("*") if p.is_file()}
    client = request.getfixturevalue("s3_client")
    bucket, _, base = url.removeprefix("s3://").partition("/")
    full = f"{base}/{prefix}" if base else prefix
    files = {}
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=full):
        for item in page.get("Contents", []):
            files[item["Key"].removeprefix(full)] = client.get_object(Bucket=bucket, Key=item["Key"])["Body"].read()
    return files


def stored_docs(files: dict[str, bytes]) -> dict[str, dict[str, Any]]:
    return {key: yaml.safe_load(data) for key, data in files.items() if key != backup.MANIFEST}


def sim_counts(sim: Simulator) -> dict[str, int]:
    with sim.lock:
        return {kind: len(getattr(sim, kind)) for kind in RESTORE_ORDER}


def walk(value: Any, path: str = "") -> Iterator[tuple[str, Any]]:
    """Every (dotted path, value) pair in a document."""
    yield path, value
    if isinstance(value, dict):
        for key, item in value.items():
            yield from walk(item, f"{path}.{key}" if path else str(key))
    elif isinstance(value, list):
        for i, item in enumerate(value):
            yield from walk(item, f"{path}[{i}]")


# --- a rich instance, local and S3 -----------------------------------------------------------------------------


def test_rich_export_verifies_and_counts_match_the_instance(rich_backup, rich_sim: Simulator) -> None:
    store, backup_id, files = rich_backup
    assert verify(store, INSTANCE, "latest").problems == []
    assert backup.resolve(store, INSTANCE, "latest") == backup_id
    manifest = yaml.safe_load(files[backup.MANIFEST])
    expected = sim_counts(rich_sim)  # sim.clusters never holds the synthetic in-cluster entry
    assert all(expected.values()), f"the rich instance lacks a kind: {expected}"
    assert manifest["counts"] == expected
    by_kind: dict[str, int] = {}
    for key in stored_docs(files):
        by_kind[key.split("/", 1)[0]] = by_kind.get(key.split("/", 1)[0], 0) + 1
    assert by_kind == expected
    assert sorted(e["key"] for e in manifest["objects"]) == sorted(stored_docs(files))


def test_every_application_of_the_instance_is_stored(rich_backup, rich_sim: Simulator) -> None:
    docs = stored_docs(rich_backup[2])
    stored = {
        (d["metadata"]["namespace"], d["metadata"]["name"]) for k, d in docs.items() if k.startswith("applications/")
    }
    assert stored == set(rich_sim.applications)
    assert any(namespace == "team-a" for namespace, _ in stored)
    sources = [d["spec"] for k, d in docs.items() if k.startswith("applications/")]
    assert any("sources" in s for s in sources), "no multi-source application"
    assert any("helm" in s.get("source", {}) for s in sources) and any(
        "kustomize" in s.get("source", {}) for s in sources
    )


@pytest.mark.parametrize("kind", sorted(CRD_KINDS))
def test_stored_crd_objects_validate_against_the_crd_schemas(rich_backup, kind: str) -> None:
    docs = {k: d for k, d in stored_docs(rich_backup[2]).items() if k.startswith(f"{kind}/")}
    assert docs
    assert {k: schema.problems(kind, d) for k, d in docs.items()} == {k: [] for k in docs}


def test_stored_objects_are_normalised(rich_backup) -> None:
    docs = stored_docs(rich_backup[2])
    for key, doc in docs.items():
        kind = key.split("/", 1)[0]
        assert "status" not in doc and "operation" not in doc, key
        leaked = {p for p, _ in walk(doc) if p.rsplit(".", 1)[-1] in SERVER_OWNED and p.startswith("metadata")}
        assert not leaked, f"{key}: {leaked}"
        if kind in CRD_KINDS:
            assert doc["apiVersion"] == "argoproj.io/v1alpha1" and doc["kind"], key
        assert schema.problems(kind, doc) == [], key
    assert not any(k.startswith("clusters/") and "kubernetes-default-svc" in k for k in docs)


def test_a_repository_inheriting_template_creds_stores_no_username(rich_backup, rich_sim: Simulator) -> None:
    docs = stored_docs(rich_backup[2])
    repos = {d["repo"]: d for k, d in docs.items() if k.startswith("repositories/")}
    inherited = repos["https://git.example.com/platform/infra.git"]
    assert "username" not in inherited and "inheritedCreds" not in inherited
    assert repos["https://git.example.com/apps/guestbook.git"]["username"] == "guestbook-bot"  # its own: kept
    live = Client(rich_sim.url, rich_sim.token).items("/api/v1/repositories")
    assert any(r.get("inheritedCreds") and r.get("username") for r in live), "the API no longer fills it in"


def test_generated_apps_keep_an_owner_reference_without_uid(rich_backup, rich_sim: Simulator) -> None:
    docs = stored_docs(rich_backup[2])
    appsets = {d["metadata"]["name"] for k, d in docs.items() if k.startswith("applicationsets/")}
    generated = {
        (app["metadata"]["namespace"], app["metadata"]["name"])
        for app in rich_sim.applications.values()
        if any(o.get("kind") == "ApplicationSet" for o in app["metadata"].get("ownerReferences", []))
    }
    assert generated
    for namespace, name in generated:
        owners = docs[f"applications/{namespace}/{name}.yaml"]["metadata"]["ownerReferences"]
        assert [o["kind"] for o in owners] == ["ApplicationSet"] and owners[0]["name"] in appsets
        assert all("uid" not in o for o in owners)


# --- determinism -----------------------------------------------------------------------------------------------


def test_two_exports_of_an_unchanged_instance_are_byte_identical(rich_sim: Simulator, tmp_path: Path, request) -> None:
    store = open_store(str(tmp_path))
    client = Client(rich_sim.url, rich_sim.token)
    first, second = (export(client, store, INSTANCE).backup_id for _ in range(2))
    assert first != second
    a = read_back(request, str(tmp_path), f"{INSTANCE}/{first}/")
    b = read_back(request, str(tmp_path), f"{INSTANCE}/{second}/")
    assert sorted(a) == sorted(b)
    assert {k: v for k, v in a.items() if k != backup.MANIFEST} == {k: v for k, v in b.items() if k != backup.MANIFEST}
    assert yaml.safe_load(a[backup.MANIFEST])["objects"] == yaml.safe_load(b[backup.MANIFEST])["objects"]


# --- killed at any point ---------------------------------------------------------------------------------------


class Died(Exception):
    """The export's process 'dies' at a put."""


class DyingStore:
    """A store whose `put` number `die_at` (1-based) and every later one fail without writing."""

    def __init__(self, inner: Store, die_at: int | None = None) -> None:
        self.inner, self.die_at, self.puts, self.url = inner, die_at, 0, inner.url
        self.keys: list[str] = []

    def put(self, key: str, data: bytes) -> None:
        self.puts += 1
        self.keys.append(key)
        if self.die_at is not None and self.puts >= self.die_at:
            raise Died(key)
        self.inner.put(key, data)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


@pytest.fixture
def small_sim() -> Iterator[Simulator]:
    with Simulator() as sim:
        seed.load(sim, small_seed())
        yield sim


def test_an_export_killed_at_any_put_leaves_no_backup(small_sim: Simulator, tmp_path: Path) -> None:
    store = open_store(str(tmp_path))
    client = Client(small_sim.url, small_sim.token)
    counting = DyingStore(store)
    good = export(client, counting, INSTANCE).backup_id
    total = counting.puts
    assert total == len(backup.read_manifest(store, INSTANCE, good)["objects"]) + 1 > 10
    for k in range(1, total + 1):
        dying = DyingStore(store, die_at=k)
        with pytest.raises(Died):
            export(client, dying, INSTANCE, concurrency=1 + k % 4)
        attempt = dying.keys[0].split("/")[1]
        assert attempt != good
        assert [b.backup_id for b in backup.list_backups(store, INSTANCE)] == [good], k
        assert backup.resolve(store, INSTANCE, "latest") == good
        assert verify(store, INSTANCE, "latest").ok
        with pytest.raises(BackupNotFound):
            verify(store, INSTANCE, attempt)
        with pytest.raises(BackupNotFound):
            backup.load(store, INSTANCE, attempt)


def test_a_sigkilled_export_process_leaves_no_backup(small_sim: Simulator, tmp_path: Path) -> None:
    store = open_store(str(tmp_path))
    good = export(Client(small_sim.url, small_sim.token), store, INSTANCE).backup_id
    token_file = tmp_path.parent / f"{tmp_path.name}.token"
    token_file.write_text(small_sim.token)
    small_sim.gateway.faults = Faults(latency=0.2)
    small_sim.gateway.requests.clear()
    argv = ["--server", small_sim.address, "--plaintext", "--auth-token-file", str(token_file)]
    argv += ["--store", str(tmp_path), "--instance", INSTANCE, "--concurrency", "1"]
    proc = subprocess.Popen([sys.executable, "-m", "drkit", "export", *argv], stderr=subprocess.PIPE)
    try:
        for _ in range(2000):  # until it is half-way through reading the instance
            if len(small_sim.gateway.requests) >= 4 or proc.poll() is not None:
                break
            time.sleep(0.005)
        assert proc.poll() is None, "the export finished before it could be killed"
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
        assert proc.returncode == -signal.SIGKILL
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.stderr.close()
    small_sim.gateway.faults = Faults()
    assert [b.backup_id for b in backup.list_backups(store, INSTANCE)] == [good]
    assert backup.resolve(store, INSTANCE, "latest") == good and verify(store, INSTANCE, good).ok


# --- no secret leaks -------------------------------------------------------------------------------------------


def simulator_secrets(sim: Simulator) -> set[str]:
    """Every secret value the simulator holds for repositories, templates and clusters, and each long line of it."""
    found: set[str] = set()
    with sim.lock:
        states = [*sim.repositories.values(), *sim.repocreds.values(), *sim.clusters.values()]
    for state in states:
        for path, value in walk(state):
            if path.rsplit(".", 1)[-1] in SECRET_FIELDS and isinstance(value, str) and value:
                found.add(value)
                found.update(line.strip() for line in value.splitlines() if len(line.strip()) >= 16)
    return found


def test_no_secret_reaches_the_store(rich_backup, rich_sim: Simulator) -> None:
    secrets = simulator_secrets(rich_sim)
    assert {"demo-password-1", "demo-password-2", "demo-password-5"} <= secrets and len(secrets) > 10
    blob = b"\n".join(rich_backup[2].values())
    leaked = [s[:12] + "..." for s in secrets if s.encode() in blob]
    assert leaked == []


# --- shrink guard and permission loss --------------------------------------------------------------------------


def run_export(sim: Simulator, store: str, *extra: str, token: str | None = None) -> Any:
    argv = ["export", "--server", sim.url, "--auth-token", token or sim.token, "--store", store]
    result = CliRunner().invoke(main, [*argv, "--instance", INSTANCE, "-o", "json", *extra])
    assert (token or sim.token) not in result.output + result.stderr
    return result


def test_a_backup_that_shrinks_too_much_is_flagged(tmp_path: Path) -> None:
    guarded, relaxed = str(tmp_path / "guarded"), str(tmp_path / "relaxed")
    with Simulator() as sim:
        seed.load(sim, small_seed(apps=40))
        assert run_export(sim, guarded).exit_code == 0
        assert run_export(sim, relaxed).exit_code == 0
        with sim.lock:
            for key in list(sim.applications)[2:]:
                del sim.applications[key]
        flagged = run_export(sim, guarded)
        assert flagged.exit_code == 3, flagged.output
        document = yaml.safe_load(flagged.stdout)
        assert any("fewer" in w for w in document["warnings"])
        manifest = backup.read_manifest(open_store(guarded), INSTANCE, document["backup_id"])
        assert manifest["suspicious"]["previousCount"] > manifest["suspicious"]["count"]
        listed = CliRunner().invoke(main, ["list", "--store", guarded, "--instance", INSTANCE, "-o", "json"])
        assert [b["suspicious"] for b in yaml.safe_load(listed.stdout)] == [True, False]
        again = run_export(sim, guarded)  # compared with the last trusted backup, not the flagged one
        assert again.exit_code == 3, again.output
        allowed = run_export(sim, relaxed, "--max-shrink", "0.99")
        assert allowed.exit_code == 0, allowed.output
        relaxed_store = open_store(relaxed)
        newest = backup.resolve(relaxed_store, INSTANCE, "latest")
        assert newest == yaml.safe_load(allowed.stdout)["backup_id"]
        assert "suspicious" not in backup.read_manifest(relaxed_store, INSTANCE, newest)


def test_losing_permission_on_some_kinds_still_writes_and_warns(small_sim: Simulator, tmp_path: Path) -> None:
    readable = ("applications", "applicationsets", "projects", "repositories", "clusters")
    small_sim.policies["backup"] = [(resource, "get", "*") for resource in readable]
    token = small_sim.mint_token("backup:apiKey")
    result = run_export(small_sim, str(tmp_path), token=token)
    assert result.exit_code == 3, result.output
    document = yaml.safe_load(result.stdout)
    warned = {w.split(":", 1)[0] for w in document["warnings"]}
    assert warned == {"gpgkeys", "certificates"}
    assert document["counts"]["applications"] == 3 and document["counts"]["projects"] == 2
    store = open_store(str(tmp_path))
    assert backup.resolve(store, INSTANCE, "latest") == document["backup_id"]
    assert verify(store, INSTANCE, "latest").ok
    assert "gpgkeys" in " ".join(backup.read_manifest(store, INSTANCE, document["backup_id"])["warnings"])


def test_objects_checked_in_several_processes_read_as_in_one(
    small_sim: Simulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = open_store(str(tmp_path))
    backup_id = export(Client(small_sim.url, small_sim.token), store, INSTANCE).backup_id
    whole = backup.load(store, INSTANCE, backup_id)
    monkeypatch.setattr(checking, "CHUNK", 2)  # a chunk of two objects per process
    monkeypatch.setattr(os, "cpu_count", lambda: 2)
    assert backup.load(store, INSTANCE, backup_id).objects == whole.objects
    entry = next(e for e in whole.manifest["objects"] if e["kind"] == "applications")
    path = tmp_path / INSTANCE / backup_id / entry["key"]
    path.write_bytes(path.read_bytes().replace(b"app-", b"app_"))
    with pytest.raises(IntegrityError, match=f"{entry['key']}: checksum mismatch"):
        backup.load(store, INSTANCE, backup_id)
