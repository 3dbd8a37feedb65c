"""The `lumbung` command: serve, token, migrate."""

from __future__ import annotations

import asyncio
import re
import sys
from datetime import timedelta
from typing import Annotated, NoReturn

import typer
from rich.console import Console

from server.auth.keys import resolve_token_keys
from server.auth.tokens import issue_token
from server.errors import ConfigurationError
from server.logs import configure_logging
from server.settings import Settings, load_settings

cli = typer.Typer(
    help="Lumbung: back up and restore MySQL/MariaDB, clear caches and watch the system.",
    no_args_is_help=True,
    add_completion=False,
)
err = Console(stderr=True)

_TTL = re.compile(r"^\s*(\d+)\s*([smhdw]?)\s*$")
_UNIT_SECONDS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_ttl(text: str) -> timedelta:
    """`90`, `90s`, `30m`, `1h`, `7d`, `2w`."""
    match = _TTL.match(text.lower())
    if not match or int(match.group(1)) == 0:
        raise typer.BadParameter("use a positive number with s, m, h, d or w, e.g. 1h or 30m")
    return timedelta(seconds=int(match.group(1)) * _UNIT_SECONDS[match.group(2)])


def fail(message: str, code: int = 2) -> NoReturn:
    err.print(f"lumbung: {message}", style="red", soft_wrap=True, highlight=False, markup=False)
    raise typer.Exit(code)


def _settings() -> Settings:
    try:
        return load_settings()
    except ConfigurationError as exc:
        fail(exc.message)


@cli.command()
def serve(
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
    workers: Annotated[int, typer.Option(min=1, help="Server processes.")] = 1,
) -> None:
    """Run the GraphQL server (GraphiQL at /graphql in development)."""
    import uvicorn

    settings = _settings()
    configure_logging(settings.log_level, settings.log_format)
    try:
        keys = resolve_token_keys(settings)
    except ConfigurationError as exc:
        fail(exc.message)
    if not settings.is_production and keys.signing_key is not None:
        token = issue_token(
            settings, keys, subject="1", roles=[settings.jwt_admin_role], ttl=timedelta(days=1)
        )
        url = f"http://{'localhost' if host in ('127.0.0.1', '0.0.0.0') else host}:{port}/graphql"  # noqa: S104 - compared, not bound
        err.print(f"\n[bold]Lumbung[/bold] ({settings.environment}) on {url}")
        if settings.graphiql_enabled:
            err.print("GraphiQL: open the URL, then put this in the Headers tab:")
        err.print(f'  {{"Authorization": "Bearer {token}"}}\n', soft_wrap=True, highlight=False)
        if keys.generated_secret_file is not None:
            err.print(
                f"(development token secret kept in {keys.generated_secret_file}; valid 24 h)\n"
            )
    uvicorn.run(
        "server.app:create_app",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        log_config=None,
        proxy_headers=False,
        server_header=False,
    )


@cli.command()
def token(
    sub: Annotated[str, typer.Option(help="The subject: the application's User id.")],
    role: Annotated[
        list[str] | None, typer.Option(help="A role to grant (repeat for several; default admin).")
    ] = None,
    ttl: Annotated[str, typer.Option(help="Lifetime, e.g. 30m, 1h, 7d.")] = "1h",
) -> None:
    """Print a signed token (alone, on stdout) for the configured secret."""
    settings = _settings()
    lifetime = parse_ttl(ttl)
    try:
        keys = resolve_token_keys(settings)
        value = issue_token(settings, keys, subject=sub, roles=role or ["admin"], ttl=lifetime)
    except ConfigurationError as exc:
        fail(exc.message)
    sys.stdout.write(value + "\n")


@cli.command()
def migrate() -> None:
    """Create or upgrade Lumbung's catalog tables in the configured database."""
    from server.db.engine import create_engine
    from server.db.migrate import migrate as run_migrations
    from server.db.migrate import pending_revisions

    settings = _settings()
    configure_logging(settings.log_level, "text")

    async def run() -> list[str]:
        engine = create_engine(settings)
        try:
            pending = await pending_revisions(engine)
            await run_migrations(engine)
            return pending
        finally:
            await engine.dispose()

    try:
        applied = asyncio.run(run())
    except Exception as exc:  # the message of a driver error carries no password
        fail(f"migration failed: {type(exc).__name__}: {exc}", code=1)
    err.print(f"applied: {', '.join(applied)}" if applied else "the catalog is up to date")


def main() -> None:
    cli()
