"""The floor for a restore without sync: the leanest client sending drkit's requests, to compare drkit against.

    python benchmarks/lean_restore.py SERVER TOKEN REQUESTS [--concurrency 8]

REQUESTS is a JSON-lines file of prepared requests, `[method, path, params, body]`, in restore order (the
benchmark records them from drkit's own plan, so both send the same endpoints and bodies). The client sends
one kind's requests with a thread pool, the next kind after it, as a restore must; no backup reading,
validation, planning, retries or report.
"""

from __future__ import annotations

import argparse
import json
from concurrent.futures import ThreadPoolExecutor
from itertools import groupby
from typing import Any

import requests
from requests.adapters import HTTPAdapter


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("server")
    parser.add_argument("token")
    parser.add_argument("requests")
    parser.add_argument("--concurrency", type=int, default=8)
    args = parser.parse_args()
    with open(args.requests, encoding="utf-8") as fh:
        prepared = [json.loads(line) for line in fh]
    session = requests.Session()
    session.mount("http://", HTTPAdapter(pool_maxsize=args.concurrency))
    session.headers.update({"Authorization": f"Bearer {args.token}", "Content-Type": "application/json"})

    def send(item: list[Any]) -> None:
        method, path, params, body = item
        data = json.dumps(body, separators=(",", ":")).encode() if body is not None else b""
        session.request(method, f"http://{args.server}{path}", params=params, data=data).raise_for_status()

    with ThreadPoolExecutor(args.concurrency) as pool:
        for _, batch in groupby(prepared, key=lambda item: item[1].split("/")[3]):  # /api/v1/<kind>...
            list(pool.map(send, batch))


if __name__ == "__main__":
    main()
