"""kube-apiserver's errors as `Status` objects: the exact reasons, codes, details and messages clients parse.

Each constructor reproduces one of k8s.io/apimachinery `pkg/api/errors/errors.go` (NewNotFound, NewAlreadyExists,
NewConflict, NewInvalid, NewForbidden, NewUnauthorized, NewBadRequest, NewResourceExpired, NewMethodNotSupported)
and the field errors of `pkg/util/validation/field/errors.go` (`<field>: <Type>: <value>: <detail>`, aggregated as
`[a, b]`). Status is described at https://kubernetes.io/docs/reference/using-api/api-concepts/#response-status-kind.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

# The optimistic-lock message of k8s.io/apiserver storage (OptimisticLockErrorMsg)
MODIFIED = "the object has been modified; please apply your changes to the latest version and try again"
KINDS = {"secrets": "Secret", "configmaps": "ConfigMap", "namespaces": "Namespace"}


@dataclass
class FieldError:
    """One field.Error: `kind` is its ErrorType's text ("Invalid value", "Forbidden", "Required value", ...)."""

    path: str
    kind: str
    value: Any = None
    detail: str = ""
    cause: str = "FieldValueInvalid"
    show_value: bool = True

    def body(self) -> str:
        """ErrorBody(): the message without the field path."""
        text = self.kind
        if self.show_value:
            shown = json.dumps(self.value) if isinstance(self.value, str) else _go_value(self.value)
            text = f"{text}: {shown}"
        return f"{text}: {self.detail}" if self.detail else text

    def __str__(self) -> str:
        return f"{self.path}: {self.body()}"


def _go_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return str(value)
    return json.dumps(value, separators=(",", ":"))


def invalid_value(path: str, value: Any, detail: str) -> FieldError:
    return FieldError(path, "Invalid value", value, detail)


def forbidden_field(path: str, detail: str) -> FieldError:
    return FieldError(path, "Forbidden", detail=detail, cause="FieldValueForbidden", show_value=False)


def required(path: str, detail: str = "") -> FieldError:
    return FieldError(path, "Required value", detail=detail, cause="FieldValueRequired", show_value=False)


def too_long(path: str, limit: int) -> FieldError:
    detail = f"may not be more than {limit} bytes"
    return FieldError(path, "Too long", detail=detail, cause="FieldValueTooLong", show_value=False)


@dataclass
class KubeError(Exception):
    """A failed request, rendered as kube-apiserver's Status body by `status()`."""

    code: int
    reason: str
    message: str
    details: dict[str, Any] | None = None  # None: no `details` at all (the reason's constructor sets none)

    def __str__(self) -> str:
        return f"{self.code} {self.reason}: {self.message}"

    def status(self) -> dict[str, Any]:
        body: dict[str, Any] = {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure"}
        body["message"] = self.message
        if self.reason:
            body["reason"] = self.reason
        if self.details is not None:
            body["details"] = self.details
        body["code"] = self.code
        return body


def _details(resource: str, name: str) -> dict[str, Any]:
    return {"name": name, "kind": resource} if name else {"kind": resource}


def not_found(resource: str, name: str) -> KubeError:
    return KubeError(404, "NotFound", f'{resource} "{name}" not found', _details(resource, name))


def already_exists(resource: str, name: str) -> KubeError:
    return KubeError(409, "AlreadyExists", f'{resource} "{name}" already exists', _details(resource, name))


def conflict(resource: str, name: str, why: str = MODIFIED) -> KubeError:
    message = f'Operation cannot be fulfilled on {resource} "{name}": {why}'
    return KubeError(409, "Conflict", message, _details(resource, name))


def invalid(resource: str, name: str, errors: list[FieldError]) -> KubeError:
    """NewInvalid: 422, details.kind the Kind (`Secret`), one cause per field error."""
    kind = KINDS.get(resource, resource)
    seen: list[str] = []
    for err in errors:
        if str(err) not in seen:
            seen.append(str(err))
    joined = seen[0] if len(seen) == 1 else "[" + ", ".join(seen) + "]"
    causes = [{"reason": e.cause, "message": e.body(), "field": e.path} for e in errors]
    details = {"name": name, "kind": kind, "causes": causes} if name else {"kind": kind, "causes": causes}
    return KubeError(422, "Invalid", f'{kind} "{name}" is invalid: {joined}', details)


def forbidden(user: str, verb: str, resource: str, name: str, namespace: str) -> KubeError:
    """RBAC's denial, worded as the apiserver's authorization filter words it (responsewriters.forbiddenMessage)."""
    why = f'User "{user}" cannot {verb} resource "{resource}" in API group "" in the namespace "{namespace}"'
    subject = f'{resource} "{name}"' if name else resource
    return KubeError(403, "Forbidden", f"{subject} is forbidden: {why}", _details(resource, name))


def forbidden_path(user: str, path: str) -> KubeError:
    """A non-resource URL (`/api`, `/apis`) the user may not get."""
    return KubeError(403, "Forbidden", f'forbidden: User "{user}" cannot get path "{path}"', {})


def unauthorized() -> KubeError:
    return KubeError(401, "Unauthorized", "Unauthorized")


def bad_request(message: str) -> KubeError:
    return KubeError(400, "BadRequest", message)


def expired(message: str) -> KubeError:
    return KubeError(410, "Expired", message)


def method_not_supported(resource: str, action: str) -> KubeError:
    message = f'{action} is not supported on resources of kind "{resource}"'
    return KubeError(405, "MethodNotAllowed", message, {"kind": resource})


PATCH_TYPES = ("application/json-patch+json", "application/merge-patch+json", "application/strategic-merge-patch+json")


def unsupported_media_type() -> KubeError:
    """A PATCH body in a type this server does not take (server-side apply is not simulated)."""
    accepted = ", ".join(PATCH_TYPES)
    message = f"the body of the request was in an unknown format - accepted media types include: {accepted}"
    return KubeError(415, "UnsupportedMediaType", message)


def internal(message: str) -> KubeError:
    """500 without a reason, as the apiserver answers a storage error it does not classify."""
    return KubeError(500, "", message)
