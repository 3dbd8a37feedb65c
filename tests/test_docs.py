"""The docs' reference tables are checked against the code they describe, so they cannot drift:
the error codes (docs/api.md) against `ErrorCode`, and the settings (docs/configuration.md)
against `Settings`."""

from __future__ import annotations

import re
from pathlib import Path

import graphql
import pytest
from pydantic import AliasChoices

from server.errors import ErrorCode
from server.settings import Settings

ROOT = Path(__file__).resolve().parent.parent
API_PAGE = ROOT / "docs" / "api.md"
CONFIGURATION_PAGE = ROOT / "docs" / "configuration.md"
SDL = ROOT / "schema" / "schema.graphql"

# A cell's `code spans`; a `|` inside a cell is written `\|`.
CODE_SPAN = re.compile(r"`([^`]+)`")
CELL_SEPARATOR = re.compile(r"(?<!\\)\|")
# Defaults the table states in words rather than as a value, and why.
DEFAULTS_IN_WORDS = {
    "app_version": "the package's version, which changes with every release",
}


def table_under(page: Path, heading: str) -> list[list[str]]:
    """The rows (cells, stripped) of the first table after `heading`, without its header."""
    lines = page.read_text().splitlines()
    assert heading in lines, f"{page.name} has no heading {heading!r}"
    rows: list[list[str]] = []
    for line in lines[lines.index(heading) + 1 :]:
        if line.startswith("#"):
            break
        if not line.startswith("|"):
            if rows:
                break
            continue
        cells = [cell.strip() for cell in CELL_SEPARATOR.split(line.strip())[1:-1]]
        rows.append(cells)
    assert len(rows) > 2, f"no table under {heading!r} in {page.name}"
    _header, separator, *body = rows
    assert set("".join(separator)) <= set("-: "), f"malformed table under {heading!r}"
    return body


def documented_error_codes() -> list[str]:
    codes = []
    for cells in table_under(API_PAGE, "## Error codes"):
        spans = CODE_SPAN.findall(cells[0])
        assert len(spans) == 1, f"one code per row, got {cells[0]!r}"
        codes.append(spans[0])
    return codes


def test_the_error_code_table_lists_every_error_code_in_order_and_no_other() -> None:
    assert documented_error_codes() == [code.value for code in ErrorCode]


def test_the_schemas_error_code_enum_and_its_description_name_every_code_in_order() -> None:
    enum = graphql.build_schema(SDL.read_text()).type_map["ErrorCode"]
    assert isinstance(enum, graphql.GraphQLEnumType)
    codes = [code.value for code in ErrorCode]
    assert list(enum.values) == codes
    # "UNAUTHENTICATED: no valid token; FORBIDDEN: not an admin; ..."
    described = re.findall(r"\b([A-Z][A-Z_]+):", enum.description or "")
    assert described == codes


def setting_variables() -> dict[str, str]:
    """Every environment variable `Settings` reads, with the field it sets."""
    variables: dict[str, str] = {}
    for name, field in Settings.model_fields.items():
        alias = field.validation_alias
        assert isinstance(alias, AliasChoices), f"{name} has no LUMBUNG_ variable"
        for choice in alias.choices:
            assert isinstance(choice, str)
            variables[choice] = name
    return variables


def documented_settings() -> dict[str, list[str]]:
    """Each variable of the configuration table, with its row's cells."""
    rows: dict[str, list[str]] = {}
    for cells in table_under(CONFIGURATION_PAGE, "## Every setting"):
        names = CODE_SPAN.findall(cells[0])
        assert names, f"a row without a variable: {cells!r}"
        for name in names:
            assert name not in rows, f"{name} has two rows"
            rows[name] = cells
    return rows


def test_the_configuration_table_lists_every_setting_and_no_other() -> None:
    defined = setting_variables()
    documented = documented_settings()
    assert sorted(set(defined) - set(documented)) == [], "settings missing from the table"
    assert sorted(set(documented) - set(defined)) == [], "variables the settings do not read"
    assert set(DEFAULTS_IN_WORDS) <= set(Settings.model_fields), "a stale exemption"


def test_each_variable_shares_its_row_only_with_other_names_of_the_same_setting() -> None:
    defined = setting_variables()
    for cells in documented_settings().values():
        # A name the settings do not read is the previous test's failure, not this one's.
        fields = {defined.get(other) for other in CODE_SPAN.findall(cells[0])} - {None}
        assert len(fields) <= 1, f"{cells[0]} mixes several settings: {sorted(map(str, fields))}"


def shown(value: object) -> str:
    """A default as the table writes it."""
    if isinstance(value, bool):
        return "on" if value else "off"
    if isinstance(value, Path):
        return f"`./{value}`"
    if isinstance(value, list):
        return f"`{','.join(value)}`" if value else "none"
    if isinstance(value, float) and value.is_integer():
        return f"`{int(value)}`"
    return f"`{value}`"


@pytest.mark.parametrize(
    "field",
    [
        name
        for name, field in Settings.model_fields.items()
        if field.default is not None and name not in DEFAULTS_IN_WORDS
    ],
)
def test_the_configuration_table_states_the_default_of(field: str) -> None:
    defined = setting_variables()
    variable = next(name for name, owner in defined.items() if owner == field)
    default = Settings.model_fields[field].default
    cells = documented_settings().get(variable)
    assert cells is not None, f"{variable} is not in the configuration table"
    assert shown(default) in cells[1], f"{variable}: the default is {shown(default)}"
