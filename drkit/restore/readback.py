"""Read back what a restore wrote: the fields the target dropped, what losing each does, and whether to go on.

Argo CD decodes request bodies without `DisallowUnknownFields` (VERSIONS.md), so a target that lacks a field drops
it without an error; the create or update answer is the stored object, which shows it. The comparison is
faithful to what the API does to any object: Go `omitempty` and the gateway's protobuf hop make an empty value
(`""`, `false`, `0`, `{}`, `[]`, null) the same as a missing one (API-NOTES §1; tests/sim/test_equality.py), and
a server may add fields (defaults, status): only fields the request held and the answer lacks are dropped.
Where the answer is not the stored object (repository templates, certificates, GPG keys), the version table's
prediction stands in for it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from drkit.argocd import versions
from drkit.argocd.kinds import KINDS, normalize
from drkit.errors import ApiError

UNKNOWN = "unknown"  # a dropped field drkit's version table does not explain: treated like a policy one
# Fields a kind's answer hides on some versions although they were stored (API-NOTES §2.5: `Sanitized()`)
HIDDEN_IN_ANSWER = {"repositories": frozenset({"username"})}
ENABLED = ".automated.enabled"  # absent means true (v3.1.0 types.go IsAutomatedSyncEnabled): only false can be lost


@dataclass(frozen=True)
class Loss:
    """One field the target did not keep (or, predicted, will not keep), with what losing it does."""

    path: str
    effect: str  # one of versions.EFFECTS, or UNKNOWN
    since: versions.Version | None = None  # the first Argo CD version that keeps it, when the table knows

    @property
    def policy(self) -> bool:
        """Losing it changes what syncs, what a project allows, what is generated or rendered (or nobody knows)."""
        return self.effect in versions.POLICY_EFFECTS or self.effect == UNKNOWN

    def __str__(self) -> str:
        return f"{self.path} ({self.effect})"

    def to_json(self) -> dict[str, str]:
        return {"path": self.path, "effect": self.effect}


def read_back(client: Any, step: Any, answer: Any) -> list[Loss]:
    """The fields of the object just written that the target did not keep: from its answer, a GET, or the table."""
    row, body = KINDS[step.kind], step.body or {}
    if row.read_back == "get":
        params = {"appProject": body["project"]} if body.get("project") else None
        try:
            answer = client.get_object(step.kind, step.name, params)
        except ApiError:
            return step.losses  # written, but not readable now: the version table's word stands
    elif row.read_back != "answer":
        return step.losses
    known = rows(step.kind, body)
    seen = observed(step.kind, body, answer, known)
    return merged(seen, unobservable(step.losses, step.kind, body, known))


@dataclass(frozen=True)
class _Write:
    """A write outside the plan (a re-arm), shaped as the plan's Step for `read_back`."""

    kind: str
    name: str
    body: dict[str, Any]
    losses: list[Loss]


def read_back_rearm(
    client: Any, kind: str, name: str, body: dict[str, Any], answer: Any, version: versions.Version | None
) -> list[Loss]:
    """What the target did not keep of a re-arm's `body`: the same read-back as the first write's (`read_back`)."""
    return read_back(client, _Write(kind, name, body, predict(kind, body, version)), answer)


def field_loss(step: Any, lost: list[Loss], version: str) -> str:
    """`<kind> <name>: Argo CD <v> did not keep <fields>; what was done; what to do`."""
    row = KINDS[step.kind]
    fields = ", ".join(str(loss) for loss in lost if loss.policy)
    needed = [loss.since for loss in lost if loss.policy and loss.since]
    upgrade = f"Argo CD v{'.'.join(map(str, max(needed)))} or later" if needed else "an Argo CD that keeps them"
    return (
        f"{row.singular} {step.name}: Argo CD {version or '(version unknown)'} did not keep {fields}, so it would "
        f"act differently from the backup; it is stored as the target holds it, and nothing that depends on it was "
        f"synced or re-armed. Restore onto {upgrade}, remove the fields from the backup's object, or rerun with "
        "--allow-field-loss to accept the loss"
    )


def predict(kind: str, body: dict[str, Any], version: versions.Version | None) -> list[Loss]:
    """The fields of a request body a target at `version` will drop; none when the version is unknown."""
    if version is None:
        return []
    return [Loss(d.path, d.effect, d.fact.since) for d in versions.dropped(kind, body, version)]


def predict_plan(the_plan: Any, version: str) -> None:
    """Note on each step that writes the fields the target's version will drop (none when the version is unknown)."""
    the_plan.target_version = version
    parsed = versions.parse_version(version)
    for step in the_plan.steps:
        if step.action in ("create", "update") and step.body is not None:
            step.losses = predict(step.kind, step.body, parsed)
        paused = [x for x in predict(step.kind, step.rearm or {}, parsed) if x.path.endswith(ENABLED)]
        if paused:
            step.reason = (
                f"paused in the backup ({paused[0].path}: false), which Argo CD {version} cannot hold: it will be "
                "left without automated, never armed"
            )


def rows(kind: str, body: dict[str, Any]) -> list[versions.Dropped]:
    """Every version-table row that names a field of `body`, whatever the target's version: the read-back's key.

    Worked out once per written object and handed to the functions below (it walks the whole body per row).
    """
    return versions.dropped(kind, body, (0, 0, 0))


def unobservable(
    losses: list[Loss], kind: str, body: dict[str, Any], known: list[versions.Dropped] | None = None
) -> list[Loss]:
    """The predicted losses an answer cannot show: a new value of an old field is stored, just not understood."""
    values = {d.path for d in (rows(kind, body) if known is None else known) if isinstance(d.fact.value, str)}
    return [loss for loss in losses if loss.path in values]


def observed(kind: str, sent: dict[str, Any], answer: Any, known: list[versions.Dropped] | None = None) -> list[Loss]:
    """The fields of `sent` (without secrets) that `answer` (the stored object) does not hold, each classified."""
    known = rows(kind, sent) if known is None else known
    row = KINDS[kind]
    stored = normalize(kind, answer) if isinstance(answer, dict) else {}
    hidden = HIDDEN_IN_ANSWER.get(kind, frozenset())
    mine = {k: v for k, v in row.view(sent, stored).items() if k not in hidden}
    leaves = lost(mine, row.view(stored)) + _values_lost(known, stored)
    return classify(known, leaves)


def _values_lost(known: list[versions.Dropped], stored: dict[str, Any]) -> list[str]:
    """Rows about one value that differs from none (`automated.enabled: false`, whose absence means true)."""
    return [d.path for d in known if isinstance(d.fact.value, bool) and value_at(stored, d.path) != d.fact.value]


def value_at(doc: Any, path: str) -> Any:
    """The value at a concrete path such as `spec.sources[1].helm`, or None."""
    for name, index in re.findall(r"([^.\[\]]+)|\[(\d+)\]", path):
        if index:
            doc = doc[int(index)] if isinstance(doc, list) and int(index) < len(doc) else None
        else:
            doc = doc.get(name) if isinstance(doc, dict) else None
    return doc


def classify(known: list[versions.Dropped], leaves: list[str]) -> list[Loss]:
    """Group lost leaf paths under the version-table row (of `rows`) they belong to; others are UNKNOWN."""
    known = sorted(known, key=lambda d: -len(d.path))  # longest first
    out: dict[str, Loss] = {}
    for leaf in leaves:
        row = next((d for d in known if leaf == d.path or leaf.startswith((d.path + ".", d.path + "["))), None)
        loss = Loss(row.path, row.effect, row.fact.since) if row else Loss(leaf, UNKNOWN)
        out.setdefault(loss.path, loss)
    return sorted(out.values(), key=lambda x: x.path)


def merged(*groups: list[Loss]) -> list[Loss]:
    """Losses from several readings, one per path, by path."""
    out: dict[str, Loss] = {}
    for group in groups:
        for loss in group:
            if out.get(loss.path) is None or out[loss.path].effect == UNKNOWN:
                out[loss.path] = loss
    return sorted(out.values(), key=lambda x: x.path)


def lost(sent: Any, stored: Any, path: str = "") -> list[str]:
    """Leaf paths holding a value in `sent` that `stored` lacks (an empty value equals a missing one)."""
    if _empty(sent) or (sent is True and path.endswith(ENABLED)):
        return []
    if isinstance(sent, dict):
        have = stored if isinstance(stored, dict) else {}
        differ = ((k, v) for k, v in sent.items() if v != have.get(k))  # an equal part lost nothing
        return [p for k, v in differ for p in lost(v, have.get(k), f"{path}.{k}" if path else str(k))]
    if isinstance(sent, list):
        have = stored if isinstance(stored, list) else []
        if all(not isinstance(item, (dict, list)) for item in sent):
            return [] if all(item in have for item in sent) else [path]
        pairs = [(item, have[i] if i < len(have) else None, f"{path}[{i}]") for i, item in enumerate(sent)]
        return [p for item, there, where in pairs for p in lost(item, there, where)]
    return [path] if _empty(stored) else []


def _empty(value: Any) -> bool:
    return value is None or value is False or (value == 0 and not isinstance(value, bool)) or value in ("", {}, [])
