"""An export's data path: each kind's objects read from Argo CD one at a time, and put into the store as they come.

Lists are parsed as they arrive (`Client.iter_list`) and objects are put in parallel with a bound on those in
flight, so an export's memory does not grow with the instance; an app list past argocd-server's gRPC message
limit is read again per project (`drkit.argocd.listing`).
"""

from __future__ import annotations

import hashlib
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

from drkit.argocd.client import Client
from drkit.argocd.kinds import KINDS
from drkit.argocd.listing import applications
from drkit.backup.sealing import Seal
from drkit.backup.store import Store
from drkit.errors import ApiError, IntegrityError, NotFound, PermissionDenied

Progress = Callable[[int, int], None]


def fetch(
    client: Client,
    kind: str,
    pool: ThreadPoolExecutor,
    warnings: list[str] | None = None,
    named: Iterable[str] = (),
) -> Iterator[dict[str, Any]]:
    """Every object of one kind as the API returns it, one at a time; GPG keys are read one by one (row.read_each).

    What may be missing from a kind that was read (see `applications`) is added to `warnings`; `named` are the
    projects the objects read before name, whose apps are read past the gRPC limit even if the token cannot list them.
    """
    row = KINDS[kind]
    if kind == "applications":
        items = applications(client, [] if warnings is None else warnings, named)
    else:
        items = client.iter_list(kind)
    if row.read_each:
        items = pool.map(lambda item: client.get_object(kind, row.identity(item)), list(items))
    return (item for item in items if row.builtin is None or not row.builtin(item))


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
