"""Runbooks that run (issue 10): every shell block in runbooks/*.md is executed, in order, with bash.

The production of the runbooks is played by drkit's Argo CD simulators and moto's S3 server: the bucket
`example-argocd-backups` exists on moto and already holds a nightly export of the demo instance as
`prod-argocd`; `old-argocd.example.com` is that instance; `argocd.example.com` and `new-argocd.example.com`
are fresh, empty ones. The runbooks' example host names and token files are the placeholders, filled from
this test's environment. A block the test cannot run says why in a marker right above it:
`<!-- runbook-test: skip: REASON -->`; a block that must exit non-zero says which code and why:
`<!-- runbook-test: exit N: REASON -->`. Each page's blocks share one shell environment, in order.
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

import pytest

from drkit.argocd.client import Client
from drkit.backup.store import open_store
from drkit.export.export import export
from drkit.testing import Simulator, seed

ROOT = Path(__file__).resolve().parent.parent
PAGES = sorted((ROOT / "runbooks").glob("*.md"))
BLOCK = re.compile(r"(?:<!-- runbook-test: (?P<marker>[^>]*?) -->\n[ \t]*)?```(?:sh|bash)\n(?P<body>.*?)```", re.S)
MARKER = re.compile(r"^(skip: (?P<reason>.{10,})|exit (?P<code>\d+): .{10,})$")
BUCKET = "example-argocd-backups"


@dataclass
class Block:
    body: str
    skip: str | None = None  # the reason it cannot run here
    exit_code: int = 0


def blocks(text: str) -> list[Block]:
    out = []
    for found in BLOCK.finditer(text):
        marker = found.group("marker")
        body = "\n".join(line.strip() for line in found.group("body").splitlines())
        if marker is None:
            out.append(Block(body))
            continue
        parsed = MARKER.match(marker)
        assert parsed, f"runbook-test marker {marker!r}: write `skip: REASON` or `exit N: REASON`"
        out.append(Block(body, skip=parsed.group("reason"), exit_code=int(parsed.group("code") or 0)))
    return out


@pytest.fixture(scope="module")
def production(s3_server: str, s3_client) -> Iterator[Simulator]:  # noqa: ANN001
    """The old instance: the demo, exported once into the bucket as prod-argocd."""
    with contextlib.suppress(s3_client.exceptions.BucketAlreadyOwnedByYou):
        s3_client.create_bucket(Bucket=BUCKET)
    with Simulator(app_namespaces=("team-a",)) as old:
        seed.load(old, seed.read("demo"))
        export(Client(old.address, old.token, plaintext=True), open_store(f"s3://{BUCKET}/prod"), "prod-argocd")
        yield old


def environment(tmp_path: Path, instances: dict[str, Simulator]) -> tuple[dict[str, str], dict[str, str]]:
    """The shell environment and the placeholder values for one page, each page on fresh targets."""
    tokens = {}
    for name, sim in instances.items():
        tokens[name] = tmp_path / f"{name}-token"
        tokens[name].write_text(sim.token + "\n")
    shutil.copy(ROOT / "runbooks" / "demo-credentials.yaml", tmp_path / "creds.yaml")
    shutil.copytree(ROOT / "runbooks" / "demo-secrets", tmp_path / "demo-secrets")
    values = {  # longest first: old-argocd.example.com contains argocd.example.com
        "old-argocd.example.com": instances["old"].address,
        "new-argocd.example.com": instances["new"].address,
        "argocd.example.com": instances["new"].address,
        "/tmp/old-token": str(tokens["old"]),
        "/tmp/new-token": str(tokens["new"]),
        "/tmp/argocd-token": str(tokens["new"]),
    }
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ARGOCD_", "DRKIT_"))}
    env.update(
        PATH=f"{Path(sys.executable).parent}{os.pathsep}{env['PATH']}",
        ARGOCD_PLAINTEXT="true",
        DEMO_GUESTBOOK_PASSWORD="demo-password-2",
        HOME=str(tmp_path),
    )
    return env, values


def fill(body: str, values: dict[str, str]) -> str:
    for placeholder, value in values.items():
        body = body.replace(placeholder, value)
    return body


@pytest.mark.parametrize("page", PAGES, ids=[p.name for p in PAGES])
def test_runbook_runs(page: Path, production: Simulator, tmp_path: Path):
    found = blocks(page.read_text())
    with Simulator(app_namespaces=("team-a",)) as fresh:
        env, values = environment(tmp_path, {"old": production, "new": fresh})
        state = tmp_path / "state.sh"
        state.write_text("")
        for number, block in enumerate(found, 1):
            if block.skip:
                continue
            script = f"source {state}\ntrap 'export -p > {state}' EXIT\nset -e -o pipefail\n{fill(block.body, values)}"
            run = subprocess.run(
                ["bash", "-c", script], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300
            )
            assert run.returncode == block.exit_code, (
                f"{page.name} block {number} exited {run.returncode}, not {block.exit_code}:\n{block.body}\n"
                f"stdout:\n{run.stdout}\nstderr:\n{run.stderr}"
            )


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
