"""Project sync windows as Argo CD evaluates them: a 5-field cron, a Go duration, a time zone, allow/deny rules.

Source: `pkg/apis/application/v1alpha1/app_project_types.go` `SyncWindows.Matches`, `active`, `inactiveAllows`,
`CanSync`, `scheduleOffsetByTimeZone`; cron semantics of `robfig/cron/v3` `SpecSchedule.Next` with the parser
`Minute | Hour | Dom | Month | Dow` (no seconds, no `@` descriptors).
"""

from __future__ import annotations

import fnmatch
import os
import re
from datetime import datetime, timedelta, timezone
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

MONTHS = {
    m: i for i, m in enumerate(["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"], 1)
}
DAYS = {d: i for i, d in enumerate(["sun", "mon", "tue", "wed", "thu", "fri", "sat"])}
# (low, high, names) per field: minute, hour, day of month, month, day of week (robfig bounds)
FIELDS = ((0, 59, {}), (0, 23, {}), (1, 31, {}), (1, 12, MONTHS), (0, 6, DAYS))
UNITS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "μs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}
DURATION = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|μs|ms|s|m|h)")


class Cron:
    """A parsed 5-field schedule; `star_day` says whether dom or dow was `*`/`?` (robfig's starBit)."""

    def __init__(self, spec: str) -> None:
        parts = spec.split()
        if len(parts) != 5:
            raise ValueError(f"expected exactly 5 fields, found {len(parts)}: {spec}")
        self.sets: list[set[int]] = []
        stars: list[bool] = []
        for text, (low, high, names) in zip(parts, FIELDS, strict=True):
            values, star = _field(text, low, high, names)
            self.sets.append(values)
            stars.append(star)
        self.star_day = stars[2] or stars[4]

    def day_matches(self, t: datetime) -> bool:
        dom = t.day in self.sets[2]
        dow = (t.isoweekday() % 7) in self.sets[4]
        return (dom and dow) if self.star_day else (dom or dow)

    def fires_between(self, start: datetime, end: datetime) -> bool:
        """Is there a firing minute f with start < f < end (robfig `Next(start).Before(end)`)?"""
        t = start.replace(second=0, microsecond=0) + timedelta(minutes=1)
        while t < end:
            if t.month not in self.sets[3]:
                t = (t.replace(day=1, hour=0, minute=0) + timedelta(days=32)).replace(day=1)
            elif not self.day_matches(t):
                t = t.replace(hour=0, minute=0) + timedelta(days=1)
            elif t.hour not in self.sets[1]:
                t = t.replace(minute=0) + timedelta(hours=1)
            elif t.minute not in self.sets[0]:
                t += timedelta(minutes=1)
            else:
                return True
        return False


def _field(text: str, low: int, high: int, names: dict[str, int]) -> tuple[set[int], bool]:
    values: set[int] = set()
    star = False
    for part in text.split(","):
        span, _, step_text = part.partition("/")
        step = int(step_text) if step_text else 1
        if step < 1:
            raise ValueError(f"step of range should be a positive number: {part}")
        if span in ("*", "?"):
            start, end, star = low, high, star or step == 1
        else:
            first, dash, last = span.partition("-")
            start = _number(first, names)
            end = _number(last, names) if dash else (high if step_text else start)
        if start < low or end > high or start > end:
            raise ValueError(f"value out of range ({low} to {high}): {part}")
        values.update(range(start, end + 1, step))
    return values, star


def _number(text: str, names: dict[str, int]) -> int:
    if text.lower() in names:
        return names[text.lower()]
    if not text.isdigit():
        raise ValueError(f"failed to parse int from {text}")
    return int(text)


def parse_duration(text: str) -> timedelta:
    """Go `time.ParseDuration`: "1h30m", "90s", "1.5h", "0"; raises ValueError otherwise."""
    sign, body = (-1, text[1:]) if text.startswith("-") else (1, text.lstrip("+"))
    if body == "0":
        return timedelta(0)
    if not body or DURATION.sub("", body):
        raise ValueError(f'time: invalid duration "{text}"')
    seconds = sum(float(n) * UNITS[u] for n, u in DURATION.findall(body))
    return timedelta(seconds=sign * seconds)


def _offset(window: dict[str, Any], now: datetime) -> timedelta:
    """The window time zone's current UTC offset; an unknown zone is UTC (`scheduleOffsetByTimeZone`)."""
    try:
        zone = ZoneInfo(window.get("timeZone") or "UTC")
    except (ZoneInfoNotFoundError, ValueError):
        return timedelta(0)
    return now.astimezone(zone).utcoffset() or timedelta(0)


def is_active(window: dict[str, Any], now: datetime) -> bool | None:
    """Active at `now` (aware UTC), or None when the schedule or duration does not parse."""
    try:
        cron, duration = Cron(window.get("schedule", "")), parse_duration(window.get("duration", ""))
    except ValueError:
        return None
    local = now.astimezone(timezone.utc).replace(tzinfo=None) + _offset(window, now)
    return cron.fires_between(local - duration, local)


def _glob(pattern: str, value: str) -> bool:
    return pattern == "*" or fnmatch.fnmatchcase(value, pattern)


def matches(window: dict[str, Any], name: str, server: str, cluster: str, namespace: str) -> bool:
    """Does the window cover this app? Any listed target matching, or all of them with `andOperator`.

    Clusters match the destination's `name` or `server` as written in the spec, each only when set.
    """
    checks = []
    if window.get("applications"):
        checks.append(any(_glob(p, name) for p in window["applications"]))
    if window.get("clusters"):
        hits = (bool(cluster) and _glob(p, cluster) or bool(server) and _glob(p, server) for p in window["clusters"])
        checks.append(any(hits))
    if window.get("namespaces"):
        checks.append(any(_glob(p, namespace) for p in window["namespaces"]))
    return bool(checks) and (all(checks) if window.get("andOperator") else any(checks))


def current() -> datetime:
    """Now, as sync windows see it. DRKIT_SIM_NOW (`2026-01-07T12:00:00Z`) pins it: the demo's windows open and
    close by the hour, so a test run (or a drill) must not pass or fail by the time of day it runs at."""
    pinned = os.environ.get("DRKIT_SIM_NOW")
    if pinned:
        return datetime.strptime(pinned, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=timezone.utc)
    return datetime.now(timezone.utc)


def can_sync(windows: list[dict[str, Any]], manual: bool, now: datetime | None = None) -> bool:
    """`SyncWindows.CanSync`: an active deny wins; else an active allow permits; else inactive allows block.

    `manualSync` lets a manual sync through only if every blocking window of that kind has it set.
    """
    if not windows:
        return True
    now = now or current()
    state = [(w, is_active(w, now)) for w in windows]
    denies = [w for w, on in state if on and w.get("kind") == "deny"]
    if denies:
        return manual and all(w.get("manualSync") for w in denies)
    if any(on and w.get("kind") == "allow" for w, on in state):
        return True
    inactive = [w for w, on in state if on is False and w.get("kind") == "allow"]
    if inactive:
        return manual and all(w.get("manualSync") for w in inactive)
    return True


def blocks(project_spec: dict[str, Any], app: dict[str, Any], manual: bool = True) -> bool:
    """The project's sync windows covering this app forbid a (manual or automated) sync now (API-NOTES §2.2 step 2)."""
    dest = app["spec"].get("destination", {})
    covering = [
        w
        for w in project_spec.get("syncWindows", [])
        if matches(w, app["metadata"]["name"], dest.get("server", ""), dest.get("name", ""), dest.get("namespace", ""))
    ]
    return not can_sync(covering, manual)
