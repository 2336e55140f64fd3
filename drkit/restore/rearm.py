"""Re-arming what a restore wrote disarmed, and what converge reports per app and ApplicationSet.

Re-arm puts back the backup's own objects: an app's spec and an ApplicationSet whole, as a target at the version
it runs can hold them (a paused app stays paused: `shapes.kept_paused`).
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from drkit.argocd.shapes import kept_paused
from drkit.argocd.versions import Version
from drkit.errors import ApiError, Stop, ends_run
from drkit.restore import readback
from drkit.restore.appstate import join

REARM_METADATA = ("name", "namespace", "labels", "annotations", "finalizers")
SERVER_METADATA = ("uid", "resourceVersion", "generation", "creationTimestamp", "managedFields", "selfLink")


@dataclass
class AppResult:
    """Where one app (or re-applied ApplicationSet) ended up.

    `outcome` is `healthy`, `failed`, `timeout`, `sent` (sync requested, not waited for), `refreshed` (no sync
    asked for), `awaited` (its ApplicationSet has yet to create it, not waited for), `stopped` (the run stopped:
    not started, or its wait cut short) for apps, and `rearmed` or `failed` for ApplicationSets.
    """

    name: str
    namespace: str
    sync: str = "Unknown"
    health: str = "Unknown"
    phase: str = ""
    message: str = ""
    rearmed: bool = False
    rearmed_healthy: bool = False
    outcome: str = ""
    rearm_error: str = ""
    kind: str = "applications"
    dropped: list[Any] = field(default_factory=list)  # readback.Loss: what the target did not keep of the re-arm

    @property
    def ok(self) -> bool:
        """Nothing to report: healthy, or sent/refreshed as asked, and re-armed when that was asked."""
        return self.outcome in ("healthy", "sent", "refreshed", "awaited", "rearmed") and not self.rearm_error

    def as_json(self) -> dict[str, Any]:
        """CONTRACT.md's `{name, sync, health, phase}` plus the details, as plain data."""
        return asdict(self) | {"dropped": [loss.to_json() for loss in self.dropped]}


def rearm_appsets(
    client: Any, appsets: Sequence[dict[str, Any]], version: Version | None, stop: Stop, allow_loss: bool = False
) -> list[AppResult]:
    """Re-apply original ApplicationSets with `POST ?upsert=true` (an equal one is left as it is), read back."""
    results = []
    for doc in appsets:
        body, note = kept_paused("applicationsets", copy.deepcopy(doc), version)
        body.pop("status", None)
        meta = body.setdefault("metadata", {})
        for name in SERVER_METADATA:
            meta.pop(name, None)
        result = AppResult(meta.get("name", ""), meta.get("namespace", ""), "", "", "", note, kind="applicationsets")
        try:
            if stop:
                raise ApiError(f"not re-applied: the restore stopped ({stop.reason})")
            answer = client.write("applicationsets", body)
            result.rearmed, result.outcome = True, "rearmed"
            read_back(client, result, body, answer, version, allow_loss)
        except ApiError as err:
            if ends_run(err):
                stop.on_error(err)
            result.outcome = "failed"
            result.rearm_error = result.message = (
                f"re-applying the ApplicationSet failed: {err}; re-apply it from the backup by hand"
            )
        results.append(result)
    return results


def read_back(
    client: Any, result: AppResult, body: dict[str, Any], answer: Any, version: Version | None, allow_loss: bool
) -> None:
    """Read a re-arm back as the first write is read back: what the target dropped goes in `result`, and a dropped
    field that bears policy (the target does not act as the backup says) is a re-arm error, unless allowed."""
    name = f"{result.namespace}/{result.name}"
    lost = readback.read_back_rearm(client, result.kind, name, body, answer, version)
    if not lost:
        return
    where = f"Argo CD v{'.'.join(map(str, version))}" if version else "this Argo CD (version unknown)"
    said = f"re-armed, but {where} did not keep {', '.join(map(str, lost))}"
    result.dropped, result.message = lost, join(result.message, said)
    if any(loss.policy for loss in lost) and not allow_loss:
        result.rearm_error = (
            f"{said}, so it does not act as the backup says; restore onto an Argo CD that keeps them, or set them "
            "by hand (--allow-field-loss accepts the loss)"
        )


def target_release(client: Any) -> Version | None:
    """The target's Argo CD version (the version endpoint answers without auth), or None when it does not say."""
    try:
        return client.release()
    except ApiError:
        return None
