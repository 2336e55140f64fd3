"""The floor for an export: the leanest client doing the same work, to compare drkit's export against.

    python benchmarks/lean_export.py SERVER TOKEN STORE

Lists every kind with one GET each (the whole answer parsed at once), keeps metadata and spec, dumps YAML
with libyaml, and puts the files with 16 threads into STORE (a directory, or s3://bucket/prefix through
boto3's standard configuration). No schema validation, checksums, retries or manifest.
"""

from __future__ import annotations

import os
import sys
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import requests
import yaml

LISTS = {
    "certificates": "/api/v1/certificates",
    "gpgkeys": "/api/v1/gpgkeys",
    "repocreds": "/api/v1/repocreds",
    "repositories": "/api/v1/repositories",
    "clusters": "/api/v1/clusters",
    "projects": "/api/v1/projects",
    "applicationsets": "/api/v1/applicationsets",
    "applications": "/api/v1/applications",
}
META = ("name", "namespace", "labels", "annotations", "finalizers")


def lean(obj: dict[str, Any]) -> dict[str, Any]:
    if "spec" not in obj:
        return {k: v for k, v in obj.items() if k not in ("connectionState", "info")}
    meta = obj["metadata"]
    return {"metadata": {k: meta[k] for k in META if k in meta}, "spec": obj["spec"]}


def main() -> None:
    server, token, store = sys.argv[1:4]
    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {token}"
    files = {}
    for kind, path in LISTS.items():
        for n, obj in enumerate(session.get(f"http://{server}{path}").json().get("items") or []):
            files[f"{kind}/{n}.yaml"] = yaml.dump(lean(obj), Dumper=yaml.CSafeDumper, sort_keys=True).encode()
    if store.startswith("s3://"):
        import boto3

        bucket, _, prefix = store.removeprefix("s3://").partition("/")
        s3 = boto3.client("s3")

        def put(item: tuple[str, bytes]) -> None:
            s3.put_object(Bucket=bucket, Key=f"{prefix}/lean/{item[0]}", Body=item[1])
    else:

        def put(item: tuple[str, bytes]) -> None:
            path = os.path.join(store, "lean", item[0])
            os.makedirs(os.path.dirname(path), exist_ok=True)
            with open(path, "wb") as fh:
                fh.write(item[1])

    with ThreadPoolExecutor(16) as pool:
        list(pool.map(put, files.items()))


if __name__ == "__main__":
    main()
