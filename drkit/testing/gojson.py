"""Decode request bodies the way Argo CD's Go `encoding/json` does, driven by Argo CD's own swagger.json.

One mechanism instead of per-endpoint special cases (API-NOTES §1.1, §6 item 5): unknown fields are
dropped, empty `omitempty` values vanish, an int64 must be a JSON number (a quoted "3600" is a 400), a
`[]byte` must be base64, and a type mismatch is the same 400 InvalidArgument the gateway returns.
"""

from __future__ import annotations

import base64
import binascii
import json
from functools import cache
from importlib import resources
from typing import Any

# Fields that are pointers in Argo CD's Go types: their zero value is kept, not omitted.
POINTER_FIELDS = frozenset({"enabled", "shard"})
# Go types whose JSON form is arbitrary JSON (custom MarshalJSON), whatever swagger shows.
ANY_JSON = frozenset({"runtimeRawExtension", "v1JSON", "protobufAny"})


class DecodeError(ValueError):
    """The body does not decode into the Go type; the gateway answers 400 InvalidArgument."""


@cache
def swagger() -> dict[str, Any]:
    """Argo CD's swagger.json, shipped beside this module."""
    return json.loads(resources.files("drkit.testing").joinpath("swagger.json").read_text())


def definition(name: str) -> dict[str, Any]:
    return swagger()["definitions"][name]


def decode(value: Any, schema: dict[str, Any], where: str = "") -> Any:
    """Return `value` as Argo CD would hold it after decoding into the type `schema` describes."""
    if "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[1]
        if name in ANY_JSON:
            return value
        return decode(value, definition(name), where)
    kind = schema.get("type", "object")
    if value is None:
        return None
    if kind == "object":
        return _decode_object(value, schema, where)
    if kind == "array":
        if not isinstance(value, list):
            raise _mismatch(value, "array", where)
        return [decode(item, schema.get("items", {}), where) for item in value]
    if kind == "string":
        if not isinstance(value, str):
            raise _mismatch(value, "string", where)
        if schema.get("format") == "byte":
            try:
                base64.b64decode(value, validate=True)
            except (binascii.Error, ValueError):
                raise DecodeError(f"illegal base64 data in field {where}") from None
        return value
    if kind == "integer":
        if isinstance(value, bool) or not isinstance(value, int):
            if isinstance(value, float) and value.is_integer():
                return int(value)
            raise _mismatch(value, schema.get("format", "int64"), where)
        return value
    if kind == "number":
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise _mismatch(value, "float64", where)
        return value
    if kind == "boolean":
        if not isinstance(value, bool):
            raise _mismatch(value, "bool", where)
        return value
    return value


def _decode_object(value: Any, schema: dict[str, Any], where: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise _mismatch(value, "object", where)
    extra = schema.get("additionalProperties")
    props = schema.get("properties")
    out: dict[str, Any] = {}
    for key, item in value.items():
        if props is not None and key in props:
            sub = props[key]
        elif extra is not None:
            sub = extra if isinstance(extra, dict) else {}
        elif props is None:
            out[key] = item  # an untyped object: keep as is
            continue
        else:
            continue  # encoding/json ignores unknown fields
        decoded = decode(item, sub, f"{where}.{key}" if where else key)
        if _is_empty(decoded) and key not in POINTER_FIELDS and extra is None:
            continue
        out[key] = decoded
    return out


def _is_empty(value: Any) -> bool:
    return value is None or value is False or value == 0 or value == "" or value == [] or value == {}


def _mismatch(value: Any, go_type: str, where: str) -> DecodeError:
    js = {str: "string", bool: "bool", list: "array", dict: "object"}.get(type(value), "number")
    return DecodeError(f"json: cannot unmarshal {js} into Go struct field {where} of type {go_type}")


def compact(obj: Any) -> Any:
    """Drop empty values recursively, as `omitempty` does on output (maps of labels keep their keys)."""
    if isinstance(obj, dict):
        out = {}
        for key, value in obj.items():
            value = compact(value)
            if _is_empty(value) and key not in POINTER_FIELDS:
                continue
            out[key] = value
        return out
    if isinstance(obj, list):
        return [compact(v) for v in obj]
    return obj
