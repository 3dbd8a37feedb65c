"""GraphQL over HTTP: an async client for tests (on httpx: the app's ASGI interface or a real
server) and a blocking one for benchmarks (http.client on one keep-alive connection, so that
what the client itself spends per request stays small beside the server's figures)."""

from __future__ import annotations

import http.client
import json
import urllib.request
from collections.abc import Callable
from typing import Any

import httpx

from tests.support.ports import LOCALHOST


class GraphQLFailed(AssertionError):
    """The server did not answer `data` without errors (in a test, a failure)."""


def request_body(query: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"query": query, "variables": variables or {}}


def data_of(status: int, body: dict[str, Any]) -> dict[str, Any]:
    """The `data` of a 200 answer without errors; GraphQLFailed with the answer otherwise."""
    if status != 200:
        raise GraphQLFailed(f"HTTP {status}: {body}")
    if "errors" in body:
        raise GraphQLFailed(body["errors"])
    data: dict[str, Any] = body["data"]
    return data


class GraphQLClient:
    """Queries on an httpx.AsyncClient, as admin unless told otherwise."""

    def __init__(
        self, client: httpx.AsyncClient, admin_token: Callable[[], str], path: str = "/graphql"
    ) -> None:
        self.client = client
        self._admin_token = admin_token
        self._path = path

    async def post(
        self,
        query: str,
        variables: dict[str, Any] | None = None,
        *,
        token: str | None = "admin",  # noqa: S107 - "admin" asks for a fresh admin token
        headers: dict[str, str] | None = None,
    ) -> httpx.Response:
        all_headers = dict(headers or {})
        if token == "admin":
            token = self._admin_token()
        if token is not None:
            all_headers["Authorization"] = f"Bearer {token}"
        return await self.client.post(
            self._path, json=request_body(query, variables), headers=all_headers
        )

    async def query(self, query: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
        """Run a query as admin and return `data`, failing on any error."""
        response = await self.post(query, variables)
        return data_of(response.status_code, response.json())

    async def error(self, query: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
        """Run a query as admin that must fail, and return its single error."""
        response = await self.post(query, variables)
        body = response.json()
        if len(body.get("errors", [])) != 1:
            raise GraphQLFailed(f"expected one error: {body}")
        error: dict[str, Any] = body["errors"][0]
        return error


class BlockingGraphQL:
    """Queries on one keep-alive connection, as a polling UI holds it. `on_failure` runs when
    the connection fails twice (e.g. to report that the server died)."""

    def __init__(
        self,
        port: int,
        token: str | None = None,
        *,
        host: str = LOCALHOST,
        path: str = "/graphql",
        timeout: float = 120.0,
        on_failure: Callable[[], None] | None = None,
    ) -> None:
        self._host, self._port, self._path, self._timeout = host, port, path, timeout
        self._headers = {"Content-Type": "application/json"}
        if token is not None:
            self._headers["Authorization"] = f"Bearer {token}"
        self._on_failure = on_failure
        self._conn: http.client.HTTPConnection | None = None

    def _send(self, body: bytes) -> tuple[int, bytes]:
        if self._conn is None:
            self._conn = http.client.HTTPConnection(self._host, self._port, timeout=self._timeout)
        self._conn.request("POST", self._path, body=body, headers=self._headers)
        response = self._conn.getresponse()
        return response.status, response.read()

    def post(self, body: bytes) -> tuple[int, bytes]:
        """POST `body`; (status, the answer's bytes)."""
        try:
            try:
                return self._send(body)
            except (OSError, http.client.HTTPException):
                # The server closed the idle keep-alive connection: once more, on a new one.
                self.close()
                return self._send(body)
        except (OSError, http.client.HTTPException) as exc:
            self.close()
            if self._on_failure is not None:
                self._on_failure()
            raise GraphQLFailed(f"the request failed: {exc}") from exc

    def __call__(self, query: str, **variables: object) -> dict[str, Any]:
        """Run a query and return `data`; GraphQLFailed on any error."""
        status, raw = self.post(json.dumps(request_body(query, variables)).encode())
        try:
            body = json.loads(raw)
        except ValueError:
            raise GraphQLFailed(f"HTTP {status}: {raw[:500]!r}") from None
        return data_of(status, body)

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None


def post_blocking(base: str, token: str, query: str) -> dict[str, Any]:
    """POST one query to the server at `base` (http://host:port) with a token; its whole JSON
    answer, errors included: for tests of what a plain client sees."""
    request = urllib.request.Request(  # noqa: S310 - a URL of a server the test started
        f"{base}/graphql",
        data=json.dumps({"query": query}).encode(),
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310 - as above
        body: dict[str, Any] = json.loads(response.read())
    return body
