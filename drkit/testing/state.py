"""The simulated Argo CD's state: its stored objects, the write verbs that keep Kubernetes metadata, and RBAC.

Handlers and the controller read and write only through this. `lock` guards every dict; `changed` is notified
on every write so watch streams, waiting refreshes and the controller wake up. Stored applications and
ApplicationSets are never mutated in place: every write builds a new dict, stamps it and replaces the old
one, so watch-journal entries and responses already handed out stay consistent snapshots.

Argo CD's namespace lives in `kube`, the simulated cluster's core/v1 store (kube/store.py), seeded as a fresh
install (install.py). As in Argo CD, repositories, credential templates and clusters are labelled Secrets there
(`repositories`, `repocreds`, `write_repocreds`, `clusters` are views over them, secret_db.py), `secret_key` is
argocd-secret's `server.secretkey` and local-account passwords are its `admin.password` /
`accounts.<name>.password`: whatever writes those Secrets, through the Argo CD API or the Kubernetes API,
changes what this instance serves and accepts at once. One resourceVersion counter serves both APIs, as etcd's
revision does.
"""

from __future__ import annotations

import base64
import fnmatch
import threading
import time
import uuid
from collections.abc import Callable
from typing import Any

from drkit.testing import install, specs
from drkit.testing import secret_codec as codec
from drkit.testing.clock import now, timestamp
from drkit.testing.known_hosts import DEFAULT_KNOWN_HOSTS
from drkit.testing.kube.store import Store
from drkit.testing.rpc import NOT_FOUND, PERMISSION_DENIED, GrpcError, Request
from drkit.testing.secret_db import SecretIndex, SecretView
from drkit.testing.specs import clone
from drkit.testing.versions import Release
from drkit.testing.watch import Journal

DEFAULT_PROJECT_SPEC = {
    "sourceRepos": ["*"],
    "destinations": [{"server": "*", "namespace": "*"}],
    "clusterResourceWhitelist": [{"group": "*", "kind": "*"}],
}
Key = tuple[str, str]  # (namespace, name)


class State:
    """What one Argo CD instance holds, as Argo CD holds it: secrets stored, never returned."""

    def __init__(
        self,
        *,
        namespace: str = "argocd",
        app_namespaces: tuple[str, ...] = (),
        admin_password: str = "password",
        argocd_version: str = "3.6",
        tracking_method: str = "",
        grpc_max_mb: float = 200.0,
    ) -> None:
        self.namespace = namespace
        self.grpc_max_mb = grpc_max_mb  # argocd-server's ARGOCD_GRPC_MAX_SIZE_MB: the largest answer (grpc_limit.py)
        self.release = Release.parse(argocd_version)  # which Argo CD release this instance behaves as
        self.tracking_method = tracking_method  # argocd-cm `application.resourceTrackingMethod`, "" when unset
        self.app_namespaces = list(app_namespaces)
        self.password_mtime: dict[str, int] = {}  # account -> when its password last changed (PasswordMtime)
        self.static_tokens: dict[str, str] = {}
        self.policies: dict[str, list[tuple[str, str, str]]] = {"admin": [("*", "*", "*")]}
        self.lock = threading.RLock()
        self.changed = threading.Condition(self.lock)
        self.stopping = threading.Event()
        self.journal = Journal(self.changed)
        self.app_waiters: dict[Key, list[threading.Event]] = {}  # set at the next write of that app (await_app)
        self.rv = 1000
        self.applications: dict[Key, dict[str, Any]] = {}
        self.applicationsets: dict[Key, dict[str, Any]] = {}
        self.projects: dict[str, dict[str, Any]] = {}
        # the simulated cluster, Argo CD's namespace in it a fresh install's, and the Secrets Argo CD reads there
        self.kube = Store(lock=self.lock, next_rv=self.next_rv)
        for ns in (namespace, *self.app_namespaces):
            self.kube.add_namespace(ns)
        install.seed(self.kube, namespace, admin_password)
        self.secrets = SecretIndex(self.kube, namespace, on_change=self.notify)
        self.repositories = SecretView(self.secrets, codec.REPOSITORY)  # (normalize_url(url), project) -> repo
        self.write_repositories = SecretView(self.secrets, codec.REPOSITORY_WRITE)
        self.repocreds = SecretView(self.secrets, codec.REPO_CREDS)  # url -> template
        self.write_repocreds = SecretView(self.secrets, codec.REPO_CREDS_WRITE)
        self.clusters = SecretView(self.secrets, codec.CLUSTER)  # server (no trailing /) -> cluster
        self.gpgkeys: dict[str, dict[str, Any]] = {}
        self.unreachable: set[str] = set()  # repo URLs and cluster servers whose connection test fails
        self.unhealthy: set[str] = set()  # app names the controller never makes Healthy
        self.pending: set[tuple[str, Key]] = set()  # controller work: (kind 'app'|'appset', key)
        # Apps the controller synced by itself (automated sync), in order, with the syncPolicy that armed it: a test
        # can assert that nothing a restore wrote synced before drkit re-armed it.
        self.auto_synced: list[tuple[Key, dict[str, Any]]] = []

    @property
    def version(self) -> str:
        """What `/api/version` answers as `Version`, e.g. `v3.6.0+37ee009`."""
        return self.release.build()

    # settings in argocd-secret and argocd-cm ----------------------------------------------------------------

    @property
    def secret_key(self) -> bytes:
        """argocd-secret `server.secretkey`: the HS256 key of every token this instance issues and accepts."""
        return self.secrets.settings.get(install.SECRET_KEY, b"")

    @secret_key.setter
    def secret_key(self, key: bytes) -> None:
        install.update_secret(self.kube, self.namespace, {install.SECRET_KEY: key})

    @property
    def accounts(self) -> dict[str, dict[str, Any]]:
        """Local accounts from argocd-cm and argocd-secret: `{password, enabled, capabilities}` by name."""
        with self.lock:
            cm = self.kube.find("configmaps", self.namespace, install.ARGOCD_CM)
            return install.accounts((cm or {}).get("data") or {}, self.secrets.settings)

    @property
    def certificates(self) -> tuple[dict[str, Any], ...]:
        """TLS certificates and SSH known hosts, as Argo CD keeps them (v3.5.1 util/db/certificate.go): one
        `<host> <type> <key>` line per SSH key in argocd-ssh-known-hosts-cm `ssh_known_hosts`, a PEM bundle per
        server name in argocd-tls-certs-cm. So a ConfigMap restored through Kubernetes is what the API lists."""
        with self.lock:
            ssh = self.kube.find("configmaps", self.namespace, "argocd-ssh-known-hosts-cm") or {}
            tls = self.kube.find("configmaps", self.namespace, "argocd-tls-certs-cm") or {}
        entries = []
        for line in ((ssh.get("data") or {}).get("ssh_known_hosts") or "").splitlines():
            parts = line.split()
            if len(parts) == 3 and not line.startswith("#"):
                host, sub, key = parts
                entries.append({"serverName": host, "certType": "ssh", "certSubType": sub, "certData": _b64(key)})
        for host, pem in (tls.get("data") or {}).items():
            entries.append({"serverName": host, "certType": "https", "certData": _b64(pem)})
        return tuple(entries)  # a copy: assign the whole list to change it (a mutated list would be lost)

    @certificates.setter
    def certificates(self, entries: list[dict[str, Any]] | tuple[dict[str, Any], ...]) -> None:
        lines = [
            f"{e['serverName']} {e['certSubType']} {_text(e['certData'])}" for e in entries if e["certType"] == "ssh"
        ]
        pems = {e["serverName"]: _text(e["certData"]) for e in entries if e["certType"] == "https"}
        ssh = {"ssh_known_hosts": "".join(f"{line}\n" for line in lines)} if lines else {}
        install.replace_configmap_data(self.kube, self.namespace, "argocd-ssh-known-hosts-cm", ssh)
        install.replace_configmap_data(self.kube, self.namespace, "argocd-tls-certs-cm", pems)

    @property
    def account_tokens(self) -> dict[str, list[dict[str, Any]]]:
        """API-key metadata per account, read from argocd-secret `accounts.<name>.tokens` (`admin.tokens`), so a
        restored argocd-secret brings the source's API keys back with its signing key, as in Argo CD."""
        with self.lock:
            return install.account_tokens(self.secrets.settings)

    def set_account_tokens(self, account: str, records: list[dict[str, Any]]) -> None:
        """Store an account's API-key records in argocd-secret, as SettingsManager.UpdateAccount does."""
        install.update_secret(self.kube, self.namespace, {install.tokens_key(account): install.stored_tokens(records)})

    @property
    def users(self) -> dict[str, str]:
        """Local account -> its stored password hash ("" when it has none)."""
        return {name: account["password"] for name, account in self.accounts.items()}

    def check_password(self, account: str, password: str) -> bool:
        """Is this account enabled, and is this its password (install.verify_password)?"""
        found = self.accounts.get(account) or {}
        return bool(found.get("enabled")) and install.verify_password(password, found.get("password", ""))

    def set_password(self, account: str, password: str) -> None:
        """Store a new password hash and its mtime in argocd-secret; older tokens of the account stop working."""
        stamp = install.mtime().encode()
        changes = {install.password_key(account): install.hash_password(password).encode()}
        install.update_secret(self.kube, self.namespace, changes | {install.mtime_key(account): stamp})
        self.password_mtime[account] = int(time.time())

    def initialize(self) -> None:
        """What a fresh install holds: project `default` and the default SSH known hosts (API-NOTES §3)."""
        with self.lock:
            default = {"metadata": {"name": "default", "namespace": self.namespace}, "spec": dict(DEFAULT_PROJECT_SPEC)}
            self.projects["default"] = self.stamp(default)
            self.certificates = [dict(c) for c in DEFAULT_KNOWN_HOSTS]

    # metadata and notifications --------------------------------------------------------------------------

    def next_rv(self) -> str:
        with self.lock:
            self.rv += 1
            return str(self.rv)

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
        self.notify()
        return obj

    def await_app(self, key: Key, done: Callable[[dict[str, Any] | None], bool], poll: float = 0.5) -> bool:
        """Wait until `done(app)` holds for the app at `key` (None once it is gone), woken by writes of that app
        alone; False when the simulator stops first. (A wait on `changed` would wake at every write of any app.)"""
        while not self.stopping.is_set():
            with self.lock:
                if done(self.applications.get(key)):
                    return True
                signal = threading.Event()
                self.app_waiters.setdefault(key, []).append(signal)
            signal.wait(poll)
        return False

    def _wake_app_waiters(self, key: Key) -> None:
        for signal in self.app_waiters.pop(key, ()):
            signal.set()

    def notify(self) -> None:
        with self.changed:
            self.changed.notify_all()

    def emit(self, kind: str, event: str, obj: dict[str, Any]) -> None:
        """Record a watch event (kind 'app' or 'appset', event ADDED/MODIFIED/DELETED) and wake watchers."""
        self.journal.record(kind, event, obj)

    def wake(self, kind: str, key: Key) -> None:
        """Ask the simulated controllers to look at one object ('app' or 'appset')."""
        with self.changed:
            self.pending.add((kind, key))
            self.changed.notify_all()

    # RBAC ------------------------------------------------------------------------------------------------

    def allowed(self, subject: str, resource: str, action: str, obj: str) -> bool:
        """RBAC: does `subject` (a JWT sub like `admin:apiKey`) hold resource/action on obj?"""
        user = subject if subject.startswith("proj:") else subject.split(":", 1)[0]
        return any(
            fnmatch.fnmatchcase(resource, res) and fnmatch.fnmatchcase(action, act) and fnmatch.fnmatchcase(obj, pat)
            for res, act, pat in self.policies.get(user, [])
        )

    def enforce(self, req: Request, resource: str, action: str, obj: str) -> None:
        """403 `permission denied: <res>, <act>, <obj>, sub: .., iat: ..` unless allowed (§6 item 9)."""
        if not self.allowed(req.subject, resource, action, obj):
            iat = timestamp(req.claims.get("iat", 0))
            raise GrpcError(
                PERMISSION_DENIED, f"permission denied: {resource}, {action}, {obj}, sub: {req.subject}, iat: {iat}"
            )

    def rbac_name(self, project: str, namespace: str, name: str) -> str:
        """`<proj>/<name>`, or `<proj>/<ns>/<name>` outside the control-plane namespace (RBACName)."""
        return f"{project}/{name}" if namespace == self.namespace else f"{project}/{namespace}/{name}"

    def app_rbac(self, app: dict[str, Any]) -> str:
        meta = app["metadata"]
        return self.rbac_name(app.get("spec", {}).get("project", "default"), meta["namespace"], meta["name"])

    def appset_rbac(self, appset: dict[str, Any]) -> str:
        meta = appset["metadata"]
        return self.rbac_name(specs.appset_project(appset), meta["namespace"], meta.get("name", ""))

    def app_enabled(self, namespace: str) -> bool:
        """May this namespace hold applications (the control plane's, or one of `--application-namespaces`)?"""
        return namespace == self.namespace or namespace in self.app_namespaces

    def find_app(self, req: Request, name: str, namespace: str, project: str, action: str) -> dict[str, Any]:
        """The app, with Argo CD's existence hiding: 403 when missing unless `project` is given (§6.10)."""
        namespace = namespace or self.namespace
        with self.lock:
            app = self.applications.get((namespace, name)) if self.app_enabled(namespace) else None
        if app is None or (project and app["spec"].get("project") != project):
            if project:
                self.enforce(req, "applications", "get", self.rbac_name(project, namespace, name))
                raise GrpcError(NOT_FOUND, f'applications.argoproj.io "{name}" not found')
            raise GrpcError(PERMISSION_DENIED, "permission denied")
        self.enforce(req, "applications", "get", self.app_rbac(app))
        if action != "get":
            self.enforce(req, "applications", action, self.app_rbac(app))
        return app

    # application and ApplicationSet writes (call with the lock held) ------------------------------------

    def put_app(self, key: Key, new: dict[str, Any], previous: dict[str, Any] | None) -> dict[str, Any]:
        """Stamp, store and announce an application write, and queue it for the controller."""
        return self._put("app", self.applications, key, new, previous)

    def _put(
        self, kind: str, store: dict[Key, Any], key: Key, new: dict[str, Any], previous: dict[str, Any] | None
    ) -> dict[str, Any]:
        self.stamp(new, previous)
        store[key] = new
        self.emit(kind, "MODIFIED" if previous else "ADDED", new)
        self.pending.add((kind, key))
        if kind == "app":
            self._wake_app_waiters(key)
        return new

    def remove_app(self, key: Key) -> None:
        """Delete an application for good and wake the ApplicationSet owning it."""
        app = self.applications.pop(key, None)
        if app is None:
            return
        gone = clone(app)
        gone["metadata"]["resourceVersion"] = self.next_rv()
        self.emit("app", "DELETED", gone)
        self._wake_app_waiters(key)
        for set_key, appset in self.applicationsets.items():
            if specs.owned(app, appset["metadata"].get("uid")):
                self.pending.add(("appset", set_key))

    def delete_app(self, key: Key, cascade: bool | None, policy: str) -> None:
        """Kubernetes delete with Argo CD's cascade finalizer (None: a plain delete, as GC does) (§6.21)."""
        current = self.applications[key]
        new = clone(current)
        meta = new["metadata"]
        finalizers = list(meta.get("finalizers") or [])
        ours = [f for f in finalizers if f.startswith(specs.RESOURCES_FINALIZER)]
        if cascade and not ours and not meta.get("deletionTimestamp"):
            finalizers.append(specs.POLICY_FINALIZERS[policy])
        elif cascade is False:
            finalizers = [f for f in finalizers if not f.startswith(specs.RESOURCES_FINALIZER)]
        specs.set_or_drop(meta, "finalizers", finalizers)
        if not finalizers:
            self.remove_app(key)
            return
        meta.setdefault("deletionTimestamp", now())
        meta["deletionGracePeriodSeconds"] = 0
        self.put_app(key, new, current)

    def put_appset(self, key: Key, new: dict[str, Any], previous: dict[str, Any] | None) -> dict[str, Any]:
        """Stamp, store and announce an ApplicationSet write, and queue it for the controller."""
        return self._put("appset", self.applicationsets, key, new, previous)

    def delete_appset(self, key: Key) -> None:
        """Remove a set; Kubernetes GC deletes its Applications, non-cascading with preserveResourcesOnDeletion."""
        appset = self.applicationsets.pop(key)
        gone = clone(appset)
        gone["metadata"]["resourceVersion"] = self.next_rv()
        self.emit("appset", "DELETED", gone)
        uid = appset["metadata"].get("uid")
        preserve = bool((appset["spec"].get("syncPolicy") or {}).get("preserveResourcesOnDeletion"))
        for app_key in [k for k, a in self.applications.items() if specs.owned(a, uid)]:
            self.delete_app(app_key, False if preserve else None, "")


def _b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def _text(encoded: str) -> str:
    return base64.b64decode(encoded).decode()
