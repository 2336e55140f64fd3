"""Reading every application from Argo CD: one list, or one list per project past argocd-server's gRPC limit.

Export and restore read the live apps the same way, so a target too large for one list is read as its backup was.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator
from typing import Any

from drkit.argocd.client import Client
from drkit.argocd.kinds import KINDS
from drkit.errors import ApiError, TooLarge

MIB = 1024 * 1024
PROJECT_ROUNDS = 3  # project lists read while apps are read per project, for projects created meanwhile


def applications(client: Client, warnings: list[str], named: Iterable[str] = ()) -> Iterator[dict[str, Any]]:
    """Every application: one list, or one list per project when the whole passes argocd-server's gRPC limit.

    Argo CD sends a list as one gRPC message and has no pagination (API-NOTES §1.4); `projects=` is filtered
    by the server before it sends (v3.5.1 `server/application/application.go` `List`, `FilterByProjectsP`), so
    each project's list is a message of its own. `?fields=` is no lighter list: the gateway cuts the message it
    received whole (testing/applications.py `list_apps`).

    Per project, the apps read are those of the projects the token can list, and of the projects `named`
    (by a backup's objects, or the repositories, clusters and ApplicationSets read before): the project list
    holds only the projects the token may `get`, while a project's app list checks only `applications, get` on
    each app, so a named project is read even when the token cannot list it. No API counts the projects a token
    cannot see, so when Argo CD does not confirm every project is visible (`can-i projects get *`), `warnings` says
    so and names how many of the named ones it could not confirm (`_unconfirmed`); any other is not read.
    """
    seen: set[str] = set()
    try:
        yield from _new(client.iter_list("applications"), seen)
        return
    except TooLarge as err:
        whole = err
    wanted, visible = set(named) - {""}, set[str]()
    yield from _per_project(client, whole, seen, warnings, wanted, visible)
    if not seen:  # the refused list proves applications exist: a backup must not be written without them
        raise ApiError(
            f"applications: the list ({whole.size / MIB:.0f} MiB) passes argocd-server's gRPC message limit, and "
            "no project's own list holds any",
            status=whole.status,
            hint=f"give the token `projects, get, *`, or {_raise_limit(whole.size)}",
        )
    if not _every_project_visible(client):
        unconfirmed = _unconfirmed(client, wanted - visible)
        names = ", ".join(unconfirmed[:5]) + (", ..." if len(unconfirmed) > 5 else "")
        warnings.append(
            f"applications: read one project at a time, as the whole list ({whole.size / MIB:.0f} MiB) passes "
            f"argocd-server's gRPC message limit ({whole.limit / MIB:.0f} MiB); Argo CD does not confirm this token "
            f"may list every project (can-i projects get *: no): it lists {len(visible)} project(s), and "
            f"{len(unconfirmed)} project(s) named elsewhere could not be confirmed"
            + (f" ({names}: their apps were read by name)" if unconfirmed else "")
            + "; the apps of a project it cannot list are not in what was read unless another object names the "
            "project; give the token `projects, get, *` (runbooks/least-privilege.md), or " + _raise_limit(whole.size)
        )


def _new(items: Iterator[dict[str, Any]], seen: set[str]) -> Iterator[dict[str, Any]]:
    """The apps not yielded before: a list broken off and refused as too large is read again per project, and an
    app that moves to another project between two projects' lists is in both."""
    identity = KINDS["applications"].identity
    for app in items:
        if identity(app) not in seen:
            seen.add(identity(app))
            yield app


def _per_project(
    client: Client, whole: TooLarge, seen: set[str], warnings: list[str], named: set[str], visible: set[str]
) -> Iterator[dict[str, Any]]:
    """Each project's apps, listed or `named`; the projects are listed again after their apps until no new one
    appears. `visible` collects the projects the token's project list held."""
    listed: set[str] = set()
    for _ in range(PROJECT_ROUNDS):
        found = _project_names(client, whole)
        visible |= found
        projects = (found | named) - listed
        if not projects:
            return
        for project in sorted(projects):
            yield from _new(_project_apps(client, project), seen)
        listed |= projects
    warnings.append(
        f"applications: new projects appeared each of the {PROJECT_ROUNDS} times the projects were listed while "
        "their apps were read one project at a time; apps of the newest projects may be missing; run the export again"
    )


def _project_names(client: Client, whole: TooLarge) -> set[str]:
    try:
        return {p["metadata"]["name"] for p in client.iter_list("projects")}
    except ApiError as err:
        raise ApiError(
            f"applications: the list ({whole.size / MIB:.0f} MiB) passes argocd-server's gRPC message limit "
            f"({whole.limit / MIB:.0f} MiB), and listing them per project needs the projects, which failed: {err}",
            status=err.status,
            hint=f"give the token `projects, get, *`, or {_raise_limit(whole.size)}",
        ) from None


def _every_project_visible(client: Client) -> bool:
    """Does Argo CD say the token may get any project (`can-i projects get *`)?

    The project list holds only the projects the token may `get` (v3.5.1 `server/project/project.go` `List`),
    while an app list needs only `applications, get`, so a token may read apps of projects it cannot list.
    `can-i` enforces the same policy on the object `*`, which only a grant on every project matches.
    """
    try:
        return client.can_i("projects", "get", "*")
    except ApiError:
        return False


def _unconfirmed(client: Client, unlisted: set[str]) -> list[str]:
    """The named projects the token's list lacks that Argo CD will not say it may get (`can-i projects get NAME`).

    One the token may get but the list lacks does not exist (the list holds every project the token may get): it
    is confirmed absent. One it may not get may or may not exist: not confirmed, though its apps were read.
    """
    out = []
    for name in sorted(unlisted):
        try:
            if client.can_i("projects", "get", name):
                continue
        except ApiError:
            pass
        out.append(name)
    return out


def projects_named(kind: str, doc: dict[str, Any]) -> set[str]:
    """The projects an object names: a project itself, an app's or set template's project, a scoped repo's or
    cluster's; what `applications` reads by name past the gRPC limit."""
    if kind == "projects":
        return {(doc.get("metadata") or {}).get("name") or ""} - {""}
    spec = doc.get("spec") or {}
    if kind == "applicationsets":
        spec = (spec.get("template") or {}).get("spec") or {}
    if kind in ("applications", "applicationsets"):
        project = spec.get("project") or "default"
        return set() if "{{" in project else {project}
    return {doc["project"]} if kind in ("repositories", "clusters") and doc.get("project") else set()


def _raise_limit(size: int) -> str:
    """The next step that makes the whole list fit: the limit with a quarter's headroom."""
    return (
        f"set ARGOCD_GRPC_MAX_SIZE_MB on argocd-server to at least {math.ceil(size * 1.25 / MIB)} (the list's size "
        "plus a quarter) and restart it"
    )


def _project_apps(client: Client, project: str) -> Iterator[dict[str, Any]]:
    try:
        yield from client.iter_list("applications", {"projects": project})
    except TooLarge as err:
        raise TooLarge(
            f"applications of project {project}: the list is {err.size} bytes ({err.size / MIB:.0f} MiB), over "
            f"argocd-server's gRPC message limit of {err.limit} bytes ({err.limit / MIB:.0f} MiB) even alone",
            size=err.size,
            limit=err.limit,
            status=err.status,
            hint=f"{_raise_limit(err.size)}, then run the export again; no backup was written",
        ) from None
