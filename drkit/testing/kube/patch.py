"""The PATCH bodies kube-apiserver takes for ConfigMaps and Secrets: JSON Patch, JSON merge patch, strategic merge.

- `application/json-patch+json`: RFC 6902 operations (add, remove, replace, move, copy, test) on JSON Pointers
  (RFC 6901); a failed `test` or a missing path is an error.
- `application/merge-patch+json`: RFC 7386: objects merge, `null` deletes, anything else (lists too) replaces.
- `application/strategic-merge-patch+json`: as a merge patch for these kinds' maps (`data`, `stringData`,
  `binaryData`, labels, annotations), plus the `$patch: replace|delete` map directives and the list strategies the
  API types declare: `metadata.finalizers` merges (patchStrategy=merge), `metadata.ownerReferences` merges by
  `uid`, `$deleteFromPrimitiveList/finalizers` removes; other lists replace.
See https://kubernetes.io/docs/tasks/manage-kubernetes-objects/update-api-object-kubectl-patch/ and
https://kubernetes.io/docs/reference/using-api/api-concepts/#patch-and-apply. Server-side apply
(`application/apply-patch+yaml`) is not simulated: it answers 415 like any other unknown type.
"""

from __future__ import annotations

import copy
import json
from typing import Any

from drkit.testing.kube.status import KubeError, bad_request, unsupported_media_type

JSON_PATCH = "application/json-patch+json"
MERGE_PATCH = "application/merge-patch+json"
STRATEGIC = "application/strategic-merge-patch+json"
MERGE_LISTS = {("metadata", "finalizers"): None, ("metadata", "ownerReferences"): "uid"}


def _unprocessable(message: str) -> KubeError:
    """A JSON patch that does not apply: the patch handler's NewGenericServerResponse(422, ...)."""
    return KubeError(422, "Invalid", message, {})


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386 MergePatch."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    out = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            out.pop(key, None)
        else:
            out[key] = merge_patch(out.get(key), value)
    return out


def strategic_merge(target: Any, patch: Any, path: tuple[str, ...] = ()) -> Any:
    """A strategic merge patch over the types of ConfigMap and Secret (see the module docstring)."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    directive = patch.get("$patch")
    if directive == "delete":
        return None
    if directive == "replace":
        return {k: copy.deepcopy(v) for k, v in patch.items() if k != "$patch"}
    out = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if key.startswith("$deleteFromPrimitiveList/"):
            name = key.split("/", 1)[1]
            out[name] = [v for v in out.get(name) or [] if v not in (value or [])]
            continue
        if key.startswith("$"):
            continue  # $setElementOrder, $retainKeys: ordering hints with no effect on these kinds' maps
        if value is None:
            out.pop(key, None)
        elif isinstance(value, list) and path + (key,) in MERGE_LISTS:
            out[key] = _merge_list(out.get(key) or [], value, MERGE_LISTS[path + (key,)])
        else:
            merged = strategic_merge(out.get(key), value, path + (key,))
            if merged is None:
                out.pop(key, None)
            else:
                out[key] = merged
    return out


def _merge_list(current: list[Any], patch: list[Any], key: str | None) -> list[Any]:
    out = list(current)
    for item in patch:
        if key is None:
            if item not in out:
                out.append(item)
            continue
        if isinstance(item, dict) and item.get("$patch") == "delete":
            out = [o for o in out if not (isinstance(o, dict) and o.get(key) == item.get(key))]
            continue
        for i, existing in enumerate(out):
            if isinstance(existing, dict) and existing.get(key) == item.get(key):
                out[i] = strategic_merge(existing, item)
                break
        else:
            out.append(item)
    return out


def _pointer(path: str) -> list[str]:
    if path == "":
        return []
    if not path.startswith("/"):
        raise bad_request(f'the server rejected our request due to an error in our request: invalid path "{path}"')
    return [p.replace("~1", "/").replace("~0", "~") for p in path[1:].split("/")]


def _walk(doc: Any, parts: list[str], path: str) -> Any:
    for part in parts:
        if isinstance(doc, dict) and part in doc:
            doc = doc[part]
        elif isinstance(doc, list) and part.isdigit() and int(part) < len(doc):
            doc = doc[int(part)]
        else:
            raise _unprocessable(f"doc is missing path: {path}: missing value")
    return doc


def _remove(doc: Any, path: str) -> Any:
    parts = _pointer(path)
    parent = _walk(doc, parts[:-1], path)
    last = parts[-1] if parts else ""
    if isinstance(parent, dict) and last in parent:
        return parent.pop(last)
    if isinstance(parent, list) and last.isdigit() and int(last) < len(parent):
        return parent.pop(int(last))
    raise _unprocessable(f"doc is missing path: {path}: missing value")


def _add(doc: Any, path: str, value: Any) -> Any:
    parts = _pointer(path)
    if not parts:
        return copy.deepcopy(value)
    parent = _walk(doc, parts[:-1], path)
    last = parts[-1]
    if isinstance(parent, dict):
        parent[last] = copy.deepcopy(value)
    elif isinstance(parent, list) and (last == "-" or (last.isdigit() and int(last) <= len(parent))):
        parent.insert(len(parent) if last == "-" else int(last), copy.deepcopy(value))
    else:
        raise _unprocessable(f"doc is missing path: {path}: missing value")
    return doc


def json_patch(target: Any, ops: Any) -> Any:
    """RFC 6902 over a copy of target; failures are the errors kube-apiserver's json-patch library gives."""
    if not isinstance(ops, list):
        raise bad_request("json: cannot unmarshal object into Go value of type jsonpatch.Patch")
    doc = copy.deepcopy(target)
    for op in ops:
        kind, path = op.get("op"), op.get("path", "")
        if kind == "add":
            doc = _add(doc, path, op.get("value"))
        elif kind == "remove":
            _remove(doc, path)
        elif kind == "replace":
            _remove(doc, path)
            doc = _add(doc, path, op.get("value"))
        elif kind in ("move", "copy"):
            source = op.get("from", "")
            value = _remove(doc, source) if kind == "move" else copy.deepcopy(_walk(doc, _pointer(source), source))
            doc = _add(doc, path, value)
        elif kind == "test":
            if _walk(doc, _pointer(path), path) != op.get("value"):
                raise _unprocessable(f"testing value {path} failed: test failed")
        else:
            raise _unprocessable(f"Unexpected kind: {kind}")
    return doc


def apply(content_type: str, target: dict[str, Any], body: bytes) -> dict[str, Any]:
    """The patched object, or the apiserver's error for the content type or the body."""
    media = content_type.split(";", 1)[0].strip().lower()
    if media not in (JSON_PATCH, MERGE_PATCH, STRATEGIC):
        raise unsupported_media_type()
    try:
        patch = json.loads(body or b"null")
    except ValueError as err:
        raise bad_request(f"error decoding patch: {err}") from None
    if media == JSON_PATCH:
        result = json_patch(target, patch)
    elif not isinstance(patch, dict):
        raise bad_request("json: cannot unmarshal array into Go value of type map[string]interface {}")
    elif media == MERGE_PATCH:
        result = merge_patch(target, patch)
    else:
        result = strategic_merge(target, patch)
    if not isinstance(result, dict):
        raise bad_request("the patched object is not a JSON object")
    return result
