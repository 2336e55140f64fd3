"""The floors for `--kube`: the leanest client doing an encrypted export's or a restore's work, Kubernetes included.

    python benchmarks/lean_kube.py export SERVER TOKEN STORE RECIPIENT [KUBE_URL KUBE_TOKEN NAMESPACE]
    python benchmarks/lean_kube.py restore KUBE_URL KUBE_TOKEN NAMESPACE OBJECTS SERVER TOKEN REQUESTS

export: benchmarks/lean_export.py's work (one GET per API kind, metadata and spec kept, libyaml) with each file
sealed for the age RECIPIENT (pyrage), as `--encrypt age:` seals every object; given the Kubernetes API, also the
ConfigMaps and Secrets a `--kube` backup holds, read with raw `requests`: one GET per named ConfigMap and Secret,
one labelled list of Secrets (limit/continue), a GET per Secret that argocd-cm or argocd-rbac-cm names
(`$name:key`). Files are put with 16 threads into the directory STORE. No validation, checksums or manifest.

restore: OBJECTS (JSON lines, `[kind, body]`, ConfigMaps first, prepared from the backup in advance) written with
8 threads after one list per kind for the live resourceVersions: a POST for a new object, a PUT for one there;
then REQUESTS (benchmarks/lean_restore.py's prepared API requests) sent as lean_restore.py sends them.
"""

from __future__ import annotations

import json
import os
import re
import sys
from concurrent.futures import ThreadPoolExecutor
from itertools import groupby
from typing import Any

import requests
import yaml
from requests.adapters import HTTPAdapter

sys.path.insert(0, os.path.dirname(__file__))

from lean_export import LISTS, lean  # noqa: E402

CONFIGMAPS = ("argocd-cm", "argocd-rbac-cm", "argocd-cmd-params-cm", "argocd-notifications-cm",
              "argocd-ssh-known-hosts-cm", "argocd-tls-certs-cm", "argocd-gpg-keys-cm")  # fmt: skip
NAMED_SECRETS = ("argocd-secret", "argocd-notifications-secret")
LABEL = "argocd.argoproj.io/secret-type"
REFERENCE = re.compile(r"\$([a-z0-9][-a-z0-9.]*[a-z0-9]):")
THREADS = 8


def session(token: str, threads: int = 16) -> requests.Session:
    http = requests.Session()
    http.mount("http://", HTTPAdapter(pool_maxsize=threads))
    http.headers.update({"Authorization": f"Bearer {token}", "Content-Type": "application/json"})
    return http


def kube_lean(obj: dict[str, Any]) -> dict[str, Any]:
    meta = obj["metadata"]
    kept = {k: meta[k] for k in ("name", "namespace", "labels", "annotations") if k in meta}
    return {"metadata": kept, **{k: obj[k] for k in ("kind", "type", "data", "binaryData", "immutable") if k in obj}}


def listed(http: requests.Session, url: str, selector: str = "") -> list[dict[str, Any]]:
    """Every object of a chunked list (500 a page, as kubectl and drkit ask)."""
    items, token = [], ""
    while True:
        params = {
            "limit": 500,
            **({"labelSelector": selector} if selector else {}),
            **({"continue": token} if token else {}),
        }
        page = http.get(url, params=params).json()
        items += page.get("items") or []
        token = (page.get("metadata") or {}).get("continue")
        if not token:
            return items


def read_kube(url: str, token: str, namespace: str) -> dict[str, dict[str, Any]]:
    """The ConfigMaps and Secrets a `--kube` backup holds, by store path."""
    http = session(token)
    base = f"{url}/api/v1/namespaces/{namespace}"
    found = {}
    for kind, names in (("configmaps", CONFIGMAPS), ("secrets", NAMED_SECRETS)):
        for name in names:
            answer = http.get(f"{base}/{kind}/{name}")
            if answer.status_code == 200:
                found[f"{kind}/{name}"] = answer.json()
    for secret in listed(http, f"{base}/secrets", LABEL):
        found[f"secrets/{secret['metadata']['name']}"] = secret
    named = {
        m.group(1)
        for name in ("argocd-cm", "argocd-rbac-cm")
        for value in (found.get(f"configmaps/{name}", {}).get("data") or {}).values()
        for m in REFERENCE.finditer(str(value))
    }
    for name in sorted(named - {k.removeprefix("secrets/") for k in found}):
        answer = http.get(f"{base}/secrets/{name}")
        if answer.status_code == 200:
            found[f"secrets/{name}"] = answer.json()
    return {path: kube_lean(obj) for path, obj in found.items()}


def export(argv: list[str]) -> None:
    import pyrage

    server, token, store, recipient, *kube = argv
    seal_for = [pyrage.x25519.Recipient.from_str(recipient)]
    http = session(token)
    docs: dict[str, Any] = {}
    for kind, path in LISTS.items():
        for n, obj in enumerate(http.get(f"http://{server}{path}").json().get("items") or []):
            docs[f"{kind}/{n}"] = lean(obj)
    if kube:
        docs.update(read_kube(*kube))

    def put(item: tuple[str, Any]) -> None:
        data = pyrage.encrypt(yaml.dump(item[1], Dumper=yaml.CSafeDumper, sort_keys=True).encode(), seal_for)
        path = os.path.join(store, "lean", item[0] + ".yaml.age")
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "wb") as fh:
            fh.write(data)

    with ThreadPoolExecutor(16) as pool:
        list(pool.map(put, docs.items()))


def write_kube(url: str, token: str, namespace: str, objects: list[list[Any]]) -> None:
    """The prepared ConfigMaps and Secrets written: POST when new, PUT over the live resourceVersion when there."""
    http = session(token, THREADS)
    base = f"{url}/api/v1/namespaces/{namespace}"

    def write(item: list[Any]) -> None:
        kind, body = item
        version = live[kind].get(body["metadata"]["name"])
        if version is None:
            answer = http.post(f"{base}/{kind}", data=json.dumps(body))
        else:
            body = {**body, "metadata": {**body["metadata"], "resourceVersion": version}}
            answer = http.put(f"{base}/{kind}/{body['metadata']['name']}", data=json.dumps(body))
        answer.raise_for_status()

    live = {}
    with ThreadPoolExecutor(THREADS) as pool:
        for kind, batch in groupby(objects, key=lambda item: item[0]):
            live[kind] = {
                o["metadata"]["name"]: o["metadata"]["resourceVersion"] for o in listed(http, f"{base}/{kind}")
            }
            list(pool.map(write, batch))


def send_api(server: str, token: str, prepared: list[list[Any]]) -> None:
    """benchmarks/lean_restore.py's loop: one kind's requests in parallel, the next kind after it."""
    http = session(token, THREADS)

    def send(item: list[Any]) -> None:
        method, path, params, body = item
        data = json.dumps(body, separators=(",", ":")).encode() if body is not None else b""
        http.request(method, f"http://{server}{path}", params=params, data=data).raise_for_status()

    with ThreadPoolExecutor(THREADS) as pool:
        for _, batch in groupby(prepared, key=lambda item: item[1].split("/")[3]):  # /api/v1/<kind>...
            list(pool.map(send, batch))


def restore(argv: list[str]) -> None:
    kube_url, kube_token, namespace, objects, server, token, prepared = argv
    with open(objects, encoding="utf-8") as fh:
        write_kube(kube_url, kube_token, namespace, [json.loads(line) for line in fh])
    with open(prepared, encoding="utf-8") as fh:
        send_api(server, token, [json.loads(line) for line in fh])


if __name__ == "__main__":
    {"export": export, "restore": restore}[sys.argv[1]](sys.argv[2:])
