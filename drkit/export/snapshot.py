"""An export's data path: each kind's objects read from Argo CD one at a time, and put into the store as they come.

Lists are parsed as they arrive (`Client.iter_list`) and objects are put in parallel with a bound on those in
flight, so an export's memory does not grow with the instance; an app list past argocd-server's gRPC message
limit is read again per project, with a warning when Argo CD does not confirm the token sees every project.
"""

from __future__ import annotations

import hashlib
import math
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

from drkit.argocd.client import Client
from drkit.argocd.kinds import KINDS
from drkit.backup.sealing import Seal
from drkit.backup.store import Store
from drkit.errors import ApiError, IntegrityError, NotFound, PermissionDenied, TooLarge

Progress = Callable[[int, int], None]

MIB = 1024 * 1024
PROJECT_ROUNDS = 3  # project lists read while apps are read per project, for projects created meanwhile


def fetch(
    client: Client, kind: str, pool: ThreadPoolExecutor, warnings: list[str] | None = None
) -> Iterator[dict[str, Any]]:
    """Every object of one kind as the API returns it, one at a time; GPG keys are read one by one (row.read_each).

    What may be missing from a kind that was read (see `applications`) is added to `warnings`.
    """
    row = KINDS[kind]
    if kind == "applications":
        items = applications(client, [] if warnings is None else warnings)
    else:
        items = client.iter_list(kind)
    if row.read_each:
        items = pool.map(lambda item: client.get_object(kind, row.identity(item)), list(items))
    return (item for item in items if row.builtin is None or not row.builtin(item))


def applications(client: Client, warnings: list[str]) -> Iterator[dict[str, Any]]:
    """Every application: one list, or one list per project when the whole passes argocd-server's gRPC limit.

    Argo CD sends a list as one gRPC message and has no pagination (API-NOTES §1.4); `projects=` is filtered
    by the server before it sends (v3.5.1 `server/application/application.go` `List`, `FilterByProjectsP`), so
    each project's list is a message of its own. `?fields=` is no lighter list: the gateway cuts the message it
    received whole (testing/applications.py `list_apps`). Per project, the backup holds the apps of the projects
    the token can list; when Argo CD does not confirm that is every project, `warnings` says so.
    """
    seen: set[str] = set()
    try:
        yield from _new(client.iter_list("applications"), seen)
        return
    except TooLarge as err:
        whole = err
    yield from _per_project(client, whole, seen, warnings)
    if not seen:  # the refused list proves applications exist: a backup must not be written without them
        raise ApiError(
            f"applications: the list ({whole.size / MIB:.0f} MiB) passes argocd-server's gRPC message limit, and "
            "no project's own list holds any",
            status=whole.status,
            hint=f"give the token `projects, get, *`, or {_raise_limit(whole.size)}",
        )
    if not _every_project_visible(client):
        warnings.append(
            f"applications: read one project at a time, as the whole list ({whole.size / MIB:.0f} MiB) passes "
            f"argocd-server's gRPC message limit ({whole.limit / MIB:.0f} MiB); Argo CD does not confirm this token "
            "may list every project (can-i projects get *: no), and the apps of a project it cannot list are not in "
            "this backup; give the token `projects, get, *` (runbooks/least-privilege.md), or "
            + _raise_limit(whole.size)
        )


def _new(items: Iterator[dict[str, Any]], seen: set[str]) -> Iterator[dict[str, Any]]:
    """The apps not yielded before: a list broken off and refused as too large is read again per project, and an
    app that moves to another project between two projects' lists is in both."""
    identity = KINDS["applications"].identity
    for app in items:
        if identity(app) not in seen:
            seen.add(identity(app))
            yield app


def _per_project(client: Client, whole: TooLarge, seen: set[str], warnings: list[str]) -> Iterator[dict[str, Any]]:
    """Each project's apps; the projects are listed again after their apps until no new one appears."""
    listed: set[str] = set()
    for _ in range(PROJECT_ROUNDS):
        projects = _project_names(client, whole) - listed
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


def skipped(err: ApiError) -> bool:
    """True when a kind may be left out with a warning: the token cannot read it, or this Argo CD lacks it.

    Any other failure means the kind exists and was not read: the export fails rather than write a backup
    without it.
    """
    return isinstance(err, (PermissionDenied, NotFound))


class Writer:
    """Puts objects into a backup in parallel as they are read (sealed first, with `seal`), a few in memory at once."""

    def __init__(
        self,
        store: Store,
        prefix: str,
        pool: ThreadPoolExecutor,
        bound: int,
        progress: Progress | None,
        seal: Seal | None = None,
    ) -> None:
        self.store, self.prefix, self.pool, self.progress, self.seal = store, prefix, pool, progress, seal
        self.in_flight: deque[Future[dict[str, Any]]] = deque()
        self.bound = bound  # puts waiting or running: the objects held in memory at once
        self.keys: set[str] = set()
        self.entries: list[dict[str, Any]] = []

    def put(self, kind: str, key: str, data: bytes) -> None:
        if key in self.keys:
            raise IntegrityError(f"{key}: two {kind} objects map to the same file; please report this")
        self.keys.add(key)
        self.in_flight.append(self.pool.submit(self._put, key, data))
        while len(self.in_flight) > self.bound:
            self._collect()

    def finish(self) -> list[dict[str, Any]]:
        """Wait for every put; the manifest entries, sorted by key."""
        while self.in_flight:
            self._collect()
        return sorted(self.entries, key=lambda e: e["key"])

    def _collect(self) -> None:
        self.entries.append(self.in_flight.popleft().result())
        if self.progress:
            done = len(self.entries)
            self.progress(done, len(self.keys) if self.in_flight else done)

    def _put(self, key: str, data: bytes) -> dict[str, Any]:
        data = self.seal.seal(data) if self.seal else data  # the checksum covers what is stored: verify needs no key
        self.store.put(f"{self.prefix}/{key}", data)
        kind, _, rest = key.partition("/")
        sha = hashlib.sha256(data).hexdigest()
        return {"key": key, "kind": kind, "name": rest.removesuffix(".yaml"), "size": len(data), "sha256": sha}
