"""What kube-apiserver validates on a ConfigMap or Secret, message for message, and how it decodes `data`.

Sources (k8s.io/apimachinery unless noted): `pkg/util/validation/validation.go` (IsDNS1123Subdomain,
IsConfigMapKey, MaxLenError, RegexError), `pkg/api/validate/content/kube.go` (label keys and values),
`pkg/api/validation/objectmeta.go` (ValidateObjectMeta, annotations' 256 KiB), kubernetes
`pkg/apis/core/validation/validation.go` (ValidateSecret, ValidateConfigMap and their Update forms: keys, the
1 MiB limit, the Secret types' required keys, `immutable`). Object names: https://kubernetes.io/docs/concepts/
overview/working-with-objects/names/#dns-subdomain-names. Secret `data` is `[]byte`, so JSON carries it as
base64 and a value that is not base64 fails decoding, before validation, with 400 BadRequest `Secret in version
"v1" cannot be handled as a Secret: illegal base64 data at input byte N` (Go's encoding/base64, StdEncoding).
"""

from __future__ import annotations

import base64
import re
from typing import Any

from drkit.testing.kube.status import (
    FieldError,
    bad_request,
    forbidden_field,
    invalid,
    invalid_value,
    required,
    too_long,
)

DNS1123_LABEL = "[a-z0-9]([-a-z0-9]*[a-z0-9])?"
DNS1123_SUBDOMAIN = DNS1123_LABEL + "(\\." + DNS1123_LABEL + ")*"
SUBDOMAIN_MESSAGE = (
    "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start "
    "and end with an alphanumeric character"
)
CONFIG_KEY = "[-._a-zA-Z0-9]+"
CONFIG_KEY_MESSAGE = "a valid config key must consist of alphanumeric characters, '-', '_' or '.'"
LABEL_KEY = "([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]"
LABEL_KEY_MESSAGE = (
    "must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character"
)
LABEL_VALUE = "(" + LABEL_KEY + ")?"
LABEL_VALUE_MESSAGE = (
    "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start "
    "and end with an alphanumeric character"
)
MAX_SECRET_SIZE = 1024 * 1024  # corev1.MaxSecretSize, also the ConfigMap limit
MAX_ANNOTATIONS = 256 * 1024  # TotalAnnotationSizeLimitB
IMMUTABLE = "field is immutable when `immutable` is set"
SECRET_TYPES_REQUIRED = {  # ValidateSecret: the keys each built-in type needs
    "kubernetes.io/dockercfg": (".dockercfg",),
    "kubernetes.io/dockerconfigjson": (".dockerconfigjson",),
    "kubernetes.io/ssh-auth": ("ssh-privatekey",),
    "kubernetes.io/tls": ("tls.crt", "tls.key"),
}


def _full(pattern: str) -> re.Pattern[str]:
    return re.compile("^(?:" + pattern + ")$")


_SUBDOMAIN, _CONFIG_KEY, _LABEL_KEY, _LABEL_VALUE = map(_full, (DNS1123_SUBDOMAIN, CONFIG_KEY, LABEL_KEY, LABEL_VALUE))


def max_len(limit: int) -> str:
    return f"must be no more than {limit} characters"


def regex_error(message: str, fmt: str, *examples: str) -> str:
    """RegexError: the message, the examples, then the regex."""
    shown = "".join(f"{' or ' if i else ''}'{e}', " for i, e in enumerate(examples))
    if not examples:
        return f"{message} (regex used for validation is '{fmt}')"
    return f"{message} (e.g. {shown}regex used for validation is '{fmt}')"


def subdomain_errors(value: str) -> list[str]:
    """IsDNS1123Subdomain: at most 253 characters of lower-case DNS labels joined by dots."""
    errors = [max_len(253)] if len(value) > 253 else []
    if not _SUBDOMAIN.match(value):
        errors.append(regex_error(SUBDOMAIN_MESSAGE, DNS1123_SUBDOMAIN, "example.com"))
    return errors


def config_key_errors(value: str) -> list[str]:
    """IsConfigMapKey: the keys of `data`, `binaryData` and `stringData`."""
    errors = [max_len(253)] if len(value) > 253 else []
    if not _CONFIG_KEY.match(value):
        errors.append(regex_error(CONFIG_KEY_MESSAGE, CONFIG_KEY, "key.name", "KEY_NAME", "key-name"))
    if value == ".":
        errors.append("must not be '.'")
    elif value == "..":
        errors.append("must not be '..'")
    elif value.startswith(".."):
        errors.append("must not start with '..'")
    return errors


def label_key_errors(value: str) -> list[str]:
    """IsLabelKey (= IsQualifiedName): an optional DNS subdomain prefix and '/', then a name of 63 at most."""
    parts = value.split("/")
    errors: list[str] = []
    if len(parts) > 2:
        return [
            "a valid label key "
            + regex_error(LABEL_KEY_MESSAGE, LABEL_KEY, "MyName", "my.name", "123-abc")
            + " with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')"
        ]
    name = parts[-1]
    if len(parts) == 2:
        if not parts[0]:
            errors.append("prefix part must be non-empty")
        else:
            errors += ["prefix part " + m for m in subdomain_errors(parts[0])]
    if not name:
        errors.append("name part must be non-empty")
    elif len(name) > 63:
        errors.append("name part " + max_len(63))
    if not _LABEL_KEY.match(name):
        errors.append("name part " + regex_error(LABEL_KEY_MESSAGE, LABEL_KEY, "MyName", "my.name", "123-abc"))
    return errors


def label_value_errors(value: str) -> list[str]:
    errors = [max_len(63)] if len(value) > 63 else []
    if not _LABEL_VALUE.match(value):
        errors.append(regex_error(LABEL_VALUE_MESSAGE, LABEL_VALUE, "MyValue", "my_value", "12345"))
    return errors


_ALPHABET = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/")


def _skip_newlines(text: str, i: int) -> int:
    while i < len(text) and text[i] in "\r\n":
        i += 1
    return i


def go_base64(text: str) -> bytes:
    """Go's base64.StdEncoding.DecodeString (decodeQuantum): padded, CR and LF skipped, and on bad input a
    ValueError naming the byte offset Go names."""
    si, kept = 0, []
    while True:
        j = 0
        while j < 4:
            si = _skip_newlines(text, si)
            if si == len(text):
                if j == 0:
                    return base64.b64decode("".join(kept))
                raise ValueError(f"illegal base64 data at input byte {si - j}")
            ch, si = text[si], si + 1
            if ch == "=":
                if j < 2:
                    raise ValueError(f"illegal base64 data at input byte {si - 1}")
                if j == 2:
                    si = _skip_newlines(text, si)
                    if si == len(text):
                        raise ValueError(f"illegal base64 data at input byte {len(text)}")
                    if text[si] != "=":
                        raise ValueError(f"illegal base64 data at input byte {si - 1}")
                    si += 1
                si = _skip_newlines(text, si)
                if si < len(text):
                    raise ValueError(f"illegal base64 data at input byte {si}")
                kept.append("=" * (4 - j))
                return base64.b64decode("".join(kept))
            if ch not in _ALPHABET:
                raise ValueError(f"illegal base64 data at input byte {si - 1}")
            kept.append(ch)
            j += 1


def decode_data(kind: str, data: Any) -> dict[str, bytes]:
    """A Secret's `data` (or a ConfigMap's `binaryData`) decoded, or the decoder's 400 BadRequest."""
    if data is None:
        return {}
    if not isinstance(data, dict) or not all(isinstance(v, str) for v in data.values()):
        raise bad_request(f'{kind} in version "v1" cannot be handled as a {kind}: json: cannot unmarshal data')
    out = {}
    for key, value in data.items():
        try:
            out[key] = go_base64(value)
        except ValueError as err:
            raise bad_request(f'{kind} in version "v1" cannot be handled as a {kind}: {err}') from None
    return out


def meta_errors(meta: dict[str, Any]) -> list[FieldError]:
    """ValidateObjectMeta for a namespaced object whose name must be a DNS subdomain."""
    errors: list[FieldError] = []
    name = meta.get("name") or ""
    if not name:
        errors.append(required("metadata.name", "name or generateName is required"))
    errors += [invalid_value("metadata.name", name, m) for m in subdomain_errors(name)] if name else []
    for key, value in (meta.get("labels") or {}).items():
        errors += [invalid_value("metadata.labels", key, m) for m in label_key_errors(key)]
        errors += [invalid_value("metadata.labels", value, m) for m in label_value_errors(str(value))]
    annotations = meta.get("annotations") or {}
    for key in annotations:
        errors += [invalid_value("metadata.annotations", key, m) for m in label_key_errors(key.lower())]
    if sum(len(k) + len(str(v)) for k, v in annotations.items()) > MAX_ANNOTATIONS:
        errors.append(too_long("metadata.annotations", MAX_ANNOTATIONS))
    return errors


def object_errors(resource: str, obj: dict[str, Any], binary: dict[str, bytes]) -> list[FieldError]:
    """ValidateSecret / ValidateConfigMap; `binary` is the Secret's decoded data or the ConfigMap's binaryData."""
    errors = meta_errors(obj.get("metadata") or {})
    if resource == "secrets":
        for key in binary:
            errors += [invalid_value(f"data[{key}]", key, m) for m in config_key_errors(key)]
        if sum(len(v) for v in binary.values()) > MAX_SECRET_SIZE:
            errors.append(too_long("data", MAX_SECRET_SIZE))
        kind = obj.get("type") or "Opaque"
        for key in SECRET_TYPES_REQUIRED.get(kind, ()):
            if key not in binary or (kind == "kubernetes.io/ssh-auth" and not binary[key]):
                errors.append(required(f"data[{key}]"))
        if kind == "kubernetes.io/basic-auth" and "username" not in binary and "password" not in binary:
            errors += [required("data[username]"), required("data[password]")]
        annotations = obj.get("metadata", {}).get("annotations") or {}
        if kind == "kubernetes.io/service-account-token" and not annotations.get("kubernetes.io/service-account.name"):
            errors.append(required("metadata.annotations[kubernetes.io/service-account.name]"))
        return errors
    data = obj.get("data") or {}
    for key in data:
        errors += [invalid_value(f"data[{key}]", key, m) for m in config_key_errors(key)]
        if key in binary:
            errors.append(invalid_value(f"data[{key}]", key, "duplicate of key present in binaryData"))
    for key in binary:
        errors += [invalid_value(f"binaryData[{key}]", key, m) for m in config_key_errors(key)]
    if sum(len(v.encode()) for v in data.values()) + sum(len(v) for v in binary.values()) > MAX_SECRET_SIZE:
        errors.append(too_long("", MAX_SECRET_SIZE))
    return errors


def update_errors(resource: str, new: dict[str, Any], old: dict[str, Any]) -> list[FieldError]:
    """ValidateSecretUpdate / ValidateConfigMapUpdate: immutable name, uid and type; `immutable` objects."""
    errors: list[FieldError] = []
    new_meta, old_meta = new["metadata"], old["metadata"]
    for field in ("name", "uid"):
        if new_meta.get(field) != old_meta.get(field):
            errors.append(invalid_value(f"metadata.{field}", new_meta.get(field) or "", "field is immutable"))
    if resource == "secrets" and new.get("type") != old.get("type"):
        errors.append(invalid_value("type", new.get("type") or "", "field is immutable"))
    if old.get("immutable"):
        if not new.get("immutable"):
            errors.append(forbidden_field("immutable", IMMUTABLE))
        fields = ("data",) if resource == "secrets" else ("data", "binaryData")
        errors += [forbidden_field(f, IMMUTABLE) for f in fields if (new.get(f) or {}) != (old.get(f) or {})]
    return errors


def check(resource: str, name: str, errors: list[FieldError]) -> None:
    """Raise 422 Invalid when there are errors."""
    if errors:
        raise invalid(resource, name, errors)
