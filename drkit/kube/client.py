"""The Kubernetes API client for ConfigMaps and Secrets in one namespace, over the official `kubernetes` library.

The library finds the credentials as kubectl does: `--kubeconfig`, else $KUBECONFIG or ~/.kube/config with its
current (or the named) context and exec credential plugins (EKS, GKE), else the in-cluster service account. Objects
are read and written as plain JSON (`_preload_content=False`): the library's model classes cost more than the
requests, and a Secret's values must never pass through a repr. Lists are read in chunks (`limit`/`continue`).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from drkit.errors import ApiError, AuthError, ConfigError, ConnectionFailed, PermissionDenied

Doc = dict[str, Any]
CHUNK = 500  # objects per list page, as kubectl asks for
RESOURCE = {"configmaps": "configmaps", "secrets": "secrets"}


class KubeDenied(PermissionDenied):
    """A Kubernetes RBAC rule is missing: nothing more is done, and the message names the rule to grant."""

    exit_code = 2


class KubeClient:
    """ConfigMaps and Secrets of one namespace; never holds a value in its repr."""

    def __init__(self, api: Any, namespace: str, where: str) -> None:
        self.api, self.namespace, self.where = api, namespace, where

    def __repr__(self) -> str:
        return f"KubeClient({self.where!r}, namespace={self.namespace!r})"

    @classmethod
    def connect(cls, namespace: str, *, kubeconfig: str | None = None, context: str | None = None) -> KubeClient:
        """A client from the kubeconfig (or the pod's service account); ConfigError when there is neither."""
        try:
            from kubernetes import client, config
            from kubernetes.config.config_exception import ConfigException
        except ImportError:
            raise ConfigError("--kube needs the Kubernetes client", hint="pip install 'drkit[kube]'") from None
        configuration = client.Configuration()
        try:
            if kubeconfig or context:
                config.load_kube_config(config_file=kubeconfig, context=context, client_configuration=configuration)
            else:
                config.load_config(client_configuration=configuration)
        except (ConfigException, OSError, TypeError, ValueError) as err:
            raise ConfigError(
                f"no Kubernetes credentials: {str(err)[:200]}",
                hint="pass --kubeconfig (and --kube-context), set KUBECONFIG, or run in a pod with a service account",
            ) from None
        return cls(client.CoreV1Api(client.ApiClient(configuration)), namespace, configuration.host)

    def get(self, kind: str, name: str) -> Doc | None:
        """One object, or None when it does not exist."""
        return self._call("get", kind, name, None, lambda: self._read(kind, name))

    def list(self, kind: str, label_selector: str = "") -> Iterator[Doc]:
        """Every object of `kind` matching the selector, read a chunk at a time."""
        token = None
        while True:
            page = self._call("list", kind, "", None, lambda t=token: self._list(kind, label_selector, t))
            yield from page.get("items") or []
            token = (page.get("metadata") or {}).get("continue")
            if not token:
                return

    def create(self, kind: str, body: Doc) -> Doc:
        name = body["metadata"]["name"]
        method = getattr(self.api, f"create_namespaced_{_singular(kind)}")
        return self._call(
            "create", kind, name, body, lambda: _json(method(self.namespace, body, _preload_content=False))
        )

    def replace(self, kind: str, body: Doc) -> Doc:
        """An update of the whole object; its `metadata.resourceVersion` must be the live one (else 409)."""
        name = body["metadata"]["name"]
        method = getattr(self.api, f"replace_namespaced_{_singular(kind)}")
        call = lambda: _json(method(name, self.namespace, body, _preload_content=False))  # noqa: E731
        return self._call("update", kind, name, body, call)

    def _read(self, kind: str, name: str) -> Doc:
        method = getattr(self.api, f"read_namespaced_{_singular(kind)}")
        return _json(method(name, self.namespace, _preload_content=False))

    def _list(self, kind: str, selector: str, token: str | None) -> Doc:
        method = getattr(self.api, f"list_namespaced_{_singular(kind)}")
        options: dict[str, Any] = {"limit": CHUNK, "_preload_content": False}
        if selector:
            options["label_selector"] = selector
        if token:
            options["_continue"] = token
        return _json(method(self.namespace, **options))

    def _call(self, verb: str, kind: str, name: str, body: Doc | None, call: Any) -> Any:
        from kubernetes.client.exceptions import ApiException
        from urllib3.exceptions import HTTPError

        what = f"{kind[:-1]} {self.namespace}/{name}" if name else f"{kind} in namespace {self.namespace}"
        try:
            return call()
        except ApiException as err:
            if err.status == 404 and verb == "get":
                return None
            raise _error(verb, kind, name, self.namespace, what, err) from None
        except HTTPError as err:
            raise ConnectionFailed(
                f"{what}: the Kubernetes API at {self.where} could not be reached ({type(err).__name__})",
                hint="check --kubeconfig/--kube-context and the network to the API server",
            ) from None


def _singular(kind: str) -> str:
    return {"configmaps": "config_map", "secrets": "secret"}[kind]


def _json(response: Any) -> Doc:
    return json.loads(response.data or b"{}")


def _status(err: Any) -> Doc:
    try:
        return json.loads(err.body or "{}")
    except (TypeError, ValueError):
        return {}


def _error(verb: str, kind: str, name: str, namespace: str, what: str, err: Any) -> ApiError:
    """A typed error with the API server's own Status message (it names no value), and the next step."""
    status = _status(err)
    message = str(status.get("message") or err.reason or "")[:300]
    text = f"{what}: Kubernetes answered HTTP {err.status}" + (f": {message}" if message else "")
    if err.status == 403:
        rule = f"verb {verb} on resource {RESOURCE[kind]}" + (f" named {name}" if name and verb != "create" else "")
        return KubeDenied(
            text, status=403, hint=f"grant the Role in namespace {namespace} {rule} (runbooks/least-privilege.md)"
        )
    if err.status == 401:
        return AuthError(
            text, status=401, hint="the Kubernetes credentials were refused: check --kubeconfig/--kube-context"
        )
    if err.status == 409:
        return ApiError(text, status=409, hint="it changed while drkit wrote it: run the restore again")
    return ApiError(text, status=err.status or 0, hint="nothing more was written to this namespace")
