"""The Argo CD API simulator: in-memory Argo CD state behind the gateway, over real HTTP on 127.0.0.1.

Start it in a test with `with Simulator() as sim: ...` (sim.url, sim.token), or from a shell with
`python -m drkit.testing.sim --port 8080 --token T --seed demo`. With `kube=True` (`--kube`) the simulated
cluster's core/v1 API (drkit/testing/kube) is served too, at `sim.kube_url`, for the bearer token
`sim.kube_token` (user `system:serviceaccount:<namespace>:drkit`, every verb on ConfigMaps and Secrets of Argo
CD's namespace unless `kube_rules` says otherwise); `sim.write_kubeconfig(path)` writes a kubeconfig for it and
`sim.kube_grant(user, rules)` mints a token for another user with other Role rules.
"""

from __future__ import annotations

import argparse
import functools
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from drkit.testing import (
    app_sync,
    applications,
    applicationsets,
    auth,
    capacity,
    certificates,
    clusters,
    gojson,
    gpgkeys,
    projects,
    repocreds,
    repositories,
    seed,
    session,
    versions,
    workers,
)
from drkit.testing.capacity import OPERATION_PROCESSORS, STATUS_PROCESSORS, Capacity, ServerCost
from drkit.testing.gateway import Gateway, serve
from drkit.testing.kube import kubeconfig
from drkit.testing.kube.rbac import FULL_ACCESS, Rule
from drkit.testing.kube.server import KubeApi
from drkit.testing.state import State

# Every simulated operation: swagger operationId -> module-level handler(state, request)
HANDLERS = {
    **session.HANDLERS,
    **applications.HANDLERS,
    **app_sync.HANDLERS,
    **applicationsets.HANDLERS,
    **projects.HANDLERS,
    **repositories.HANDLERS,
    **repocreds.HANDLERS,
    **clusters.HANDLERS,
    **certificates.HANDLERS,
    **gpgkeys.HANDLERS,
}
WRITE_CREDENTIAL_PATHS = ("/api/v1/write-repositories", "/api/v1/write-repocreds")
# Argo CD's session service overrides auth for every method, so logout needs no valid token either
PUBLIC_OPERATIONS = {
    "VersionService_Version",
    "SettingsService_Get",
    "SessionService_Create",
    "SessionService_GetUserInfo",
    "SessionService_Delete",
}


class Simulator(State):
    """A fake Argo CD instance as strict as API-NOTES.md says the real one is, served over HTTP.

    The state (stored objects, RBAC, write verbs) is `State`'s; this adds the HTTP gateway, the controller
    thread and the lifecycle.
    """

    def __init__(
        self,
        *,
        token: str | None = None,
        admin_password: str = "password",
        namespace: str = "argocd",
        app_namespaces: tuple[str, ...] = (),
        argocd_version: str = "3.6",
        tracking_method: str = "",
        controller: bool = True,
        reconcile_seconds: float = 0.02,
        appset_seconds: float = 0.0,
        operation_processors: int = OPERATION_PROCESSORS,
        status_processors: int = STATUS_PROCESSORS,
        sync_seconds: float | None = None,
        server_cost: ServerCost | None = None,
        grpc_max_mb: float = 200.0,
        kube: bool = False,
        kube_rules: Iterable[Mapping[str, Any] | Rule] = FULL_ACCESS,
    ) -> None:
        super().__init__(
            namespace=namespace,
            app_namespaces=app_namespaces,
            admin_password=admin_password,
            argocd_version=argocd_version,
            tracking_method=tracking_method,
            grpc_max_mb=grpc_max_mb,
        )
        self.capacity = Capacity(
            operation_processors=operation_processors,
            status_processors=status_processors,
            reconcile_seconds=reconcile_seconds,
            sync_seconds=sync_seconds,
            appset_seconds=appset_seconds,
            server=server_cost or ServerCost(),
        )
        self.gateway = Gateway(self.authenticate, PUBLIC_OPERATIONS)
        self.gateway.cost = self.capacity.server
        self.gateway.types = gojson.Types(versions.lacks(self.release), versions.pointers(self.release))
        if self.release < versions.WRITE_CREDENTIALS:
            self.gateway.routes = [r for r in self.gateway.routes if not r.template.startswith(WRITE_CREDENTIAL_PATHS)]
        self.gateway.register({op: functools.partial(handler, self) for op, handler in HANDLERS.items()})
        if token and len(token.split(".")) != 3:
            raise ValueError("the simulator's --token must look like a JWT (three dot-separated parts)")
        self.token = token or self.mint_token("admin:apiKey")
        if token:
            self.static_tokens[token] = "admin:apiKey"
        self._server: Any = None
        self.kube_api = KubeApi(self.kube)  # served on start() only with kube=True
        self.serve_kube = kube
        self.kube_user = f"system:serviceaccount:{namespace}:drkit"
        self.kube_token = self.kube_api.add_user(self.kube_user, namespace, kube_rules)
        self.processors = workers.Controller(self, self.capacity)
        self.run_controller = controller
        self.initialize()

    # lifecycle -----------------------------------------------------------------------------------------

    def start(self, port: int = 0, kube_port: int = 0) -> Simulator:
        self._server = serve(self.gateway, "127.0.0.1", port)
        if self.serve_kube:
            self.kube_api.start(kube_port)
        if self.run_controller:
            self.processors.start()
        return self

    def stop(self) -> None:
        self.stopping.set()
        self.notify()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        self.kube_api.stop()

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

    # the Kubernetes API ---------------------------------------------------------------------------------

    @property
    def kube_url(self) -> str:
        """The simulated cluster's API server (needs `kube=True` and a started simulator)."""
        return self.kube_api.url

    def kube_grant(self, user: str, rules: Iterable[Mapping[str, Any] | Rule], *, namespace: str | None = None) -> str:
        """A new bearer token for `user`, whose Role in `namespace` (default Argo CD's) has these rules
        (`{verbs, resources, resourceNames?}` as in a Role's YAML)."""
        return self.kube_api.add_user(user, namespace or self.namespace, rules)

    def write_kubeconfig(
        self,
        path: str | os.PathLike[str],
        *,
        context: str = "drkit-simulator",
        namespace: str | None = None,
        token: str | None = None,
    ) -> Path:
        """Write a kubeconfig (mode 0600) for the simulated cluster: one context, `namespace` (default Argo CD's)
        its namespace, a token user (default `kube_token`); `kubernetes.config.load_kube_config` reads it."""
        document = kubeconfig.kubeconfig(
            self.kube_url, token or self.kube_token, context=context, namespace=namespace or self.namespace
        )
        return kubeconfig.write(path, document)

    # auth and seeding ----------------------------------------------------------------------------------

    def mint_token(self, sub: str, *, expires_in: int | None = None, jti: str | None = None) -> str:
        """An HS256 JWT signed with this instance's key (see auth.mint_token)."""
        return auth.mint_token(self, sub, expires_in=expires_in, jti=jti)

    def authenticate(self, token: str) -> dict[str, Any]:
        """Claims of a valid token, else Argo CD's 401 (see auth.authenticate)."""
        return auth.authenticate(self, token)

    def seed(self, document: dict[str, Any]) -> None:
        """Load a seed document (see drkit/testing/seed.py) through this instance's own API handlers."""
        seed.load(self, document)


def _release(text: str) -> str:
    """An --argocd-version the simulator models (argparse turns the ValueError into a usage error)."""
    try:
        versions.Release.parse(text)
    except ValueError as err:
        raise argparse.ArgumentTypeError(str(err)) from None
    return text


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m drkit.testing.sim",
        description=__doc__,
        epilog="With `-- COMMAND...`, the simulator runs only while COMMAND does, on a free port unless --port is "
        "given, and COMMAND finds it through ARGOCD_SERVER, ARGOCD_PLAINTEXT and ARGOCD_AUTH_TOKEN (with --kube also "
        "KUBECONFIG, for the simulated cluster, context namespace argocd); the exit code is COMMAND's. Example: "
        "python -m drkit.testing.sim --seed demo -- drkit export --instance demo",
    )
    parser.add_argument("--port", type=int, help="port on 127.0.0.1 [default: 8080, or a free one with a command]")
    parser.add_argument("--token", help="accept this JWT-shaped token as the admin's API key")
    parser.add_argument("--seed", help="'demo', or a YAML seed file, to start with a populated instance")
    parser.add_argument("--app-namespace", action="append", default=[], help="enable apps in this namespace")
    parser.add_argument(
        "--appset-seconds", type=float, default=0.0, help="the ApplicationSet controller generates this much later"
    )
    parser.add_argument(
        "--argocd-version",
        default="3.6",
        type=_release,
        help="behave as this Argo CD release: 2.10 to 3.6, with a patch where it matters (3.1.1) [default: 3.6]",
    )
    parser.add_argument(
        "--tracking-method",
        default="",
        choices=("", "label", "annotation", "annotation+label"),
        help="argocd-cm application.resourceTrackingMethod [default: unset, the release's default]",
    )
    capacity.add_arguments(parser)
    parser.add_argument(
        "--grpc-max-mb", type=float, default=200.0, help="argocd-server's ARGOCD_GRPC_MAX_SIZE_MB [default: 200]"
    )
    parser.add_argument(
        "--kube",
        action="store_true",
        help="also serve the simulated cluster's Kubernetes API (ConfigMaps, Secrets); COMMAND gets KUBECONFIG",
    )
    parser.add_argument("--kube-port", type=int, default=0, help="its port on 127.0.0.1 [default: a free one]")
    parser.add_argument("--kubeconfig", help="write its kubeconfig here [default: a temporary file]")
    parser.add_argument("command", nargs=argparse.REMAINDER, help="-- COMMAND [ARGS...] to run against it")
    args = parser.parse_args(argv)
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if args.token is not None and len(args.token.split(".")) != 3:
        parser.error("--token must look like a JWT: three dot-separated parts, such as README.md's DEMO token")
    sim = Simulator(
        token=args.token,
        app_namespaces=tuple(args.app_namespace),
        appset_seconds=args.appset_seconds,
        argocd_version=args.argocd_version,
        tracking_method=args.tracking_method,
        grpc_max_mb=args.grpc_max_mb,
        kube=args.kube,
        **capacity.from_arguments(args),
    )
    if args.seed:
        sim.seed(seed.read(args.seed))
    sim.start(args.port if args.port is not None else (0 if command else 8080), args.kube_port)
    print(f"Argo CD simulator on {sim.url}", file=sys.stderr)
    with tempfile.TemporaryDirectory(prefix="drkit-sim-") as scratch:
        config = sim.write_kubeconfig(args.kubeconfig or Path(scratch, "kubeconfig")) if args.kube else None
        if config is not None:
            print(f"Kubernetes API on {sim.kube_url}, kubeconfig {config}", file=sys.stderr)
        return _run(sim, args, command, config)


def _run(sim: Simulator, args: argparse.Namespace, command: list[str], config: Path | None) -> int:
    """Run COMMAND against the simulator (its exit code), or serve until interrupted (0)."""
    if command:
        env = dict(os.environ, ARGOCD_SERVER=sim.address, ARGOCD_PLAINTEXT="true", ARGOCD_AUTH_TOKEN=sim.token)
        if config is not None:
            env["KUBECONFIG"] = str(config)
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
