"""The error tree. Each error carries the stable public code that clients see in
`extensions.code`, and a message that says what to do next.

    LumbungError                 INTERNAL
    ├── ConfigurationError       INTERNAL (refused at start, never reaches a client)
    ├── Unauthenticated          UNAUTHENTICATED
    │   └── TokenExpired         UNAUTHENTICATED (same answer; WWW-Authenticate says it expired)
    ├── Forbidden                FORBIDDEN
    ├── BadUserInput             BAD_USER_INPUT
    ├── NotFound                 NOT_FOUND
    ├── Conflict                 CONFLICT
    ├── ChecksumMismatch         CHECKSUM_MISMATCH
    ├── InsufficientStorage      INSUFFICIENT_STORAGE
    ├── BackendUnavailable       BACKEND_UNAVAILABLE
    ├── JobFailed                INTERNAL: a job's work failed, for the reason its message gives
    │   ├── ToolFailed           the dump tool or the database client failed (in its own words)
    │   ├── StatementRefused     the database refused a statement of a backup being restored
    │   └── JobCancelled         the job was stopped before it finished (the server shut down)
    └── UnexpectedError          INTERNAL: anything else, logged under the reference it names

Foreign errors (a driver's, the OS's, a subprocess's) become part of this tree in one place,
`public_error`: what a client or the catalog is told is always one of these messages. A
driver's own words name hosts, users and SQL, so they go to the log only.
"""

from __future__ import annotations

import asyncio
import enum
import errno
import logging
import secrets

from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from sqlalchemy.exc import InterfaceError, OperationalError

log = logging.getLogger("lumbung.errors")


class ErrorCode(enum.Enum):
    UNAUTHENTICATED = "UNAUTHENTICATED"
    FORBIDDEN = "FORBIDDEN"
    BAD_USER_INPUT = "BAD_USER_INPUT"
    NOT_FOUND = "NOT_FOUND"
    CONFLICT = "CONFLICT"
    CHECKSUM_MISMATCH = "CHECKSUM_MISMATCH"
    INSUFFICIENT_STORAGE = "INSUFFICIENT_STORAGE"
    BACKEND_UNAVAILABLE = "BACKEND_UNAVAILABLE"
    INTERNAL = "INTERNAL"


class LumbungError(Exception):
    code = ErrorCode.INTERNAL

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class ConfigurationError(LumbungError):
    """The settings cannot work; the process refuses to start."""


class Unauthenticated(LumbungError):
    code = ErrorCode.UNAUTHENTICATED


class TokenExpired(Unauthenticated):
    """A token that verified but whose `exp` has passed. The client gets the same answer as for
    any refused token, and the HTTP header says `error="invalid_token"` (RFC 6750), so that it
    refreshes the token instead of sending its user to sign in again."""


class Forbidden(LumbungError):
    code = ErrorCode.FORBIDDEN


class BadUserInput(LumbungError):
    code = ErrorCode.BAD_USER_INPUT


class NotFound(LumbungError):
    code = ErrorCode.NOT_FOUND


class Conflict(LumbungError):
    code = ErrorCode.CONFLICT


class ChecksumMismatch(LumbungError):
    code = ErrorCode.CHECKSUM_MISMATCH


class InsufficientStorage(LumbungError):
    code = ErrorCode.INSUFFICIENT_STORAGE


class BackendUnavailable(LumbungError):
    code = ErrorCode.BACKEND_UNAVAILABLE


class JobFailed(LumbungError):
    """A background job's work failed for a known reason; its message is what the job's
    catalog row (`errorMessage`) and its final progress event say."""


class ToolFailed(JobFailed):
    """The dump tool or the database client exited with an error, was killed, or left its
    output unfinished; the message carries its own words (never a password: the tools name
    users and hosts at most)."""


class StatementRefused(JobFailed):
    """The database refused a statement of a backup being restored (the restore was rolled
    back)."""


class JobCancelled(JobFailed):
    """The job was stopped before it finished: the server shut down, or its work was cancelled."""


class UnexpectedError(LumbungError):
    """Anything the code did not foresee. Its cause is logged with the reference the message
    names; the message itself says nothing of the cause."""

    def __init__(self, reference: str) -> None:
        super().__init__(
            f"Unexpected error (reference {reference}). It has been logged under this "
            "reference; try again, or report it with the reference."
        )
        self.reference = reference


SHUTDOWN = "Interrupted: the server shut down while this job ran."
UNAVAILABLE_MESSAGE = (
    "A backend (the database or Redis) is unreachable right now; /readyz shows which. "
    "Try again once it is back."
)
DISK_FULL_MESSAGE = "A disk filled up (no space left on the device); free space and retry."
# A driver's own words name hosts and internals; what the client needs is that it is down.
BACKEND_ERRORS: tuple[type[BaseException], ...] = (
    OperationalError,
    InterfaceError,
    RedisConnectionError,
    RedisTimeoutError,
    ConnectionError,
)


def _known(exc: BaseException) -> LumbungError | None:
    """The public error a foreign error stands for, or None when it is unexpected."""
    if isinstance(exc, LumbungError):
        return exc
    if isinstance(exc, asyncio.CancelledError):
        return JobCancelled(SHUTDOWN)
    if isinstance(exc, BACKEND_ERRORS):
        return BackendUnavailable(UNAVAILABLE_MESSAGE)
    if isinstance(exc, OSError) and exc.errno == errno.ENOSPC:
        return InsufficientStorage(DISK_FULL_MESSAGE)
    return None


def error_code(exc: BaseException) -> ErrorCode:
    """The public code of any exception (nothing is logged)."""
    known = _known(exc)
    return ErrorCode.INTERNAL if known is None else known.code


def public_error(exc: BaseException) -> LumbungError:
    """Any exception as the public tree has it. An unexpected one is logged here, with its
    traceback, under a fresh reference that the returned error's message names."""
    known = _known(exc)
    if known is not None:
        return known
    reference = secrets.token_hex(4)
    log.error(
        "unexpected error %s: %s",
        reference,
        type(exc).__name__,
        exc_info=exc,
        extra={"event": "error.unexpected", "reference": reference},
    )
    return UnexpectedError(reference)
