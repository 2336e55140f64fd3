"""What a simulated handler receives and returns: the decoded request, an explicit response, and gRPC errors."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

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
