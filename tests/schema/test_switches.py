"""GraphiQL, introspection and suggestions ("Did you mean ...?"): on in development, off by
default in production, and each switch works both ways in either environment."""

from __future__ import annotations

from pathlib import Path

import pytest

from server.settings import Settings
from tests.support.app import make_settings, open_api

ENVIRONMENTS = [
    # (environment, the switch's value, whether the feature is on)
    pytest.param("development", None, True, id="development default"),
    pytest.param("production", None, False, id="production default"),
    pytest.param("development", False, False, id="development switched off"),
    pytest.param("production", True, True, id="production switched on"),
]


def _settings(tmp_path: Path, environment: str, **switch: bool | None) -> Settings:
    return make_settings(
        f"sqlite+aiosqlite:///{tmp_path / 'a.db'}",
        tmp_path,
        environment=environment,
        migrate_on_start=True,
        **{name: value for name, value in switch.items() if value is not None},
    )


@pytest.mark.parametrize(("environment", "switch", "on"), ENVIRONMENTS)
async def test_graphiql(tmp_path: Path, environment: str, switch: bool | None, on: bool) -> None:
    async with open_api(_settings(tmp_path, environment, graphiql=switch)) as api:
        page = await api.client.get("/graphql", headers={"Accept": "text/html"})
        if on:
            assert page.status_code == 200
            assert "graphiql" in page.text.lower()
        else:
            # Without the IDE an HTML GET is just a GraphQL request without a token.
            assert page.status_code == 401
            assert "graphiql" not in page.text.lower()


@pytest.mark.parametrize(("environment", "switch", "on"), ENVIRONMENTS)
async def test_introspection(
    tmp_path: Path, environment: str, switch: bool | None, on: bool
) -> None:
    async with open_api(_settings(tmp_path, environment, introspection=switch)) as api:
        for query, data in [
            ("{ __schema { queryType { name } } }", {"__schema": {"queryType": {"name": "Query"}}}),
            ('{ __type(name: "Backup") { name } }', {"__type": {"name": "Backup"}}),
        ]:
            body = (await api.post(query)).json()
            if on:
                assert body == {"data": data}
            else:
                assert body["data"] is None
                assert body["errors"]
                for error in body["errors"]:
                    assert error["extensions"]["code"] == "BAD_USER_INPUT"
                    assert "introspection has been disabled" in error["message"]
        # __typename is not introspection: clients send it with every query.
        assert (await api.query("{ __typename }")) == {"__typename": "Query"}


# Each kind of hint graphql-core gives, not only the one on unknown fields.
MISSPELLINGS = [
    ("{ backups { totl } }", None, "Cannot query field 'totl' on type 'BackupPage'."),
    ("{ backups(pag: 1) { total } }", None, "Unknown argument 'pag' on field 'Query.backups'."),
    ("{ backups(backupType: FUL) { total } }", None, "Value 'FUL' does not exist"),
    ("query ($t: BackupTyp) { backups(backupType: $t) { total } }", None, "Unknown type"),
    (
        "query ($t: BackupType) { backups(backupType: $t) { total } }",
        {"t": "FUL"},
        "Value 'FUL' does not exist",
    ),
    ("mutation { createBackup(input: {backupTyp: FULL}) { message } }", None, "unknown field"),
]


@pytest.mark.parametrize(("environment", "switch", "on"), ENVIRONMENTS)
async def test_suggestions(tmp_path: Path, environment: str, switch: bool | None, on: bool) -> None:
    async with open_api(_settings(tmp_path, environment, field_suggestions=switch)) as api:
        for query, variables, complaint in MISSPELLINGS:
            body = (await api.post(query, variables)).json()
            messages = " ".join(error["message"] for error in body["errors"])
            assert complaint in messages  # the error itself is always there
            assert ("Did you mean" in messages) is on, (query, messages)
            assert {e["extensions"]["code"] for e in body["errors"]} == {"BAD_USER_INPUT"}
