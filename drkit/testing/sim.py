"""The Argo CD API simulator: in-memory Argo CD state behind the gateway, over real HTTP on 127.0.0.1.

Start it in a test with `with Simulator() as sim: ...` (sim.url, sim.token), or from a shell with
`python -m drkit.testing.sim --port 8080 --token T --seed demo`.
"""

from __future__ import annotations

import argparse
import base64
import fnmatch
import hashlib
import hmac
import importlib
import json
import os
import secrets
import subprocess
import sys
import threading
import time
import uuid
from datetime import datetime, timezone
from typing import Any

from drkit.testing.gateway import (
    PERMISSION_DENIED,
    UNAUTHENTICATED,
    Gateway,
    GrpcError,
    serve,
)

# Handler modules, each exposing handlers(sim) -> {operationId: handler}.
MODULES = (
    "session",
    "applications",
    "applicationsets",
    "projects",
    "repositories",
    "clusters",
    "certificates",
    "gpgkeys",
)
PUBLIC_OPERATIONS = {
    "VersionService_Version",
    "SettingsService_Get",
    "SessionService_Create",
    "SessionService_GetUserInfo",
}
DEFAULT_PROJECT_SPEC = {
    "sourceRepos": ["*"],
    "destinations": [{"server": "*", "namespace": "*"}],
    "clusterResourceWhitelist": [{"group": "*", "kind": "*"}],
}
IN_CLUSTER = "https://kubernetes.default.svc"


def now() -> str:
    """An RFC 3339 timestamp, seconds precision, as Kubernetes writes metav1.Time."""
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


class Simulator:
    """A fake Argo CD instance as strict as API-NOTES.md says the real one is.

    State is held as Argo CD holds it: secrets stored, never returned. `lock` guards every dict;
    `changed` is notified on every write so watchers and waiting refreshes wake up.
    """

    def __init__(
        self,
        *,
        token: str | None = None,
        admin_password: str = "password",
        namespace: str = "argocd",
        app_namespaces: tuple[str, ...] = (),
        version: str = "v3.5.1+sim",
        controller: bool = True,
        reconcile_seconds: float = 0.02,
    ) -> None:
        self.secret_key = secrets.token_bytes(32)  # a fresh install's server.secretkey
        self.namespace = namespace
        self.app_namespaces = list(app_namespaces)
        self.version = version
        self.users = {"admin": admin_password}
        # API-key metadata per account, as argocd-secret `accounts.<name>.tokens` holds it (id, issuedAt, expiresAt)
        self.account_tokens: dict[str, list[dict[str, Any]]] = {}
        self.password_mtime: dict[str, int] = {}  # account -> when its password last changed (PasswordMtime)
        self.static_tokens: dict[str, str] = {}
        self.policies: dict[str, list[tuple[str, str, str]]] = {"admin": [("*", "*", "*")]}
        self.lock = threading.RLock()
        self.changed = threading.Condition(self.lock)
        self._rv = 1000
        self.applications: dict[tuple[str, str], dict[str, Any]] = {}
        self.applicationsets: dict[tuple[str, str], dict[str, Any]] = {}
        self.projects: dict[str, dict[str, Any]] = {}
        self.repositories: dict[tuple[str, str], dict[str, Any]] = {}
        self.repocreds: dict[str, dict[str, Any]] = {}
        self.clusters: dict[str, dict[str, Any]] = {}
        self.certificates: list[dict[str, Any]] = []
        self.gpgkeys: dict[str, dict[str, Any]] = {}
        self.unreachable: set[str] = set()  # repo URLs and cluster servers whose connection test fails
        self.unhealthy: set[str] = set()  # app names the controller never makes Healthy
        self.reconcile_seconds = reconcile_seconds
        # Watch journal: (seq, kind, type, object) of every app/appset write; stored objects are never
        # mutated in place (writers replace them), so a journal entry stays a faithful snapshot.
        self.journal: list[tuple[int, str, str, dict[str, Any]]] = []
        self._journal_base = 1  # seq of journal[0]
        self._seq = 0
        self.pending: set[tuple[str, tuple[str, str]]] = set()  # controller work: (kind, key)
        self.gateway = Gateway(self.authenticate, PUBLIC_OPERATIONS)
        for name in MODULES:
            module = importlib.import_module(f"drkit.testing.{name}")
            self.gateway.register(module.handlers(self))
        self.token = token or self.mint_token("admin:apiKey")
        if token:
            if len(token.split(".")) != 3:
                raise ValueError("the simulator's --token must look like a JWT (three dot-separated parts)")
            self.static_tokens[token] = "admin:apiKey"
        self._server = None
        self._controller = None
        self._stopping = threading.Event()
        self.run_controller = controller
        self.initialize()

    # lifecycle -----------------------------------------------------------------------------------------

    def initialize(self) -> None:
        """What a fresh install holds: project `default` and the default SSH known hosts (API-NOTES §3)."""
        from drkit.testing.certificates import DEFAULT_KNOWN_HOSTS

        with self.lock:
            self.projects["default"] = self.stamp(
                {"metadata": {"name": "default", "namespace": self.namespace}, "spec": dict(DEFAULT_PROJECT_SPEC)}
            )
            self.certificates = [dict(c) for c in DEFAULT_KNOWN_HOSTS]

    def start(self, port: int = 0) -> Simulator:
        self._server = serve(self.gateway, "127.0.0.1", port)
        if self.run_controller:
            from drkit.testing.controller import run

            self._controller = threading.Thread(target=run, args=(self, self._stopping), daemon=True)
            self._controller.start()
        return self

    def stop(self) -> None:
        self._stopping.set()
        with self.changed:
            self.changed.notify_all()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    def __enter__(self) -> Simulator:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    @property
    def address(self) -> str:
        """host:port, as `--server` takes it with `--plaintext`."""
        return self.url.removeprefix("http://")

    # state helpers -------------------------------------------------------------------------------------

    def next_rv(self) -> str:
        with self.lock:
            self._rv += 1
            return str(self._rv)

    def stamp(self, obj: dict[str, Any], previous: dict[str, Any] | None = None) -> dict[str, Any]:
        """Set the metadata Kubernetes owns on a create (previous=None) or an update (API-NOTES §6 item 20)."""
        meta = obj.setdefault("metadata", {})
        meta.setdefault("namespace", self.namespace)
        if previous is None:
            meta["uid"] = str(uuid.uuid4())
            meta["creationTimestamp"] = now()
            meta["generation"] = 1
        else:
            old = previous["metadata"]
            meta["uid"] = old["uid"]
            meta["creationTimestamp"] = old["creationTimestamp"]
            changed = obj.get("spec") != previous.get("spec")
            meta["generation"] = old.get("generation", 1) + (1 if changed else 0)
        meta["resourceVersion"] = self.next_rv()
        meta["managedFields"] = [{"manager": "argocd-server", "operation": "Update", "time": now()}]
        with self.changed:
            self.changed.notify_all()
        return obj

    def notify(self) -> None:
        with self.changed:
            self.changed.notify_all()

    def emit(self, kind: str, event: str, obj: dict[str, Any]) -> None:
        """Record a watch event (kind 'app' or 'appset', event ADDED/MODIFIED/DELETED) and wake watchers."""
        with self.changed:
            self._seq += 1
            self.journal.append((self._seq, kind, event, obj))
            if len(self.journal) > 200_000:
                drop = len(self.journal) // 2
                del self.journal[:drop]
                self._journal_base += drop
            self.changed.notify_all()

    def events_since(self, seq: int) -> tuple[int, list[tuple[int, str, str, dict[str, Any]]]]:
        """Journal entries after `seq`, and the newest seq; call with the lock held."""
        start = max(0, seq + 1 - self._journal_base)
        return self._seq, self.journal[start:]

    def wake(self, kind: str, key: tuple[str, str]) -> None:
        """Ask the simulated controllers to look at one object ('app' or 'appset')."""
        with self.changed:
            self.pending.add((kind, key))
            self.changed.notify_all()

    # auth ----------------------------------------------------------------------------------------------

    def mint_token(self, sub: str, *, expires_in: int | None = None, jti: str | None = None) -> str:
        """An HS256 JWT signed with this instance's secret key, as Argo CD issues them.

        An `<account>:apiKey` token is also recorded as the account's API key, as `argocd account
        generate-token` does, so it stays valid until deleted (Argo CD refuses unrecorded ids).
        """
        iat = int(time.time())
        claims: dict[str, Any] = {"iss": "argocd", "sub": sub, "iat": iat, "nbf": iat, "jti": jti or str(uuid.uuid4())}
        if expires_in:
            claims["exp"] = iat + expires_in
        account, _, capability = sub.partition(":")
        if capability == "apiKey" and not sub.startswith("proj:"):
            record: dict[str, Any] = {"id": claims["jti"], "issuedAt": iat}
            if expires_in:
                record["expiresAt"] = claims["exp"]
            with self.lock:
                self.account_tokens.setdefault(account, []).append(record)
        header = _b64url(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
        payload = _b64url(json.dumps(claims).encode())
        sig = hmac.new(self.secret_key, f"{header}.{payload}".encode(), hashlib.sha256).digest()
        return f"{header}.{payload}.{_b64url(sig)}"

    def authenticate(self, token: str) -> dict[str, Any]:
        """Claims of a valid token, else 401 `invalid session: ...` (API-NOTES §1.2, §6 items 6, 37)."""
        if token in self.static_tokens:
            return {"iss": "argocd", "sub": self.static_tokens[token], "iat": 0}
        parts = token.split(".")
        if len(parts) != 3:
            raise GrpcError(UNAUTHENTICATED, "invalid session: token contains an invalid number of segments")
        expected = hmac.new(self.secret_key, f"{parts[0]}.{parts[1]}".encode(), hashlib.sha256).digest()
        try:
            valid = hmac.compare_digest(_b64url(expected), parts[2])
            claims = json.loads(base64.urlsafe_b64decode(parts[1] + "=" * (-len(parts[1]) % 4)))
        except ValueError:
            raise GrpcError(UNAUTHENTICATED, "invalid session: token is malformed") from None
        if not valid:
            raise GrpcError(UNAUTHENTICATED, "invalid session: token signature is invalid: signature is invalid")
        if claims.get("exp") and claims["exp"] < time.time():
            raise GrpcError(UNAUTHENTICATED, "invalid session: token has invalid claims: token is expired")
        sub = claims.get("sub", "")
        if sub.startswith("proj:"):
            self._check_project_token(sub, claims)
        else:
            self._check_account_token(sub, claims)
        return claims

    def _check_account_token(self, sub: str, claims: dict[str, Any]) -> None:
        """SessionManager.Parse for accounts: a known account, a jti, an unrevoked API key, no newer password."""
        account, _, capability = sub.partition(":")
        token_id = claims.get("jti") or ""
        with self.lock:
            known = account in self.users or account in self.account_tokens
            recorded = any(t["id"] == token_id for t in self.account_tokens.get(account, []))
            changed = self.password_mtime.get(account, 0)
        if not known:
            raise GrpcError(
                UNAUTHENTICATED,
                f"invalid session: rpc error: code = NotFound desc = account '{account}' does not exist",
            )
        if not token_id:
            raise GrpcError(
                UNAUTHENTICATED,
                "invalid session: token does not have a unique identifier (jti claim) and cannot be validated",
            )
        if capability != "login" and not recorded:
            raise GrpcError(
                UNAUTHENTICATED, f"invalid session: account {account} does not have token with id {token_id}"
            )
        if claims.get("iat", 0) < changed:
            raise GrpcError(UNAUTHENTICATED, "invalid session: account password has changed since token issued")

    def _check_project_token(self, sub: str, claims: dict[str, Any]) -> None:
        _, project, role = sub.split(":", 2)
        with self.lock:
            proj = self.projects.get(project)
            items = (proj or {}).get("status", {}).get("jwtTokensByRole", {}).get(role, {}).get("items", [])
            token_id = claims.get("jti") or str(claims.get("iat"))
            if not any(t.get("id") == token_id for t in items):
                raise GrpcError(UNAUTHENTICATED, f"invalid session: {sub} token has been revoked or does not exist")

    def allowed(self, subject: str, resource: str, action: str, obj: str) -> bool:
        """RBAC: does `subject` (a JWT sub like `admin:apiKey`) hold resource/action on obj?"""
        user = subject if subject.startswith("proj:") else subject.split(":", 1)[0]
        for res, act, pattern in self.policies.get(user, []):
            if (
                fnmatch.fnmatchcase(resource, res)
                and fnmatch.fnmatchcase(action, act)
                and fnmatch.fnmatchcase(obj, pattern)
            ):
                return True
        return False

    def enforce(self, req: Any, resource: str, action: str, obj: str) -> None:
        """403 `permission denied: <res>, <act>, <obj>, sub: .., iat: ..` unless allowed (§6 item 9)."""
        if not self.allowed(req.subject, resource, action, obj):
            iat = datetime.fromtimestamp(req.claims.get("iat", 0), timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
            raise GrpcError(
                PERMISSION_DENIED,
                f"permission denied: {resource}, {action}, {obj}, sub: {req.subject}, iat: {iat}",
            )

    # seeding -------------------------------------------------------------------------------------------

    def seed(self, document: dict[str, Any]) -> None:
        """Load a seed document (see drkit/testing/seed.py) through this instance's own API handlers."""
        from drkit.testing.seed import load

        load(self, document)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m drkit.testing.sim",
        description=__doc__,
        epilog="With `-- COMMAND...`, the simulator runs only while COMMAND does, on a free port unless --port is "
        "given, and COMMAND finds it through ARGOCD_SERVER, ARGOCD_PLAINTEXT and ARGOCD_AUTH_TOKEN; the exit code "
        "is COMMAND's. Example: python -m drkit.testing.sim --seed demo -- drkit export --instance demo",
    )
    parser.add_argument("--port", type=int, help="port on 127.0.0.1 [default: 8080, or a free one with a command]")
    parser.add_argument("--token", help="accept this JWT-shaped token as the admin's API key")
    parser.add_argument("--seed", help="'demo', or a YAML seed file, to start with a populated instance")
    parser.add_argument("--app-namespace", action="append", default=[], help="enable apps in this namespace")
    parser.add_argument("command", nargs=argparse.REMAINDER, help="-- COMMAND [ARGS...] to run against it")
    args = parser.parse_args(argv)
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    sim = Simulator(token=args.token, app_namespaces=tuple(args.app_namespace))
    if args.seed:
        from drkit.testing.seed import read

        sim.seed(read(args.seed))
    sim.start(args.port if args.port is not None else (0 if command else 8080))
    print(f"Argo CD simulator on {sim.url}", file=sys.stderr)
    if command:
        env = dict(os.environ, ARGOCD_SERVER=sim.address, ARGOCD_PLAINTEXT="true", ARGOCD_AUTH_TOKEN=sim.token)
        try:
            return subprocess.run(command, env=env).returncode
        finally:
            sim.stop()
    print(f"token: {sim.token}" if not args.token else "token: as given with --token", file=sys.stderr)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        sim.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
