"""README.md's "Try it in a minute" block runs as written: two simulators, export, list, verify, restore."""

from __future__ import annotations

import contextlib
import os
import re
import signal
import socket
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
HEADING = "## Try it in a minute"


def demo_block() -> str:
    """The first ```sh block under the "Try it in a minute" heading."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text[text.index(HEADING) :]
    match = re.search(r"```sh\n(.*?)```", section, re.DOTALL)
    assert match, f"no ```sh block under {HEADING!r} in README.md"
    return match.group(1)


def run_block(
    script: str, store: Path, *, cwd: Path = ROOT, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """Run the block with bash in its own process group, in `cwd` (the project root); the group dies afterwards.

    `env` is the environment it starts from: by default this process's, with this venv's bin first on PATH.
    """
    if env is None:
        env = dict(os.environ, PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}")
    env = {k: v for k, v in env.items() if not k.startswith(("DRKIT_", "ARGOCD_", "DEMO")) or k == "DRKIT_SIM_NOW"}
    env |= {"DRKIT_STORE": str(store), "PYTHONUNBUFFERED": "1"}
    # `pip install .` would reinstall the package under test: the venv already holds it (editable, or the wheel)
    script = re.sub(r"^python -m pip install \.\s*$", "true", script, flags=re.MULTILINE)
    out_path, err_path = store.parent / "stdout.txt", store.parent / "stderr.txt"
    # Files, not pipes: the background simulators inherit them, and a pipe would stay open until they die.
    with out_path.open("w") as out, err_path.open("w") as err:
        proc = subprocess.Popen(
            ["bash", "-e", "-c", script], cwd=cwd, env=env, stdout=out, stderr=err, start_new_session=True
        )
        try:
            proc.wait(timeout=300)
        finally:
            with contextlib.suppress(ProcessLookupError):  # the simulators, even when the block failed early
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    return subprocess.CompletedProcess(proc.args, proc.returncode, out_path.read_text(), err_path.read_text())


def port_in_use(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


def test_the_readme_demo_block_runs_and_restores_everything(tmp_path: Path) -> None:
    taken = [p for p in (18080, 18081) if port_in_use(p)]
    assert not taken, f"ports {taken} are in use by another process; the README block would talk to it, not its own"
    check_restored(run_block(demo_block(), tmp_path / "store"))


def check_restored(result: subprocess.CompletedProcess[str]) -> None:
    """The block exited 0 after a dry run and a restore that created objects and failed none."""
    detail = f"stdout:\n{result.stdout}\nstderr:\n{result.stderr}"
    assert result.returncode == 0, detail
    summaries = re.findall(r"^summary: .*; exit code (\d+)$", result.stdout, re.MULTILINE)
    assert len(summaries) == 2, detail  # the dry run and the restore
    final = [line for line in result.stdout.splitlines() if line.startswith("summary: ")][-1]
    assert " 0 fail;" in final and final.endswith("exit code 0"), final
    assert re.search(r"\b[1-9]\d* create\b", final), final
    assert "restore plan (dry run, nothing written)" in result.stdout


def test_the_readme_main_job_command_exports_into_the_default_local_store(tmp_path: Path) -> None:
    """The first command of README's "Two commands" runs as written on a machine with no Argo CD and no cloud."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text[text.index("## Two commands") :]
    command = re.search(r"```sh\n(.*?)```", section, re.DOTALL).group(1).strip()
    assert command.startswith("python -m pip install . && ")
    runnable = command.removeprefix("python -m pip install . && ")  # the package under test is installed already
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DRKIT_", "ARGOCD_")) or k == "DRKIT_SIM_NOW"}
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    run = {"cwd": tmp_path, "env": env, "capture_output": True, "text": True, "timeout": 120}
    result = subprocess.run(["bash", "-c", runnable], **run)
    assert result.returncode == 0, result.stdout + result.stderr
    backups = list((tmp_path / "drkit-backups" / "demo").glob("*/manifest.yaml"))
    assert len(backups) == 1, result.stdout
    assert "16 applications" in result.stdout
