"""Restore of ApplicationSets and the apps they generate, on a simulator whose ApplicationSet controller is slow.

Issue 7 defects 2 and 4: a generated app is awaited (Argo CD hides a missing app behind 403, API-NOTES §2.1), and
nothing a restore writes auto-syncs before drkit re-arms it (the simulator records what its controller synced by
itself).
"""

from __future__ import annotations

import copy
import json
import signal
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from drkit.argocd import patches
from drkit.argocd.client import Client
from drkit.backup.format import Backup, load
from drkit.backup.store import open_store
from drkit.cli import main
from drkit.errors import ApiError, Stop
from drkit.restore import apply
from drkit.restore.converge import converge
from drkit.testing import Simulator, seed
from drkit.testing.versions import AUTOMATED_ENABLED

REPO = "https://git.example.com/apps/guestbook.git"
IN_CLUSTER = "https://kubernetes.default.svc"
SLOW_APPSET_SECONDS = 1.0  # well past converge's first poll (0.2 s)


def app(name: str, sync_policy: dict[str, Any] | None = None) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "project": "default",
        "source": {"repoURL": REPO, "targetRevision": "HEAD", "path": name},
        "destination": {"server": IN_CLUSTER, "namespace": name},
    }
    if sync_policy is not None:
        spec["syncPolicy"] = sync_policy
    return {"x-synced": True, "metadata": {"name": name}, "spec": spec}


SEED: dict[str, Any] = {
    "applicationsets": [
        {
            "metadata": {"name": "envs"},
            "spec": {
                "generators": [{"list": {"elements": [{"env": "dev"}, {"env": "qa"}]}}],
                "template": {
                    "metadata": {"name": "{{env}}-guestbook"},
                    "spec": {
                        "project": "default",
                        "source": {"repoURL": REPO, "targetRevision": "HEAD", "path": "envs/{{env}}"},
                        "destination": {"server": IN_CLUSTER, "namespace": "{{env}}"},
                        "syncPolicy": {"automated": {"prune": True, "selfHeal": True}},
                    },
                },
            },
        }
    ],
    "applications": [
        app("armed", {"automated": {"prune": True}, "syncOptions": ["CreateNamespace=true"]}),
        app("paused", {"automated": {"prune": True, "enabled": False}}),
        app("manual"),
    ],
}


@pytest.fixture(scope="module")
def source() -> Iterator[Simulator]:
    """The instance backed up: armed, paused and manual apps, and a set whose template is armed with prune."""
    with Simulator() as instance:
        seed.load(instance, SEED)
        yield instance


@pytest.fixture(scope="module")
def store(source: Simulator, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A local store with one export (instance `small`) of the seeded instance."""
    path = tmp_path_factory.mktemp("store")
    args = ["export", "--server", source.address, "--plaintext", "--auth-token", source.token]
    result = CliRunner().invoke(main, [*args, "--store", str(path), "--instance", "small"])
    assert result.exit_code == 0, result.output
    return path


@pytest.fixture(params=["3.6", "3.0", "2.14"])
def target(request: pytest.FixtureRequest) -> Iterator[Simulator]:
    """An empty Argo CD whose ApplicationSet controller generates a second after a set is written; before v3.1.0
    there is no `automated.enabled` and its controller syncs any app that has `automated` (VERSIONS.md)."""
    with Simulator(appset_seconds=SLOW_APPSET_SECONDS, argocd_version=request.param) as instance:
        yield instance


def restore(sim: Simulator, store: Path, *extra: str) -> Result:
    args = ["restore", "--server", sim.address, "--plaintext", "--auth-token", sim.token, "--store", str(store)]
    return CliRunner().invoke(main, [*args, "--instance", "small", "latest", "--timeout", "60", "-o", "json", *extra])


def apps_of(result: Result) -> dict[str, dict[str, Any]]:
    return {a["name"]: a for a in json.loads(result.stdout)["apps"]}


def test_generated_apps_are_awaited_past_a_slow_applicationset_controller(store: Path, target: Simulator) -> None:
    result = restore(target, store)
    assert result.exit_code == 0, result.output
    apps = apps_of(result)
    for name in ("dev-guestbook", "qa-guestbook"):
        assert (apps[name]["outcome"], apps[name]["sync"], apps[name]["health"]) == ("healthy", "Synced", "Healthy")


def test_with_no_wait_a_generated_app_not_created_yet_is_awaited_not_failed(store: Path, target: Simulator) -> None:
    result = restore(target, store, "--no-wait")
    assert result.exit_code == 0, result.output
    apps = apps_of(result)
    for name in ("dev-guestbook", "qa-guestbook"):
        assert apps[name]["outcome"] == "awaited", apps[name]
        assert "not waited for (--no-wait)" in apps[name]["message"]


def first_writes(sim: Simulator) -> dict[tuple[str, str], dict[str, Any]]:
    """The first stored version of every app and set, from the simulator's watch journal."""
    with sim.lock:
        entries = list(sim.journal.entries)
    first: dict[tuple[str, str], dict[str, Any]] = {}
    for _, kind, _, obj in entries:
        first.setdefault((kind, obj["metadata"]["name"]), obj)
    return first


def test_apps_and_appset_templates_are_created_without_automated(store: Path, target: Simulator) -> None:
    """`automated.enabled: false` is dropped by Argo CD before v3.1.0 (VERSIONS.md; v3.0.0 `types.go` has no
    `Enabled`), so the only disarmed form every version honours is no `automated` at all."""
    result = restore(target, store, "--no-sync")
    assert result.exit_code == 0, result.output
    first = first_writes(target)
    for name in ("armed", "paused", "manual"):
        assert "automated" not in first[("app", name)]["spec"].get("syncPolicy", {}), name
    template = first[("appset", "envs")]["spec"]["template"]["spec"]
    assert "automated" not in template.get("syncPolicy", {})
    assert first[("appset", "envs")]["spec"]["syncPolicy"]["applicationsSync"] == "create-update"


def test_nothing_auto_syncs_before_drkit_rearms_it_and_rearm_restores_the_backup(
    source: Simulator, store: Path, target: Simulator
) -> None:
    result = restore(target, store)
    assert result.exit_code == 0, result.output
    assert target.auto_synced == []  # the controller synced nothing by itself: every sync was drkit's, in order
    apps = apps_of(result)
    assert {(a["sync"], a["health"]) for a in apps.values()} == {("Synced", "Healthy")}
    honours_enabled = target.release >= AUTOMATED_ENABLED  # before, a paused `automated` would be armed (VERSIONS.md)
    if not honours_enabled:
        assert "which Argo CD v" in apps["paused"]["message"] and "left without automated" in apps["paused"]["message"]
    with source.lock, target.lock:
        for key, app in source.applications.items():
            want = app["spec"]
            if key[1] == "paused" and not honours_enabled:
                want = {k: v for k, v in want.items() if k != "syncPolicy"}  # its only paused form there
            assert target.applications[key]["spec"] == want, key  # paused stays paused, armed is armed
        assert target.applicationsets[("argocd", "envs")]["spec"] == source.applicationsets[("argocd", "envs")]["spec"]


PATCHED_SET: dict[str, Any] = {
    "metadata": {"name": "patched"},
    "spec": {
        "goTemplate": True,
        "generators": [{"list": {"elements": [{"env": "stage", "auto": True}, {"env": "prod", "auto": True}]}}],
        "template": {
            "metadata": {"name": "{{.env}}-patched"},
            "spec": {
                "project": "default",
                "source": {"repoURL": REPO, "targetRevision": "HEAD", "path": "envs/{{.env}}"},
                "destination": {"server": IN_CLUSTER, "namespace": "{{.env}}"},
            },
        },
        # the template has no automated: only the patch arms the generated apps (Argo CD docs, Template.md)
        "templatePatch": 'spec:\n  syncPolicy:\n    "automated": {selfHeal: {{ .auto }}}\n',
    },
}


def test_a_template_patch_that_arms_generated_apps_is_disarmed_until_rearm(tmp_path: Path, target: Simulator) -> None:
    """A templatePatch adding `automated` (applied after the template, `applyTemplatePatch`) arms generated apps as
    surely as the template: the set is written with the patch unable to arm them, and re-applied as it was."""
    with Simulator() as patched:
        seed.load(patched, {"applicationsets": [PATCHED_SET]})
        with patched.lock:
            armed = {k: a["spec"] for k, a in patched.applications.items()}
        assert {k[1]: s["syncPolicy"] for k, s in armed.items()} == {
            "stage-patched": {"automated": {"selfHeal": True}},
            "prod-patched": {"automated": {"selfHeal": True}},
        }
        args = ["export", "--server", patched.address, "--plaintext", "--auth-token", patched.token]
        exported = CliRunner().invoke(main, [*args, "--store", str(tmp_path), "--instance", "small"])
        assert exported.exit_code == 0, exported.output
        original = patched.applicationsets[("argocd", "patched")]["spec"]
    result = restore(target, tmp_path)
    assert result.exit_code == 0, result.output
    assert target.auto_synced == []  # no generated app synced by itself before drkit re-armed it
    first = first_writes(target)
    for name in ("stage-patched", "prod-patched"):
        assert "automated" not in first[("app", name)]["spec"].get("syncPolicy", {}), name
        assert apps_of(result)[name]["rearmed"] is True
    with target.lock:
        assert target.applicationsets[("argocd", "patched")]["spec"] == original  # its own templatePatch back
        assert {k: a["spec"] for k, a in target.applications.items()} == armed


def test_the_disarmed_template_patch_renames_automated_wherever_the_text_spells_it() -> None:
    """YAML block and flow keys, JSON keys and JSON-pointer paths; template actions and values are left alone."""
    yaml_patch = "spec:\n  syncPolicy:\n  {{- if .auto }}\n    automated:\n      prune: {{ .automated }}\n  {{- end }}"
    assert patches.disarmed(yaml_patch) == yaml_patch.replace("    automated:", f"    {patches.DISARMED}:")
    flow = "{spec: {syncPolicy: {'automated': {}, syncOptions: [automated]}}}"
    assert patches.disarmed(flow) == flow.replace("'automated'", f"'{patches.DISARMED}'")
    pointer = '[{"op": "add", "path": "/spec/syncPolicy/automated", "value": {"automated" : true}}]'
    assert "automated" not in patches.disarmed(pointer).replace(patches.DISARMED, "")
    assert not patches.unreadable({"spec": {"templatePatch": yaml_patch}})
    assert patches.unreadable({"spec": {"templatePatch": "spec:\n  syncPolicy: {{ .policy | toJson }}\n"}})


def test_a_template_patch_drkit_cannot_read_is_reported(tmp_path: Path) -> None:
    """A patch that writes out a template value may arm apps where the text does not say `automated`: said so."""
    unseen = copy.deepcopy(PATCHED_SET)
    unseen["spec"]["templatePatch"] = "spec:\n  syncPolicy: {{ toJson .policy }}\n"
    backup = Backup("20260101T000000Z-x", "small", {}, {"applicationsets": [unseen]})
    with Simulator() as empty:
        report = apply.restore(Client(empty.url, empty.token), backup, None, apply.RestoreOptions(dry_run=True))
    (outcome,) = report.objects
    assert outcome.action == "create" and "may auto-sync before the re-arm" in (outcome.reason or "")


class StopsAtAwait(Client):
    """A client whose restore is signalled once converge finds a generated app not created yet (its GET's 404)."""

    def __init__(self, sim: Simulator, stop: Stop) -> None:
        super().__init__(sim.url, sim.token)
        self.stop = stop

    def get(self, path: str, params: dict[str, Any] | None = None, **kw: Any) -> Any:
        try:
            return super().get(path, params, **kw)
        except ApiError as err:
            if err.status == 404 and (params or {}).get("project"):
                self.stop.on_signal(signal.SIGTERM)
            raise


def test_a_stopped_restore_lists_the_generated_apps_not_created_yet_as_still_disarmed(store: Path) -> None:
    """Stopped before the sets' re-arm, a set still tightened will create its apps disarmed: they are listed too
    (an `awaited` app is armed by its set only once the set is re-applied)."""
    stop = Stop()
    backup = load(open_store(str(store)), "small", "latest")
    options = apply.RestoreOptions(wait=False, timeout=60)
    with Simulator(appset_seconds=SLOW_APPSET_SECONDS) as sim:
        report = apply.restore(StopsAtAwait(sim, stop), backup, None, options, converge=converge, stop=stop)
    assert report.stopped.startswith("interrupted by SIGTERM")
    awaited = {r.name for r in report.converged if r.outcome == "awaited"}
    assert awaited and awaited <= {"dev-guestbook", "qa-guestbook"}
    assert {f"application argocd/{name}" for name in awaited} <= set(report.still_disarmed)
    assert "ApplicationSet argocd/envs" in report.still_disarmed


def dropping_at_rearm(sim: Simulator) -> None:
    """A target that does not keep what re-arm sends: `automated.prune` of an app update, and the `selfHeal` of an
    ApplicationSet template's `automated` (as a version without the field, or a mutating webhook, would)."""
    handlers = sim.gateway.handlers
    update, create_set = handlers["ApplicationService_Update"], handlers["ApplicationSetService_Create"]

    def app_update(req: Any) -> Any:
        (((req.body or {}).get("spec") or {}).get("syncPolicy") or {}).get("automated", {}).pop("prune", None)
        return update(req)

    def set_upsert(req: Any) -> Any:
        spec = (((req.body or {}).get("spec") or {}).get("template") or {}).get("spec") or {}
        (spec.get("syncPolicy") or {}).get("automated", {}).pop("selfHeal", None)
        return create_set(req)

    sim.gateway.register({"ApplicationService_Update": app_update, "ApplicationSetService_Create": set_upsert})


def test_what_the_target_drops_of_a_rearm_is_read_back_and_reported(store: Path) -> None:
    """Re-arm writes are read back as the first writes are: a dropped re-armed field is reported, exit 3."""
    with Simulator() as sim:
        dropping_at_rearm(sim)
        result = restore(sim, store)
    assert result.exit_code == 3, result.output
    doc = json.loads(result.stdout)
    armed = apps_of(result)["armed"]
    assert [d["path"] for d in armed["dropped"]] == ["spec.syncPolicy.automated.prune"]
    assert "did not keep spec.syncPolicy.automated.prune" in armed["message"]
    (envs,) = doc["applicationsets"]
    assert [d["path"] for d in envs["dropped"]] == ["spec.template.spec.syncPolicy.automated.selfHeal"]
    assert "did not keep spec.template.spec.syncPolicy.automated.selfHeal" in envs["rearm_error"]
    assert "did not keep" not in apps_of(result)["manual"]["message"]  # nothing re-armed, nothing dropped
