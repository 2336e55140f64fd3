"""The Argo CD API client over the simulator: bounded retries, Retry-After, typed errors, no token leaks."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest

from drkit.argocd import client as argocd
from drkit.argocd.client import Client, quote_id, server_url
from drkit.errors import ApiError, AuthError, ConfigError, ConnectionFailed, PermissionDenied
from drkit.testing import Simulator
from drkit.testing.gateway import Faults


class Clock:
    """Stands in for the client's `time`: records each wait instead of sleeping, and can end a fault storm."""

    def __init__(self, sim: Simulator, calm_after: int | None = None) -> None:
        self.sim = sim
        self.calm_after = calm_after
        self.waits: list[float] = []

    def monotonic(self) -> float:
        return time.monotonic()

    def sleep(self, seconds: float) -> None:
        self.waits.append(seconds)
        if self.calm_after is not None and len(self.waits) >= self.calm_after:
            self.sim.gateway.faults = Faults()


@pytest.fixture
def spy(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """Every HTTP attempt the client makes (method path), counted at the session, faults included."""
    attempts: list[str] = []
    real = argocd.requests.Session.request

    def request(self: Any, method: str, url: str, *args: Any, **kwargs: Any) -> Any:
        attempts.append(f"{method} {url}")
        return real(self, method, url, *args, **kwargs)

    monkeypatch.setattr(argocd.requests.Session, "request", request)
    yield attempts


def storm(sim: Simulator, monkeypatch: pytest.MonkeyPatch, calm_after: int | None = None, **faults: Any) -> Clock:
    sim.gateway.faults = Faults(**faults)
    clock = Clock(sim, calm_after)
    monkeypatch.setattr(argocd, "time", clock)
    return clock


def projects_seen(sim: Simulator) -> int:
    return sum(1 for method, path in sim.gateway.requests if (method, path) == ("GET", "/api/v1/projects"))


# --- retries --------------------------------------------------------------------------------------------------


def test_503s_are_retried_then_the_answer_comes(sim: Simulator, monkeypatch, spy) -> None:
    clock = storm(sim, monkeypatch, calm_after=3, error_503=1.0)
    names = [p["metadata"]["name"] for p in Client(sim.url, sim.token).items("/api/v1/projects")]
    assert names == ["default"]
    assert len(spy) == 4 and len(clock.waits) == 3
    assert projects_seen(sim) == 1  # the three 503s never reached the API handlers


def test_429_waits_as_long_as_retry_after_says(sim: Simulator, monkeypatch, spy) -> None:
    clock = storm(sim, monkeypatch, calm_after=2, error_429=1.0, retry_after=7)
    assert Client(sim.url, sim.token).version() == sim.version == "v3.6.0+37ee009"
    assert clock.waits == [7.0, 7.0]
    assert len(spy) == 3 and len(sim.gateway.requests) == 1


def test_dropped_connections_are_retried(sim: Simulator, monkeypatch, spy) -> None:
    clock = storm(sim, monkeypatch, calm_after=2, drop=1.0)
    assert Client(sim.url, sim.token).items("/api/v1/projects")
    assert len(clock.waits) == 2 and len(spy) == 3
    assert projects_seen(sim) == 1


def test_backoff_grows_and_is_bounded(sim: Simulator, monkeypatch) -> None:
    clock = storm(sim, monkeypatch, error_503=1.0)
    with pytest.raises(ApiError):
        Client(sim.url, sim.token, retries=8, retry_budget=1000).version()
    assert len(clock.waits) == 8
    assert all(0 <= w <= min(8.0, 0.25 * 2**n) for n, w in enumerate(clock.waits))


def test_a_503_storm_gives_up_after_the_retry_bound(sim: Simulator, monkeypatch, spy) -> None:
    clock = storm(sim, monkeypatch, error_503=1.0)
    with pytest.raises(ApiError) as caught:
        Client(sim.url, sim.token, retries=2).items("/api/v1/projects")
    assert caught.value.status == 503 and not isinstance(caught.value, ConnectionFailed)
    assert len(spy) == 3 and len(clock.waits) == 2 and projects_seen(sim) == 0
    assert sim.token not in str(caught.value) and sim.token not in repr(caught.value)


def test_the_retry_budget_stops_a_long_retry_after(sim: Simulator, monkeypatch, spy) -> None:
    clock = storm(sim, monkeypatch, error_429=1.0, retry_after=20)
    with pytest.raises(ApiError) as caught:
        Client(sim.url, sim.token, retries=5, retry_budget=5).version()
    assert caught.value.status == 429
    assert clock.waits == [] and len(spy) == 1  # waiting 20 s would overrun the 5 s budget: give up at once


def test_dropped_connections_give_up_with_connection_failed(sim: Simulator, monkeypatch, spy) -> None:
    storm(sim, monkeypatch, drop=1.0)
    with pytest.raises(ConnectionFailed) as caught:
        Client(sim.url, sim.token, retries=1).version()
    assert caught.value.status == 0 and "after 2 attempt(s)" in str(caught.value) and len(spy) == 2
    assert sim.token not in str(caught.value) and sim.token not in repr(caught.value)


def test_an_unreachable_server_fails_fast_with_connection_failed(monkeypatch) -> None:
    monkeypatch.setattr(argocd, "time", Clock(None))  # type: ignore[arg-type]
    with pytest.raises(ConnectionFailed, match="could not reach Argo CD"):
        Client("http://127.0.0.1:9", "a.b.c", retries=1, timeout=2).version()


# --- typed errors ---------------------------------------------------------------------------------------------


def test_a_refused_token_is_an_auth_error_without_the_token(sim: Simulator) -> None:
    bad = sim.token[:-6] + "AAAAAA"
    with pytest.raises(AuthError) as caught:
        Client(sim.url, bad).items("/api/v1/applications")
    err = caught.value
    assert err.status == 401 and err.exit_code == 2 and "invalid session" in err.api_message
    for text in (str(err), repr(err), err.message, err.hint or "", err.api_message):
        assert bad not in text and sim.token not in text


def test_forbidden_is_permission_denied(sim: Simulator) -> None:
    sim.policies["reader"] = [("applications", "get", "*")]
    client = Client(sim.url, sim.mint_token("reader:apiKey"))
    assert client.items("/api/v1/applications") == []
    with pytest.raises(PermissionDenied) as caught:
        client.items("/api/v1/gpgkeys")
    assert caught.value.status == 403 and "gpgkeys" in caught.value.api_message


def test_non_get_requests_send_json_content_type(sim: Simulator) -> None:
    client = Client(sim.url, sim.token)
    client.post("/api/v1/projects", {"project": {"metadata": {"name": "scratch"}, "spec": {}}})
    assert "scratch" in sim.projects
    client.delete("/api/v1/projects/scratch")  # a body-less DELETE: the simulator answers 415 without the header
    assert "scratch" not in sim.projects
    assert ("DELETE", "/api/v1/projects/scratch") in sim.gateway.mutating_requests()


def test_a_missing_object_is_not_found(sim: Simulator) -> None:
    with pytest.raises(ApiError) as caught:
        Client(sim.url, sim.token).get("/api/v1/projects/nope")
    assert caught.value.status == 404 and "nope" in str(caught.value)


def test_items_treats_null_as_empty(sim: Simulator, monkeypatch) -> None:
    client = Client(sim.url, sim.token)
    monkeypatch.setattr(client, "get", lambda path, params=None: {"metadata": {}, "items": None})
    assert client.items("/api/v1/applications") == []
    monkeypatch.setattr(client, "get", lambda path, params=None: {})
    assert client.items("/api/v1/applications") == []
    assert Client(sim.url, sim.token).items("/api/v1/applicationsets") == []  # the simulator's own `null`


# --- URLs, repr, login ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("given", "plaintext", "expected"),
    [
        ("argocd.example.com", False, "https://argocd.example.com"),
        ("argocd.example.com:8443", False, "https://argocd.example.com:8443"),
        ("argocd.example.com:8080", True, "http://argocd.example.com:8080"),
        ("http://127.0.0.1:8080/", False, "http://127.0.0.1:8080"),
        ("https://argocd.example.com/", True, "https://argocd.example.com"),
        ("  https://argocd.example.com:443  ", False, "https://argocd.example.com:443"),
    ],
)
def test_server_url_forms(given: str, plaintext: bool, expected: str) -> None:
    assert server_url(given, plaintext=plaintext) == expected


@pytest.mark.parametrize("bad", ["", "   ", "ftp://argocd.example.com", "https://"])
def test_bad_server_urls_are_config_errors(bad: str) -> None:
    with pytest.raises(ConfigError):
        server_url(bad)


def test_quote_id_encodes_a_url_whole() -> None:
    assert quote_id("https://git.example.com/a b/repo.git") == "https%3A%2F%2Fgit.example.com%2Fa%20b%2Frepo.git"
    assert quote_id("git@github.com:org/x.git") == "git%40github.com%3Aorg%2Fx.git"


def test_a_repository_url_round_trips_as_a_path_parameter(sim: Simulator) -> None:
    client = Client(sim.url, sim.token)
    url = "https://git.example.com/team/app+one.git"
    client.post("/api/v1/repositories", {"repo": url, "type": "git"})
    assert client.get(f"/api/v1/repositories/{quote_id(url)}")["repo"] == url


def test_repr_has_no_token(sim: Simulator) -> None:
    client = Client(sim.url, sim.token)
    assert sim.token not in repr(client) and sim.token not in str(client)
    assert sim.url in repr(client)


def test_login_with_username_and_password(sim: Simulator) -> None:
    client = Client.login(sim.url, "admin", "password")
    assert "password" not in repr(client)
    assert [p["metadata"]["name"] for p in client.items("/api/v1/projects")] == ["default"]


def test_login_with_a_wrong_password_is_an_auth_error(sim: Simulator) -> None:
    with pytest.raises(ApiError) as caught:
        Client.login(sim.url, "admin", "not-the-password")
    assert caught.value.status in (401, 403) and "not-the-password" not in str(caught.value)


@pytest.mark.parametrize(("simulated", "release"), [("3.0.14", (3, 0, 14)), ("2.14", (2, 14, 21)), ("3.6", (3, 6, 0))])
def test_the_target_release_is_read_without_a_token(simulated: str, release: tuple[int, int, int]) -> None:
    """`GET /api/version` answers without auth on every version (VERSIONS.md, server/version/version.go)."""
    with Simulator(argocd_version=simulated) as sim:
        anonymous = Client(sim.url, "")
        assert anonymous.release() == release
        assert anonymous.version().startswith(f"v{'.'.join(map(str, release))}+")


def test_a_netrc_entry_for_the_server_does_not_replace_the_token(sim: Simulator, tmp_path, monkeypatch) -> None:
    """requests would send ~/.netrc's login as Basic auth instead of the bearer token; Argo CD would answer 401."""
    (tmp_path / ".netrc").write_text("machine 127.0.0.1 login admin password not-the-token\n")
    (tmp_path / ".netrc").chmod(0o600)
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("NETRC", str(tmp_path / ".netrc"))
    assert Client(sim.url, sim.token).list("projects")


def test_the_environments_proxy_settings_are_honoured(sim: Simulator, monkeypatch) -> None:
    """Read once when the client is made (not per request), but read: HTTP_PROXY and NO_PROXY as requests has them."""
    monkeypatch.setenv("HTTP_PROXY", "http://127.0.0.1:9")  # nothing listens on the discard port
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    with pytest.raises(ConnectionFailed):
        Client(sim.url, sim.token, retries=0).list("projects")
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    assert Client(sim.url, sim.token, retries=0).list("projects")
