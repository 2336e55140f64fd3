"""The image's contract without a Docker engine: cronjob.yaml's export and drill, run as the image would run them.

The installed wheel's venv (tests/installed.py) stands in for the image's Python; each container command is
read from cronjob.yaml (args and env, with the Dockerfile's ENTRYPOINT and final-stage ENV) and runs:
- as uid/gid 65532 with no supplementary groups, no capabilities and no_new_privs (`setpriv`), like
  `runAsUser: 65532`, `capabilities: drop: [ALL]` and `allowPrivilegeEscalation: false`;
- in a private mount namespace (`unshare -m`) whose root filesystem is remounted read-only, with one private
  temporary directory bind-mounted writable: that stands in for `readOnlyRootFilesystem: true` plus the emptyDir
  at /tmp (it sits at another path here, so TMPDIR points at it; /dev, /dev/shm and /proc stay as the kernel
  mounts them, as in a pod). The venv is root-owned and, like everything else, read-only there;
- with cwd `/` and HOME an existing directory it cannot write (the image sets HOME=/tmp; an unwritable HOME
  proves drkit needs none).
Only what cannot exist here is substituted: ARGOCD_SERVER is a simulator the test starts (demo seed, plain HTTP,
so ARGOCD_PLAINTEXT=true is added), the `--auth-token-file` path is a root-owned read-only temp file holding its
token (nothing else carries the token), the store's S3 is moto's server (AWS_ENDPOINT_URL_S3, static keys in
place of IRSA), and `--pushgateway` is a local HTTP recorder. For `--kube`, the simulator also serves its
Kubernetes API (`--kube`), and KUBECONFIG, a root-owned read-only kubeconfig for it, stands in for the pod's
mounted ServiceAccount token; `--encrypt`'s placeholder recipient is a fresh age key's, and the drill's
`--identity` a root-owned read-only file holding that key. It needs root (to switch uid and mount); it skips for
anyone else.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import subprocess
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlparse

import pyrage
import pytest
import yaml

from tests.installed import ROOT, Installed, Result
from tests.test_image import stages

pytestmark = pytest.mark.slow
UID = 65532
SANDBOX = (  # $1: the one writable directory; the rest: the command, run as 65532 on a read-only root
    'set -e; mount --make-rprivate /; mount --bind "$1" "$1"; mount -o remount,bind,ro /; shift; '
    f"exec setpriv --reuid {UID} --regid {UID} --clear-groups --inh-caps=-all --bounding-set=-all "
    '--no-new-privs -- "$@"'
)


def container(cronjob: str) -> dict:
    docs = [d for d in yaml.safe_load_all((ROOT / "cronjob.yaml").read_text()) if d]
    job = next(d for d in docs if d["kind"] == "CronJob" and d["metadata"]["name"] == cronjob)
    (only,) = job["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"]
    return only


def image() -> tuple[list[str], dict[str, str]]:
    """The final stage's ENTRYPOINT and ENV, from the Dockerfile."""
    final = stages((ROOT / "Dockerfile").read_text())[-1]
    entrypoint = json.loads([args for op, args in final if op == "ENTRYPOINT"][-1])
    env = dict(item.split("=", 1) for op, args in final if op == "ENV" for item in args.split())
    return entrypoint, env


def substitute(args: list[str], values: dict[str, str]) -> list[str]:
    """`args` with each named flag's value replaced (`--flag=V` or `--flag V`); every named flag must be there."""
    out, seen, skip = [], set(), False
    for i, arg in enumerate(args):
        if skip:
            skip = False
            continue
        flag = arg.split("=", 1)[0]
        if flag in values:
            seen.add(flag)
            out.append(f"{flag}={values[flag]}")
            skip = "=" not in arg and i + 1 < len(args)
        else:
            out.append(arg)
    assert seen == set(values), f"cronjob.yaml no longer passes {sorted(set(values) - seen)}"
    return out


class Recorder(BaseHTTPRequestHandler):
    """A Pushgateway that records every push (method, path, body) and answers 200."""

    pushes: list[tuple[str, str, str]]

    def do_POST(self) -> None:  # noqa: N802 - http.server's naming
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0)).decode("utf-8", "replace")
        self.server.pushes.append((self.command, self.path, body))  # type: ignore[attr-defined]
        self.send_response(200)
        self.end_headers()

    do_PUT = do_POST  # noqa: N815

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def pushgateway() -> Iterator[ThreadingHTTPServer]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Recorder)
    server.pushes = []  # type: ignore[attr-defined]
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server
    server.shutdown()
    server.server_close()


@pytest.fixture
def argocd(installed_wheel: Installed, open_tmp: Path) -> Iterator[tuple[str, str, Path]]:
    """The wheel's simulator with the demo seed on a free port, its Kubernetes API too, as a process; yields
    (host:port, token, a kubeconfig for its Kubernetes API that uid 65532 can read)."""
    token = f"eyJhbGciOiJIUzI1NiJ9.{secrets.token_urlsafe(24)}.{secrets.token_urlsafe(24)}"
    log, kubeconfig = open_tmp / "sim.log", open_tmp / "kube" / "config"
    argv = [str(installed_wheel.bin / "python"), "-m", "drkit.testing.sim", "--port", "0", "--token", token]
    argv += ["--kube", "--kubeconfig", str(kubeconfig)]
    with log.open("w") as out:
        proc = subprocess.Popen([*argv, "--seed", "demo"], stdout=out, stderr=out, env=installed_wheel.env(open_tmp))
    try:
        deadline = time.monotonic() + 60  # a bound on waiting, not a measurement
        while "Kubernetes API on" not in log.read_text() and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        text = log.read_text()
        assert "simulator on http://" in text and "Kubernetes API on" in text, text
        kubeconfig.parent.chmod(0o755)
        kubeconfig.chmod(0o444)  # root's, read-only, as a mounted ServiceAccount token is
        yield text.split("simulator on http://", 1)[1].split()[0], token, kubeconfig
    finally:
        proc.kill()
        proc.wait()


def sandboxed(installed: Installed, argv: list[str], env: dict[str, str], writable: Path) -> Result:
    unshare = shutil.which("unshare")
    assert unshare, "unshare (util-linux) is missing"
    argv = [unshare, "--mount", "--", "sh", "-c", SANDBOX, "sh", str(writable), *argv]
    return installed.run(argv, cwd=Path("/"), env=env)


def snapshot(*roots: Path) -> set[str]:
    """Every path under the roots (the root's own entries only for `/`), to compare before and after."""
    found = set()
    for root in roots:
        entries = root.iterdir() if root == Path("/") else root.rglob("*")
        found |= {str(p) for p in entries}
    return found


@pytest.fixture
def jail(installed_wheel: Installed, open_tmp: Path) -> tuple[Path, Path]:
    """(private writable tmp owned by 65532, HOME that 65532 cannot write); skips unless root."""
    if os.geteuid() != 0:
        pytest.skip("switching to uid 65532 and mounting need root")
    private, home = open_tmp / "tmp", open_tmp / "home"
    private.mkdir(mode=0o700)
    os.chown(private, UID, UID)
    home.mkdir(mode=0o755)
    return private, home


def test_the_jail_lets_65532_write_only_its_private_tmp(installed_wheel: Installed, jail: tuple[Path, Path]) -> None:
    """The sandbox the next test trusts can fail a write: /tmp (world-writable), HOME and the venv refuse it."""
    private, home = jail
    canary = Path("/tmp") / f"drkit-canary-{secrets.token_hex(6)}"
    script = (
        'id -u; touch "$TMPDIR/ok" && echo private-ok; for p in "$1" "$HOME/x" "$2/x"; do '
        'touch "$p" 2>/dev/null && echo "wrote $p"; done; true'
    )
    env = installed_wheel.env(home, TMPDIR=str(private))
    result = sandboxed(installed_wheel, ["sh", "-c", script, "sh", str(canary), str(installed_wheel.bin)], env, private)
    assert result.code == 0, result
    assert result.stdout.split() == [str(UID), "private-ok"], result
    assert not canary.exists() and (private / "ok").exists()


def container_env(cronjob: str) -> dict[str, str]:
    return {e["name"]: e["value"] for e in container(cronjob)["env"]}


@pytest.fixture
def cronjob_bucket(s3_client) -> Iterator[tuple[str, str, str]]:  # noqa: ANN001
    """The CronJobs' bucket on moto, made in their region; yields (bucket, prefix, instance), then empties it."""
    export, drill = container_env("drkit-export"), container_env("drkit-drill")
    where = ("DRKIT_STORE", "DRKIT_INSTANCE")
    assert [drill[k] for k in where] == [export[k] for k in where], "the drill drills what the export writes"
    store = urlparse(export["DRKIT_STORE"])
    bucket = store.netloc
    s3_client.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": export["AWS_REGION"]})
    try:
        yield bucket, store.path.strip("/"), export["DRKIT_INSTANCE"]
    finally:
        for item in s3_client.list_objects_v2(Bucket=bucket).get("Contents", []):
            s3_client.delete_object(Bucket=bucket, Key=item["Key"])
        s3_client.delete_bucket(Bucket=bucket)


@pytest.fixture
def token_file(argocd: tuple[str, str, Path], open_tmp: Path) -> Path:
    """The simulator's token in a root-owned read-only file, where the CronJob mounts its Secret."""
    path = open_tmp / "secrets" / "token"
    path.parent.mkdir(mode=0o755)
    path.write_text(argocd[1] + "\n")
    path.chmod(0o444)
    return path


@pytest.fixture
def age_key(open_tmp: Path) -> tuple[str, Path]:
    """(recipient, identity file): the key cronjob.yaml's placeholder stands for, in a root-owned read-only file
    where the drill mounts Secret drkit-age-identity."""
    identity = pyrage.x25519.Identity.generate()
    path = open_tmp / "age" / "identity"
    path.parent.mkdir(mode=0o755)
    path.write_text(f"{identity}\n")
    path.chmod(0o444)
    return str(identity.to_public()), path


def run_cronjob(installed: Installed, cronjob: str, flags: dict[str, str], env: dict[str, str], jail) -> Result:  # noqa: ANN001
    """cronjob.yaml's container command, the image's ENTRYPOINT before its args, with `flags` substituted."""
    private, home = jail
    entrypoint, image_env = image()
    clean = installed.env(home)
    full = clean | image_env | {"HOME": str(home), "TMPDIR": str(private), "PATH": clean["PATH"]}
    full |= container_env(cronjob) | env
    argv = [*entrypoint, *substitute(container(cronjob)["args"], flags)]
    return sandboxed(installed, argv, full, private)


def test_the_cronjobs_export_and_drill_run_as_uid_65532_on_a_read_only_root(
    installed_wheel: Installed, jail, argocd, token_file, age_key, pushgateway, cronjob_bucket, s3_server, s3_client
) -> None:
    (server, token, kubeconfig), (bucket, prefix, instance) = argocd, cronjob_bucket
    (recipient, identity) = age_key
    aws = {"AWS_ENDPOINT_URL_S3": s3_server, "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}
    aws["AWS_EC2_METADATA_DISABLED"] = "true"
    push = {"--pushgateway": f"http://127.0.0.1:{pushgateway.server_address[1]}"}
    before = snapshot(jail[1], Path("/"))
    runs = {
        "export": run_cronjob(
            installed_wheel, "drkit-export",
            push | {"--auth-token-file": str(token_file), "--encrypt": f"age:{recipient}"},
            aws | {"ARGOCD_SERVER": server, "ARGOCD_PLAINTEXT": "true", "KUBECONFIG": str(kubeconfig)}, jail,
        ),
        "drill": run_cronjob(installed_wheel, "drkit-drill", push | {"--identity": str(identity)}, aws, jail),
    }  # fmt: skip
    for result in runs.values():
        assert result.code == 0, result
        json.loads(result.stdout)  # --output=json: one document on stdout
        assert token not in result.stdout + result.stderr, "the token was printed"
    counts = json.loads(runs["export"].stdout)["counts"]
    assert counts.get("configmaps") and counts.get("secrets"), f"--kube stored no ConfigMap or Secret: {counts}"
    keys = [o["Key"] for o in s3_client.list_objects_v2(Bucket=bucket, Prefix=prefix).get("Contents", [])]
    assert any(k.startswith(f"{prefix}/{instance}/") and k.endswith("/manifest.yaml") for k in keys), keys
    assert any(k.startswith(f"{prefix}/{instance}/drills/") and k.endswith(".yaml") for k in keys), keys
    paths = [path for _, path, _ in pushgateway.pushes]
    assert any("/command/export" in p for p in paths) and any("/command/drill" in p for p in paths), paths
    assert snapshot(jail[1], Path("/")) == before, "a file was written in HOME or /"
