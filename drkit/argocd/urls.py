"""How Argo CD compares repository and cluster URLs (API-NOTES §1.1), and safe file names for identities."""

from __future__ import annotations

import hashlib
import re

IN_CLUSTER_SERVER = "https://kubernetes.default.svc"
IN_CLUSTER_NAME = "in-cluster"
_SSH_URL = re.compile(r"^(ssh://)?([^/:]*?)@[^@]+$")


def slug(identity: str) -> str:
    """A safe, readable file name for an identity such as a URL, unique by a short hash."""
    text = re.sub(r"[^a-z0-9.]+", "-", identity.lower()).strip("-.")[:80]
    return f"{text}-{hashlib.sha256(identity.encode()).hexdigest()[:8]}"


def normalize_repo_url(url: str) -> str:
    """Normalise a repo URL as Argo CD's `git.NormalizeGitURL` does: lower case, ssh form unified, no `.git`."""
    repo = url.strip().lower()
    if _SSH_URL.match(repo) and not repo.startswith("ssh://"):
        repo = "ssh://" + repo.replace(":", "/", 1)
    return repo.removesuffix(".git").removeprefix("ssh://")


def same_url(a: str, b: str) -> bool:
    """True when two repo URLs name the same repository, as Argo CD's `git.SameURL` decides."""
    left, right = normalize_repo_url(a), normalize_repo_url(b)
    return bool(left) and left == right


def normalize_server(server: str) -> str:
    """A cluster server URL as Argo CD stores it: trailing `/` trimmed."""
    return server.strip().rstrip("/")


def has_repo_prefix(prefix: str, url: str) -> bool:
    """True when a repocreds template URL `prefix` covers the repository `url` (Argo CD matches by prefix)."""
    return normalize_repo_url(url).startswith(normalize_repo_url(prefix))


def is_ssh(url: str) -> bool:
    """True for `ssh://...` and scp-like `user@host:path` repository URLs."""
    return url.startswith("ssh://") or ("@" in url and "://" not in url)
