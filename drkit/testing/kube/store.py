"""The simulated cluster's core/v1 ConfigMaps and Secrets: storage with kube-apiserver's write semantics.

Followed from https://kubernetes.io/docs/reference/using-api/api-concepts/ and the apiserver's generic registry:
- every write sets `metadata.resourceVersion` from one cluster-wide counter (etcd's revision); an update that
  changes nothing writes nothing and keeps it ("Resource versions"); an update whose resourceVersion is not the
  stored one is 409 Conflict; one without a resourceVersion is unconditional (ConfigMaps and Secrets allow it);
  a create carrying one is 500 `resourceVersion should not be set on objects to be created`;
- create sets `uid`, `creationTimestamp` and `managedFields` (one entry per manager; the manager is the
  `fieldManager` parameter or the User-Agent up to its first `/`); a create of an existing name is 409
  AlreadyExists; PUT of a missing object is 404 (no create-on-update for these kinds);
- Secret `stringData` is merged into `data` on write and never stored or returned; `type` defaults to `Opaque`;
  unknown fields are dropped with a `Warning` (the default `fieldValidation=Warn`);
- an object with finalizers is only marked for deletion (`deletionTimestamp`, 202) until they are removed;
- lists are sorted by name (etcd key order) and chunked with `limit`/`continue` from a snapshot at the first
  page's resourceVersion ("Retrieving large results sets in chunks"): every page answers that resourceVersion,
  `remainingItemCount` only without selectors, a token whose snapshot was dropped (after 5 minutes, as etcd
  compaction does) is 410 Expired.
Objects are stored as the API returns them and replaced, never mutated, on every write: do not mutate what
`get` or `list` hand out. `listeners` hear every write, under the store's lock, as `(event, resource, object)`.
"""

from __future__ import annotations

import base64
import copy
import json
import secrets
import threading
import time
import uuid
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

from drkit.testing.kube import patch as patching
from drkit.testing.kube import validation
from drkit.testing.kube.codec import RESOURCES, decode, decoded, encode, fields_v1, layout, now, same
from drkit.testing.kube.selectors import parse_fields, parse_labels
from drkit.testing.kube.status import (
    KubeError,
    already_exists,
    bad_request,
    conflict,
    expired,
    forbidden_field,
    internal,
    invalid,
    not_found,
)

SNAPSHOT_SECONDS = 300.0
EXPIRED = (
    "The provided continue parameter is too old to display a consistent list result. You can start a new list "
    "without the continue parameter, or use the continue token in this response to retrieve the remainder of the "
    "results. Continuing with the provided token results in an inconsistent list - objects that were created, "
    "modified, or deleted between the time the first chunk was returned and now may show up in the list."
)
GENERATE_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"  # k8s.io/apiserver names.SimpleNameGenerator
Listener = Callable[[str, str, dict[str, Any]], None]


class Store:
    """core/v1 ConfigMaps and Secrets by namespace; see the module docstring for the semantics."""

    def __init__(
        self,
        *,
        lock: threading.RLock | None = None,
        next_rv: Callable[[], str] | None = None,
        namespaces: tuple[str, ...] = ("default", "kube-system", "kube-public", "kube-node-lease"),
    ) -> None:
        self.lock = lock or threading.RLock()
        self._rv = 0
        self._next_rv = next_rv or self._count
        self.last_rv = "1"
        self.namespaces: set[str] = set(namespaces)
        self.objects: dict[str, dict[tuple[str, str], dict[str, Any]]] = {r: {} for r in RESOURCES}
        self.listeners: list[Listener] = []
        self._snapshots: OrderedDict[int, tuple[float, dict[tuple[str, str], list[dict[str, Any]]]]] = OrderedDict()

    def _count(self) -> str:
        self._rv += 1
        return str(self._rv)

    def add_namespace(self, namespace: str) -> None:
        with self.lock:
            self.namespaces.add(namespace)

    # reads ------------------------------------------------------------------------------------------------

    def get(self, resource: str, namespace: str, name: str) -> dict[str, Any]:
        with self.lock:
            obj = self.objects[resource].get((namespace, name))
        if obj is None:
            raise not_found(resource, name)
        return obj

    def find(self, resource: str, namespace: str, name: str) -> dict[str, Any] | None:
        with self.lock:
            return self.objects[resource].get((namespace, name))

    def items(self, resource: str, namespace: str) -> list[dict[str, Any]]:
        """Every object of a namespace, in name order (no selectors, no chunking)."""
        with self.lock:
            found = [o for (ns, _), o in self.objects[resource].items() if ns == namespace]
        return sorted(found, key=lambda o: o["metadata"]["name"])

    def list(
        self,
        resource: str,
        namespace: str,
        *,
        label_selector: str = "",
        field_selector: str = "",
        limit: int = 0,
        token: str = "",
        resource_version: str = "",
    ) -> dict[str, Any]:
        """A `<Kind>List` body; see the module docstring for chunking."""
        labels = parse_labels(label_selector)
        _, fields = parse_fields(resource, field_selector)
        if limit < 0:
            raise bad_request("limit must be a non-negative integer")
        with self.lock:
            if token:
                if resource_version:
                    raise bad_request("specifying resource version is not allowed when using continue")
                rv, start = self._decode_token(token)
                self._expire()
                snapshot = self._snapshots.get(rv)
                if snapshot is None:
                    raise expired(EXPIRED)
                every = snapshot[1].get((resource, namespace), [])
            else:
                rv, start = int(self.last_rv), ""
                every = self.items(resource, namespace)
            remaining = [o for o in every if o["metadata"]["name"] > start] if start else every
            chosen, rest = [], []
            for i, obj in enumerate(remaining):
                if limit and len(chosen) == limit:
                    rest = remaining[i:]
                    break
                if labels(obj["metadata"].get("labels") or {}) and fields(obj):
                    chosen.append(obj)
            meta: dict[str, Any] = {"resourceVersion": str(rv)}
            if rest:
                if not token:
                    self._snapshot(rv)
                meta["continue"] = self._encode_token(rv, chosen[-1]["metadata"]["name"] if chosen else start)
                if not label_selector and not field_selector:
                    meta["remainingItemCount"] = len(rest)
        items = [{k: v for k, v in o.items() if k not in ("kind", "apiVersion")} for o in chosen]
        return {"kind": RESOURCES[resource] + "List", "apiVersion": "v1", "metadata": meta, "items": items}

    def _snapshot(self, rv: int) -> None:
        by_namespace: dict[tuple[str, str], list[dict[str, Any]]] = {}
        for resource, objects in self.objects.items():
            for (ns, _), obj in objects.items():
                by_namespace.setdefault((resource, ns), []).append(obj)
        for found in by_namespace.values():
            found.sort(key=lambda o: o["metadata"]["name"])
        self._snapshots[rv] = (time.monotonic(), by_namespace)
        while len(self._snapshots) > 64:
            self._snapshots.popitem(last=False)

    def _expire(self) -> None:
        limit = time.monotonic() - SNAPSHOT_SECONDS
        for rv in [rv for rv, (taken, _) in self._snapshots.items() if taken < limit]:
            del self._snapshots[rv]

    @staticmethod
    def _encode_token(rv: int, last: str) -> str:
        raw = json.dumps({"v": "meta.k8s.io/v1", "rv": rv, "start": last + "\x00"}, separators=(",", ":"))
        return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")

    @staticmethod
    def _decode_token(token: str) -> tuple[int, str]:
        try:
            raw = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
            if raw.get("v") != "meta.k8s.io/v1" or not isinstance(raw.get("rv"), int):
                raise ValueError
            return raw["rv"], str(raw.get("start", "")).rstrip("\x00")
        except (ValueError, AttributeError, TypeError):
            raise bad_request("continue key is not valid: incorrect encoded start resourceVersion") from None

    # writes -----------------------------------------------------------------------------------------------

    def create(
        self, resource: str, namespace: str, body: Any, *, manager: str = "", dry_run: bool = False
    ) -> tuple[dict[str, Any], list[str]]:
        """Create an object: (the stored object, warnings)."""
        obj, binary, warnings = decode(resource, namespace, body)
        meta = obj["metadata"]
        version = str((body.get("metadata") or {}).get("resourceVersion") or "")
        if version.isdigit() and int(version) > 0:
            raise internal("resourceVersion should not be set on objects to be created")
        if not meta.get("name") and meta.get("generateName"):
            meta["name"] = meta["generateName"] + "".join(secrets.choice(GENERATE_ALPHABET) for _ in range(5))
        with self.lock:
            if namespace not in self.namespaces:
                raise not_found("namespaces", namespace)
            validation.check(resource, meta.get("name", ""), validation.object_errors(resource, obj, binary))
            if (namespace, meta["name"]) in self.objects[resource]:
                raise already_exists(resource, meta["name"])
            meta.pop("uid", None)
            meta["uid"] = str(uuid.uuid4())
            meta["creationTimestamp"] = now()
            stored = self._finish(obj, None, manager)
            if not dry_run:
                self._write("ADDED", resource, namespace, stored)
        return stored, warnings

    def update(
        self, resource: str, namespace: str, name: str, body: Any, *, manager: str = "", dry_run: bool = False
    ) -> tuple[dict[str, Any], list[str]]:
        """PUT: replace an object, checking resourceVersion when the body has one."""
        obj, binary, warnings = decode(resource, namespace, body)
        meta = obj["metadata"]
        if meta.get("name") != name:
            given = meta.get("name", "")
            raise bad_request(f"the name of the object ({given}) does not match the name on the URL ({name})")
        version = str((body.get("metadata") or {}).get("resourceVersion") or "")
        with self.lock:
            current = self.get(resource, namespace, name)
            old = current["metadata"]
            if version and version != old["resourceVersion"]:
                raise conflict(resource, name)
            meta.setdefault("uid", old["uid"])
            meta["creationTimestamp"] = old["creationTimestamp"]
            for key in ("deletionTimestamp", "deletionGracePeriodSeconds"):
                if key in old:
                    meta[key] = old[key]
            errors = validation.update_errors(resource, obj, current)
            validation.check(resource, name, errors + validation.object_errors(resource, obj, binary))
            if old.get("deletionTimestamp") and set(meta.get("finalizers") or ()) - set(old.get("finalizers") or ()):
                why = "no new finalizers can be added if the object is being deleted"
                raise invalid(resource, name, [forbidden_field("metadata.finalizers", why)])
            if same(obj, current):
                return current, warnings
            stored = self._finish(obj, current, manager)
            if not dry_run:
                if old.get("deletionTimestamp") and not meta.get("finalizers"):
                    self._write("DELETED", resource, namespace, stored)
                else:
                    self._write("MODIFIED", resource, namespace, stored)
        return stored, warnings

    def patch(
        self,
        resource: str,
        namespace: str,
        name: str,
        content_type: str,
        body: bytes,
        *,
        manager: str = "",
        dry_run: bool = False,
    ) -> tuple[dict[str, Any], list[str]]:
        """PATCH: the patch applied to the stored object, then written as an update."""
        with self.lock:
            current = copy.deepcopy(self.get(resource, namespace, name))
            current["metadata"].pop("managedFields", None)
            patched = patching.apply(content_type, current, body)
            patched.setdefault("metadata", {}).setdefault("name", name)
            return self.update(resource, namespace, name, patched, manager=manager, dry_run=dry_run)

    def delete(
        self, resource: str, namespace: str, name: str, options: Any = None, *, dry_run: bool = False
    ) -> tuple[int, dict[str, Any]]:
        """DELETE: (200, a success Status) when gone, or (202, the object) while finalizers hold it."""
        options = options if isinstance(options, dict) else {}
        with self.lock:
            current = self.get(resource, namespace, name)
            meta = current["metadata"]
            wanted = options.get("preconditions") or {}
            if wanted.get("uid") and wanted["uid"] != meta["uid"]:
                why = f"Precondition failed: UID in precondition: {wanted['uid']}, UID in object meta: {meta['uid']}"
                raise conflict(resource, name, why)
            if wanted.get("resourceVersion") and wanted["resourceVersion"] != meta["resourceVersion"]:
                why = (
                    f"Precondition failed: ResourceVersion in precondition: {wanted['resourceVersion']}, "
                    f"ResourceVersion in object meta: {meta['resourceVersion']}"
                )
                raise conflict(resource, name, why)
            if meta.get("finalizers"):
                if meta.get("deletionTimestamp"):
                    return 202, current
                marked = copy.deepcopy(current)
                marked["metadata"]["deletionTimestamp"] = now()
                marked["metadata"]["deletionGracePeriodSeconds"] = 0
                marked["metadata"]["resourceVersion"] = self._next_rv()
                if not dry_run:
                    self._write("MODIFIED", resource, namespace, marked)
                return 202, marked
            if not dry_run:
                self._write("DELETED", resource, namespace, current)
        details = {"name": name, "kind": resource, "uid": meta["uid"]}
        return 200, {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "details": details}

    def put(self, resource: str, namespace: str, body: dict[str, Any], *, manager: str) -> dict[str, Any]:
        """Create or update unconditionally (for in-process writers such as a fresh install's seeding)."""
        with self.lock:
            name = body["metadata"]["name"]
            if (namespace, name) in self.objects[resource]:
                body = copy.deepcopy(body)
                body["metadata"].pop("resourceVersion", None)
                return self.update(resource, namespace, name, body, manager=manager)[0]
            return self.create(resource, namespace, body, manager=manager)[0]

    # internals --------------------------------------------------------------------------------------------

    def _write(self, event: str, resource: str, namespace: str, obj: dict[str, Any]) -> None:
        key = (namespace, obj["metadata"]["name"])
        if event == "DELETED":
            self.objects[resource].pop(key, None)
            obj = copy.deepcopy(obj)
            obj["metadata"]["resourceVersion"] = self._next_rv()
        else:
            self.objects[resource][key] = obj
        self.last_rv = obj["metadata"]["resourceVersion"]
        for listener in list(self.listeners):
            listener(event, resource, obj)

    def _finish(self, obj: dict[str, Any], previous: dict[str, Any] | None, manager: str) -> dict[str, Any]:
        """Stamp resourceVersion and managedFields, and lay the object out as the API returns it."""
        meta = obj["metadata"]
        meta["resourceVersion"] = self._next_rv()
        manager = manager or "unknown"
        entries = [e for e in (previous or {}).get("metadata", {}).get("managedFields", []) if e["manager"] != manager]
        entry = {"manager": manager, "operation": "Update", "apiVersion": "v1", "time": now()}
        entry.update({"fieldsType": "FieldsV1", "fieldsV1": fields_v1(obj)})
        meta["managedFields"] = entries + [entry]
        return layout(obj)


__all__ = ["KubeError", "Store", "decoded", "encode"]
