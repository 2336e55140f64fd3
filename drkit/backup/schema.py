"""Validate stored documents (one per Argo CD object, plus the manifest) against drkit's JSON Schemas.

The schemas are package data in `drkit/schemas/v<version>/<kind>.json`, generated from Argo CD's CRDs and
swagger.json by the development tool `schemas/generate.py` (outside the package: it reads reference data).
Messages never quote a document's values, only paths and what the schema expects, because a value in the wrong
place may be a secret.

Documents are checked by jsonschema-rs, a compiled validator (~50x faster than jsonschema on an app, which
matters at 10,000 apps; fastjsonschema measured 4x slower than it and compiles for 0.5 s per kind); only a
document it refuses is checked again by jsonschema, whose errors the messages are made from.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

import jsonschema_rs

from drkit.argocd.kinds import RESTORE_ORDER
from drkit.errors import SchemaError
from drkit.kube.kinds import KUBE_KINDS

if TYPE_CHECKING:  # jsonschema is imported only when a document fails (its import costs 0.1 s a run)
    from jsonschema import Draft202012Validator
    from jsonschema.exceptions import ValidationError

FORMAT_VERSION = 1
READABLE_VERSIONS = (1,)
KINDS = (*RESTORE_ORDER, *KUBE_KINDS)  # every stored kind: Argo CD's eight, then --kube's ConfigMaps and Secrets
SCHEMA_NAMES = (*KINDS, "manifest", "drill")
SHOWN_PROBLEMS = 3
HINT = "fix or remove this object from the backup, or restore without it (--kinds/--app)"

_JSON_TYPES = (
    (bool, "boolean"),
    (int, "integer"),
    (float, "number"),
    (str, "string"),
    (list, "array"),
    (dict, "object"),
)


def _check_version(version: int) -> None:
    if version not in READABLE_VERSIONS:
        readable = ", ".join(str(v) for v in READABLE_VERSIONS)
        raise SchemaError(
            f"backup format version {version!r} is not one this drkit reads (it reads version {readable})",
            hint="use a drkit release that reads that format",
        )


def _check_kind(kind: str) -> None:
    if kind not in SCHEMA_NAMES:
        raise SchemaError(f"no schema for {kind!r}: drkit knows {', '.join(SCHEMA_NAMES)}")


@functools.cache
def _load(kind: str, version: int) -> dict[str, Any]:
    from importlib.resources import files

    text = files("drkit.schemas").joinpath(f"v{version}", f"{kind}.json").read_text(encoding="utf-8")
    return json.loads(text)


def schema_for(kind: str, version: int = FORMAT_VERSION) -> dict[str, Any]:
    """The JSON Schema of one kind (or `manifest`) in a backup format version; shared, do not mutate."""
    _check_version(version)
    _check_kind(kind)
    return _load(kind, version)


@functools.cache
def _validator(kind: str, version: int) -> Draft202012Validator:
    from jsonschema import Draft202012Validator

    return Draft202012Validator(schema_for(kind, version))


@functools.cache
def _compiled(kind: str, version: int) -> Any:
    return jsonschema_rs.Draft202012Validator(schema_for(kind, version))


def _fast_valid(kind: str, document: Any, version: int) -> bool:
    """The compiled validator's verdict; False for a value JSON has no type for (a YAML timestamp, binary)."""
    try:
        return bool(_compiled(kind, version).is_valid(document))
    except ValueError:  # "Unsupported type": jsonschema then names the field and the type it must have
        return False


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    for python_type, name in _JSON_TYPES:
        if isinstance(value, python_type):
            return name
    return type(value).__name__


def path_of(parts: Iterable[str | int]) -> str:
    """Render a JSON path as `spec.sources[0].repoURL`; keys that are not plain words are quoted."""
    text = ""
    for part in parts:
        if isinstance(part, int):
            text += f"[{part}]"
        elif part.replace("_", "").replace("-", "").isalnum():
            text += f".{part}" if text else part
        else:
            text += f"[{json.dumps(part)}]"
    return text or "(document)"


def _describe(error: ValidationError) -> str:
    """What is wrong, from the schema's side only: never the instance's value."""
    keyword, expected = error.validator, error.validator_value
    if error.schema is False or keyword is None or (keyword == "not" and expected == {}):
        return "must not be stored in a backup (a secret or server-owned field)"
    if keyword == "type":
        types = [expected] if isinstance(expected, str) else expected
        return f"is {_json_type(error.instance)}, must be {' or '.join(types)}"
    if keyword == "required":
        return error.message  # "'server' is a required property": names from the schema, no value
    if keyword == "additionalProperties":
        known = error.schema.get("properties", {})
        extra = sorted(k for k in error.instance if k not in known) if isinstance(error.instance, dict) else []
        return f"unexpected field(s) {', '.join(repr(k) for k in extra)}"
    if keyword == "const":
        return f"must be {json.dumps(expected)}"
    if keyword == "enum":
        return f"must be one of {', '.join(json.dumps(v) for v in expected)}"
    if keyword == "pattern":
        return f"does not match the pattern {expected}"
    if keyword in ("minLength", "maxLength", "minimum", "maximum", "minItems", "maxItems"):
        return f"violates {keyword} {expected}"
    return f"fails the {keyword!r} check"


def _format(error: ValidationError) -> str:
    return f"{path_of(error.absolute_path)}: {_describe(error)}"


def _sorted_errors(kind: str, document: Any, version: int) -> list[ValidationError]:
    errors = _validator(kind, version).iter_errors(document)
    return sorted(errors, key=lambda e: ([str(p) for p in e.absolute_path], str(e.validator)))


def problems(kind: str, document: Any, version: int = FORMAT_VERSION) -> list[str]:
    """Every problem of a document, as `path: what is wrong` (empty when it validates)."""
    if _fast_valid(kind, document, version):
        return []
    return [_format(error) for error in _sorted_errors(kind, document, version)]


def validate(kind: str, document: Any, where: str, version: int = FORMAT_VERSION) -> None:
    """Raise SchemaError naming `where` and its first problems when the document does not validate."""
    found = problems(kind, document, version)
    if not found:
        return
    raise SchemaError(f"{where}: invalid document: {_summary(found)}", hint=HINT)


def _summary(found: Sequence[str]) -> str:
    shown = "; ".join(found[:SHOWN_PROBLEMS])
    more = len(found) - SHOWN_PROBLEMS
    return f"{shown} (and {more} more)" if more > 0 else shown
