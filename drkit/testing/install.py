"""A fresh Argo CD install's namespace, and the settings argocd-secret holds: token key and local-account passwords.

`seed` writes install.yaml's ConfigMaps and Secrets (copied from argo-cd v3.5.1 manifests/install.yaml), then
what argocd-server's first start adds (`util/settings/settings.go` InitializeSettings): `server.secretkey`
(util.MakeSignature: the base64 text of 32 random bytes; the HS256 key is that text's bytes), `admin.password`
and `admin.passwordMtime`, and the Secret `argocd-initial-admin-secret` with the admin password in `password`.
No TLS certificate is written: the simulator serves plain HTTP, as argocd-server with `--insecure` does, for
which InitializeSettings writes none. Accounts (`util/settings/accounts.go`): `admin` (disabled by argocd-cm
`admin.enabled: "false"`) and every argocd-cm `accounts.<name>`; passwords in argocd-secret `admin.password` or
`accounts.<name>.password`.

Simplification, stated: Argo CD stores passwords as bcrypt hashes, and the simulator has no bcrypt (no new
dependency for it); it stores `$pbkdf2-sha256$<iterations>$<salt>$<hash>` (hashlib's PBKDF2-HMAC-SHA256,
base64 salt and hash) in the same keys, and verifies only that form: a bcrypt hash restored from a real
instance is kept and returned byte for byte, but a login against it fails as a wrong password would.
"""

from __future__ import annotations

import base64
import copy
import functools
import hashlib
import hmac
import json
import secrets
from datetime import datetime, timezone
from importlib import resources
from typing import Any

import yaml

from drkit.testing.kube.codec import encode
from drkit.testing.kube.store import Store

MANAGER = "argocd-server"
ARGOCD_CM, ARGOCD_SECRET, INITIAL_ADMIN = "argocd-cm", "argocd-secret", "argocd-initial-admin-secret"
SECRET_KEY = "server.secretkey"
PBKDF2, ITERATIONS = "pbkdf2-sha256", 1000
FALSE = ("0", "f", "false")  # strconv.ParseBool's false forms, lower-cased


@functools.lru_cache(maxsize=1)
def _documents() -> tuple[dict[str, Any], ...]:
    text = resources.files("drkit.testing").joinpath("install.yaml").read_text()
    return tuple(d for d in yaml.safe_load_all(text) if d)


def documents() -> list[dict[str, Any]]:
    """install.yaml's ConfigMaps and Secrets (fresh copies)."""
    return copy.deepcopy(list(_documents()))


def make_signature() -> bytes:
    """util.MakeSignature(32): base64 of 32 random bytes, as bytes."""
    return base64.b64encode(secrets.token_bytes(32))


def mtime() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def hash_password(password: str, *, salt: bytes | None = None) -> str:
    """The simplified hash (see the module docstring)."""
    salt = salt or secrets.token_bytes(16)
    digest = hashlib.pbkdf2_hmac("sha256", password.encode(), salt, ITERATIONS)
    return f"${PBKDF2}${ITERATIONS}${base64.b64encode(salt).decode()}${base64.b64encode(digest).decode()}"


def verify_password(password: str, hashed: str) -> bool:
    """Does `password` match `hashed`? Blank passwords never do (passwordutil.verifyPasswordWithHashers)."""
    parts = hashed.split("$")
    if not password or len(parts) != 5 or parts[1] != PBKDF2 or not parts[2].isdigit():
        return False
    try:
        salt, expected = base64.b64decode(parts[3]), base64.b64decode(parts[4])
    except ValueError:
        return False
    digest = hashlib.pbkdf2_hmac("sha256", password.encode(), salt, int(parts[2]))
    return hmac.compare_digest(digest, expected)


def seed(store: Store, namespace: str, admin_password: str) -> None:
    """Write a fresh install into `namespace`, then InitializeSettings' additions."""
    for document in documents():
        document["metadata"]["namespace"] = namespace
        store.put("configmaps" if document["kind"] == "ConfigMap" else "secrets", namespace, document, manager=MANAGER)
    settings = {SECRET_KEY: make_signature(), "admin.passwordMtime": mtime().encode()}
    if admin_password:
        settings["admin.password"] = hash_password(admin_password).encode()
        initial = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": INITIAL_ADMIN}, "type": "Opaque"}
        initial["data"] = encode({"password": admin_password.encode()})
        store.put("secrets", namespace, initial, manager=MANAGER)
    update_secret(store, namespace, settings)


def replace_configmap_data(store: Store, namespace: str, name: str, data: dict[str, str]) -> None:
    """Set a ConfigMap's whole `data`, as Argo CD's settings manager rewrites argocd-tls-certs-cm and
    argocd-ssh-known-hosts-cm (v3.5.1 util/db/certificate.go, util/settings `SaveTLSCertificateData`)."""
    with store.lock:
        current = copy.deepcopy(store.get("configmaps", namespace, name))
        current["metadata"].pop("managedFields", None)
        if (current.get("data") or {}) == data:
            return
        current["data"] = data
        store.update("configmaps", namespace, name, current, manager=MANAGER)


def update_secret(store: Store, namespace: str, changes: dict[str, bytes | None]) -> None:
    """Set (or, for None, delete) keys of argocd-secret, as SettingsManager.updateSecret does."""
    with store.lock:
        current = copy.deepcopy(store.get("secrets", namespace, ARGOCD_SECRET))
        current["metadata"].pop("managedFields", None)
        data = {k: base64.b64decode(v) for k, v in (current.get("data") or {}).items()}
        for key, value in changes.items():
            if value is None:
                data.pop(key, None)
            else:
                data[key] = value
        current["data"] = encode(data)
        store.update("secrets", namespace, ARGOCD_SECRET, current, manager=MANAGER)


def password_key(account: str) -> str:
    return "admin.password" if account == "admin" else f"accounts.{account}.password"


def tokens_key(account: str) -> str:
    """Where argocd-secret keeps an account's API-key ids (v3.5.1 util/settings/accounts.go `getAccountKey`)."""
    return "admin.tokens" if account == "admin" else f"accounts.{account}.tokens"


def account_tokens(secret_data: dict[str, bytes]) -> dict[str, list[dict[str, Any]]]:
    """Each account's API keys as the account API shows them (`id`, `issuedAt`, `expiresAt`), read from the
    `Token` JSON argocd-secret stores (`{"id", "iat", "exp"}`, accounts.go)."""
    found: dict[str, list[dict[str, Any]]] = {}
    for key, raw in secret_data.items():
        parts = key.split(".")
        if parts[-1] != "tokens" or not (key == "admin.tokens" or (parts[0] == "accounts" and len(parts) == 3)):
            continue
        try:
            stored = json.loads(raw or b"[]")
        except ValueError:
            continue
        records = []
        for token in stored if isinstance(stored, list) else []:
            record = {"id": token.get("id", ""), "issuedAt": token.get("iat", 0)}
            if token.get("exp"):
                record["expiresAt"] = token["exp"]
            records.append(record)
        found["admin" if key == "admin.tokens" else parts[1]] = records
    return found


def stored_tokens(records: list[dict[str, Any]]) -> bytes:
    """API-key records in argocd-secret's `Token` JSON form."""
    out = []
    for record in records:
        token = {"id": record["id"], "iat": record.get("issuedAt", 0)}
        if record.get("expiresAt"):
            token["exp"] = record["expiresAt"]
        out.append(token)
    return json.dumps(out, separators=(",", ":")).encode()


def mtime_key(account: str) -> str:
    return "admin.passwordMtime" if account == "admin" else f"accounts.{account}.passwordMtime"


def accounts(cm_data: dict[str, str], secret_data: dict[str, bytes]) -> dict[str, dict[str, Any]]:
    """Every local account as parseAccounts reads them: `{password, enabled, capabilities}` by name. `admin`
    always exists (enabled unless argocd-cm `admin.enabled` is false); the others are argocd-cm
    `accounts.<name>: <capabilities>` and `accounts.<name>.enabled`. (The simulator keeps its historical
    login+apiKey capabilities for admin, which Argo CD gives `login` only.)"""
    admin = cm_data.get("admin.enabled", "true").strip().lower() not in FALSE
    found: dict[str, dict[str, Any]] = {"admin": {"enabled": admin, "capabilities": ["login", "apiKey"]}}
    for key, value in cm_data.items():
        parts = key.split(".")
        if parts[0] != "accounts" or len(parts) not in (2, 3):
            continue
        account = found.setdefault(parts[1], {"enabled": True, "capabilities": []})
        if len(parts) == 2:
            chosen = [c.strip() for c in value.split(",")]
            account["capabilities"] = [c for c in chosen if c in ("login", "apiKey")]
        elif parts[2] == "enabled":
            account["enabled"] = value.strip().lower() not in FALSE
    for name, account in found.items():
        account["password"] = secret_data.get(password_key(name), b"").decode("utf-8", "replace")
    return found
