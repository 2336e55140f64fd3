"""The simulator's HTTP front: routes requests to handlers with Argo CD's auth, content checks, errors and faults.

What this layer copies from Argo CD (API-NOTES §1, §6 items 1-6):
- routes and body bindings come from Argo CD's swagger.json (routes.py); an unknown path is a plain-text 404,
  a known path with the wrong method a plain-text 405;
- every non-GET `/api/` request needs `Content-Type` exactly `application/json` (else 415, plain text);
- bodies decode with Go `encoding/json` semantics (gojson);
- errors are `{"error","code","message"}` with the gateway's gRPC-to-HTTP status map;
- the token comes from `Grpc-Metadata-token`, `Authorization: Bearer x.y.z` or cookie `argocd.token`.
The server sets TCP_NODELAY on every connection, as Go's net/http does, so keep-alive requests do not
wait for a delayed ACK.
"""

from __future__ import annotations

import itertools
import json
import socket
import threading
import time
import traceback
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, unquote_plus, urlsplit

from drkit.testing import gojson
from drkit.testing.capacity import VALIDATED, ServerCost
from drkit.testing.faults import Faults
from drkit.testing.routes import QUERY_UNESCAPED_PREFIXES, Route, load_routes, parse_params
from drkit.testing.rpc import (  # noqa: F401 (re-exported: tests and callers import these from the gateway)
    ABORTED,
    ALREADY_EXISTS,
    CANCELED,
    DATA_LOSS,
    DEADLINE_EXCEEDED,
    FAILED_PRECONDITION,
    HTTP_STATUS,
    INTERNAL,
    INVALID_ARGUMENT,
    NOT_FOUND,
    OUT_OF_RANGE,
    PERMISSION_DENIED,
    RESOURCE_EXHAUSTED,
    UNAUTHENTICATED,
    UNAVAILABLE,
    UNIMPLEMENTED,
    UNKNOWN,
    GrpcError,
    Handler,
    Request,
    Response,
)


class Gateway:
    """Routes requests to handlers by swagger operationId and renders answers as Argo CD does."""

    def __init__(self, authenticate: Callable[[str], dict[str, Any]], public: set[str]) -> None:
        self.routes = load_routes()
        self.handlers: dict[str, Handler] = {}
        self.authenticate = authenticate
        self.public = public  # operationIds that need no token
        self.faults = Faults()
        self.cost = ServerCost()  # how long argocd-server spends on each request (capacity.py)
        self.types = gojson.Types()  # how the simulated release's Go types differ from swagger.json's
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

    def _spend(self, operation: str, req: Request, result: Any) -> None:
        """Take as long as argocd-server would for this answer (nothing by default)."""
        validate = operation in VALIDATED and req.flag("validate", True)
        if cost := self.cost.of(req.method, operation, validate, _items(result)):
            time.sleep(cost)

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
                    req.body = gojson.decode(raw, route.body_schema, types=self.types)
                except gojson.DecodeError as err:
                    raise GrpcError(INVALID_ARGUMENT, str(err)) from None
            self._authenticate(route, headers, req)  # the gRPC interceptor runs after the gateway decoded the request
            handler = self.handlers.get(route.operation)
            if handler is None:
                raise GrpcError(UNIMPLEMENTED, f"{route.operation} is not simulated")
            result = handler(req)
            self._spend(route.operation, req, result)
        except GrpcError as err:
            return error_response(err)
        except Exception as err:  # a simulator bug: answer as Argo CD's Internal error, and keep it for tests
            with self._lock:
                self.crashes.append(f"{method} {raw_path}: {traceback.format_exc()}")
            return error_response(GrpcError(INTERNAL, f"simulator bug: {type(err).__name__}: {err}"))
        return result if isinstance(result, Response) else Response(result)


def _items(result: Any) -> int:
    """How many objects a list answer holds."""
    body = result.body if isinstance(result, Response) else result
    items = body.get("items") if isinstance(body, dict) else None
    return len(items) if isinstance(items, list) else 0


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
        self._send(resp, cut=fault == "truncate")

    def _send(self, resp: Response, *, cut: bool = False) -> None:
        """Write the answer; with `cut`, only its headers and the first half of its body, then close (a watch
        stream is never cut: it ends when the client or the server stops it)."""
        if resp.stream is not None:
            self._stream(resp)
            return
        self.send_response(resp.status)
        headers = dict(resp.headers)
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
        if cut:
            self.wfile.write(data[: len(data) // 2])
            self.wfile.flush()
            self.close_connection = True
            self.connection.shutdown(socket.SHUT_RDWR)
            return
        self.wfile.write(data)

    def _stream(self, resp: Response) -> None:
        """A chunked stream whose headers go out with its first chunk, as the gateway's do (watch.py)."""
        assert resp.stream is not None
        chunks = iter(resp.stream)
        first = next(chunks, b"")
        self.send_response(resp.status)
        headers = {"Content-Type": "application/json", **resp.headers}
        for k, v in headers.items():
            self.send_header(k, v)
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        try:
            for chunk in itertools.chain([first] if first else [], chunks):
                self.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                self.wfile.flush()
            self.wfile.write(b"0\r\n\r\n")
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True

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
