"""Secrets never leak (issue 11): an autouse fixture that watches every test of the suite.

It collects each secret value a test puts into a simulator (the auth token, repository, template and cluster
credentials, however they got there) or into a credentials file (every resolved `Secret`), and everything drkit
stored (each store put), printed (each CliRunner result), logged (each record under the `drkit` logger, the
simulator's excepted) or raised (each DrkitError's message). A secret, or its base64, in any of those fails the
test. Values under 8 characters are not checked: "t0k" would match too much to mean anything.
"""

from __future__ import annotations

import base64
import functools
import logging
import weakref
from collections.abc import Iterator
from typing import Any

import pytest
from click.testing import CliRunner

from drkit.backup.store import LocalStore, S3Store
from drkit.errors import DrkitError
from drkit.restore.credentials import Secret
from drkit.testing import Simulator
from tests.figures import record

MIN_LENGTH = 8
SECRET_FIELDS = frozenset(
    {"password", "sshPrivateKey", "tlsClientCertKey", "githubAppPrivateKey", "bearerToken", "keyData",
     "gcpServiceAccountKey", "secretAccessKey", "awsSecretAccessKey", "bearerTokenSecret"}
)  # fmt: skip
SEEN: set[str] = set()  # every secret value checked, across the suite


class Watch:
    """Secrets put in (simulators alive, every Secret made) and what drkit put out since the last test's check."""

    def __init__(self) -> None:
        self.secrets: set[str] = set()
        self.sims: weakref.WeakSet[Simulator] = weakref.WeakSet()
        self.out: list[tuple[str, bytes]] = []

    def emitted(self, where: str, data: Any) -> None:
        self.out.append((where, data if isinstance(data, bytes) else str(data).encode("utf-8", "replace")))

    def harvest(self) -> set[str]:
        for sim in list(self.sims):
            self.secrets.add(sim.token)
            with sim.lock:
                states = [*sim.repositories.values(), *sim.repocreds.values(), *sim.clusters.values()]
            for state in states:
                self.secrets.update(_secret_values(state))
        return {s for s in self.secrets if isinstance(s, str) and len(s.strip()) >= MIN_LENGTH}

    def leaks(self, secrets: set[str]) -> list[str]:
        """Where a secret, in any of its forms, shows up in what drkit put out; empties `out`."""
        out, self.out = self.out, []
        blob = b"\0".join(data for _, data in out)
        found = []
        for secret in secrets:
            for form in _forms(secret):
                if form in blob:
                    found += [
                        f"a secret ({len(secret)} chars, starting {secret[:3]!r}) in {where}"
                        for where, data in out
                        if form in data
                    ]
        return found


WATCH = Watch()


def _secret_values(node: Any, key: str = "") -> Iterator[str]:
    if isinstance(node, dict):
        for k, v in node.items():
            yield from _secret_values(v, k)
    elif isinstance(node, list):
        for item in node:
            yield from _secret_values(item, key)
    elif key in SECRET_FIELDS and isinstance(node, str):
        yield node


def _forms(secret: str) -> list[bytes]:
    """The secret, its base64, and each long line of a multi-line secret (a key's body lines)."""
    raw = secret.encode()
    forms = [raw, base64.b64encode(raw)]
    forms += [line.strip().encode() for line in secret.splitlines() if len(line.strip()) >= 16 and "-----" not in line]
    return forms


class _Records(logging.Handler):
    def emit(self, record: logging.LogRecord) -> None:
        if record.name.startswith("drkit") and not record.name.startswith("drkit.testing"):
            WATCH.emitted(f"log record {record.name}", record.getMessage())


def _after(owner: Any, name: str, tap: Any) -> None:
    """Call `tap(self, result, *args)` after every call of `owner.name`."""
    original = getattr(owner, name)

    @functools.wraps(original)
    def tapped(self: Any, *args: Any, **kwargs: Any) -> Any:
        result = original(self, *args, **kwargs)
        tap(self, result, *args)
        return result

    setattr(owner, name, tapped)


def pytest_configure(config: pytest.Config) -> None:
    """Watch for the whole session, module-scoped fixtures included (they run before any test's fixture)."""
    _after(Simulator, "start", lambda sim, *_: WATCH.sims.add(sim))
    _after(Secret, "__init__", lambda _, __, value: WATCH.secrets.add(value))
    _after(DrkitError, "__init__", lambda err, *_: WATCH.emitted(f"{type(err).__name__} raised", str(err)))
    _after(CliRunner, "invoke", lambda _, r, *__: WATCH.emitted("printed output", r.stdout_bytes + r.stderr_bytes))
    for store in (LocalStore, S3Store):
        _after(store, "put", lambda s, _, key, data: WATCH.emitted(f"the store, at {key}", bytes(data)))
    logging.getLogger().addHandler(_Records(logging.DEBUG))


@pytest.fixture(autouse=True)
def no_secret_leaks() -> Iterator[None]:
    """Fail the test if a secret shows up in what drkit stored, printed, logged or raised during it."""
    yield
    secrets = WATCH.harvest()
    WATCH.secrets.clear()  # a Secret counts for the test (or the fixture set up for it) that made it
    leaks = WATCH.leaks(secrets)
    record("secrets", tests=1, leaks=len(leaks), values=len(secrets - SEEN))
    SEEN.update(secrets)
    if leaks:
        pytest.fail("secret leak: " + "; ".join(sorted(set(leaks))), pytrace=False)
