"""Restore writes over real HTTP: order, idempotence, remaps, credentials, partial failure and the report."""

from __future__ import annotations

import copy
import json

import pytest

from drkit.backup.format import Backup
from drkit.errors import AuthError, ConfigError
from drkit.restore.apply import RestoreOptions, restore
from drkit.restore.converge import converge
from drkit.restore.credentials import load as load_credentials
from drkit.testing import Simulator
from drkit.testing.gateway import UNAUTHENTICATED, GrpcError
from drkit.testing.repositories import normalize_url
from tests import test_restore_plan as shared
from tests.test_restore_plan import client_of

source = shared.source  # the demo instance as a backup, built once per module
target = shared.target  # a fresh simulator with the demo's app namespaces

GUESTBOOK = "https://git.example.com/apps/guestbook.git"


def by_name(report) -> dict[tuple[str, str], object]:
    return {(o.kind, o.name): o for o in report.objects}


def test_restore_then_again_is_all_unchanged_and_writes_nothing(source: Backup, target: Simulator) -> None:
    client = client_of(target)
    first = restore(client, source, None, RestoreOptions(timeout=30), converge=converge)
    assert first.exit_code == 0, first.lines()
    assert first.apps and all(a["sync"] == "Synced" and a["health"] == "Healthy" for a in first.apps)
    auto = target.applications[("argocd", "cert-manager")]["spec"]["syncPolicy"]["automated"]
    assert auto.get("enabled", True) is True  # re-armed after it became healthy
    before = len(target.gateway.mutating_requests())
    second = restore(client, source, None, RestoreOptions(sync=False))
    assert {o.action for o in second.objects} <= {"unchanged", "skip"}
    assert {o.action for o in second.objects if o.kind not in ("certificates", "applications")} == {"unchanged"}
    assert len(target.gateway.mutating_requests()) == before


def test_second_run_after_a_run_that_never_rearmed(source: Backup, target: Simulator) -> None:
    client = client_of(target)
    first = restore(client, source, None, RestoreOptions(sync=False))
    assert "automated" not in target.applications[("argocd", "cert-manager")]["spec"]["syncPolicy"]
    assert any("disarmed" in n for n in first.notes)
    before = len(target.gateway.mutating_requests())
    second = restore(client, source, None, RestoreOptions(sync=False))
    assert "create" not in {o.action for o in second.objects} and "update" not in {o.action for o in second.objects}
    assert len(target.gateway.mutating_requests()) == before


def test_app_on_target_not_in_backup_is_untouched(source: Backup, target: Simulator) -> None:
    client = client_of(target)
    local = {
        "metadata": {"name": "local-only", "namespace": "argocd"},
        "spec": {
            "project": "default",
            "source": {"repoURL": "https://example.com/x.git", "path": "."},
            "destination": {"server": "https://kubernetes.default.svc", "namespace": "x"},
        },
    }
    client.post("/api/v1/applications", local, {"validate": "false"})
    kept = target.applications[("argocd", "local-only")]["spec"]
    before = len(target.gateway.mutating_requests())
    restore(client, source, None, RestoreOptions(sync=False))
    assert target.applications[("argocd", "local-only")]["spec"] == kept
    assert not [r for r in target.gateway.mutating_requests()[before:] if "local-only" in r[1]]
    assert not [r for r in target.gateway.mutating_requests() if r[0] == "DELETE"]


def test_remaps_land_in_the_target(source: Backup, target: Simulator) -> None:
    options = RestoreOptions(
        sync=False,
        remap_clusters={"https://prod.k8s.example.com:6443": "https://prod-2.k8s.example.com:6443"},
        remap_repos={"https://git.example.com/": "https://git.new.example.com/"},
    )
    report = restore(client_of(target), source, None, options)
    assert not [o for o in report.objects if o.action == "fail"], report.lines()
    assert "https://prod-2.k8s.example.com:6443" in target.clusters
    assert "https://prod.k8s.example.com:6443" not in target.clusters
    assert (normalize_url("https://git.new.example.com/apps/guestbook.git"), "") in target.repositories
    assert "https://git.new.example.com/platform" in target.repocreds
    app = target.applications[("argocd", "guestbook-kustomize")]
    assert app["spec"]["source"]["repoURL"] == "https://git.new.example.com/apps/guestbook.git"


def test_unmatched_remap_rule_errors_before_any_write(source: Backup, target: Simulator) -> None:
    options = RestoreOptions(remap_clusters={"https://prod.k8s.example.com:6444": "https://x:6443"})
    with pytest.raises(ConfigError, match="matches nothing.*https://prod.k8s.example.com:6443"):
        restore(client_of(target), source, None, options)
    assert target.gateway.mutating_requests() == []


def test_failing_repository_skips_its_dependants_and_the_rest_goes_on(source: Backup, target: Simulator) -> None:
    target.unreachable.add(GUESTBOOK)
    report = restore(client_of(target), source, None, RestoreOptions(sync=False))
    objects = by_name(report)
    failed = objects[("repositories", GUESTBOOK)]
    assert failed.action == "fail"
    assert failed.error.startswith(f"repository {GUESTBOOK}: Argo CD could not connect (HTTP 500: ")
    assert failed.error.endswith("; add it to the credentials file")
    dependant = objects[("applications", "argocd/guestbook-kustomize")]
    assert dependant.action == "skip" and GUESTBOOK in dependant.reason
    assert ("argocd", "guestbook-kustomize") not in target.applications
    assert objects[("applications", "argocd/billing")].action == "create"
    assert ("argocd", "billing") in target.applications
    assert report.exit_code == 3 and report.to_json()["ok"] is False


def test_secrets_from_the_credentials_file_arrive(source: Backup, target: Simulator, tmp_path) -> None:
    path = tmp_path / "credentials.yaml"
    path.write_text(
        f"repositories:\n  {GUESTBOOK}:\n    password: {{env: GUESTBOOK_TOKEN}}\n"
        "clusters:\n  https://prod.k8s.example.com:6443:\n    bearerToken: {file: prod-token}\n"
    )
    (tmp_path / "prod-token").write_text("cluster-secret\n")
    credentials = load_credentials(path, env={"GUESTBOOK_TOKEN": "s3cret"}, fetch_secret=None)
    report = restore(client_of(target), source, credentials, RestoreOptions(sync=False))
    assert target.repositories[(normalize_url(GUESTBOOK), "")]["password"] == "s3cret"
    assert target.clusters["https://prod.k8s.example.com:6443"]["config"]["bearerToken"] == "cluster-secret"
    text = json.dumps(report.to_json()) + "\n".join(report.lines())
    assert "s3cret" not in text and "cluster-secret" not in text
    assert f"repository {GUESTBOOK}: credentials re-injected from the credentials file" in report.not_in_backup
    assert f"repositories/{GUESTBOOK}" not in report.to_json()["needs_credentials"]


def test_project_tokens_are_listed_and_not_restored(source: Backup, target: Simulator) -> None:
    report = restore(client_of(target), source, None, RestoreOptions(sync=False))
    roles = target.projects["platform"]["spec"]["roles"]
    assert all(not role.get("jwtTokens") for role in roles)
    assert report.to_json()["tokens_to_reissue"] == [{"project": "platform", "role": "ci-role", "ids": ["ci-2026"]}]
    assert any("ci-role" in line and "ci-2026" in line for line in report.not_in_backup)


def test_cluster_401_is_that_cluster_failing(source: Backup, target: Simulator) -> None:
    def refuse(req):
        raise GrpcError(UNAUTHENTICATED, "the server has asked for the client to provide credentials")

    target.gateway.handlers["ClusterService_Create"] = refuse
    report = restore(client_of(target), source, None, RestoreOptions(sync=False))
    failed = by_name(report)[("clusters", "https://prod.k8s.example.com:6443")]
    assert failed.action == "fail" and "not from drkit's token" in failed.error
    skipped = [o for o in report.objects if o.blocked_by]
    assert skipped and all(o.kind == "applications" and o.action == "skip" for o in skipped)
    assert "cluster https://prod.k8s.example.com:6443" in {o.blocked_by for o in skipped}
    assert all(o.blocked_by.startswith("cluster https://") for o in skipped)  # every cluster create was refused
    assert all(o.reason == f"depends on {o.blocked_by}, which was not restored" for o in skipped)
    assert all(o.to_json()["blocked_by"] == o.blocked_by for o in skipped)
    assert by_name(report)[("applications", "argocd/root-apps")].action == "create"  # in-cluster


def test_refused_token_aborts(source: Backup, target: Simulator) -> None:
    client = client_of(target)
    client.session.headers["Authorization"] = "Bearer a.b.c"
    with pytest.raises(AuthError):
        restore(client, source, None, RestoreOptions(sync=False))
    assert target.gateway.mutating_requests() == []


def test_json_report_shape(source: Backup, target: Simulator) -> None:
    report = restore(client_of(target), source, None, RestoreOptions(timeout=30), converge=converge)
    doc = json.loads(json.dumps(report.to_json()))
    assert {"backup_id", "dry_run", "ok", "objects", "apps"} <= set(doc)
    assert doc["backup_id"] == source.backup_id and doc["dry_run"] is False
    for item in doc["objects"]:
        assert {"kind", "name", "action"} <= set(item)
        assert item["action"] in ("create", "update", "unchanged", "skip", "fail")
    for app in doc["apps"]:
        assert {"name", "sync", "health", "phase"} <= set(app)
    assert report.lines()[-2].startswith("summary: ")
    written = sum(1 for o in doc["objects"] if o["action"] in ("create", "update"))
    assert doc["read_back"] == {"written": written, "as_written": written}  # a faithful target drops nothing
    assert report.lines()[-1] == f"{written} of {written} objects read back as written"


def test_changed_app_is_updated_in_place(source: Backup, target: Simulator) -> None:
    client = client_of(target)
    restore(client, source, None, RestoreOptions(sync=False))
    changed = copy.deepcopy(source)
    app = next(a for a in changed.objects["applications"] if a["metadata"]["name"] == "api")
    app["metadata"].setdefault("labels", {})["tier"] = "gold"
    report = restore(client, changed, None, RestoreOptions(sync=False))
    assert by_name(report)[("applications", "team-a/api")].action == "update", report.lines()
    assert target.applications[("team-a", "api")]["metadata"]["labels"]["tier"] == "gold"
    assert [r for r in target.gateway.mutating_requests() if r[0] == "PUT"]


def test_kinds_applications_brings_what_the_apps_need_only_where_missing(source: Backup, target: Simulator) -> None:
    """`--kinds applications` on a fresh target creates the projects, clusters and repositories the apps need;
    where the target already has one that differs, it is left alone (skip, with the differences)."""
    client = client_of(target)
    report = restore(client, source, None, RestoreOptions(kinds=("applications",), sync=False))
    actions = {(o.kind, o.name): o.action for o in report.objects}
    assert report.exit_code == 0, report.lines()
    assert actions[("projects", "team-a")] == "create"
    assert actions[("clusters", "https://prod.k8s.example.com:6443")] == "create"
    assert actions[("applications", "argocd/billing")] == "create"
    assert not any(kind in ("certificates", "gpgkeys", "applicationsets") for kind, _ in actions)
    project = {"metadata": {"name": "team-a"}, "spec": copy.deepcopy(target.projects["team-a"]["spec"])}
    project["spec"]["description"] = "changed on the target"
    client.post("/api/v1/projects", {"project": project, "upsert": True})
    again = restore(client, source, None, RestoreOptions(kinds=("applications",), sync=False))
    step = next(o for o in again.objects if (o.kind, o.name) == ("projects", "team-a"))
    assert step.action == "skip" and "spec.description" in step.reason
    assert target.projects["team-a"]["spec"]["description"] == "changed on the target"
