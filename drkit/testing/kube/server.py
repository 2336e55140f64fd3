"""The simulated cluster's core/v1 API over real HTTP on 127.0.0.1: routes, bearer tokens, RBAC, Status errors.

Paths (https://kubernetes.io/docs/reference/using-api/api-concepts/#resource-uris): `/api/v1/namespaces/{ns}/
{configmaps|secrets}[/{name}]` with GET (get, list), POST (create, 201), PUT (update), PATCH (patch.py's three
types), DELETE (delete, deletecollection); `/version`, and the discovery documents `/api`, `/api/v1`, `/apis`
that clients read first. A list across all namespaces (`/api/v1/secrets`) needs a ClusterRole, which this server
has none of, so it is 403 `... at the cluster scope`. Any other resource is 404 `the server could not find the
requested resource`. Authentication (https://kubernetes.io/docs/reference/access-authn-authz/authentication/):
`Authorization: Bearer <token>` names a user; an unknown token is 401 `Unauthorized`; no token is
`system:anonymous`, whom no rule allows anything but `/version`. Authorization is rbac.py's, per namespace.
Like Go's net/http, the server sets TCP_NODELAY on every connection. `requests` records every request's
(user, verb, resource, namespace, name, HTTP status) for least-privilege tests; it never records a body.
"""

from __future__ import annotations

import json
import re
import secrets
import socket
import threading
import traceback
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from drkit.testing.kube.rbac import FULL_ACCESS, Rule, allowed, rules
from drkit.testing.kube.selectors import exact_name, parse_fields
from drkit.testing.kube.status import KubeError, bad_request, forbidden, forbidden_path, unauthorized
from drkit.testing.kube.store import RESOURCES, Store

ANONYMOUS = "system:anonymous"
VERSION = {
    "major": "1", "minor": "33", "gitVersion": "v1.33.0", "gitCommit": "60a317eadfcb839692a68eab88b2096f4d708f4f",
    "gitTreeState": "clean", "buildDate": "2025-04-23T13:00:00Z", "goVersion": "go1.24.2", "compiler": "gc",
    "platform": "linux/amd64",
}  # fmt: skip
VERBS = ["create", "delete", "deletecollection", "get", "list", "patch", "update"]
PATH = re.compile(r"^/api/v1/(?:namespaces/(?P<ns>[^/]+)/)?(?P<resource>[^/]+)(?:/(?P<name>[^/]+))?(?P<rest>/.*)?$")
NOT_FOUND = KubeError(404, "NotFound", "the server could not find the requested resource", {})


@dataclass(frozen=True)
class Seen:
    """One request as the audit log keeps it (no bodies, no tokens)."""

    user: str
    verb: str
    resource: str
    namespace: str
    name: str
    status: int


def _resource_list() -> dict[str, Any]:
    resources = [{"name": "namespaces", "singularName": "namespace", "namespaced": False, "kind": "Namespace",
                  "verbs": ["get", "list"], "shortNames": ["ns"]}]  # fmt: skip
    for name, kind in sorted(RESOURCES.items()):
        entry = {"name": name, "singularName": name[:-1], "namespaced": True, "kind": kind, "verbs": VERBS}
        entry["shortNames"] = ["cm"] if name == "configmaps" else []
        resources.append({k: v for k, v in entry.items() if v != []})
    return {"kind": "APIResourceList", "groupVersion": "v1", "resources": resources}


class KubeApi:
    """The HTTP front of a Store: who may do what (tokens, Role rules per namespace), and the server itself."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.tokens: dict[str, str] = {}  # bearer token -> user
        self.roles: dict[str, dict[str, list[Rule]]] = {}  # user -> namespace -> rules of the Roles bound there
        self.requests: list[Seen] = []
        self.crashes: list[str] = []  # tracebacks of simulator bugs
        self._lock = threading.Lock()
        self._server: _Server | None = None

    # users --------------------------------------------------------------------------------------------------

    def add_user(
        self,
        user: str,
        namespace: str,
        granted: Iterable[Mapping[str, Any] | Rule] = FULL_ACCESS,
        *,
        token: str | None = None,
    ) -> str:
        """Bind Role rules (`{verbs, resources, resourceNames?}` dicts or Rule) to `user` in `namespace`, give
        the user a bearer token (a fresh random one unless given), and return it. Calling it again for the same
        user and namespace replaces the rules."""
        token = token or secrets.token_urlsafe(32)
        with self._lock:
            self.tokens[token] = user
            self.roles.setdefault(user, {})[namespace] = rules(granted)
        return token

    def revoke(self, token: str) -> None:
        with self._lock:
            self.tokens.pop(token, None)

    def user_of(self, header: str) -> str:
        """The user a request authenticates as; 401 for a bearer token this server never issued."""
        if not header:
            return ANONYMOUS
        scheme, _, token = header.partition(" ")
        with self._lock:
            user = self.tokens.get(token.strip()) if scheme.lower() == "bearer" else None
        if user is None:
            raise unauthorized()
        return user

    def authorize(self, user: str, verb: str, resource: str, namespace: str, name: str) -> None:
        with self._lock:
            granted = self.roles.get(user, {}).get(namespace, [])
        if not allowed(granted, verb, resource, name):
            raise forbidden(user, verb, resource, name, namespace)

    # HTTP ---------------------------------------------------------------------------------------------------

    def start(self, port: int = 0) -> KubeApi:
        self._server = _Server(("127.0.0.1", port), self)
        threading.Thread(target=self._server.serve_forever, args=(0.05,), name="kube-sim", daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    @property
    def url(self) -> str:
        assert self._server is not None, "the kube API is not started"
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def handle(self, method: str, target: str, headers: Mapping[str, str], body: bytes) -> tuple[int, Any, dict]:
        """One request: (HTTP status, JSON body, extra headers)."""
        split = urlsplit(target)
        query = {k: v[-1] for k, v in parse_qs(split.query, keep_blank_values=True).items()}
        seen = ["", method.lower(), "", "", ""]
        extra: dict[str, str] = {}
        try:
            seen[0] = user = self.user_of(headers.get("authorization", ""))
            status, answer, warnings = self._route(user, method, split.path, query, headers, body, seen)
            if warnings:
                extra["Warning"] = ", ".join('299 - "' + w.replace('"', '\\"') + '"' for w in warnings)
        except KubeError as err:
            status, answer = err.code, err.status()
        except Exception as err:  # a simulator bug: kube-apiserver's 500, kept for the tests to fail on
            with self._lock:
                self.crashes.append(f"{method} {split.path}: {traceback.format_exc()}")
            status, answer = 500, KubeError(500, "InternalError", f"simulator bug: {type(err).__name__}").status()
        with self._lock:
            self.requests.append(Seen(seen[0], seen[1], seen[2], seen[3], seen[4], status))
        return status, answer, extra

    def _route(
        self,
        user: str,
        method: str,
        path: str,
        query: dict[str, str],
        headers: Mapping[str, str],
        body: bytes,
        seen: list[str],
    ) -> tuple[int, Any, list[str]]:
        if path.rstrip("/") == "/version" and method == "GET":
            return 200, VERSION, []
        path = path.rstrip("/") or "/"
        if path in ("/api", "/api/v1", "/apis") and method == "GET":
            if user == ANONYMOUS:
                raise forbidden_path(user, path)
            if path == "/api":
                cidr = [{"clientCIDR": "0.0.0.0/0", "serverAddress": headers.get("host", "")}]
                return 200, {"kind": "APIVersions", "versions": ["v1"], "serverAddressByClientCIDRs": cidr}, []
            if path == "/apis":
                return 200, {"kind": "APIGroupList", "apiVersion": "v1", "groups": []}, []
            return 200, _resource_list(), []
        match = PATH.match(path)
        if not match or match["rest"] or match["resource"] not in RESOURCES:
            raise NOT_FOUND
        resource, name = match["resource"], unquote(match["name"] or "")
        namespace = unquote(match["ns"] or "")
        verb = _verb(method, bool(name))
        seen[1:] = [verb, resource, namespace, name]
        if not namespace:
            why = f'User "{user}" cannot {verb} resource "{resource}" in API group "" at the cluster scope'
            raise KubeError(403, "Forbidden", f"{resource} is forbidden: {why}", {"kind": resource})
        if verb == "list":
            name = exact_name(parse_fields(resource, query.get("fieldSelector", ""))[0])
            seen[4] = name
        self.authorize(user, verb, resource, namespace, name)
        return self._serve(verb, resource, namespace, name, query, headers, body)

    def _serve(
        self,
        verb: str,
        resource: str,
        namespace: str,
        name: str,
        query: dict[str, str],
        headers: Mapping[str, str],
        body: bytes,
    ) -> tuple[int, Any, list[str]]:
        store, dry = self.store, query.get("dryRun") == "All"
        manager = query.get("fieldManager") or headers.get("user-agent", "").split("/", 1)[0]
        if verb == "get":
            return 200, store.get(resource, namespace, name), []
        if verb == "list":
            if query.get("watch") in ("true", "1"):
                raise bad_request("watch is not simulated by drkit's Kubernetes API")
            try:
                limit = int(query.get("limit") or 0)
            except ValueError:
                raise bad_request(f"strconv.ParseInt: parsing {query['limit']!r}: invalid syntax") from None
            answer = store.list(
                resource,
                namespace,
                label_selector=query.get("labelSelector", ""),
                field_selector=query.get("fieldSelector", ""),
                limit=limit,
                token=query.get("continue", ""),
                resource_version=query.get("resourceVersion", ""),
            )
            return 200, answer, []
        if verb == "delete":
            status, answer = store.delete(resource, namespace, name, _json(body, allow_empty=True), dry_run=dry)
            return status, answer, []
        if verb == "deletecollection":
            return self._delete_collection(resource, namespace, query, dry)
        if verb == "patch":
            content_type = headers.get("content-type", "")
            obj, warnings = store.patch(resource, namespace, name, content_type, body, manager=manager, dry_run=dry)
            return 200, obj, warnings
        if headers.get("content-type", "application/json").split(";")[0].strip().lower() != "application/json":
            raise KubeError(415, "UnsupportedMediaType", "the body of the request was in an unknown format - "
                            "accepted media types include: application/json")  # fmt: skip
        document = _json(body)
        if verb == "create":
            obj, warnings = store.create(resource, namespace, document, manager=manager, dry_run=dry)
            status = 201
        else:
            obj, warnings = store.update(resource, namespace, name, document, manager=manager, dry_run=dry)
            status = 200
        if warnings and query.get("fieldValidation") == "Strict":
            raise bad_request("strict decoding error: " + ", ".join(warnings))
        return status, obj, [] if query.get("fieldValidation") == "Ignore" else warnings

    def _delete_collection(self, resource: str, namespace: str, query: dict[str, str], dry: bool) -> Any:
        found = self.store.list(
            resource,
            namespace,
            label_selector=query.get("labelSelector", ""),
            field_selector=query.get("fieldSelector", ""),
        )
        for item in found["items"]:
            self.store.delete(resource, namespace, item["metadata"]["name"], dry_run=dry)
        return 200, found, []


def _verb(method: str, named: bool) -> str:
    verbs = {"GET": ("list", "get"), "POST": ("create", ""), "PUT": ("", "update"), "PATCH": ("", "patch")}
    verbs["DELETE"] = ("deletecollection", "delete")
    verb = verbs.get(method, ("", ""))[1 if named else 0]
    if not verb:
        raise KubeError(405, "MethodNotAllowed", "the server does not allow this method on the requested resource")
    return verb


def _json(body: bytes, *, allow_empty: bool = False) -> Any:
    if allow_empty and not body.strip():
        return {}
    try:
        return json.loads(body)
    except ValueError as err:
        raise bad_request(f"couldn't get version/kind; json parse error: {err}") from None


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def setup(self) -> None:
        super().setup()
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - quiet, and never logs a request
        pass

    def _serve(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        headers = {k.lower(): v for k, v in self.headers.items()}
        status, answer, extra = self.server.api.handle(self.command, self.path, headers, body)
        data = json.dumps(answer, separators=(",", ":")).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        for key, value in extra.items():
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = _serve


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128

    def __init__(self, address: tuple[str, int], api: KubeApi) -> None:
        self.api = api
        super().__init__(address, _Handler)
