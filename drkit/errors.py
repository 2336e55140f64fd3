"""drkit's error classes: each owns its exit code and a message that says what to do next."""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable
from typing import Any

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_PARTIAL = 3
EXIT_SIGNAL = {signal.SIGINT: 130, signal.SIGTERM: 143}  # 128 + the signal number, as shells report it


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


class Unreachable(ConnectionFailed):
    """Argo CD gave no answer after the retries (refused, DNS, TLS, or silent), not merely a slow answer to a call
    whose caller bounded its wait: nothing more can be done with it, so every later request fails at once."""


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


def ends_run(err: BaseException) -> bool:
    """The one rule for errors after which a run cannot go on: the token refused, or Argo CD unreachable.

    Export, restore's apply and its converge step all stop on these (and only these), once, saying what was done.
    A 401 a managed cluster gave Argo CD is not drkit's token being refused: restore records that as the cluster's.
    """
    return isinstance(err, (AuthError, Unreachable))


class Stop:
    """Why a run stops starting new work, shared by its threads: a run-ending error, or SIGTERM/SIGINT.

    The first reason wins; `exit_code` is the run's (1 for Argo CD unreachable, 2 for a refused token, 130/143 for
    SIGINT/SIGTERM, as CONTRACT.md says).
    """

    def __init__(self) -> None:
        self._set = threading.Event()
        self._lock = threading.Lock()
        self._hooks: list[Callable[[], Any]] = []
        self.reason = ""
        self.exit_code = EXIT_OK

    def __bool__(self) -> bool:
        return self._set.is_set()

    def halt(self, reason: str, exit_code: int) -> None:
        """Stop starting new work, for `reason`; later calls keep the first reason."""
        with self._lock:
            if self._set.is_set():
                return
            self.reason, self.exit_code = reason, exit_code
            self._set.set()
            hooks, self._hooks = self._hooks, []
        for hook in hooks:
            _soon(hook)

    def on_halt(self, hook: Callable[[], Any]) -> None:
        """Call `hook` once halted (at once if it is): end waits and close streams, so the stop is quick.

        Each runs in a thread of its own: `halt` may be called from a signal handler, which must not take a lock
        the interrupted thread holds.
        """
        with self._lock:
            if not self._set.is_set():
                self._hooks.append(hook)
                return
        _soon(hook)

    def on_error(self, err: ApiError) -> None:
        """Halt for a run-ending error (see `ends_run`)."""
        self.halt(str(err), err.exit_code)

    def on_signal(self, signum: int) -> None:
        """Halt for SIGINT or SIGTERM."""
        name = signal.Signals(signum).name
        self.halt(f"interrupted by {name}: no new work was started after it", EXIT_SIGNAL.get(signum, EXIT_FAILED))

    def wait(self, seconds: float) -> bool:
        """Sleep up to `seconds`, waking early when halted; True when halted."""
        return self._set.wait(seconds)


def _soon(hook: Callable[[], Any]) -> None:
    threading.Thread(target=hook, name="on-halt", daemon=True).start()
