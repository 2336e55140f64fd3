"""The secret guard (tests/secretguard.py) sees a leak wherever drkit could make one: a check that can fail."""

from __future__ import annotations

import base64
from pathlib import Path

from click.testing import CliRunner

from drkit.backup.store import open_store
from drkit.cli import main
from drkit.errors import ConfigError
from drkit.restore.credentials import Secret
from drkit.testing import Simulator
from tests.secretguard import WATCH


def test_the_guard_finds_a_secret_raised_stored_or_printed_in_any_form(sim: Simulator, tmp_path: Path) -> None:
    password = "correct-horse-battery-staple"
    Secret(password)  # as the credentials file makes one
    ConfigError(f"cannot log in with {sim.token}")
    open_store(str(tmp_path)).put("a/b.yaml", base64.b64encode(password.encode()))
    CliRunner().invoke(main, ["list", "--store", str(tmp_path), "--instance", password])
    found = WATCH.leaks(WATCH.harvest())  # empties what was seen, so this test itself passes the guard
    assert any("ConfigError raised" in f for f in found)
    assert any("the store, at a/b.yaml" in f for f in found)
    assert any("printed output" in f for f in found)
    WATCH.secrets.clear()
