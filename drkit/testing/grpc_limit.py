"""argocd-server's gRPC message size limit on unary answers, which fails an oversized app list with HTTP 429.

Argo CD's API server hands every REST answer to its gateway as one gRPC message, capped for send and receive
by `ARGOCD_GRPC_MAX_SIZE_MB` (default 200) times 1024 * 1024 bytes (v3.5.1 `pkg/apiclient/apiclient.go`
`MaxGRPCMessageSize`; `server/server.go` `grpc.MaxSendMsgSize`, and the gateway's `MaxCallRecvMsgSize`). The
server checks before sending (grpc-go v1.81 `server.go` `sendResponse`) and fails the call with
ResourceExhausted "grpc: trying to send message larger than max (N vs. M)"; the gateway answers that as HTTP
429 with its unary error body (API-NOTES §1.3). There is no pagination (§1.4).

N here is the answer's JSON length, where Argo CD measures the protobuf encoding. JSON repeats every field
name and quotes every string, so it is the larger of the two: the simulator trips at a smaller list than
Argo CD would, never at a larger one.
"""

from __future__ import annotations

import json
from typing import Any

from drkit.testing.rpc import RESOURCE_EXHAUSTED, GrpcError, Response

DEFAULT_MAX_MB = 200.0  # ARGOCD_GRPC_MAX_SIZE_MB's default


def limit_bytes(max_mb: float) -> int:
    """MaxGRPCMessageSize: the setting in MiB, as bytes."""
    return int(max_mb * 1024 * 1024)


def unary_answer(body: Any, max_mb: float) -> Response:
    """`body` encoded once as the gateway would send it, or ResourceExhausted when over the limit."""
    data = json.dumps(body, separators=(",", ":")).encode()
    limit = limit_bytes(max_mb)
    if len(data) > limit:
        raise GrpcError(RESOURCE_EXHAUSTED, f"grpc: trying to send message larger than max ({len(data)} vs. {limit})")
    return Response(data, headers={"Content-Type": "application/json"})
