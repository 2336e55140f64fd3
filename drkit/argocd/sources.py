"""What an export source's Argo CD version shows of its objects, and how a restore fills in what it hid.

Read from VERSIONS.md ("List shapes that differ by version or patch") and checked at the tags it cites: before the
2025 cluster-list fix the cluster list returned `caData`, `certData` and `execProviderConfig` (v3.0.13
`server/cluster/cluster.go` has no `Sanitized()` call, v3.0.14 has); some releases leave `username` out of the
repository list; the repository-credentials list returns `type` and `enableOCI` only from 3.6
(`server/repocreds/repocreds.go`, master), so an older source's backup cannot say a template is Helm or OCI.
"""

from __future__ import annotations

import copy
from typing import Any

from drkit.argocd import settings as argocd_settings
from drkit.argocd.urls import has_repo_prefix
from drkit.argocd.versions import Version, parse_version

# The first patch of each minor with the cluster-list fix; minors after these (3.2 on) have it from .0.
CLUSTER_LIST_FIX = {(2, 10): 19, (2, 11): 14, (2, 12): 13, (2, 13): 9, (2, 14): 16, (3, 0): 14, (3, 1): 2}
# The first patch of each minor whose repository list leaves `username` out; 3.6 (master) shows it again.
REPO_USERNAME_HIDDEN = {(2, 14): 16, (3, 0): 14, (3, 1): 2, (3, 2): 0, (3, 3): 0, (3, 4): 0, (3, 5): 0}
REPOCREDS_TYPED = (3, 6, 0)  # the repository-credentials list has `type` and `enableOCI` from here
# What a backup may never hold of a cluster's config (the schema refuses it): secrets, and CA data with them
CLUSTER_SECRETS = ("password", "bearerToken", "execProviderConfig")
CLUSTER_TLS_SECRETS = ("caData", "certData", "keyData")
REPO_TYPES = ("git", "helm", "oci")


def _patched(version: Version, fixes: dict[tuple[int, int], int]) -> bool:
    minor = version[:2]
    return version[2] >= fixes[minor] if minor in fixes else minor > max(fixes)


def exposes_cluster_secrets(version: Version | None) -> bool:
    """Does this source's cluster list carry CA data, client certificates and exec provider config?"""
    return version is not None and not _patched(version, CLUSTER_LIST_FIX)


def hidden_fields(version: Version | None) -> list[str]:
    """`<kind>.<field>` this source's lists leave out although the objects have them (for the manifest)."""
    if version is None:
        return []
    minor, out = version[:2], []
    if minor in REPO_USERNAME_HIDDEN and version[2] >= REPO_USERNAME_HIDDEN[minor]:
        out.append("repositories.username")
    if version < REPOCREDS_TYPED:
        out += ["repocreds.type", "repocreds.enableOCI"]
    return out


def describe(client: Any, version: str, counts: dict[str, int]) -> tuple[dict[str, Any], list[str]]:
    """The manifest's fields about the source (what its lists hide, its sync settings), and warnings about it."""
    release = parse_version(version)
    settings, warnings = argocd_settings.read(client)
    fields: dict[str, Any] = {"sourceHides": hidden_fields(release)}
    if settings is not None:
        fields["argocdSettings"] = settings
    return fields, warnings + export_warnings(release, version, counts)


def export_warnings(version: Version | None, text: str, counts: dict[str, int]) -> list[str]:
    """What an operator should know about a backup taken from this source, and what to do about it."""
    out = []
    if counts.get("clusters") and exposes_cluster_secrets(version):
        assert version is not None
        minor = version[:2]
        fix = f"v{minor[0]}.{minor[1]}.{CLUSTER_LIST_FIX[minor]}"
        out.append(
            f"clusters: Argo CD {text} returns clusters' CA data, client certificates and exec provider config in "
            f"its cluster list (a security issue fixed in {fix}); drkit stored none of it. Upgrade the source to "
            f"{fix} or later, and keep cluster CA and credentials in the restore's credentials file"
        )
    return out


def restore_notes(manifest: dict[str, Any]) -> list[str]:
    """What a restore cannot know because the backup's source hid it, and what to do about it."""
    if "repositories.username" not in manifest.get("sourceHides", []):
        return []
    return [
        f"repositories: the backup's source (Argo CD {manifest.get('argocdVersion') or 'unknown'}) does not show "
        "repositories' usernames, so the backup cannot say which HTTPS repositories had their own credentials; give "
        "each one's username and password in the credentials file"
    ]


def strip_cluster(obj: dict[str, Any]) -> dict[str, Any]:
    """A cluster as a backup may hold it: without the secrets and CA data an unpatched list returns."""
    config = obj.get("config")
    if not isinstance(config, dict):
        return obj
    for name in CLUSTER_SECRETS:
        config.pop(name, None)
    tls = config.get("tlsClientConfig")
    if isinstance(tls, dict):
        for name in CLUSTER_TLS_SECRETS:
            tls.pop(name, None)
    return obj


def fill_repocreds_types(objects: dict[str, list[dict[str, Any]]], credentials: Any) -> tuple[dict, list[str]]:
    """Templates without `type` (a source before 3.6 hides it) get one: the credentials file's, else the type of
    every repository under the template's prefix when they agree; each inferred one is named in a note."""
    templates = objects.get("repocreds") or []
    if all(doc.get("type") for doc in templates):
        return objects, []
    objects, notes = dict(objects), []
    objects["repocreds"] = filled = []
    for doc in templates:
        doc = copy.deepcopy(doc)
        if not doc.get("type"):
            doc["type"], note = _template_type(doc["url"], objects.get("repositories") or [], credentials)
            notes += [note] if note else []
        filled.append(doc)
    return objects, notes


def _template_type(url: str, repositories: list[dict[str, Any]], credentials: Any) -> tuple[str, str]:
    given = (credentials.for_repocreds(url) or {}).get("type") if credentials is not None else None
    if given:
        return str(given), ""
    using = sorted({r.get("type") or "git" for r in repositories if has_repo_prefix(url, r.get("repo", ""))})
    if using and using != ["git"] and len(using) == 1:
        return using[0], (
            f"repository credentials {url}: type {using[0]} inferred from the repositories under it (the source's "
            "Argo CD does not show a template's type); set `type:` under its credentials-file entry to override"
        )
    if len(using) > 1:
        return "git", (
            f"repository credentials {url}: restored as type git, but repositories of types {', '.join(using)} use "
            "it (the source's Argo CD does not show a template's type); set `type:` under its credentials-file entry"
        )
    return "git", ""
