"""drkit as users install it: the wheel built from this checkout's files, in a fresh venv outside the checkout.

The `installed_wheel` fixture (once per session, ~30 s) copies the files git would see in the checkout (tracked
and untracked-not-ignored, as on disk; never `build/` or `*.egg-info`, whose stale copies could hide a missing
package-data rule), builds the wheel with `pip wheel --no-deps`, makes a venv (no system site packages) and
installs `WHEEL[encrypt,kube]` with its dependencies from the registry. Tests run its `drkit` and `python` with
`run`, in a clean environment: no PYTHONPATH, and the venv's bin first on PATH.

The venv's interpreter must be one that uid 65532 can run (tests/test_image_contract.py drops to it): this
session's own Python when every directory above it is open to others, else the first system `python3` (3.10
or newer) that is. On a machine whose Python lives under a private `/root`, that is the system Python.
"""

from __future__ import annotations

import os
import re
import shutil
import stat
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
SYSTEM_PYTHONS = ("/usr/local/bin/python3", "/usr/bin/python3")
#: Variables that would let the checkout, or the venv running the tests, leak into the installed one.
LEAKY = ("PYTHONPATH", "PYTHONHOME", "PYTHONSTARTUP", "PYTHONUSERBASE", "VIRTUAL_ENV", "PYTEST_ADDOPTS")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "slow: builds or installs drkit (runs by default; deselect with -m 'not slow')")


@dataclass(frozen=True)
class Installed:
    """Paths of one built and installed wheel."""

    tree: Path  # the copy of the checkout the wheel was built from
    wheel: Path
    venv: Path
    site_packages: Path

    @property
    def bin(self) -> Path:
        return self.venv / "bin"

    def env(self, home: Path, **extra: str) -> dict[str, str]:
        """A clean environment: the venv's bin first on PATH, `home` as HOME, nothing from this process."""
        return {
            "PATH": f"{self.bin}{os.pathsep}/usr/local/bin:/usr/bin:/bin",
            "HOME": str(home),
            "LANG": "C.UTF-8",
            "DRKIT_SIM_NOW": os.environ.get("DRKIT_SIM_NOW", ""),  # the simulators' sync-window clock (conftest.py)
        } | extra

    def run(self, command: str | list[str], *, cwd: Path, env: dict[str, str], timeout: float = 180) -> Result:
        """Run a command (a string goes to bash) with the given clean environment; never raises on failure."""
        argv = ["bash", "-c", command] if isinstance(command, str) else command
        done = subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout, check=False)
        return Result(done.returncode, done.stdout, done.stderr)


@dataclass(frozen=True)
class Result:
    code: int
    stdout: str
    stderr: str

    def __str__(self) -> str:
        return f"exit {self.code}\nstdout:\n{self.stdout}\nstderr:\n{self.stderr}"


def without_leaks(env: dict[str, str] | os._Environ[str]) -> dict[str, str]:
    """`env` without the variables that point Python at another tree, and without this venv on PATH."""
    own_bin = str(Path(sys.prefix) / "bin")
    clean = {k: v for k, v in env.items() if k not in LEAKY}
    clean["PATH"] = os.pathsep.join(p for p in clean.get("PATH", "").split(os.pathsep) if p and p != own_bin)
    return clean


def checked(argv: list[str], **kwargs: object) -> None:
    done = subprocess.run(argv, capture_output=True, text=True, check=False, **kwargs)  # type: ignore[call-overload]
    assert done.returncode == 0, f"{' '.join(map(str, argv))}: exit {done.returncode}\n{done.stdout}\n{done.stderr}"


def copy_checkout(dest: Path) -> None:
    """Copy the checkout's files as git sees them (tracked and untracked-not-ignored, as on disk) into dest."""
    listing = subprocess.run(
        ["git", "-C", str(ROOT), "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        capture_output=True,
        check=True,
    ).stdout.decode()
    for name in filter(None, listing.split("\0")):
        source = ROOT / name
        if source.is_file():  # a file deleted or moved away in the work tree is not there to build
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, dest / name)


def open_to_others(path: Path) -> bool:
    """A user who is neither owner nor in the group can reach and run `path` (every directory above it too)."""
    real = path.resolve()
    dirs_open = all(os.stat(p).st_mode & stat.S_IXOTH for p in real.parents)
    return dirs_open and bool(os.stat(real).st_mode & stat.S_IXOTH)


def interpreter_for_others() -> str:
    """A Python (3.10+, with venv) that an unprivileged uid can run: this one if open to others, else a system one."""
    if open_to_others(Path(sys.executable)) and open_to_others(Path(sys.base_prefix)):
        return sys.executable
    for candidate in SYSTEM_PYTHONS:
        if Path(candidate).exists() and open_to_others(Path(candidate)):
            probe = [candidate, "-c", "import sys, venv, ensurepip; sys.exit(sys.version_info < (3, 10))"]
            if subprocess.run(probe, capture_output=True, check=False).returncode == 0:
                return candidate
    pytest.fail(f"no Python that uid 65532 could run: {sys.executable} is under a private directory, none of "
                f"{', '.join(SYSTEM_PYTHONS)} is 3.10+ with venv")  # fmt: skip


def build_and_install(root: Path) -> Installed:
    tree, dist, venv = root / "src", root / "dist", root / "venv"
    copy_checkout(tree)
    pip_env = without_leaks(os.environ)
    checked(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(dist), str(tree)], cwd=root, env=pip_env
    )
    (wheel,) = dist.glob("drkit-*.whl")
    checked([interpreter_for_others(), "-m", "venv", str(venv)], cwd=root, env=pip_env)
    python = str(venv / "bin" / "python")
    checked([python, "-m", "pip", "install", "-q", f"{wheel}[encrypt,kube]"], cwd=root, env=pip_env)
    purelib = subprocess.run(
        [python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True, text=True, check=True, cwd=root, env=pip_env,
    ).stdout.strip()  # fmt: skip
    return Installed(tree=tree, wheel=wheel, venv=venv, site_packages=Path(purelib))


@pytest.fixture(scope="session")
def installed_wheel() -> Iterator[Installed]:
    """The wheel of this checkout installed with `[encrypt,kube]` into a fresh venv (built once per session)."""
    root = Path(tempfile.mkdtemp(prefix="drkit-wheel-"))
    root.chmod(0o755)  # uid 65532 runs this venv in tests/test_image_contract.py
    try:
        yield build_and_install(root)
    finally:
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def open_tmp() -> Iterator[Path]:
    """A fresh temporary directory that other uids can enter (pytest's own tmp_path is private to root)."""
    path = Path(tempfile.mkdtemp(prefix="drkit-open-"))
    path.chmod(0o755)
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def readme_sh_block(heading: str) -> str:
    """The first ```sh block under a README.md heading."""
    text = README.read_text(encoding="utf-8")
    assert heading in text, f"README.md has no {heading!r}"
    match = re.search(r"```sh\n(.*?)```", text[text.index(heading) :], re.DOTALL)
    assert match, f"no ```sh block under {heading!r} in README.md"
    return match.group(1)


def two_commands() -> list[tuple[str, str]]:
    """README's "Two commands": (install half, run half) of each, split at the first ` && `."""
    text = README.read_text(encoding="utf-8")
    section = text[text.index("## Two commands") :]
    section = section[: section.index("\n## ", 1)]
    commands = [block.strip() for block in re.findall(r"```sh\n(.*?)```", section, re.DOTALL)]
    assert len(commands) == 2 and all(" && " in c for c in commands), commands
    return [tuple(c.split(" && ", 1)) for c in commands]  # type: ignore[misc]
