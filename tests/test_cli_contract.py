"""CONTRACT.md over the real command line: JSON shapes, exit codes, environment, server forms, no token in output."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner, Result

from drkit.argocd import client as argocd
from drkit.argocd.kinds import KINDS
from drkit.backup import format as backup
from drkit.backup.store import open_store
from drkit.cli import main
from drkit.testing import Simulator, seed
from drkit.testing.gateway import Faults

INSTANCE = "prod"
EXPORT_KEYS = {"backup_id", "instance", "complete", "counts", "warnings"}
LIST_KEYS = {"backup_id", "created_at", "complete", "counts"}
VERIFY_KEYS = {"backup_id", "ok", "problems"}
PRUNE_KEYS = {"kept", "deleted", "dry_run"}
RESTORE_KEYS = {"backup_id", "dry_run", "ok", "objects", "apps"}
ACTIONS = {"create", "update", "unchanged", "skip", "fail"}

SEED = {
    "repositories": [{"repo": "https://git.example.com/cli.git", "type": "git", "password": "cli-secret-1"}],
    "projects": [
        {
            "metadata": {"name": "cli"},
            "spec": {"sourceRepos": ["*"], "destinations": [{"server": "*", "namespace": "*"}]},
        }
    ],
    "applications": [
        {
            "metadata": {"name": name, "namespace": "argocd"},
            "spec": {
                "project": "cli",
                "source": {"repoURL": "https://git.example.com/cli.git", "path": name},
                "destination": {"server": "https://kubernetes.default.svc", "namespace": name},
            },
        }
        for name in ("guestbook", "billing-api", "billing-worker")
    ],
}


@pytest.fixture
def sim() -> Iterator[Simulator]:
    with Simulator() as instance:
        seed.load(instance, SEED)
        yield instance


@pytest.fixture(autouse=True)
def no_backoff(monkeypatch: pytest.MonkeyPatch) -> None:
    """Retries happen, but without their jittered sleeps, so a 503 storm ends at once."""
    monkeypatch.setattr(argocd, "_backoff", lambda attempt: 0.0)


def drkit(*args: str, env: dict[str, str] | None = None, secrets: tuple[str, ...] = ()) -> Result:
    """Run the CLI in-process; no secret may appear on stdout, stderr or in an escaped exception."""
    result = CliRunner().invoke(main, list(args), env=env)
    shown = result.stdout + result.stderr + str(result.exception) + repr(result.exception)
    for secret in secrets:
        assert secret not in shown, f"drkit {args[0]} printed a secret"
    assert not (result.exception and not isinstance(result.exception, SystemExit)), result.exception
    return result


def export(sim: Simulator, store: Path, *extra: str, token: str | None = None) -> Result:
    token = token or sim.token
    argv = ["export", "--server", sim.url, "--auth-token", token, "--store", str(store), "--instance", INSTANCE]
    return drkit(*argv, "-o", "json", *extra, secrets=(token, sim.token))


def store_cmd(command: str, store: Path, *args: str) -> Result:
    return drkit(command, "--store", str(store), "--instance", INSTANCE, *args)


def one_json(result: Result) -> Any:
    """The single JSON document on stdout (json.loads refuses anything after it)."""
    return json.loads(result.stdout)


@pytest.fixture
def backups(sim: Simulator, tmp_path: Path) -> list[str]:
    """Three complete backups, oldest first."""
    ids = []
    for _ in range(3):
        result = export(sim, tmp_path)
        assert result.exit_code == 0, result.output
        ids.append(one_json(result)["backup_id"])
    return ids


# --- JSON documents --------------------------------------------------------------------------------------------


def test_export_prints_one_json_document_with_the_contract_keys(sim: Simulator, tmp_path: Path) -> None:
    result = export(sim, tmp_path)
    assert result.exit_code == 0, result.output
    document = one_json(result)
    assert set(document) == EXPORT_KEYS
    assert document["instance"] == INSTANCE and document["complete"] is True and document["warnings"] == []
    assert set(document["counts"]) == set(KINDS)
    assert document["counts"]["applications"] == 3 and document["counts"]["projects"] == 2


def test_list_is_newest_first_with_the_contract_keys(backups: list[str], tmp_path: Path) -> None:
    document = one_json(store_cmd("list", tmp_path, "-o", "json"))
    assert [b["backup_id"] for b in document] == backups[::-1]
    for entry in document:
        # `suspicious` is drkit's addition for the shrink guard; CONTRACT.md does not list it (yet)
        assert LIST_KEYS <= set(entry) <= LIST_KEYS | {"suspicious"}
        assert entry["complete"] is True and entry["counts"]["applications"] == 3


def test_verify_json_and_a_tampered_file(backups: list[str], tmp_path: Path) -> None:
    ok = store_cmd("verify", tmp_path, "latest", "-o", "json")
    assert ok.exit_code == 0 and one_json(ok) == {"backup_id": backups[-1], "ok": True, "problems": []}
    target = tmp_path / INSTANCE / backups[-1] / "applications" / "argocd" / "billing-api.yaml"
    data = bytearray(target.read_bytes())
    data[len(data) // 2] ^= 0x01
    target.write_bytes(bytes(data))
    bad = store_cmd("verify", tmp_path, backups[-1], "-o", "json")
    assert bad.exit_code == 3
    document = one_json(bad)
    assert set(document) == VERIFY_KEYS and document["ok"] is False
    assert [p for p in document["problems"] if "applications/argocd/billing-api.yaml" in p]
    assert store_cmd("verify", tmp_path, backups[0]).exit_code == 0  # the other backups are untouched


def test_prune_keeps_and_deletes_by_policy(backups: list[str], tmp_path: Path) -> None:
    dry = store_cmd("prune", tmp_path, "--keep-last", "1", "--dry-run", "-o", "json")
    assert dry.exit_code == 0
    assert one_json(dry) == {"kept": [backups[-1]], "deleted": backups[-2::-1], "dry_run": True}
    assert len(one_json(store_cmd("list", tmp_path, "-o", "json"))) == 3
    done = one_json(store_cmd("prune", tmp_path, "--keep-last", "2", "-o", "json"))
    assert set(done) == PRUNE_KEYS and done["deleted"] == [backups[0]] and done["dry_run"] is False
    assert [b["backup_id"] for b in one_json(store_cmd("list", tmp_path, "-o", "json"))] == backups[:0:-1]
    assert not (tmp_path / INSTANCE / backups[0]).exists()


def test_prune_without_a_rule_refuses(backups: list[str], tmp_path: Path) -> None:
    refused = store_cmd("prune", tmp_path, "-o", "json")
    assert refused.exit_code == 2 and "--keep" in refused.stderr and refused.stdout == ""
    assert len(one_json(store_cmd("list", tmp_path, "-o", "json"))) == 3


def test_restore_dry_run_json(backups: list[str], tmp_path: Path) -> None:
    with Simulator() as target:
        argv = ["restore", "--server", target.url, "--auth-token", target.token, "--store", str(tmp_path)]
        result = drkit(*argv, "--instance", INSTANCE, "latest", "--dry-run", "-o", "json", secrets=(target.token,))
        assert target.gateway.mutating_requests() == []
    assert result.exit_code in (0, 3), result.output
    document = one_json(result)
    assert set(document) >= RESTORE_KEYS and document["dry_run"] is True and document["backup_id"] == backups[-1]
    assert document["objects"] and all({"kind", "name", "action"} <= set(o) for o in document["objects"])
    assert {o["action"] for o in document["objects"]} <= ACTIONS
    assert any(o["kind"] == "applications" and "guestbook" in o["name"] for o in document["objects"])


# --- show --------------------------------------------------------------------------------------------------------


def test_show_prints_one_object_by_full_or_short_name(backups: list[str], tmp_path: Path) -> None:
    stored = yaml.safe_load((tmp_path / INSTANCE / backups[-1] / "applications/argocd/guestbook.yaml").read_bytes())
    for ref in ("applications/argocd/guestbook", "applications/guestbook"):
        result = store_cmd("show", tmp_path, "latest", ref)
        assert result.exit_code == 0, result.output
        assert yaml.safe_load(result.stdout) == stored
    ambiguous = store_cmd("show", tmp_path, "latest", "applications/billing")
    assert ambiguous.exit_code == 2 and "billing-api" in ambiguous.stderr and "billing-worker" in ambiguous.stderr


def test_show_prints_the_summary(backups: list[str], tmp_path: Path) -> None:
    summary = yaml.safe_load(store_cmd("show", tmp_path, backups[0]).stdout)
    assert summary["backupId"] == backups[0] and summary["counts"]["applications"] == 3
    assert "objects" not in summary


# --- exit codes ----------------------------------------------------------------------------------------------------


def test_a_refused_token_exits_2_without_printing_it(sim: Simulator, tmp_path: Path) -> None:
    bad = sim.token[:-6] + "AAAAAA"
    result = export(sim, tmp_path, token=bad)
    assert result.exit_code == 2 and result.stdout == "" and "401" in result.stderr
    assert not (tmp_path / INSTANCE).exists()


def test_a_503_storm_exits_1_without_printing_the_token(sim: Simulator, tmp_path: Path) -> None:
    sim.gateway.faults = Faults(error_503=1.0)
    result = export(sim, tmp_path)
    assert result.exit_code == 1 and result.stdout == "" and "503" in result.stderr


def test_usage_errors_exit_2(sim: Simulator, tmp_path: Path) -> None:
    assert (
        drkit("export", "--auth-token", sim.token, "--store", str(tmp_path), env={"ARGOCD_SERVER": ""}).exit_code == 2
    )
    assert drkit("export", "--server", sim.url, "--store", str(tmp_path), env={"ARGOCD_AUTH_TOKEN": ""}).exit_code == 2
    assert export(sim, tmp_path, "--kinds", "applications,widgets").exit_code == 2
    assert drkit("export", "--no-such-flag").exit_code == 2


def test_a_missing_backup_exits_1(backups: list[str], tmp_path: Path) -> None:
    result = store_cmd("verify", tmp_path, "20000101T000000Z-000-0000")
    assert result.exit_code == 1 and "drkit list" in result.stderr


def test_every_command_keeps_the_token_out_of_its_output(sim: Simulator, backups: list[str], tmp_path: Path) -> None:
    for args in (["list"], ["show", "latest"], ["show", "latest", "repositories/cli"], ["verify", "latest"]):
        result = drkit(*args, "--store", str(tmp_path), "--instance", INSTANCE, secrets=(sim.token, "cli-secret-1"))
        assert result.exit_code == 0, result.output


# --- environment, token file, server forms ----------------------------------------------------------------------------


def test_environment_variables_configure_export_and_list(sim: Simulator, tmp_path: Path) -> None:
    env = {"ARGOCD_SERVER": sim.url, "ARGOCD_AUTH_TOKEN": sim.token, "DRKIT_STORE": str(tmp_path)}
    made = drkit("export", "-o", "json", env={**env, "DRKIT_INSTANCE": "from-env"}, secrets=(sim.token,))
    assert made.exit_code == 0, made.output
    assert one_json(made)["instance"] == "from-env" and (tmp_path / "from-env").is_dir()
    listed = drkit("list", "-o", "json", env={"DRKIT_STORE": str(tmp_path), "DRKIT_INSTANCE": "from-env"})
    assert [b["backup_id"] for b in one_json(listed)] == [one_json(made)["backup_id"]]
    default = drkit("export", "-o", "json", env=env, secrets=(sim.token,))
    assert one_json(default)["instance"] == "127.0.0.1"  # the server's host name


def test_the_token_file_is_read(sim: Simulator, tmp_path: Path) -> None:
    token_file = tmp_path / "token"
    token_file.write_text(sim.token + "\n")
    store = tmp_path / "store"
    argv = ["export", "--server", sim.url, "--auth-token-file", str(token_file), "--store", str(store)]
    result = drkit(*argv, "--instance", INSTANCE, "-o", "json", secrets=(sim.token,))
    assert result.exit_code == 0, result.output
    missing = drkit(*argv[:3], "--auth-token-file", str(tmp_path / "absent"), "--store", str(store))
    assert missing.exit_code == 2


@pytest.mark.parametrize("form", ["bare-plaintext", "http-url"])
def test_server_forms(sim: Simulator, tmp_path: Path, form: str) -> None:
    server = ["--server", sim.address, "--plaintext"] if form == "bare-plaintext" else ["--server", sim.url]
    argv = ["export", *server, "--auth-token", sim.token, "--store", str(tmp_path), "-o", "json"]
    result = drkit(*argv, secrets=(sim.token,))
    assert result.exit_code == 0, result.output
    assert one_json(result)["instance"] == "127.0.0.1"
    backup_id = one_json(result)["backup_id"]
    assert backup.read_manifest(open_store(str(tmp_path)), "127.0.0.1", backup_id)["server"] == sim.url


def test_a_bare_server_without_plaintext_speaks_https(sim: Simulator, tmp_path: Path) -> None:
    argv = ["export", "--server", sim.address, "--auth-token", sim.token, "--store", str(tmp_path)]
    result = drkit(*argv, secrets=(sim.token,))
    assert result.exit_code == 1 and f"https://{sim.address}" in result.stderr
