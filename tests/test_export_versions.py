"""Export from older Argo CD sources and the settings a restore's syncs depend on (issue 8 items 4 and 5)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from drkit.argocd import sources
from drkit.backup.format import load
from drkit.backup.store import open_store
from drkit.cli import main
from drkit.errors import CredentialError
from drkit.restore.apply import RestoreOptions, restore
from drkit.restore.credentials import load as load_credentials
from drkit.testing import Simulator, seed
from tests.test_restore_plan import NAMESPACES, client_of

CHARTS = "https://charts.example.com"


def export(sim: Simulator, store: Path) -> tuple[int, dict]:
    args = ["export", "--server", sim.address, "--plaintext", "--auth-token", sim.token, "--store", str(store)]
    result = CliRunner().invoke(main, [*args, "--instance", "demo", "-o", "json"])
    return result.exit_code, json.loads(result.stdout)


def manifest(store: Path, backup_id: str) -> dict:
    return yaml.safe_load((store / "demo" / backup_id / "manifest.yaml").read_text())


def test_an_unpatched_source_exports_a_complete_backup_without_its_clusters_ca_data(tmp_path: Path) -> None:
    """v3.0.13 lists clusters with caData (fixed in v3.0.14): the export used to abort on the schema and write
    nothing; now it strips them, warns naming the fix, and records what the source hides."""
    with Simulator(app_namespaces=NAMESPACES, argocd_version="3.0.13") as source:
        seed.load(source, seed.read("demo"))
        listed = client_of(source).list("clusters")
        assert any(c.get("config", {}).get("tlsClientConfig", {}).get("caData") for c in listed)  # the premise
        code, out = export(source, tmp_path)
    assert code == 3 and out["complete"] is True and out["counts"]["clusters"] >= 1
    [warning] = [w for w in out["warnings"] if w.startswith("clusters:")]
    assert "v3.0.14" in warning and "Upgrade the source" in warning
    stored = "".join(p.read_text() for p in (tmp_path / "demo" / out["backup_id"] / "clusters").glob("*.yaml"))
    assert "caData" not in stored and "execProviderConfig" not in stored and "certData" not in stored
    kept = manifest(tmp_path, out["backup_id"])
    assert kept["sourceHides"] == ["repocreds.type", "repocreds.enableOCI"]  # v3.0.13 still lists usernames
    assert kept["argocdSettings"]["trackingMethod"] == "annotation"  # reported when unset from v3.0.2
    assert kept["argocdSettings"]["appLabelKey"] == "app.kubernetes.io/instance"


def test_a_patched_source_warns_about_nothing_and_records_hidden_usernames(tmp_path: Path) -> None:
    with Simulator(app_namespaces=NAMESPACES, argocd_version="3.5") as source:
        seed.load(source, seed.read("demo"))
        code, out = export(source, tmp_path)
    assert code == 0 and out["warnings"] == []
    kept = manifest(tmp_path, out["backup_id"])
    assert kept["sourceHides"] == ["repositories.username", "repocreds.type", "repocreds.enableOCI"]
    assert kept["argocdSettings"]["trackingMethod"] == "annotation"
    backup = load(open_store(str(tmp_path)), "demo", out["backup_id"])
    with Simulator(app_namespaces=NAMESPACES) as target:
        notes = restore(client_of(target), backup, None, RestoreOptions(dry_run=True)).notes
    assert any(n.startswith("repositories: the backup's source (Argo CD v3.5.1+") for n in notes)


def test_hidden_fields_by_release() -> None:
    assert sources.hidden_fields((3, 6, 0)) == []
    assert sources.hidden_fields((3, 1, 1)) == ["repocreds.type", "repocreds.enableOCI"]
    assert sources.hidden_fields((3, 1, 2))[0] == "repositories.username"
    assert sources.hidden_fields(None) == []
    assert [sources.exposes_cluster_secrets(v) for v in ((2, 14, 15), (2, 14, 16), (3, 2, 0), None)] == [
        True, False, False, False,
    ]  # fmt: skip


def test_a_template_type_comes_from_the_repositories_under_it_or_the_credentials_file(tmp_path: Path) -> None:
    objects = {
        "repocreds": [{"url": CHARTS}, {"url": "https://git.example.com/team"}, {"url": "https://mixed.example.com"}],
        "repositories": [
            {"repo": f"{CHARTS}/stable", "type": "helm"},
            {"repo": "https://git.example.com/team/app.git"},
            {"repo": "https://mixed.example.com/a", "type": "helm"},
            {"repo": "https://mixed.example.com/b", "type": "git"},
        ],
    }
    filled, notes = sources.fill_repocreds_types(objects, None)
    assert [d["type"] for d in filled["repocreds"]] == ["helm", "git", "git"]
    assert len(notes) == 2 and "type helm inferred" in notes[0] and "types git, helm" in notes[1]
    assert "type" not in objects["repocreds"][0]  # the backup's own documents are left alone
    file = tmp_path / "credentials.yaml"
    file.write_text("repocreds:\n  https://mixed.example.com:\n    type: oci\n    username: bot\n")
    filled, notes = sources.fill_repocreds_types(objects, load_credentials(file, env={}, fetch_secret=None))
    assert [d["type"] for d in filled["repocreds"]] == ["helm", "git", "oci"] and len(notes) == 1
    file.write_text("repocreds:\n  https://mixed.example.com:\n    type: svn\n")
    with pytest.raises(CredentialError) as refused:
        load_credentials(file, env={}, fetch_secret=None)
    assert "type: must be git, helm or oci" in str(refused.value.problems)


def test_a_helm_template_from_a_3_5_source_is_restored_as_helm(tmp_path: Path) -> None:
    """The v3.5 repocreds list has only url and username: the backup lacks the type, the restore infers it."""
    with Simulator(app_namespaces=NAMESPACES, argocd_version="3.5") as source:
        client = client_of(source)
        client.post("/api/v1/repocreds", {"url": CHARTS, "type": "helm", "username": "u", "password": "p"})
        client.post("/api/v1/repositories", {"repo": f"{CHARTS}/stable", "type": "helm", "name": "stable"})
        code, out = export(source, tmp_path)
    assert code == 0
    backup = load(open_store(str(tmp_path)), "demo", out["backup_id"])
    assert "type" not in backup.objects["repocreds"][0]
    with Simulator(app_namespaces=NAMESPACES) as target:
        report = restore(client_of(target), backup, None, RestoreOptions(sync=False))
        assert [c["type"] for c in client_of(target).list("repocreds")] == ["helm"]
    assert any("type helm inferred" in note for note in report.notes)


def test_restore_warns_before_writing_when_the_tracking_method_differs(tmp_path: Path) -> None:
    """A v2.14 source tracked by label (its default); a v3.6 target by annotation: warned before any write."""
    with Simulator(app_namespaces=NAMESPACES, argocd_version="2.14") as source:
        seed.load(source, seed.read("demo"))
        code, out = export(source, tmp_path)
    backup = load(open_store(str(tmp_path)), "demo", out["backup_id"])
    heard: list[tuple[str, int]] = []
    with Simulator(app_namespaces=NAMESPACES) as target:
        warn = lambda text: heard.append((text, len(target.gateway.mutating_requests())))  # noqa: E731
        report = restore(client_of(target), backup, None, RestoreOptions(sync=False, allow_field_loss=True), warn=warn)
    assert heard and heard[0][1] == 0  # before the first write
    assert heard[0][0].startswith("settings: trackingMethod is 'annotation' on the target but was 'label'")
    assert "application.resourceTrackingMethod" in heard[0][0]
    assert report.notes[0] == heard[0][0]
    with Simulator(app_namespaces=NAMESPACES, argocd_version="2.14") as same:
        quiet: list[str] = []
        restore(client_of(same), backup, None, RestoreOptions(dry_run=True), warn=quiet.append)
    assert quiet == []
