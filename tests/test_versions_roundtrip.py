"""The demo instance restored with `--sync --wait` onto each simulated Argo CD version (issue 8's "done when").

The backup comes from the 3.6 demo (apps armed with `automated: {prune: true}`, a paused app, an ApplicationSet
whose template is armed with prune). On every version no app may auto-sync before drkit re-arms it (the
simulator records each automated sync its controller starts), every app ends Synced/Healthy, and automated sync
is as in the backup, except where the target cannot hold it: before v3.1.0 a paused app is left without
`automated`. Before v3.5.0 the platform project's sync window loses `syncOverrun`, a project restriction: the
restore fails it unless `--allow-field-loss`, and reports it either way.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from drkit.cli import main
from drkit.testing import Simulator
from tests import test_roundtrip as roundtrip
from tests.test_roundtrip import CREDENTIALS, ENV, report, restore_args

source = roundtrip.source  # the demo instance (3.6), module-scoped
store = roundtrip.store  # one export of it
VERSIONS = ["2.10", "2.11", "2.12", "2.13", "2.14", "3.0", "3.1", "3.2", "3.3", "3.4", "3.5", "3.6"]
OVERRUN = "spec.syncWindows[1].syncOverrun"


def automated(sim: Simulator) -> dict[tuple[str, str], Any]:
    with sim.lock:
        return {k: a["spec"].get("syncPolicy", {}).get("automated") for k, a in sim.applications.items()}


def expected_automated(source: Simulator, version: str) -> dict[tuple[str, str], Any]:
    out = automated(source)
    if version.startswith("2.") or version == "3.0":  # no automated.enabled before v3.1.0: left without automated
        out = {k: (None if v and v.get("enabled") is False else v) for k, v in out.items()}
    return out


@pytest.mark.parametrize("version", VERSIONS)
def test_demo_restores_synced_healthy_and_rearmed_with_nothing_auto_synced_first(
    source: Simulator, store: Path, version: str
) -> None:
    lossy = version not in ("3.5", "3.6")
    with Simulator(app_namespaces=("team-a",), argocd_version=version) as target:
        extra = ["--allow-field-loss"] if lossy else []
        args = restore_args(target, store, "--credentials", str(CREDENTIALS), "--sync", "--wait", "-o", "json", *extra)
        result = CliRunner().invoke(main, args, env=ENV)
        assert result.exit_code == 0, result.output
        doc = report(result)
        assert target.auto_synced == []  # nothing synced by itself before drkit re-armed it
        assert {(a["sync"], a["health"]) for a in doc["apps"]} == {("Synced", "Healthy")}
        assert automated(target) == expected_automated(source, version)
    dropped = {(o["name"], d["path"]) for o in doc["objects"] for d in o.get("dropped", [])}
    assert dropped == ({("platform", OVERRUN)} if lossy else set())
    back = doc["read_back"]
    assert back["as_written"] == back["written"] - len(dropped)
    if version.startswith("2.") or version == "3.0":
        paused = [a for a in doc["apps"] if "left without automated" in (a["message"] or "")]
        assert len(paused) == 1


def test_without_allow_field_loss_the_lossy_project_fails_and_its_apps_wait(source: Simulator, store: Path) -> None:
    with Simulator(app_namespaces=("team-a",), argocd_version="3.0") as target:
        args = restore_args(target, store, "--credentials", str(CREDENTIALS), "--no-sync", "-o", "json")
        result = CliRunner().invoke(main, args, env=ENV)
    assert result.exit_code == 3, result.output
    objects = {(o["kind"], o["name"]): o for o in report(result)["objects"]}
    platform = objects[("projects", "platform")]
    assert platform["action"] == "fail" and OVERRUN in platform["error"]
    blocked = [o for o in objects.values() if o.get("blocked_by") == "project platform"]
    assert {o["kind"] for o in blocked} == {"applications", "applicationsets"}
    assert {o["action"] for o in blocked} == {"skip"}  # nothing that depends on it was written, synced or re-armed


def test_the_dry_run_says_a_paused_app_stays_without_automated_on_a_target_before_3_1(store: Path) -> None:
    with Simulator(app_namespaces=("team-a",), argocd_version="3.0") as target:
        args = restore_args(target, store, "--credentials", str(CREDENTIALS), "--dry-run", "-o", "json")
        result = CliRunner().invoke(main, args, env=ENV)
    assert result.exit_code == 3, result.output  # project platform would be recorded failed, as below
    reasons = [o.get("reason", "") for o in report(result)["objects"] if o["kind"] == "applications"]
    assert sum("cannot hold: it will be left without automated" in r for r in reasons) == 1
    held = [r for r in reasons if r.startswith("would be held back: depends on project platform")]
    assert held  # the project that loses syncOverrun would be recorded failed without --allow-field-loss
