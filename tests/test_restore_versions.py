"""Restore onto older Argo CD versions: the dry run predicts the fields a target drops, apply reads back what was
stored, and an object that lost a field bearing policy is failed with its dependants held back (issue 8)."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from drkit.argocd.kinds import KINDS
from drkit.backup.format import Backup
from drkit.restore import readback
from drkit.restore.apply import RestoreOptions, diff, restore
from drkit.restore.converge import converge
from drkit.testing import Simulator
from tests import test_restore_plan as shared
from tests.test_restore_plan import NAMESPACES, client_of

source = shared.source  # the demo instance as a backup, built once per module
IN_CLUSTER = {"server": "https://kubernetes.default.svc", "namespace": "lossy"}
GUESTBOOK = "https://git.example.com/apps/guestbook.git"


def app(name: str, project: str = "default", **extra: object) -> dict:
    source = {"repoURL": GUESTBOOK, "path": "guestbook", "targetRevision": "HEAD"}
    spec = {"project": project, "source": source, "destination": IN_CLUSTER} | extra
    return {"apiVersion": "argoproj.io/v1alpha1", "kind": "Application",
            "metadata": {"name": name, "namespace": "argocd"}, "spec": spec}  # fmt: skip


def lossy_backup() -> Backup:
    """One object per class of field a v3.0 target lacks (VERSIONS.md), and one that depends on a lossy one."""
    window = {"kind": "allow", "schedule": "0 1 * * *", "duration": "1h", "applications": ["*"],
              "description": "nightly", "syncOverrun": True}  # fmt: skip
    project = {"apiVersion": "argoproj.io/v1alpha1", "kind": "AppProject", "metadata": {"name": "lossy"},
               "spec": {"sourceRepos": ["*"], "destinations": [{"server": "*", "namespace": "*"}],
                        "syncWindows": [window]}}  # fmt: skip
    files = [{"path": "apps/*/config.json"}, {"path": "apps/legacy/config.json", "exclude": True}]
    template = {"metadata": {"name": "{{path.basename}}"}, "spec": app("x")["spec"]}
    appset = {"apiVersion": "argoproj.io/v1alpha1", "kind": "ApplicationSet",
              "metadata": {"name": "lossy-set", "namespace": "argocd"},
              "spec": {"generators": [{"git": {"repoURL": GUESTBOOK, "revision": "HEAD", "files": files}}],
                       "template": template}}  # fmt: skip
    tagged = app("lossy-rendering")
    tagged["spec"]["source"]["tagPrefix"] = "guestbook/"
    repo = {"repo": "https://git.example.com/apps/lossy.git", "type": "git", "project": "default", "depth": 1,
            "azureActiveDirectoryEndpoint": "https://login.example.com"}  # fmt: skip
    objects = {
        "repositories": [repo],
        "projects": [project],
        "applicationsets": [appset],
        "applications": [tagged, app("lossy-policy", syncPolicy={"retry": {"limit": 2, "refresh": True}}),
                         app("in-lossy-project", project="lossy"), app("kept-whole")],
    }  # fmt: skip
    return Backup("20260101T000000Z-lossy", "source", {}, objects)


@pytest.fixture
def v30() -> Iterator[Simulator]:
    with Simulator(app_namespaces=NAMESPACES, argocd_version="3.0") as sim:
        yield sim


EXPECTED = {  # (kind, name): (action without --allow-field-loss, {dropped path: class})
    ("repositories", "https://git.example.com/apps/lossy.git (project default)"): (
        "create", {"azureActiveDirectoryEndpoint": "credentials", "depth": "cosmetic"}),
    ("projects", "lossy"): ("fail", {"spec.syncWindows[0].description": "cosmetic",
                                     "spec.syncWindows[0].syncOverrun": "project restrictions"}),
    ("applicationsets", "argocd/lossy-set"): (
        "fail", {"spec.generators[0].git.files[1].exclude": "generator selection"}),
    ("applications", "argocd/lossy-rendering"): ("fail", {"spec.source.tagPrefix": "rendering"}),
    ("applications", "argocd/lossy-policy"): ("fail", {"spec.syncPolicy.retry.refresh": "sync policy"}),
    ("applications", "argocd/in-lossy-project"): ("skip", {}),
    ("applications", "argocd/kept-whole"): ("create", {}),
}  # fmt: skip


def outcomes(report) -> dict[tuple[str, str], tuple[str, dict[str, str]]]:
    return {
        (o["kind"], o["name"]): (o["action"], {d["path"]: d["effect"] for d in o.get("dropped", [])})
        for o in report.to_json()["objects"]
    }


def test_dry_run_predicts_every_dropped_field_with_its_class(v30: Simulator) -> None:
    report = restore(client_of(v30), lossy_backup(), None, RestoreOptions(dry_run=True))
    predicted = outcomes(report)
    for key, (_, dropped) in EXPECTED.items():
        assert predicted[key][1] == dropped, key
    assert report.to_json()["target_version"].startswith("v3.0.")
    policy = [o for o in report.objects if o.reason and "--allow-field-loss" in o.reason]
    assert {(o.kind, o.name) for o in policy} == {k for k, (a, _) in EXPECTED.items() if a == "fail"}
    assert any("the target will drop spec.source.tagPrefix (rendering)" in line for line in report.lines())
    assert v30.gateway.mutating_requests() == []


def test_policy_losses_fail_the_object_and_hold_back_what_depends_on_it(v30: Simulator) -> None:
    report = restore(client_of(v30), lossy_backup(), None, RestoreOptions(timeout=30), converge=converge)
    assert outcomes(report) == EXPECTED
    failed = {o.name: o.error for o in report.objects if o.action == "fail"}
    assert "did not keep spec.source.tagPrefix (rendering)" in failed["argocd/lossy-rendering"]
    assert "Argo CD v3.5.0 or later" in failed["argocd/lossy-rendering"]
    assert "--allow-field-loss" in failed["lossy"]
    assert {a["name"] for a in report.apps} == {"kept-whole"}  # nothing synced from a spec the target changed
    assert ("argocd", "lossy-rendering") in v30.applications  # written, never deleted
    assert report.to_json()["read_back"] == {"written": 6, "as_written": 1}
    assert report.lines()[-1] == "1 of 6 objects read back as written"
    assert report.exit_code == 3


def test_allow_field_loss_goes_on_and_still_reports_the_losses(v30: Simulator) -> None:
    options = RestoreOptions(sync=False, allow_field_loss=True)
    got = outcomes(restore(client_of(v30), lossy_backup(), None, options))
    for key, (_, dropped) in EXPECTED.items():
        assert got[key] == ("create", dropped), key


@pytest.mark.parametrize("version", ["2.14", "3.0", "3.1", "3.5", "3.6"])
def test_the_demo_reads_back_exactly_what_the_table_predicts_on_every_version(source: Backup, version: str) -> None:
    """No false report on a faithful target (empty equals missing), and no drop the dry run did not predict: the
    demo's only field newer than v3.1 is a sync window's `syncOverrun` (v3.5.0)."""
    with Simulator(app_namespaces=NAMESPACES, argocd_version=version) as target:
        client = client_of(target)
        planned = outcomes(restore(client, source, None, RestoreOptions(dry_run=True)))
        report = restore(client, source, None, RestoreOptions(sync=False, allow_field_loss=True))
    done = outcomes(report)
    assert {k: v[1] for k, v in done.items()} == {k: v[1] for k, v in planned.items()}
    lost = {(kind, name, path) for (kind, name), (_, dropped) in done.items() for path in dropped}
    old = version in ("2.14", "3.0", "3.1")
    expected = {("projects", "platform", "spec.syncWindows[1].syncOverrun")} if old else set()
    if version in ("2.14", "3.0"):  # a body disarmed with `automated.enabled: false` (issue 7 removes that form)
        disarmed = [s for s in report.plan.by_kind("applications") if '"enabled": false' in json.dumps(s.body)]
        expected |= {("applications", s.name, "spec.syncPolicy.automated.enabled") for s in disarmed}
    assert lost == expected
    back = report.to_json()["read_back"]
    assert back["written"] > 20 and back["as_written"] == back["written"] - len(lost), report.lines()


def test_read_back_treats_what_argo_cd_cannot_tell_apart_as_kept() -> None:
    """omitempty and the protobuf hop: empty strings, false, 0, {} and [] equal missing (API-NOTES §1,
    tests/sim/test_equality.py); `automated.enabled: true` equals its absence (v3.1.0 types.go); additions are fine."""
    automated = {"automated": {"enabled": True, "prune": True}}
    sent = {"spec": {"a": "", "b": False, "c": 0, "d": {}, "e": [], "f": {"g": None},
                     "syncPolicy": automated, "list": [{"x": 1}, {"y": 2}]}}  # fmt: skip
    stored = {"spec": {"syncPolicy": {"automated": {"prune": True}}, "list": [{"x": 1}, {"y": 2, "z": 3}], "new": 1}}
    assert readback.lost(sent, stored) == []
    assert readback.lost(sent, {"spec": {"list": [{"x": 1}]}}) == ["spec.syncPolicy.automated.prune", "spec.list[1].y"]
    paused = {"spec": {"syncPolicy": {"automated": {"enabled": False}}}}
    got = readback.observed("applications", paused, {"metadata": {}, "spec": {"syncPolicy": {"automated": {}}}})
    assert [(x.path, x.effect, x.policy) for x in got] == [("spec.syncPolicy.automated.enabled", "sync policy", True)]


def test_diff_shows_per_object_the_fields_the_targets_version_would_drop(v30: Simulator) -> None:
    """`diff` predicts what a restore's plan does (readback.predict_plan): each object's dropped fields, with their
    class, in the JSON (additive `dropped`) and the human lines."""
    report = diff(client_of(v30), lossy_backup(), RestoreOptions(dry_run=True))
    doc = report.to_json()
    got = {(o["kind"], o["name"]): {d["path"]: d["effect"] for d in o.get("dropped", [])} for o in doc["objects"]}
    for key, (_, dropped) in EXPECTED.items():
        assert got[key] == dropped, key
    assert doc["target_version"].startswith("v3.0.")
    line = next(x for x in report.lines() if "argocd/lossy-rendering" in x)
    assert "the target (v3.0." in line and "would drop spec.source.tagPrefix (rendering)" in line
    kept = next(x for x in report.lines() if "argocd/kept-whole" in x)
    assert "would drop" not in kept


def test_a_dry_run_that_predicts_failures_exits_3_and_lists_them(v30: Simulator) -> None:
    """What the restore would record failed (a policy loss without --allow-field-loss) makes the dry run exit 3, as
    the restore would, and each is listed; the objects held back behind them are listed as such."""
    report = restore(client_of(v30), lossy_backup(), None, RestoreOptions(dry_run=True))
    assert report.exit_code == 3 and report.to_json()["ok"] is False
    failing = {k for k, (action, _) in EXPECTED.items() if action == "fail"}
    assert {(o["kind"], o["name"]) for o in report.to_json()["objects"] if o.get("would_fail")} == failing
    lines = report.lines()
    listed = lines[lines.index("would fail (the restore would exit 3):") + 1 :]
    assert {line.strip() for line in listed[: len(failing)]} == {
        f"- {KINDS[kind].singular} {name}" for kind, name in failing
    }
    assert "exit code 3" in lines[-1]
    faithful = restore(client_of(v30), lossy_backup(), None, RestoreOptions(dry_run=True, allow_field_loss=True))
    assert faithful.exit_code == 0  # with the loss accepted, nothing would fail
