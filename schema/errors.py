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

from server import errors
from server.errors import ErrorCode, LumbungError

log = logging.getLogger("lumbung.graphql")

MASKED_MESSAGE = "Unexpected error. It has been logged; try again, or report it with the time."


def error_code(error: GraphQLError) -> ErrorCode:
    original = error.original_error
    if original is None or isinstance(original, GraphQLError):
        # Syntax, validation and variable-coercion errors: the request itself is wrong.
        return ErrorCode.BAD_USER_INPUT
    if isinstance(original, ValueError) and error.path is None:
        return ErrorCode.BAD_USER_INPUT  # a custom scalar refusing a literal or a variable
    return errors.error_code(original)


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
    elif code is not ErrorCode.BAD_USER_INPUT and not isinstance(original, LumbungError):
        # A foreign error the tree knows (a backend down, a full disk): its public message,
        # never the driver's or the OS's words.
        log.warning(
            "%s: %s",
            code.value.lower().replace("_", " "),
            type(original).__name__,
            extra={"event": "backend.unavailable"}
            if code is ErrorCode.BACKEND_UNAVAILABLE
            else {"event": "error.known", "code": code.value},
        )
        assert original is not None
        message, original = errors.public_error(original).message, None
    return GraphQLError(
        message,
        nodes=error.nodes,
        source=error.source,
        positions=error.positions,
        path=error.path,
        original_error=original,
        extensions={**(error.extensions or {}), "code": code.value},
    )
