"""Which object fields each Argo CD version knows, and what a target that lacks one does to an object.

Argo CD decodes request bodies with Go `encoding/json` and no `DisallowUnknownFields` (`util/grpc/json.go`), so
a field the target's types do not know is dropped without an error (VERSIONS.md). Each row of FACTS was read
from the JSON tags in Argo CD's source at the tag it cites, and checked absent at the release before it.
`dropped(kind, doc, version)` answers: which fields of this object would a target at `version` drop, and what
class of effect is each?
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from typing import Any

Version = tuple[int, int, int]

# What losing a field does, worst first.
SYNC_POLICY = "sync policy"  # the object syncs (or deletes) when the backup said it must not
PROJECT_RESTRICTIONS = "project restrictions"  # a project allows more than the backup's
GENERATOR_SELECTION = "generator selection"  # an ApplicationSet generates more (or other) apps
RENDERING = "rendering"  # the app renders different manifests
CREDENTIALS = "credentials"  # a credential is lost: connections fail, or fall back to other credentials
COSMETIC = "cosmetic"  # nothing the controller acts on changes
EFFECTS = (SYNC_POLICY, PROJECT_RESTRICTIONS, GENERATOR_SELECTION, RENDERING, CREDENTIALS, COSMETIC)
POLICY_EFFECTS = frozenset({SYNC_POLICY, PROJECT_RESTRICTIONS, GENERATOR_SELECTION, RENDERING})

TYPES = "pkg/apis/application/v1alpha1/types.go"
APPSET_TYPES = "pkg/apis/application/v1alpha1/applicationset_types.go"
PROJECT_TYPES = "pkg/apis/application/v1alpha1/app_project_types.go"
REPO_TYPES = "pkg/apis/application/v1alpha1/repository_types.go"
PRESENT = object()  # a Fact about a field being there at all, whatever its value

_APP = ("applications",)
_APP_AND_TEMPLATE = ("applications", "applicationsets")
_SET = ("applicationsets",)
_PROJECT = ("projects",)
_REPO = ("repositories",)
_REPO_AND_CREDS = ("repositories", "repocreds")
_CLUSTER = ("clusters",)


@dataclass(frozen=True)
class Fact:
    """A field `kinds` carry from Argo CD `since` on; an older target drops it with `effect`.

    `path` is dotted; `x[]` means every item of list `x`, `**` any depth (a source may sit in `spec.source`,
    `spec.sources[]`, a hydrator's dry source or an ApplicationSet template). `source` is the tag and file the
    row was read from. `value`, when set, limits the fact to that value (a new enum member).
    """

    kinds: tuple[str, ...]
    path: str
    since: Version
    effect: str
    source: str
    value: Any = PRESENT
    note: str = ""


def _v(text: str) -> Version:
    major, minor, patch = (int(p) for p in text.split("."))
    return (major, minor, patch)


FACTS: tuple[Fact, ...] = ()


def parse_version(text: str) -> Version | None:
    """`v3.0.14+abc1234` (as `/api/version` answers) as (3, 0, 14); None when it names no release."""
    found = re.match(r"^v?(\d+)\.(\d+)\.(\d+)", (text or "").strip())
    return (int(found[1]), int(found[2]), int(found[3])) if found else None


@cache
def facts_for(kind: str) -> tuple[Fact, ...]:
    """The rows of FACTS about one kind."""
    return tuple(f for f in FACTS if kind in f.kinds)


@dataclass(frozen=True)
class Dropped:
    """One field of one object that a target would drop: where it is, and the row that says so."""

    path: str  # concrete, e.g. "spec.sources[1].helm.skipTests"
    fact: Fact

    @property
    def effect(self) -> str:
        return self.fact.effect

    @property
    def policy(self) -> bool:
        """True when losing it changes what syncs, what a project allows, what is generated or rendered."""
        return self.fact.effect in POLICY_EFFECTS


def dropped(kind: str, doc: dict[str, Any], version: Version) -> list[Dropped]:
    """The fields of `doc` a target at `version` does not know, each with its fact; sorted by path."""
    out = []
    for fact in facts_for(kind):
        if version >= fact.since:
            continue
        for path, value in _find(doc, fact.path.split(".")):
            if fact.value is PRESENT or value == fact.value:
                out.append(Dropped(path, fact))
    return sorted(out, key=lambda d: d.path)


def _find(node: Any, parts: list[str], here: str = "") -> Iterator[tuple[str, Any]]:
    """Every (concrete path, value) in `node` that the dotted pattern `parts` names."""
    if not parts:
        yield here, node
        return
    head, rest = parts[0], parts[1:]
    if head == "**":
        yield from _find(node, rest, here)
        for key, child in _children(node, here):
            yield from _find(child, parts, key)
        return
    name, each = (head[:-2], True) if head.endswith("[]") else (head, False)
    if not isinstance(node, dict) or name not in node:
        return
    child, where = node[name], f"{here}.{name}" if here else name
    if not each:
        yield from _find(child, rest, where)
    elif isinstance(child, list):
        for i, item in enumerate(child):
            yield from _find(item, rest, f"{where}[{i}]")


def _children(node: Any, here: str) -> Iterator[tuple[str, Any]]:
    if isinstance(node, dict):
        for key, child in node.items():
            yield (f"{here}.{key}" if here else key), child
    elif isinstance(node, list):
        for i, child in enumerate(node):
            yield f"{here}[{i}]", child
