"""Object history (issue 10): in which backups one object changed, and what changed, from the manifests' checksums."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from drkit.argocd.client import Client
from drkit.backup import history
from drkit.backup.store import open_store
from drkit.cli import main
from drkit.errors import ConfigError
from drkit.testing import Simulator, seed

APP = "applications/argocd/cert-manager"


class CountingStore:
    """A store that counts the object files read (manifests excluded)."""

    def __init__(self, inner) -> None:
        self.inner, self.url, self.objects_read = inner, inner.url, []

    def get(self, key: str) -> bytes:
        if not key.endswith("/manifest.yaml"):
            self.objects_read.append(key)
        return self.inner.get(key)

    def list(self, prefix: str) -> list[str]:
        return self.inner.list(prefix)


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Three exports of the demo instance; cert-manager's Helm values change between the first and second."""
    path = tmp_path_factory.mktemp("store")
    with Simulator(app_namespaces=("team-a",)) as source:
        seed.load(source, seed.read("demo"))
        args = ["export", "--server", source.address, "--plaintext", "--auth-token", source.token, "--store", str(path)]
        for round_ in range(3):
            if round_ == 1:
                client = Client(source.address, source.token, plaintext=True)
                app = client.get("/api/v1/applications/cert-manager")
                app["spec"]["source"]["helm"]["values"] = app["spec"]["source"]["helm"]["values"].replace(
                    "replicaCount: 2", "replicaCount: 3"
                )
                client.put("/api/v1/applications/cert-manager", {"metadata": app["metadata"], "spec": app["spec"]})
            result = CliRunner().invoke(main, [*args, "--instance", "demo"])
            assert result.exit_code == 0, result.output
    return path


def test_history_diff_shows_exactly_the_values_change(store: Path):
    result = CliRunner().invoke(main, ["history", "--store", str(store), APP, "--diff", "-o", "json"])
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    backups = sorted(p.name for p in (store / "demo").iterdir())
    assert doc["backups"] == 3
    assert [(v["backup_id"], v["change"]) for v in doc["versions"]] == [(backups[0], "added"), (backups[1], "changed")]
    changed = [
        line
        for line in doc["versions"][1]["diff"].splitlines()
        if line[:1] in "+-" and not line.startswith(("+++", "---"))
    ]
    assert changed == ["-        replicaCount: 2", "+        replicaCount: 3"]


def test_history_reads_only_the_versions_that_changed(store: Path):
    counting = CountingStore(open_store(str(store)))
    found = history.history(counting, "demo", APP)
    assert counting.objects_read == [] and len(found.versions) == 2
    history.history(counting, "demo", APP, diffs=True)
    assert len(counting.objects_read) == 2


def test_history_text_and_an_unchanged_object(store: Path):
    result = CliRunner().invoke(main, ["history", "--store", str(store), "projects/platform"])
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines()[0] == "projects/platform: 1 version(s) in 3 complete backup(s)"


def test_history_of_an_unknown_object_says_what_to_do(store: Path):
    with pytest.raises(ConfigError, match="is in none of the 3 complete backup"):
        history.history(open_store(str(store)), "demo", "applications/argocd/nope")
    result = CliRunner().invoke(main, ["history", "--store", str(store), "nokind/x"])
    assert result.exit_code == 2 and "is not KIND/NAME" in result.stderr
