"""The simulator's HTTP front: grpc-gateway v1 routing from swagger.json, Argo CD's auth, errors and faults.

What this layer copies from Argo CD (API-NOTES §1, §6 items 1-6):
- routes and body bindings come from Argo CD's swagger.json; an unknown path is a plain-text 404, a known
  path with the wrong method a plain-text 405;
- every non-GET `/api/` request needs `Content-Type` exactly `application/json` (else 415, plain text);
- bodies decode with Go `encoding/json` semantics (gojson);
- errors are `{"error","code","message"}` with the gateway's gRPC-to-HTTP status map;
- the token comes from `Grpc-Metadata-token`, `Authorization: Bearer x.y.z` or cookie `argocd.token`.
The server sets TCP_NODELAY on every connection, as Go's net/http does, so keep-alive requests do not
wait for a delayed ACK.
"""

from __future__ import annotations

import json
import random
import re
import socket
import threading
import time
import traceback
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, unquote_plus, urlsplit

from drkit.testing import gojson

# gRPC codes (google.golang.org/grpc/codes)
CANCELED, UNKNOWN, INVALID_ARGUMENT, DEADLINE_EXCEEDED, NOT_FOUND, ALREADY_EXISTS = 1, 2, 3, 4, 5, 6
PERMISSION_DENIED, RESOURCE_EXHAUSTED, FAILED_PRECONDITION, ABORTED, OUT_OF_RANGE = 7, 8, 9, 10, 11
UNIMPLEMENTED, INTERNAL, UNAVAILABLE, DATA_LOSS, UNAUTHENTICATED = 12, 13, 14, 15, 16

# grpc-gateway v1.16 runtime.HTTPStatusFromCode (API-NOTES §1.3)
HTTP_STATUS = {
    0: 200,
    CANCELED: 408,
    UNKNOWN: 500,
    INVALID_ARGUMENT: 400,
    DEADLINE_EXCEEDED: 504,
    NOT_FOUND: 404,
    ALREADY_EXISTS: 409,
    PERMISSION_DENIED: 403,
    RESOURCE_EXHAUSTED: 429,
    FAILED_PRECONDITION: 400,
    ABORTED: 409,
    OUT_OF_RANGE: 400,
    UNIMPLEMENTED: 501,
    INTERNAL: 500,
    UNAVAILABLE: 503,
    DATA_LOSS: 500,
    UNAUTHENTICATED: 401,
}

# bug21955Workaround: these path parameters are taken raw and then url.QueryUnescape'd (API-NOTES §1.1).
# Routes whose last parameter is `{x=**}` in the proto (swagger shows a plain `{x}`).
GREEDY_TEMPLATES = frozenset({"/api/v1/account/can-i/{resource}/{action}/{subresource}"})
QUERY_UNESCAPED_PREFIXES = ("/api/v1/clusters/", "/api/v1/repositories/", "/api/v1/repocreds/")
# Query parameters read by Argo CD's own forwarders, outside the request messages swagger describes (§1.4)
QUERY_EXTRAS = frozenset({"fields"})


class GrpcError(Exception):
    """An error a handler returns; the gateway renders it as Argo CD's JSON error body."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass
class Request:
    """One decoded API request as a handler sees it."""

    method: str
    path: str
    params: dict[str, str]
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: Any = None
    subject: str = ""  # the JWT `sub` of the caller, "" when anonymous
    claims: dict[str, Any] = field(default_factory=dict)

    def arg(self, name: str, default: str = "") -> str:
        """A query parameter's first value: grpc-gateway v1 logs "too many field values" and uses values[0]."""
        values = self.query.get(name)
        return values[0] if values else default

    def args(self, name: str) -> list[str]:
        return self.query.get(name, [])

    def flag(self, name: str, default: bool = False) -> bool:
        """A boolean query parameter, parsed like Go's strconv.ParseBool (else 400)."""
        raw = self.arg(name)
        if raw == "":
            return default
        if raw in ("1", "t", "T", "true", "TRUE", "True"):
            return True
        if raw in ("0", "f", "F", "false", "FALSE", "False"):
            return False
        raise GrpcError(INVALID_ARGUMENT, f'parsing field "{name}": strconv.ParseBool: parsing "{raw}": invalid syntax')


@dataclass
class Response:
    """A handler's explicit answer, when a plain JSON 200 is not enough (cookies, streams)."""

    body: Any = None
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    stream: Iterator[bytes] | None = None


Handler = Callable[[Request], Any]


@dataclass
class Route:
    method: str
    pattern: re.Pattern[str]
    names: list[str]
    operation: str
    body_schema: dict[str, Any] | None
    template: str
    query_params: frozenset[str] = frozenset()  # what the request message takes from the query (none: body "*")
    typed: dict[str, str] = field(default_factory=dict)  # path/query parameter -> "bool" | "int", parsed as Go does


def load_routes() -> list[Route]:
    """Every route of Argo CD's REST gateway, from swagger.json."""
    routes = []
    for template, methods in gojson.swagger()["paths"].items():
        names = re.findall(r"{([^}]+)}", template)
        regex = re.sub(r"{[^}]+}", "([^/]+)", re.escape(template).replace(r"\{", "{").replace(r"\}", "}"))
        if template in GREEDY_TEMPLATES:  # the proto says {param=**}: the last parameter spans slashes
            regex = regex[: regex.rindex("([^/]+)")] + "(.+)"
        for method, op in methods.items():
            params = op.get("parameters", [])
            body = next((p["schema"] for p in params if p["in"] == "body"), None)
            query = frozenset(p["name"] for p in params if p["in"] == "query") | QUERY_EXTRAS
            typed = {p["name"]: kind for p in params if (kind := _scalar_kind(p))}
            route = Route(
                method.upper(), re.compile(f"^{regex}$"), names, op["operationId"], body, template, query, typed
            )
            routes.append(route)
    # literal segments win over parameters, as in the gateway's pattern order
    routes.sort(key=lambda r: r.template.count("{"))
    return routes


def _scalar_kind(param: dict[str, Any]) -> str:
    """ "bool" or "int" for a path or query parameter the gateway parses with strconv, else ""."""
    if param["in"] not in ("path", "query"):
        return ""
    if param.get("type") == "boolean":
        return "bool"
    if param.get("type") == "integer" or param.get("format") in ("int64", "int32", "uint64", "uint32"):
        return "int"
    return ""


def _parse_scalar(kind: str, value: str) -> str:
    """The strconv error grpc-gateway v1's runtime.Bool / runtime.Int64 gives for value, or "" when it parses."""
    if kind == "bool":
        ok = value in ("1", "t", "T", "true", "TRUE", "True", "0", "f", "F", "false", "FALSE", "False")
        return "" if ok else f'strconv.ParseBool: parsing "{value}": invalid syntax'
    try:
        int(value, 0)  # runtime.Int64 is strconv.ParseInt(val, 0, 64)
        return ""
    except ValueError:
        return f'strconv.ParseInt: parsing "{value}": invalid syntax'


def parse_params(route: Route, params: dict[str, str], query: dict[str, list[str]]) -> dict[str, list[str]]:
    """Check typed path and query parameters as the generated gateway code does; return the query it reads.

    Path parameters give `type mismatch, parameter: x, error: ...`; query parameters the bare strconv error.
    A `body: "*"` route reads no query parameters at all, and others only their request message's fields.
    """
    for name, value in params.items():
        if (kind := route.typed.get(name)) and (err := _parse_scalar(kind, value)):
            raise GrpcError(INVALID_ARGUMENT, f"type mismatch, parameter: {name}, error: {err}")
    kept = {k: v for k, v in query.items() if k in route.query_params}
    for name, values in kept.items():
        if (kind := route.typed.get(name)) and values and (err := _parse_scalar(kind, values[0])):
            raise GrpcError(INVALID_ARGUMENT, err)
    return kept


@dataclass
class Faults:
    """Faults a test can switch on: latency, a fraction of 503s, 429s with Retry-After, dropped connections."""

    latency: float = 0.0
    error_503: float = 0.0
    error_429: float = 0.0
    retry_after: int = 1
    drop: float = 0.0
    path_pattern: str = ""  # only requests whose path matches this regex; "" means all
    seed: int = 0
    _rng: random.Random = field(default_factory=random.Random, repr=False)

    def __post_init__(self) -> None:
        self._rng.seed(self.seed)

    def applies(self, path: str) -> bool:
        """Does this request's path match `path_pattern` (always, when it is empty)?"""
        return not self.path_pattern or re.search(self.path_pattern, path) is not None

    def pick(self, path: str) -> str:
        """Which fault hits this request: '', 'drop', '503' or '429'."""
        if not self.applies(path):
            return ""
        roll = self._rng.random()
        for name, share in (("drop", self.drop), ("503", self.error_503), ("429", self.error_429)):
            if roll < share:
                return name
            roll -= share
        return ""


class Gateway:
    """Routes requests to handlers by swagger operationId and renders answers as Argo CD does."""

    def __init__(self, authenticate: Callable[[str], dict[str, Any]], public: set[str]) -> None:
        self.routes = load_routes()
        self.handlers: dict[str, Handler] = {}
        self.authenticate = authenticate
        self.public = public  # operationIds that need no token
        self.faults = Faults()
        self.requests: list[tuple[str, str]] = []  # (method, path) of every request, for tests
        self.crashes: list[str] = []  # tracebacks of handler bugs; the test fixtures fail on any
        self._lock = threading.Lock()

    def register(self, handlers: dict[str, Handler]) -> None:
        self.handlers.update(handlers)

    def mutating_requests(self) -> list[tuple[str, str]]:
        """Every non-GET request seen so far (a dry run must make none)."""
        with self._lock:
            return [r for r in self.requests if r[0] != "GET"]

    def match(self, method: str, raw_path: str) -> tuple[Route, dict[str, str]] | int:
        allowed = False
        for route in self.routes:
            m = route.pattern.match(raw_path)
            if not m:
                continue
            if route.method != method:
                allowed = True
                continue
            unescape = unquote_plus if raw_path.startswith(QUERY_UNESCAPED_PREFIXES) else unquote
            return route, {n: unescape(v) for n, v in zip(route.names, m.groups(), strict=True)}
        return 405 if allowed else 404

    def token_of(self, headers: dict[str, str]) -> str:
        """The caller's token, in Argo CD's order: gRPC metadata, Bearer header, cookie (getToken)."""
        if headers.get("grpc-metadata-token"):
            return headers["grpc-metadata-token"]
        auth = headers.get("authorization", "")
        if auth.startswith("Bearer ") and len(auth[7:].split(".")) == 3:
            return auth[7:]
        cookies = {}
        for part in headers.get("cookie", "").split(";"):
            name, _, value = part.strip().partition("=")
            cookies[name] = value
        raw = cookies.get("argocd.token", "")
        if ":" in raw and raw.split(":", 1)[0].isdigit():  # chunked: "<n>:<part1>", argocd.token-1, ...
            count, first = raw.split(":", 1)
            raw = first + "".join(cookies.get(f"argocd.token-{i}", "") for i in range(1, int(count)))
        return raw

    def _authenticate(self, route: Route, headers: dict[str, str], req: Request) -> None:
        """Set the caller's claims: 401 without a valid token, unless the operation needs none."""
        token = self.token_of(headers)
        if route.operation not in self.public:
            if not token:
                raise GrpcError(UNAUTHENTICATED, "no session information")
            req.claims = self.authenticate(token)
            req.subject = req.claims.get("sub", "")
        elif token:
            try:
                req.claims = self.authenticate(token)
                req.subject = req.claims.get("sub", "")
            except GrpcError:
                pass

    def handle(self, method: str, target: str, headers: dict[str, str], body: bytes) -> Response:
        """The whole pipeline for one request, from raw bytes to a Response."""
        split = urlsplit(target)
        raw_path = split.path
        with self._lock:
            self.requests.append((method, raw_path))
        content_type = headers.get("content-type", "").lower()
        if method != "GET" and raw_path.startswith("/api/") and content_type != "application/json":
            plain = {"Content-Type": "text/plain; charset=utf-8", "X-Content-Type-Options": "nosniff"}  # http.Error
            return Response("Invalid content type\n", 415, plain)
        found = self.match(method, raw_path)
        if isinstance(found, int):
            text = "Not Found" if found == 404 else "Method Not Allowed"
            return Response(text + "\n", found, {"Content-Type": "text/plain; charset=utf-8"})
        route, params = found
        try:
            query = parse_qs(split.query, keep_blank_values=True)
            req = Request(method, raw_path, params, query, headers)
            req.query = parse_params(route, params, query)
            if route.body_schema is not None:
                try:
                    raw = json.loads(body or b"{}")
                except ValueError as err:
                    raise GrpcError(INVALID_ARGUMENT, f"invalid character in request body: {err}") from None
                try:
                    req.body = gojson.decode(raw, route.body_schema)
                except gojson.DecodeError as err:
                    raise GrpcError(INVALID_ARGUMENT, str(err)) from None
            self._authenticate(route, headers, req)  # the gRPC interceptor runs after the gateway decoded the request
            handler = self.handlers.get(route.operation)
            if handler is None:
                raise GrpcError(UNIMPLEMENTED, f"{route.operation} is not simulated")
            result = handler(req)
        except GrpcError as err:
            return error_response(err)
        except Exception as err:  # a simulator bug: answer as Argo CD's Internal error, and keep it for tests
            with self._lock:
                self.crashes.append(f"{method} {raw_path}: {traceback.format_exc()}")
            return error_response(GrpcError(INTERNAL, f"simulator bug: {type(err).__name__}: {err}"))
        return result if isinstance(result, Response) else Response(result)


def error_response(err: GrpcError) -> Response:
    body = {"error": err.message, "code": err.code, "message": err.message}
    return Response(body, HTTP_STATUS.get(err.code, 500))


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def setup(self) -> None:
        super().setup()
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - quiet by default
        pass

    def _serve(self) -> None:
        gateway = self.server.gateway
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        faults = gateway.faults
        path = urlsplit(self.path).path
        if faults.latency and faults.applies(path):
            time.sleep(faults.latency)
        fault = faults.pick(path)
        if fault == "drop":
            self.close_connection = True
            self.connection.shutdown(socket.SHUT_RDWR)
            return
        if fault == "503":
            resp = Response("upstream connect error", 503, {"Content-Type": "text/plain; charset=utf-8"})
        elif fault == "429":
            resp = Response("Too Many Requests", 429, {"Retry-After": str(faults.retry_after)})
        else:
            headers = {k.lower(): v for k, v in self.headers.items()}
            resp = gateway.handle(self.command, self.path, headers, body)
        self._send(resp)

    def _send(self, resp: Response) -> None:
        self.send_response(resp.status)
        headers = dict(resp.headers)
        if resp.stream is not None:
            headers.setdefault("Content-Type", "application/json")
            for k, v in headers.items():
                self.send_header(k, v)
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            try:
                for chunk in resp.stream:
                    self.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                    self.wfile.flush()
                self.wfile.write(b"0\r\n\r\n")
            except (BrokenPipeError, ConnectionResetError):
                self.close_connection = True
            return
        if isinstance(resp.body, (bytes, str)):
            data = resp.body.encode() if isinstance(resp.body, str) else resp.body
            headers.setdefault("Content-Type", "text/plain; charset=utf-8")
        else:
            data = json.dumps(resp.body, separators=(",", ":")).encode()
            headers.setdefault("Content-Type", "application/json")
        for k, v in headers.items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = _serve


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128

    def __init__(self, address: tuple[str, int], gateway: Gateway) -> None:
        self.gateway = gateway
        super().__init__(address, _Handler)


def serve(gateway: Gateway, host: str = "127.0.0.1", port: int = 0) -> _Server:
    """Start serving `gateway` in a background thread; the server's `server_address` has the port."""
    server = _Server((host, port), gateway)
    threading.Thread(target=server.serve_forever, args=(0.05,), name="argocd-sim", daemon=True).start()  # fast shutdown
    return server
