"""The restore credentials file: parsed, validated and every reference resolved before anything is written.

File values are read relative to the credentials file's folder; a single-line one loses its trailing newline (a
mounted Secret usually ends with one), a multi-line one (PEM, OpenSSH, JSON keys) is used byte for byte. Field names
are Argo CD's own; secret fields are held as `Secret` and revealed only by `Credentials.merge_into`, which builds the
API request body.
"""

from __future__ import annotations

import copy
import difflib
import os
import re
import threading
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import yaml

from drkit.argocd.kinds import KINDS, normalize_repo_url, normalize_server, same_url  # noqa: F401 (re-exported)
from drkit.backup import documents
from drkit.errors import CredentialError
from drkit.restore import certificates as certs
from drkit.restore.certificates import CERTIFICATE_FIELDS, Certificate  # noqa: F401 (re-exported)
from drkit.restore.values import B64, BOOL, INT, REPO_TYPE, SECRET, SECRET_LIST, SECRET_MAP, STR, Resolver, Secret

SECTIONS = ("repositories", "repocreds", "clusters", "certificates")
_REPO_COMMON = {
    "username": STR, "password": SECRET, "sshPrivateKey": SECRET, "bearerToken": SECRET,
    "tlsClientCertData": STR, "tlsClientCertKey": SECRET, "githubAppPrivateKey": SECRET, "githubAppID": INT,
    "githubAppInstallationID": INT, "githubAppEnterpriseBaseUrl": STR, "gcpServiceAccountKey": SECRET,
    "proxy": STR, "noProxy": STR, "forceHttpBasicAuth": BOOL, "enableOCI": BOOL, "insecureOCIForceHttp": BOOL,
    "useAzureWorkloadIdentity": BOOL, "azureServicePrincipalClientId": STR,
    "azureServicePrincipalClientSecret": SECRET, "azureServicePrincipalTenantId": STR,
    "azureActiveDirectoryEndpoint": STR,
}  # fmt: skip
FIELDS: dict[str, dict[str, Any]] = {
    "repositories": _REPO_COMMON | {
        "insecure": BOOL, "insecureIgnoreHostKey": BOOL, "enableLfs": BOOL, "depth": INT,
        "webhookManifestCacheWarmDisabled": BOOL,
    },
    "repocreds": _REPO_COMMON | {"type": REPO_TYPE},
    "clusters": {
        "username": STR, "password": SECRET, "bearerToken": SECRET, "proxyUrl": STR, "disableCompression": BOOL,
        "tlsClientConfig": {"caData": B64, "certData": B64, "keyData": B64, "insecure": BOOL, "serverName": STR},
        "awsAuthConfig": {"clusterName": STR, "roleARN": STR, "profile": STR},
        "execProviderConfig": {
            "command": STR, "args": SECRET_LIST, "env": SECRET_MAP, "apiVersion": STR, "installHint": STR,
            "provideClusterInfo": BOOL,
        },
    },
}  # fmt: skip
_URL_PASSWORD = re.compile(r"^([a-z][a-z0-9+.\-]*://[^/@:]*):[^/@]*@", re.IGNORECASE)


def redact_url(url: str) -> str:
    """A URL fit for a message: a password in its user info replaced by `***`."""
    return _URL_PASSWORD.sub(r"\1:***@", url)


class Credentials:
    """Resolved credentials-file entries, looked up by restore; records which entries were used."""

    def __init__(
        self,
        sections: Mapping[str, Mapping[str, dict[str, Any]]],
        certificates: list[Certificate],
        captured: frozenset[tuple[str, str]] = frozenset(),
    ) -> None:
        self._sections = {name: dict(sections.get(name, {})) for name in ("repositories", "repocreds", "clusters")}
        self._captured = captured  # (section, key) entries that came from a --kube backup's Secrets, not the file
        self._index = {name: {_identity(name, key): key for key in entries} for name, entries in self._sections.items()}
        self._certificates = list(certificates)
        self._used: set[tuple[str, str]] = set()
        self._lock = threading.Lock()

    def _lookup(self, section: str, identity: str) -> dict[str, Any] | None:
        key = self._index[section].get(_identity(section, identity))
        if key is None:
            return None
        with self._lock:
            self._used.add((section, key))
        return copy.deepcopy(self._sections[section][key])

    def lookup(self, section: str, key: str) -> dict[str, Any] | None:
        """The entry of `section` (repositories, repocreds, clusters) for a URL or server, matched as Argo CD does."""
        return self._lookup(section, key)

    def for_repository(self, url: str) -> dict[str, Any] | None:
        """The entry for a repository URL, matched as Argo CD does (case-insensitive, optional `.git`, ssh forms)."""
        return self._lookup("repositories", url)

    def for_repocreds(self, url: str) -> dict[str, Any] | None:
        """The entry for a credential template, by its URL prefix after the same normalisation."""
        return self._lookup("repocreds", url)

    def for_cluster(self, server: str) -> dict[str, Any] | None:
        """The config fields for a cluster server URL (trailing `/` trimmed), nested as in Cluster `config`."""
        return self._lookup("clusters", server)

    def certificates(self) -> list[Certificate]:
        """Every certificate entry, in file order."""
        return list(self._certificates)

    def merge_into(self, kind: str, identity: str, body: dict[str, Any]) -> dict[str, Any]:
        """A deep copy of a request body with this object's fields set and revealed (clusters: under `config`)."""
        if kind not in self._sections:
            raise ValueError(f"merge_into: kind must be one of {', '.join(self._sections)}, not {kind!r}")
        merged = copy.deepcopy(body)
        fields = self._lookup(kind, identity)
        if fields is None:
            return merged
        under = KINDS[kind].secrets_under
        if under and not isinstance(merged.get(under), dict):
            merged[under] = {}
        _merge(merged[under] if under else merged, _reveal(fields))
        return merged

    def from_file(self, section: str, identity: str) -> bool:
        """Does the credentials file give (at least part of) this entry, rather than a --kube backup's Secret?"""
        key = self._index[section].get(_identity(section, identity))
        return key is not None and (section, key) not in self._captured

    def unused(self) -> list[str]:
        """Credentials-file entries no lookup asked for, as `section "key"`: most likely a URL typo."""
        with self._lock:
            used = set(self._used) | self._captured
        return [
            f'{s} "{redact_url(k)}"' for s, entries in self._sections.items() for k in entries if (s, k) not in used
        ]

    def over(self, sections: Mapping[str, Mapping[str, dict[str, Any]]]) -> Credentials:
        """These entries over `sections` (credentials a --kube backup's Secrets hold): a field given here wins."""
        merged: dict[str, dict[str, dict[str, Any]]] = {}
        captured = set()
        for name, own in self._sections.items():
            base = {_identity(name, k): (k, copy.deepcopy(v)) for k, v in sections.get(name, {}).items()}
            captured |= {(name, k) for k, _ in base.values()}
            for key, fields in own.items():
                was_key, fields_there = base.get(_identity(name, key), (key, {}))
                captured.discard((name, was_key))
                _merge(fields_there, copy.deepcopy(fields))
                base[_identity(name, key)] = (key, fields_there)
            merged[name] = dict(base.values())
        return Credentials(merged, self._certificates, frozenset(captured))

    def __repr__(self) -> str:
        keys = {name: [redact_url(k) for k in entries] for name, entries in self._sections.items()}
        servers = [c.server_name for c in self._certificates]
        return f"Credentials(repositories={keys['repositories']!r}, repocreds={keys['repocreds']!r}, " \
            f"clusters={keys['clusters']!r}, certificates={servers!r})"  # fmt: skip


def _identity(section: str, key: str) -> str:
    return normalize_server(key) if section == "clusters" else normalize_repo_url(key)


def _reveal(value: Any) -> Any:
    if isinstance(value, Secret):
        return value.reveal()
    if isinstance(value, dict):
        return {k: _reveal(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_reveal(v) for v in value]
    return value


def _merge(target: dict[str, Any], fields: dict[str, Any]) -> None:
    for key, value in fields.items():
        if isinstance(value, dict) and isinstance(target.get(key), dict):
            _merge(target[key], value)
        else:
            target[key] = value


def load(
    path: str | os.PathLike[str], *, env: Mapping[str, str], fetch_secret: Callable[[str], str] | None
) -> Credentials:
    """Parse, validate and resolve a credentials file now; every problem is reported together, values never."""
    path = Path(path)
    doc = _read(path)
    res = Resolver(path.parent, env, fetch_secret)
    if not isinstance(doc, Mapping):
        raise CredentialError(f"credentials file {path}: must be a mapping with the sections {', '.join(SECTIONS)}")
    unknown = [str(k) for k in doc if k not in SECTIONS]
    if unknown:
        res.problems.append(f"unknown section {', '.join(unknown)}: the sections are {', '.join(SECTIONS)}")
    sections = {name: _section(res, name, doc.get(name)) for name in FIELDS}
    certificates = certs.parse(res, doc.get("certificates"))
    if res.problems:
        count = f"{len(res.problems)} problem{'s' if len(res.problems) > 1 else ''}"
        lines = "".join(f"\n  - {p}" for p in res.problems)
        err = CredentialError(f"credentials file {path}: {count}, nothing was written; fix and run again:{lines}")
        err.problems = list(res.problems)  # type: ignore[attr-defined]
        raise err
    return Credentials(sections, certificates)


class _UniqueKeyLoader(yaml.SafeLoader):
    """SafeLoader that refuses duplicate keys, which plain YAML loading would silently drop."""


def _construct_unique_mapping(loader: _UniqueKeyLoader, node: yaml.MappingNode, deep: bool = False) -> Any:
    seen: set[Any] = set()
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=deep)
        if isinstance(key, (str, int)) and key in seen:
            raise yaml.constructor.ConstructorError(None, None, f"duplicate key {key}", key_node.start_mark)
        if isinstance(key, (str, int)):
            seen.add(key)
    return loader.construct_mapping(node, deep)


_UniqueKeyLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_unique_mapping)


def _read(path: Path) -> Any:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = getattr(exc, "strerror", None) or "not UTF-8 text"
        raise CredentialError(
            f"credentials file {path} cannot be read ({reason})", hint="check --credentials"
        ) from None
    try:
        documents.check(text)
        doc = yaml.load(text, Loader=_UniqueKeyLoader)  # noqa: S506 - a SafeLoader subclass
    except yaml.YAMLError as exc:
        # Only the problem and position: the YAML library's own message quotes the line, which may hold a secret.
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or "invalid YAML"
        raise CredentialError(f"credentials file {path} is not valid YAML{where}: {problem}") from None
    return {} if doc is None else doc


def _section(res: Resolver, name: str, raw: Any) -> dict[str, dict[str, Any]]:
    if raw is None:
        return {}
    if not isinstance(raw, Mapping):
        res.problems.append(f"{name}: must be a mapping of URLs to Argo CD fields")
        return {}
    entries: dict[str, dict[str, Any]] = {}
    seen: dict[str, str] = {}
    for key, raw_fields in raw.items():
        where = f'{name} "{redact_url(str(key))}"'
        if not isinstance(key, str) or not key.strip():
            res.problem(where, "the key must be a URL")
            continue
        if name == "clusters" and not key.startswith(("https://", "http://")):
            res.problem(where, "the key must be the cluster's server URL, such as https://10.0.0.1:6443")
        identity = _identity(name, key)
        if identity in seen:
            res.problem(where, f'is the same URL as "{redact_url(seen[identity])}" for Argo CD; keep one entry')
            continue
        seen[identity] = key
        fields = _fields(res, where, "", raw_fields, FIELDS[name])
        if fields is not None:
            entries[key] = fields
    return entries


def _fields(res: Resolver, where: str, path: str, raw: Any, schema: dict[str, Any]) -> dict[str, Any] | None:
    if not isinstance(raw, Mapping) or not raw:
        res.problem(f"{where} {path}".rstrip(". "), "must be a non-empty mapping of Argo CD field names to values")
        return None
    out: dict[str, Any] = {}
    for name, value in raw.items():
        at = f"{where} {path}{name}"
        kind = schema.get(name)
        if kind is None:
            close = difflib.get_close_matches(str(name), schema, n=1)
            hint = f"did you mean {close[0]}?" if close else f"expected one of {', '.join(schema)}"
            res.problem(at, f"unknown field; {hint}")
        elif isinstance(kind, dict):
            out[name] = _fields(res, where, f"{path}{name}.", value, kind)
        elif kind == SECRET_LIST:
            items = value if isinstance(value, list) else res.problem(at, "must be a list")
            out[name] = [res.leaf(f"{at}[{i}]", item, kind) for i, item in enumerate(items or [])]
        elif kind == SECRET_MAP:
            items = value if isinstance(value, Mapping) else res.problem(at, "must be a mapping")
            out[name] = {str(k): res.leaf(f"{at}.{k}", v, kind) for k, v in (items or {}).items()}
        else:
            out[name] = res.leaf(at, value, kind)
    return out
