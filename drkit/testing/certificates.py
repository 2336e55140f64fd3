"""Simulated Argo CD certificate endpoints: SSH known hosts and TLS certificates (API-NOTES §2.8, §6 item 47).

Stored entries are `{serverName, certType, certSubType, certData}` with certData the base64 of what the
client sent (an SSH key blob in base64, or PEM text), as Argo CD keeps them in its ConfigMaps.
"""

from __future__ import annotations

import base64
import binascii
import fnmatch
import hashlib
import re
from functools import lru_cache
from typing import Any

from drkit.testing.known_hosts import DEFAULT_KNOWN_HOSTS  # noqa: F401 (re-exported)
from drkit.testing.rpc import UNKNOWN, GrpcError, Request
from drkit.testing.state import State

_HOSTNAME = re.compile(r"^(\[[A-Za-z0-9.\-_]+\]:\d{1,5}|[A-Za-z0-9_*]([A-Za-z0-9.\-_*]*[A-Za-z0-9_*])?)$")
_PEM = re.compile(r"-----BEGIN CERTIFICATE-----(.*?)-----END CERTIFICATE-----", re.S)
# X.509 attribute OIDs as Go's pkix.Name.String() names them
_ATTRS = {
    "2.5.4.3": "CN", "2.5.4.5": "SERIALNUMBER", "2.5.4.6": "C", "2.5.4.7": "L", "2.5.4.8": "ST",
    "2.5.4.9": "STREET", "2.5.4.10": "O", "2.5.4.11": "OU", "2.5.4.17": "POSTALCODE",
}  # fmt: skip
_KEY_ALGORITHMS = {"1.2.840.113549.1.1.1": "rsa", "1.2.840.10045.2.1": "ecdsa", "1.3.101.112": "ed25519"}


def ssh_fingerprint(key_text: str) -> str:
    """OpenSSH's `SHA256:` fingerprint of a base64 key blob."""
    blob = base64.b64decode(key_text)
    return "SHA256:" + base64.b64encode(hashlib.sha256(blob).digest()).decode().rstrip("=")


def _ssh_key_type(key_text: str) -> str:
    """The key type named inside a base64 SSH key blob (ValueError when it is not one)."""
    try:
        blob = base64.b64decode(key_text, validate=True)
    except (binascii.Error, ValueError):
        raise ValueError("illegal base64 data") from None
    size = int.from_bytes(blob[:4], "big")
    if len(blob) < 4 + size or size == 0:
        raise ValueError("short read")
    return blob[4 : 4 + size].decode("ascii", "replace")


def _der(data: bytes, i: int) -> tuple[int, int, int]:
    """(tag, start of content, end of content) of the DER element at i."""
    tag, length, i = data[i], data[i + 1], i + 2
    if length & 0x80:
        n = length & 0x7F
        length, i = int.from_bytes(data[i : i + n], "big"), i + n
    if i + length > len(data):
        raise ValueError("truncated DER")
    return tag, i, i + length


def _children(data: bytes, start: int, end: int) -> list[tuple[int, int, int]]:
    out = []
    while start < end:
        element = _der(data, start)
        out.append(element)
        start = element[2]
    return out


def _oid(raw: bytes) -> str:
    parts, value = [raw[0] // 40, raw[0] % 40], 0
    for byte in raw[1:]:
        value = (value << 7) | (byte & 0x7F)
        if not byte & 0x80:
            parts.append(value)
            value = 0
    return ".".join(map(str, parts))


@lru_cache(maxsize=1024)
def x509_summary(der: bytes) -> tuple[str, str]:
    """(subject DN as Go prints it, key algorithm in lower case) of a DER certificate."""
    _, s, e = _der(der, 0)
    tbs = _children(der, *_der(der, s)[1:])
    if tbs and tbs[0][0] == 0xA0:  # explicit version
        tbs = tbs[1:]
    subject, spki = tbs[4], tbs[5]
    names = []
    for _, rs, re_ in _children(der, subject[1], subject[2]):
        for _, as_, ae in _children(der, rs, re_):
            (_, os_, oe), (_, vs, ve) = _children(der, as_, ae)[:2]
            oid = _oid(der[os_:oe])
            names.append(f"{_ATTRS.get(oid, oid)}={der[vs:ve].decode('utf-8', 'replace')}")
    algorithm = _children(der, *_der(der, spki[1])[1:])[0]
    name = _KEY_ALGORITHMS.get(_oid(der[algorithm[1] : algorithm[2]]), "unknown")
    return ",".join(reversed(names)), name


def pem_certificates(pem: str) -> list[bytes]:
    """The DER bytes of every certificate in PEM text (ValueError when there is none or one is bad)."""
    blocks = _PEM.findall(pem)
    if not blocks:
        raise ValueError("no certificates found in PEM data")
    out = []
    for block in blocks:
        der = base64.b64decode("".join(block.split()), validate=True)
        x509_summary(der)  # raises on garbage
        out.append(der)
    return out


def _listed(entry: dict[str, Any]) -> list[dict[str, Any]]:
    """The list items one stored entry shows as: certData null, certInfo filled in."""
    base = {"serverName": entry["serverName"], "certType": entry["certType"]}
    text = base64.b64decode(entry["certData"]).decode()
    if entry["certType"] == "ssh":
        return [{**base, "certSubType": entry["certSubType"], "certInfo": ssh_fingerprint(text), "certData": None}]
    items = []
    for der in pem_certificates(text):
        subject, algorithm = x509_summary(der)
        items.append({**base, "certSubType": algorithm, "certInfo": subject, "certData": None})
    return items


def _matches(entry: dict[str, Any], pattern: str, cert_type: str, sub_type: str) -> bool:
    if pattern and not fnmatch.fnmatchcase(entry["serverName"], pattern):
        return False
    if cert_type and entry["certType"] != ("https" if cert_type == "tls" else cert_type):
        return False
    return not (sub_type and entry.get("certSubType", "") != sub_type)


def _validated(item: dict[str, Any]) -> dict[str, Any]:
    """A create request item checked as Argo CD checks it (every failure is a plain error: 500)."""
    name, kind, sub = item.get("serverName", ""), item.get("certType", ""), item.get("certSubType", "")
    if kind not in ("ssh", "https"):
        raise GrpcError(UNKNOWN, f"unknown certificate type: {kind}")
    if not _HOSTNAME.match(name):
        raise GrpcError(UNKNOWN, f"invalid hostname in request: {name}")
    text = base64.b64decode(item.get("certData", "")).decode("utf-8", "replace").strip()
    try:
        if kind == "ssh":
            if _ssh_key_type(text) != sub:
                raise ValueError(f"key type does not match subtype {sub}")
        else:
            pem_certificates(text)
    except (ValueError, IndexError) as err:
        raise GrpcError(UNKNOWN, f"invalid {kind} certificate data for {name}: {err}") from None
    entry = {"serverName": name, "certType": kind, "certData": base64.b64encode(text.encode()).decode()}
    if kind == "ssh":
        entry["certSubType"] = sub
    return entry


def _filters(req: Request) -> tuple[str, str, str]:
    return req.arg("hostNamePattern"), req.arg("certType"), req.arg("certSubType")


def list_certs(state: State, req: Request) -> dict[str, Any]:
    state.enforce(req, "certificates", "get", "")
    pattern, kind, sub = _filters(req)
    with state.lock:
        chosen = [c for c in state.certificates if _matches(c, pattern, kind, sub)]
    items = [item for entry in chosen for item in _listed(entry)]
    return {"metadata": {}, "items": items}


def create(state: State, req: Request) -> dict[str, Any]:
    state.enforce(req, "certificates", "create", "")
    upsert = req.flag("upsert")
    entries = [_validated(item) for item in (req.body or {}).get("items") or []]
    created = []
    with state.lock:
        stored = list(state.certificates)  # read once, written back whole (two ConfigMaps)
        index = {(c["serverName"], c["certType"], c.get("certSubType", "")): i for i, c in enumerate(stored)}
        for entry in entries:
            key = (entry["serverName"], entry["certType"], entry.get("certSubType", ""))
            at = index.get(key)
            if at is None:
                index[key] = len(stored)
                stored.append(entry)
            elif stored[at]["certData"] == entry["certData"]:
                continue  # identical: a no-op, not reported
            elif not upsert:
                what = "TLS certificate" if entry["certType"] == "https" else f"{entry['certSubType']} key"
                raise GrpcError(
                    UNKNOWN, f"{what} for host {entry['serverName']} already exists, and upsert was not specified"
                )
            else:
                stored[at] = entry
            created.append(dict(entry))
        if created:
            state.certificates = stored
    if created:
        state.notify()
    return {"metadata": {}, "items": created}


def delete(state: State, req: Request) -> dict[str, Any]:
    state.enforce(req, "certificates", "delete", "")
    pattern, kind, sub = _filters(req)
    with state.lock:
        removed = [c for c in state.certificates if _matches(c, pattern, kind, sub)]
        state.certificates = [c for c in state.certificates if not _matches(c, pattern, kind, sub)]
    if removed:
        state.notify()
    return {"metadata": {}, "items": [{**c, "certData": None} for c in removed]}


HANDLERS = {
    "CertificateService_ListCertificates": list_certs,
    "CertificateService_CreateCertificate": create,
    "CertificateService_DeleteCertificate": delete,
}
