"""Every error leaves with `extensions.code`; unexpected ones are logged and, in production,
masked. Strawberry's MaskErrors masks but knows nothing of codes, and a masked error can no
longer be told from a GraphQL validation error, so both jobs live in this one extension."""

from __future__ import annotations

import logging
from collections.abc import Iterator

from graphql import GraphQLError
from strawberry.extensions import SchemaExtension

from server.errors import ErrorCode, LumbungError

log = logging.getLogger("lumbung.graphql")

MASKED_MESSAGE = "Unexpected error. It has been logged; try again, or report it with the time."


def error_code(error: GraphQLError) -> ErrorCode:
    original = error.original_error
    if isinstance(original, LumbungError):
        return original.code
    if original is None or isinstance(original, GraphQLError):
        # Syntax, validation and variable-coercion errors: the request itself is wrong.
        return ErrorCode.BAD_USER_INPUT
    if isinstance(original, ValueError) and error.path is None:
        return ErrorCode.BAD_USER_INPUT  # a custom scalar refusing a literal or a variable
    return ErrorCode.INTERNAL


class ErrorCodes(SchemaExtension):
    def __init__(self, *, mask_unexpected: bool) -> None:
        self.mask_unexpected = mask_unexpected

    def on_operation(self) -> Iterator[None]:
        yield
        result = self.execution_context.result
        if result is not None and getattr(result, "errors", None):
            result.errors = [self._public(error) for error in result.errors]

    def _public(self, error: GraphQLError) -> GraphQLError:
        code = error_code(error)
        message = error.message
        original = error.original_error
        if code is ErrorCode.INTERNAL:
            log.error(
                "unexpected error in %s",
                ".".join(str(p) for p in error.path or ()),
                exc_info=original,
                extra={"event": "graphql.internal_error"},
            )
            if self.mask_unexpected:
                message, original = MASKED_MESSAGE, None
        return GraphQLError(
            message,
            nodes=error.nodes,
            source=error.source,
            positions=error.positions,
            path=error.path,
            original_error=original,
            extensions={**(error.extensions or {}), "code": code.value},
        )
