"""What Argo CD's error answers mean: HTTP status and gRPC message made into drkit's typed errors (API-NOTES §1.3)."""

from __future__ import annotations

import re

import requests

from drkit.errors import ApiError, AuthError, NotFound, PermissionDenied, TooLarge

# grpc-go's ResourceExhausted text when an answer passes argocd-server's ARGOCD_GRPC_MAX_SIZE_MB (API-NOTES §1.4):
# the server's send check, or the gateway's receive check
_TOO_LARGE = re.compile(r"grpc: (?:trying to send|received) message larger than max \((\d+) vs\. (\d+)\)")


def error_of(method: str, path: str, resp: requests.Response) -> ApiError:
    """A typed error carrying Argo CD's own message (API-NOTES §1.3)."""
    grpc_code = None
    try:
        body = resp.json()
        message = body.get("message") or body.get("error") or ""
        grpc_code = body.get("code")
    except ValueError:
        message = resp.text.strip()[:300]
    status = resp.status_code
    text = f"{method} {path}: Argo CD answered HTTP {status}" + (f": {message}" if message else "")
    cls, hint = ApiError, None
    if status == 401:
        cls = AuthError
        hint = (
            "the token was refused: check --auth-token / ARGOCD_AUTH_TOKEN; a token from another Argo CD "
            "instance (or before a reinstall) is never valid on this one"
        )
    elif status == 403:
        cls = PermissionDenied
        hint = "the token's account lacks this RBAC permission, or the object does not exist"
    elif status == 404:
        cls = NotFound
    elif status == 429 and (too_large := _TOO_LARGE.search(message)):
        size, limit = (int(n) for n in too_large.groups())
        return TooLarge(text, status=status, grpc_code=grpc_code, api_message=message, size=size, limit=limit)
    elif status == 415:
        hint = "drkit sent a request Argo CD does not accept; please report this"
    return cls(text, status=status, grpc_code=grpc_code, api_message=message, hint=hint)
