"""Prometheus metrics of one drkit run, from its result: a textfile for node-exporter, or a Pushgateway push.

Every sample carries `argocd_instance` and `command`. A failed run keeps the previous
`drkit_last_success_timestamp_seconds`: the textfile carries it over from the file it replaces, and the push
is a pushadd (POST), which replaces only the metrics it sends. So "no success in 26 hours" stays true to the
last success, not to the last attempt.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from prometheus_client import CollectorRegistry, Gauge, pushadd_to_gateway, write_to_textfile
from prometheus_client.parser import text_string_to_metric_families

from drkit.errors import EXIT_FAILED, EXIT_OK, ConfigError, DrkitError

LAST_SUCCESS = "drkit_last_success_timestamp_seconds"
PUSH_JOB = "drkit"
PUSH_TIMEOUT = 10.0  # seconds a Pushgateway push may take: part of what a stopped run needs of its grace period

# name -> (help, labels besides argocd_instance and command)
METRICS: dict[str, tuple[str, tuple[str, ...]]] = {
    "drkit_last_run_timestamp_seconds": ("When the command last finished, success or not.", ()),
    LAST_SUCCESS: ("When the command last finished with exit code 0.", ()),
    "drkit_duration_seconds": ("How long the command ran.", ()),
    "drkit_exit_code": ("The command's exit code (0 success, 1 failed, 2 configuration, 3 needs attention).", ()),
    "drkit_warnings": ("Warnings the command reported.", ()),
    "drkit_backup_objects": ("Objects per kind in the backup written or restored.", ("kind",)),
    "drkit_backup_bytes": ("Bytes per kind in the backup written or restored.", ("kind",)),
    "drkit_backup_suspicious": ("1 when the backup was flagged at export (it shrank, or a kind was unread).", ()),
    "drkit_restore_objects": ("Objects per restore action (create, update, unchanged, skip, fail).", ("action",)),
    "drkit_restore_apps": ("Applications that ended healthy or failed after the restore's sync.", ("state",)),
    "drkit_recovery_seconds": ("Recovery time per phase (load, apply, converge) and in total.", ("phase",)),
    "drkit_drill_objects": ("Drill objects restored, read back identical, failed.", ("result",)),
    "drkit_drill_identical_ratio": ("Share of the backup's restorable objects read back identical (0..1).", ()),
    "drkit_prune_backups": ("Backups kept and deleted by prune.", ("result",)),
}


@dataclass
class Run:
    """The samples of one command run; `record_*` functions fill it from the command's result."""

    command: str
    instance: str
    started: float = field(default_factory=time.time)
    samples: list[tuple[str, dict[str, str], float]] = field(default_factory=list)

    def set(self, name: str, value: float, **labels: str) -> None:
        if name not in METRICS:
            raise KeyError(f"{name} is not a drkit metric")
        self.samples.append((name, labels, float(value)))

    def finish(self, exit_code: int, now: float | None = None) -> CollectorRegistry:
        """The registry to publish: the recorded samples plus timestamps, duration and exit code."""
        now = time.time() if now is None else now
        self.set("drkit_last_run_timestamp_seconds", now)
        self.set("drkit_duration_seconds", now - self.started)
        self.set("drkit_exit_code", exit_code)
        if exit_code == EXIT_OK:
            self.set(LAST_SUCCESS, now)
        registry = CollectorRegistry()
        gauges: dict[str, Gauge] = {}
        base = {"argocd_instance": self.instance, "command": self.command}
        for name, labels, value in self.samples:
            if name not in gauges:
                help_text, extra = METRICS[name]
                gauges[name] = Gauge(name, help_text, ("argocd_instance", "command", *extra), registry=registry)
            gauges[name].labels(**base, **labels).set(value)
        return registry


def write_textfile(path: str, run: Run, registry: CollectorRegistry) -> None:
    """Write atomically (a temporary file renamed over `path`), keeping the last success of a failed run."""
    if not any(name == LAST_SUCCESS for name, _, _ in run.samples):
        previous = _previous_success(path, run)
        if previous is not None:
            Gauge(LAST_SUCCESS, METRICS[LAST_SUCCESS][0], ("argocd_instance", "command"), registry=registry).labels(
                argocd_instance=run.instance, command=run.command
            ).set(previous)
    try:
        write_to_textfile(path, registry)
    except OSError as err:
        raise ConfigError(f"cannot write --metrics-textfile {path}: {err.strerror}") from None


def _previous_success(path: str, run: Run) -> float | None:
    try:
        with open(path, encoding="utf-8") as fh:
            text = fh.read()
    except OSError:
        return None
    try:
        families = list(text_string_to_metric_families(text))
    except ValueError:
        return None
    wanted = {"argocd_instance": run.instance, "command": run.command}
    for family in families:
        for sample in family.samples:
            if sample.name == LAST_SUCCESS and sample.labels == wanted:
                return sample.value
    return None


def push(url: str, run: Run, registry: CollectorRegistry, timeout: float = PUSH_TIMEOUT) -> None:
    """POST to the Pushgateway, grouped by instance and command, so runs of other instances stay apart."""
    grouping = {"instance": run.instance, "command": run.command}
    try:
        pushadd_to_gateway(url, job=PUSH_JOB, registry=registry, grouping_key=grouping, timeout=timeout)
    except OSError as err:  # urllib's URLError and HTTPError are OSErrors
        raise ConfigError(f"cannot push metrics to --pushgateway {url}: {err}") from None


def parse(text: str) -> dict[str, list[tuple[dict[str, str], float]]]:
    """Samples by metric name, as Prometheus would read the text (for tests and checks)."""
    out: dict[str, list[tuple[dict[str, str], float]]] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            out.setdefault(sample.name, []).append((sample.labels, sample.value))
    return out


# from results ---------------------------------------------------------------------------------------------


def record_manifest(run: Run, manifest: dict[str, Any]) -> None:
    """Objects and bytes per kind, and the suspicious flag, of a backup."""
    sizes: dict[str, int] = {kind: 0 for kind in manifest.get("counts", {})}
    for entry in manifest.get("objects", []):
        sizes[entry["kind"]] = sizes.get(entry["kind"], 0) + entry["size"]
    for kind, count in manifest.get("counts", {}).items():
        run.set("drkit_backup_objects", count, kind=kind)
        run.set("drkit_backup_bytes", sizes.get(kind, 0), kind=kind)
    run.set("drkit_backup_suspicious", 1 if manifest.get("suspicious") else 0)
    run.set("drkit_warnings", len(manifest.get("warnings", [])))


def record_restore(run: Run, report: Any, manifest: dict[str, Any], actions: tuple[str, ...]) -> None:
    """A restore: the backup, objects per action, applications healthy or failed, and the time it took."""
    record_manifest(run, manifest)
    _restore_counts(run, report, actions)
    run.set("drkit_recovery_seconds", time.time() - run.started, phase="total")


def record_drill(run: Run, result: Any, actions: tuple[str, ...]) -> None:
    """A drill: what a restore reports, recovery time per phase, and what read back identical."""
    record_manifest(run, result.manifest)
    if result.report is not None:
        _restore_counts(run, result.report, actions)
    for phase, seconds in result.phases.items():
        run.set("drkit_recovery_seconds", seconds, phase=phase)
    run.set("drkit_recovery_seconds", result.recovery_seconds, phase="total")
    for name, count in result.counts.items():
        run.set("drkit_drill_objects", count, result=name)
    run.set("drkit_drill_identical_ratio", result.identical_ratio)


def _restore_counts(run: Run, report: Any, actions: tuple[str, ...]) -> None:
    for action in actions:
        run.set("drkit_restore_objects", sum(1 for o in report.objects if o.action == action), action=action)
    apps = [r for r in report.converged if getattr(r, "kind", "applications") == "applications"]
    run.set("drkit_restore_apps", sum(1 for r in apps if r.ok), state="healthy")
    run.set("drkit_restore_apps", sum(1 for r in apps if not r.ok), state="failed")


def record_prune(run: Run, result: Any) -> None:
    run.set("drkit_prune_backups", len(result.kept), result="kept")
    run.set("drkit_prune_backups", len(result.deleted), result="deleted")


def publish(run: Run, exit_code: int, textfile: str | None, pushgateway: str | None) -> None:
    registry = run.finish(exit_code)
    if textfile:
        write_textfile(os.fspath(textfile), run, registry)
    if pushgateway:
        push(pushgateway, run, registry)


@contextlib.contextmanager
def recording(run: Run, textfile: str | None, pushgateway: str | None, *, warn: Callable[[str], None]) -> Iterator[Run]:
    """Publish `run` when the block ends, with the exit code it ends with: 0, SystemExit's, an error's, 130 on ^C.

    A publishing failure is handed to `warn`, never raised: the command's own outcome stands, and the metrics
    that did not arrive will alert.
    """
    code = EXIT_FAILED
    try:
        yield run
        code = EXIT_OK
    except SystemExit as stop:
        code = stop.code if isinstance(stop.code, int) else EXIT_FAILED
        raise
    except KeyboardInterrupt:
        code = 130
        raise
    except DrkitError as err:
        code = err.exit_code
        raise
    finally:
        try:
            publish(run, code, textfile, pushgateway)
        except DrkitError as err:
            warn(f"drkit: warning: {err}")
