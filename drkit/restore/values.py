"""Credential values: `Secret`, which never prints, and literals and references resolved and converted.

A reference is `{env: NAME}`, `{file: PATH}` (relative to the credentials file's folder) or
`{aws-secretsmanager: ID, key: FIELD}`; every problem is collected, so a file is reported whole, never a value.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from drkit.errors import CredentialError
from drkit.restore.certificates import is_base64

STR, SECRET, INT, BOOL, B64, SECRET_LIST, SECRET_MAP = "str", "secret", "int", "bool", "b64", "list", "map"
REPO_TYPE = "repo type"  # git, helm or oci: a template's type, which sources before Argo CD 3.6 do not show
_REFERENCE_FORMS = "a string, {env: NAME}, {file: PATH} or {aws-secretsmanager: SECRET_ID, key: FIELD}"


class Secret:
    """A resolved secret value that prints as `**redacted**`; only request-body code calls `reveal()`."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        """The secret itself, for the API request body only."""
        return self._value

    def __repr__(self) -> str:
        return "Secret('**redacted**')"

    def __str__(self) -> str:
        return "**redacted**"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(("drkit.Secret", self._value))


class Resolver:
    """Resolves literals and references, collecting every problem instead of stopping at the first."""

    def __init__(self, base: Path, env: Mapping[str, str], fetch_secret: Callable[[str], str] | None) -> None:
        self.base, self.env, self.fetch_secret = base, env, fetch_secret
        self.problems: list[str] = []
        self._fetched: dict[str, tuple[str | None, str]] = {}

    def problem(self, where: str, text: str) -> None:
        self.problems.append(f"{where}: {text}")

    def leaf(self, where: str, raw: Any, kind: str) -> Any:
        """One field's value converted to its kind, or None with a problem recorded."""
        if (kind == BOOL and isinstance(raw, bool)) or (kind == INT and type(raw) is int):
            return raw
        if isinstance(raw, Mapping):
            text = self.reference(where, raw)
        elif isinstance(raw, str):
            text = raw
        else:
            expected = {BOOL: "true or false", INT: "a whole number"}.get(kind, "a string (quote numbers in YAML)")
            self.problem(where, f"must be {expected}, or {_REFERENCE_FORMS.removeprefix('a string, ')}")
            return None
        return None if text is None else self._convert(where, text, kind)

    def text(self, where: str, raw: Any) -> str | None:
        """A string field's value, literal or referenced, or None with a problem recorded."""
        return self.leaf(where, raw, STR)

    def _convert(self, where: str, text: str, kind: str) -> Any:
        if kind == BOOL:
            if text.strip().lower() in ("true", "false"):
                return text.strip().lower() == "true"
            return self.problem(where, "must be true or false")
        if kind == INT:
            if text.strip().isdigit():
                return int(text.strip())
            return self.problem(where, "must be a whole number")
        if kind == REPO_TYPE and text not in ("git", "helm", "oci"):
            return self.problem(where, "must be git, helm or oci")
        if kind == B64 and not is_base64(text):
            hint = "give it base64-encoded, as in a cluster Secret's config (for example `base64 -w0 ca.pem`)"
            return self.problem(where, f"is not valid base64; {hint}")
        return Secret(text) if kind in (SECRET, B64, SECRET_LIST, SECRET_MAP) else text

    def reference(self, where: str, ref: Mapping[Any, Any]) -> str | None:
        """Resolve `{env: NAME}`, `{file: PATH}` or `{aws-secretsmanager: ID, key: FIELD}`."""
        keys = set(ref)
        if keys not in ({"env"}, {"file"}, {"aws-secretsmanager"}, {"aws-secretsmanager", "key"}):
            names = ", ".join(sorted(str(k) for k in keys)) or "none"
            return self.problem(where, f"unknown reference (keys: {names}); expected {_REFERENCE_FORMS}")
        bad = [str(k) for k, v in ref.items() if not isinstance(v, str) or not v.strip()]
        if bad:
            return self.problem(where, f"reference {', '.join(bad)} must be a non-empty string")
        if "env" in ref:
            return self._env(where, ref["env"])
        if "file" in ref:
            return self._file(where, ref["file"])
        return self._aws(where, ref["aws-secretsmanager"], ref.get("key"))

    def _env(self, where: str, name: str) -> str | None:
        if name not in self.env:
            return self.problem(where, f"environment variable {name} is not set; set it, or change the reference")
        if not self.env[name]:
            return self.problem(where, f"environment variable {name} is empty; set it to the value")
        return self.env[name]

    def _file(self, where: str, name: str) -> str | None:
        path = self.base / name
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            reason = getattr(exc, "strerror", None) or "not UTF-8 text"
            return self.problem(where, f"file {path} cannot be read ({reason}); check the path and the Secret mount")
        text = file_value(text)
        if not text:
            return self.problem(where, f"file {path} is empty; check the Secret mount")
        return text

    def _aws(self, where: str, secret_id: str, key: str | None) -> str | None:
        if secret_id not in self._fetched:
            self._fetched[secret_id] = self._fetch(secret_id)
        whole, problem = self._fetched[secret_id]
        if whole is None:
            return self.problem(where, problem)
        if key is None:
            return whole if whole else self.problem(where, f"AWS Secrets Manager secret {secret_id} is empty")
        try:
            doc = json.loads(whole)
        except ValueError:
            doc = None
        name = f"AWS Secrets Manager secret {secret_id}"
        if not isinstance(doc, dict):
            return self.problem(where, f"{name} is not a JSON object, so it has no key {key}; drop `key` for all of it")
        if key not in doc:
            keys = ", ".join(sorted(doc)) or "none"
            return self.problem(where, f"{name} has no key {key} (its keys: {keys}); fix `key`")
        value = doc[key]
        if isinstance(value, (bool, int, float)):
            value = json.dumps(value)
        if not isinstance(value, str) or not value:
            return self.problem(where, f"{name} key {key} is not a non-empty string")
        return value

    def _fetch(self, secret_id: str) -> tuple[str | None, str]:
        if self.fetch_secret is None:
            return None, f"AWS Secrets Manager secret {secret_id}: no AWS access was configured for this run"
        try:
            return self.fetch_secret(secret_id), ""
        except CredentialError as exc:
            return None, str(exc)
        except Exception as exc:  # noqa: BLE001 - any fetcher failure is reported by type, never by its text
            return None, f"AWS Secrets Manager secret {secret_id} could not be read ({type(exc).__name__})"


def file_value(text: str) -> str:
    """A `{file:}` value as CONTRACT.md says: one line loses its trailing newline, several stay byte for byte.

    A password or token file usually ends with a newline that is not part of the secret; PEM, OpenSSH and JSON key
    files are multi-line material whose final newline is part of it, so a restored credential equals the lost one.
    """
    body = text.removesuffix("\n").removesuffix("\r") if text.endswith("\n") else text
    return body if "\n" not in body else text
