"""README's commands on a fresh machine (issue 16): "Two commands" from a fresh clone, "Try it" outside the checkout."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.installed import ROOT, Installed, readme_sh_block, two_commands, without_leaks
from tests.test_readme_demo import HEADING, check_restored, port_in_use, run_block

pytestmark = pytest.mark.slow


def git(*args: str, cwd: Path = ROOT) -> str:
    return subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, check=True).stdout.strip()


def bash(command: str, cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(["bash", "-c", command], cwd=cwd, env=env, capture_output=True, text=True, timeout=420)
    assert done.returncode == 0, f"{command}: exit {done.returncode}\n{done.stdout[-4000:]}\n{done.stderr[-4000:]}"
    return done


def test_the_two_commands_run_in_a_new_venv_from_a_fresh_clone(tmp_path: Path) -> None:
    """As CI does: `git clone` of HEAD (committed work only), `python3 -m venv .venv` in it, commands run in it.

    The main command runs whole, as written. Of the test command, the install half runs as written and
    `python -m pytest --collect-only -q` stands in for its run half: the whole suite would run this test again
    inside itself, and it runs anyway, since CI's .ci/run calls exactly that command.
    """
    clone = tmp_path / "drkit"
    git("clone", "--quiet", "--no-hardlinks", str(ROOT), str(clone))
    assert git("rev-parse", "HEAD", cwd=clone) == git("rev-parse", "HEAD")
    venv = clone / ".venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, env=without_leaks(os.environ))
    env = without_leaks(os.environ)
    env["PATH"] = f"{venv / 'bin'}{os.pathsep}{env['PATH']}"
    env = {k: v for k, v in env.items() if not k.startswith(("DRKIT_", "ARGOCD_", "PYTEST_"))}
    (main_install, main_run), (test_install, test_run) = two_commands()

    bash(f"{main_install} && {main_run}", clone, env)
    assert len(list((clone / "drkit-backups" / "demo").glob("*/manifest.yaml"))) == 1

    assert test_run == "python -m pytest", "the stand-in below assumes README's test command is plain pytest"
    bash(test_install, clone, env)
    collected = bash(f"{test_run} --collect-only -q -p no:cacheprovider", clone, env).stdout
    assert re.search(r"^\d+ tests collected", collected, re.MULTILINE), collected[-2000:]
    files = {p.relative_to(clone).as_posix() for p in (clone / "tests").rglob("test_*.py")}
    assert files and {f for f in files if f"{f}::" not in collected} == set(), "a test file collected nothing"


def named_files(block: str) -> list[str]:
    """Relative paths the block names that exist in the checkout (e.g. runbooks/demo-credentials.yaml)."""
    candidates = re.findall(r"(?<![\w/.$-])([\w.-]+/[\w./-]*\w)", block)
    return sorted({c for c in candidates if (ROOT / c).is_file()})


def test_the_try_it_block_runs_outside_the_checkout(installed_wheel: Installed, tmp_path: Path) -> None:
    """README's "Try it in a minute" from a directory holding only the folders of the files it names.

    cwd is a temporary directory with a copy of each top-level folder the block names a file in
    (runbooks/, for runbooks/demo-credentials.yaml and the demo-secrets/ it reads): no drkit/ and no
    pyproject.toml, so `python -m drkit.testing.sim` and `drkit` come from the installed wheel's venv, first
    on PATH. The block's `pip install .` line is skipped: building that venv is what it stands for.
    """
    taken = [p for p in (18080, 18081) if port_in_use(p)]
    assert not taken, f"ports {taken} are in use by another process; the README block would talk to it, not its own"
    block = readme_sh_block(HEADING)
    files = named_files(block)
    assert files, "the block names no file of the checkout: nothing to copy"
    user = tmp_path / "user"
    for folder in sorted({Path(name).parts[0] for name in files}):
        shutil.copytree(ROOT / folder, user / folder)
    assert not (user / "drkit").exists() and not (user / "pyproject.toml").exists()
    probe = "python -c 'import drkit; print(\"drkit from\", drkit.__file__)'\n"
    (tmp_path / "home").mkdir()
    env = installed_wheel.env(tmp_path / "home")
    result = run_block(probe + block, tmp_path / "store", cwd=user, env=env)
    first = result.stdout.splitlines()[0] if result.stdout else ""
    assert first.startswith(f"drkit from {installed_wheel.site_packages}/"), result.stdout[:2000]
    check_restored(result)


def test_named_files_finds_relative_paths_only() -> None:
    block = "drkit restore --credentials runbooks/demo-credentials.yaml --store s3://b/p http://127.0.0.1:1/x\n"
    assert named_files(block) == ["runbooks/demo-credentials.yaml"]
    assert named_files("drkit list --credentials runbooks/absent.yaml\n") == []
