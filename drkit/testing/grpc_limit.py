"""argocd-server's gRPC message size limit on unary answers, which fails an oversized app list with HTTP 429.

Argo CD's API server hands every REST answer to its gateway as one gRPC message, capped for send and receive
by `ARGOCD_GRPC_MAX_SIZE_MB` (default 200) times 1024 * 1024 bytes (v3.5.1 `pkg/apiclient/apiclient.go`
`MaxGRPCMessageSize`; `server/server.go` `grpc.MaxSendMsgSize`, and the gateway's `MaxCallRecvMsgSize`). The
server checks before sending (grpc-go v1.81 `server.go` `sendResponse`) and fails the call with
ResourceExhausted "grpc: trying to send message larger than max (N vs. M)"; the gateway answers that as HTTP
429 with its unary error body (API-NOTES §1.3). There is no pagination (§1.4). The limit applies to the list
the server filtered (projects, selector, name, repo, RBAC); `?fields=` is applied later by the gateway to the
message it received whole, so it never brings a list under the limit (applications.list_apps).

N here is the answer's JSON length, where Argo CD measures the protobuf encoding. JSON repeats every field
name and quotes every string, so it is the larger of the two: the simulator trips at a smaller list than
Argo CD would, never at a larger one.
"""

from __future__ import annotations

import json
from typing import Any

from drkit.testing.rpc import RESOURCE_EXHAUSTED, GrpcError

DEFAULT_MAX_MB = 200.0  # ARGOCD_GRPC_MAX_SIZE_MB's default
# JSON length of each stored object measured so far, by (uid, resourceVersion): stored objects are replaced on
# every write, never mutated (state.py), so a version's length never changes; measuring each list whole would
# cost as much again as the gateway's own encoding of it
_lengths: dict[tuple[str, str], int] = {}


def limit_bytes(max_mb: float) -> int:
    """MaxGRPCMessageSize: the setting in MiB, as bytes."""
    return int(max_mb * 1024 * 1024)


def checked(body: dict[str, Any], max_mb: float) -> dict[str, Any]:
    """A list answer `body` unchanged, or ResourceExhausted when its encoding passes the limit."""
    items = body.get("items") or []
    size = len(_encode({**body, "items": []})) + sum(_length(item) for item in items) + max(0, len(items) - 1)
    limit = limit_bytes(max_mb)
    if size > limit:
        raise GrpcError(RESOURCE_EXHAUSTED, f"grpc: trying to send message larger than max ({size} vs. {limit})")
    return body


def _length(item: dict[str, Any]) -> int:
    meta = item.get("metadata") or {}
    key = (meta.get("uid", ""), meta.get("resourceVersion", ""))
    if not all(key):  # not a stored object's version: measured each time
        return len(_encode(item))
    if key not in _lengths:
        if len(_lengths) > 1_000_000:
            _lengths.clear()
        _lengths[key] = len(_encode(item))
    return _lengths[key]


def _encode(document: Any) -> bytes:
    """As the gateway sends a body: compact JSON."""
    return json.dumps(document, separators=(",", ":")).encode()
