"""Prometheus metrics (issue 10): --metrics-textfile and --pushgateway on export, restore, prune and drill."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from click.testing import CliRunner

from drkit.cli import main
from drkit.errors import ConfigError
from drkit.ops import metrics
from drkit.testing import Simulator, seed

ROOT = Path(__file__).resolve().parent.parent
LABELS = {"argocd_instance": "demo", "command": "export"}


@pytest.fixture(scope="module")
def source() -> Iterator[Simulator]:
    with Simulator(app_namespaces=("team-a",)) as sim:
        seed.load(sim, seed.read("demo"))
        yield sim


def export(source: Simulator, store: Path, *extra: str, server: str | None = None) -> int:
    args = ["export", "--server", server or source.address, "--plaintext", "--auth-token", source.token]
    result = CliRunner().invoke(
        main, [*args, "--store", str(store), "--instance", "demo", "--request-timeout", "1", *extra]
    )
    return result.exit_code


def value(samples: dict, name: str, **labels: str) -> float:
    return next(v for found, v in samples[name] if found == {**LABELS, **labels})


def test_export_metrics_count_objects_and_bytes_per_kind(source: Simulator, tmp_path: Path):
    prom = tmp_path / "export.prom"
    assert export(source, tmp_path / "store", "--metrics-textfile", str(prom)) == 0
    samples = metrics.parse(prom.read_text())
    manifest = next((tmp_path / "store" / "demo").glob("*/manifest.yaml")).read_text()
    assert value(samples, "drkit_backup_objects", kind="applications") == 16
    assert value(samples, "drkit_backup_bytes", kind="applications") > 0
    assert value(samples, "drkit_backup_suspicious") == 0 and value(samples, "drkit_warnings") == 0
    assert value(samples, "drkit_exit_code") == 0
    assert value(samples, "drkit_last_success_timestamp_seconds") == value(samples, "drkit_last_run_timestamp_seconds")
    assert "applications: 16" in manifest
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith("export.prom")] == ["export.prom"]


def test_a_failed_run_keeps_the_last_success(source: Simulator, tmp_path: Path):
    prom = tmp_path / "export.prom"
    assert export(source, tmp_path / "store", "--metrics-textfile", str(prom)) == 0
    before = metrics.parse(prom.read_text())
    assert export(source, tmp_path / "store", "--metrics-textfile", str(prom), server="127.0.0.1:9") == 1
    after = metrics.parse(prom.read_text())
    assert value(after, "drkit_exit_code") == 1
    success = value(before, "drkit_last_success_timestamp_seconds")
    assert value(after, "drkit_last_success_timestamp_seconds") == success
    assert value(after, "drkit_last_run_timestamp_seconds") > success


class Gateway(BaseHTTPRequestHandler):
    received: list[tuple[str, str, bytes]] = []

    def do_POST(self) -> None:  # noqa: N802 - http.server's naming
        body = self.rfile.read(int(self.headers["Content-Length"]))
        Gateway.received.append((self.command, self.path, body))
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


def test_pushgateway_gets_a_pushadd_grouped_by_instance_and_command(source: Simulator, tmp_path: Path):
    server = ThreadingHTTPServer(("127.0.0.1", 0), Gateway)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}"
        assert export(source, tmp_path / "store", "--pushgateway", url) == 0
    finally:
        server.shutdown()
        server.server_close()
    [(method, path, body)] = Gateway.received
    assert (method, path) == ("POST", "/metrics/job/drkit/command/export/instance/demo")
    assert value(metrics.parse(body.decode()), "drkit_backup_objects", kind="projects") == 4


def test_an_unreachable_pushgateway_warns_and_keeps_the_exit_code(source: Simulator, tmp_path: Path):
    args = ["export", "--server", source.address, "--plaintext", "--auth-token", source.token, "--instance", "demo"]
    result = CliRunner().invoke(main, [*args, "--store", str(tmp_path), "--pushgateway", "http://127.0.0.1:9"])
    assert result.exit_code == 0
    assert "drkit: warning: cannot push metrics to --pushgateway http://127.0.0.1:9" in result.stderr


def test_prune_and_restore_report_metrics(source: Simulator, tmp_path: Path):
    store = tmp_path / "store"
    assert export(source, store) == 0 and export(source, store) == 0
    prom = tmp_path / "prune.prom"
    args = ["--store", str(store), "--instance", "demo", "--metrics-textfile", str(prom)]
    assert CliRunner().invoke(main, ["prune", "--keep-last", "1", *args]).exit_code == 0
    samples = metrics.parse(prom.read_text())
    kept = {labels["result"]: v for labels, v in samples["drkit_prune_backups"]}
    assert kept == {"kept": 1, "deleted": 1}
    with Simulator(app_namespaces=("team-a",)) as target:
        auth = ["--server", target.address, "--plaintext", "--auth-token", target.token]
        credentials = ["--credentials", str(ROOT / "runbooks" / "demo-credentials.yaml")]
        env = {"DEMO_GUESTBOOK_PASSWORD": "demo-password-2"}
        result = CliRunner().invoke(main, ["restore", *auth, *args, *credentials, "latest", "--timeout", "60"], env=env)
    assert result.exit_code == 0, result.output
    samples = metrics.parse(prom.read_text())
    actions = {labels["action"]: v for labels, v in samples["drkit_restore_objects"]}
    assert actions["create"] > 30 and actions["fail"] == 0
    assert {labels["phase"] for labels, _ in samples["drkit_recovery_seconds"]} == {"total"}


@pytest.mark.parametrize("command", ["export", "restore", "prune", "drill"])
def test_the_commands_contract_md_names_take_the_metrics_flags(command: str):
    help_text = CliRunner().invoke(main, [command, "--help"]).output
    assert "--metrics-textfile" in help_text and "--pushgateway" in help_text


@pytest.mark.parametrize(
    ("raised", "code"), [(SystemExit(3), 3), (KeyboardInterrupt(), 130), (ConfigError("bad flag"), 2), (None, 0)]
)
def test_recording_publishes_the_exit_code_the_run_ends_with(tmp_path: Path, raised: BaseException | None, code: int):
    prom, warnings = tmp_path / "run.prom", []
    run = metrics.Run("restore", "demo")
    with contextlib.suppress(BaseException), metrics.recording(run, str(prom), None, warn=warnings.append):
        if raised is not None:
            raise raised
    assert metrics.parse(prom.read_text())["drkit_exit_code"] == [
        ({"argocd_instance": "demo", "command": "restore"}, code)
    ]
    assert warnings == []
