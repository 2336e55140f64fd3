"""Argo CD's tokens as a client may check them: an HS256 JWT verifies under a signing key, or not (no request)."""

from __future__ import annotations

import base64
import hashlib
import hmac


def signed_by(token: str, key: bytes) -> bool:
    """Does `token` carry a valid HS256 signature under `key` (argocd-secret `server.secretkey`)?"""
    parts = token.split(".")
    if len(parts) != 3 or not key:
        return False
    mac = hmac.new(key, f"{parts[0]}.{parts[1]}".encode(), hashlib.sha256).digest()
    return hmac.compare_digest(base64.urlsafe_b64encode(mac).rstrip(b"=").decode(), parts[2])
