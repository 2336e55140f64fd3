"""Gateway-level behaviour of the Argo CD simulator (API-NOTES §1.1, §1.3, §6 items 1-5, 51)."""

from __future__ import annotations

import socket
from typing import Any

import requests

from drkit.testing import Simulator
from drkit.testing.gateway import HTTP_STATUS, GrpcError, Request

JSON = "application/json"


def auth(sim: Simulator, content_type: str | None = JSON) -> dict[str, str]:
    headers = {"Authorization": f"Bearer {sim.token}"}
    if content_type is not None:
        headers["Content-Type"] = content_type
    return headers


def test_non_get_without_json_content_type_is_415_plain_text(sim: Simulator) -> None:
    """§6.2: every non-GET /api/ request needs Content-Type exactly application/json, DELETE included."""
    cases = [
        ("POST", "/api/v1/repocreds", None),
        ("POST", "/api/v1/repocreds", "text/plain"),
        ("DELETE", "/api/v1/repocreds/https%3A%2F%2Fx", None),
        ("DELETE", "/api/v1/repocreds/https%3A%2F%2Fx", "application/json; charset=utf-8"),
        ("PUT", "/api/v1/clusters/x", "application/x-www-form-urlencoded"),
    ]
    for method, path, ctype in cases:
        r = requests.request(method, sim.url + path, headers=auth(sim, ctype), data=b"{}")
        assert r.status_code == 415, (method, path, ctype)
        assert r.text == "Invalid content type\n"
        assert r.headers["Content-Type"].startswith("text/plain")


def test_content_type_comparison_ignores_case(sim: Simulator) -> None:
    """§1.1: the comparison is exact but case-insensitive on the whole header value."""
    r = requests.post(sim.url + "/api/v1/repocreds", headers=auth(sim, "Application/JSON"), data=b'{"url":"https://a"}')
    assert r.status_code == 200


def test_get_needs_no_content_type(sim: Simulator) -> None:
    """§6.2: only non-GET requests are checked."""
    assert requests.get(sim.url + "/api/v1/repocreds", headers=auth(sim, None)).status_code == 200


def test_unknown_path_is_plain_404_and_wrong_method_plain_405(sim: Simulator) -> None:
    """§6.3: gateway errors are http.Error plain text, not JSON."""
    r = requests.get(sim.url + "/api/v1/nothing-here", headers=auth(sim))
    assert (r.status_code, r.text) == (404, "Not Found\n")
    assert r.headers["Content-Type"].startswith("text/plain")
    r = requests.patch(sim.url + "/api/v1/repocreds", headers=auth(sim), data=b"{}")
    assert (r.status_code, r.text) == (405, "Method Not Allowed\n")


def test_error_body_is_error_code_message_json(sim: Simulator) -> None:
    """§6.4: {"error":m,"code":grpc,"message":m}, Content-Type application/json, no details."""
    r = requests.delete(sim.url + "/api/v1/repocreds/https%3A%2F%2Fnope", headers=auth(sim))
    assert r.status_code == 404
    assert r.headers["Content-Type"] == JSON
    message = "repository credentials 'https://nope' not found"
    assert r.json() == {"error": message, "code": 5, "message": message}


def test_grpc_status_map_is_gateway_v1_16() -> None:
    """§6.4: FailedPrecondition is 400 (not 412) and Aborted 409, as grpc-gateway v1.16 maps them."""
    assert HTTP_STATUS[9] == 400
    assert HTTP_STATUS[10] == 409
    assert HTTP_STATUS[6] == 409
    assert HTTP_STATUS[2] == 500
    assert HTTP_STATUS[8] == 429


def test_failed_precondition_and_aborted_render_over_http() -> None:
    """§6.4: a handler's FailedPrecondition answers 400 and Aborted 409 on the wire."""
    with Simulator(controller=False) as sim:

        def fail(req: Request) -> None:
            raise GrpcError(int(req.headers["x-code"]), "boom")

        sim.gateway.register({"VersionService_Version": fail})
        for code, status in ((9, 400), (10, 409)):
            r = requests.get(f"{sim.url}/api/version", headers={"X-Code": str(code)})
            assert r.status_code == status
            assert r.json() == {"error": "boom", "code": code, "message": "boom"}


def test_quoted_int64_is_400(sim: Simulator) -> None:
    """§6.5: int64 fields must be JSON numbers; a quoted "3600" fails to decode with 400 InvalidArgument."""
    r = requests.post(sim.url + "/api/v1/account/admin/token", headers=auth(sim), json={"expiresIn": "3600"})
    assert r.status_code == 400
    assert r.json()["code"] == 3
    assert "expiresIn" in r.json()["message"]
    r = requests.post(sim.url + "/api/v1/account/admin/token", headers=auth(sim), json={"expiresIn": 3600})
    assert r.status_code == 200


def test_unknown_body_fields_are_ignored(sim: Simulator) -> None:
    """§6.5: encoding/json silently drops unknown fields; they are neither stored nor an error."""
    body = {"url": "https://git.example.com/org", "username": "u", "password": "p", "surprise": {"x": 1}}
    r = requests.post(sim.url + "/api/v1/repocreds", headers=auth(sim), json=body)
    assert r.status_code == 200
    assert "surprise" not in sim.repocreds["https://git.example.com/org"]


def test_body_star_endpoints_ignore_query_parameters(sim: Simulator) -> None:
    """§6.1: `body:"*"` (session create) takes every field from the body; query params are ignored."""
    r = requests.post(sim.url + "/api/v1/session?username=admin&password=password", headers=auth(sim, JSON), json={})
    assert r.status_code == 401
    assert r.json()["message"] == "no credentials supplied"


def test_no_pagination_lists_are_whole(sim: Simulator) -> None:
    """§6.51: no pagination: `limit` is not honoured, every item comes back."""
    for i in range(5):
        body = {"url": f"https://git.example.com/org{i}", "username": "u"}
        assert requests.post(sim.url + "/api/v1/repocreds", headers=auth(sim), json=body).ok
    r = requests.get(sim.url + "/api/v1/repocreds?limit=2", headers=auth(sim))
    assert len(r.json()["items"]) == 5
    assert "continue" not in r.json()["metadata"]


def test_server_sets_tcp_nodelay_on_accepted_connections(sim: Simulator) -> None:
    """§1 transport: like Go's net/http the server sends with TCP_NODELAY, so keep-alive requests never wait on
    a delayed ACK (DESIGN.md 'How it is tested'); asserted on the server's own socket."""
    seen: list[int] = []
    server = sim._server
    base = server.RequestHandlerClass

    class Recording(base):  # type: ignore[misc, valid-type]
        def setup(self) -> None:
            super().setup()
            seen.append(self.connection.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))

    server.RequestHandlerClass = Recording
    try:
        with requests.Session() as session:
            for _ in range(3):
                assert session.get(sim.url + "/api/version").status_code == 200
    finally:
        server.RequestHandlerClass = base
    assert seen == [1]  # one keep-alive connection served all three requests, with TCP_NODELAY on


def test_typed_path_and_query_parameters_are_parsed(api: Any) -> None:
    """§6.5, §1.1 (gw v1.16 runtime.Int64/Bool): a non-integer `{iat}` or a non-bool `upsert` is 400 before auth."""
    r = api.delete("/api/v1/projects/default/roles/ci/token/abc")
    assert r.status_code == 400
    assert (
        r.json()["message"] == 'type mismatch, parameter: iat, error: strconv.ParseInt: parsing "abc": invalid syntax'
    )
    r = api.post("/api/v1/repocreds?upsert=yes", {"url": "https://example.com/"})
    assert (r.status_code, r.json()["message"]) == (400, 'strconv.ParseBool: parsing "yes": invalid syntax')
    r = api.post("/api/v1/repocreds?upsert", {"url": "https://example.com/"})  # an empty value does not parse either
    assert (r.status_code, r.json()["message"]) == (400, 'strconv.ParseBool: parsing "": invalid syntax')
    anonymous = requests.get(api.sim.url + "/api/v1/applications/x?refresh=normal&appNamespace=a&project=p&project=q")
    assert anonymous.status_code == 401  # strings parse; only then does the auth interceptor run
    r = requests.delete(api.sim.url + "/api/v1/projects/default/roles/ci/token/abc", headers={"Content-Type": JSON})
    assert r.status_code == 400  # the gateway decodes the request before the gRPC auth interceptor sees it


def test_body_star_routes_ignore_query_and_scalars_take_the_first_value(api: Any) -> None:
    """§1.1: `POST /projects?upsert=true` does not upsert (body "*"); a repeated scalar uses values[0] (gw v1)."""
    project = {"metadata": {"name": "p"}, "spec": {"sourceRepos": ["*"]}}
    assert api.post("/api/v1/projects", {"project": project}).status_code == 200
    changed = {"metadata": {"name": "p"}, "spec": {"sourceRepos": ["https://x"]}}
    r = api.post("/api/v1/projects?upsert=true", {"project": changed})
    assert r.status_code == 400 and "use upsert flag" in r.json()["message"]
    r = api.post("/api/v1/repocreds?upsert=false&upsert=true", {"url": "https://example.com/", "username": "a"})
    assert r.status_code == 200
    r = api.post("/api/v1/repocreds?upsert=false&upsert=true", {"url": "https://example.com/", "username": "b"})
    assert r.status_code == 400  # upsert=false won: the first value
