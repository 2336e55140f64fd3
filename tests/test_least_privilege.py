"""runbooks/least-privilege.md (issue 10): the documented Argo CD policies and IAM policies are enough, and no more.

Argo CD: an export and a restore run with accounts holding exactly the documented lines (the simulator enforces
RBAC as Argo CD does, filtering lists silently); the export lines are checked against the endpoints the export
called, from the simulator's request log, and each line is shown to be needed. IAM: each command runs against a
store that records its operations, and the policy must allow each one on its key and allow nothing unused.
"""

from __future__ import annotations

import fnmatch
import json
import os
import re
from pathlib import Path
from typing import Any

import pytest

from drkit.argocd.client import Client
from drkit.backup import format as backup
from drkit.backup import retention
from drkit.backup.store import open_store
from drkit.export.export import export
from drkit.ops import drill
from drkit.ops.scratch import hosted
from drkit.restore import apply as restore
from drkit.restore import credentials
from drkit.restore.converge import converge
from drkit.testing import Simulator, seed

ROOT = Path(__file__).resolve().parent.parent
PAGE = (ROOT / "runbooks" / "least-privilege.md").read_text()
BUCKET, PREFIX = "example-argocd-backups", "prod/"
# the RBAC resource Argo CD enforces for each path export reads (server/<resource>/*.go); None: no RBAC check
RESOURCES = {
    "/api/version": None,
    "/api/v1/settings": None,
    "/api/v1/session/userinfo": None,
    "/api/v1/applications": "applications",
    "/api/v1/applicationsets": "applicationsets",
    "/api/v1/projects": "projects",
    "/api/v1/repositories": "repositories",
    "/api/v1/repocreds": "repositories",  # ListRepositoryCredentials enforces repositories/get per URL
    "/api/v1/clusters": "clusters",
    "/api/v1/certificates": "certificates",
    "/api/v1/gpgkeys": "gpgkeys",
}
VERBS = {"put": "s3:PutObject", "get": "s3:GetObject", "list": "s3:ListBucket", "delete": "s3:DeleteObject"}


def section(title: str) -> str:
    return PAGE.split(f"## {title}\n", 1)[1].split("\n## ", 1)[0]


def policy_lines(title: str) -> tuple[str, list[tuple[str, str, str]]]:
    """The account the section's csv block binds, and its role's (resource, action, object) lines."""
    block = re.search(r"```csv\n(.*?)```", section(title), re.S).group(1)
    rows = [[c.strip() for c in line.split(",")] for line in block.strip().splitlines()]
    [(_, account, role)] = [r for r in rows if r[0] == "g"]
    assert all(r[5] == "allow" for r in rows if r[0] == "p")
    return account, [(r[2], r[3], r[4]) for r in rows if r[0] == "p" and r[1] == role]


def iam(title: str) -> dict[str, Any]:
    return json.loads(re.search(r"```json\n(.*?)```", section(title), re.S).group(1))


@pytest.fixture(scope="module")
def demo() -> Simulator:
    with Simulator(app_namespaces=("team-a",)) as sim:
        seed.load(sim, seed.read("demo"))
        yield sim


def account_client(sim: Simulator, account: str, lines: list[tuple[str, str, str]]) -> Client:
    sim.policies[account] = list(lines)
    return Client(sim.address, sim.mint_token(f"{account}:apiKey"), plaintext=True)


def test_the_export_policy_reads_everything_and_only_what_export_calls(demo: Simulator, tmp_path: Path):
    admin = export(Client(demo.address, demo.token, plaintext=True), open_store(str(tmp_path / "a")), "demo")
    account, lines = policy_lines("Argo CD: the export account")
    client = account_client(demo, account, lines)
    start = len(demo.gateway.requests)
    result = export(client, open_store(str(tmp_path / "b")), "demo")
    calls = demo.gateway.requests[start:]
    assert result.counts == admin.counts and not result.warnings
    assert {method for method, _ in calls} == {"GET"}, "export never writes to Argo CD"
    used = set()
    for _, path in calls:
        prefix = next((p for p in RESOURCES if path == p or path.startswith(p + "/")), None)
        assert prefix is not None, f"export calls {path}: add its RBAC resource here and to the page"
        used.add(RESOURCES[prefix])
    assert {(res, "get") for res in used - {None}} == {(res, act) for res, act, _ in lines}


@pytest.mark.parametrize("dropped", range(7))
def test_each_export_line_is_needed(demo: Simulator, tmp_path: Path, dropped: int):
    account, lines = policy_lines("Argo CD: the export account")
    fewer = lines[:dropped] + lines[dropped + 1 :]
    result = export(account_client(demo, account + "-less", fewer), open_store(str(tmp_path)), "demo")
    full = export(Client(demo.address, demo.token, plaintext=True), open_store(str(tmp_path)), "full")
    assert result.warnings or result.counts != full.counts, f"{lines[dropped]} is not needed"


def test_the_restore_policy_restores_the_demo_whole(demo: Simulator, tmp_path: Path, monkeypatch):
    store = open_store(str(tmp_path))
    export(Client(demo.address, demo.token, plaintext=True), store, "demo")
    loaded = backup.load(store, "demo", "latest")
    monkeypatch.setenv("DEMO_GUESTBOOK_PASSWORD", "demo-password-2")
    secrets = credentials.load(
        str(ROOT / "runbooks" / "demo-credentials.yaml"), env=dict(os.environ), fetch_secret=None
    )
    account, lines = policy_lines("Argo CD: the restore account")
    assert {a for _, a, _ in lines} <= {"get", "create", "update", "sync"}, "restore never deletes"
    with Simulator(app_namespaces=("team-a",)) as target:
        client = account_client(target, account, lines)
        report = restore.restore(client, loaded, secrets, restore.RestoreOptions(timeout=60), converge=converge)
        assert report.exit_code == 0, report.lines()
        assert len(target.applications) == 16


# IAM -----------------------------------------------------------------------------------------------------------


class RecordingStore:
    """A local store that records (S3 action, bucket-relative key or list prefix) for each call."""

    def __init__(self, root: Path) -> None:
        self.inner, self.calls = open_store(str(root)), []
        self.url = self.inner.url

    def _record(self, verb: str, key: str) -> None:
        self.calls.append((VERBS[verb], PREFIX + key))

    def put(self, key: str, data: bytes) -> None:
        self._record("put", key)
        self.inner.put(key, data)

    def get(self, key: str) -> bytes:
        self._record("get", key)
        return self.inner.get(key)

    def list(self, prefix: str) -> list[str]:
        self._record("list", prefix)
        return self.inner.list(prefix)

    def delete(self, key: str) -> None:
        self._record("delete", key)
        self.inner.delete(key)


def allows(policy: dict[str, Any], action: str, key: str) -> bool:
    for statement in policy["Statement"]:
        if statement["Effect"] != "Allow" or action not in statement["Action"]:
            continue
        if action == "s3:ListBucket":
            prefixes = statement["Condition"]["StringLike"]["s3:prefix"]
            if statement["Resource"] == f"arn:aws:s3:::{BUCKET}" and any(fnmatch.fnmatch(key, p) for p in prefixes):
                return True
        elif fnmatch.fnmatch(f"arn:aws:s3:::{BUCKET}/{key}", statement["Resource"]):
            return True
    return False


def check(policy: dict[str, Any], calls: list[tuple[str, str]]) -> None:
    for action, key in calls:
        assert allows(policy, action, key), f"{action} on {key} is not allowed"
    granted = {a for s in policy["Statement"] for a in s["Action"]}
    assert granted == {a for a, _ in calls}, f"granted but unused: {granted - {a for a, _ in calls}}"


def test_iam_policies_allow_exactly_what_each_command_does(demo: Simulator, tmp_path: Path):
    client = Client(demo.address, demo.token, plaintext=True)
    store = RecordingStore(tmp_path)
    for _ in range(3):
        export(client, store, "prod-argocd")
    check(iam("IAM: the exporter"), store.calls)
    assert not any(a == "s3:DeleteObject" for s in iam("IAM: the exporter")["Statement"] for a in s["Action"])

    store.calls = []
    restore.restore(client, backup.load(store, "prod-argocd", "latest"), None, restore.RestoreOptions(dry_run=True))
    check(iam("IAM: restore"), store.calls)

    store.calls = []
    result = drill.drill(store, "prod-argocd", "latest", hosted, "sim", converge=converge)
    drill.save(store, result)
    check(iam("IAM: the weekly drill"), store.calls)

    store.calls = []
    retention.prune(store, "prod-argocd", retention.Policy(last=1))
    check(iam("IAM: prune"), store.calls)


def test_the_iam_check_can_fail():
    """A put outside drills/ is refused by the drill policy."""
    assert not allows(iam("IAM: the weekly drill"), "s3:PutObject", "prod/prod-argocd/2026/manifest.yaml")
    assert allows(iam("IAM: the weekly drill"), "s3:PutObject", "prod/prod-argocd/drills/x.yaml")
