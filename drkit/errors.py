"""drkit's error classes: each owns its exit code and a message that says what to do next."""

from __future__ import annotations

from typing import Any

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_PARTIAL = 3


class DrkitError(Exception):
    """Base of every error drkit raises on purpose; the message names the object and the next step."""

    exit_code = EXIT_FAILED

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        self.message = message
        self.hint = hint
        super().__init__(message if not hint else f"{message}; {hint}")


class ConfigError(DrkitError):
    """Bad flags, environment or configuration: nothing was done."""

    exit_code = EXIT_USAGE


class CredentialError(ConfigError):
    """A credentials-file entry is malformed or cannot be resolved: nothing was written."""


class StoreError(DrkitError):
    """The backup store could not be read or written."""


class ObjectNotFound(StoreError):
    """A key is absent from the store."""


class BackupNotFound(StoreError):
    """No complete backup matches the id (or `latest`) asked for."""


class IntegrityError(DrkitError):
    """A stored document fails its checksum or schema: a restore stops before its first write."""


class SchemaError(IntegrityError):
    """A document does not validate against its JSON Schema."""


class ApiError(DrkitError):
    """The Argo CD API answered with an error, or could not be reached.

    `status` is the HTTP status (0 when no answer came), `grpc_code` the gateway's gRPC code when the body
    carried one, and `api_message` Argo CD's own words.
    """

    def __init__(
        self,
        message: str,
        *,
        status: int = 0,
        grpc_code: int | None = None,
        api_message: str = "",
        hint: str | None = None,
    ) -> None:
        self.status = status
        self.grpc_code = grpc_code
        self.api_message = api_message
        super().__init__(message, hint=hint)


class ConnectionFailed(ApiError):
    """No HTTP answer at all: DNS, TCP, TLS, or a timeout, after the retries ran out."""


class AuthError(ApiError):
    """The Argo CD token was refused (401): nothing more can be done with it."""

    exit_code = EXIT_USAGE


class PermissionDenied(ApiError):
    """403: the token lacks the RBAC permission, or Argo CD hides that the object does not exist."""


class NotFound(ApiError):
    """404 from the API."""


class TooLarge(ApiError):
    """429 ResourceExhausted: the answer (`size` bytes) passes argocd-server's gRPC message limit (`limit` bytes).

    Argo CD sends each list as one gRPC message, capped by ARGOCD_GRPC_MAX_SIZE_MB on argocd-server; there is
    no pagination, so a retry gets the same answer (API-NOTES §1.4).
    """

    def __init__(self, message: str, *, size: int, limit: int, **kwargs: Any) -> None:
        self.size = size
        self.limit = limit
        super().__init__(message, **kwargs)
