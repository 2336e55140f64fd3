"""End-to-end restore promises through the CLI: export the demo instance, restore it, compare object by object.

What a restore promises (DESIGN.md "The flow", "Safe by default", "Partial failure is a result"; CONTRACT.md
exit codes and JSON), checked on the simulators' internal state, secrets included.
"""

from __future__ import annotations

import copy
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from drkit.argocd.client import Client
from drkit.cli import main
from drkit.testing import Simulator, seed
from drkit.testing.repositories import normalize_url

ROOT = Path(__file__).resolve().parent.parent
CREDENTIALS = ROOT / "runbooks" / "demo-credentials.yaml"
ENV = {"DEMO_GUESTBOOK_PASSWORD": "demo-password-2"}  # the one {env: ...} value of the demo credentials file
SERVER_METADATA = ("uid", "resourceVersion", "generation", "creationTimestamp", "managedFields", "selfLink")
REFRESH = "argocd.argoproj.io/refresh"
GUESTBOOK = "https://git.example.com/apps/guestbook.git"
STAGING, STAGING_2 = "https://staging.k8s.example.com:6443", "https://staging-2.k8s.example.com:6443"


# fixtures and helpers -------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def source() -> Iterator[Simulator]:
    """The demo instance: what the backup is taken from, and what every restore is compared with."""
    with Simulator(app_namespaces=("team-a",)) as instance:
        seed.load(instance, seed.read("demo"))
        yield instance


@pytest.fixture(scope="module")
def store(source: Simulator, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A local store holding one export of the demo instance (instance `demo`), made with the CLI."""
    path = tmp_path_factory.mktemp("store")
    args = ["export", "--server", source.address, "--plaintext", "--auth-token", source.token, "--store", str(path)]
    result = CliRunner().invoke(main, [*args, "--instance", "demo", "-o", "json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["complete"] is True
    return path


def fresh() -> Simulator:
    return Simulator(app_namespaces=("team-a",)).start()


@pytest.fixture
def target() -> Iterator[Simulator]:
    """A fresh, empty Argo CD with the demo's application namespace enabled."""
    instance = fresh()
    yield instance
    instance.stop()


def restore_args(sim: Simulator, store: Path, *extra: str, token: str | None = None) -> list[str]:
    auth = ["--server", sim.address, "--plaintext", "--auth-token", token or sim.token]
    return ["restore", *auth, "--store", str(store), "--instance", "demo", "latest", "--timeout", "60", *extra]


def run_restore(sim: Simulator, store: Path, *extra: str, env: dict[str, str] | None = None, **kw: Any) -> Result:
    """`drkit restore ... -o json` with the demo credentials file, in-process."""
    args = restore_args(sim, store, "--credentials", str(CREDENTIALS), "-o", "json", *extra, **kw)
    return CliRunner().invoke(main, args, env=ENV if env is None else env)


def report(result: Result) -> dict[str, Any]:
    return json.loads(result.stdout)


def actions(doc: dict[str, Any]) -> dict[tuple[str, str], dict[str, Any]]:
    return {(o["kind"], o["name"]): o for o in doc["objects"]}


def _meta(obj: dict[str, Any]) -> dict[str, Any]:
    """An object without what the server owns: status, operation, server metadata, owner uids, refresh marks."""
    out = copy.deepcopy(obj)
    out.pop("status", None)
    out.pop("operation", None)
    meta = out.get("metadata", {})
    for name in SERVER_METADATA:
        meta.pop(name, None)
    for ref in meta.get("ownerReferences", []):
        ref.pop("uid", None)
    meta.get("annotations", {}).pop(REFRESH, None)
    if not meta.get("annotations", True):
        meta.pop("annotations")
    return out


def _project(obj: dict[str, Any]) -> dict[str, Any]:
    out = _meta(obj)
    for role in out.get("spec", {}).get("roles", []):
        role.pop("jwtTokens", None)
    return out


def state(sim: Simulator) -> dict[str, Any]:
    """Everything a restore can bring back, secrets included, as the simulator holds it."""
    with sim.lock:
        return copy.deepcopy(
            {
                "repositories": sim.repositories,
                "repocreds": sim.repocreds,
                "clusters": sim.clusters,
                "certificates": sorted(sim.certificates, key=lambda c: json.dumps(c, sort_keys=True)),
                "gpgkeys": sim.gpgkeys,
                "projects": {k: _project(v) for k, v in sim.projects.items()},
                "applicationsets": {k: _meta(v) for k, v in sim.applicationsets.items()},
                "applications": {k: _meta(v) for k, v in sim.applications.items()},
            }
        )


def assert_same_state(got: dict[str, Any], want: dict[str, Any]) -> None:
    """Kind by kind, object by object, so a failure names the object that differs."""
    for kind in want:
        if isinstance(want[kind], list):
            assert got[kind] == want[kind], kind
            continue
        assert sorted(got[kind], key=str) == sorted(want[kind], key=str), kind
        for key, obj in want[kind].items():
            assert got[kind][key] == obj, f"{kind} {key}"


def app_states(sim: Simulator) -> dict[tuple[str, str], tuple[str, str]]:
    with sim.lock:
        return {
            key: (
                app.get("status", {}).get("sync", {}).get("status"),
                app.get("status", {}).get("health", {}).get("status"),
            )
            for key, app in sim.applications.items()
        }


def assert_all_synced_and_healthy(sim: Simulator) -> None:
    states = app_states(sim)
    assert len(states) == 16  # 12 apps written, 4 recreated by the two ApplicationSets
    assert {k: v for k, v in states.items() if v != ("Synced", "Healthy")} == {}


def wait_for(condition: Any, attempts: int = 500) -> None:
    """Poll in tiny steps until `condition()` holds (no wall-clock assertion: a bounded number of tries)."""
    for _ in range(attempts):
        if condition():
            return
        time.sleep(0.01)
    raise AssertionError("condition never held")


# the round trip ---------------------------------------------------------------------------------------------------


def test_round_trip_restores_everything_secrets_included(source: Simulator, store: Path, target: Simulator) -> None:
    result = run_restore(target, store)
    assert result.exit_code == 0, result.output
    doc = report(result)
    assert doc["ok"] is True and doc["dry_run"] is False
    assert not [o for o in doc["objects"] if o["action"] == "fail"]
    assert_same_state(state(target), state(source))
    assert target.repositories[(normalize_url(GUESTBOOK), "")]["password"] == "demo-password-2"  # from {env: ...}
    assert target.clusters["https://prod.k8s.example.com:6443"]["config"]["tlsClientConfig"]["caData"].startswith(
        "LS0t"
    )
    assert_all_synced_and_healthy(target)
    generated = {a["name"] for a in doc["apps"]} & {"prod-guestbook", "staging-guestbook", "team-a-payments"}
    assert len(generated) == 3  # the ApplicationSets' children are converged too, not just recreated


def test_dry_run_writes_nothing(store: Path, target: Simulator) -> None:
    result = run_restore(target, store, "--dry-run")
    assert result.exit_code == 0, result.output
    doc = report(result)
    assert doc["dry_run"] is True
    assert actions(doc)[("applications", "argocd/billing")]["action"] == "create"
    assert target.gateway.mutating_requests() == []


def test_second_restore_is_all_unchanged_and_writes_nothing(store: Path, target: Simulator) -> None:
    first = run_restore(target, store)
    assert first.exit_code == 0, first.output
    before = len(target.gateway.mutating_requests())
    snapshot = state(target)
    second = run_restore(target, store)  # with sync, the default
    assert second.exit_code == 0, second.output
    doc = report(second)
    for o in doc["objects"]:
        generated = o["kind"] == "applications" and "generated by ApplicationSet" in o.get("reason", "")
        assert o["action"] == "unchanged" or (o["action"] == "skip" and generated), o
    assert len(target.gateway.mutating_requests()) == before
    assert state(target) == snapshot


def test_an_application_not_in_the_backup_is_untouched(store: Path, target: Simulator) -> None:
    local = {
        "metadata": {"name": "local-only", "namespace": "argocd"},
        "spec": {
            "project": "default",
            "source": {"repoURL": "https://example.com/local.git", "path": "."},
            "destination": {"server": "https://kubernetes.default.svc", "namespace": "local"},
        },
    }
    client = Client(target.address, target.token, plaintext=True)
    client.post("/api/v1/applications", local, {"validate": "false"})
    key = ("argocd", "local-only")
    wait_for(lambda: "status" in target.applications[key])  # the controller's first reconcile is not ours
    before = json.dumps(target.applications[key], sort_keys=True)
    writes = len(target.gateway.mutating_requests())
    result = run_restore(target, store)
    assert result.exit_code == 0, result.output
    assert json.dumps(target.applications[key], sort_keys=True) == before
    assert not [r for r in target.gateway.mutating_requests()[writes:] if "local-only" in r[1]]


# migration: remaps ------------------------------------------------------------------------------------------------

REPO_RULES = {
    "https://git.example.com/": "https://git.new.example.com/",  # a prefix rule
    "https://charts.example.com/stable": "https://charts.new.example.com/stable",  # an exact rule
}


def migrated_credentials(tmp_path: Path) -> Path:
    """The demo credentials file with every entry keyed by its NEW URL (and its secret file beside it)."""
    text = CREDENTIALS.read_text()
    for old, new in [(STAGING, STAGING_2), *REPO_RULES.items()]:
        text = text.replace(old, new)
    shutil.copytree(CREDENTIALS.parent / "demo-secrets", tmp_path / "demo-secrets")
    path = tmp_path / "credentials.yaml"
    path.write_text(text)
    return path


def test_remaps_land_everywhere_and_credentials_by_new_urls_apply(
    store: Path, target: Simulator, tmp_path: Path
) -> None:
    remaps = ["--remap-cluster", f"{STAGING}={STAGING_2}"]
    for old, new in REPO_RULES.items():
        remaps += ["--remap-repo", f"{old}={new}"]
    credentials = migrated_credentials(tmp_path)
    args = restore_args(target, store, "--credentials", str(credentials), *remaps, "-o", "json")
    result = CliRunner().invoke(main, args, env=ENV)
    assert result.exit_code == 0, result.output
    doc = report(result)
    assert not [n for n in doc["not_in_backup"] if "was not used" in n]  # every new-URL entry matched
    everything = repr(state(target))
    for old in (STAGING, "https://git.example.com/", "https://charts.example.com/"):
        assert old not in everything  # no reference anywhere kept an old value
    new_repo = target.repositories[(normalize_url("https://git.new.example.com/apps/guestbook.git"), "")]
    assert new_repo["password"] == "demo-password-2"
    assert target.repocreds["https://git.new.example.com/platform"]["password"] == "demo-password-1"
    charts = target.repositories[(normalize_url("https://charts.new.example.com/stable"), "")]
    assert charts["password"] == "demo-password-3"
    assert target.clusters[STAGING_2]["config"]["bearerToken"] == "demo-password-6"
    apps = target.applications
    assert apps[("argocd", "cluster-config")]["spec"]["destination"]["server"] == STAGING_2
    assert apps[("argocd", "staging-guestbook")]["spec"]["destination"]["server"] == STAGING_2
    sources = [s["repoURL"] for s in apps[("argocd", "prometheus-stack")]["spec"]["sources"]]
    assert sources == ["https://charts.new.example.com/stable", "https://git.new.example.com/platform/infra.git"]
    template = target.applicationsets[("argocd", "team-a-services")]["spec"]["template"]["spec"]
    assert template["source"]["repoURL"] == "https://git.new.example.com/team-a/services.git"
    platform = target.projects["platform"]["spec"]
    assert {"server": STAGING_2, "namespace": "*"} in platform["destinations"]
    assert "!https://git.new.example.com/team-a/*" in platform["sourceRepos"]
    assert "https://git.new.example.com/team-a/*" in target.projects["team-a"]["spec"]["sourceRepos"]
    assert_all_synced_and_healthy(target)


@pytest.mark.parametrize(
    "rule",
    [
        ["--remap-cluster", "https://staging.k8s.example.com:6444=https://x.example.com:6443"],
        ["--remap-repo", "https://git.example.org/=https://git.new.example.com/"],
    ],
)
def test_a_remap_rule_matching_nothing_is_refused_before_any_write(
    store: Path, target: Simulator, rule: list[str]
) -> None:
    result = run_restore(target, store, *rule)
    assert result.exit_code == 2, result.output
    assert "match nothing" in result.stderr and rule[1].split("=")[0] in result.stderr
    assert target.gateway.mutating_requests() == []


# refusals before the first write ----------------------------------------------------------------------------------


def test_a_corrupted_object_stops_the_restore_before_any_write(store: Path, target: Simulator, tmp_path: Path) -> None:
    copy_of = tmp_path / "store"
    shutil.copytree(store, copy_of)
    stored = next(copy_of.glob("demo/*/applications/**/billing.yaml"))
    data = bytearray(stored.read_bytes())
    data[len(data) // 2] ^= 0x01  # one flipped bit
    stored.write_bytes(bytes(data))
    result = run_restore(target, copy_of)
    assert result.exit_code == 1, result.output  # IntegrityError: runbooks/README.md's "failed, nothing done"
    assert "billing" in result.stderr and "checksum" in result.stderr.lower()
    assert target.gateway.mutating_requests() == []


def test_an_unresolvable_credential_stops_the_restore_before_any_write(store: Path, target: Simulator) -> None:
    result = run_restore(target, store, env={})  # DEMO_GUESTBOOK_PASSWORD not set
    assert result.exit_code == 2, result.output
    assert GUESTBOOK in result.stderr and "DEMO_GUESTBOOK_PASSWORD" in result.stderr
    assert target.gateway.mutating_requests() == []


def test_a_refused_token_stops_the_restore_before_any_write(store: Path, target: Simulator) -> None:
    wrong = fresh()  # a token signed by another instance's key
    try:
        result = run_restore(target, store, token=wrong.token)
    finally:
        wrong.stop()
    assert result.exit_code == 2, result.output
    assert wrong.token not in result.output + result.stderr
    assert target.gateway.mutating_requests() == []


# partial failure --------------------------------------------------------------------------------------------------


def test_an_unreachable_repository_fails_alone_and_its_apps_are_skipped(store: Path, target: Simulator) -> None:
    target.unreachable.add(GUESTBOOK)
    result = run_restore(target, store)
    assert result.exit_code == 3, result.output
    doc = report(result)
    assert doc["ok"] is False
    objects = actions(doc)
    failed = objects[("repositories", GUESTBOOK)]
    assert failed["action"] == "fail" and "HTTP 500" in failed["error"]
    dependant = objects[("applications", "argocd/guestbook-kustomize")]
    assert dependant["action"] == "skip" and GUESTBOOK in dependant["reason"]
    assert ("argocd", "guestbook-kustomize") not in target.applications
    assert [o for o in doc["objects"] if o["action"] == "fail"] == [failed]
    for name in ("billing", "cert-manager", "root-apps"):
        assert objects[("applications", f"argocd/{name}")]["action"] == "create"
        assert target.applications[("argocd", name)]["status"]["health"]["status"] == "Healthy"


def test_an_unhealthy_app_is_reported_and_still_rearmed(source: Simulator, store: Path, target: Simulator) -> None:
    target.unhealthy.add("api")  # wave 0 like most apps, so it holds up no later wave while it never gets Healthy
    result = run_restore(target, store, "--timeout", "4")  # the last --timeout wins
    assert result.exit_code == 3, result.output
    doc = report(result)
    assert doc["ok"] is False
    entry = next(a for a in doc["apps"] if a["name"] == "api")
    assert entry["health"] not in ("Healthy", "Unknown", "") and entry["sync"] == "Synced"
    assert entry["rearmed"] is True
    assert entry["outcome"] == "timeout" and "api" in entry["message"]
    assert [a["name"] for a in doc["apps"] if a["health"] != "Healthy"] == ["api"]
    want = source.applications[("team-a", "api")]["spec"]
    assert target.applications[("team-a", "api")]["spec"] == want  # automated sync armed again
    assert want["syncPolicy"]["automated"].get("enabled", True) is True


# interrupted ------------------------------------------------------------------------------------------------------


def test_a_restore_killed_halfway_converges_when_run_again(source: Simulator, store: Path, target: Simulator) -> None:
    target.gateway.faults.latency = 0.03  # every request takes a while, so the kill lands mid-restore
    args = restore_args(target, store, "--credentials", str(CREDENTIALS), "--concurrency", "1")
    env = {**os.environ, **ENV}
    proc = subprocess.Popen(
        [sys.executable, "-m", "drkit", *args], cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    try:
        # 19 writes come before the first application: stop once some applications are written (disarmed)
        wait_for(lambda: len(target.gateway.mutating_requests()) > 24 or proc.poll() is not None, attempts=6000)
        assert proc.poll() is None, proc.stderr.read().decode() if proc.stderr else ""
        proc.send_signal(signal.SIGKILL)
        assert proc.wait(timeout=30) == -signal.SIGKILL
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        if proc.stderr:
            proc.stderr.close()
    halfway = target.applications
    assert any(  # written disarmed: without the `automated` the backup has
        "automated" not in app["spec"].get("syncPolicy", {})
        and "automated" in source.applications[key]["spec"].get("syncPolicy", {})
        for key, app in halfway.items()
    )
    target.gateway.faults.latency = 0.0
    again = run_restore(target, store)
    assert again.exit_code == 0, again.output
    assert report(again)["ok"] is True
    uninterrupted = fresh()
    try:
        assert run_restore(uninterrupted, store).exit_code == 0
        assert_same_state(state(target), state(uninterrupted))
    finally:
        uninterrupted.stop()
    assert_same_state(state(target), state(source))  # app specs as in the backup: automated sync re-armed
    assert_all_synced_and_healthy(target)


def test_demo_restore_with_bare_ssh_key_fields_runs_clean_and_nothing_auto_syncs_before_rearm(
    source: Simulator, store: Path, tmp_path: Path
) -> None:
    """Issue 7's "done when": known hosts as Argo CD's own certData (the key field alone), a slow ApplicationSet
    controller, `--sync --wait`: exit 0, every app (generated ones too) Synced/Healthy, re-armed as in the backup,
    and the controller synced nothing by itself (its record of automated syncs is empty)."""
    shutil.copytree(CREDENTIALS.parent / "demo-secrets", tmp_path / "demo-secrets")
    text = CREDENTIALS.read_text()
    bare = text.replace("certData: ssh-ed25519 AAAA", "certData: AAAA")
    assert bare != text
    credentials = tmp_path / "credentials.yaml"
    credentials.write_text(bare)
    with Simulator(app_namespaces=("team-a",), appset_seconds=1.0) as target:
        args = restore_args(target, store, "--credentials", str(credentials), "--sync", "--wait", "-o", "json")
        result = CliRunner().invoke(main, args, env=ENV)
        assert result.exit_code == 0, result.output
        apps = report(result)["apps"]
        generated = [a for a in apps if a["name"].endswith("-guestbook") or a["name"].startswith("team-a-")]
        assert len(generated) == 4
        assert {(a["sync"], a["health"]) for a in apps} == {("Synced", "Healthy")}
        assert target.auto_synced == []
        assert_same_state(state(target), state(source))
