"""Decode request bodies the way Argo CD's Go `encoding/json` does, driven by Argo CD's own swagger.json.

One mechanism instead of per-endpoint special cases (API-NOTES §1.1, §6 item 5): unknown fields are
dropped, empty `omitempty` values vanish, an int64 must be a JSON number (a quoted "3600" is a 400), a
`[]byte` must be base64, and a type mismatch is the same 400 InvalidArgument the gateway returns.

Dropping an empty map or list the client sent is right, not merely convenient: the gateway re-encodes the request
as protobuf for its loopback gRPC call (`server/server.go` `Listen`), which has no form for an empty map or repeated
field, so the handlers' `reflect.DeepEqual` sees nil, as on the stored object. Only a non-nil pointer to an empty
struct survives, which `_is_struct` keeps (tests/sim/test_equality.py).
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

# Fields that are pointers in Argo CD's Go types: their zero value is kept, not omitted.
POINTER_FIELDS = frozenset({"enabled", "shard"})
# Fields of Argo CD's Go types declared without `omitempty`: Go always writes them, zero value included. They
# are exactly the CRDs' `required` lists, matched to swagger definitions by their property sets (derived once
# from ../shared/reference/argocd/*-crd.yaml; tests/sim/test_gojson.py checks them).
KEEP_EMPTY: dict[str, frozenset[str]] = {
    "applicationResourceActionParameters": frozenset({"name", "value"}),
    "applicationv1alpha1EnvEntry": frozenset({"name", "value"}),
    "clusterPlugin": frozenset({"name"}),
    "notificationService": frozenset({"name"}),
    "notificationTemplate": frozenset({"name"}),
    "notificationTrigger": frozenset({"name"}),
    "v1GroupKind": frozenset({"group", "kind"}),
    "v1LabelSelectorRequirement": frozenset({"key", "operator"}),
    "v1alpha1ApplicationCondition": frozenset({"message", "type"}),
    "v1alpha1ApplicationDestinationServiceAccount": frozenset({"defaultServiceAccount", "server"}),
    "v1alpha1ApplicationMatchExpression": frozenset({"key", "operator"}),
    "v1alpha1ApplicationSetCondition": frozenset({"message", "reason", "status", "type"}),
    "v1alpha1ApplicationSetSpec": frozenset({"generators", "template"}),
    "v1alpha1ApplicationSetTemplate": frozenset({"metadata", "spec"}),
    "v1alpha1ApplicationSource": frozenset({"repoURL"}),
    "v1alpha1ApplicationSpec": frozenset({"destination", "project"}),
    "v1alpha1BasicAuthBitbucketServer": frozenset({"passwordRef", "username"}),
    "v1alpha1BearerTokenBitbucket": frozenset({"tokenRef"}),
    "v1alpha1BearerTokenBitbucketCloud": frozenset({"tokenRef"}),
    "v1alpha1ClusterResourceRestrictionItem": frozenset({"group", "kind"}),
    "v1alpha1ComparedTo": frozenset({"destination"}),
    "v1alpha1ConfigMapKeyRef": frozenset({"configMapName", "key"}),
    "v1alpha1DrySource": frozenset({"path", "repoURL", "targetRevision"}),
    "v1alpha1DuckTypeGenerator": frozenset({"configMapRef"}),
    "v1alpha1GitDirectoryGeneratorItem": frozenset({"path"}),
    "v1alpha1GitFileGeneratorItem": frozenset({"path"}),
    "v1alpha1GitGenerator": frozenset({"repoURL", "revision"}),
    "v1alpha1HydrateOperation": frozenset({"message", "phase"}),
    "v1alpha1HydrateTo": frozenset({"targetBranch"}),
    "v1alpha1Info": frozenset({"name", "value"}),
    "v1alpha1InfoItem": frozenset({"name", "value"}),
    "v1alpha1JWTToken": frozenset({"iat"}),
    "v1alpha1JsonnetVar": frozenset({"name", "value"}),
    "v1alpha1KustomizeReplica": frozenset({"count", "name"}),
    "v1alpha1MatrixGenerator": frozenset({"generators"}),
    "v1alpha1MergeGenerator": frozenset({"generators", "mergeKeys"}),
    "v1alpha1OperationState": frozenset({"operation", "phase", "startedAt"}),
    "v1alpha1OrphanedResourceKey": frozenset({"group", "kind"}),
    "v1alpha1PluginConfigMapRef": frozenset({"name"}),
    "v1alpha1PluginGenerator": frozenset({"configMapRef"}),
    "v1alpha1ProjectRole": frozenset({"name"}),
    "v1alpha1PullRequestGeneratorAzureDevOps": frozenset({"organization", "project", "repo"}),
    "v1alpha1PullRequestGeneratorBitbucket": frozenset({"owner", "repo"}),
    "v1alpha1PullRequestGeneratorBitbucketServer": frozenset({"api", "project", "repo"}),
    "v1alpha1PullRequestGeneratorGitLab": frozenset({"project"}),
    "v1alpha1PullRequestGeneratorGitea": frozenset({"api", "owner", "repo"}),
    "v1alpha1PullRequestGeneratorGithub": frozenset({"owner", "repo"}),
    "v1alpha1ResourceActionParam": frozenset({"name"}),
    "v1alpha1ResourceIgnoreDifferences": frozenset({"kind"}),
    "v1alpha1ResourceResult": frozenset({"group", "kind", "name", "namespace", "version"}),
    "v1alpha1RevisionHistory": frozenset({"deployedAt", "id"}),
    "v1alpha1SCMProviderGeneratorAzureDevOps": frozenset({"accessTokenRef", "organization", "teamProject"}),
    "v1alpha1SCMProviderGeneratorBitbucket": frozenset({"appPasswordRef", "owner", "user"}),
    "v1alpha1SCMProviderGeneratorBitbucketServer": frozenset({"api", "project"}),
    "v1alpha1SCMProviderGeneratorGitea": frozenset({"api", "owner"}),
    "v1alpha1SCMProviderGeneratorGithub": frozenset({"organization"}),
    "v1alpha1SCMProviderGeneratorGitlab": frozenset({"group"}),
    "v1alpha1SecretRef": frozenset({"key", "secretName"}),
    "v1alpha1SignatureKey": frozenset({"keyID"}),
    "v1alpha1SourceHydrator": frozenset({"drySource", "syncSource"}),
    "v1alpha1SourceIntegrity": frozenset({"git"}),
    "v1alpha1SourceIntegrityGit": frozenset({"policies"}),
    "v1alpha1SourceIntegrityGitPolicy": frozenset({"gpg", "repos"}),
    "v1alpha1SourceIntegrityGitPolicyGPG": frozenset({"keys", "mode"}),
    "v1alpha1SourceIntegrityGitPolicyRepo": frozenset({"url"}),
    "v1alpha1SyncOperationResource": frozenset({"kind", "name"}),
    "v1alpha1SyncOperationResult": frozenset({"revision"}),
    "v1alpha1SyncSource": frozenset({"path", "targetBranch"}),
    "v1alpha1SyncStatus": frozenset({"status"}),
    "v1alpha1TagFilter": frozenset({"key"}),
}

# Go types whose JSON form is arbitrary JSON (custom MarshalJSON), whatever swagger shows.
ANY_JSON = frozenset({"runtimeRawExtension", "v1JSON", "protobufAny", "intstrIntOrString"})
# Go structs embedded inline (`json:",inline"`), which swagger shows as a nested field: their fields are the
# parent's own in JSON, e.g. `{"hook": {"force": true}}`.
INLINE = {"v1alpha1SyncStrategyHook": "syncStrategyApply"}


@dataclass(frozen=True)
class Types:
    """How one Argo CD release's Go types differ from the swagger.json (3.6) ones: fields they lack, extra pointers.

    Both hold (swagger definition, JSON field) pairs; see versions.py for where each was read.
    """

    lacks: frozenset[tuple[str, str]] = frozenset()
    pointers: frozenset[tuple[str, str]] = frozenset()


class DecodeError(ValueError):
    """The body does not decode into the Go type; the gateway answers 400 InvalidArgument."""


@cache
def swagger() -> dict[str, Any]:
    """Argo CD's swagger.json, shipped beside this module."""
    return json.loads(resources.files("drkit.testing").joinpath("swagger.json").read_text())


def definition(name: str) -> dict[str, Any]:
    return swagger()["definitions"][name]


def decode(value: Any, schema: dict[str, Any], where: str = "", type_name: str = "", types: Types = Types()) -> Any:
    """Return `value` as Argo CD (of the release `types` describes) would hold it after decoding into `schema`."""
    if "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[1]
        if name in ANY_JSON:
            return value
        schema = definition(name)
        if name in INLINE:
            embedded = schema["properties"][INLINE[name]]["$ref"].rsplit("/", 1)[1]
            schema = {"type": "object", "properties": definition(embedded)["properties"]}
        return decode(value, schema, where, name, types)
    kind = schema.get("type", "object")
    if value is None:
        return None
    if kind == "object":
        return _decode_object(value, schema, where, type_name, types)
    if kind == "array":
        if not isinstance(value, list):
            raise _mismatch(value, "array", where)
        return [decode(item, schema.get("items", {}), where, types=types) for item in value]
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


def _decode_object(value: Any, schema: dict[str, Any], where: str, type_name: str, types: Types) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise _mismatch(value, "object", where)
    keep = KEEP_EMPTY.get(type_name, frozenset())
    extra = schema.get("additionalProperties")
    props = schema.get("properties")
    out: dict[str, Any] = {}
    for key, item in value.items():
        if (type_name, key) in types.lacks:
            continue  # this release's type has no such field: encoding/json ignores it
        if props is not None and key in props:
            sub = props[key]
        elif extra is not None:
            sub = extra if isinstance(extra, dict) else {}
        elif props is None:
            out[key] = item  # an untyped object: keep as is
            continue
        else:
            continue  # encoding/json ignores unknown fields
        decoded = decode(item, sub, f"{where}.{key}" if where else key, types=types)
        pointer = key in POINTER_FIELDS or (type_name, key) in types.pointers
        if _is_empty(decoded) and not pointer and key not in keep and not _is_struct(sub, decoded):
            continue
        out[key] = decoded
    for key in keep - out.keys():  # a missing non-omitempty scalar decodes to its zero value and is written
        zero = {"string": "", "integer": 0, "boolean": False}.get((props or {}).get(key, {}).get("type", ""))
        if zero is not None:
            out[key] = zero
    return out


def _is_struct(schema: dict[str, Any], value: Any) -> bool:
    """A struct (not a map) given as `{}`: Go writes a struct even when empty, and keeps a non-nil pointer."""
    if value != {}:
        return False
    if "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[1]
        return name not in ANY_JSON and "properties" in definition(name)
    return "properties" in schema


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
