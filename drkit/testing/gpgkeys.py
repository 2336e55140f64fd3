"""Simulated Argo CD GPG key endpoints (API-NOTES §2.9, §6 item 48), with a minimal OpenPGP parser.

Argo CD imports keys with the gpg binary; the simulator parses the armored public key itself so that
tests need no gpg: key ID = the last 16 hex digits of the v4 fingerprint (SHA-1 over 0x99, a 2-byte
length and the public-key packet body).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from typing import Any

from drkit.testing.rpc import INVALID_ARGUMENT, UNKNOWN, GrpcError, Request
from drkit.testing.state import State

# OpenPGP public-key algorithm ids and the names gpg shows for them
_ALGORITHMS = {1: "rsa", 2: "rsa", 3: "rsa", 16: "elg", 17: "dsa", 18: "cv25519", 19: "nistp256", 22: "ed25519"}


def dearmor(text: str) -> bytes:
    """The binary packets of an ASCII-armored OpenPGP block (ValueError when it is not one)."""
    lines = [line.strip() for line in text.strip().splitlines()]
    try:
        start = next(i for i, line in enumerate(lines) if line.startswith("-----BEGIN PGP PUBLIC KEY BLOCK"))
        end = next(i for i, line in enumerate(lines) if line.startswith("-----END PGP PUBLIC KEY BLOCK"))
    except StopIteration:
        raise ValueError("no armored public key block") from None
    body = lines[start + 1 : end]
    while body and body[0] and ":" in body[0]:  # armor headers
        body.pop(0)
    data = "".join(line for line in body if line and not line.startswith("="))
    try:
        return base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError):
        raise ValueError("bad armor") from None


def packets(data: bytes) -> list[tuple[int, bytes]]:
    """(tag, body) of each OpenPGP packet, old or new format headers."""
    out, i = [], 0
    while i < len(data):
        head = data[i]
        if not head & 0x80:
            raise ValueError("not an OpenPGP packet")
        if head & 0x40:  # new format
            tag, i = head & 0x3F, i + 1
            first = data[i]
            if first < 192:
                length, i = first, i + 1
            elif first < 224:
                length, i = ((first - 192) << 8) + data[i + 1] + 192, i + 2
            elif first == 255:
                length, i = int.from_bytes(data[i + 1 : i + 5], "big"), i + 5
            else:
                raise ValueError("partial body lengths are not used for keys")
        else:
            tag, kind, i = (head >> 2) & 0x0F, head & 3, i + 1
            size = {0: 1, 1: 2, 2: 4}.get(kind)
            if size is None:
                raise ValueError("indeterminate packet length")
            length, i = int.from_bytes(data[i : i + size], "big"), i + size
        if i + length > len(data):
            raise ValueError("truncated packet")
        out.append((tag, data[i : i + length]))
        i += length
    return out


def parse_public_keys(armored: str) -> list[dict[str, str]]:
    """Every primary key in `armored` as Argo CD's GnuPGPublicKey (keyData is the armored text)."""
    keys: list[dict[str, str]] = []
    for tag, body in packets(dearmor(armored)):
        if tag == 6:  # public key
            if not body or body[0] != 4:
                raise ValueError("only v4 keys are supported")
            fingerprint = hashlib.sha1(b"\x99" + len(body).to_bytes(2, "big") + body).hexdigest().upper()
            algorithm = body[5]
            sub = _ALGORITHMS.get(algorithm, f"algo{algorithm}")
            if sub == "rsa":
                sub += str(int.from_bytes(body[6:8], "big"))  # MPI bit count of n
            keys.append(
                {"keyID": fingerprint[-16:], "fingerprint": fingerprint, "owner": "", "trust": "unknown",
                 "subType": sub, "keyData": armored}
            )  # fmt: skip
        elif tag == 13 and keys and not keys[-1]["owner"]:  # first user ID of the key
            keys[-1]["owner"] = body.decode("utf-8", "replace")
    if not keys:
        raise ValueError("no public key packet")
    return keys


def list_keys(state: State, req: Request) -> dict[str, Any]:
    state.enforce(req, "gpgkeys", "get", "")
    with state.lock:
        items = [{k: v for k, v in key.items() if k != "keyData"} for _, key in sorted(state.gpgkeys.items())]
    return {"metadata": {}, "items": items or None}


def get_key(state: State, req: Request) -> dict[str, Any]:
    state.enforce(req, "gpgkeys", "get", "")
    key_id = req.params["keyID"]
    with state.lock:
        key = state.gpgkeys.get(key_id.upper())
    if key is None:
        raise GrpcError(UNKNOWN, f"no such key: {key_id}")
    return dict(key)


def create(state: State, req: Request) -> dict[str, Any]:
    state.enforce(req, "gpgkeys", "create", "")
    data = (req.body or {}).get("keyData", "")
    if not data.strip():
        raise GrpcError(UNKNOWN, "submitted key data is empty")
    try:
        keys = parse_public_keys(data)
    except (ValueError, IndexError) as err:
        raise GrpcError(UNKNOWN, f"failed to parse PGP public key data: {err}") from None
    created, skipped = [], []
    with state.lock:
        for key in keys:
            if key["keyID"] in state.gpgkeys:
                skipped.append(key["keyID"])  # never replaced, whatever upsert says
                continue
            state.gpgkeys[key["keyID"]] = key
            created.append(dict(key))
    if created:
        state.notify()
    out: dict[str, Any] = {"created": {"metadata": {}, "items": created or None}}
    if skipped:
        out["skipped"] = skipped
    return out


def delete(state: State, req: Request) -> dict[str, Any]:
    state.enforce(req, "gpgkeys", "delete", "")
    key_id = req.arg("keyID")
    if not key_id:
        raise GrpcError(INVALID_ARGUMENT, "keyID is required")
    with state.lock:
        if state.gpgkeys.pop(key_id.upper(), None) is None:
            raise GrpcError(UNKNOWN, f"no such key: {key_id}")
    state.notify()
    return {}


HANDLERS = {
    "GPGKeyService_List": list_keys,
    "GPGKeyService_Get": get_key,
    "GPGKeyService_Create": create,
    "GPGKeyService_Delete": delete,
}
