"""Restore's Kubernetes half (`--kube`): the captured ConfigMaps and Secrets planned against the target namespace
and written before any API object, and the repository and cluster credentials their Secrets hold.

Written first, the labelled Secrets are repositories, credential templates and clusters at once (Argo CD reads
them from its namespace), so the API restore that follows meets them and leaves them unchanged; argocd-secret
brings back the token signing key, so the source's project role tokens stay valid (`keeps_tokens`), unless
`--kube-keep-target-secretkey` keeps the target's own.
"""

from __future__ import annotations

import base64
import copy
import json
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from typing import Any

from drkit.argocd.urls import normalize_server
from drkit.errors import ApiError, AuthError, Stop
from drkit.kube import kinds as kk
from drkit.kube.client import KubeClient
from drkit.restore.credentials import FIELDS, Credentials
from drkit.restore.remap import remap_repo_url
from drkit.restore.report import Outcome
from drkit.restore.values import B64, BOOL, INT, SECRET, SECRET_LIST, SECRET_MAP, Secret

Doc = dict[str, Any]
WORKERS = 8  # Kubernetes requests in flight at once (the client's connection pool holds as many)
SECTION = {"repository": "repositories", "repo-creds": "repocreds", "cluster": "clusters"}
REPOSITORY_TYPES = {"repository": False, "repository-write": False, "repo-creds": True, "repo-write-creds": True}


@dataclass
class KubeTarget:
    """Where and how a restore writes the captured objects."""

    client: KubeClient
    keep_target_key: bool = False  # --kube-keep-target-secretkey
    remap_clusters: dict[str, str] = field(default_factory=dict)
    remap_repos: dict[str, str] = field(default_factory=dict)


@dataclass
class KubeStep:
    kind: str
    name: str
    action: str  # create | update | unchanged | skip
    body: Doc
    live: Doc | None
    keys: list[str]  # the data keys that differ, by name only
    reason: str | None = None

    @property
    def changes(self) -> list[str]:
        """What differs, as a plan step names it: `data.<key>` (never a value)."""
        return [f"data.{k}" for k in self.keys]


def plan(target: KubeTarget, objects: dict[str, list[Doc]]) -> list[KubeStep]:
    """Each captured object against the live one (all read before any write; a missing rule stops here).

    Objects are read one GET each, WORKERS at a time: a list would be one request, but needs `list` on every
    Secret of the namespace, which the restore's Role does without (runbooks/least-privilege.md).
    """
    docs = [(kind, doc) for kind in kk.KUBE_KINDS for doc in objects.get(kind, [])]
    with ThreadPoolExecutor(WORKERS) as pool:
        return list(pool.map(lambda item: _step(target, *item), docs))


def _step(target: KubeTarget, kind: str, doc: Doc) -> KubeStep:
    name = doc["metadata"]["name"]
    live = target.client.get(kind, name)
    current = kk.normalize(kind, live) if live else None
    body = retarget(doc, target, current)
    keys = kk.differing_keys(body, current)
    if current is None:
        return KubeStep(kind, name, "create", body, live, keys)
    if current == body:
        return KubeStep(kind, name, "unchanged", body, live, [])
    if current.get("immutable"):
        reason = f"immutable on the target and differs ({', '.join(keys) or 'metadata'}): delete it first"
        return KubeStep(kind, name, "skip", body, live, keys, reason)
    return KubeStep(kind, name, "update", body, live, keys)


def retarget(doc: Doc, target: KubeTarget, live: Doc | None) -> Doc:
    """The object as it is written to the target: its namespace, remapped cluster servers and repository URLs, the
    kept signing key."""
    body = copy.deepcopy(doc)
    body["metadata"]["namespace"] = target.client.namespace
    data = body.get("data") or {}
    label = doc["metadata"].get("labels", {}).get(kk.SECRET_TYPE_LABEL, "")
    if doc["kind"] == "Secret" and label in REPOSITORY_TYPES and data.get("url") and target.remap_repos:
        url = _text(data["url"])
        new_url = remap_repo_url(url, target.remap_repos, template=REPOSITORY_TYPES[label])
        if new_url != url:
            data["url"] = base64.b64encode(new_url.encode()).decode()
    if doc["kind"] == "Secret" and doc["metadata"].get("labels", {}).get(kk.SECRET_TYPE_LABEL) == "cluster":
        server = _text(data.get("server", ""))
        for old, new in target.remap_clusters.items():
            if normalize_server(server) == normalize_server(old):
                data["server"] = base64.b64encode(new.encode()).decode()
    if doc["metadata"]["name"] == "argocd-secret" and target.keep_target_key:
        # the target's key, and the API-key ids it signed (`admin.tokens`, `accounts.<name>.tokens`): the
        # source's ids are of tokens the kept key never signed, and the target's own keys must keep working
        theirs = (live or {}).get("data") or {}
        for name in [k for k in data if k == kk.SIGNING_KEY or k.endswith(".tokens")]:
            data.pop(name)
        data.update({k: v for k, v in theirs.items() if k == kk.SIGNING_KEY or k.endswith(".tokens")})
    return body


def apply(target: KubeTarget, steps: list[KubeStep], stop: Stop) -> list[Outcome]:
    """Write the creates and updates, WORKERS at a time, every ConfigMap before any Secret (a Secret may be a
    repository Argo CD connects to at once, with settings the ConfigMaps hold); each answer is read back."""
    outcomes: list[Outcome] = []
    with ThreadPoolExecutor(WORKERS) as pool:
        for kind in kk.KUBE_KINDS:
            outcomes += pool.map(lambda step: _apply_step(target, step, stop), [s for s in steps if s.kind == kind])
    return outcomes


def _apply_step(target: KubeTarget, step: KubeStep, stop: Stop) -> Outcome:
    if stop or step.action not in ("create", "update"):
        reason = step.reason or ("not started: the run was stopped" if stop else None)
        return Outcome(step.kind, step.name, step.action if not stop else "skip", reason=reason)
    try:
        answer = _write(target.client, step)
    except ApiError as err:
        stop.on_error(err)
        return Outcome(step.kind, step.name, "fail", error=str(err))
    outcome = Outcome(step.kind, step.name, step.action, diff=step.changes or None)
    outcome.written = True
    if kk.normalize(step.kind, answer) != step.body:
        outcome.error = "the target did not store it as written (read back differs); check admission webhooks"
        outcome.action = "fail"
    return outcome


def _write(client: KubeClient, step: KubeStep) -> Doc:
    body = copy.deepcopy(step.body)
    if step.action == "create":
        return client.create(step.kind, body)
    body["metadata"]["resourceVersion"] = step.live["metadata"]["resourceVersion"] if step.live else ""
    return client.replace(step.kind, body)


def planned(steps: list[KubeStep]) -> list[Outcome]:
    """A dry run's outcomes: the action and which keys differ, by name."""
    return [Outcome(s.kind, s.name, s.action, diff=s.changes or None, reason=s.reason) for s in steps]


def keeps_tokens(target: KubeTarget, steps: list[KubeStep]) -> bool:
    """Will the target hold the source's token signing key (argocd-secret restored whole), so old tokens verify?"""
    return not target.keep_target_key and any(
        s.kind == "secrets" and s.name == "argocd-secret" and s.action in ("create", "update", "unchanged")
        and (s.body.get("data") or {}).get(kk.SIGNING_KEY)
        for s in steps
    )  # fmt: skip


def signing_key(steps: list[KubeStep]) -> bytes | None:
    """The signing key the target will hold after these writes, when they change it; else None."""
    for s in steps:
        if s.kind == "secrets" and s.name == "argocd-secret" and s.action in ("create", "update"):
            value = (s.body.get("data") or {}).get(kk.SIGNING_KEY)
            live = ((s.live or {}).get("data") or {}).get(kk.SIGNING_KEY)
            return base64.b64decode(value) if value and value != live else None
    return None


def captured_credentials(objects: dict[str, list[Doc]]) -> dict[str, dict[str, dict[str, Any]]]:
    """Credentials-file sections from the labelled Secrets: repositories and templates by URL, clusters by server."""
    sections: dict[str, dict[str, dict[str, Any]]] = {"repositories": {}, "repocreds": {}, "clusters": {}}
    for doc in objects.get("secrets", []):
        section = SECTION.get(doc["metadata"].get("labels", {}).get(kk.SECRET_TYPE_LABEL, ""))
        if section is None:
            continue
        data = {k: _text(v) for k, v in (doc.get("data") or {}).items()}
        if section == "clusters":
            try:
                config = json.loads(data.get("config") or "{}")
            except ValueError:
                continue
            fields = _fields(config, FIELDS["clusters"])
            key = data.get("server", "")
        else:
            fields = _fields(data, FIELDS[section])
            key = data.get("url", "")
        if key and fields:
            sections[section][key] = fields
    return sections


def _fields(raw: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    """The credential fields of a Secret's data (text) or a cluster's config (JSON), typed as the file's are."""
    out: dict[str, Any] = {}
    for name, kind in schema.items():
        if name not in raw or raw[name] in ("", None):
            continue
        value = raw[name]
        if isinstance(kind, dict):
            if isinstance(value, dict) and (nested := _fields(value, kind)):
                out[name] = nested
        elif kind == INT:
            out[name] = int(value) if str(value).strip().isdigit() else None
        elif kind == BOOL:
            out[name] = value if isinstance(value, bool) else str(value).lower() == "true"
        elif kind == SECRET_LIST:
            out[name] = [Secret(str(v)) for v in value] if isinstance(value, list) else None
        elif kind == SECRET_MAP:
            out[name] = {str(k): Secret(str(v)) for k, v in value.items()} if isinstance(value, dict) else None
        elif kind in (SECRET, B64):
            out[name] = Secret(str(value))
        else:
            out[name] = str(value)
    return {k: v for k, v in out.items() if v is not None}


def _text(value: str) -> str:
    return base64.b64decode(value).decode("utf-8", "replace") if value else ""


def write(
    client: Any, kube: KubeTarget, objects: dict[str, list[Doc]], credentials: Any, options: Any, stop: Stop
) -> tuple[Any, Any, list[Outcome]]:
    """Plan the captured ConfigMaps and Secrets (every read and check first), then, unless a dry run, write them.

    Returns the credentials with what the Secrets hold beneath the file's, the options (`keep_tokens` when the
    source's signing key is restored), and the outcomes (planned ones in a dry run).
    """
    steps = plan(kube, objects)
    written = {"secrets": [s.body for s in steps if s.kind == "secrets"]}  # remapped: keyed as the API objects are
    credentials = (credentials or Credentials({}, [])).over(captured_credentials(written))
    options = replace(options, keep_tokens=keeps_tokens(kube, steps))
    key = signing_key(steps)
    login_again = False
    if key is None or options.dry_run:
        client.can_i("applications", "get", "*")  # a refused token stops here, before the first write
    elif not client.signed_by(key):
        if not getattr(client, "_login", None):
            raise AuthError(
                "the Argo CD token is not signed by the backup's server.secretkey, which this restore writes into "
                "argocd-secret: once written, the target refuses every token signed by its current key",
                hint="pass a token of the source instance (it is valid once the key is restored), --username and "
                "--password of a source account, or --kube-keep-target-secretkey to keep the target's key "
                "(project role tokens are then to re-issue)",
            )
        login_again = True  # --username/--password: log in again once the source's key and passwords are there
    if options.dry_run:
        return credentials, options, planned(steps)
    outcomes = apply(kube, steps, stop)
    if login_again and not stop:
        try:
            client.relogin()
        except AuthError as err:
            raise AuthError(
                f"the ConfigMaps and Secrets were restored, and with them the source's passwords: {err.message}",
                hint="run the same restore again with the source instance's password for --username (or a token "
                "of the source instance); what was written stays as it is",
            ) from None
    return credentials, options, outcomes
