"""Restore drills (issue 10): restore onto a scratch Argo CD, read back as `drkit diff` does, record the result.

Drill records live at `<instance>/drills/<id>.yaml` beside the backups and are never taken for a backup.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from drkit.argocd.client import Client
from drkit.backup import format as backup
from drkit.backup import schema
from drkit.backup.store import open_store
from drkit.cli import main
from drkit.ops import drill, metrics
from drkit.ops.scratch import app_namespaces
from drkit.restore.apply import RestoreOptions
from drkit.restore.converge import converge
from drkit.testing import Simulator, seed


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A local store with one export of the demo instance (instance `demo`)."""
    path = tmp_path_factory.mktemp("store")
    with Simulator(app_namespaces=("team-a",)) as source:
        seed.load(source, seed.read("demo"))
        args = ["export", "--server", source.address, "--plaintext", "--auth-token", source.token]
        result = CliRunner().invoke(main, [*args, "--store", str(path), "--instance", "demo"])
    assert result.exit_code == 0, result.output
    return path


def run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, list(args))
    return result.exit_code, result.stdout


def test_simulated_drill_records_recovery_time_and_full_read_back(store: Path, tmp_path: Path):
    prom = tmp_path / "drill.prom"
    code, out = run("drill", "--simulate", "--store", str(store), "--metrics-textfile", str(prom), "-o", "json")
    assert code == 0, out
    record = json.loads(out)
    stored = list((store / "demo" / "drills").glob("*.yaml"))
    assert [p.stem for p in stored] == [record["drillId"]]
    on_disk = yaml.safe_load(stored[0].read_text())
    assert on_disk == record
    schema.validate("drill", on_disk, "drill record")
    assert record["backupId"] == backup.resolve(open_store(str(store)), "demo", "latest")
    objects = record["objects"]
    assert objects["compared"] > 40 and objects["identical"] == objects["compared"] and objects["failed"] == 0
    assert record["apps"] == {"healthy": 16, "failed": 0}
    assert set(record["phases"]) == {"load", "apply", "converge"}
    assert record["recoverySeconds"] == pytest.approx(sum(record["phases"].values()), abs=0.01)
    assert record["recoverySeconds"] > 0 and record["differences"] == [] and record["exitCode"] == 0
    samples = metrics.parse(prom.read_text())
    assert samples["drkit_drill_identical_ratio"] == [({"argocd_instance": "demo", "command": "drill"}, 1.0)]
    phases = {labels["phase"]: value for labels, value in samples["drkit_recovery_seconds"]}
    assert set(phases) == {"load", "apply", "converge", "total"} and phases["total"] > 0
    assert samples["drkit_exit_code"][0][1] == 0
    assert {labels["state"]: v for labels, v in samples["drkit_restore_apps"]} == {"healthy": 16, "failed": 0}


def test_drill_records_are_never_taken_for_backups(store: Path):
    code, _ = run("drill", "--simulate", "--store", str(store))
    assert code == 0
    code, out = run("list", "--store", str(store), "-o", "json")
    assert [b["backup_id"] for b in json.loads(out)] == [
        p.name for p in (store / "demo").iterdir() if p.name != "drills"
    ]
    code, out = run("verify", "--store", str(store), "latest", "-o", "json")
    assert code == 0 and json.loads(out)["ok"]
    code, out = run("prune", "--store", str(store), "--keep-last", "1", "-o", "json")
    assert code == 0 and json.loads(out)["deleted"] == []
    assert (store / "demo" / "drills").is_dir()
    code, out = run("verify", "--store", str(store), "drills")
    assert code == 1
    code, out = run("list", "--drills", "--store", str(store), "-o", "json")
    assert code == 0 and len(json.loads(out)) >= 1 and all(d["exitCode"] == 0 for d in json.loads(out))


def test_a_drill_that_cannot_restore_everything_says_so_and_exits_3(store: Path):
    """A scratch instance that cannot reach one cluster: the failure is counted, the exit code is 3."""
    source = open_store(str(store))
    loaded = backup.load(source, "demo", "latest")
    unreachable = "https://staging.k8s.example.com:6443"

    @contextmanager
    def connect(_: backup.Backup) -> Iterator[Client]:
        with Simulator(app_namespaces=app_namespaces(loaded.objects)) as sim:
            sim.unreachable.add(unreachable)
            yield Client(sim.address, sim.token, plaintext=True)

    options = RestoreOptions(timeout=20)
    result = drill.drill(source, "demo", "latest", connect, "a broken scratch", options=options, converge=converge)
    assert result.exit_code == 3
    assert result.counts["failed"] == 1
    assert result.identical_ratio < 1
    assert any(unreachable in d for d in result.differences)
    key = drill.save(source, result)
    assert yaml.safe_load((store / key).read_text())["exitCode"] == 3


def test_drill_onto_a_throwaway_server(store: Path):
    with Simulator(app_namespaces=("team-a",)) as scratch:
        auth = ["--server", scratch.address, "--plaintext", "--auth-token", scratch.token]
        code, out = run("drill", *auth, "--store", str(store), "--instance", "demo", "latest", "-o", "json")
        assert code == 0, out
        assert json.loads(out)["target"] == scratch.url
        assert len(scratch.applications) == 16


def test_drill_needs_exactly_one_target(store: Path):
    result = CliRunner().invoke(main, ["drill", "--store", str(store)])
    assert result.exit_code == 2
    assert "--server of a throwaway Argo CD (not ARGOCD_SERVER) or --simulate" in result.stderr


def test_a_drill_ignores_argocd_server_from_the_environment(store: Path):
    """ARGOCD_SERVER usually names the production instance; a drill writes to its target, so it must be explicit."""
    env = {"ARGOCD_SERVER": "127.0.0.1:9", "ARGOCD_AUTH_TOKEN": "a.b.c"}
    result = CliRunner().invoke(main, ["drill", "--store", str(store)], env=env)
    assert result.exit_code == 2 and "(not ARGOCD_SERVER)" in result.stderr
    result = CliRunner().invoke(main, ["drill", "--simulate", "--store", str(store)], env=env)
    assert result.exit_code == 0, result.output


def test_a_drill_refuses_the_instance_the_backup_came_from(tmp_path: Path):
    with Simulator() as source:
        args = ["--server", source.address, "--plaintext", "--auth-token", source.token, "--store", str(tmp_path)]
        assert CliRunner().invoke(main, ["export", *args, "--instance", "prod"]).exit_code == 0
        result = CliRunner().invoke(main, ["drill", *args, "--instance", "prod"])
    assert result.exit_code == 2
    assert "refusing to drill onto http://127.0.0.1:" in result.stderr and "taken from that instance" in result.stderr
    assert not (tmp_path / "prod" / "drills").exists()
