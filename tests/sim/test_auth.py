"""Session, tokens, version, settings, accounts and RBAC in the simulator (API-NOTES §1.2, §2.10, §2.11)."""

from __future__ import annotations

import re
import subprocess
import sys
import time

import requests

from drkit.testing import Simulator

JSON = {"Content-Type": "application/json"}


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}", **JSON}


def login(sim: Simulator, username: str = "admin", password: str = "password") -> requests.Response:
    return requests.post(sim.url + "/api/v1/session", headers=JSON, json={"username": username, "password": password})


def test_login_returns_token_and_sets_cookie(sim: Simulator) -> None:
    """§6.7: POST /api/v1/session gives {"token"} and Set-Cookie argocd.token=..; path=/; SameSite=lax; httpOnly."""
    r = login(sim)
    assert r.status_code == 200
    token = r.json()["token"]
    assert list(r.json()) == ["token"]
    assert r.headers["Set-Cookie"] == f"argocd.token={token}; path=/; SameSite=lax; httpOnly"
    info = requests.get(sim.url + "/api/v1/session/userinfo", headers=bearer(token)).json()
    assert info == {"loggedIn": True, "username": "admin", "iss": "argocd"}


def test_login_failures_are_401(sim: Simulator) -> None:
    """§6.7, §1.2: bad credentials 401 `Invalid username or password`; empty ones 401 `no credentials supplied`."""
    r = login(sim, password="wrong")
    assert (r.status_code, r.json()["message"]) == (401, "Invalid username or password")
    assert "Set-Cookie" not in r.headers
    r = login(sim, username="nobody")
    assert (r.status_code, r.json()["message"]) == (401, "Invalid username or password")
    r = login(sim, password="")
    assert (r.status_code, r.json()["message"]) == (401, "no credentials supplied")


def test_logout_returns_empty_object(sim: Simulator) -> None:
    """§1.2: DELETE /api/v1/session returns {} and sends no cookie; the token is not revoked."""
    token = login(sim).json()["token"]
    r = requests.delete(sim.url + "/api/v1/session", headers=bearer(token))
    assert (r.status_code, r.json()) == (200, {})
    assert "Set-Cookie" not in r.headers
    assert requests.get(sim.url + "/api/v1/account", headers=bearer(token)).status_code == 200


def test_userinfo_logged_out_is_empty(sim: Simulator) -> None:
    """§6.8: /session/userinfo never fails for auth reasons and is {} when logged out (or the token is bad)."""
    assert requests.get(sim.url + "/api/v1/session/userinfo").json() == {}
    r = requests.get(sim.url + "/api/v1/session/userinfo", headers=bearer("a.b.c"))
    assert (r.status_code, r.json()) == (200, {})


def test_no_token_is_401_no_session_information(sim: Simulator) -> None:
    """§6.6: no token gives 401 `no session information`."""
    r = requests.get(sim.url + "/api/v1/repositories")
    assert (r.status_code, r.json()["message"]) == (401, "no session information")


def test_token_accepted_by_bearer_cookie_chunked_cookie_and_grpc_metadata(sim: Simulator) -> None:
    """§6.6, §1.2: getToken reads Grpc-Metadata-token, then Authorization: Bearer, then (chunked) argocd.token."""
    url, token = sim.url + "/api/v1/account", sim.token
    assert requests.get(url, headers={"Grpc-Metadata-token": token}).status_code == 200
    assert requests.get(url, headers={"Authorization": f"Bearer {token}"}).status_code == 200
    assert requests.get(url, headers={"Cookie": f"argocd.token={token}"}).status_code == 200
    half = len(token) // 2
    chunked = f"argocd.token=2:{token[:half]}; argocd.token-1={token[half:]}"
    assert requests.get(url, headers={"Cookie": chunked}).status_code == 200
    # a Bearer value that is not three dot-separated parts is ignored, so there is no session at all
    r = requests.get(url, headers={"Authorization": "Bearer not-a-jwt"})
    assert (r.status_code, r.json()["message"]) == (401, "no session information")


def test_token_from_another_instance_is_401_invalid_session(sim: Simulator) -> None:
    """§6.37: a fresh install has a new server.secretkey, so an old instance's tokens fail verification."""
    other = Simulator(controller=False)  # never started: only its signing key matters
    foreign = other.mint_token("admin:apiKey")
    r = requests.get(sim.url + "/api/v1/repositories", headers=bearer(foreign))
    assert r.status_code == 401
    assert r.json()["message"].startswith("invalid session: ")
    assert r.json()["code"] == 16


def test_expired_token_is_401(sim: Simulator) -> None:
    """§6.6: an expired token is `invalid session: ...`."""
    expired = sim.mint_token("admin:apiKey", expires_in=-10)
    r = requests.get(sim.url + "/api/v1/account", headers=bearer(expired))
    assert r.status_code == 401
    assert r.json()["message"].startswith("invalid session: ")


def test_version_reduced_when_logged_out(sim: Simulator) -> None:
    """§6.8, §2.11: /api/version is only {"Version"} logged out; capitalised full keys logged in."""
    assert requests.get(sim.url + "/api/version").json() == {"Version": sim.version}
    full = requests.get(sim.url + "/api/version", headers=bearer(sim.token)).json()
    assert full["Version"] == sim.version
    for key in ("BuildDate", "GitCommit", "GoVersion", "Platform", "KustomizeVersion", "HelmVersion", "KubectlVersion"):
        assert full[key], key
    assert all(key[0].isupper() for key in full)


def test_settings_reduced_when_logged_out() -> None:
    """§6.8, §2.11: /api/v1/settings works anonymously with the reduced set, incl. appsInAnyNamespaceEnabled."""
    with Simulator(controller=False, app_namespaces=("team-a",)) as sim:
        anonymous = requests.get(sim.url + "/api/v1/settings").json()
        full = requests.get(sim.url + "/api/v1/settings", headers=bearer(sim.token)).json()
    assert anonymous["appsInAnyNamespaceEnabled"] is True
    assert "controllerNamespace" not in anonymous and "resourceOverrides" not in anonymous
    assert full["controllerNamespace"] == "argocd"
    assert set(anonymous) < set(full)


def test_settings_omit_false_apps_in_any_namespace(sim: Simulator) -> None:
    """§2.11, §1.1: without extra app namespaces the flag is false, so omitempty drops it."""
    assert "appsInAnyNamespaceEnabled" not in requests.get(sim.url + "/api/v1/settings").json()


def test_account_list_get_and_token_create(sim: Simulator) -> None:
    """§6.49, §2.10: token create {expiresIn,id} gives {token}; the account lists the token's metadata."""
    r = requests.post(
        sim.url + "/api/v1/account/admin/token", headers=bearer(sim.token), json={"id": "ci", "expiresIn": 60}
    )
    assert r.status_code == 200 and list(r.json()) == ["token"]
    new = r.json()["token"]
    assert requests.get(sim.url + "/api/v1/account/admin", headers=bearer(new)).status_code == 200
    accounts = requests.get(sim.url + "/api/v1/account", headers=bearer(sim.token)).json()["items"]
    admin = next(a for a in accounts if a["name"] == "admin")
    assert admin["enabled"] is True and "apiKey" in admin["capabilities"]
    token = next(t for t in admin["tokens"] if t["id"] == "ci")
    assert token["expiresAt"] == token["issuedAt"] + 60


def test_duplicate_token_id_is_500(sim: Simulator) -> None:
    """§2.10: a duplicate token id is a plain error, so HTTP 500."""
    url = sim.url + "/api/v1/account/admin/token"
    assert requests.post(url, headers=bearer(sim.token), json={"id": "same"}).status_code == 200
    r = requests.post(url, headers=bearer(sim.token), json={"id": "same"})
    assert (r.status_code, r.json()["code"]) == (500, 2)


def test_delete_missing_token_is_404(sim: Simulator) -> None:
    """§2.10: DELETE /account/{name}/token/{id} of a missing token gives 404."""
    r = requests.delete(sim.url + "/api/v1/account/admin/token/none", headers=bearer(sim.token))
    assert r.status_code == 404


def test_can_i_answers_yes_or_no(sim: Simulator) -> None:
    """§6.49: can-i gives {"value":"yes"|"no"}; the subresource may contain `/`; unknown resource is 400."""
    sim.policies["readonly"] = [("applications", "get", "*")]
    reader = sim.mint_token("readonly:apiKey")
    base = sim.url + "/api/v1/account/can-i"
    assert requests.get(f"{base}/applications/get/default/guestbook", headers=bearer(reader)).json() == {"value": "yes"}
    assert requests.get(f"{base}/applications/sync/default/guestbook", headers=bearer(reader)).json() == {"value": "no"}
    assert requests.get(f"{base}/applications/sync/default/guestbook", headers=bearer(sim.token)).json() == {
        "value": "yes"
    }
    assert requests.get(f"{base}/bananas/get/x", headers=bearer(sim.token)).status_code == 400


def test_rbac_denial_is_403_with_argo_message(sim: Simulator) -> None:
    """§6.9: RBAC denial is 403 `permission denied: <res>, <act>, <obj>, sub: <sub>, iat: <RFC3339>`."""
    sim.policies["readonly"] = [("repositories", "get", "*")]
    reader = sim.mint_token("readonly:apiKey")
    body = {"url": "https://git.example.com/org", "username": "u"}
    r = requests.post(sim.url + "/api/v1/repocreds", headers=bearer(reader), json=body)
    assert r.status_code == 403
    pattern = r"permission denied: repositories, create, https://git.example.com/org, sub: readonly:apiKey, iat: \S+Z"
    assert re.fullmatch(pattern, r.json()["message"])
    assert requests.get(sim.url + "/api/v1/repocreds", headers=bearer(reader)).status_code == 200


def test_lists_silently_drop_what_the_caller_may_not_see(sim: Simulator) -> None:
    """§6.9: lists filter by RBAC instead of failing."""
    admin = bearer(sim.token)
    for server in ("https://a.example.com", "https://b.example.com"):
        assert requests.post(sim.url + "/api/v1/clusters", headers=admin, json={"server": server}).ok
    sim.policies["partial"] = [("clusters", "get", "https://a.*")]
    partial = sim.mint_token("partial:apiKey")
    items = requests.get(sim.url + "/api/v1/clusters", headers=bearer(partial)).json()["items"]
    assert [c["server"] for c in items] == ["https://a.example.com"]


def test_password_update_checks_current_password(sim: Simulator) -> None:
    """§2.10: PUT /account/password with a wrong current password is 400; a right one changes the login."""
    url = sim.url + "/api/v1/account/password"
    r = requests.put(url, headers=bearer(sim.token), json={"currentPassword": "bad", "newPassword": "n3w-password"})
    assert r.status_code == 400
    r = requests.put(
        url, headers=bearer(sim.token), json={"currentPassword": "password", "newPassword": "n3w-password"}
    )
    assert r.status_code == 200
    assert login(sim, password="n3w-password").status_code == 200


def _signed(sim: Simulator, claims: dict) -> str:
    """A JWT signed with this instance's key, with any claims (to forge an old or unrecorded token)."""
    import base64
    import hashlib
    import hmac
    import json

    def b64(data: bytes) -> str:
        return base64.urlsafe_b64encode(data).rstrip(b"=").decode()

    head = b64(json.dumps({"alg": "HS256", "typ": "JWT"}).encode()) + "." + b64(json.dumps(claims).encode())
    return head + "." + b64(hmac.new(sim.secret_key, head.encode(), hashlib.sha256).digest())


def test_deleted_api_key_is_401(sim: Simulator) -> None:
    """§6.37, §1.2 (SessionManager.Parse): an API key whose id the account no longer lists is refused."""
    key = requests.post(sim.url + "/api/v1/account/admin/token", headers=bearer(sim.token), json={"id": "ci"})
    token = key.json()["token"]
    assert requests.get(sim.url + "/api/v1/projects", headers=bearer(token)).status_code == 200
    assert requests.delete(sim.url + "/api/v1/account/admin/token/ci", headers=bearer(sim.token)).status_code == 200
    r = requests.get(sim.url + "/api/v1/projects", headers=bearer(token))
    assert (r.status_code, r.json()["message"]) == (
        401,
        "invalid session: account admin does not have token with id ci",
    )


def test_unrecorded_or_idless_tokens_are_401(sim: Simulator) -> None:
    """§1.2 (Parse): a validly signed API key with an unknown jti, or any account token without jti, is 401."""
    now = int(time.time())
    unrecorded = _signed(sim, {"iss": "argocd", "sub": "admin:apiKey", "iat": now, "jti": "forged"})
    idless = _signed(sim, {"iss": "argocd", "sub": "admin:login", "iat": now})
    ghost = _signed(sim, {"iss": "argocd", "sub": "ghost:login", "iat": now, "jti": "x"})
    for token, message in (
        (unrecorded, "invalid session: account admin does not have token with id forged"),
        (idless, "invalid session: token does not have a unique identifier (jti claim) and cannot be validated"),
        (ghost, "invalid session: rpc error: code = NotFound desc = account 'ghost' does not exist"),
    ):
        r = requests.get(sim.url + "/api/v1/projects", headers=bearer(token))
        assert (r.status_code, r.json()["message"]) == (401, message)


def test_password_change_invalidates_older_tokens(sim: Simulator) -> None:
    """§1.2 (Parse PasswordMtime): tokens issued before the account's password changed stop working."""
    old = _signed(sim, {"iss": "argocd", "sub": "admin:login", "iat": int(time.time()) - 60, "jti": "a"})
    assert requests.get(sim.url + "/api/v1/projects", headers=bearer(old)).status_code == 200
    body = {"currentPassword": "password", "newPassword": "password2", "name": "admin"}
    assert requests.put(sim.url + "/api/v1/account/password", headers=bearer(sim.token), json=body).status_code == 200
    r = requests.get(sim.url + "/api/v1/projects", headers=bearer(old))
    assert (r.status_code, r.json()["message"]) == (
        401,
        "invalid session: account password has changed since token issued",
    )


def test_simulator_command_with_a_non_jwt_token_is_a_usage_error() -> None:
    """`python -m drkit.testing.sim --token X`: exit 2 with usage, as any CLI does, never a traceback."""
    result = subprocess.run(
        [sys.executable, "-m", "drkit.testing.sim", "--token", "not-a-jwt"], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 2, result.stderr
    assert "usage: python -m drkit.testing.sim" in result.stderr
    assert "--token must look like a JWT" in result.stderr and "Traceback" not in result.stderr
