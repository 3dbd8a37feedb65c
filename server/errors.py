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
    └── BackendUnavailable       BACKEND_UNAVAILABLE
"""

from __future__ import annotations

import enum


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
