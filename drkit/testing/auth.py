"""Argo CD's tokens for the simulator: HS256 JWTs signed with the instance's key, and their validation.

Source: `util/session/sessionmanager.go` (`Create`, `Parse`), `server/server.go` `Authenticate` (API-NOTES §1.2,
§6 items 6, 37).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
import uuid
from typing import Any

from drkit.testing.rpc import UNAUTHENTICATED, GrpcError
from drkit.testing.state import State


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def mint_token(state: State, sub: str, *, expires_in: int | None = None, jti: str | None = None) -> str:
    """An HS256 JWT signed with this instance's secret key, as Argo CD issues them.

    An `<account>:apiKey` token is also recorded as the account's API key, as `argocd account
    generate-token` does, so it stays valid until deleted (Argo CD refuses unrecorded ids).
    """
    iat = int(time.time())
    claims: dict[str, Any] = {"iss": "argocd", "sub": sub, "iat": iat, "nbf": iat, "jti": jti or str(uuid.uuid4())}
    if expires_in:
        claims["exp"] = iat + expires_in
    account, _, capability = sub.partition(":")
    if capability == "apiKey" and not sub.startswith("proj:"):
        record: dict[str, Any] = {"id": claims["jti"], "issuedAt": iat}
        if expires_in:
            record["expiresAt"] = claims["exp"]
        with state.lock:
            state.set_account_tokens(account, state.account_tokens.get(account, []) + [record])
    header = _b64url(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
    payload = _b64url(json.dumps(claims).encode())
    sig = hmac.new(state.secret_key, f"{header}.{payload}".encode(), hashlib.sha256).digest()
    return f"{header}.{payload}.{_b64url(sig)}"


def authenticate(state: State, token: str) -> dict[str, Any]:
    """Claims of a valid token, else 401 `invalid session: ...` (API-NOTES §1.2, §6 items 6, 37)."""
    if token in state.static_tokens:
        return {"iss": "argocd", "sub": state.static_tokens[token], "iat": 0}
    if not state.secret_key:  # argocd-secret lost its key: settings are incomplete, nothing verifies
        raise GrpcError(UNAUTHENTICATED, "invalid session: server.secretkey is missing")
    parts = token.split(".")
    if len(parts) != 3:
        raise GrpcError(UNAUTHENTICATED, "invalid session: token contains an invalid number of segments")
    expected = hmac.new(state.secret_key, f"{parts[0]}.{parts[1]}".encode(), hashlib.sha256).digest()
    try:
        valid = hmac.compare_digest(_b64url(expected), parts[2])
        claims = json.loads(base64.urlsafe_b64decode(parts[1] + "=" * (-len(parts[1]) % 4)))
    except ValueError:
        raise GrpcError(UNAUTHENTICATED, "invalid session: token is malformed") from None
    if not valid:
        raise GrpcError(UNAUTHENTICATED, "invalid session: token signature is invalid: signature is invalid")
    if claims.get("exp") and claims["exp"] < time.time():
        raise GrpcError(UNAUTHENTICATED, "invalid session: token has invalid claims: token is expired")
    sub = claims.get("sub", "")
    if sub.startswith("proj:"):
        _check_project_token(state, sub, claims)
    else:
        _check_account_token(state, sub, claims)
    return claims


def _check_account_token(state: State, sub: str, claims: dict[str, Any]) -> None:
    """SessionManager.Parse for accounts: a known account, a jti, an unrevoked API key, no newer password."""
    account, _, capability = sub.partition(":")
    token_id = claims.get("jti") or ""
    with state.lock:
        known = account in state.users or account in state.account_tokens
        recorded = any(t["id"] == token_id for t in state.account_tokens.get(account, []))
        changed = state.password_mtime.get(account, 0)
    if not known:
        raise GrpcError(
            UNAUTHENTICATED, f"invalid session: rpc error: code = NotFound desc = account '{account}' does not exist"
        )
    if not token_id:
        raise GrpcError(
            UNAUTHENTICATED,
            "invalid session: token does not have a unique identifier (jti claim) and cannot be validated",
        )
    if capability != "login" and not recorded:
        raise GrpcError(UNAUTHENTICATED, f"invalid session: account {account} does not have token with id {token_id}")
    if claims.get("iat", 0) < changed:
        raise GrpcError(UNAUTHENTICATED, "invalid session: account password has changed since token issued")


def _check_project_token(state: State, sub: str, claims: dict[str, Any]) -> None:
    _, project, role = sub.split(":", 2)
    with state.lock:
        proj = state.projects.get(project)
        items = (proj or {}).get("status", {}).get("jwtTokensByRole", {}).get(role, {}).get("items", [])
        token_id = claims.get("jti") or str(claims.get("iat"))
        if not any(t.get("id") == token_id for t in items):
            raise GrpcError(UNAUTHENTICATED, f"invalid session: {sub} token has been revoked or does not exist")
