"""Argo CD settings that change what a sync does: kept at export, compared with the target's before a restore writes.

The settings endpoint (Client.settings) holds no secrets (API-NOTES §2.11; `server/settings/settings.proto`
`Settings`); of its fields drkit keeps those a restore's syncs depend on, tracking method first: with another
method the first sync re-labels every live resource and leaves old ones unpruned (VERSIONS.md "Settings that
change what a sync does"). The API cannot write settings, so a difference is a warning naming the argocd-cm key to set.
"""

from __future__ import annotations

from typing import Any

from drkit.argocd.versions import Version
from drkit.errors import ApiError, AuthError, ConnectionFailed

# (settings field, argocd-cm key, what a difference does), in the order a restore reports them
SYNC_SETTINGS = (
    ("trackingMethod", "application.resourceTrackingMethod",
     "the first sync re-marks every live resource with the target's method and leaves old ones unpruned"),
    ("appLabelKey", "application.instanceLabelKey",
     "live resources carry the source's label key: the target does not see them as its apps' own"),
    ("resourceOverrides", "resource.customizations",
     "health checks, ignored differences and actions differ: apps may never become Healthy or Synced"),
    ("kustomizeOptions", "kustomize.buildOptions",
     "kustomize builds differently: apps render other manifests"),
    ("kustomizeVersions", "kustomize.version.<name>",
     "apps that name a kustomize version the target lacks fail to render"),
    ("impersonationEnabled", "application.sync.impersonation.enabled",
     "syncs run as another service account"),
    ("appsInAnyNamespaceEnabled", "application.namespaces (argocd-cmd-params-cm)",
     "applications outside the control-plane namespace are refused"),
    ("hydratorEnabled", "hydrator.enabled (argocd-cmd-params-cm)",
     "apps with a sourceHydrator are not hydrated"),
    ("syncWithReplaceAllowed", "server.sync.replace.allowed (argocd-cmd-params-cm)",
     "syncs with the Replace option are refused"),
)  # fmt: skip
KEPT = tuple(name for name, _, _ in SYNC_SETTINGS)
# The first release whose settings answer has the field (server/settings/settings.proto at v2.12.0, v2.13.0,
# v2.14.0, v3.2.0 and v3.3.0): before it, an absent field says nothing of what the instance does.
REPORTED_SINCE = {
    "impersonationEnabled": (2, 13, 0),
    "hydratorEnabled": (2, 14, 0),
    "syncWithReplaceAllowed": (3, 3, 0),
}
ANNOTATION_DEFAULT = (3, 0, 0)  # `util/argo/resource_tracking.go`: label before v3.0.0, annotation after
EMPTY = (None, "", False, [], {})


def read(client: Any) -> tuple[dict[str, Any] | None, list[str]]:
    """The target's kept settings, or None and a warning when it does not answer (a backup does not need them)."""
    try:
        return capture(client.settings()), []
    except (AuthError, ConnectionFailed):
        raise  # nothing else will work either
    except ApiError as err:
        warning = f"settings: not stored, the settings endpoint did not answer ({err}); restores cannot compare them"
        return None, [warning]


def capture(settings: dict[str, Any]) -> dict[str, Any]:
    """The fields of a settings answer that change what a sync does, empty ones left out as Go does."""
    return {name: settings[name] for name in KEPT if settings.get(name) not in EMPTY}


def tracking_method(settings: dict[str, Any], version: Version | None) -> str | None:
    """The method the controller applies: the configured one, else the version's default; None when unknowable."""
    configured = settings.get("trackingMethod")
    if configured:
        return str(configured)
    if version is None:
        return None
    return "annotation" if version >= ANNOTATION_DEFAULT else "label"


def differences(
    source: dict[str, Any], source_version: Version | None, target: dict[str, Any], target_version: Version | None
) -> list[str]:
    """One warning per kept setting where the target differs from the backup's source, tracking method first."""
    out = []
    for name, key, effect in SYNC_SETTINGS:
        since = REPORTED_SINCE.get(name)
        if since and any(v is not None and v < since for v in (source_version, target_version)):
            continue  # one side's release does not report it: no comparison to make
        if name == "trackingMethod":
            was, now = tracking_method(source, source_version), tracking_method(target, target_version)
            if was is None or now is None:
                continue
        else:
            was, now = source.get(name), capture(target).get(name)
        if was != now:
            out.append(
                f"settings: {name} is {_show(now)} on the target but was {_show(was)} on the backup's source: "
                f"{effect}. Set `{key}` on the target as on the source before syncing, or accept it"
            )
    return out


def _show(value: Any) -> str:
    if value in EMPTY:
        return "unset"
    if isinstance(value, dict):
        return f"{len(value)} entr{'y' if len(value) == 1 else 'ies'} ({', '.join(sorted(value)[:3])})"
    return repr(value) if isinstance(value, str) else str(value)
