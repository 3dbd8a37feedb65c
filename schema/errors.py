"""Every error leaves with `extensions.code`; unexpected ones are logged and, in production,
masked.

This runs at the edge (the view's `process_result`), not in a schema extension: Strawberry's
ParserCache raises syntax errors past the operation hooks, so an extension (MaskErrors
included) never sees them; and a masked error can no longer be told from a validation error,
so coding and masking must happen in one place.
"""

from __future__ import annotations

import logging

from graphql import GraphQLError
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from sqlalchemy.exc import InterfaceError, OperationalError

from server.errors import ErrorCode, LumbungError

log = logging.getLogger("lumbung.graphql")

MASKED_MESSAGE = "Unexpected error. It has been logged; try again, or report it with the time."
UNAVAILABLE_MESSAGE = (
    "A backend (the database or Redis) is unreachable right now; /readyz shows which. "
    "Try again once it is back."
)
# A driver's own words name hosts and internals; what the client needs is that it is down.
BACKEND_ERRORS = (
    OperationalError,
    InterfaceError,
    RedisConnectionError,
    RedisTimeoutError,
    ConnectionError,
)


def error_code(error: GraphQLError) -> ErrorCode:
    original = error.original_error
    if isinstance(original, LumbungError):
        return original.code
    if original is None or isinstance(original, GraphQLError):
        # Syntax, validation and variable-coercion errors: the request itself is wrong.
        return ErrorCode.BAD_USER_INPUT
    if isinstance(original, BACKEND_ERRORS):
        return ErrorCode.BACKEND_UNAVAILABLE
    if isinstance(original, ValueError) and error.path is None:
        return ErrorCode.BAD_USER_INPUT  # a custom scalar refusing a literal or a variable
    return ErrorCode.INTERNAL


def public_error(error: GraphQLError, *, mask_unexpected: bool) -> GraphQLError:
    """The error as a client may see it: with its code, and masked when unexpected."""
    code = error_code(error)
    message = error.message
    original = error.original_error
    if code is ErrorCode.INTERNAL:
        log.error(
            "unexpected error in %s",
            ".".join(str(p) for p in error.path or ()) or "request",
            exc_info=original,
            extra={"event": "graphql.internal_error"},
        )
        if mask_unexpected:
            message, original = MASKED_MESSAGE, None
    elif code is ErrorCode.BACKEND_UNAVAILABLE and not isinstance(original, LumbungError):
        log.warning(
            "backend unavailable: %s",
            type(original).__name__,
            extra={"event": "backend.unavailable"},
        )
        message, original = UNAVAILABLE_MESSAGE, None
    return GraphQLError(
        message,
        nodes=error.nodes,
        source=error.source,
        positions=error.positions,
        path=error.path,
        original_error=original,
        extensions={**(error.extensions or {}), "code": code.value},
    )
