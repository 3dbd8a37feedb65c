"""The GraphQL layer: types, queries, permissions, the endpoint; schema.graphql is its SDL."""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import strawberry
from graphql import GraphQLError
from strawberry.extensions import (
    AddValidationRules,
    DisableIntrospection,
    MaxAliasesLimiter,
    MaxTokensLimiter,
    ParserCache,
    QueryDepthLimiter,
    SchemaExtension,
    ValidationCache,
)
from strawberry.schema.config import StrawberryConfig
from strawberry.schema.schema import DEFAULT_ALLOWED_OPERATION_TYPES
from strawberry.types import ExecutionResult
from strawberry.types.graphql import OperationType

from schema.audit import AuditMutations
from schema.backup_mutations import BackupMutation
from schema.cache_mutations import CacheMutation
from schema.drill_mutations import DrillMutation
from schema.enums import ErrorCode
from schema.errors import error_code
from schema.executor import LumbungExecutionContext
from schema.notifications import NotificationMutation
from schema.offsite import OffsiteMutation
from schema.queries import Query
from schema.scalars import SCALAR_MAP
from schema.schedules import ScheduleMutation
from schema.subscriptions import Subscription
from server.settings import Settings

SDL_PATH = Path(__file__).with_name("schema.graphql")
# Each domain declares its mutations in its own module; they are merged into one Mutation type.
MUTATIONS: tuple[type, ...] = (
    BackupMutation,
    OffsiteMutation,
    DrillMutation,
    NotificationMutation,
    CacheMutation,
    ScheduleMutation,
)
log = logging.getLogger("lumbung.graphql")
# graphql-core's hints ("Did you mean 'page'?") on unknown fields, arguments, input fields,
# enum values and types: with introspection off, they would still map the schema.
SUGGESTION = re.compile(r"\s*Did you mean [^?]*\?")


class LumbungSchema(strawberry.Schema):
    def process_errors(self, errors: list[GraphQLError], execution_context: Any = None) -> None:
        if self.config.disable_field_suggestions:
            # Strawberry's own switch only trims "Cannot query field ..." messages.
            for error in errors:
                error.message = SUGGESTION.sub("", error.message)
        # Strawberry logs every error with its traceback: a client's bad request would flood
        # the log. One compact line per request instead; unexpected errors are logged, with
        # their traceback, by the ErrorCodes extension.
        log.info(
            "graphql request returned errors",
            extra={
                "event": "graphql.errors",
                "codes": sorted({error_code(error).value for error in errors}),
                "first": errors[0].message[:200],
                "count": len(errors),
            },
        )

    async def execute(
        self,
        query: str | None,
        variable_values: dict[str, Any] | None = None,
        context_value: Any | None = None,
        root_value: Any | None = None,
        operation_name: str | None = None,
        allowed_operation_types: Iterable[OperationType] | None = None,
        operation_extensions: dict[str, Any] | None = None,
    ) -> ExecutionResult:
        # `execute` is the HTTP path (websockets go through `stream`). Strawberry lets a
        # subscription through it, for multipart streaming, which Lumbung does not offer: it
        # would run as a query and answer null with an INTERNAL error. Refused instead, before
        # anything runs; the view tells the client to use the websocket.
        allowed = set(allowed_operation_types or DEFAULT_ALLOWED_OPERATION_TYPES)
        allowed.discard(OperationType.SUBSCRIPTION)
        return await super().execute(
            query,
            variable_values,
            context_value,
            root_value,
            operation_name,
            allowed,
            operation_extensions,
        )


def _mutation_type() -> type:
    # One Mutation type inheriting every domain's fields (merge_types cannot describe it).
    merged = type("Mutation", MUTATIONS, {})
    return strawberry.type(
        merged,
        description=(
            "Change things: backups, restores, drills, notification channels, caches, schedules."
        ),
    )


def build_schema(settings: Settings | None = None) -> LumbungSchema:
    """The schema, with the extensions the settings ask for (none when settings is None,
    which is how the SDL snapshot is exported: extensions never change the SDL)."""
    # Factories, not instances: Strawberry builds fresh extensions for every request (the
    # parser and validation caches are module-level LRUs, shared across requests all the same).
    extensions: list[Callable[[], SchemaExtension]] = []
    suggestions = True
    if settings is not None:
        suggestions = settings.field_suggestions_enabled
        # The limiters' validation rules are classes made when a limiter is constructed. Made
        # once here, every request validates with the same rules, so the validation cache (keyed
        # by document and rules) hits; a limiter built per request would miss every time.
        rules = [
            *QueryDepthLimiter(max_depth=settings.max_query_depth).validation_rules,
            *MaxAliasesLimiter(max_alias_count=settings.max_aliases).validation_rules,
        ]
        if not settings.introspection_enabled:
            rules.extend(DisableIntrospection().validation_rules)
        tokens = settings.max_tokens
        extensions = [
            AuditMutations,
            lambda: AddValidationRules(rules),
            lambda: MaxTokensLimiter(max_token_count=tokens),
            lambda: ParserCache(maxsize=256),
            lambda: ValidationCache(maxsize=256),
        ]
    return LumbungSchema(
        query=Query,
        mutation=_mutation_type(),
        subscription=Subscription,
        types=[ErrorCode],
        extensions=extensions,
        execution_context_class=LumbungExecutionContext,
        config=StrawberryConfig(disable_field_suggestions=not suggestions, scalar_map=SCALAR_MAP),
    )


def export_sdl() -> str:
    return build_schema().as_str() + "\n"
