"""The SDL snapshot is the API's reviewable contract: it must match the code and document all."""

from __future__ import annotations

from graphql import GraphQLEnumType, GraphQLInputObjectType, GraphQLObjectType, GraphQLScalarType

from schema import SDL_PATH, build_schema, export_sdl


def test_the_sdl_snapshot_is_current() -> None:
    assert SDL_PATH.read_text() == export_sdl(), (
        "schema/schema.graphql is stale: regenerate it with `make schema` and commit the diff"
    )


def test_every_type_field_and_argument_has_a_description() -> None:
    schema = build_schema()._schema
    missing: list[str] = []
    for name, named in schema.type_map.items():
        if name.startswith("__") or name in {"String", "Int", "Float", "Boolean", "ID"}:
            continue
        if not named.description:
            missing.append(name)
        if isinstance(named, GraphQLObjectType | GraphQLInputObjectType):
            for field_name, field in named.fields.items():
                if not field.description:
                    missing.append(f"{name}.{field_name}")
                for arg_name, arg in getattr(field, "args", {}).items():
                    if not arg.description:
                        missing.append(f"{name}.{field_name}({arg_name})")
        if isinstance(named, GraphQLEnumType) and name != "ErrorCode":
            missing += [f"{name}.{value}" for value, v in named.values.items() if not v.description]
        assert not isinstance(named, GraphQLScalarType) or named.description, name
    assert missing == []


def test_the_error_codes_are_an_enum_of_the_schema() -> None:
    enum = build_schema()._schema.type_map["ErrorCode"]
    assert isinstance(enum, GraphQLEnumType)
    assert set(enum.values) == {
        "UNAUTHENTICATED",
        "FORBIDDEN",
        "BAD_USER_INPUT",
        "NOT_FOUND",
        "CONFLICT",
        "CHECKSUM_MISMATCH",
        "INSUFFICIENT_STORAGE",
        "BACKEND_UNAVAILABLE",
        "INTERNAL",
    }
