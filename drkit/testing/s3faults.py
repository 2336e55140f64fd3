"""A fault-injecting HTTP proxy for an S3 endpoint (moto's server in tests): 500s, 503 SlowDowns, dropped connections.

Each request draws from one seeded random sequence, so a run with the same seed and request order gets the same
faults. The error bodies are S3's own (Amazon S3 API Reference, "Error responses": `InternalError` is HTTP 500,
"We encountered an internal error. Please try again."; `SlowDown` is HTTP 503, "Please reduce your request rate.").
A dropped connection closes the socket without an answer, either before the request reaches S3 or after it was
applied (the answer is lost: the client cannot tell that its PUT happened).
"""

from __future__ import annotations

import http.client
import random
import re
import socket
import threading
from collections import Counter
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

from drkit.testing.faults import choose

ERRORS = {
    "500": (500, "InternalError", "We encountered an internal error. Please try again."),
    "503": (503, "SlowDown", "Please reduce your request rate."),
}
HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "proxy-connection", "te", "upgrade"}


@dataclass
class S3Faults:
    """Fault rates (fractions of matching requests) and the seed that makes them repeatable."""

    error_500: float = 0.0
    slow_down: float = 0.0
    drop: float = 0.0
    seed: int = 0
    path_pattern: str = ""  # only requests whose `METHOD path` matches this regex; "" means all
    counts: Counter[str] = field(default_factory=Counter)
    _rng: random.Random = field(default_factory=random.Random, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def __post_init__(self) -> None:
        self._rng.seed(self.seed)

    def pick(self, request_line: str) -> str:
        """Which fault hits this request: '', '500', '503', 'drop' (before S3 sees it) or 'lost' (after)."""
        with self._lock:
            self.counts["requests"] += 1
            if self.path_pattern and not re.search(self.path_pattern, request_line):
                return ""
            name = choose(self._rng, (("500", self.error_500), ("503", self.slow_down), ("drop", self.drop)))
            if name == "drop" and self._rng.random() < 0.5:
                name = "lost"
            if name:
                self.counts[name] += 1
            return name

    @property
    def injected(self) -> int:
        return sum(n for name, n in self.counts.items() if name != "requests")


class S3FaultProxy:
    """`with S3FaultProxy(upstream, S3Faults(...)) as proxy:` then point boto3 at `proxy.url`."""

    def __init__(self, upstream: str, faults: S3Faults) -> None:
        self.upstream = urlsplit(upstream)
        self.faults = faults
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def __enter__(self) -> S3FaultProxy:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    def forward(self, method: str, path: str, headers: list[tuple[str, str]], body: bytes) -> http.client.HTTPResponse:
        conn = http.client.HTTPConnection(self.upstream.hostname, self.upstream.port, timeout=60)
        conn.request(method, path, body=body, headers=dict(headers))
        return conn.getresponse()


def _handler(proxy: S3FaultProxy) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def setup(self) -> None:
            super().setup()
            self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # as S3 and Go servers do

        def log_message(self, *args: object) -> None:
            pass

        def _body(self) -> bytes:
            if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
                data = b""
                while size := int(self.rfile.readline().split(b";")[0], 16):
                    data += self.rfile.read(size)
                    self.rfile.readline()
                self.rfile.readline()
                return data
            return self.rfile.read(int(self.headers.get("Content-Length") or 0))

        def _any(self) -> None:
            body = self._body()
            fault = proxy.faults.pick(f"{self.command} {self.path}")
            if fault == "drop":
                self.close_connection = True
                return
            if fault in ERRORS:
                self._error(*ERRORS[fault])
                return
            headers = [(k, v) for k, v in self.headers.items() if k.lower() not in HOP_BY_HOP]
            if body or self.command in ("PUT", "POST"):
                headers = [(k, v) for k, v in headers if k.lower() != "content-length"]
                headers.append(("Content-Length", str(len(body))))
            answer = proxy.forward(self.command, self.path, headers, body)
            data = answer.read()
            if fault == "lost":
                self.close_connection = True
                return
            self.send_response(answer.status, answer.reason)
            for key, value in answer.getheaders():
                if key.lower() not in HOP_BY_HOP and key.lower() != "content-length":
                    self.send_header(key, value)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(data)

        def _error(self, status: int, code: str, message: str) -> None:
            xml = (
                '<?xml version="1.0" encoding="UTF-8"?>\n'
                f"<Error><Code>{code}</Code><Message>{message}</Message><RequestId>drkit-fault</RequestId></Error>"
            ).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/xml")
            self.send_header("Content-Length", str(len(xml)))
            self.end_headers()
            self.wfile.write(xml)

        do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = _any  # noqa: N815

    return Handler
