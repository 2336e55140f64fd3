"""The installed wheel works outside the checkout (issue 16): README's main command, drill, verify, age, --help.

Every command runs from an empty temporary directory with the wheel's venv first on PATH, PYTHONPATH unset
and a fresh HOME, so `python -m` cannot import the source tree: what is not in the wheel is not there.
"""

from __future__ import annotations

import json
import re
import shutil
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from tests.installed import ROOT, Installed, Result, readme_sh_block, two_commands

pytestmark = pytest.mark.slow
AGE_HEADER = b"age-encryption.org/v1"
TRY_IT = readme_sh_block("## Try it in a minute")
GUESTBOOK_PASSWORD = re.search(r"^export DEMO_GUESTBOOK_PASSWORD=(\S+)", TRY_IT, re.MULTILINE).group(1)
TARGET_NAMESPACE = re.search(r"--app-namespace (\S+)", TRY_IT).group(1)  # the README's restore target's
IDENTITY = (
    "import pyrage, sys\n"
    "identity = pyrage.x25519.Identity.generate()\n"
    "open(sys.argv[1], 'w').write(str(identity) + '\\n')\n"
    "print(identity.to_public())\n"
)


@dataclass
class Place:
    """An empty working directory and HOME outside the checkout, with the wheel's clean environment."""

    installed: Installed
    cwd: Path
    env: dict[str, str]

    def run(self, command: str | list[str], **env: str) -> Result:
        return self.installed.run(command, cwd=self.cwd, env=self.env | env)


@pytest.fixture(scope="module")
def place(installed_wheel: Installed, tmp_path_factory: pytest.TempPathFactory) -> Place:
    cwd, home = tmp_path_factory.mktemp("empty"), tmp_path_factory.mktemp("home")
    assert not any(cwd.iterdir()) and ROOT not in cwd.parents
    return Place(installed_wheel, cwd, installed_wheel.env(home))


@pytest.fixture(scope="module")
def demo_export(place: Place) -> Result:
    """README's main command, its run half (the install half is what built `installed_wheel`)."""
    (install, command), _ = two_commands()
    assert install == "python -m pip install ."
    return place.run(command)


def backups(place: Place, instance: str) -> list[Path]:
    return sorted(p.parent for p in (place.cwd / "drkit-backups" / instance).glob("*/manifest.yaml"))


def test_drkit_and_python_come_from_the_wheels_venv(place: Place) -> None:
    probe = "import drkit, json, sys; print(json.dumps({'file': drkit.__file__, 'path': sys.path}))"
    result = place.run(["python", "-c", probe])
    assert result.code == 0, result
    found = json.loads(result.stdout)
    assert Path(found["file"]).is_relative_to(place.installed.site_packages), found["file"]
    inside = [p for p in found["path"] if p and Path(p).resolve().is_relative_to(ROOT)]
    assert inside == [], f"the checkout is on sys.path: {inside}"
    assert shutil.which("drkit", path=place.env["PATH"]) == str(place.installed.bin / "drkit")


def test_the_readme_main_command_exports_from_the_wheel(place: Place, demo_export: Result) -> None:
    assert demo_export.code == 0, demo_export
    assert "Traceback" not in demo_export.stderr, demo_export
    assert len(backups(place, "demo")) == 1, demo_export


def test_drill_simulate_restores_that_backup_and_writes_a_drill_record(place: Place, demo_export: Result) -> None:
    assert demo_export.code == 0, demo_export
    result = place.run("drkit drill --simulate --instance demo")
    assert result.code == 0, result
    records = list((place.cwd / "drkit-backups" / "demo" / "drills").glob("*.yaml"))
    assert len(records) == 1, result
    (backup,) = backups(place, "demo")
    assert isinstance(yaml.safe_load(records[0].read_text()), dict)
    assert backup.name in records[0].read_text(), "the drill record names the backup it restored"


def test_verify_checks_the_latest_backup(place: Place, demo_export: Result) -> None:
    assert demo_export.code == 0, demo_export
    result = place.run("drkit verify --instance demo latest")
    assert result.code == 0 and ": ok" in result.stdout, result


def test_an_age_encrypted_export_is_read_with_its_identity(place: Place, tmp_path: Path) -> None:
    """export --encrypt age:R writes ciphertext; verify and a restore dry run read it with --identity, not without."""
    identity = tmp_path / "age-identity.txt"
    made = place.run(["python", "-c", IDENTITY, str(identity)])
    assert made.code == 0, made
    recipient = made.stdout.strip()
    assert recipient.startswith("age1")
    export = place.run(
        f"python -m drkit.testing.sim --seed demo -- drkit export --instance sealed --encrypt age:{recipient}"
    )
    assert export.code == 0, export
    (backup,) = backups(place, "sealed")
    objects = [p for p in backup.rglob("*.yaml") if p.name != "manifest.yaml"]
    assert objects and all(p.read_bytes().startswith(AGE_HEADER) for p in objects)

    shutil.copytree(ROOT / "runbooks", place.cwd / "runbooks", dirs_exist_ok=True)
    restore = (
        f"python -m drkit.testing.sim --app-namespace {TARGET_NAMESPACE} -- drkit restore --instance sealed latest "
        "--dry-run "
        "--credentials runbooks/demo-credentials.yaml"
    )
    secret_env = {"DEMO_GUESTBOOK_PASSWORD": GUESTBOOK_PASSWORD}
    blind = place.run(restore, **secret_env)
    assert blind.code != 0 and "--identity" in blind.stderr, blind  # the key is what makes the next one work
    planned = place.run(f"{restore} --identity {identity}", **secret_env)
    assert planned.code == 0 and "dry run, nothing written" in planned.stdout, planned
    assert re.search(r"^summary: .* 0 fail; exit code 0$", planned.stdout, re.MULTILINE), planned

    checksums_only = place.run("drkit verify --instance sealed latest")
    assert checksums_only.code == 0 and "checksums only" in checksums_only.stdout, checksums_only
    full = place.run(f"drkit verify --instance sealed latest --identity {identity}")
    assert full.code == 0 and ": ok" in full.stdout and "checksums only" not in full.stdout, full

    secret = identity.read_text().strip()
    for result in (export, blind, planned, checksums_only, full):
        for value in (secret, GUESTBOOK_PASSWORD):
            assert value not in result.stdout + result.stderr, "a secret was printed"


def listed_commands(help_text: str) -> list[str]:
    """The command names of a click group's --help ("Commands:" then one indented name per line)."""
    assert "\nCommands:\n" in help_text, help_text
    section = help_text.split("\nCommands:\n", 1)[1]
    return re.findall(r"^  ([a-z][\w-]*)(?:\s|$)", section.split("\n\n", 1)[0], re.MULTILINE)


def test_listed_commands_reads_a_click_help_and_refuses_one_without_commands() -> None:
    text = "Usage: x [OPTIONS] COMMAND\n\nOptions:\n  --help  Show.\n\nCommands:\n  drill  Restore...\n  list\n"
    assert listed_commands(text) == ["drill", "list"]
    with pytest.raises(AssertionError):
        listed_commands("Usage: x [OPTIONS]\n\nOptions:\n  --help  Show.\n")


def test_every_listed_command_has_help(place: Place) -> None:
    """Each command `drkit --help` lists (so a new one is covered) answers `drkit COMMAND --help`, exit 0."""
    top = place.run("drkit --help")
    assert top.code == 0, top
    commands = listed_commands(top.stdout)
    assert "export" in commands and "drill" in commands, top.stdout
    failed = {}
    for command in commands:
        result = place.run(["drkit", command, "--help"])
        if result.code != 0 or f"Usage: drkit {command}" not in result.stdout:
            failed[command] = str(result)
    assert failed == {}
    assert place.run(["drkit", "no-such-command", "--help"]).code == 2  # the check above can see a failure
