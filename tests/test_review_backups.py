"""Review findings on the backup lifecycle: a damaged manifest, `latest`, and what prune may delete."""

from __future__ import annotations

from pathlib import Path

import pytest

from drkit.argocd.client import Client
from drkit.backup import format as backup
from drkit.backup.retention import Policy, prune
from drkit.backup.store import LocalStore
from drkit.errors import ConfigError
from drkit.export.export import export
from drkit.testing import Simulator

INSTANCE = "prod"


def _export(sim: Simulator, store: LocalStore) -> str:
    return export(Client(sim.url, sim.token), store, INSTANCE).backup_id


def _damage_manifest(store: LocalStore, backup_id: str) -> None:
    store.put(f"{INSTANCE}/{backup_id}/{backup.MANIFEST}", b"objects: [\n")


def test_a_damaged_manifest_does_not_break_list_latest_prune_or_the_next_export(sim: Simulator, tmp_path: Path) -> None:
    store = LocalStore(tmp_path)
    good = _export(sim, store)
    damaged = _export(sim, store)
    _damage_manifest(store, damaged)
    listed = {b.backup_id: b.to_json()["complete"] for b in backup.list_backups(store, INSTANCE)}
    assert listed == {damaged: False, good: True}  # shown, but not as complete
    assert backup.resolve(store, INSTANCE, "latest") == good  # latest never picks what cannot be read
    assert prune(store, INSTANCE, Policy(last=1), dry_run=True).deleted == []  # never deleted as debris
    newest = _export(sim, store)  # the shrink guard reads the manifests too
    assert backup.resolve(store, INSTANCE, "latest") == newest


def test_prune_never_deletes_an_export_in_progress_or_the_newest(sim: Simulator, tmp_path: Path) -> None:
    store = LocalStore(tmp_path)
    old, newest = _export(sim, store), _export(sim, store)
    debris = "20000101T000000Z-001-dead"  # an interrupted export, older than the newest backup and than a day
    store.put(f"{INSTANCE}/{debris}/projects/x.yaml", b"x")
    running = "29991231T235959Z-999-beef"  # started after the newest complete backup: no manifest yet
    store.put(f"{INSTANCE}/{running}/projects/x.yaml", b"x")
    result = prune(store, INSTANCE, Policy(last=1))
    assert result.kept == [newest] and sorted(result.deleted) == sorted([old, debris])
    assert store.get(f"{INSTANCE}/{running}/projects/x.yaml") == b"x"
    assert backup.resolve(store, INSTANCE, "latest") == newest


def test_a_server_url_with_a_password_is_refused_without_echoing_it(sim: Simulator, tmp_path: Path) -> None:
    """Otherwise `https://user:pw@host` went into every message and into each manifest's `server` field."""
    host = sim.url.split("://", 1)[1]
    with pytest.raises(ConfigError) as err:
        Client(f"http://admin:hunter2@{host}", sim.token)
    assert "hunter2" not in str(err.value) and "hunter2" not in repr(err.value)
    with pytest.raises(ConfigError) as err:
        Client(f"ftp://admin:hunter2@{host}", sim.token)
    assert "hunter2" not in str(err.value)


def test_latest_for_a_restore_holds_the_kinds_it_restores(sim: Simulator, tmp_path: Path) -> None:
    """An export of only some kinds is complete, but a full restore must not take it for `latest`."""
    store = LocalStore(tmp_path)
    full = _export(sim, store)
    partial = export(Client(sim.url, sim.token), store, INSTANCE, ("projects",)).backup_id
    assert backup.resolve(store, INSTANCE, "latest") == partial
    assert backup.resolve(store, INSTANCE, "latest", require=("projects",)) == partial
    assert backup.resolve(store, INSTANCE, "latest", require=("projects", "applications")) == full
    assert backup.load(store, INSTANCE, "latest", require=("clusters",)).backup_id == full


def test_prune_keeps_the_newest_trusted_backup_and_ignores_foreign_folders(sim: Simulator, tmp_path: Path) -> None:
    """Nightly flagged exports must not push the last good backup out of --keep-last; `manual/` is not ours."""
    store = LocalStore(tmp_path)
    good = _export(sim, store)
    with sim.lock:  # the instance empties: every later export is flagged suspicious
        sim.projects.clear()
        sim.certificates = []  # stored in two ConfigMaps: assigned whole
    flagged = [_export(sim, store) for _ in range(2)]
    assert all(backup.read_manifest(store, INSTANCE, f).get("suspicious") for f in flagged)
    store.put(f"{INSTANCE}/manual/{backup.MANIFEST}", b"hand-copied: true\n")
    result = prune(store, INSTANCE, Policy(last=1))
    assert result.kept == [flagged[1], good]  # the newest, and the newest trusted one
    assert result.deleted == [flagged[0]]
    assert store.get(f"{INSTANCE}/manual/{backup.MANIFEST}") == b"hand-copied: true\n"


def test_verify_of_a_partial_export_checks_only_the_references_it_can(sim: Simulator, tmp_path: Path) -> None:
    """`--kinds applications` holds no projects on purpose; a project missing from a full export is a problem."""
    from drkit.backup.verify import verify
    from drkit.testing.seed import load

    load(
        sim,
        {
            "projects": [
                {
                    "metadata": {"name": "team"},
                    "spec": {"sourceRepos": ["*"], "destinations": [{"server": "*", "namespace": "*"}]},
                }
            ],
            "applications": [
                {
                    "metadata": {"name": "app"},
                    "spec": {
                        "project": "team",
                        "source": {"repoURL": "https://git.example.com/x.git", "path": "."},
                        "destination": {"server": "https://kubernetes.default.svc", "namespace": "x"},
                    },
                }
            ],
        },
    )
    store = LocalStore(tmp_path)
    partial = export(Client(sim.url, sim.token), store, INSTANCE, ("applications",)).backup_id
    assert verify(store, INSTANCE, partial).problems == []
    full = _export(sim, store)
    assert verify(store, INSTANCE, full).ok
    manifest = backup.read_manifest(store, INSTANCE, full)
    project = next(e for e in manifest["objects"] if e["kind"] == "projects" and e["name"] == "team")
    manifest["objects"].remove(project)
    manifest["counts"]["projects"] -= 1
    store.put(f"{INSTANCE}/{full}/{backup.MANIFEST}", backup.dump(manifest))
    store.delete(f"{INSTANCE}/{full}/{project['key']}")  # a file the manifest does not list is a problem of its own
    assert verify(store, INSTANCE, full).problems == ["applications/argocd/app: project 'team' is not in the backup"]
