"""schema/executor.py completes plain leaf fields in one step: every answer, error and field
order must be what graphql-core's own execution gives (run side by side on the same schema)."""

from __future__ import annotations

import enum
from datetime import UTC, datetime
from typing import Any

import pytest
import strawberry
from graphql import GraphQLObjectType
from strawberry.extensions import SchemaExtension
from strawberry.permission import BasePermission
from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext

from schema.executor import LumbungExecutionContext, leaf_plan


@strawberry.enum
class Colour(enum.Enum):
    RED = "red"
    BLUE = "blue"


class Never(BasePermission):
    message = "not for you"

    def has_permission(self, source: Any, info: Any, **kwargs: Any) -> bool:
        return False


@strawberry.type
class Item:
    id: int
    name: str
    nickname: str | None
    colour: Colour
    at: datetime
    secret: str = strawberry.field(permission_classes=[Never], default="s")

    @strawberry.field
    def shout(self) -> str:
        return self.name.upper()

    @strawberry.field
    async def later(self) -> str:
        return f"later {self.id}"

    @strawberry.field
    def twice(self, times: int = 2) -> int:
        return self.id * times


AT = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)


def good(i: int) -> Item:
    return Item(id=i, name=f"n{i}", nickname=None, colour=Colour.RED, at=AT)


@strawberry.type
class Query:
    @strawberry.field
    def items(self) -> list[Item]:
        return [good(1), good(2)]

    @strawberry.field
    def broken_id(self) -> list[Item]:  # None on a non-null field: the whole item goes null
        item = good(3)
        item.id = None  # type: ignore[assignment]
        return [item]

    @strawberry.field
    def wrong_type(self) -> Item | None:  # a value Int refuses
        item = good(4)
        item.id = "four"  # type: ignore[assignment]
        return item

    @strawberry.field
    def wrong_enum(self) -> Item | None:
        item = good(5)
        item.colour = "GREEN"  # type: ignore[assignment]
        return item

    @strawberry.field
    def exception_value(self) -> Item | None:
        item = good(6)
        item.name = ValueError("kept as a value")  # type: ignore[assignment]
        return item


class Shouting(SchemaExtension):
    """An extension with a `resolve` hook (graphql-core middleware) sees every field."""

    def resolve(self, _next: Any, root: Any, info: Any, *args: Any, **kwargs: Any) -> Any:
        value = _next(root, info, *args, **kwargs)
        return value.upper() if isinstance(value, str) else value


def schemas(*extensions: type[SchemaExtension]) -> tuple[strawberry.Schema, strawberry.Schema]:
    ours = strawberry.Schema(
        query=Query, execution_context_class=LumbungExecutionContext, extensions=extensions
    )
    stock = strawberry.Schema(
        query=Query,
        execution_context_class=StrawberryGraphQLCoreExecutionContext,
        extensions=extensions,
    )
    return ours, stock


QUERIES = [
    "{ items { id name nickname colour at } }",
    # resolver fields between plain ones: the response keeps the query's order
    "{ items { shout id later name twice(times: 3) colour at nickname } }",
    "{ items { shout id twice(times: 3) name } }",  # no async field: completed in one go
    "{ items { b: name a: id c: name } }",
    "{ items { id ...F } } fragment F on Item { name at }",
    "{ items { id secret } }",  # a permission class is an extension: never the fast path
    "{ brokenId { name id } }",
    "{ wrongType { name id } }",
    "{ wrongEnum { id colour } }",
    "{ exceptionValue { id name } }",
    "{ items { id name @include(if: false) colour @skip(if: true) at } }",
]


def answer(result: Any) -> tuple[Any, Any]:
    errors = [
        (e.message, e.path, [(loc.line, loc.column) for loc in e.locations or []])
        for e in result.errors or []
    ]
    return result.data, errors


@pytest.mark.parametrize("query", QUERIES)
async def test_the_same_answer_as_graphql_core(query: str) -> None:
    ours, stock = schemas()
    expected = answer(await stock.execute(query))
    got = answer(await ours.execute(query))
    assert got == expected
    if expected[0] is not None:  # dicts compare equal in any order: the order is checked too
        assert repr(got[0]) == repr(expected[0])


async def test_an_extension_resolving_fields_sees_every_field() -> None:
    ours, stock = schemas(Shouting)
    query = "{ items { id name shout } }"
    expected = answer(await stock.execute(query))
    assert expected[0]["items"][0]["name"] == "N1"
    assert answer(await ours.execute(query)) == expected


def test_only_plain_leaf_fields_get_a_plan() -> None:
    ours, _ = schemas()
    item = ours._schema.type_map["Item"]
    assert isinstance(item, GraphQLObjectType)
    planned = {name for name in item.fields if leaf_plan(item, name) is not None}
    assert planned == {"id", "name", "nickname", "colour", "at"}
