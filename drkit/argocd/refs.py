"""What an Argo CD object depends on, and the three questions asked of it: select, block, verify.

`refs(kind, doc)` reads each kind's row, so the selection closure (`closure`), the apply blocker (`Index` of what
was not restored), verify's reference check (`missing`) and the kinds a selection may pull in (`closure_kinds`)
all agree on one answer. A Ref's `need` says how much it matters: a REQUIRED one missing from a backup is a
problem; a USED one that failed to restore blocks its dependants; a MAY_USE one is only brought along.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from drkit.argocd.kinds import KINDS, RESTORE_ORDER
from drkit.argocd.shapes import MAY_USE, REQUIRED, USED, Ref  # noqa: F401 (re-exported)

Doc = dict[str, Any]
Objects = dict[str, list[Doc]]


def refs(kind: str, doc: Doc) -> list[Ref]:
    """What one object depends on: its project, destination cluster, repositories, templates, ApplicationSet."""
    return KINDS[kind].refs(doc)


def kinds_to_read(kinds: Iterable[str]) -> tuple[str, ...]:
    """The kinds asked for plus those their objects may depend on (each row's `depends_on`), in restore order."""
    wanted, todo = set(kinds), list(kinds)
    while todo:
        fresh = set(KINDS[todo.pop()].depends_on) - wanted
        wanted |= fresh
        todo += fresh
    return tuple(k for k in RESTORE_ORDER if k in wanted)


class Index:
    """Objects by the (by, value) pairs refs find them by; a prefix ref finds every template that covers it."""

    def __init__(self, objects: Objects | None = None, *, builtins: bool = False) -> None:
        self._found: dict[tuple[str, str, str], list[Doc]] = {}
        self._prefixes: dict[str, list[tuple[str, Doc]]] = {}
        if builtins:
            for kind in KINDS.values():
                for by, value in kind.always:
                    self._found.setdefault((kind.name, by, value), []).append({})
        for kind, docs in (objects or {}).items():
            for doc in docs:
                self.add(kind, doc)

    def add(self, kind: str, doc: Doc) -> None:
        for by, value in KINDS[kind].answers(doc):
            if by == "prefix":
                self._prefixes.setdefault(kind, []).append((value, doc))
            else:
                self._found.setdefault((kind, by, value), []).append(doc)

    def find(self, ref: Ref) -> list[Doc]:
        """Every object a ref points at (for a prefix ref, every template whose prefix covers the URL)."""
        if ref.by == "prefix":
            return [d for p, d in self._prefixes.get(ref.kind, []) if ref.value.startswith(p)]
        return list(self._found.get((ref.kind, ref.by, ref.value), []))


def closure(objects: Objects, chosen: Objects) -> Objects:
    """From `objects`, everything `chosen` depends on, transitively (each object once, in `objects` order)."""
    index = Index(objects)
    wanted: dict[str, dict[int, Doc]] = {k: {} for k in objects}
    todo = [(k, d) for k, docs in chosen.items() for d in docs]
    while todo:
        kind, doc = todo.pop()
        for ref in refs(kind, doc):
            for found in index.find(ref):
                if ref.kind in wanted and id(found) not in wanted[ref.kind]:
                    wanted[ref.kind][id(found)] = found
                    todo.append((ref.kind, found))
    return {k: [d for d in objects[k] if id(d) in wanted[k]] for k in objects}


def missing(objects: Objects, exported: Iterable[str]) -> list[tuple[str, Doc, Ref]]:
    """(kind, doc, ref) for each REQUIRED ref of an object the backup lacks, among kinds the export took.

    A fresh Argo CD's own objects (the default project, the in-cluster destination) count as present.
    """
    exported = set(exported)
    index = Index(objects, builtins=True)
    out = []
    for kind in RESTORE_ORDER:
        for doc in objects.get(kind, []):
            for ref in refs(kind, doc):
                if ref.need == REQUIRED and ref.kind in exported and not index.find(ref):
                    out.append((kind, doc, ref))
    return out
