"""TLS certificates and SSH known hosts from the credentials file, encoded as the Argo CD API takes them."""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

CERTIFICATE_FIELDS = ("serverName", "certType", "certSubType", "certData")
_SSH_KEY_TYPE = re.compile(r"^(ssh-|ecdsa-|sk-)[a-z0-9@.\-]+$")


@dataclass(frozen=True)
class Certificate:
    """A TLS certificate (PEM text) or SSH known-hosts key (`AAAA...` key data) to create through the API."""

    server_name: str
    cert_type: str
    cert_sub_type: str
    cert_data: str = field(repr=False)

    def api_item(self) -> dict[str, str]:
        """The item a certificates write lists: certData is base64, as the API's []byte requires."""
        item = {"serverName": self.server_name, "certType": self.cert_type, "certSubType": self.cert_sub_type}
        item["certData"] = base64.b64encode(self.cert_data.encode()).decode()
        return item


class Resolver(Protocol):
    """What parsing needs from the credentials file's resolver; a Protocol so this module never imports it."""

    problems: list[str]

    def problem(self, where: str, text: str) -> None: ...

    def text(self, where: str, raw: Any) -> str | None: ...


def parse(res: Resolver, raw: Any) -> list[Certificate]:
    """The `certificates:` section's valid entries, in file order; each problem is recorded on `res`."""
    if raw is None:
        return []
    if not isinstance(raw, list):
        res.problems.append("certificates: must be a list of {serverName, certType, certData} entries")
        return []
    certificates = [_certificate(res, i, entry) for i, entry in enumerate(raw)]
    return [c for c in certificates if c is not None]


def _certificate(res: Resolver, index: int, raw: Any) -> Certificate | None:
    server = raw.get("serverName") if isinstance(raw, Mapping) else None
    where = f'certificates[{index}] "{server}"' if isinstance(server, str) else f"certificates[{index}]"
    if not isinstance(raw, Mapping):
        return res.problem(where, "must be a mapping {serverName, certType, certSubType?, certData}")
    problems = len(res.problems)
    for name in [n for n in raw if n not in CERTIFICATE_FIELDS]:
        res.problem(f"{where} {name}", f"unknown field; expected one of {', '.join(CERTIFICATE_FIELDS)}")
    for name in ("serverName", "certType", "certData"):
        if name not in raw:
            res.problem(where, f"{name} is missing")
    values = {name: res.text(f"{where} {name}", raw[name]) for name in CERTIFICATE_FIELDS if name in raw}
    if len(res.problems) > problems:
        return None
    sub_type, data = values.get("certSubType", ""), values["certData"]
    if values["certType"] == "https":
        if "-----BEGIN CERTIFICATE-----" not in data:
            return res.problem(f"{where} certData", "is not a PEM certificate (-----BEGIN CERTIFICATE-----)")
        return Certificate(values["serverName"], "https", sub_type, data)
    if values["certType"] != "ssh":
        return res.problem(f"{where} certType", "must be https or ssh")
    key = _ssh_key(res, f"{where} certData", values["serverName"], data, sub_type)
    return None if key is None else Certificate(values["serverName"], "ssh", key[0], key[1])


def _ssh_key(res: Resolver, where: str, server: str, data: str, sub_type: str) -> tuple[str, str] | None:
    """The (subtype, key field) of a known_hosts key in any form people paste (CONTRACT.md's credentials file).

    `AAAA...` (the key field alone, as Argo CD's certData holds it), `ssh-ed25519 AAAA...`, or a whole
    known_hosts line `host ssh-ed25519 AAAA... [comment]`. The key names its own type inside its data, so
    certSubType, the line's type and serverName are each checked against it, and a mismatch names the one that is off.
    """
    tokens = data.split()
    if len(tokens) >= 3 and _SSH_KEY_TYPE.match(tokens[1]):  # key data is base64, so never matches a key type
        hosts, tokens = tokens[0], tokens[1:]
        if not hosts.startswith("|") and server not in hosts.split(","):
            return res.problem(where, f"is a known_hosts line for {hosts}, not for serverName {server}")
    line_type, key = (tokens[0], tokens[1]) if len(tokens) >= 2 and _SSH_KEY_TYPE.match(tokens[0]) else ("", data)
    key_type = _key_type(key.strip())
    if key_type is None:
        return res.problem(
            where,
            "must be an SSH public key as in known_hosts: the key field `AAAA...`, `ssh-ed25519 AAAA...` or "
            "`host ssh-ed25519 AAAA...`",
        )
    if line_type and line_type != key_type:
        return res.problem(where, f"says {line_type}, but the key data is a {key_type} key; copy the line again")
    if sub_type and sub_type != key_type:
        return res.problem(where, f"certSubType {sub_type} does not match the key's type {key_type}; fix certSubType")
    return key_type, key.strip()


def _key_type(key: str) -> str | None:
    """The type an SSH public key names in its first field, or None if the key is not one (or was cut short).

    A public key blob is a sequence of length-prefixed fields, the first its type (RFC 4253 §6.6); the fields must
    fill it exactly.
    """
    if not is_base64(key) or any(c.isspace() for c in key):
        return None
    blob, fields, at = base64.b64decode(key), [], 0
    while at + 4 <= len(blob):
        size = int.from_bytes(blob[at : at + 4], "big")
        fields.append(blob[at + 4 : at + 4 + size])
        at += 4 + size
    name = fields[0].decode("ascii", "replace") if fields else ""
    return name if at == len(blob) and len(fields) >= 2 and _SSH_KEY_TYPE.match(name) else None


def is_base64(text: str) -> bool:
    """True for standard padded base64; line breaks are allowed, as Go's decoder skips them."""
    compact = text.replace("\r", "").replace("\n", "")
    try:
        return bool(compact) and base64.b64decode(compact, validate=True) is not None
    except (binascii.Error, ValueError):
        return False
