"""The Argo CD REST API client: one session, auth, timeouts, bounded retries with backoff, typed errors.

No other drkit module imports requests. The token lives only in the session's headers: it is never part of a
URL, a message or a repr.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import time
from collections.abc import Callable, Hashable, Iterator
from typing import Any
from urllib.parse import quote, urlsplit

import ijson
import requests
import urllib3
from requests.adapters import HTTPAdapter

from drkit import __version__
from drkit.argocd import tokens
from drkit.argocd.answers import error_of
from drkit.argocd.kinds import KINDS
from drkit.argocd.versions import Version, parse_version
from drkit.errors import (
    ApiError,
    ConfigError,
    ConnectionFailed,
    Stop,
    TooLarge,
    Unreachable,
)

RETRY_STATUSES = frozenset({429, 502, 503, 504})
# A watch reads what has arrived, up to this many bytes at a time (requests' default, 512, costs a Python round per
# 512 bytes of events that are each a whole Application of several KB)
STREAM_CHUNK = 1 << 16


class _BrokenList(Exception):
    """A list answer that broke off halfway; `cause` is the transport error."""

    def __init__(self, cause: Exception) -> None:
        super().__init__(str(cause))
        self.cause = cause


def _whole(item: Any) -> Hashable:
    """An item recognised by its whole content, for a list that is not one kind's."""
    return hashlib.sha256(_json(item)).digest()


def server_url(server: str, *, plaintext: bool = False) -> str:
    """`--server` as the argocd CLI takes it (https://h[:p], http://h:p, or bare h[:p]) as a base URL."""
    server = server.strip()
    if not server.rstrip("/"):
        raise ConfigError("no Argo CD server given", hint="pass --server or set ARGOCD_SERVER")
    if "://" not in server:  # before stripping slashes, so "https://" is not taken for a bare host "https:"
        server = ("http://" if plaintext else "https://") + server
    server = server.rstrip("/")
    parts = urlsplit(server)
    if "@" in parts.netloc:  # user info would ride into every message and each manifest's `server`
        raise ConfigError(
            "--server must not carry a user name or password",
            hint="give https://host[:port] and the token through --auth-token-file or ARGOCD_AUTH_TOKEN",
        )
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError(f"--server {server!r} is not https://host[:port], http://host:port or host[:port]")
    return f"{parts.scheme}://{parts.netloc}{parts.path}"


def quote_id(value: str) -> str:
    """A URL used as a path parameter, percent-encoded whole as Argo CD requires (API-NOTES §1.1)."""
    return quote(value, safe="")


class Client:
    """A client for one Argo CD API server."""

    def __init__(
        self,
        server: str,
        token: str,
        *,
        plaintext: bool = False,
        insecure: bool = False,
        ca_bundle: str | None = None,
        timeout: float = 30.0,
        retries: int = 5,
        retry_budget: float = 60.0,
        pool_size: int = 256,  # connections kept for reuse: converge may hold --max-syncs hard refreshes at once
    ) -> None:
        self.base = server_url(server, plaintext=plaintext)
        self.timeout = timeout
        self.retries = retries
        self.retry_budget = retry_budget
        self.unreachable: Unreachable | None = None  # once set, every request fails at once (see `request`)
        self.stop: Stop | None = None  # once halted (a signal), a failed request is not retried: the run is ending
        self.session = requests.Session()
        adapter = HTTPAdapter(pool_connections=1, pool_maxsize=pool_size)
        self.session.mount("http://", adapter)
        self.session.mount("https://", adapter)
        # The environment's proxies and CA bundle (requests' HTTPS_PROXY, NO_PROXY, REQUESTS_CA_BUNDLE) are read
        # once, here, instead of on every request; ~/.netrc is never read: its password would replace the token.
        self.session.trust_env = False
        self.session.proxies = requests.utils.get_environ_proxies(self.base)
        environ_ca = os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE")
        self.session.verify = False if insecure else (ca_bundle or environ_ca or True)
        self.session.headers["User-Agent"] = f"drkit/{__version__}"
        self.session.headers["Accept"] = "application/json"
        if token:
            self.session.headers["Authorization"] = f"Bearer {token}"
        if insecure:
            urllib3.disable_warnings(urllib3.exceptions.InsecureRequestWarning)

    def __repr__(self) -> str:
        return f"Client({self.base!r})"

    @classmethod
    def login(cls, server: str, username: str, password: str, **options: Any) -> Client:
        """A client holding a session token from `POST /api/v1/session`."""
        anonymous = cls(server, "", **options)
        answer = anonymous.request("POST", "/api/v1/session", body={"username": username, "password": password})
        client = cls(server, answer["token"], **options)
        client._login = (username, password)  # for `relogin`; never in a repr or a message
        return client

    def relogin(self) -> bool:
        """Log in again with the password this client logged in with (the server's signing key changed, so its
        session token died); False for a token client, which has nothing to log in with."""
        login = getattr(self, "_login", None)
        if login is None:
            return False
        answer = self.request("POST", "/api/v1/session", body={"username": login[0], "password": login[1]})
        self.session.headers["Authorization"] = f"Bearer {answer['token']}"
        return True

    # verbs --------------------------------------------------------------------------------------------

    def get(self, path: str, params: dict[str, Any] | None = None, *, timeout: float | None = None) -> Any:
        return self.request("GET", path, params=params, timeout=timeout)

    def post(self, path: str, body: Any, params: dict[str, Any] | None = None) -> Any:
        return self.request("POST", path, body=body, params=params)

    def put(self, path: str, body: Any, params: dict[str, Any] | None = None) -> Any:
        return self.request("PUT", path, body=body, params=params)

    def delete(self, path: str, params: dict[str, Any] | None = None) -> Any:
        return self.request("DELETE", path, body=None, params=params)

    def items(self, path: str, params: dict[str, Any] | None = None) -> list[dict[str, Any]]:
        """A list endpoint's items; `null` or a missing `items` is an empty list (API-NOTES §1.4)."""
        return list(self.iter_items(path, params))

    def iter_items(
        self, path: str, params: dict[str, Any] | None = None, *, identity: Callable[[Any], Hashable] = _whole
    ) -> Iterator[dict[str, Any]]:
        """A list endpoint's items, each parsed as it arrives: memory does not grow with the list's size.

        Errors come with the first item asked for: HTTP's status precedes the body, so an error answer
        (TooLarge included) is raised before any item is yielded. A list that breaks off halfway (a reset, a
        body cut short) is read again from the start within the retry budget, passing over the items already
        yielded (recognised by `identity`), so a caller that writes each item as it comes writes each once.
        """
        handed: set[Hashable] = set()
        deadline = time.monotonic() + self.retry_budget
        for attempt in range(self.retries + 1):
            try:
                for item in self._read_items(path, params):
                    key = identity(item)
                    if key not in handed:
                        handed.add(key)
                        yield item
                return
            except _BrokenList as err:
                broken = err.cause
            wait = _backoff(attempt)
            if attempt == self.retries or time.monotonic() + wait > deadline:
                break
            time.sleep(wait)
        raise ConnectionFailed(
            f"GET {path}: the connection to {self.base} broke while the list was read, {attempt + 1} time(s) "
            f"({type(broken).__name__}: {_describe(broken)})",
            hint="check the network path to argocd-server (a proxy or load balancer that cuts long answers: its "
            "timeout or body size), then run the command again",
        )

    def _read_items(self, path: str, params: dict[str, Any] | None) -> Iterator[dict[str, Any]]:
        """One reading of a list; a break halfway raises _BrokenList."""
        resp = self._send("GET", path, params=params, stream=True)
        with resp:
            if resp.status_code >= 400:
                raise error_of("GET", path, resp)
            resp.raw.decode_content = True
            try:
                yield from ijson.items(resp.raw, "items.item", use_float=True)
            except ijson.JSONError as err:
                raise ApiError(
                    f"GET {path}: Argo CD's answer is not a whole JSON list ({err})",
                    status=resp.status_code,
                    hint="is --server pointing at the Argo CD API server (not its UI behind a proxy)? run the "
                    "export again",
                ) from None
            except (requests.RequestException, urllib3.exceptions.HTTPError, OSError) as err:
                raise _BrokenList(err) from None

    def list(self, kind: str) -> list[dict[str, Any]]:
        """Every object of one kind, as the list endpoint returns it."""
        return list(self.iter_list(kind))

    def iter_list(self, kind: str, params: dict[str, Any] | None = None) -> Iterator[dict[str, Any]]:
        """Every object of one kind, each parsed as it arrives (see `iter_items`), recognised by its identity."""
        return self.iter_items(KINDS[kind].path, params, identity=KINDS[kind].identity)

    def get_object(self, kind: str, name: str, params: dict[str, Any] | None = None, **options: Any) -> Any:
        """One object of a kind by its name or URL (`<path>/<name>`)."""
        return self.get(KINDS[kind].object_path(name), params, **options)

    def write(self, kind: str, body: dict[str, Any], *, update: bool = False) -> Any:
        """Create (or, with `update`, replace) one object with the endpoint, query and body wrapping of its kind."""
        row = KINDS[kind]
        how = row.write
        payload: Any = body
        if how.wrap:
            payload = {how.wrap: body, "upsert": True}
        elif how.items:
            payload = {"items": [body]}
        params = dict(how.params) or None
        if update and how.replace_by_name:
            return self.put(row.object_path(body["metadata"]["name"]), payload, params)
        return self.post(row.path, payload, params)

    def watch_apps(self, fields: tuple[str, ...] = ()) -> Iterator[dict[str, Any]]:
        """Events of every application the token may see: `GET /api/v1/stream/applications` (API-NOTES §2.2), each
        with only `fields` (dotted paths under `result`, §1.4) when given."""
        return self.stream("/api/v1/stream/applications", {"fields": ",".join(fields)} if fields else None)

    def stream(self, path: str, params: dict[str, Any] | None = None) -> Iterator[dict[str, Any]]:
        """The events of a watch endpoint, one decoded JSON line each, until the server or the network ends it.

        No retries here: the caller reconnects. The read timeout is off, since a watch may be silent for long
        (the gateway sends no headers before the first event, API-NOTES §2.2).
        """
        try:
            with self.session.get(self.base + path, params=params, stream=True, timeout=(self.timeout, None)) as resp:
                if resp.status_code >= 400:
                    raise error_of("GET", path, resp)
                for line in resp.iter_lines(chunk_size=STREAM_CHUNK):
                    if line.strip():
                        yield json.loads(line)
        except (requests.RequestException, ValueError) as err:
            raise ConnectionFailed(f"GET {path}: the watch ended ({type(err).__name__})") from None

    def version(self) -> str:
        """The server's Argo CD version, e.g. `v3.5.1+abc`, or "" when it hides it (answered without auth)."""
        return self.get("/api/version").get("Version", "")

    def settings(self) -> dict[str, Any]:
        """`GET /api/v1/settings`: resource tracking, app label key and the like; it holds no secrets."""
        return self.get("/api/v1/settings") or {}

    def can_i(self, resource: str, action: str, subresource: str) -> bool:
        """Does Argo CD's RBAC give this token `action` on `resource` `subresource` (`/account/can-i`, §6.49)?"""
        path = f"/api/v1/account/can-i/{resource}/{action}/{quote_id(subresource)}"
        return self.get(path).get("value") == "yes"

    def signed_by(self, key: bytes) -> bool:
        """Does this client's token verify under `key` (as Argo CD signs with server.secretkey)? Checked locally."""
        return tokens.signed_by(self.session.headers.get("Authorization", "").removeprefix("Bearer "), key)

    def release(self) -> Version | None:
        """The server's Argo CD release as (major, minor, patch), for `versions.dropped`; None when unknown."""
        return parse_version(self.version())

    # the one place a request is made -------------------------------------------------------------------

    def request(
        self,
        method: str,
        path: str,
        *,
        body: Any = None,
        params: dict[str, Any] | None = None,
        timeout: float | None = None,
    ) -> Any:
        """Send one API call with retries on transient failures; return the decoded JSON answer."""
        resp = self._send(method, path, body=body, params=params, timeout=timeout)
        return self._answer(method, path, resp)

    def _send(
        self,
        method: str,
        path: str,
        *,
        body: Any = None,
        params: dict[str, Any] | None = None,
        timeout: float | None = None,
        stream: bool = False,
    ) -> requests.Response:
        """The first answer that is not a transient failure, after retries with backoff; raise when none came."""
        headers = {}
        if method != "GET":  # Argo CD answers 415 to any non-GET without exactly this (API-NOTES §1.1)
            headers["Content-Type"] = "application/json"
        data = None if body is None else _json(body)
        if method != "GET" and data is None:
            data = b""
        deadline = time.monotonic() + self.retry_budget
        for attempt in range(self.retries + 1):
            wait = None
            if self.unreachable is not None:  # another request found it down: spend no retry budget of our own
                raise Unreachable(
                    f"{method} {path}: not sent, Argo CD at {self.base} stopped answering", hint=self.unreachable.hint
                )
            try:
                resp = self.session.request(
                    method,
                    self.base + path,
                    params=params,
                    data=data,
                    headers=headers,
                    timeout=timeout or self.timeout,
                    stream=stream,
                )
            except requests.RequestException as err:
                failure: Exception = err
            else:
                if resp.status_code not in RETRY_STATUSES:
                    return resp
                failure = error_of(method, path, resp)
                resp.close()
                if isinstance(failure, TooLarge):  # a size limit, not a rate limit: a retry gets the same answer
                    raise failure
                wait = _retry_after(resp)
            if attempt == self.retries or self.stop:
                break
            wait = wait if wait is not None else _backoff(attempt)
            if time.monotonic() + wait > deadline or (self.stop is not None and self.stop.wait(wait)):
                break
            if self.stop is None:
                time.sleep(wait)
        if isinstance(failure, ApiError):
            raise failure
        # A slow answer to a call whose caller bounded the wait (a blocking refresh) is that call's; any other
        # failure to get an answer means Argo CD is unreachable, for every request of this run (errors.ends_run).
        # After a stop, no retry was made: that says nothing of Argo CD.
        bounded = (isinstance(failure, requests.ReadTimeout) and timeout is not None) or bool(self.stop)
        error = (ConnectionFailed if bounded else Unreachable)(
            f"{method} {path}: could not reach Argo CD at {self.base} ({type(failure).__name__}: "
            f"{_describe(failure)}) after {attempt + 1} attempt(s)",
            hint="check --server, the network path and TLS (--insecure, --plaintext, a CA bundle)",
        )
        if isinstance(error, Unreachable):
            self.unreachable = error
        raise error

    def _answer(self, method: str, path: str, resp: requests.Response) -> Any:
        if resp.status_code >= 400:
            raise error_of(method, path, resp)
        if not resp.content:
            return {}
        try:
            return resp.json()
        except ValueError:
            raise ApiError(
                f"{method} {path}: Argo CD answered HTTP {resp.status_code} with a body that is not JSON",
                status=resp.status_code,
                hint="is --server pointing at the Argo CD API server (not its UI behind a proxy)?",
            ) from None


def _json(body: Any) -> bytes:
    return json.dumps(body, separators=(",", ":")).encode()


def _backoff(attempt: int) -> float:
    """Exponential backoff with full jitter: 0..min(8, 0.25*2^n) seconds."""
    return random.uniform(0, min(8.0, 0.25 * 2**attempt))


def _retry_after(resp: requests.Response) -> float | None:
    value = resp.headers.get("Retry-After", "")
    try:
        return min(float(value), 30.0)
    except ValueError:
        return None


def _describe(err: Exception) -> str:
    text = str(err)
    return text if len(text) < 300 else text[:300] + "..."
