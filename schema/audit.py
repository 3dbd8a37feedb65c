"""One structured audit record for every mutation: who, what, with which arguments, and how
it ended (ok, rejected with a client error, failed). Denied requests are recorded by the
token check itself (`auth.denied`), before anything is parsed."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

from graphql import OperationDefinitionNode, OperationType
from strawberry.extensions import SchemaExtension

from schema.errors import error_code
from server.errors import ErrorCode

log = logging.getLogger("lumbung.audit")

CLIENT_CODES = {
    ErrorCode.BAD_USER_INPUT,
    ErrorCode.NOT_FOUND,
    ErrorCode.CONFLICT,
    ErrorCode.CHECKSUM_MISMATCH,
    ErrorCode.INSUFFICIENT_STORAGE,
    ErrorCode.UNAUTHENTICATED,
    ErrorCode.FORBIDDEN,
}
# A webhook's `url` may carry its token in the path (Slack's do); an age identity is a key.
SECRET_WORDS = (
    "password",
    "secret",
    "token",
    "authorization",
    "key",
    "url",
    "identity",
    "passphrase",
)
MAX_VALUE_CHARS = 200


def redacted(value: Any, name: str = "") -> Any:
    """Arguments as the log may keep them: secrets hidden, long strings clipped."""
    if any(word in name.lower() for word in SECRET_WORDS):
        return "***"
    if isinstance(value, dict):
        return {k: redacted(v, k) for k, v in value.items()}
    if isinstance(value, list):
        return [redacted(v, name) for v in value[:50]]
    if isinstance(value, str) and len(value) > MAX_VALUE_CHARS:
        return value[:MAX_VALUE_CHARS] + "..."
    return value


class AuditMutations(SchemaExtension):
    def on_operation(self) -> Iterator[None]:
        yield
        context = self.execution_context
        document = context.graphql_document
        if document is None:
            return
        operations = [
            d
            for d in document.definitions
            if isinstance(d, OperationDefinitionNode) and d.operation is OperationType.MUTATION
        ]
        if not operations:
            return
        fields = [
            getattr(selection, "name", None) and selection.name.value  # type: ignore[attr-defined]
            for operation in operations
            for selection in operation.selection_set.selections
        ]
        errors = list(getattr(context.result, "errors", None) or [])
        codes = {error_code(error) for error in errors}
        outcome = "ok" if not errors else "rejected" if codes <= CLIENT_CODES else "failed"
        principal = getattr(context.context, "principal", None)
        log.info(
            "mutation %s: %s",
            ",".join(f for f in fields if f),
            outcome,
            extra={
                "event": "audit.mutation",
                "sub": principal.subject if principal else None,
                "client": getattr(context.context, "client", "-"),
                "operation": context.operation_name,
                "fields": [f for f in fields if f],
                "variables": redacted(context.variables or {}),
                "outcome": outcome,
                "codes": sorted(code.value for code in codes),
                "errors": [error.message[:MAX_VALUE_CHARS] for error in errors[:3]],
            },
        )
