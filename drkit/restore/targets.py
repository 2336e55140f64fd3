"""What converge is handed: the applications a restore wrote, with their waves and app-of-apps parents, and
what stays disarmed when a run ends before re-arming it."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from drkit.argocd.kinds import generated_by
from drkit.argocd.shapes import disarmed
from drkit.restore.pipeline import WRITTEN
from drkit.restore.plan import Plan
from drkit.restore.report import Outcome

Objects = dict[str, list[dict[str, Any]]]
SYNC_WAVE = "argocd.argoproj.io/sync-wave"
INSTANCE_LABEL = "app.kubernetes.io/instance"
TRACKING_ID = "argocd.argoproj.io/tracking-id"


@dataclass
class AppTarget:
    """An application for the converge step: refresh, sync in waves, wait, re-arm."""

    namespace: str
    name: str
    wave: int = 0
    parents: list[str] = field(default_factory=list)
    rearm_spec: dict[str, Any] | None = None
    generated: bool = False  # by an ApplicationSet: converge waits for the set to recreate it
    project: str = ""  # the app's project, which converge asks with while awaiting a generated app
    written: Callable[[], bool] | None = None  # blocks until drkit's write of it is over; True if restored (pipeline)
    created: bool = False  # by this restore: converge takes its first reconciliation for the refresh
    appset: str = ""  # "ns/name" of the ApplicationSet that generates it (when `generated`)


def app_targets(the_plan: Plan, outcomes: list[Outcome], backup_objects: Objects) -> list[AppTarget]:
    """Converge input: every application created, updated or unchanged, with its wave and app-of-apps parents.

    Applications an ApplicationSet generates are not written, but are converged too once their set is restored:
    they must end Synced and Healthy like the others.
    """
    names = {a["metadata"]["name"] for a in backup_objects.get("applications", [])}
    restored = {o.name for o in outcomes if o.kind == "applications" and o.action in WRITTEN}
    appsets = {o.name for o in outcomes if o.kind == "applicationsets" and o.action in WRITTEN}
    targets = []
    for step in the_plan.by_kind("applications"):
        meta = step.doc["metadata"]
        owner = generated_by(step.doc)
        generated = owner is not None and f"{meta.get('namespace', '')}/{owner}" in appsets
        if step.name not in restored and not generated:
            continue
        wave = _int(meta.get("annotations", {}).get(SYNC_WAVE, "0"))
        parents = sorted(p for p in _parents(meta, names) if p != meta["name"])
        rearm = step.rearm["spec"] if step.rearm else None
        if generated and disarmed(step.doc) != step.doc:
            rearm = step.doc["spec"]  # its set is restored with a disarmed template: put back what it generated
        project = step.doc.get("spec", {}).get("project") or "default"
        namespace, created = meta.get("namespace", ""), step.action == "create"
        target = AppTarget(namespace, meta["name"], wave, parents, rearm, generated, project, created=created)
        target.appset = f"{namespace}/{owner}" if generated else ""
        targets.append(target)
    return targets


def _int(text: str) -> int:
    try:
        return int(str(text).strip())
    except ValueError:
        return 0


def _parents(meta: dict[str, Any], names: set[str]) -> set[str]:
    """Apps named by the tracking label or the tracking-id annotation (`<app>:<group>/<kind>:<ns>/<name>`)."""
    candidates = {meta.get("labels", {}).get(INSTANCE_LABEL, "")}
    tracking = meta.get("annotations", {}).get(TRACKING_ID, "")
    if tracking:
        app = tracking.split(":", 1)[0]
        candidates |= {app, app.split("_", 1)[-1]}  # apps in other namespaces are tracked as `<ns>_<name>`
    return {c for c in candidates if c and c in names}


def appsets_to_rearm(the_plan: Plan, outcomes: list[Outcome]) -> list[dict[str, Any]]:
    """The ApplicationSets written unable to delete, whose original documents converge re-applies at the end."""
    done = {o.name for o in outcomes if o.kind == "applicationsets" and o.action not in ("fail", "skip")}
    return [doc for name, doc in the_plan.rearm_appsets.items() if name in done]


def still_disarmed(targets: list[AppTarget], appsets: list[dict[str, Any]], converged: list[Any]) -> list[str]:
    """What this run wrote disarmed and did not re-arm, as `application ns/name` or `ApplicationSet ns/name`.

    A generated app its set had not created (`awaited`) is armed by the set itself once the set is re-applied;
    while the set stays tightened (the run stopped, or its re-apply failed), the set creates it disarmed.
    """
    rearmed = {(r.kind, r.namespace, r.name) for r in converged if r.rearmed}
    sets = {f"{r.namespace}/{r.name}" for r in converged if r.kind == "applicationsets" and r.rearmed}
    rearmed |= {
        ("applications", t.namespace, t.name)
        for t, r in _results(targets, converged)
        if r.outcome == "awaited" and getattr(t, "appset", "") in sets
    }
    out = [
        f"application {t.namespace}/{t.name}"
        for t in targets
        if t.rearm_spec is not None and ("applications", t.namespace, t.name) not in rearmed
    ]
    for doc in appsets:
        meta = doc.get("metadata", {})
        if ("applicationsets", meta.get("namespace", ""), meta.get("name", "")) not in rearmed:
            out.append(f"ApplicationSet {meta.get('namespace', '')}/{meta.get('name', '')}")
    return out


def _results(targets: list[AppTarget], converged: list[Any]) -> list[tuple[AppTarget, Any]]:
    """Each target with converge's result for it (targets converge never reached have none)."""
    by_key = {(r.namespace, r.name): r for r in converged if r.kind == "applications"}
    return [(t, by_key[(t.namespace, t.name)]) for t in targets if (t.namespace, t.name) in by_key]
