"""The restore plan: each backup object compared with the live target, as create, update, unchanged or skip.

The comparison is like with like: the live object normalised as an export would store it, against the backup
document minus what the API never returns. Bodies carry the safety transforms (no `automated` in apps and
ApplicationSet templates, ApplicationSets unable to delete); a live object equal to the transformed body is
`unchanged` too, so a second restore after a first one that disarmed things (and maybe never re-armed them) writes
nothing.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any

from drkit.argocd import patches
from drkit.argocd.kinds import KINDS, RESTORE_ORDER, Kind, generated_by
from drkit.argocd.shapes import canonical, strip_tokens  # noqa: F401 (re-exported)
from drkit.restore.certificates import Certificate

Objects = dict[str, list[dict[str, Any]]]
DISARM_GAP = (
    "its templatePatch writes out template values (toYaml, toJson, indent) that may add spec.syncPolicy.automated "
    "where drkit cannot see it to disarm it: an app it generates may auto-sync before the re-arm"
)
CERT_HINT = "the Argo CD API never returns certificate data; add it under `certificates:` in the credentials file"


@dataclass
class Step:
    """One object's planned action; `body` is the request object without secrets."""

    kind: str
    name: str
    action: str  # create | update | unchanged | skip
    doc: dict[str, Any]
    body: dict[str, Any] | None = None
    changes: list[str] = field(default_factory=list)
    reason: str | None = None
    needs_credentials: bool = False
    rearm: dict[str, Any] | None = None  # the original request object, when `body` is its disarmed form
    certificate: Certificate | None = None
    losses: list[Any] = field(default_factory=list)  # readback.Loss: fields the target's version will drop


@dataclass
class Plan:
    """Every step in restore order, plus what the report and the converge step need."""

    steps: list[Step]
    tokens_to_reissue: list[dict[str, Any]] = field(default_factory=list)  # {project, role, ids}
    extra: list[str] = field(default_factory=list)  # "kind/name" live on the target, absent from the backup
    credentials: Any = field(default=None, repr=False)  # what apply merges secrets from
    target_version: str = ""  # the target's version (Client.version), which the steps' `losses` were predicted for

    @property
    def needs_credentials(self) -> list[str]:
        return [f"{s.kind}/{s.name}" for s in self.steps if s.needs_credentials]

    def by_kind(self, kind: str) -> list[Step]:
        return [s for s in self.steps if s.kind == kind]

    @property
    def rearm_apps(self) -> dict[str, dict[str, Any]]:
        """ "ns/name" -> the original spec, for each application written disarmed."""
        return {s.name: s.rearm["spec"] for s in self.by_kind("applications") if s.rearm}

    @property
    def rearm_appsets(self) -> dict[str, dict[str, Any]]:
        """ "ns/name" -> the original document, for each ApplicationSet written unable to delete."""
        return {s.name: s.rearm for s in self.by_kind("applicationsets") if s.rearm}


class NoCredentials:
    """Stands in for a credentials file when none was given."""

    def lookup(self, section: str, key: str) -> None:
        return None

    def for_repository(self, url: str) -> None:
        return None

    def for_repocreds(self, url: str) -> None:
        return None

    def for_cluster(self, server: str) -> None:
        return None

    def certificates(self) -> list[Certificate]:
        return []

    def merge_into(self, kind: str, identity: str, body: dict[str, Any]) -> dict[str, Any]:
        return copy.deepcopy(body)

    def unused(self) -> list[str]:
        return []


def changes(desired: Any, live: Any, path: str = "") -> list[str]:
    """Dotted paths where two views differ (lists compared whole)."""
    if isinstance(desired, dict) and isinstance(live, dict):
        out: list[str] = []
        for key in sorted(set(desired) | set(live), key=str):
            out += changes(desired.get(key), live.get(key), f"{path}.{key}" if path else str(key))
        return out
    return [] if desired == live else [path or "(whole object)"]


def view(kind: str, doc: dict[str, Any], live: dict[str, Any] | None = None) -> dict[str, Any]:
    """The part of a document the API lets a restore set and read back."""
    return KINDS[kind].view(doc, live)


def request_body(kind: str, doc: dict[str, Any]) -> dict[str, Any]:
    """The object as the API takes it, in its safe form (no `automated`, ApplicationSets unable to delete)."""
    row = KINDS[kind]
    body = row.body(doc)
    return row.safety(body) if row.safety else body


# planning ---------------------------------------------------------------------------------------------------


def plan(objects: Objects, live: Objects, credentials: Any, options: Any) -> Plan:
    """Compare every selected object with the target's live objects (normalised, by kind); pure."""
    credentials = credentials or NoCredentials()
    kinds = [k for k in RESTORE_ORDER if k in objects]
    current = {k: {KINDS[k].match(d): d for d in live.get(k, [])} for k in kinds}
    result = Plan(steps=[], extra=extras(current, objects), credentials=credentials)
    for kind in kinds:
        row = KINDS[kind]
        if row.data_from_credentials:
            result.steps += _from_credentials(row, objects.get(kind, []), current[kind], credentials)
            continue
        for doc in objects.get(kind, []):
            step = _step(row, doc, current[kind], objects, credentials, result)
            if kind not in options.kinds and step.action == "update":
                step.action, step.body = "skip", None
                step.reason = f"on the target already, and --kinds did not ask to update {kind} (differs: "
                step.reason += ", ".join(step.changes) + ")"
            result.steps.append(step)
    if getattr(options, "keep_tokens", False):
        _keep_tokens(result)
    return result


def _keep_tokens(result: Plan) -> None:
    """The target will verify the source's tokens (its signing key restored, --kube): projects keep their role tokens.

    Argo CD checks a project token's id in `status.jwtTokensByRole` as stored (v3.5.1 util/session/sessionmanager.go
    `Parse` -> `GetJWTToken`, from the lister), and project Create does not fill it (only Update and an API
    server restart run `NormalizeJWTTokens`): the body carries both lists, as NormalizeJWTTokens would leave them.
    """
    for step in result.by_kind("projects"):
        if step.body is None:
            continue
        roles = {r.get("name"): r for r in step.doc.get("spec", {}).get("roles", [])}
        by_role = {}
        for role in step.body.get("spec", {}).get("roles", []):
            tokens = [
                dict(t, id=t.get("id") or str(t.get("iat")))
                for t in roles.get(role.get("name"), {}).get("jwtTokens", [])
            ]
            if tokens:
                role["jwtTokens"] = tokens
                by_role[role["name"]] = {"items": tokens}
        if by_role:
            step.body["status"] = {"jwtTokensByRole": by_role}
    result.tokens_to_reissue.clear()


def _step(row: Kind, doc: dict[str, Any], live: dict[Any, Any], objects: Objects, creds: Any, plan: Plan) -> Step:
    name, owner = row.identity(doc), generated_by(doc)
    if owner:
        reason = f"generated by ApplicationSet {owner}: the ApplicationSet recreates it"
        return Step(row.name, name, "skip", doc, reason=reason)
    _record_tokens(doc, plan)
    current, original = live.get(row.match(doc)), row.body(doc)
    if row.immutable:
        return Step(row.name, name, "unchanged" if current is not None else "create", doc, body=original)
    body = row.safety(original) if row.safety else original
    step = Step(row.name, name, "create", doc, body=body, needs_credentials=row.needs_secrets(doc, objects, creds))
    safe = body != original and row.view(body) != row.view(original)  # the safety transform changed what it does
    if current is not None:
        desired, actual = row.view(doc, current), row.view(current)
        if desired == actual or (safe and row.view(body, current) == actual):
            step.action = "unchanged"
        else:
            step.action, step.changes = "update", changes(desired, actual)
        if desired == actual:
            safe = False  # already armed as in the backup
    if safe:
        step.rearm = original
        if row.name == "applicationsets" and patches.unreadable(original):
            step.reason = DISARM_GAP
    return step


def _record_tokens(doc: dict[str, Any], plan: Plan) -> None:
    """Project role tokens (`spec.roles[].jwtTokens`), which die with the old signing key: to re-issue."""
    for role in doc.get("spec", {}).get("roles", []):
        ids = [str(t.get("id") or t.get("iat")) for t in role.get("jwtTokens", [])]
        if ids:
            plan.tokens_to_reissue.append({"project": doc["metadata"]["name"], "role": role["name"], "ids": ids})


def _from_credentials(row: Kind, docs: list[dict[str, Any]], live: dict[Any, Any], creds: Any) -> list[Step]:
    """Certificates: data only from the credentials file; an identical live entry is unchanged without it."""
    steps, offered = [], list(creds.certificates())
    for doc in docs:
        name, current = row.identity(doc), live.get(row.match(doc))
        cert = _offered(offered, doc)
        if cert is not None:
            offered.remove(cert)
        if current is not None and current.get("certInfo") == doc.get("certInfo"):
            steps.append(Step(row.name, name, "unchanged", doc))
        elif cert is None:
            steps.append(Step(row.name, name, "skip", doc, reason=CERT_HINT))
        else:
            action = "update" if current is not None else "create"
            steps.append(Step(row.name, name, action, doc, changes=["certData"], certificate=cert))
    for cert in offered:  # in the credentials file only: restore it too
        doc = {"serverName": cert.server_name, "certType": cert.cert_type, "certSubType": cert.cert_sub_type}
        present = any(k[0] == cert.cert_type and k[1] == cert.server_name for k in live)
        steps.append(Step(row.name, row.identity(doc), "unchanged" if present else "create", doc, certificate=cert))
    return steps


def _offered(offered: list[Certificate], doc: dict[str, Any]) -> Certificate | None:
    for cert in offered:
        if cert.server_name != doc["serverName"] or cert.cert_type != doc["certType"]:
            continue
        if cert.cert_type == "https" or cert.cert_sub_type == doc.get("certSubType", ""):
            return cert
    return None


def extras(live: dict[str, dict[Any, dict[str, Any]]], objects: Objects) -> list[str]:
    """Objects live on the target but absent from the backup, as `kind/name` (informational)."""
    out = []
    for kind, current in live.items():
        row = KINDS[kind]
        wanted = {row.match(d) for d in objects.get(kind, [])}
        for key, doc in current.items():
            if key in wanted or (row.builtin is not None and row.builtin(doc)):
                continue
            out.append(f"{kind}/{row.identity(doc)}")
    return out
