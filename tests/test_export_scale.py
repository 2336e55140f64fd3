"""Export at a real instance's scale (issue 9): lists read as they arrive, and app lists past the gRPC limit."""

from __future__ import annotations

import copy
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner

from drkit.argocd.client import Client
from drkit.backup import format as backup
from drkit.backup.store import open_store
from drkit.cli import main
from drkit.errors import ApiError, ConnectionFailed, TooLarge
from drkit.export.export import export
from drkit.testing import Simulator, seed
from drkit.testing.app_status import add_real_status
from drkit.testing.gateway import Faults

INSTANCE = "prod"
PROJECTS = ("red", "blue", "green")


def three_projects(apps_each: int) -> dict[str, Any]:
    """`apps_each` applications in each of three projects."""
    spec = {"sourceRepos": ["*"], "destinations": [{"server": "*", "namespace": "*"}]}
    source = {"repoURL": "https://git.example.com/apps.git", "path": "apps", "targetRevision": "main"}
    apps = [
        {
            "metadata": {"name": f"{project}-{n:03d}"},
            "spec": {
                "project": project,
                "source": source,
                "destination": {"server": "https://kubernetes.default.svc", "namespace": f"{project}-{n}"},
            },
        }
        for project in PROJECTS
        for n in range(apps_each)
    ]
    return {"projects": [{"metadata": {"name": p}, "spec": spec} for p in PROJECTS], "applications": apps}


@pytest.fixture
def big_sim() -> Iterator[Simulator]:
    """30 real-size apps per project: about 1.5 MB of app list, half a megabyte per project."""
    with Simulator() as sim:
        seed.load(sim, three_projects(30))
        add_real_status(sim)
        yield sim


def run_export(sim: Simulator, store: str) -> Any:
    argv = ["export", "--server", sim.url, "--auth-token", sim.token, "--store", store, "--instance", INSTANCE]
    return CliRunner().invoke(main, [*argv, "-o", "json"])


def list_calls(sim: Simulator) -> list[str]:
    return [path for method, path in sim.gateway.requests if path == "/api/v1/applications"]


def test_an_app_list_past_the_grpc_limit_is_read_per_project(big_sim: Simulator, tmp_path: Path) -> None:
    whole = run_export(big_sim, str(tmp_path / "whole"))
    assert whole.exit_code == 0, whole.output
    big_sim.grpc_max_mb = 1.0  # the whole list passes it, each project's fits
    big_sim.gateway.requests.clear()
    split = run_export(big_sim, str(tmp_path / "split"))
    assert split.exit_code == 0, split.output
    document = yaml.safe_load(split.stdout)
    assert document["counts"]["applications"] == 90 and document["warnings"] == []
    assert len(list_calls(big_sim)) == 1 + len(PROJECTS) + 1  # the refused list (not retried), each project
    stores = open_store(str(tmp_path / "whole")), open_store(str(tmp_path / "split"))
    manifests = [backup.read_manifest(s, INSTANCE, backup.resolve(s, INSTANCE, "latest")) for s in stores]
    assert [[(e["key"], e["sha256"]) for e in m["objects"]] for m in manifests] == 2 * [
        [(e["key"], e["sha256"]) for e in manifests[0]["objects"]]
    ]


def test_one_project_past_the_limit_fails_the_export_and_says_what_to_set(big_sim: Simulator, tmp_path: Path) -> None:
    big_sim.grpc_max_mb = 0.25
    result = run_export(big_sim, str(tmp_path))
    assert result.exit_code == 1, result.output
    message = " ".join(result.stderr.split())
    assert "applications of project blue: the list is" in message
    assert "over argocd-server's gRPC message limit of 262144 bytes" in message
    assert "set ARGOCD_GRPC_MAX_SIZE_MB on argocd-server to at least" in message
    assert backup.list_backups(open_store(str(tmp_path)), INSTANCE) == []  # no backup without its applications


def test_the_size_limit_429_is_not_retried_as_a_rate_limit(big_sim: Simulator) -> None:
    big_sim.grpc_max_mb = 1.0
    client = Client(big_sim.url, big_sim.token)
    big_sim.gateway.requests.clear()
    with pytest.raises(TooLarge) as caught:
        client.items("/api/v1/applications")
    assert caught.value.limit == 1024 * 1024 and caught.value.size > caught.value.limit
    assert len(list_calls(big_sim)) == 1


def test_a_kind_that_could_not_be_read_leaves_no_backup(big_sim: Simulator, tmp_path: Path) -> None:
    """Only a kind the token cannot read is left out with a warning; a server error fails the export."""
    big_sim.gateway.faults = Faults(error_503=1.0, path_pattern=r"^/api/v1/applications$")
    client = Client(big_sim.url, big_sim.token, retries=1, retry_budget=1)
    with pytest.raises(Exception, match="HTTP 503"):
        export(client, open_store(str(tmp_path)), INSTANCE)
    assert backup.list_backups(open_store(str(tmp_path)), INSTANCE) == []


class Trickle(BaseHTTPRequestHandler):
    """A list answered in two parts: the second only once the client has taken the first item."""

    protocol_version = "HTTP/1.1"
    first_taken = threading.Event()
    cut = False

    def log_message(self, *args: Any) -> None:
        pass

    def do_GET(self) -> None:  # noqa: N802
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        # JSON whitespace after the first item fills the client's read buffers (ijson reads 64 KiB at a time)
        self._chunk(b'{"metadata":{},"items":[{"n":1,"pad":"' + b"x" * 70_000 + b'"}\n,' + b" " * 200_000)
        if self.cut:
            self.wfile.flush()
            self.connection.close()
            return
        self.first_taken.wait(10)
        self._chunk(b'{"n":2}]}')
        self.wfile.write(b"0\r\n\r\n")

    def _chunk(self, data: bytes) -> None:
        self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
        self.wfile.flush()


@pytest.fixture
def trickle() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Trickle)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    Trickle.first_taken.clear()
    Trickle.cut = False
    yield f"http://127.0.0.1:{server.server_address[1]}"
    Trickle.first_taken.set()
    server.shutdown()


def test_list_items_are_yielded_before_the_whole_answer_arrived(trickle: str) -> None:
    items = Client(trickle, "", timeout=5).iter_items("/api/v1/applications")
    assert next(items)["n"] == 1  # the server sends the rest only after this
    Trickle.first_taken.set()
    assert [i["n"] for i in items] == [2]


def test_a_list_cut_short_every_time_fails_after_the_retries(trickle: str) -> None:
    Trickle.cut = True
    with pytest.raises(ConnectionFailed, match=r"broke while the list was read, 2 time\(s\)"):
        list(Client(trickle, "", timeout=1, retries=1).iter_items("/api/v1/applications"))


def backed_up(store: str) -> list[tuple[str, str]]:
    """(key, sha256) of every object of the newest backup in `store`."""
    opened = open_store(store)
    manifest = backup.read_manifest(opened, INSTANCE, backup.resolve(opened, INSTANCE, "latest"))
    return [(e["key"], e["sha256"]) for e in manifest["objects"]]


def test_a_list_cut_halfway_is_read_again_and_each_object_written_once(big_sim: Simulator, tmp_path: Path) -> None:
    """The app list (about 1.5 MB) breaks once after half its apps were written: the export reads it again."""
    assert run_export(big_sim, str(tmp_path / "clean")).exit_code == 0
    big_sim.gateway.faults = Faults(truncate=1.0, max_hits=1, path_pattern=r"^/api/v1/applications$")
    big_sim.gateway.requests.clear()
    result = run_export(big_sim, str(tmp_path / "cut"))
    assert result.exit_code == 0, result.output
    assert big_sim.gateway.faults.max_hits == 0 and len(list_calls(big_sim)) == 2
    assert yaml.safe_load(result.stdout)["counts"]["applications"] == 90
    assert backed_up(str(tmp_path / "cut")) == backed_up(str(tmp_path / "clean"))


def test_a_list_that_keeps_breaking_fails_the_export_with_no_backup(big_sim: Simulator, tmp_path: Path) -> None:
    big_sim.gateway.faults = Faults(truncate=1.0, path_pattern=r"^/api/v1/applications$")
    client = Client(big_sim.url, big_sim.token, retries=2, retry_budget=30)
    with pytest.raises(ConnectionFailed, match=r"GET /api/v1/applications: .* broke while the list was read, 3 time"):
        export(client, open_store(str(tmp_path)), INSTANCE)
    assert backup.list_backups(open_store(str(tmp_path)), INSTANCE) == []


def test_normalize_copies_nothing_it_keeps_and_leaves_its_input_alone() -> None:
    """normalize no longer deep-copies whole objects (a status is most of an app); it must stay pure."""
    from drkit.argocd.kinds import normalize

    app = {
        "metadata": {"name": "a", "namespace": "argocd", "labels": {"x": "y"}, "finalizers": ["f"]},
        "spec": {"source": {"helm": {"parameters": [{"name": "p", "value": "v"}]}}, "syncPolicy": None},
        "status": {"resources": [{"kind": "Service"}]},
    }
    repo = {"repo": "https://git.example.com/a.git", "connectionState": {"status": "Successful"}, "proxy": None}
    for kind, obj in (("applications", app), ("repositories", repo)):
        before = copy.deepcopy(obj)
        doc = normalize(kind, obj)
        assert obj == before
        assert not containers(doc) & containers(obj)


def containers(node: Any) -> set[int]:
    """The ids of every dict and list in `node`."""
    if isinstance(node, dict):
        return {id(node)}.union(*(containers(v) for v in node.values()))
    if isinstance(node, list):
        return {id(node)}.union(*(containers(v) for v in node))
    return set()


def test_a_refused_list_and_no_app_in_any_visible_project_leaves_no_backup(big_sim: Simulator, tmp_path: Path) -> None:
    """Argo CD filters the project list by RBAC: a token without `projects, get` sees none, so no app."""
    big_sim.grpc_max_mb = 1.0
    big_sim.policies["backup"] = [(resource, "get", "*") for resource in ("applications", "repositories", "clusters")]
    client = Client(big_sim.url, big_sim.mint_token("backup:apiKey"))
    with pytest.raises(ApiError, match="no project's own list holds any"):
        export(client, open_store(str(tmp_path)), INSTANCE)
    assert backup.list_backups(open_store(str(tmp_path)), INSTANCE) == []


def test_apps_of_a_project_the_token_cannot_list_are_not_missed_silently(big_sim: Simulator, tmp_path: Path) -> None:
    """`applications, get, */*` without `projects, get` on green: the per-project lists cannot see green's apps.

    Argo CD's project list keeps only the projects the token may get (v3.5.1 `server/project/project.go` `List`),
    its app list only checks `applications, get`; `can-i projects get *` says whether every project is visible.
    """
    big_sim.grpc_max_mb = 1.0
    kinds = ("applications", "applicationsets", "repositories", "clusters", "certificates", "gpgkeys")
    big_sim.policies["backup"] = [(kind, "get", "*") for kind in kinds]
    big_sim.policies["backup"] += [("projects", "get", "red"), ("projects", "get", "blue")]
    token = big_sim.mint_token("backup:apiKey")
    argv = ["export", "--server", big_sim.url, "--auth-token", token, "--store", str(tmp_path), "--instance", INSTANCE]
    result = CliRunner().invoke(main, [*argv, "-o", "json"])
    assert result.exit_code == 3, result.output
    document = yaml.safe_load(result.stdout)
    assert document["counts"]["applications"] == 60
    (warning,) = [w for w in document["warnings"] if w.startswith("applications:")]
    assert "can-i projects get *: no" in warning and "the apps of a project it cannot list are not in" in warning
    assert "give the token `projects, get, *`" in warning and "ARGOCD_GRPC_MAX_SIZE_MB on argocd-server" in warning


def restricted_to_red_and_blue(sim: Simulator) -> str:
    """A read-only token that may get every app but only the projects red and blue: green is not in its list."""
    sim.grpc_max_mb = 1.0
    kinds = ("applications", "applicationsets", "repositories", "clusters", "certificates", "gpgkeys")
    sim.policies["reader"] = [(kind, "get", "*") for kind in kinds]
    sim.policies["reader"] += [("projects", "get", "red"), ("projects", "get", "blue")]
    return sim.mint_token("reader:apiKey")


@pytest.mark.parametrize("command", ["restore", "diff"])
def test_a_restore_or_diff_past_the_limit_reads_the_backups_projects_and_warns_of_the_rest(
    big_sim: Simulator, tmp_path: Path, command: str
) -> None:
    """Past the gRPC limit a token's project list hides green; the backup names it, so its apps are read by name
    (the per-project app list needs only `applications, get`), and since Argo CD does not confirm that every
    project is visible (can-i projects get *: no), the run warns, naming the count it could not confirm, exit 3."""
    store = str(tmp_path / "store")
    assert run_export(big_sim, store).exit_code == 0
    token = restricted_to_red_and_blue(big_sim)
    argv = [command, "--server", big_sim.url, "--auth-token", token, "--store", store, "--instance", INSTANCE,
            "latest", "-o", "json"] + (["--dry-run"] if command == "restore" else [])  # fmt: skip
    result = CliRunner().invoke(main, argv)
    assert result.exit_code == 3, result.output
    document = yaml.safe_load(result.stdout)
    apps = {o["name"]: o["action"] for o in document["objects"] if o["kind"] == "applications"}
    assert len(apps) == 90 and set(apps.values()) == {"unchanged"}  # green's apps too: nothing to create
    (warning,) = [w for w in document["warnings"] if w.startswith("applications:")]
    assert "it lists 2 project(s)" in warning  # red and blue; the backup names default and green too
    assert "2 project(s) named elsewhere could not be confirmed (default, green: their apps were read" in warning
    assert "can-i projects get *: no" in warning and "give the token `projects, get, *`" in warning


def moving_apps_during_the_first_project_list(sim: Simulator, moves: dict[str, str]) -> None:
    """Once the first project's list is answered, move each app of `moves` to its project (created if new)."""
    original = sim.gateway.handlers["ApplicationService_List"]
    client = Client(sim.url, sim.token)
    spec = {"sourceRepos": ["*"], "destinations": [{"server": "*", "namespace": "*"}]}

    def hooked(req: Any) -> Any:
        answer = original(req)
        if req.args("projects") and moves:
            for name, project in moves.items():
                client.post(
                    "/api/v1/projects", {"project": {"metadata": {"name": project}, "spec": spec}, "upsert": True}
                )
                app = client.get(f"/api/v1/applications/{name}")
                client.put(f"/api/v1/applications/{name}/spec", {**app["spec"], "project": project})
            moves.clear()
        return answer

    sim.gateway.register({"ApplicationService_List": hooked})


@pytest.mark.parametrize(
    ("app", "to", "stored"),
    [
        ("red-000", "yellow", "yellow"),  # before red's list, to a new project: found by listing the projects again
        ("blue-000", "red", "blue"),  # after blue's list, to red's, read later: in both lists, written once
    ],
)
def test_an_app_moved_during_the_per_project_lists_is_written_once(
    big_sim: Simulator, tmp_path: Path, app: str, to: str, stored: str
) -> None:
    """Projects are read blue, green, red; `app` moves to project `to` once blue's list is answered."""
    big_sim.grpc_max_mb = 1.0
    moves = {app: to}
    moving_apps_during_the_first_project_list(big_sim, moves)
    result = run_export(big_sim, str(tmp_path))
    assert result.exit_code == 0 and moves == {}, result.output
    assert yaml.safe_load(result.stdout)["counts"]["applications"] == 90
    store = open_store(str(tmp_path))
    latest = backup.resolve(store, INSTANCE, "latest")
    assert yaml.safe_load(store.get(f"{INSTANCE}/{latest}/applications/argocd/{app}.yaml"))["spec"]["project"] == stored


def test_projects_that_keep_appearing_during_the_per_project_lists_are_warned_of(
    big_sim: Simulator, tmp_path: Path
) -> None:
    """Each project list after the refused app list finds a project created since: after three rounds, a warning."""
    big_sim.grpc_max_mb = 1.0
    original = big_sim.gateway.handlers["ProjectService_List"]
    client = Client(big_sim.url, big_sim.token)
    created: list[str] = []

    def hooked(req: Any) -> Any:
        answer = original(req)
        if any(path == "/api/v1/applications" for _, path in big_sim.gateway.requests):
            created.append(f"new-{len(created)}")
            client.post("/api/v1/projects", {"project": {"metadata": {"name": created[-1]}}, "upsert": True})
        return answer

    big_sim.gateway.register({"ProjectService_List": hooked})
    big_sim.gateway.requests.clear()  # seeding posted apps
    result = run_export(big_sim, str(tmp_path))
    assert result.exit_code == 3, result.output
    document = yaml.safe_load(result.stdout)
    assert document["counts"]["applications"] == 90 and len(created) == 3
    assert any("new projects appeared each of the 3 times the projects were listed" in w for w in document["warnings"])


def test_a_restore_onto_a_target_past_the_grpc_limit_reads_its_apps_per_project(
    big_sim: Simulator, tmp_path: Path
) -> None:
    """The restore's look at the live apps is an export's read: a whole list refused as too large (429) is read
    per project, not a failed restore; restored onto the instance it came from, every app is unchanged."""
    store = str(tmp_path / "store")
    assert run_export(big_sim, store).exit_code == 0
    big_sim.grpc_max_mb = 1.0
    argv = ["restore", "--server", big_sim.url, "--auth-token", big_sim.token, "--store", store, "--instance",
            INSTANCE, "latest", "--no-sync", "-o", "json"]  # fmt: skip
    result = CliRunner().invoke(main, argv)
    assert result.exit_code == 0, result.output
    actions = {o["action"] for o in yaml.safe_load(result.stdout)["objects"] if o["kind"] == "applications"}
    assert actions == {"unchanged"}
