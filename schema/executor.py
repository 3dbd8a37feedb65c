"""How graphql-core executes Lumbung's operations: two changes to Strawberry's execution context.

1. **Plain leaf fields in one step.** A page of 100 backups with their creators and restore
   logs is ~1,700 field executions, and ~1,500 of them are attribute reads of a scalar or enum
   (`id`, `status`, `createdAt`, ...) that Strawberry resolves with `getattr` and no `Info`.
   graphql-core still builds a path, a resolve info and an awaitable check for each, then walks
   `complete_value`: most of the request's CPU. For such fields `execute_fields` reads the
   attribute and coerces it with the field's own type directly. Whatever is not plainly a value
   (None on a non-null field, an exception, a value the type refuses) goes the regular way,
   which raises, locates and reports the error exactly as before; so does every field with a
   resolver, arguments, a list or an object type, and everything when middleware is in use.
2. **A memo per subscription event** (see `build_per_event_executor`).
"""

from __future__ import annotations

import weakref
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from graphql import (
    GraphQLLeafType,
    GraphQLNonNull,
    GraphQLObjectType,
    Undefined,
    is_leaf_type,
)
from graphql.pyutils import Path
from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext
from strawberry.schema.schema_converter import GraphQLCoreConverter
from strawberry.types.field import StrawberryField


class _Careful:
    """Marks a value the regular execution has to complete (to raise its error properly)."""


CAREFUL = _Careful()


@dataclass(frozen=True, slots=True)
class LeafPlan:
    """How one plain leaf field is completed: read the attribute, coerce it with the type."""

    resolver: Callable[[Any, str], Any]
    python_name: str
    leaf: GraphQLLeafType
    non_null: bool

    def complete(self, source: Any) -> Any:
        try:
            value = self.resolver(source, self.python_name)
        except Exception:
            return CAREFUL
        if value is None:
            return CAREFUL if self.non_null else None
        if isinstance(value, Exception):
            return CAREFUL
        try:
            coerced = self.leaf.coerce_output_value(value)
        except Exception:
            return CAREFUL
        if coerced is None or coerced is Undefined:
            return CAREFUL
        return coerced


def leaf_plan(parent_type: GraphQLObjectType, field_name: str) -> LeafPlan | None:
    """The plan for a field Strawberry resolves with its default resolver alone (no resolver,
    no permission or other field extension), of a scalar or enum type, without arguments."""
    field_def = parent_type.fields.get(field_name)
    if field_def is None or field_def.args or field_def.resolve is None:
        return None
    definition = (field_def.extensions or {}).get(GraphQLCoreConverter.DEFINITION_BACKREF)
    if not isinstance(definition, StrawberryField) or not definition.is_basic_field:
        return None
    # Strawberry gives a basic field its attribute-reading resolver only when no exception
    # handler applies to it; any other resolver goes the regular way.
    if getattr(field_def.resolve, "__name__", "") != "_get_basic_result":
        return None
    field_type = field_def.type
    non_null = isinstance(field_type, GraphQLNonNull)
    leaf = field_type.of_type if non_null else field_type
    if not is_leaf_type(leaf):
        return None
    return LeafPlan(definition.default_resolver, definition.python_name, leaf, non_null)


# Per object type (types live as long as their schema): field name -> plan, None when the
# field goes the regular way.
_PLANS: weakref.WeakKeyDictionary[GraphQLObjectType, dict[str, LeafPlan | None]] = (
    weakref.WeakKeyDictionary()
)


def _plans(parent_type: GraphQLObjectType) -> dict[str, LeafPlan | None]:
    plans = _PLANS.get(parent_type)
    if plans is None:
        plans = _PLANS[parent_type] = {
            name: leaf_plan(parent_type, name) for name in parent_type.fields
        }
    return plans


class LumbungExecutionContext(StrawberryGraphQLCoreExecutionContext):
    def execute_fields(
        self,
        parent_type: GraphQLObjectType,
        source_value: Any,
        path: Path | None,
        grouped_field_set: Any,
        position_context: Any,
    ) -> Any:
        manager = self.middleware_manager
        if manager is not None and manager.middlewares:  # an extension with a `resolve` hook
            return super().execute_fields(
                parent_type, source_value, path, grouped_field_set, position_context
            )
        plans = _plans(parent_type)
        done: dict[str, Any] = {}
        rest: dict[str, Any] = {}
        for response_name, field_details_list in grouped_field_set.items():
            node = field_details_list[0].node
            plan = plans.get(node.name.value)
            if plan is not None and not node.arguments:
                value = plan.complete(source_value)
                if value is not CAREFUL:
                    done[response_name] = value
                    continue
            rest[response_name] = field_details_list
        if not rest:
            return done
        completed = super().execute_fields(parent_type, source_value, path, rest, position_context)
        if not done:
            return completed

        def in_query_order(others: dict[str, Any]) -> dict[str, Any]:
            # The response keeps the query's field order (the spec's, and what clients see).
            return {
                name: done[name] if name in done else others[name]
                for name in grouped_field_set
                if name in done or name in others
            }

        if isinstance(completed, dict):
            return in_query_order(completed)

        async def awaited(pending: Awaitable[dict[str, Any]]) -> dict[str, Any]:
            return in_query_order(await pending)

        return awaited(completed)

    def build_per_event_executor(self, payload: Any) -> Any:
        """graphql-core 3.3's per-event executors are shallow copies sharing one
        `_relevant_sub_fields` memo, keyed by `id()` of each event's field lists: it keeps every
        event's lists alive until the subscription ends (~1.4 KB per subscriber and event). The
        memo never hits across events, so each event gets its own and frees it with the
        event."""
        executor = super().build_per_event_executor(payload)
        executor._relevant_sub_fields = {}
        return executor
