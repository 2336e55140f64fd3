"""How kube-apiserver decodes, defaults and lays out a ConfigMap or Secret body, for the store.

Decoding (the apiserver's JSON codec and defaulting, https://kubernetes.io/docs/reference/using-api/api-concepts/
#setting-the-field-validation-level): `apiVersion` must be `v1` and `kind` the endpoint's; unknown top-level
fields are dropped with a warning (`fieldValidation=Warn`, the API's default); the server-owned metadata
(`resourceVersion`, `creationTimestamp`, `managedFields`, `deletionTimestamp`, `selfLink`) is not taken from the
client; Secret `data` must be base64 (400 otherwise, validation.decode_data), `stringData` is merged into it
and dropped, `type` defaults to `Opaque`. Layout: the field order of the Go types (ObjectMeta, Secret,
ConfigMap), empty maps omitted, as `encoding/json` with `omitempty` writes them.
"""

from __future__ import annotations

import base64
import copy
from datetime import datetime, timezone
from typing import Any

from drkit.testing.kube import validation
from drkit.testing.kube.status import bad_request

RESOURCES = {"configmaps": "ConfigMap", "secrets": "Secret"}
FIELDS = {"Secret": ("data", "stringData", "type", "immutable"), "ConfigMap": ("data", "binaryData", "immutable")}
META_INPUT = ("name", "generateName", "namespace", "uid", "labels", "annotations", "ownerReferences", "finalizers")
META_ORDER = (
    "name", "generateName", "namespace", "uid", "resourceVersion", "creationTimestamp", "deletionTimestamp",
    "deletionGracePeriodSeconds", "labels", "annotations", "ownerReferences", "finalizers", "managedFields",
)  # fmt: skip
SERVER_META = ("resourceVersion", "managedFields")
Decoded = tuple[dict[str, Any], dict[str, bytes], list[str]]


def now() -> str:
    """A metav1.Time: RFC 3339, whole seconds, UTC."""
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def encode(data: dict[str, bytes]) -> dict[str, str]:
    """Secret data as JSON carries it: base64 of each value."""
    return {k: base64.b64encode(v).decode() for k, v in data.items()}


def decoded(obj: dict[str, Any]) -> dict[str, bytes]:
    """A stored Secret's data as bytes (stored data is always valid base64)."""
    return {k: base64.b64decode(v) for k, v in (obj.get("data") or {}).items()}


def _cannot(kind: str, why: str) -> Exception:
    return bad_request(f'{kind} in version "v1" cannot be handled as a {kind}: {why}')


def decode(resource: str, namespace: str, body: Any) -> Decoded:
    """A request body as the apiserver decodes and defaults it: (object, binary data, warnings)."""
    kind = RESOURCES[resource]
    if not isinstance(body, dict):
        raise _cannot(kind, "the body is not a JSON object")
    if body.get("apiVersion", "v1") != "v1":
        version = body["apiVersion"]
        raise bad_request(f"the API version in the data ({version}) does not match the expected API version (v1)")
    if body.get("kind", kind) != kind:
        raise bad_request(f"the kind in the data ({body['kind']}) does not match the expected kind ({kind})")
    warnings = [f'unknown field "{k}"' for k in body if k not in ("kind", "apiVersion", "metadata", *FIELDS[kind])]
    raw_meta = body.get("metadata") or {}
    if not isinstance(raw_meta, dict):
        raise _cannot(kind, "metadata is not an object")
    if raw_meta.get("namespace") and raw_meta["namespace"] != namespace:
        raise bad_request("the namespace of the provided object does not match the namespace sent on the request")
    meta = {k: copy.deepcopy(raw_meta[k]) for k in META_INPUT if raw_meta.get(k) not in (None, "")}
    meta["namespace"] = namespace
    for key in ("labels", "annotations"):
        values = meta.get(key) or {}
        if not isinstance(values, dict) or not all(isinstance(v, str) for v in values.values()):
            raise _cannot(kind, f"json: cannot unmarshal into Go struct field ObjectMeta.metadata.{key} of type string")
    obj: dict[str, Any] = {"kind": kind, "apiVersion": "v1", "metadata": meta}
    if body.get("immutable") is not None:
        obj["immutable"] = bool(body["immutable"])
    if kind == "Secret":
        binary = validation.decode_data(kind, body.get("data"))
        string_data = body.get("stringData") or {}
        if not isinstance(string_data, dict) or not all(isinstance(v, str) for v in string_data.values()):
            raise _cannot(kind, "json: cannot unmarshal into Go struct field Secret.stringData of type string")
        binary.update({k: v.encode() for k, v in string_data.items()})
        obj["data"] = encode(binary)
        obj["type"] = body.get("type") or "Opaque"
        return obj, binary, warnings
    data = body.get("data") or {}
    if not isinstance(data, dict) or not all(isinstance(v, str) for v in data.values()):
        raise _cannot(kind, "json: cannot unmarshal into Go struct field ConfigMap.data of type string")
    binary = validation.decode_data(kind, body.get("binaryData"))
    obj["data"] = dict(data)
    obj["binaryData"] = encode(binary)
    return obj, binary, warnings


def layout(obj: dict[str, Any]) -> dict[str, Any]:
    """The object as the API returns it: Go field order, empty values omitted, Secret `type` always set."""
    meta = obj["metadata"]
    out: dict[str, Any] = {"kind": obj["kind"], "apiVersion": "v1"}
    out["metadata"] = {k: meta[k] for k in META_ORDER if meta.get(k) not in (None, "", {}, [])}
    if obj.get("immutable") is not None:
        out["immutable"] = obj["immutable"]
    for key in ("data", "binaryData") if obj["kind"] == "ConfigMap" else ("data",):
        if obj.get(key):
            out[key] = obj[key]
    if obj["kind"] == "Secret":
        out["type"] = obj.get("type") or "Opaque"
    return out


def same(new: dict[str, Any], current: dict[str, Any]) -> bool:
    """Would writing `new` over `current` change nothing but server-owned metadata? (Then no write happens.)"""

    def bare(obj: dict[str, Any]) -> dict[str, Any]:
        out = layout(obj)
        out["metadata"] = {k: v for k, v in out["metadata"].items() if k not in SERVER_META}
        return out

    return bare(new) == bare(current)


def fields_v1(obj: dict[str, Any]) -> dict[str, Any]:
    """The fields a write set, in managedFields' FieldsV1 form (`f:<key>` per map key, `.` for a map itself)."""

    def walk(node: dict[str, Any]) -> dict[str, Any]:
        out: dict[str, Any] = {".": {}} if node else {}
        for key, value in node.items():
            out[f"f:{key}"] = walk(value) if isinstance(value, dict) else {}
        return out

    kept = ("labels", "annotations", "ownerReferences", "finalizers")
    meta = {k: v for k, v in obj["metadata"].items() if k in kept and v}
    fields = walk({k: v for k, v in obj.items() if k not in ("kind", "apiVersion", "metadata") and v not in ({}, None)})
    fields.pop(".", None)
    if meta:
        fields["f:metadata"] = {f"f:{k}": walk(v) if isinstance(v, dict) else {} for k, v in meta.items()}
    return fields
