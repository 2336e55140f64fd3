"""Simulated Argo CD repository and repository-credential endpoints (API-NOTES §2.5, §2.6, §6 items 38-42, 50).

Repositories are stored whole in `sim.repositories[(normalize_url(url), project)]`, credential templates
in `sim.repocreds[url]`; responses are built from them with Argo CD's whitelist redaction.
"""

from __future__ import annotations

import re
from typing import Any

from drkit.testing.gateway import INVALID_ARGUMENT, NOT_FOUND, PERMISSION_DENIED, UNIMPLEMENTED, UNKNOWN, GrpcError
from drkit.testing.gateway import Request as Req

# Repository.Sanitized(): the only fields GET and list return (master exports `username`)
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
_SCP_LIKE = re.compile(r"^[\w.\-]+@[\w.\-]+:(?!\d+/)")


def normalize_url(url: str) -> str:
    """A repo URL as git.NormalizeGitURL makes it: lower case, no `.git`, `git@host:x` as `git@host/x`."""
    url = url.strip().lower()
    if _SCP_LIKE.match(url):
        url = url.replace(":", "/", 1)
    url = url.removeprefix("ssh://")
    return url.removesuffix(".git")


def same_url(a: str, b: str) -> bool:
    """git.SameURL: do two repo URLs name the same repository?"""
    return normalize_url(a) == normalize_url(b)


def summary(repo: dict[str, Any]) -> dict[str, Any]:
    """The `{repo,type,name}` create and update return."""
    return {k: repo[k] for k in ("repo", "type", "name") if repo.get(k)}


def _rbac_object(repo: dict[str, Any]) -> str:
    return f"{repo['project']}/{repo['repo']}" if repo.get("project") else repo["repo"]


def _unreachable(sim: Any, url: str) -> bool:
    return url in sim.unreachable or any(same_url(url, u) for u in sim.unreachable)


# What repo-server answers when it cannot reach a repository (a plain error: gRPC Unknown, HTTP 500)
CONNECTION_FAILURE = "error testing repository connectivity: authentication required"


def _best_creds(sim: Any, url: str) -> dict[str, Any] | None:
    """The credential template with the longest URL prefix of url (getRepositoryCredentialIndex)."""
    lowered, best = url.lower(), None
    for creds in sim.repocreds.values():
        prefix = creds["url"].lower()
        if lowered.startswith(prefix) and (best is None or len(prefix) > len(best["url"])):
            best = creds
    return best


def enriched(sim: Any, repo: dict[str, Any]) -> dict[str, Any]:
    """The repo with template credentials filled in when it has none (enrichCredsToRepo); call under sim.lock."""
    out = dict(repo)
    if any(repo.get(k) for k in CREDENTIALS):
        return out
    creds = _best_creds(sim, repo["repo"])
    if creds is not None:
        out.update({k: creds[k] for k in INHERITED if creds.get(k) and not out.get(k)})
        out["inheritedCreds"] = True
    return out


def sanitized(sim: Any, repo: dict[str, Any], attempted: str) -> dict[str, Any]:
    """A repo as GET and list show it: whitelist only, `insecure` folded, plus connectionState."""
    full = enriched(sim, repo)
    out = {k: full[k] for k in SANITIZED if full.get(k) not in (None, "", False, 0)}
    if full.get("insecure") or full.get("insecureIgnoreHostKey") or full.get("insecureOCIForceHttp"):
        out["insecure"] = True
    failed = _unreachable(sim, repo["repo"])
    message = f"Unable to connect to repository: {CONNECTION_FAILURE}" if failed else ""
    out["connectionState"] = {
        "status": "Failed" if failed else "Successful",
        "message": message,
        "attemptedAt": attempted,
    }
    return out


def find(sim: Any, url: str, project: str) -> tuple[tuple[str, str], dict[str, Any]] | None:
    """The stored repo for url (and project when given), as db.GetRepository finds it; call under sim.lock."""
    norm = normalize_url(url)
    if project:
        repo = sim.repositories.get((norm, project))
        return ((norm, project), repo) if repo is not None else None
    if (norm, "") in sim.repositories:
        return (norm, ""), sim.repositories[(norm, "")]
    for key, repo in sim.repositories.items():
        if key[0] == norm:
            return key, repo
    return None


def repository_handlers(sim: Any) -> dict[str, Any]:
    """RepositoryService handlers."""
    from drkit.testing.sim import now

    def list_repos(req: Req) -> dict[str, Any]:
        attempted = now()
        with sim.lock:
            repos = sorted(sim.repositories.values(), key=lambda r: (r.get("project", ""), r["repo"]))
            items = [
                sanitized(sim, r, attempted)
                for r in repos
                if sim.allowed(req.subject, "repositories", "get", _rbac_object(r))
            ]
        return {"metadata": {}, "items": items or None}

    def existing(req: Req, action: str) -> tuple[Any, dict[str, Any]]:
        """The stored repo named by the path, or the bare 403 that hides whether it exists (§6.40)."""
        found = find(sim, req.params["repo"], req.arg("appProject"))
        if found is None:
            raise GrpcError(PERMISSION_DENIED, "permission denied")
        sim.enforce(req, "repositories", action, _rbac_object(found[1]))
        return found

    def get(req: Req) -> dict[str, Any]:
        with sim.lock:
            return sanitized(sim, existing(req, "get")[1], now())

    def create(req: Req) -> dict[str, Any]:
        repo = dict(req.body or {})
        repo.pop("connectionState", None)  # aligned with the existing one before comparing
        if not repo.get("repo"):
            raise GrpcError(INVALID_ARGUMENT, "repo is required")
        sim.enforce(req, "repositories", "create", _rbac_object(repo))
        if not repo.get("project") and _unreachable(sim, repo["repo"]):
            raise GrpcError(UNKNOWN, CONNECTION_FAILURE)
        key = (normalize_url(repo["repo"]), repo.get("project", ""))
        with sim.lock:
            existing = sim.repositories.get(key)
            if existing is not None:
                if {"type": "git", **enriched(sim, existing)} == repo:  # only the stored type is defaulted (§2.5)
                    return summary(existing)
                if not req.flag("upsert"):
                    raise GrpcError(
                        INVALID_ARGUMENT, "existing repository spec is different; use upsert flag to force update"
                    )
                sim.enforce(req, "repositories", "update", _rbac_object(repo))
            sim.repositories[key] = repo
        sim.notify()
        return summary(repo)

    def update(req: Req) -> dict[str, Any]:
        repo = dict(req.body or {})
        repo.pop("connectionState", None)
        url = repo["repo"] = req.params["repo.repo"]  # the gateway sets path fields after decoding the body
        with sim.lock:
            found = find(sim, url, repo.get("project", ""))
            if found is None:
                raise GrpcError(NOT_FOUND, f"repo '{url}' not found")
            sim.enforce(req, "repositories", "update", _rbac_object(found[1]))
            del sim.repositories[found[0]]
            sim.repositories[(normalize_url(url), repo.get("project", ""))] = repo
        sim.notify()
        return summary(repo)

    def delete(req: Req) -> dict[str, Any]:
        with sim.lock:
            del sim.repositories[existing(req, "delete")[0]]
        sim.notify()
        return {}

    def hydrator_disabled(req: Req) -> Any:
        raise GrpcError(UNIMPLEMENTED, "hydrator is disabled")

    writes = ("List", "Create", "Update", "Delete")
    out = {f"RepositoryService_{verb}WriteRepository": hydrator_disabled for verb in writes}
    out.update(
        {"RepositoryService_ListWriteRepositories": hydrator_disabled, "RepositoryService_GetWrite": hydrator_disabled}
    )
    out["RepositoryService_ValidateWriteAccess"] = hydrator_disabled
    out.update(
        {
            "RepositoryService_ListRepositories": list_repos,
            "RepositoryService_Get": get,
            "RepositoryService_CreateRepository": create,
            "RepositoryService_UpdateRepository": update,
            "RepositoryService_DeleteRepository": delete,
        }
    )
    return out


def creds_handlers(sim: Any, store: dict[str, dict[str, Any]], prefix: str, write: bool) -> dict[str, Any]:
    """RepoCredsService handlers over `store` (sim.repocreds, or the write-creds dict)."""

    def list_creds(req: Req) -> dict[str, Any]:
        with sim.lock:
            chosen = [c for _, c in sorted(store.items()) if not write or c.get("password")]
            items = [
                {k: c[k] for k in ("url", "username", "type", "enableOCI") if c.get(k)}
                for c in chosen
                if sim.allowed(req.subject, "repositories", "get", c["url"])
            ]
        return {"metadata": {}, "items": items}

    def create(req: Req) -> dict[str, Any]:
        creds = dict(req.body or {})
        if not creds.get("url"):
            raise GrpcError(INVALID_ARGUMENT, "must specify URL")
        sim.enforce(req, "repositories", "create", creds["url"])
        with sim.lock:
            existing = store.get(creds["url"])
            if existing is not None and existing != creds:
                if not req.flag("upsert"):
                    raise GrpcError(
                        INVALID_ARGUMENT,
                        "existing repository credentials spec is different; use upsert flag to force update",
                    )
                sim.enforce(req, "repositories", "update", creds["url"])
            store[creds["url"]] = creds
        sim.notify()
        return {"url": creds["url"]}

    def update(req: Req) -> dict[str, Any]:
        creds = dict(req.body or {})
        creds["url"] = req.params["creds.url"]  # the path wins over the body (gateway PopulateFieldFromPath)
        sim.enforce(req, "repositories", "update", creds["url"])
        with sim.lock:
            if creds["url"] not in store:
                raise GrpcError(NOT_FOUND, f"repository credentials '{creds['url']}' not found")
            store[creds["url"]] = creds
        sim.notify()
        return {"url": creds["url"]}

    def delete(req: Req) -> dict[str, Any]:
        url = req.params["url"]
        sim.enforce(req, "repositories", "delete", url)
        with sim.lock:
            if store.pop(url, None) is None:
                raise GrpcError(NOT_FOUND, f"repository credentials '{url}' not found")
        sim.notify()
        return {}

    return {
        f"RepoCredsService_List{prefix}RepositoryCredentials": list_creds,
        f"RepoCredsService_Create{prefix}RepositoryCredentials": create,
        f"RepoCredsService_Update{prefix}RepositoryCredentials": update,
        f"RepoCredsService_Delete{prefix}RepositoryCredentials": delete,
    }


def handlers(sim: Any) -> dict[str, Any]:
    """Repositories, repository credential templates and (ungated) write credentials."""
    out = repository_handlers(sim)
    out.update(creds_handlers(sim, sim.repocreds, "", write=False))
    out.update(creds_handlers(sim, {}, "Write", write=True))
    return out
