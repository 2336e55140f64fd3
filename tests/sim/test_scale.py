"""A real instance's scale in the simulator: the gRPC size limit on the app list, and real-size app status."""

from __future__ import annotations

import json
import re
import statistics
import subprocess
import sys

from drkit.testing import Simulator, controller
from drkit.testing.app_status import MAX_RESOURCES, MIN_RESOURCES, add_real_status, real_status
from tests.sim.conftest import Api, app_body

TOO_LARGE = re.compile(r"^grpc: trying to send message larger than max \((\d+) vs\. (\d+)\)$")


def _instance(limit_mb: float) -> Simulator:
    sim = Simulator(controller=False, grpc_max_mb=limit_mb)
    api = Api(sim.start())
    for project in ("alpha", "beta"):
        body = {"project": {"metadata": {"name": project}, "spec": {"sourceRepos": ["*"], "destinations": []}}}
        body["project"]["spec"]["destinations"] = [{"server": "*", "namespace": "*"}]
        assert api.post("/api/v1/projects", body).status_code == 200
        for n in range(20):
            assert api.post("/api/v1/applications", app_body(f"{project}-{n}", project=project)).status_code == 200
    controller.settle(sim)
    add_real_status(sim)
    return sim


def test_list_over_the_grpc_limit_is_429_resource_exhausted_as_argocd_answers():
    """grpc-go sendResponse: ResourceExhausted "(N vs. M)", M = MB * 1024 * 1024; gateway: 429, unary body."""
    sim = _instance(0.5)
    try:
        api = Api(sim)
        r = api.get("/api/v1/applications")
        assert r.status_code == 429
        body = r.json()
        assert set(body) == {"error", "code", "message"} and body["code"] == 8
        assert body["error"] == body["message"]
        size, limit = map(int, TOO_LARGE.match(body["message"]).groups())
        assert r.headers["Content-Type"] == "application/json"
        sim.grpc_max_mb = 200
        assert limit == 512 * 1024 and size > limit and size == len(api.get("/api/v1/applications").content)
        sim.grpc_max_mb = 0.5
        # the limit applies to the filtered answer: one project's apps fit
        one = api.get("/api/v1/applications", params={"projects": "alpha"})
        assert one.status_code == 200 and len(one.json()["items"]) == 20
    finally:
        sim.stop()


def test_fields_do_not_bring_the_list_under_the_limit_but_server_side_filters_do():
    """The gateway projects `fields` from the list it received whole over gRPC (v3.5.1 and v2.14.21
    `pkg/apiclient/application/forwarder_overwrite.go`, argoproj/pkg v2.0.1 `UnaryForwarderWithFieldProcessor`);
    `projects` and `selector` are filtered by `server/application/application.go` `List` before it sends."""
    sim = _instance(0.5)
    try:
        api = Api(sim)
        light = {"fields": "items.metadata.name,items.spec.project"}
        r = api.get("/api/v1/applications", params=light)
        assert r.status_code == 429 and TOO_LARGE.match(r.json()["message"])
        assert r.json()["message"] == api.get("/api/v1/applications").json()["message"]  # the same message size
        one = api.get("/api/v1/applications", params={**light, "projects": "alpha"})
        assert one.status_code == 200
        assert one.json()["items"][0] == {"metadata": {"name": "alpha-0"}, "spec": {"project": "alpha"}}
        assert api.get("/api/v1/applications", params={"selector": "no-such-label"}).json()["items"] == []
    finally:
        sim.stop()


def test_default_limit_is_argocds_200_mib():
    """ARGOCD_GRPC_MAX_SIZE_MB defaults to 200 (v3.5.1 pkg/apiclient/apiclient.go)."""
    assert Simulator(controller=False).grpc_max_mb == 200


def test_command_line_takes_grpc_max_mb():
    """`python -m drkit.testing.sim --grpc-max-mb` sets the limit the list is held to."""
    probe = (
        "import os, requests, sys; s = os.environ['ARGOCD_SERVER']; t = os.environ['ARGOCD_AUTH_TOKEN'];"
        "r = requests.get(f'http://{s}/api/v1/applications', headers={'Authorization': 'Bearer ' + t});"
        "sys.exit(r.status_code - 400)"
    )
    cmd = [sys.executable, "-m", "drkit.testing.sim", "--seed", "demo", "--grpc-max-mb", "0.0001"]
    done = subprocess.run([*cmd, "--", sys.executable, "-c", probe], capture_output=True, timeout=60)
    assert done.returncode == 29, done.stderr  # 429


def test_real_status_is_long_tailed_and_real_shaped():
    apps = [
        {"metadata": {"name": f"app-{n}", "namespace": "argocd"}, "spec": app_body(f"app-{n}")["spec"]}
        for n in range(400)
    ]
    statuses = [real_status(a) for a in apps]
    counts = [len(s["resources"]) for s in statuses]
    assert min(counts) >= MIN_RESOURCES and max(counts) <= MAX_RESOURCES
    assert max(counts) > 5 * statistics.median(counts)  # a long tail, not a uniform spread
    sizes = [len(json.dumps({**a, "status": s})) for a, s in zip(apps, statuses, strict=True)]
    assert 10_000 < statistics.mean(sizes) < 25_000
    assert all(len(s["history"]) == 10 for s in statuses)
    assert statuses[0]["history"][0]["source"] == apps[0]["spec"]["source"]
    assert real_status(apps[7]) == statuses[7]  # seeded by name: runs are reproducible
