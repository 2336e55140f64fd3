"""Watch streams: the journal of application and ApplicationSet writes, and the chunked event streams over it.

Argo CD's watch endpoints (`server/application/application.go` `Watch`, `server/applicationset` `Watch`) send
one `{"result": {"type": ..., "<payload>": obj}}` line per event, deduplicated by name, as NDJSON or, with
`Accept: text/event-stream`, as server-sent events with keepalive comments (API-NOTES §2.2, §6.28-29).

The REST gateway's generated handler waits for the gRPC stream's header (`stream.Header()`), which grpc-go sends
with the first message, so the HTTP response, headers included, starts with the first event: a watch with no
initial events shows nothing at all until something changes (API-NOTES §2.2, inferred). Keepalives come from
the gateway's forwarder, hence only after that.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

from drkit.testing.rpc import Request, Response

KEEPALIVE_SECONDS = 15.0
JOURNAL_LIMIT = 200_000
Entry = tuple[int, str, str, dict[str, Any]]  # (seq, kind 'app'|'appset', event type, object)


class Journal:
    """Every app/appset write in order; stored objects are replaced, never mutated, so entries stay snapshots."""

    def __init__(self, changed: threading.Condition, limit: int = JOURNAL_LIMIT) -> None:
        self.changed = changed
        self.limit = limit
        self.entries: list[Entry] = []
        self.base = 1  # seq of entries[0]
        self.seq = 0

    def record(self, kind: str, event: str, obj: dict[str, Any]) -> None:
        """Append one event (ADDED/MODIFIED/DELETED) and wake every waiting stream."""
        with self.changed:
            self.seq += 1
            self.entries.append((self.seq, kind, event, obj))
            if len(self.entries) > self.limit:
                drop = len(self.entries) // 2
                del self.entries[:drop]
                self.base += drop
            self.changed.notify_all()

    def since(self, seq: int) -> tuple[int, list[Entry]]:
        """Entries after `seq`, and the newest seq; call with the condition's lock held."""
        start = max(0, seq + 1 - self.base)
        return self.seq, self.entries[start:]


class Fields:
    """The gateway's generic `?fields=` filter of stream messages (argoproj/pkg v2.0.1 grpc/http/forwarders.go
    `newMarshaler`, `processItem`; Argo CD v2.10.0 and v3.5.1 pkg/apiclient/application/forwarder_overwrite.go give
    the app watch no field processor of its own): `a.b,c` keeps those dotted paths of `{"result": ...}`, whole; a
    leading `-` drops them instead. A map key is kept when its path is listed or is a string prefix of a listed one;
    list items share their list's path. Only the first `fields` parameter counts (`Query().Get`)."""

    def __init__(self, query: str) -> None:
        self.exclude = query.startswith("-")
        self.paths = frozenset(query.removeprefix("-").split(",")) if query else frozenset()

    def __bool__(self) -> bool:
        return bool(self.paths)

    def apply(self, item: Any, path: str = "") -> Any:
        """`item` filtered (a new object: stored snapshots are never changed)."""
        if isinstance(item, list):
            return [self.apply(each, path) for each in item]
        if not isinstance(item, dict):
            return item
        out = {}
        for key, value in item.items():
            here = f"{path}.{key}" if path else key
            listed = here in self.paths
            under = listed or any(p.startswith(here) for p in self.paths)
            if (self.exclude and not listed) or (not self.exclude and under):
                out[key] = value if listed else self.apply(value, here)
        return out


def respond(
    journal: Journal,
    stopping: threading.Event,
    req: Request,
    kind: str,
    payload: str,
    seq: int,
    initial: list[dict[str, Any]],
    match: Callable[[dict[str, Any]], bool],
) -> Response:
    """A chunked NDJSON (or SSE with `Accept: text/event-stream`) stream of watch events from journal `seq` on."""
    sse = "text/event-stream" in req.headers.get("accept", "")
    content_type = "text/event-stream" if sse else "application/json"
    events = _events(journal, stopping, payload, _Cursor(kind, seq, initial, match), sse, Fields(req.arg("fields")))
    return Response(headers={"Content-Type": content_type}, stream=events)


class _Cursor:
    """Where one stream stands: its kind, its journal position, what it sends first and what it filters."""

    def __init__(self, kind: str, seq: int, initial: list[dict[str, Any]], match: Callable[[dict[str, Any]], bool]):
        self.kind, self.seq, self.initial, self.match = kind, seq, initial, match


def _events(
    journal: Journal, stopping: threading.Event, payload: str, cursor: _Cursor, sse: bool, fields: Fields
) -> Iterator[bytes]:
    last: dict[str, bytes] = {}  # dedup key is the name only, as in Argo CD, and on the filtered message

    def frame(event: str, obj: dict[str, Any]) -> bytes:
        message = {"result": {"type": event, payload: obj}}
        line = json.dumps(fields.apply(message) if fields else message, separators=(",", ":")).encode()
        name = obj["metadata"]["name"]
        if last.get(name) == line:
            return b""
        last[name] = line
        return b"data: " + line + b" \n\n\n" if sse else line + b"\n"

    first = b"".join(frame("ADDED", obj) for obj in cursor.initial)
    if first:
        yield first
    started = bool(first)  # keepalives only once the response has begun
    quiet_since, seq = time.monotonic(), cursor.seq
    while not stopping.is_set():
        with journal.changed:
            newest, entries = journal.since(seq)
            if not entries:
                journal.changed.wait(1.0)
                newest, entries = journal.since(seq)
        seq = newest
        chunk = b"".join(frame(event, obj) for _, k, event, obj in entries if k == cursor.kind and cursor.match(obj))
        if chunk:
            quiet_since, started = time.monotonic(), True
            yield chunk
        elif sse and started and time.monotonic() - quiet_since >= KEEPALIVE_SECONDS:
            quiet_since = time.monotonic()
            yield b":\n"
