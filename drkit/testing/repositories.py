"""Simulated Argo CD repository endpoints (API-NOTES §2.5, §2.6, §6 items 38-42, 50).

Repositories are labelled Secrets in Argo CD's namespace, seen as `state.repositories[(normalize_url(url),
project)]`, credential templates as `state.repocreds[url]` (secret_db.py); responses are built from them with
Argo CD's whitelist redaction. A create that meets a repository of the same URL and project, however it was
written, compares and upserts it (db.CreateRepository's RepositoryExists); a new one is a Secret named as
RepoURLToSecretName names it.
"""

from __future__ import annotations

from typing import Any

from drkit.testing import versions
from drkit.testing.clock import now
from drkit.testing.rpc import INVALID_ARGUMENT, NOT_FOUND, PERMISSION_DENIED, UNIMPLEMENTED, UNKNOWN, GrpcError
from drkit.testing.rpc import Request as Req
from drkit.testing.secret_db import normalize_url, plain, same_url
from drkit.testing.state import State

__all__ = ["HANDLERS", "normalize_url", "same_url"]  # the URL helpers stay importable from here

# Repository.Sanitized(): the only fields GET and list return (`username` only on some releases: versions.py)
SANITIZED = (
    "repo", "type", "name", "username", "insecure", "enableLfs", "enableOCI", "proxy", "noProxy", "project",
    "forceHttpBasicAuth", "inheritedCreds", "githubAppID", "githubAppInstallationID", "githubAppEnterpriseBaseUrl",
    "useAzureWorkloadIdentity", "azureActiveDirectoryEndpoint", "azureServicePrincipalClientId",
    "azureServicePrincipalTenantId", "depth",
)  # fmt: skip
# Repository.HasCredentials()
CREDENTIALS = (
    "username", "password", "sshPrivateKey", "tlsClientCertData", "githubAppPrivateKey", "gcpServiceAccountKey",
    "bearerToken", "azureServicePrincipalClientSecret", "useAzureWorkloadIdentity",
)  # fmt: skip
# Repository.CopyCredentialsFrom(): what a repo without its own credentials takes from the matching template
INHERITED = CREDENTIALS + (
    "tlsClientCertKey", "githubAppID", "githubAppInstallationID", "githubAppEnterpriseBaseUrl", "proxy", "noProxy",
    "forceHttpBasicAuth", "azureServicePrincipalClientId", "azureServicePrincipalTenantId",
    "azureActiveDirectoryEndpoint",
)  # fmt: skip


def summary(repo: dict[str, Any]) -> dict[str, Any]:
    """The `{repo,type,name}` create and update return."""
    return {k: repo[k] for k in ("repo", "type", "name") if repo.get(k)}


def _rbac_object(repo: dict[str, Any]) -> str:
    return f"{repo['project']}/{repo['repo']}" if repo.get("project") else repo["repo"]


def _unreachable(state: State, url: str) -> bool:
    return url in state.unreachable or any(same_url(url, u) for u in state.unreachable)


# What repo-server answers when it cannot reach a repository (a plain error: gRPC Unknown, HTTP 500)
CONNECTION_FAILURE = "error testing repository connectivity: authentication required"


def _best_creds(state: State, url: str) -> dict[str, Any] | None:
    """The credential template with the longest URL prefix of url (getRepositoryCredentialIndex)."""
    lowered, best = url.lower(), None
    for creds in state.repocreds.values():
        prefix = creds["url"].lower()
        if lowered.startswith(prefix) and (best is None or len(prefix) > len(best["url"])):
            best = creds
    return best


def enriched(state: State, repo: dict[str, Any]) -> dict[str, Any]:
    """The repo with template credentials filled in when it has none (enrichCredsToRepo); call under state.lock."""
    out = dict(repo)
    if any(repo.get(k) for k in CREDENTIALS):
        return out
    creds = _best_creds(state, repo["repo"])
    if creds is not None:
        out.update({k: creds[k] for k in INHERITED if creds.get(k) and not out.get(k)})
        out["inheritedCreds"] = True
    return out


def sanitized(state: State, repo: dict[str, Any], attempted: str) -> dict[str, Any]:
    """A repo as GET and list show it: whitelist only, `insecure` folded, plus connectionState."""
    full = enriched(state, repo)
    shown = SANITIZED if versions.repo_list_username(state.release) else tuple(k for k in SANITIZED if k != "username")
    out = {k: full[k] for k in shown if full.get(k) not in (None, "", False, 0)}
    if full.get("insecure") or full.get("insecureIgnoreHostKey") or full.get("insecureOCIForceHttp"):
        out["insecure"] = True
    failed = _unreachable(state, repo["repo"])
    message = f"Unable to connect to repository: {CONNECTION_FAILURE}" if failed else ""
    out["connectionState"] = {
        "status": "Failed" if failed else "Successful",
        "message": message,
        "attemptedAt": attempted,
    }
    return out


def find(state: State, url: str, project: str) -> tuple[tuple[str, str], dict[str, Any]] | None:
    """The stored repo for url (and project when given), as db.GetRepository finds it; call under state.lock."""
    norm = normalize_url(url)
    if project:
        repo = state.repositories.get((norm, project))
        return ((norm, project), repo) if repo is not None else None
    if (norm, "") in state.repositories:
        return (norm, ""), state.repositories[(norm, "")]
    for key, repo in state.repositories.items():
        if key[0] == norm:
            return key, repo
    return None


def list_repos(state: State, req: Req) -> dict[str, Any]:
    attempted = now()
    with state.lock:
        repos = sorted(state.repositories.every(), key=lambda r: (r.get("project", ""), r["repo"]))
        items = [
            sanitized(state, r, attempted)
            for r in repos
            if state.allowed(req.subject, "repositories", "get", _rbac_object(r))
        ]
    return {"metadata": {}, "items": items or None}


def _existing(state: State, req: Req, action: str) -> tuple[Any, dict[str, Any]]:
    """The stored repo named by the path, or the bare 403 that hides whether it exists (§6.40)."""
    found = find(state, req.params["repo"], req.arg("appProject"))
    if found is None:
        raise GrpcError(PERMISSION_DENIED, "permission denied")
    state.enforce(req, "repositories", action, _rbac_object(found[1]))
    return found


def get(state: State, req: Req) -> dict[str, Any]:
    with state.lock:
        return sanitized(state, _existing(state, req, "get")[1], now())


def create(state: State, req: Req) -> dict[str, Any]:
    repo = dict(req.body or {})
    repo.pop("connectionState", None)  # aligned with the existing one before comparing
    if not repo.get("repo"):
        raise GrpcError(INVALID_ARGUMENT, "repo is required")
    state.enforce(req, "repositories", "create", _rbac_object(repo))
    if not repo.get("project") and _unreachable(state, repo["repo"]):
        raise GrpcError(UNKNOWN, CONNECTION_FAILURE)
    key = (normalize_url(repo["repo"]), repo.get("project", ""))
    with state.lock:
        existing = state.repositories.get(key)
        if existing is not None:
            if plain({"type": "git", **enriched(state, existing)}) == plain(repo):  # only the stored type defaults
                return summary(existing)
            if not req.flag("upsert"):
                raise GrpcError(
                    INVALID_ARGUMENT, "existing repository spec is different; use upsert flag to force update"
                )
            state.enforce(req, "repositories", "update", _rbac_object(repo))
            state.repositories[key] = repo  # db.UpdateRepository: the Secret found for the URL and project
        else:
            state.repositories.create(repo)
    state.notify()
    if existing is not None:  # upsert answers db.UpdateRepository's return: the request itself (§2.5 step 3)
        return {**repo, "connectionState": {"status": "Successful", "message": "", "attemptedAt": None}}
    return summary(repo)


def update(state: State, req: Req) -> dict[str, Any]:
    repo = dict(req.body or {})
    repo.pop("connectionState", None)
    url = repo["repo"] = req.params["repo.repo"]  # the gateway sets path fields after decoding the body
    with state.lock:
        found = find(state, url, repo.get("project", ""))
        if found is None:
            raise GrpcError(NOT_FOUND, f"repo '{url}' not found")
        state.enforce(req, "repositories", "update", _rbac_object(found[1]))
        key = (normalize_url(url), repo.get("project", ""))
        if found[0] != key:
            del state.repositories[found[0]]
        state.repositories[key] = repo
    state.notify()
    return summary(repo)


def delete(state: State, req: Req) -> dict[str, Any]:
    with state.lock:
        del state.repositories[_existing(state, req, "delete")[0]]
    state.notify()
    return {}


def hydrator_disabled(state: State, req: Req) -> Any:
    raise GrpcError(UNIMPLEMENTED, "hydrator is disabled")


WRITE_VERBS = ("List", "Create", "Update", "Delete")  # write repositories: the hydrator is disabled
HANDLERS: dict[str, Any] = {
    **{f"RepositoryService_{verb}WriteRepository": hydrator_disabled for verb in WRITE_VERBS},
    "RepositoryService_ListWriteRepositories": hydrator_disabled,
    "RepositoryService_GetWrite": hydrator_disabled,
    "RepositoryService_ValidateWriteAccess": hydrator_disabled,
    "RepositoryService_ListRepositories": list_repos,
    "RepositoryService_Get": get,
    "RepositoryService_CreateRepository": create,
    "RepositoryService_UpdateRepository": update,
    "RepositoryService_DeleteRepository": delete,
}
