"""Shared fixtures: a fresh Argo CD simulator over real HTTP, and moto's S3 server."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from drkit.testing import Simulator

# The demo's sync windows open and close by the hour (a deny window at 22:00 UTC blocks the billing app's
# sync): the simulators' clock for windows is pinned to a Wednesday noon, so no result depends on the time of day
# (drkit.testing.syncwindows.current). Subprocesses inherit it; tests/installed.py passes it on to its clean env.
SIM_NOW = os.environ.setdefault("DRKIT_SIM_NOW", "2026-01-07T12:00:00Z")

pytest_plugins = [
    "tests.s3fixtures",  # moto S3 server fixtures: s3_server, s3_client, s3_bucket
    "tests.figures",  # the reliability table printed at the end of the run
    "tests.installed",  # the wheel built and installed in a fresh venv: installed_wheel, open_tmp; the slow marker
    "tests.secretguard",  # fails any test whose secrets show up in what drkit stored, printed, logged or raised
]


@pytest.fixture
def sim(request: pytest.FixtureRequest) -> Iterator[Simulator]:
    """A fresh simulated Argo CD instance on 127.0.0.1, with its controller running.

    Parametrize it indirectly with Simulator keyword arguments, e.g. `{"argocd_version": "3.0"}`.
    """
    with Simulator(**getattr(request, "param", {})) as instance:
        yield instance
    assert not instance.gateway.crashes, "the simulator crashed:\n" + "\n".join(instance.gateway.crashes)
