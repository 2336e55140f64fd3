"""Project sync windows (API-NOTES §2.2 step 2, §6.25).

Source: `pkg/apis/application/v1alpha1/app_project_types.go` `SyncWindows.Matches`, `active`, `inactiveAllows`,
`CanSync` (deny wins, an active allow permits, inactive allows block, `manualSync` lets manual syncs through);
`server/application/application.go` `Sync` calls `CanSync(true)`; the controller's auto-sync calls `CanSync(false)`;
cron is `robfig/cron/v3` with 5 fields, where dom and dow are ORed unless one of them is `*`.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from drkit.testing import controller
from drkit.testing.syncwindows import Cron, can_sync, is_active, matches, parse_duration

WED = datetime(2026, 3, 4, 10, 30, tzinfo=timezone.utc)  # a Wednesday, 10:30 UTC
BLOCKED = "cannot sync: blocked by sync window"


def window(kind: str, schedule: str, duration: str = "1h", **more):
    return {"kind": kind, "schedule": schedule, "duration": duration, "applications": ["*"], **more}


@pytest.mark.parametrize(
    ("schedule", "duration", "active"),
    [
        ("0 10 * * *", "1h", True),
        ("0 11 * * *", "1h", False),
        ("0 9 * * *", "1h", False),  # ended at 10:00
        ("0 9 * * *", "1h30m1s", True),
        ("30 10 * * *", "1h", False),  # starts exactly now: Next(now-d) is not Before(now)
        ("0 10 * * 1-5", "1h", True),
        ("0 10 * * sat,sun", "1h", False),
        ("0 10 1 * 0", "1h", False),  # dom 1 OR Sunday: neither
        ("0 10 4 * 0", "1h", True),  # dom 4 OR Sunday: the 4th
        ("0 */4 * * *", "3h", True),  # fired 08:00
        ("0 */4 * * *", "2h", False),
        ("0 10 * mar *", "1h", True),
        ("0 10 * 4-12 *", "24h", False),
    ],
)
def test_cron_activity(schedule, duration, active):
    assert is_active({"schedule": schedule, "duration": duration}, WED) is active


def test_time_zone_shifts_the_schedule():
    """`scheduleOffsetByTimeZone`: the cron runs on the zone's wall clock; an unknown zone is UTC."""
    assert is_active({"schedule": "0 5 * * *", "duration": "1h", "timeZone": "America/New_York"}, WED)
    assert not is_active({"schedule": "0 5 * * *", "duration": "1h"}, WED)
    assert not is_active({"schedule": "0 5 * * *", "duration": "1h", "timeZone": "Mars/Olympus"}, WED)


def test_parsing():
    assert parse_duration("1h30m") == parse_duration("1.5h") == timedelta(minutes=90)
    for bad in ("1d", "h", "", "10"):
        with pytest.raises(ValueError):
            parse_duration(bad)
    for bad in ("* * * *", "60 * * * *", "* * * * 7", "*/0 * * * *", "@daily"):
        with pytest.raises(ValueError):
            Cron(bad)
    assert is_active({"schedule": "nonsense", "duration": "1h"}, WED) is None


def test_can_sync_rules():
    on_allow, off_allow = window("allow", "0 10 * * *"), window("allow", "0 20 * * *")
    on_deny = window("deny", "0 10 * * *")
    assert can_sync([], manual=False, now=WED)
    assert not can_sync([off_allow], manual=False, now=WED)
    assert not can_sync([off_allow], manual=True, now=WED)
    assert can_sync([dict(off_allow, manualSync=True)], manual=True, now=WED)
    assert not can_sync([dict(off_allow, manualSync=True)], manual=False, now=WED)
    assert can_sync([on_allow, off_allow], manual=False, now=WED)
    assert not can_sync([on_allow, on_deny], manual=True, now=WED)
    assert can_sync([dict(on_deny, manualSync=True)], manual=True, now=WED)
    assert not can_sync([dict(on_deny, manualSync=True), on_deny], manual=True, now=WED)
    assert can_sync([window("deny", "0 20 * * *")], manual=False, now=WED)


def test_matching_by_targets():
    """Any listed target matches; with `andOperator` every listed kind must."""
    w = {"applications": ["web-*"], "namespaces": ["prod"], "clusters": ["in-cluster"]}
    assert matches(w, "web-1", "", "", "dev")
    assert matches(w, "api", "", "", "prod")
    assert matches(w, "api", "https://kubernetes.default.svc", "in-cluster", "dev")
    assert not matches(w, "api", "https://kubernetes.default.svc", "", "dev")
    both = dict(w, andOperator=True)
    assert not matches(both, "web-1", "", "in-cluster", "dev")
    assert matches(both, "web-1", "", "in-cluster", "prod")
    assert not matches({}, "web-1", "", "", "prod")


def _later_hour() -> str:
    return f"0 {(datetime.now(timezone.utc).hour + 12) % 24} * * *"


def test_sync_endpoint_applies_windows(papi, paused, make_app):
    """A closed allow window blocks the API sync (403) unless it has manualSync; a deny for other apps does not."""
    papi.post("/api/v1/applications", make_app("web"))
    spec = paused.projects["default"]["spec"]
    spec["syncWindows"] = [window("allow", _later_hour(), namespaces=["default"])]
    r = papi.post("/api/v1/applications/web/sync", {})
    assert r.status_code == 403 and r.json()["message"] == BLOCKED
    spec["syncWindows"] = [window("allow", _later_hour(), manualSync=True)]
    assert papi.post("/api/v1/applications/web/sync", {}).status_code == 200
    spec["syncWindows"] = [dict(window("deny", "* * * * *"), applications=["other-*"])]
    r = papi.post("/api/v1/applications/web/sync", {})
    assert r.json()["message"] == "another operation is already in progress"  # past the window check


def test_auto_sync_waits_for_the_window(papi, paused, make_app):
    """The controller's auto-sync is not manual, so `manualSync` does not open the window for it."""
    paused.projects["default"]["spec"]["syncWindows"] = [window("allow", _later_hour(), manualSync=True)]
    papi.post("/api/v1/applications", make_app("auto", syncPolicy={"automated": {}}))
    controller.tick(paused)
    assert "operation" not in papi.get("/api/v1/applications/auto").json()
    paused.projects["default"]["spec"]["syncWindows"] = []
    paused.wake("app", (paused.namespace, "auto"))
    controller.tick(paused)
    app = papi.get("/api/v1/applications/auto").json()
    assert "operation" in app or "operationState" in app.get("status", {})


def test_drkit_sim_now_pins_the_window_clock(monkeypatch: pytest.MonkeyPatch) -> None:
    """The demo's deny window at 22:00 UTC decides by the pinned time, not the hour the tests run at."""
    deny = [{"kind": "deny", "schedule": "0 22 * * *", "duration": "1h", "namespaces": ["billing"]}]
    monkeypatch.setenv("DRKIT_SIM_NOW", "2026-01-07T22:30:00Z")
    assert can_sync(deny, manual=True) is False
    monkeypatch.setenv("DRKIT_SIM_NOW", "2026-01-07T12:00:00Z")
    assert can_sync(deny, manual=True) is True
