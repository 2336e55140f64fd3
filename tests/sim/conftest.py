"""Fixtures for the simulator's own tests: an authenticated API client, app bodies, a controller-less instance."""

from __future__ import annotations

import contextlib
import copy
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
import requests

from drkit.testing import Simulator

GUESTBOOK = "https://github.com/argoproj/argocd-example-apps.git"
IN_CLUSTER = "https://kubernetes.default.svc"


class Api:
    """requests against one simulator with a bearer token and Argo CD's content type."""

    def __init__(self, sim: Simulator, token: str | None = None) -> None:
        self.sim = sim
        self.session = requests.Session()
        self.session.headers["Authorization"] = f"Bearer {token or sim.token}"
        self.session.headers["Content-Type"] = "application/json"

    def __call__(self, method: str, path: str, body: Any = None, **kwargs: Any) -> requests.Response:
        kwargs.setdefault("timeout", 10)
        return self.session.request(method, self.sim.url + path, json=body, **kwargs)

    def get(self, path: str, **kwargs: Any) -> requests.Response:
        return self("GET", path, **kwargs)

    def post(self, path: str, body: Any = None, **kwargs: Any) -> requests.Response:
        return self("POST", path, {} if body is None else body, **kwargs)

    def put(self, path: str, body: Any = None, **kwargs: Any) -> requests.Response:
        return self("PUT", path, body, **kwargs)

    def delete(self, path: str, **kwargs: Any) -> requests.Response:
        return self("DELETE", path, **kwargs)

    def as_user(self, subject: str) -> Api:
        """A client for another JWT subject (policies come from sim.policies)."""
        return Api(self.sim, self.sim.mint_token(subject))


def first_live_event(api: Api, path: str, create: Callable[[int], Any], **kwargs: Any) -> requests.Response:
    """Open a watch that has no initial events and so no response yet (watch.py); call create(i) until the
    watch, once the server registered it, answers with the first object created after it."""
    with ThreadPoolExecutor(1) as pool:
        opening = pool.submit(api.get, path, stream=True, timeout=10, **kwargs)
        assert not opening.done(), "a watch with no initial events answered before any event"
        for attempt in range(50):
            create(attempt)
            with contextlib.suppress(TimeoutError):
                return opening.result(timeout=0.2)
    raise AssertionError(f"{path} never answered")


def app_body(name: str = "guestbook", **spec: Any) -> dict[str, Any]:
    """An Application create body; keyword arguments override spec keys."""
    body: dict[str, Any] = {
        "metadata": {"name": name},
        "spec": {
            "project": "default",
            "source": {"repoURL": GUESTBOOK, "path": "guestbook", "targetRevision": "HEAD"},
            "destination": {"server": IN_CLUSTER, "namespace": "default"},
        },
    }
    body["spec"].update(copy.deepcopy(spec))
    return body


@pytest.fixture
def api(sim: Simulator) -> Api:
    """An admin client for the `sim` fixture."""
    return Api(sim)


@pytest.fixture
def make_app() -> Callable[..., dict[str, Any]]:
    return app_body


@pytest.fixture
def paused() -> Iterator[Simulator]:
    """A simulator whose controller does not run: tests step it with controller.tick(sim)."""
    with Simulator(controller=False) as instance:
        yield instance


@pytest.fixture
def papi(paused: Simulator) -> Api:
    """An admin client for the `paused` simulator."""
    return Api(paused)


# the simulated Kubernetes API (drkit/testing/kube) -------------------------------------------------------------


@pytest.fixture
def ksim() -> Iterator[Simulator]:
    """A simulator serving the Kubernetes API too (kube=True), its controller paused."""
    with Simulator(kube=True, controller=False) as instance:
        yield instance
    crashes = instance.gateway.crashes + instance.kube_api.crashes
    assert not crashes, "the simulator crashed:\n" + "\n".join(crashes)


class Kube:
    """Raw HTTP against the simulated Kubernetes API, with a bearer token (or none)."""

    def __init__(self, sim: Simulator, token: str | None = None, *, anonymous: bool = False) -> None:
        self.sim = sim
        self.session = requests.Session()
        if not anonymous:
            self.session.headers["Authorization"] = f"Bearer {token or sim.kube_token}"

    def __call__(self, method: str, path: str, body: Any = None, **kwargs: Any) -> requests.Response:
        kwargs.setdefault("timeout", 10)
        if body is not None and "data" not in kwargs:
            kwargs["json"] = body
        return self.session.request(method, self.sim.kube_url + path, **kwargs)

    def secrets(self, name: str = "", namespace: str = "argocd") -> str:
        return f"/api/v1/namespaces/{namespace}/secrets" + (f"/{name}" if name else "")

    def configmaps(self, name: str = "", namespace: str = "argocd") -> str:
        return f"/api/v1/namespaces/{namespace}/configmaps" + (f"/{name}" if name else "")


@pytest.fixture
def kube(ksim: Simulator) -> Kube:
    """Raw HTTP with the simulator's full-access token."""
    return Kube(ksim)


@pytest.fixture
def core(ksim: Simulator, tmp_path: Any) -> Any:
    """The official client's CoreV1Api, configured from a kubeconfig the simulator wrote."""
    kubernetes = pytest.importorskip("kubernetes")
    path = ksim.write_kubeconfig(tmp_path / "kubeconfig", namespace="argocd")
    return kubernetes.client.CoreV1Api(kubernetes.config.new_client_from_config(config_file=str(path)))
