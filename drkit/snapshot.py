"""An export's data path: each kind's objects read from Argo CD one at a time, and put into the store as they come.

Lists are parsed as they arrive (`Client.iter_list`) and objects are put in parallel with a bound on those in
flight, so an export's memory does not grow with the instance; an app list past argocd-server's gRPC message
limit is read again per project.
"""

from __future__ import annotations

import hashlib
import math
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

from drkit.argocd import Client
from drkit.errors import ApiError, IntegrityError, NotFound, PermissionDenied, TooLarge
from drkit.kinds import KINDS
from drkit.sealing import Seal
from drkit.store import Store

Progress = Callable[[int, int], None]

MIB = 1024 * 1024


def fetch(client: Client, kind: str, pool: ThreadPoolExecutor) -> Iterator[dict[str, Any]]:
    """Every object of one kind as the API returns it, one at a time; GPG keys are read one by one (row.read_each)."""
    row = KINDS[kind]
    items = applications(client) if kind == "applications" else client.iter_list(kind)
    if row.read_each:
        items = pool.map(lambda item: client.get_object(kind, row.identity(item)), list(items))
    return (item for item in items if row.builtin is None or not row.builtin(item))


def applications(client: Client) -> Iterator[dict[str, Any]]:
    """Every application: one list, or one list per project when the whole passes argocd-server's gRPC limit.

    Argo CD sends a list as one gRPC message and has no pagination (API-NOTES §1.4); `projects=` is filtered
    by the server before it sends (v3.5.1 `server/application/application.go` `List`, `FilterByProjectsP`), so
    each project's list is a message of its own.
    """
    try:
        yield from client.iter_list("applications")
        return
    except TooLarge as err:
        whole = err
    try:
        projects = [p["metadata"]["name"] for p in client.iter_list("projects")]
    except ApiError as err:
        raise ApiError(
            f"applications: the list ({whole.size / MIB:.0f} MiB) passes argocd-server's gRPC message limit "
            f"({whole.limit / MIB:.0f} MiB), and listing them per project needs the projects, which failed: {err}",
            status=err.status,
            hint="give the token `projects, get`, or raise ARGOCD_GRPC_MAX_SIZE_MB on argocd-server",
        ) from None
    found = 0
    for project in projects:
        for app in _project_apps(client, project):
            found += 1
            yield app
    if not found:  # the refused list proves applications exist: a backup must not be written without them
        raise ApiError(
            f"applications: the list ({whole.size / MIB:.0f} MiB) passes argocd-server's gRPC message limit, and "
            f"no project's own list holds any (projects seen: {len(projects)})",
            status=whole.status,
            hint="give the token `projects, get` on every project, or raise ARGOCD_GRPC_MAX_SIZE_MB on argocd-server",
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
            hint=f"set ARGOCD_GRPC_MAX_SIZE_MB on argocd-server to at least {math.ceil(err.size * 1.25 / MIB)} "
            "(the size plus a quarter), restart it, then run the export again; no backup was written",
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
