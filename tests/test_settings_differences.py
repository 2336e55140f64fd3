"""The settings a sync depends on, compared between the backup's source and the target (drkit.argocd.settings)."""

from __future__ import annotations

from drkit.argocd.settings import differences

SOURCE = {"syncWithReplaceAllowed": True, "hydratorEnabled": True, "appLabelKey": "app.kubernetes.io/instance"}


def test_a_setting_the_target_reports_differently_is_named() -> None:
    found = differences(SOURCE, (3, 6, 0), {"appLabelKey": "app.kubernetes.io/instance"}, (3, 5, 1))
    assert any(w.startswith("settings: syncWithReplaceAllowed is unset on the target") for w in found)
    assert any("server.sync.replace.allowed" in w for w in found)


def test_a_field_the_targets_release_does_not_report_is_not_a_difference() -> None:
    """syncWithReplaceAllowed is in the settings answer from v3.3.0 (server/settings/settings.proto), hydratorEnabled
    from v2.14.0: on a 2.13 target their absence says nothing, so drkit does not ask to set keys it cannot see."""
    found = differences(SOURCE, (3, 6, 0), {"appLabelKey": "app.kubernetes.io/instance"}, (2, 13, 5))
    assert not any("syncWithReplaceAllowed" in w or "hydratorEnabled" in w for w in found)
    assert differences(SOURCE, (3, 6, 0), {"appLabelKey": "other"}, (2, 13, 5))  # a field both report still counts
