"""`--kube` end to end (issue 18): a backup that recovers an instance on its own.

The demo instance's ConfigMaps and Secrets live in the simulated Kubernetes API, where the Argo CD simulator
keeps its repositories, templates, clusters and signing key as Argo CD does. Export with `--kube --encrypt`,
restore with `--kube --identity` onto an empty namespace and an empty Argo CD, no credentials file: every object,
ConfigMap and Secret reads back identical, every app ends Synced and Healthy, and a project token minted on the
source still authenticates on the target.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyrage
import pytest
import requests
from click.testing import CliRunner, Result

from drkit.backup.store import open_store
from drkit.cli import main
from drkit.kube import kinds as kk
from drkit.testing import Simulator, seed

INSTANCE = "demo"


def drkit(*argv: str) -> Result:
    return CliRunner().invoke(main, list(argv), catch_exceptions=False)


@pytest.fixture(scope="module")
def age_key(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, Path]:
    identity = pyrage.x25519.Identity.generate()
    path = tmp_path_factory.mktemp("age") / "identity.txt"
    path.write_text(f"{identity}\n")
    return str(identity.to_public()), path


@pytest.fixture
def source(tmp_path: Path) -> Iterator[Simulator]:
    with Simulator(kube=True, app_namespaces=("team-a",)) as sim:
        seed.load(sim, seed.read("demo"))
        sim.write_kubeconfig(tmp_path / "source.kubeconfig")
        yield sim


@pytest.fixture
def target(tmp_path: Path) -> Iterator[Simulator]:
    with Simulator(kube=True, app_namespaces=("team-a",)) as sim:
        sim.write_kubeconfig(tmp_path / "target.kubeconfig")
        yield sim


def server(sim: Simulator, token: str | None = None) -> list[str]:
    return ["--server", sim.address, "--plaintext", "--auth-token", token or sim.token]


def export(sim: Simulator, store: Path, tmp_path: Path, *extra: str) -> Result:
    kube = ["--kube", "--kubeconfig", str(tmp_path / "source.kubeconfig")]
    return drkit("export", *server(sim), "--store", str(store), "--instance", INSTANCE, *kube, *extra, "-o", "json")


def live(sim: Simulator, kind: str) -> dict[str, dict[str, Any]]:
    """The namespace's objects of `kind` as a backup keeps them, by name."""
    items = sim.kube.items(kind, sim.namespace)
    return {o["metadata"]["name"]: kk.normalize(kind, o) for o in items}


def stored(store: Path, kind: str, identity: Path) -> dict[str, dict[str, Any]]:
    from drkit.backup import format as backup
    from drkit.backup.sealing import Keys

    loaded = backup.load(open_store(str(store)), INSTANCE, "latest", (kind,), keys=Keys(identity.read_text(), None))
    return {d["metadata"]["name"]: d for d in loaded.objects[kind]}


# Secret keys whose values say where, not how: a repository's URL is in the API backup too, and is no secret
PUBLIC_KEYS = {"url", "name", "project", "type", "server", "namespaces", "clusterResources", "shard", "username",
               "insecure", "enableLfs", "enableOCI", "proxy", "noProxy", "forceHttpBasicAuth", "depth"}  # fmt: skip


def secret_values(sim: Simulator) -> set[str]:
    """Every secret value of every Secret in the namespace, as text and as stored (base64): what must never
    appear in an unencrypted backup. A cluster's `config` JSON gives its token, password and TLS data."""
    values = set()
    for secret in sim.kube.items("secrets", sim.namespace):
        for key, encoded in (secret.get("data") or {}).items():
            text = base64.b64decode(encoded).decode("utf-8", "replace")
            if key in PUBLIC_KEYS or key.endswith((".passwordMtime", ".tokens")):  # a time, and API-key ids
                continue
            found = [text]
            if key == "config":
                config = json.loads(text)
                tls = config.get("tlsClientConfig") or {}
                found = [
                    config.get("bearerToken"),
                    config.get("password"),
                    *(tls.get(k) for k in ("keyData", "certData")),
                ]
            for value in filter(None, found):
                if len(value) >= 10:  # short values ("true", the demo's admin "password") are words any file may hold
                    values |= {value, base64.b64encode(value.encode()).decode()}
    return values


def project_token(sim: Simulator) -> str:
    """A token of project platform's role ci-role, minted on `sim` (its id lands in the project's jwtTokens)."""
    answer = requests.post(
        f"{sim.url}/api/v1/projects/platform/roles/ci-role/token",
        json={"expiresIn": 0},
        headers={"Authorization": f"Bearer {sim.token}"},
        timeout=10,
    )
    return answer.json()["token"]


def test_kube_round_trip_recovers_the_instance_without_a_credentials_file(
    source: Simulator, target: Simulator, tmp_path: Path, age_key: tuple[str, Path]
) -> None:
    recipient, identity = age_key
    minted = project_token(source)
    store = tmp_path / "store"
    exported = export(source, store, tmp_path, "--encrypt", f"age:{recipient}")
    assert exported.exit_code == 0, exported.output
    counts = json.loads(exported.stdout)["counts"]
    assert counts["configmaps"] >= 5 and counts["secrets"] >= counts["repositories"] + counts["clusters"]

    kube = ["--kube", "--kubeconfig", str(tmp_path / "target.kubeconfig")]
    args = [*server(target, source.token), "--store", str(store), "--instance", INSTANCE, "latest", *kube]
    restored = drkit(
        "restore", *args, "--identity", str(identity), "--sync", "--wait", "--timeout", "120", "-o", "json"
    )
    assert restored.exit_code == 0, restored.output
    report = json.loads(restored.stdout)
    assert report["ok"] and report["tokens_to_reissue"] == []
    left = " ".join(report["not_in_backup"])  # nothing left to re-inject by hand: the Secrets held it all
    assert "credentials missing" not in left and "credentials file" not in left and "restored from the backup's" in left
    assert {a["sync"] for a in report["apps"]} == {"Synced"} and {a["health"] for a in report["apps"]} == {"Healthy"}
    assert not any(o["action"] == "fail" for o in report["objects"])
    assert {o["kind"] for o in report["objects"]} >= {"configmaps", "secrets", "repositories", "applications"}

    for kind in kk.KUBE_KINDS:  # every ConfigMap and Secret of the backup reads back identical on the target
        backed = stored(store, kind, identity)
        there = live(target, kind)
        assert {n: there.get(n) for n in backed} == backed
    drift = drkit("diff", *server(target, source.token), "--store", str(store), "--instance", INSTANCE, "latest",
                  "--identity", str(identity), "-o", "json")  # fmt: skip
    assert drift.exit_code == 0, drift.output  # every API object reads back identical too

    for name in ("repositories", "clusters"):  # the Secrets were written first; the API restore met, not doubled, them
        listed = requests.get(f"{target.url}/api/v1/{name}", headers={"Authorization": f"Bearer {source.token}"})
        assert len(listed.json()["items"]) == counts[name] + (1 if name == "clusters" else 0)  # + in-cluster
    old = requests.get(f"{target.url}/api/v1/projects/platform", headers={"Authorization": f"Bearer {minted}"})
    assert old.status_code != 401, old.text  # the source's project role token authenticates on the target


def test_kube_without_encrypt_refuses_before_writing_anything(source: Simulator, tmp_path: Path) -> None:
    refused = export(source, tmp_path / "store", tmp_path)
    assert refused.exit_code == 2
    assert "--encrypt" in refused.output and "--kube-secrets=skip" in refused.output
    assert not (tmp_path / "store").exists() or not list((tmp_path / "store").rglob("*.yaml"))


def test_kube_secrets_skip_stores_the_configmaps_and_no_secret_byte(source: Simulator, tmp_path: Path) -> None:
    store = tmp_path / "store"
    skipped = export(source, store, tmp_path, "--kube-secrets", "skip")
    assert skipped.exit_code == 3, skipped.output  # a warning says the Secrets were left out
    doc = json.loads(skipped.stdout)
    assert doc["counts"]["configmaps"] >= 5 and "secrets" not in doc["counts"]
    assert any("--kube-secrets=skip" in w for w in doc["warnings"])
    values = secret_values(source)
    assert len(values) > 10  # the scan looks for something: repository passwords, cluster tokens, the signing key
    hits = {str(f.relative_to(store)) for f in store.rglob("*") if f.is_file() for v in values if v in f.read_text()}
    assert hits == set()


def test_the_scan_finds_a_secret_stored_in_the_clear(source: Simulator, tmp_path: Path) -> None:
    """The check above can fail: a file holding one Secret value is found."""
    value = sorted(secret_values(source))[0]
    (tmp_path / "leak.yaml").write_text(f"value: {value}\n")
    assert any(v in (tmp_path / "leak.yaml").read_text() for v in secret_values(source))


def test_show_prints_a_secret_by_fingerprints(source: Simulator, tmp_path: Path, age_key: tuple[str, Path]) -> None:
    recipient, identity = age_key
    store = tmp_path / "store"
    assert export(source, store, tmp_path, "--encrypt", f"age:{recipient}").exit_code == 0
    shown = drkit("show", "--store", str(store), "--instance", INSTANCE, "latest", "secrets/argocd-secret",
                  "--identity", str(identity))  # fmt: skip
    assert shown.exit_code == 0, shown.output
    assert kk.SIGNING_KEY in shown.output and "sha256:" in shown.output
    assert not any(v in shown.output for v in secret_values(source))


def test_restore_without_kube_never_touches_the_namespace(
    source: Simulator, target: Simulator, tmp_path: Path, age_key: tuple[str, Path]
) -> None:
    recipient, identity = age_key
    store = tmp_path / "store"
    assert export(source, store, tmp_path, "--encrypt", f"age:{recipient}").exit_code == 0
    before = {kind: live(target, kind) for kind in kk.KUBE_KINDS}
    args = [*server(target), "--store", str(store), "--instance", INSTANCE, "latest", "--identity", str(identity)]
    drkit("restore", *args, "--no-sync", "-o", "json")
    after = {kind: live(target, kind) for kind in kk.KUBE_KINDS}
    assert after["configmaps"] == before["configmaps"]
    assert after["secrets"]["argocd-secret"] == before["secrets"]["argocd-secret"]  # key and passwords untouched


def test_a_target_token_is_refused_before_the_signing_key_is_replaced(
    source: Simulator, target: Simulator, tmp_path: Path, age_key: tuple[str, Path]
) -> None:
    """The target's own token dies once the source's key is written: drkit checks its signature first, locally."""
    recipient, identity = age_key
    project_token(source)
    store = tmp_path / "store"
    assert export(source, store, tmp_path, "--encrypt", f"age:{recipient}").exit_code == 0
    before = live(target, "secrets")
    kube = ["--kube", "--kubeconfig", str(tmp_path / "target.kubeconfig")]
    args = [
        *server(target),
        "--store",
        str(store),
        "--instance",
        INSTANCE,
        "latest",
        *kube,
        "--identity",
        str(identity),
    ]
    refused = drkit("restore", *args, "--no-sync")
    assert (
        refused.exit_code == 2
        and "server.secretkey" in refused.output
        and "--kube-keep-target-secretkey" in refused.output
    )
    assert live(target, "secrets") == before  # nothing was written
    kept = drkit("restore", *args, "--no-sync", "--kube-keep-target-secretkey", "-o", "json")
    assert kept.exit_code in (0, 3), kept.output
    assert json.loads(kept.stdout)["tokens_to_reissue"]  # the target's key stays: the old tokens are to re-issue
    assert (
        live(target, "secrets")["argocd-secret"]["data"][kk.SIGNING_KEY]
        == before["argocd-secret"]["data"][kk.SIGNING_KEY]
    )


def test_a_password_login_logs_in_again_once_the_source_key_is_restored(
    tmp_path: Path, age_key: tuple[str, Path]
) -> None:
    """--username/--password: the session token dies with the target's key, so drkit logs in again after the
    Secrets are written, now against the source's restored password hash; the restore then goes on."""
    recipient, identity = age_key
    with (
        Simulator(kube=True, admin_password="shared-pw-1", app_namespaces=("team-a",)) as old,
        Simulator(kube=True, admin_password="shared-pw-1", app_namespaces=("team-a",)) as new,
    ):
        seed.load(old, seed.read("demo"))
        old.write_kubeconfig(tmp_path / "source.kubeconfig")
        new.write_kubeconfig(tmp_path / "target.kubeconfig")
        store = tmp_path / "store"
        assert export(old, store, tmp_path, "--encrypt", f"age:{recipient}").exit_code == 0
        kube = ["--kube", "--kubeconfig", str(tmp_path / "target.kubeconfig"), "--identity", str(identity)]
        login = ["--server", new.address, "--plaintext", "--username", "admin", "--password", "shared-pw-1"]
        done = drkit("restore", *login, "--store", str(store), "--instance", INSTANCE, "latest", *kube, "--no-sync")
        assert done.exit_code == 0, done.output
        assert live(new, "secrets")["argocd-secret"] == stored(store, "secrets", identity)["argocd-secret"]


def test_a_drill_of_a_kube_backup_restores_and_reads_back_its_configmaps_and_secrets(
    source: Simulator, tmp_path: Path, age_key: tuple[str, Path]
) -> None:
    """`drill --simulate` gives the scratch Argo CD a Kubernetes API: the Secrets are restored (the signing key
    with them) and read back like every other object, with no credentials file."""
    recipient, identity = age_key
    store = tmp_path / "store"
    assert export(source, store, tmp_path, "--encrypt", f"age:{recipient}").exit_code == 0
    drilled = drkit("drill", "--simulate", "--store", str(store), "--instance", INSTANCE, "--identity", str(identity),
                    "--timeout", "120", "-o", "json")  # fmt: skip
    assert drilled.exit_code == 0, drilled.output
    record = json.loads(drilled.stdout)
    kube_objects = len(stored(store, "configmaps", identity)) + len(stored(store, "secrets", identity))
    assert record["objects"]["identical"] == record["objects"]["compared"] >= kube_objects + 40
    assert record["differences"] == [] and record["apps"]["failed"] == 0


def test_diff_kube_names_the_keys_that_drifted_and_never_a_value(
    source: Simulator, target: Simulator, tmp_path: Path, age_key: tuple[str, Path]
) -> None:
    recipient, identity = age_key
    store = tmp_path / "store"
    assert export(source, store, tmp_path, "--encrypt", f"age:{recipient}").exit_code == 0
    kube = ["--kube", "--kubeconfig", str(tmp_path / "target.kubeconfig"), "--identity", str(identity)]
    where = [*server(target, source.token), "--store", str(store), "--instance", INSTANCE, "latest", *kube]
    assert drkit("restore", *where, "--no-sync").exit_code == 0
    assert drkit("diff", *where).exit_code == 0  # ConfigMaps, Secrets and API objects: all as in the backup
    secret = target.kube.get("secrets", target.namespace, "oidc-secret")
    drifted = "a-rotated-client-secret-9f3c"
    secret["data"]["clientSecret"] = base64.b64encode(drifted.encode()).decode()
    target.kube.update("secrets", target.namespace, "oidc-secret", secret, manager="kubectl")
    found = drkit("diff", *where, "-o", "json")
    assert found.exit_code == 3
    (item,) = [o for o in json.loads(found.stdout)["objects"] if o["action"] in ("create", "update")]
    assert (item["kind"], item["name"], item["diff"]) == ("secrets", "oidc-secret", ["data.clientSecret"])
    assert drifted not in found.output and not any(v in found.output for v in secret_values(source))
