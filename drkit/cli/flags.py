"""How the command line's flags become objects: the shared option sets, the store-and-instance decorator, the
API client and the credentials file from flags, environment and files. Prints nothing and never exits: cli.py
does both.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import click

from drkit.argocd.client import Client, server_url
from drkit.argocd.kinds import parse_kinds
from drkit.backup import sealing, signing
from drkit.backup.store import Store, open_store
from drkit.errors import ConfigError

DEFAULT_STORE = "./drkit-backups"
Decorator = Callable[[Callable[..., Any]], Callable[..., Any]]


def opt(*names: str, **kw: Any) -> Decorator:
    """A click option; one read from the environment says so in --help."""
    if "envvar" in kw:
        kw.setdefault("show_envvar", True)
    return click.option(*names, **kw)


store_options = [
    opt("--store", envvar="DRKIT_STORE", default=DEFAULT_STORE, help="s3://bucket[/prefix], or a local directory."),
    opt("--instance", envvar="DRKIT_INSTANCE", help="Instance name in the store [default: the server's host]."),
]
server_options = [
    opt(
        "--server",
        envvar="ARGOCD_SERVER",
        help="Argo CD API server: https://host[:port], http://host:port or host[:port].",
    ),
    opt("--auth-token", envvar="ARGOCD_AUTH_TOKEN", help="Argo CD API token (prefer --auth-token-file)."),
    opt("--auth-token-file", type=click.Path(dir_okay=False), help="Read the token from this file (a mounted Secret)."),
    opt("--username", envvar="ARGOCD_USERNAME", help="Log in with a local account instead of a token."),
    opt("--password", envvar="ARGOCD_PASSWORD", help="Password for --username."),
    opt("--insecure", is_flag=True, envvar="ARGOCD_INSECURE", help="Skip TLS certificate verification."),
    opt("--plaintext", is_flag=True, envvar="ARGOCD_PLAINTEXT", help="Use http for a bare host[:port]."),
    opt("--ca-bundle", type=click.Path(dir_okay=False, exists=True), help="PEM bundle to verify the server with."),
    opt("--request-timeout", type=float, default=30.0, help="Seconds to wait for one API answer."),
]
naming_options = [
    opt("--server", envvar="ARGOCD_SERVER", help="Only used to name the instance."),
    opt("--plaintext", is_flag=True, hidden=True),
]
identity_option = opt(
    "--identity",
    type=click.Path(dir_okay=False, exists=True),
    help="age identity file to read an encrypted backup (a KMS-encrypted one needs only AWS access to the key).",
)
encrypt_option = opt(
    "--encrypt",
    envvar="DRKIT_ENCRYPT",
    metavar="age:RECIPIENT|kms:KEY_ID",
    help="Encrypt every object (and the manifest's server and warnings) on the client before it is stored.",
)
sign_key_option = opt(
    "--sign-key",
    envvar="DRKIT_SIGN_KEY",
    metavar="FILE|kms:KEY_ID",
    help="HMAC key (a file, or a KMS HMAC key) that signs the manifest at export and must have signed it to read.",
)
kube_options = [
    opt(
        "--kube",
        is_flag=True,
        envvar="DRKIT_KUBE",
        help="Also Argo CD's ConfigMaps and Secrets, through the Kubernetes API.",
    ),
    opt("--kube-namespace", envvar="DRKIT_KUBE_NAMESPACE", default="argocd", help="Argo CD's namespace, for --kube."),
    opt(
        "--kubeconfig",
        type=click.Path(dir_okay=False),
        help="kubeconfig for --kube [default: $KUBECONFIG, ~/.kube/config, or the pod's service account].",
    ),
    opt("--kube-context", help="kubeconfig context for --kube [default: its current context]."),
]
output_option = opt("-o", "--output", type=click.Choice(["text", "json"]), default="text", help="Output format.")


def apply_options(options: list[Decorator]) -> Decorator:
    """Several options as one decorator, in the order given."""

    def decorate(fn: Callable[..., Any]) -> Callable[..., Any]:
        for option in reversed(options):
            fn = option(fn)
        return fn

    return decorate


def make_client(
    server: str | None,
    auth_token: str | None,
    auth_token_file: str | None,
    username: str | None,
    password: str | None,
    insecure: bool,
    plaintext: bool,
    ca_bundle: str | None,
    request_timeout: float,
) -> Client:
    """The API client from flags, environment and files; the token is never echoed."""
    if not server:
        raise ConfigError("no Argo CD server given", hint="pass --server or set ARGOCD_SERVER")
    options = {"plaintext": plaintext, "insecure": insecure, "ca_bundle": ca_bundle, "timeout": request_timeout}
    if auth_token_file:
        try:
            with open(auth_token_file, encoding="utf-8") as fh:
                auth_token = fh.read().strip()
        except OSError as err:
            raise ConfigError(f"cannot read --auth-token-file {auth_token_file}: {err.strerror}") from None
    if auth_token:
        return Client(server, auth_token, **options)
    if username and password:
        return Client.login(server, username, password, **options)
    raise ConfigError(
        "no Argo CD credentials given",
        hint="pass --auth-token-file, --auth-token or ARGOCD_AUTH_TOKEN, or --username and --password",
    )


def instance_name(instance: str | None, server: str | None, plaintext: bool, store: Store) -> str:
    """`--instance`, else the server's host name, else the store's only instance."""
    if instance:
        return instance
    if server:
        return urlsplit(server_url(server, plaintext=plaintext)).hostname or ""
    found = [name.rstrip("/") for name in store.list("") if name.endswith("/")]
    if len(found) == 1:
        return found[0]
    raise ConfigError(
        f"say which instance: {store.url} holds {', '.join(found) or 'no instance'}",
        hint="pass --instance NAME or --server, or set DRKIT_INSTANCE",
    )


@dataclass(frozen=True)
class Place:
    """Where a command works: the opened store and the instance's name in it."""

    store: Store
    instance: str


def at_instance(*, by_server: bool = True, naming_flags: bool = False) -> Decorator:
    """--store and --instance, opened and named once for a command, which receives `place` instead.

    The instance defaults to --server's host (`by_server`; a drill's --server is its scratch target, not the
    source), else the store's only instance. `naming_flags` adds --server and --plaintext for commands that
    talk to no Argo CD and take them only to name the instance. An export's --sse, --kms-key-id and
    --object-lock-days open the store too.
    """

    def decorate(fn: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(fn)
        def run(*args: Any, store: str, instance: str | None, **kwargs: Any) -> Any:
            writing = {k: kwargs.pop(k) for k in ("sse", "kms_key_id", "object_lock_days") if k in kwargs}
            if writing.get("sse") == "none":
                writing["sse"] = None
            opened = open_store(store, **writing)
            server = kwargs.pop("server", None) if naming_flags else kwargs.get("server")
            plaintext = kwargs.pop("plaintext", False) if naming_flags else kwargs.get("plaintext", False)
            name = instance_name(instance, server if by_server else None, plaintext, opened)
            return fn(*args, place=Place(opened, name), **kwargs)

        options = store_options + (naming_options if naming_flags else [])
        return apply_options(options)(run)

    return decorate


def with_keys(fn: Callable[..., Any]) -> Callable[..., Any]:
    """--identity and --sign-key, read once; the command receives `keys`: what opens and authenticates a backup."""

    @functools.wraps(fn)
    def run(*args: Any, identity: str | None, sign_key: str | None, **kwargs: Any) -> Any:
        return fn(*args, keys=read_keys(identity, sign_key), **kwargs)

    return apply_options([identity_option, sign_key_option])(run)


def read_keys(identity: str | None, sign_key: str | None = None) -> sealing.Keys:
    """The `--identity` file's text, KMS through boto3's chain, and the `--sign-key` the manifest must carry."""
    text = _read_file(identity, "--identity").decode("utf-8", "replace") if identity else None
    return sealing.Keys(text, sealing.kms_client, read_sign_key(sign_key))


def read_sign_key(spec: str | None) -> signing.SignKey | None:
    """`--sign-key`: `kms:KEY_ID`, or a file holding the HMAC key."""
    if not spec:
        return None
    if spec.startswith("kms:"):
        return signing.from_kms(spec.removeprefix("kms:"), sealing.kms_client)
    return signing.from_bytes(_read_file(spec, "--sign-key"), spec)


def export_seal(encrypt: str | None) -> sealing.Seal | None:
    """`--encrypt`, checked (and a KMS data key made) before anything is read from Argo CD."""
    return sealing.for_export(encrypt, sealing.kms_client) if encrypt else None


def _read_file(path: str, flag: str) -> bytes:
    try:
        with open(path, "rb") as fh:
            return fh.read()
    except OSError as err:
        raise ConfigError(f"cannot read {flag} {path}: {err.strerror or err}") from None


def kinds_option(text: str | None) -> tuple[str, ...]:
    """`--kinds`, with an unknown kind as a configuration error."""
    try:
        return parse_kinds(text)
    except ValueError as err:
        raise ConfigError(str(err)) from None


def load_credentials(path: str | None) -> Any:
    """The resolved credentials file, or None; every entry is resolved now, before anything is written."""
    if not path:
        return None
    from drkit.restore import credentials, secretsmanager

    return credentials.load(path, env=dict(os.environ), fetch_secret=secretsmanager.fetcher())


def kube_client(kube: bool, kube_namespace: str, kubeconfig: str | None, kube_context: str | None) -> Any:
    """The Kubernetes client --kube asked for, or None without it (and then no Kubernetes flag may be given)."""
    if not kube:
        given = [flag for flag, value in (("--kubeconfig", kubeconfig), ("--kube-context", kube_context)) if value]
        if given:
            raise ConfigError(f"{', '.join(given)} without --kube", hint="add --kube, or leave them out")
        return None
    from drkit.kube.client import KubeClient

    return KubeClient.connect(kube_namespace, kubeconfig=kubeconfig, context=kube_context)
