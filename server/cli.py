"""The `lumbung` command: serve, token, revoke, migrate, backup, restore, verify, import, and
`schedules ...` (server/schedule_cli.py)."""

from __future__ import annotations

import asyncio
import re
import sys
import traceback
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, NoReturn

import jwt
import typer
from redis.exceptions import RedisError
from rich.console import Console
from sqlalchemy.exc import InterfaceError, OperationalError

from server.auth.keys import resolve_token_keys
from server.auth.tokens import issue_token
from server.backup import history
from server.backup.plan import BackupRequest
from server.backup.verify import verify_backup
from server.db.enums import BackupType, Compression, CopyStatus, JobStatus
from server.db.models import RestoreLog
from server.db.pagination import MAX_LIMIT, PageRequest
from server.encryption.keyring import Keyring, request_keyring
from server.encryption.keys import read_private_file
from server.errors import ConfigurationError, ErrorCode, LumbungError
from server.logs import configure_logging
from server.progress_bar import ProgressBar
from server.settings import Settings, load_settings
from server.startup import check_backends, check_port, describe_database_error
from server.units import format_bytes

if TYPE_CHECKING:
    from server.resources import Resources

cli = typer.Typer(
    help="Lumbung: back up and restore MySQL/MariaDB, clear caches and watch the system.",
    no_args_is_help=True,
    add_completion=False,
)
err = Console(stderr=True)

# What the catalog records as the creator of work started from the command line.
CLI_ACTOR = 0
_TTL = re.compile(r"^\s*(\d+)\s*([smhdw]?)\s*$")
_UNIT_SECONDS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_ttl(text: str) -> timedelta:
    """`90`, `90s`, `30m`, `1h`, `7d`, `2w`."""
    match = _TTL.match(text.lower())
    if not match or int(match.group(1)) == 0:
        raise typer.BadParameter("use a positive number with s, m, h, d or w, e.g. 1h or 30m")
    return timedelta(seconds=int(match.group(1)) * _UNIT_SECONDS[match.group(2)])


@dataclass
class _Options:
    debug: bool = False


options = _Options()


@cli.callback()
def _global_options(
    debug: Annotated[
        bool, typer.Option("--debug", help="Print the traceback behind an error, too.")
    ] = False,
) -> None:
    options.debug = debug


def fail(message: str, code: int = 2) -> NoReturn:
    err.print(f"lumbung: {message}", style="red", soft_wrap=True, highlight=False, markup=False)
    raise typer.Exit(code)


def exit_code(error: LumbungError) -> int:
    """1: the work could not be done (a backend is down, a bug); 2: the request was refused."""
    return 1 if error.code in (ErrorCode.INTERNAL, ErrorCode.BACKEND_UNAVAILABLE) else 2


def fail_on(exc: BaseException, settings: Settings) -> NoReturn:
    """End the command on an error in one line; the traceback first only with --debug."""
    if options.debug:
        traceback.print_exception(exc)
    if isinstance(exc, LumbungError):
        fail(exc.message, code=exit_code(exc))
    if isinstance(exc, OperationalError | InterfaceError):
        fail(describe_database_error(exc, settings), code=1)
    if isinstance(exc, RedisError):
        fail(f"Redis failed ({type(exc).__name__}): check that it runs", code=1)
    hint = "" if options.debug else " (`lumbung --debug ...` prints the traceback)"
    first_line = next(iter(str(exc).splitlines()), "")
    fail(f"unexpected {type(exc).__name__}: {first_line}{hint}", code=1)


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
    # Before the token and uvicorn's lines: a start that cannot work ends in one line.
    try:
        check_port(host, port)
        asyncio.run(check_backends(settings))
    except LumbungError as exc:
        fail(f"cannot start: {exc.message}", code=1)
    except Exception as exc:
        fail_on(exc, settings)
    if not settings.is_production and keys.signing_key is not None:
        token = issue_token(
            settings, keys, subject="1", roles=[settings.jwt_admin_role], ttl=timedelta(days=1)
        )
        url = f"http://{'localhost' if host in ('127.0.0.1', '0.0.0.0') else host}:{port}/graphql"  # noqa: S104 - compared, not bound
        err.print(f"\n[bold]Lumbung[/bold] ({settings.environment}) on {url}")
        if settings.graphiql_enabled:
            err.print("GraphiQL: open the URL, then put this in the Headers tab:")
        err.print(f'  {{"Authorization": "Bearer {token}"}}\n', soft_wrap=True, highlight=False)
        if settings.admin_page:
            err.print(
                f"Admin page: {url.removesuffix('/graphql')}/admin/ (paste the token alone)\n",
                soft_wrap=True,
                highlight=False,
            )
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
        # A GraphQL message over a websocket is small; a huge frame is an attack.
        ws_max_size=settings.max_body_bytes,
        ws_per_message_deflate=settings.ws_compression,
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
    # What `lumbung revoke` needs, beside the token rather than in it: stdout stays the token.
    claims = jwt.decode(value, options={"verify_signature": False})
    err.print(f"jti {claims['jti']}, valid for {ttl}", markup=False, highlight=False)


@cli.command()
def revoke(
    jti: Annotated[
        str, typer.Argument(help="The token's jti, or - to read the whole token from stdin.")
    ],
    ttl: Annotated[
        str | None,
        typer.Option(
            help="How much longer the token is valid (its exp minus now), e.g. 1h, 7d; "
            "read from the token itself with -."
        ),
    ] = None,
) -> None:
    """Revoke a token: from now on every server process refuses it (needs Redis)."""
    from server.auth.revocation import RevocationList

    settings = _settings()
    if settings.redis_url is None or not settings.revocation_enabled:
        fail(
            "revocation is off: the list of revoked tokens lives in Redis, so set "
            "LUMBUNG_REDIS_URL (and leave LUMBUNG_JWT_REVOCATION on)"
        )
    if jti == "-":
        jti, expires_at = _token_from_stdin(settings)
    elif ttl is None:
        fail("give --ttl: how much longer the token is valid (or pass the token itself, with -)")
    else:
        expires_at = datetime.now(UTC) + parse_ttl(ttl)

    async def run() -> datetime | None:
        assert settings.redis_url is not None
        revocation = RevocationList.connect(
            settings.redis_url.get_secret_value(), leeway_seconds=settings.jwt_leeway_seconds
        )
        try:
            return await revocation.revoke(jti, expires_at=expires_at)
        finally:
            await revocation.close()

    try:
        until = asyncio.run(run())
    except LumbungError as exc:
        fail(exc.message, code=1)
    if until is None:
        err.print(f"jti {jti} has expired already: nothing to revoke", markup=False)
    else:
        err.print(f"revoked jti {jti} (until {until:%Y-%m-%d %H:%M:%S} UTC)", markup=False)


def _token_from_stdin(settings: Settings) -> tuple[str, datetime]:
    """The jti and expiry of a token read from stdin (never from argv, where others see it).
    Its signature must verify; its expiry may have passed."""
    token = sys.stdin.readline().strip()
    try:
        keys = resolve_token_keys(settings)
        claims = jwt.decode(
            token,
            keys.verifying_key,
            algorithms=list(keys.algorithms),
            # Only the signature matters here: a token not valid yet, or for another
            # audience, may still need revoking.
            options={
                "verify_exp": False,
                "verify_nbf": False,
                "verify_aud": False,
                "verify_iss": False,
            },
        )
    except ConfigurationError as exc:
        fail(exc.message)
    except jwt.PyJWTError as exc:
        fail(f"the token on stdin does not verify with the configured key ({exc})")
    if not isinstance(claims.get("jti"), str) or not isinstance(claims.get("exp"), int | float):
        fail("the token on stdin has no jti or no exp: it cannot be revoked by jti")
    return claims["jti"], datetime.fromtimestamp(claims["exp"], UTC)


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
    except Exception as exc:
        fail_on(exc, settings)
    err.print(f"applied: {', '.join(applied)}" if applied else "the catalog is up to date")


async def _open(settings: Settings) -> Resources:
    from server.resources import open_resources

    try:
        return await open_resources(settings, resolve_token_keys(settings))
    except ConfigurationError as exc:
        fail(exc.message)


async def _follow(resources: Resources, job: asyncio.Task[None], quiet: bool) -> None:
    if quiet:
        await job
        return
    with ProgressBar(err) as bar:
        resources.progress.add_listener(bar.update)
        await job


def _run(settings: Settings, body: Callable[[Resources], Awaitable[int]]) -> None:
    """Run one job to its end through the same services as the API; exit with its status."""
    configure_logging("WARNING", "text")

    async def main() -> int:
        resources = await _open(settings)
        try:
            return await body(resources)
        finally:
            await resources.close()

    try:
        status = asyncio.run(main())
    except Exception as exc:
        fail_on(exc, settings)
    raise typer.Exit(status)


@cli.command()
def backup(
    kind: Annotated[str, typer.Option("--type", help="full, partial or selective.")] = "full",
    table: Annotated[
        list[str] | None, typer.Option(help="A table (repeat) for --type selective.")
    ] = None,
    schema: Annotated[bool, typer.Option(help="Dump table definitions.")] = True,
    data: Annotated[bool, typer.Option(help="Dump table rows.")] = True,
    compression: Annotated[str | None, typer.Option(help="zstd, gzip or none.")] = None,
    description: Annotated[str | None, typer.Option(help="Free text.")] = None,
    include_catalog: Annotated[bool, typer.Option(help="FULL: also Lumbung's catalog.")] = False,
    copies: Annotated[
        bool, typer.Option(help="Wait for the offsite copies (when targets are configured).")
    ] = True,
    quiet: Annotated[bool, typer.Option(help="No progress bar.")] = False,
) -> None:
    """Back up the database now, with a progress bar; prints the file name. With offsite
    targets, waits for the copies too: exit 3 when the backup completed but a copy failed
    (a running server retries it)."""
    try:
        request = BackupRequest(
            backup_type=BackupType(kind.lower()),
            tables=table,
            include_schema=schema,
            include_data=data,
            description=description,
            compression=Compression(compression.lower()) if compression else None,
            include_catalog=include_catalog,
        )
    except ValueError as exc:
        fail(f"{exc}: --type takes full, partial or selective; --compression zstd, gzip or none")

    async def body(resources: Resources) -> int:
        started = await resources.backups.start(request, CLI_ACTOR)
        await _follow(resources, started.task, quiet)
        async with resources.sessions() as session:
            done = await history.get_backup(session, started.row.id)
        if done.status is not JobStatus.COMPLETED:
            err.print(
                f"lumbung: backup #{done.id} failed: {done.error_message}",
                style="red",
                markup=False,
            )
            return 1
        sys.stdout.write(f"{done.filename}\n")
        err.print(
            f"backup #{done.id}: {format_bytes(done.file_size)}, sha256 {done.checksum}",
            markup=False,
            soft_wrap=True,
        )
        if not copies or not resources.offsite.targets.enabled:
            return 0
        failed = 0
        for copy in await resources.offsite.settled(done.id):
            if copy.status is CopyStatus.COMPLETED:
                err.print(f"copied to {copy.target}, read back intact", markup=False)
            else:
                failed += 1
                err.print(
                    f"lumbung: the copy to {copy.target} failed: {copy.error_message}",
                    style="red",
                    markup=False,
                    soft_wrap=True,
                )
        return 3 if failed else 0

    _run(_settings(), body)


IdentityFile = Annotated[
    Path | None,
    typer.Option(
        help="An age identity file (mode 0600) that opens an encrypted backup, for this run "
        "only (default: LUMBUNG_AGE_IDENTITY_FILE)."
    ),
]
PassphraseFile = Annotated[
    Path | None,
    typer.Option(help="A file (mode 0600) holding the passphrase of an encrypted backup."),
]


def _keyring(identity_file: Path | None, passphrase_file: Path | None) -> Keyring | None:
    """The keys given on the command line, read from files: a key in argv would be seen by
    every user of the machine."""
    try:
        identity = read_private_file(identity_file, "--identity-file") if identity_file else None
        passphrase = (
            read_private_file(passphrase_file, "--passphrase-file").rstrip("\r\n")
            if passphrase_file
            else None
        )
        return request_keyring(identity, passphrase)
    except LumbungError as exc:
        fail(exc.message)


@cli.command()
def restore(
    backup_id: Annotated[int, typer.Argument(help="The backup's id.")],
    confirm: Annotated[str, typer.Option(help="The backup's filename, repeated.")],
    table: Annotated[list[str] | None, typer.Option(help="Only this table (repeat).")] = None,
    safety_backup: Annotated[bool, typer.Option(help="Back up the live tables first.")] = True,
    identity_file: IdentityFile = None,
    passphrase_file: PassphraseFile = None,
    quiet: Annotated[bool, typer.Option(help="No progress bar.")] = False,
) -> None:
    """Restore a backup (verified first; a safety backup first by default). A file gone from
    the backup folder is fetched from an offsite copy first."""
    keyring = _keyring(identity_file, passphrase_file)

    async def body(resources: Resources) -> int:
        started = await resources.restores.start(
            backup_id,
            confirm=confirm,
            tables=table,
            safety_backup=safety_backup,
            description="lumbung restore (CLI)",
            actor=CLI_ACTOR,
            keyring=keyring,
        )
        await _follow(resources, started.task, quiet)
        async with resources.sessions() as session:
            done = await session.get(RestoreLog, started.row.id)
        assert done is not None
        if done.status is not JobStatus.COMPLETED:
            err.print(
                f"lumbung: restore #{done.id} failed: {done.error_message}",
                style="red",
                markup=False,
            )
            return 1
        err.print(f"restore #{done.id} of {confirm} completed", markup=False)
        return 0

    _run(_settings(), body)


@cli.command()
def verify(
    backup_id: Annotated[int, typer.Argument(help="The backup's id.")],
    target: Annotated[
        str | None, typer.Option(help="Check this offsite target's copy instead.")
    ] = None,
    identity_file: IdentityFile = None,
    passphrase_file: PassphraseFile = None,
) -> None:
    """Re-read a backup file and check it against its manifest; exit 1 unless OK."""
    keyring = _keyring(identity_file, passphrase_file)

    async def body(resources: Resources) -> int:
        if target is not None:
            from server.offsite.check import verify_copy

            chosen, check = await verify_copy(
                resources.sessions, resources.offsite, backup_id, target
            )
            status, problems = check.status, check.problems
        else:
            chosen, result = await verify_backup(
                resources.sessions,
                resources.folder,
                backup_id,
                encryption=resources.encryption,
                remote=resources.remote,
                keyring=keyring,
            )
            status, problems = result.status, result.problems
        where = f" on {target}" if target else ""
        sys.stdout.write(f"{status.upper()} {chosen.filename}{where}\n")
        for problem in problems:
            sys.stdout.write(f"  {problem}\n")
        return 0 if status == "ok" else 1

    _run(_settings(), body)


@cli.command(name="import")
def import_(
    target: Annotated[str, typer.Argument(help="The offsite target, by name.")],
    filename: Annotated[
        list[str] | None, typer.Argument(help="Backups to import (none: list what it holds).")
    ] = None,
) -> None:
    """Bring backups an offsite target holds into this catalog (the day the server is lost:
    a fresh installation restores from the bucket). Without file names, list them."""

    async def body(resources: Resources) -> int:
        if not filename:
            for item in await resources.remote.list_remote(target):
                known = f"backup #{item.catalog_id}" if item.catalog_id else "not imported"
                lock = ", encrypted" if item.encrypted else ""
                sys.stdout.write(f"{item.filename}\t{format_bytes(item.size)}{lock}\t{known}\n")
            return 0
        for name in filename:
            row = await resources.remote.import_backup(target, name, CLI_ACTOR)
            sys.stdout.write(f"{row.id}\t{row.filename}\n")
        return 0

    _run(_settings(), body)


@cli.command()
def backups(
    page: Annotated[int, typer.Option(help="Page number, from 1.")] = 1,
    limit: Annotated[int, typer.Option(help=f"Backups per page, 1 to {MAX_LIMIT}.")] = 10,
    kind: Annotated[
        str | None, typer.Option("--type", help="Only full, partial or selective.")
    ] = None,
    status: Annotated[
        str | None, typer.Option(help="Only in_progress, completed or failed.")
    ] = None,
) -> None:
    """List the backups, newest first, as the `backups` query does."""
    from server import history_listing

    settings = _settings()
    try:
        backup_type = BackupType(kind.lower()) if kind else None
        job_status = JobStatus(status.lower()) if status else None
    except ValueError:
        fail("--type takes full, partial or selective; --status in_progress, completed or failed")
    try:
        request = PageRequest(page=page, limit=limit)
        found = asyncio.run(
            history_listing.backups_page(settings, request, backup_type, job_status)
        )
    except Exception as exc:
        fail_on(exc, settings)
    if found.items:
        sys.stdout.write("\n".join(history_listing.backup_lines(found)) + "\n")
    err.print(history_listing.page_summary(found, "backup"), markup=False, highlight=False)


@cli.command()
def restores(
    page: Annotated[int, typer.Option(help="Page number, from 1.")] = 1,
    limit: Annotated[int, typer.Option(help=f"Restores per page, 1 to {MAX_LIMIT}.")] = 10,
    backup: Annotated[int | None, typer.Option(help="Only restores of this backup id.")] = None,
) -> None:
    """List the restores, newest first, as the `restoreLogs` query does."""
    from server import history_listing

    settings = _settings()
    try:
        request = PageRequest(page=page, limit=limit)
        found = asyncio.run(history_listing.restores_page(settings, request, backup))
    except Exception as exc:
        fail_on(exc, settings)
    if found.items:
        sys.stdout.write("\n".join(history_listing.restore_lines(found)) + "\n")
    err.print(history_listing.page_summary(found, "restore"), markup=False, highlight=False)


def main() -> None:
    from server.schedule_cli import schedules_cli

    cli.add_typer(schedules_cli, name="schedules")
    cli()
