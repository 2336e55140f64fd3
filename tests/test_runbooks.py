"""Runbooks that run (issue 10): every shell block in runbooks/*.md is executed, in order, with bash.

The production of the runbooks is played by drkit's Argo CD simulators, each with its cluster's Kubernetes API
(`Simulator(kube=True)`), and moto's S3 server: the bucket `example-argocd-backups` exists on moto and already
holds a nightly export of the demo instance as `prod-argocd`, made as cronjob.yaml makes it (`--kube --encrypt
age:...`); `old-argocd.example.com` is that instance; `argocd.example.com` and `new-argocd.example.com` are
fresh, empty ones. The runbooks' example host names, token files and the age identity file are the
placeholders, filled from this test's environment; `$AGE_RECIPIENT` is that identity's public key, and
KUBECONFIG holds the contexts `old-cluster` and `new-cluster`, the old and the new instance's Kubernetes APIs.
A block the test cannot run says why in a marker right above it: `<!-- runbook-test: skip: REASON -->`; a block
that must exit non-zero says which code and why: `<!-- runbook-test: exit N: REASON -->`; a block that starts
over on a fresh new instance (a second way through the page) says so: `<!-- runbook-test: fresh: REASON -->`.
Each page's blocks share one shell environment, in order.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pyrage
import pytest
from click.testing import CliRunner

from drkit.cli import main
from drkit.testing import Simulator, seed
from drkit.testing.kube import kubeconfig

ROOT = Path(__file__).resolve().parent.parent
PAGES = sorted((ROOT / "runbooks").glob("*.md"))
BLOCK = re.compile(r"(?:<!-- runbook-test: (?P<marker>[^>]*?) -->\n[ \t]*)?```(?:sh|bash)\n(?P<body>.*?)```", re.S)
MARKER = re.compile(r"^(skip: (?P<reason>.{10,})|exit (?P<code>\d+): .{10,}|(?P<fresh>fresh): .{10,})$")
BUCKET = "example-argocd-backups"
AGE = pyrage.x25519.Identity.generate()  # the key pair the nightly export encrypts to


@dataclass
class Block:
    body: str
    skip: str | None = None  # the reason it cannot run here
    exit_code: int = 0
    fresh: bool = False  # run on a new, fresh target (the page's second way through)


def blocks(text: str) -> list[Block]:
    out = []
    for found in BLOCK.finditer(text):
        marker = found.group("marker")
        body = "\n".join(line.strip() for line in found.group("body").splitlines())
        if marker is None:
            out.append(Block(body))
            continue
        parsed = MARKER.match(marker)
        assert parsed, f"runbook-test marker {marker!r}: write `skip: REASON`, `exit N: REASON` or `fresh: REASON`"
        code, fresh = int(parsed.group("code") or 0), bool(parsed.group("fresh"))
        out.append(Block(body, skip=parsed.group("reason"), exit_code=code, fresh=fresh))
    return out


def fresh_target() -> Simulator:
    return Simulator(app_namespaces=("team-a",), kube=True).start()


@pytest.fixture(scope="module")
def production(s3_server: str, s3_client, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Simulator]:  # noqa: ANN001
    """The old instance: the demo, exported once into the bucket as prod-argocd, as the nightly CronJob does."""
    with contextlib.suppress(s3_client.exceptions.BucketAlreadyOwnedByYou):
        s3_client.create_bucket(Bucket=BUCKET)
    with Simulator(app_namespaces=("team-a",), kube=True) as old:
        seed.load(old, seed.read("demo"))
        config = old.write_kubeconfig(tmp_path_factory.mktemp("kube") / "config")
        argv = ["export", "--server", old.address, "--plaintext", "--auth-token", old.token, "--kube", "--kubeconfig"]
        argv += [str(config), "--encrypt", f"age:{AGE.to_public()}", "--store", f"s3://{BUCKET}/prod"]
        exported = CliRunner().invoke(main, [*argv, "--instance", "prod-argocd"])
        assert exported.exit_code == 0, exported.output
        yield old


def write_kubeconfig(path: Path, instances: dict[str, Simulator]) -> None:
    """One kubeconfig with a context per cluster, `old-cluster` and `new-cluster`, as an operator's would be."""
    merged: dict = {"apiVersion": "v1", "kind": "Config", "clusters": [], "users": [], "contexts": []}
    for name, sim in instances.items():
        one = kubeconfig.kubeconfig(sim.kube_url, sim.kube_token, context=f"{name}-cluster", namespace=sim.namespace,
                                    user=f"{name}-admin")  # fmt: skip
        for field in ("clusters", "users", "contexts"):
            merged[field] += one[field]
    kubeconfig.write(path, merged | {"current-context": "new-cluster"})


def environment(tmp_path: Path, instances: dict[str, Simulator]) -> tuple[dict[str, str], dict[str, str]]:
    """The shell environment and the placeholder values for one page, each page on fresh targets.

    The old instance's token is a session of its admin: the simulator keeps API keys outside argocd-secret, so
    unlike Argo CD (argocd-secret `accounts.<name>.tokens`) it would not know the old instance's API key once a
    `--kube` restore has brought the old signing key to the new instance.
    """
    tokens = {}
    for name, sim in instances.items():
        tokens[name] = tmp_path / f"{name}-token"
        tokens[name].write_text((sim.mint_token("admin:login") if name == "old" else sim.token) + "\n")
    write_kubeconfig(tmp_path / "kubeconfig", instances)
    if not (tmp_path / "creds.yaml").exists():
        shutil.copy(ROOT / "runbooks" / "demo-credentials.yaml", tmp_path / "creds.yaml")
        shutil.copytree(ROOT / "runbooks" / "demo-secrets", tmp_path / "demo-secrets")
        (tmp_path / "age-identity.txt").write_text(f"{AGE}\n")
    values = {  # longest first: old-argocd.example.com contains argocd.example.com
        "old-argocd.example.com": instances["old"].address,
        "new-argocd.example.com": instances["new"].address,
        "argocd.example.com": instances["new"].address,
        "/tmp/old-token": str(tokens["old"]),
        "/tmp/new-token": str(tokens["new"]),
        "/tmp/argocd-token": str(tokens["new"]),
        "/tmp/age-identity.txt": str(tmp_path / "age-identity.txt"),
    }
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ARGOCD_", "DRKIT_", "KUBECONFIG"))}
    env.update(
        PATH=f"{Path(sys.executable).parent}{os.pathsep}{env['PATH']}",
        ARGOCD_PLAINTEXT="true",
        DEMO_GUESTBOOK_PASSWORD="demo-password-2",
        HOME=str(tmp_path),
        KUBECONFIG=str(tmp_path / "kubeconfig"),
        AGE_RECIPIENT=str(AGE.to_public()),
    )
    if "DRKIT_SIM_NOW" in os.environ:  # the simulators' pinned clock for sync windows (tests/conftest.py)
        env["DRKIT_SIM_NOW"] = os.environ["DRKIT_SIM_NOW"]
    return env, values


def fill(body: str, values: dict[str, str]) -> str:
    for placeholder, value in values.items():
        body = body.replace(placeholder, value)
    return body


@pytest.mark.parametrize("page", PAGES, ids=[p.name for p in PAGES])
def test_runbook_runs(page: Path, production: Simulator, tmp_path: Path):
    found = blocks(page.read_text())
    targets = [fresh_target()]
    try:
        env, values = environment(tmp_path, {"old": production, "new": targets[-1]})
        state = tmp_path / "state.sh"
        state.write_text("")
        for number, block in enumerate(found, 1):
            if block.skip:
                continue
            if block.fresh:
                targets.append(fresh_target())
                env, values = environment(tmp_path, {"old": production, "new": targets[-1]})
            script = f"source {state}\ntrap 'export -p > {state}' EXIT\nset -e -o pipefail\n{fill(block.body, values)}"
            run = subprocess.run(
                ["bash", "-c", script], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300
            )
            assert run.returncode == block.exit_code, (
                f"{page.name} block {number} exited {run.returncode}, not {block.exit_code}:\n{block.body}\n"
                f"stdout:\n{run.stdout}\nstderr:\n{run.stderr}"
            )
    finally:
        for target in targets:
            target.stop()


def test_every_runbook_with_commands_runs_some():
    """Which blocks run, per page; a page of shell blocks that all skip would prove nothing."""
    counts = {p.name: sum(1 for b in blocks(p.read_text()) if not b.skip) for p in PAGES}
    shells = {p.name: len(re.findall(r"```(?:sh|bash)\n", p.read_text())) for p in PAGES}
    assert all(len(blocks(p.read_text())) == shells[p.name] for p in PAGES), "a marker hides a block"
    for name, total in shells.items():
        assert total == 0 or counts[name] > 0, f"{name}: every block is skipped"


def test_a_marker_needs_a_reason():
    with pytest.raises(AssertionError, match="write `skip: REASON`"):
        blocks("<!-- runbook-test: skip -->\n```sh\nkubectl get pods\n```\n")
    assert (
        blocks("<!-- runbook-test: exit 3: the diff differs here -->\n```sh\ndrkit diff latest\n```\n")[0].exit_code
        == 3
    )
    assert blocks("<!-- runbook-test: fresh: the second way through -->\n```sh\ndrkit list\n```\n")[0].fresh
    with pytest.raises(AssertionError, match="fresh: REASON"):
        blocks("<!-- runbook-test: fresh -->\n```sh\ndrkit list\n```\n")


def test_the_runbooks_restore_with_kube_first():
    """The lost-instance and migration pages run a `--kube` restore before their credentials-file one."""
    for name in ("restore-lost-instance.md", "migrate.md"):
        commands = [b.body for b in blocks((ROOT / "runbooks" / name).read_text()) if not b.skip]
        restores = [c for c in commands if "drkit restore" in c]
        assert "--kube" in restores[0] and "--credentials" not in restores[0], name
        assert any("--credentials" in c and "--kube" not in c for c in restores), name
