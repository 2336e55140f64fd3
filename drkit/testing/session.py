"""Simulated Argo CD session, version, settings and account endpoints (API-NOTES §1.2, §2.10, §2.11).

Account token metadata lives in argocd-secret (`state.account_tokens`, as Argo CD keeps it), where
`auth.authenticate` checks every API key against it.
"""

from __future__ import annotations

import uuid
from typing import Any

from drkit.testing import versions
from drkit.testing.auth import mint_token
from drkit.testing.rpc import INVALID_ARGUMENT, NOT_FOUND, UNAUTHENTICATED, UNKNOWN, GrpcError, Request, Response
from drkit.testing.state import State
from drkit.testing.versions import Release

LOGIN_TTL = 24 * 3600  # a login token's lifetime, as Argo CD's default session duration
RESOURCES = frozenset(
    {"clusters", "projects", "applications", "applicationsets", "repositories", "write-repositories",
     "certificates", "accounts", "gpgkeys", "logs", "exec", "extensions"}
)  # fmt: skip
ACTIONS = frozenset({"get", "create", "update", "delete", "sync", "override", "action", "invoke", "*"})
# Anonymous callers get only these settings (settings.go Get without claims)
PUBLIC_SETTINGS = (
    "url", "additionalUrls", "dexConfig", "oidcConfig", "appLabelKey", "statusBadgeEnabled", "googleAnalytics",
    "help", "userLoginsDisabled", "kustomizeVersions", "uiCssURL", "trackingMethod", "installationID",
    "execEnabled", "appsInAnyNamespaceEnabled", "impersonationEnabled", "hydratorEnabled", "syncWithReplaceAllowed",
    "resourceViewEnabled",
)  # fmt: skip


def user_of(subject: str) -> str:
    """The account name in a JWT subject (`admin:apiKey` → `admin`)."""
    return subject if subject.startswith("proj:") else subject.split(":", 1)[0]


def version_info(release: Release) -> dict[str, str]:
    """What `/api/version` returns to a logged-in caller (`server/version/version.go`)."""
    return {
        "Version": release.build(),
        "BuildDate": "2026-08-12T00:00:00Z",
        "GitCommit": release.commit(),
        "GitTag": str(release),
        "GitTreeState": "clean",
        "GoVersion": "go1.24.6",
        "Compiler": "gc",
        "Platform": "linux/amd64",
        "KustomizeVersion": "v5.7.0 2025-06-28T07:00:07Z",
        "HelmVersion": "v3.18.4+gd80839c",
        "KubectlVersion": "v0.33.1",
        "JsonnetVersion": "v0.21.0",
    }


def settings(state: State, logged_in: bool) -> dict[str, Any]:
    """`/api/v1/settings`, reduced for anonymous callers; empty values omitted as Go does."""
    full: dict[str, Any] = {
        "url": "https://argocd.example.com",
        "appLabelKey": "app.kubernetes.io/instance",
        "googleAnalytics": {"anonymizeUsers": True},
        "kustomizeVersions": [],
        "trackingMethod": versions.settings_tracking_method(state.release, state.tracking_method),
        "installationID": "",
        "execEnabled": False,
        "appsInAnyNamespaceEnabled": bool(state.app_namespaces),
        "impersonationEnabled": False,
        "hydratorEnabled": False,
        "syncWithReplaceAllowed": True,
        "resourceViewEnabled": True,
        "resourceOverrides": {},
        "controllerNamespace": state.namespace,
        "passwordPattern": "^.{8,32}$",
    }
    full = {k: v for k, v in full.items() if state.release >= versions.SETTINGS_FIELDS.get(k, state.release)}
    chosen = full if logged_in else {k: v for k, v in full.items() if k in PUBLIC_SETTINGS}
    return {k: v for k, v in chosen.items() if v not in ("", [], {}, None, False)}  # proto fields are omitempty


def login(state: State, req: Request) -> Response:
    body = req.body or {}
    if body.get("token"):
        raise GrpcError(UNAUTHENTICATED, "token-based login is not supported")
    username, password = body.get("username", ""), body.get("password", "")
    if not username or not password:
        raise GrpcError(UNAUTHENTICATED, "no credentials supplied")
    if len(username) > 32:
        raise GrpcError(INVALID_ARGUMENT, "username is too long (32 max)")
    if not state.check_password(username, password):  # argocd-secret's hash (install.py)
        raise GrpcError(UNAUTHENTICATED, "Invalid username or password")
    token = mint_token(state, f"{username}:login", expires_in=LOGIN_TTL)
    cookie = f"argocd.token={token}; path=/; SameSite=lax; httpOnly"
    return Response({"token": token}, headers={"Set-Cookie": cookie})


def logout(state: State, req: Request) -> dict[str, Any]:
    return {}  # tokens are stateless: nothing is revoked, no cookie is sent


def userinfo(state: State, req: Request) -> dict[str, Any]:
    if not req.subject:
        return {}
    return {"loggedIn": True, "username": user_of(req.subject), "iss": req.claims.get("iss", "argocd")}


def version(state: State, req: Request) -> dict[str, Any]:
    info = version_info(state.release)
    return info if req.subject else {"Version": info["Version"]}


def get_settings(state: State, req: Request) -> dict[str, Any]:
    return settings(state, bool(req.subject))


def plugins(state: State, req: Request) -> dict[str, Any]:
    return {}


SESSION_HANDLERS = {
    "SessionService_Create": login,
    "SessionService_Delete": logout,
    "SessionService_GetUserInfo": userinfo,
    "VersionService_Version": version,
    "SettingsService_Get": get_settings,
    "SettingsService_GetPlugins": plugins,
}


def _account(state: State, name: str) -> dict[str, Any]:
    account = state.accounts.get(name) or {}
    out: dict[str, Any] = {"name": name}
    if account.get("enabled"):
        out["enabled"] = True  # a proto bool: false is omitted
    if account.get("capabilities"):
        out["capabilities"] = list(account["capabilities"])
    if state.account_tokens.get(name):
        out["tokens"] = [dict(t) for t in state.account_tokens[name]]
    return out


def _known(state: State, name: str) -> None:
    if name not in state.users:
        raise GrpcError(NOT_FOUND, f"account '{name}' does not exist")


def list_accounts(state: State, req: Request) -> dict[str, Any]:
    me = user_of(req.subject)
    with state.lock:
        names = [n for n in sorted(state.users) if n == me or state.allowed(req.subject, "accounts", "get", n)]
        items = [_account(state, n) for n in names]
    return {"items": items} if items else {}


def get_account(state: State, req: Request) -> dict[str, Any]:
    name = req.params["name"]
    state.enforce(req, "accounts", "get", name)
    with state.lock:
        _known(state, name)
        return _account(state, name)


def create_token(state: State, req: Request) -> dict[str, Any]:
    name, body = req.params["name"], req.body or {}
    if name != user_of(req.subject):
        state.enforce(req, "accounts", "update", name)
    token_id = body.get("id") or str(uuid.uuid4())
    expires_in = body.get("expiresIn", 0)
    with state.lock:
        _known(state, name)
        if any(t["id"] == token_id for t in state.account_tokens.get(name, [])):
            raise GrpcError(
                UNKNOWN, f"failed to update account with new token: account already has token with id '{token_id}'"
            )
        token = mint_token(state, f"{name}:apiKey", expires_in=expires_in or None, jti=token_id)  # records it
    return {"token": token}


def delete_token(state: State, req: Request) -> dict[str, Any]:
    name, token_id = req.params["name"], req.params["id"]
    if name != user_of(req.subject):
        state.enforce(req, "accounts", "update", name)
    with state.lock:
        kept = [t for t in state.account_tokens.get(name, []) if t["id"] != token_id]
        if len(kept) == len(state.account_tokens.get(name, [])):
            raise GrpcError(NOT_FOUND, f"failed to update account: token with id '{token_id}' does not exist")
        state.set_account_tokens(name, kept)
    return {}


def update_password(state: State, req: Request) -> dict[str, Any]:
    body = req.body or {}
    name = body.get("name") or user_of(req.subject)
    if name != user_of(req.subject):
        state.enforce(req, "accounts", "update", name)
    with state.lock:
        _known(state, name)
        if not state.check_password(user_of(req.subject), body.get("currentPassword", "")):
            raise GrpcError(INVALID_ARGUMENT, "current password does not match")
        state.set_password(name, body.get("newPassword", ""))  # tokens issued before now stop working
    return {}


def can_i(state: State, req: Request) -> dict[str, str]:
    resource, action, sub = req.params["resource"], req.params["action"], req.params["subresource"]
    if resource not in RESOURCES:
        raise GrpcError(INVALID_ARGUMENT, f"{resource} is not a valid resource name")
    if action not in ACTIONS and not action.startswith("action/"):
        raise GrpcError(INVALID_ARGUMENT, f"{action} is not a valid action name")
    return {"value": "yes" if state.allowed(req.subject, resource, action, sub) else "no"}


ACCOUNT_HANDLERS = {
    "AccountService_ListAccounts": list_accounts,
    "AccountService_GetAccount": get_account,
    "AccountService_CreateToken": create_token,
    "AccountService_DeleteToken": delete_token,
    "AccountService_UpdatePassword": update_password,
    "AccountService_CanI": can_i,
}


HANDLERS = SESSION_HANDLERS | ACCOUNT_HANDLERS
