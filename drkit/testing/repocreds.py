"""Simulated Argo CD repository credential template endpoints, read and write (API-NOTES §2.6).

Templates are labelled Secrets (`repo-creds`, `repo-write-creds`) seen as `state.repocreds[url]` and
`state.write_repocreds[url]` (secret_db.py; Argo CD serves the write ones without the hydrator gate); the list
shows only the fields its version returns. A create names its Secret RepoURLToSecretName("creds", url, "") and
meets an existing template only under that name (db.CreateRepositoryCredentials checks repository Secrets, not
templates), so a template Secret written under another name for the same URL is a second template, as in
Argo CD; one found by URL is updated in place.
"""

from __future__ import annotations

from functools import partial
from typing import Any

from drkit.testing import versions
from drkit.testing.rpc import INVALID_ARGUMENT, NOT_FOUND, GrpcError, Request
from drkit.testing.secret_db import SecretView, plain
from drkit.testing.state import State


def _templates(state: State, store: str) -> SecretView:
    """`state.repocreds` or `state.write_repocreds`, by name."""
    return state.repocreds if store == "repocreds" else state.write_repocreds


def _list(state: State, req: Request, store: str, write: bool) -> dict[str, Any]:
    with state.lock:
        chosen = [c for _, c in sorted(_templates(state, store).items()) if not write or c.get("password")]
        items = [
            {k: c[k] for k in versions.repocreds_listed(state.release) if c.get(k)}
            for c in chosen
            if state.allowed(req.subject, "repositories", "get", c["url"])
        ]
    return {"metadata": {}, "items": items}


def _create(state: State, req: Request, store: str) -> dict[str, Any]:
    creds = dict(req.body or {})
    if not creds.get("url"):
        raise GrpcError(INVALID_ARGUMENT, "must specify URL")
    state.enforce(req, "repositories", "create", creds["url"])
    with state.lock:
        templates = _templates(state, store)
        name = templates.kind.name(creds)
        existing = templates.get(creds["url"]) if state.kube.find("secrets", state.namespace, name) else None
        if existing is None:
            templates.create(creds)
        elif plain(existing) != plain(creds):
            if not req.flag("upsert"):
                raise GrpcError(
                    INVALID_ARGUMENT,
                    "existing repository credentials spec is different; use upsert flag to force update",
                )
            state.enforce(req, "repositories", "update", creds["url"])
            templates[creds["url"]] = creds
    state.notify()
    return {"url": creds["url"]}


def _update(state: State, req: Request, store: str) -> dict[str, Any]:
    creds = dict(req.body or {})
    creds["url"] = req.params["creds.url"]  # the path wins over the body (gateway PopulateFieldFromPath)
    state.enforce(req, "repositories", "update", creds["url"])
    with state.lock:
        templates = _templates(state, store)
        if creds["url"] not in templates:
            raise GrpcError(NOT_FOUND, f"repository credentials '{creds['url']}' not found")
        templates[creds["url"]] = creds
    state.notify()
    return {"url": creds["url"]}


def _delete(state: State, req: Request, store: str) -> dict[str, Any]:
    url = req.params["url"]
    state.enforce(req, "repositories", "delete", url)
    with state.lock:
        if _templates(state, store).pop(url, None) is None:
            raise GrpcError(NOT_FOUND, f"repository credentials '{url}' not found")
    state.notify()
    return {}


HANDLERS = {
    "RepoCredsService_ListRepositoryCredentials": partial(_list, store="repocreds", write=False),
    "RepoCredsService_CreateRepositoryCredentials": partial(_create, store="repocreds"),
    "RepoCredsService_UpdateRepositoryCredentials": partial(_update, store="repocreds"),
    "RepoCredsService_DeleteRepositoryCredentials": partial(_delete, store="repocreds"),
    "RepoCredsService_ListWriteRepositoryCredentials": partial(_list, store="write_repocreds", write=True),
    "RepoCredsService_CreateWriteRepositoryCredentials": partial(_create, store="write_repocreds"),
    "RepoCredsService_UpdateWriteRepositoryCredentials": partial(_update, store="write_repocreds"),
    "RepoCredsService_DeleteWriteRepositoryCredentials": partial(_delete, store="write_repocreds"),
}
