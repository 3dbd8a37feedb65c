"""Why a start is refused, in one line an operator can act on.

`lumbung serve` runs these checks before it prints a token or binds a port, and the lifespan
runs them again (open_resources), so a server started any other way says the same. Each names
the cause and the variable to fix: the database refused the login, nothing answers at its
address, the database does not exist, Redis does not answer, the catalog needs migrations, the
port is taken. Never a password, never a driver's traceback.
"""

from __future__ import annotations

import errno
import socket
from urllib.parse import urlsplit

from redis.asyncio import Redis
from redis.exceptions import AuthenticationError, RedisError, ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine

from server.db.engine import create_engine
from server.db.migrate import pending_revisions
from server.encryption.keyring import Encryption
from server.errors import BackendUnavailable, ConfigurationError
from server.settings import Settings

REDIS_TIMEOUT_SECONDS = 5.0
# MySQL/MariaDB client and server error numbers (the first argument of the driver's error).
_LOGIN_REFUSED = {1045, 1698}
_NO_SUCH_DATABASE = 1049
_DATABASE_DENIED = 1044
_NOT_REACHED = {2002, 2003, 2005, 2006, 2013}


def _variables(settings: Settings, seed: str) -> str:
    """The variable(s) that say where the database is: the URL, or the seed's variables."""
    return "LUMBUNG_DATABASE_URL" if settings.database_url is not None else seed


def describe_database_error(exc: BaseException, settings: Settings) -> str:
    """One line on why the database cannot be used, without the password."""
    url = make_url(settings.resolved_database_url())
    # The driver's own error: SQLAlchemy's wording adds the statement and a link on more lines.
    orig = exc.orig if isinstance(exc, DBAPIError) else exc
    if url.get_backend_name() == "sqlite":
        return (
            f"the SQLite database {url.database} cannot be opened ({orig}): check "
            f"{_variables(settings, 'LUMBUNG_DATA_DIR')} and the folder's permissions"
        )
    where = f"{url.host or 'localhost'}:{url.port or 3306}"
    args: tuple[object, ...] = getattr(orig, "args", ())
    number = args[0] if args and isinstance(args[0], int) else None
    if number in _LOGIN_REFUSED:
        return (
            f"the database at {where} refused the login of user '{url.username}': check the "
            f"password in {_variables(settings, 'DATABASE_USER/DATABASE_PASSWORD')}"
        )
    if number == _NO_SUCH_DATABASE:
        return (
            f"the database '{url.database}' does not exist at {where}: create it, or fix the "
            f"name in {_variables(settings, 'DATABASE_NAME')}"
        )
    if number == _DATABASE_DENIED:
        return (
            f"user '{url.username}' may not use the database '{url.database}' at {where}: "
            "grant it the rights, or use another account"
        )
    if number in _NOT_REACHED or isinstance(orig, OSError):
        return (
            f"nothing answers at {where}: is the database running, and does "
            f"{_variables(settings, 'DATABASE_HOST/DATABASE_PORT')} point at it?"
        )
    # MySQL's own error text names the account and the host at most, never the password.
    detail = f"{number}: {args[1]}" if number is not None and len(args) > 1 else type(orig).__name__
    return f"the database at {where} answered with an error ({detail})"


async def check_database(engine: AsyncEngine, settings: Settings) -> None:
    try:
        async with engine.connect() as connection:
            await connection.execute(text("SELECT 1"))
    except Exception as exc:
        raise BackendUnavailable(describe_database_error(exc, settings)) from None


def redis_address(url: str) -> str:
    parts = urlsplit(url)
    if parts.scheme == "unix":
        return parts.path
    return f"{parts.hostname}:{parts.port or 6379}"


async def check_redis(settings: Settings) -> None:
    """Redis answers PING, when it is configured; a short-lived client of its own that gives
    up within seconds (redis-py's defaults would retry with backoff)."""
    if settings.redis_url is None:
        return
    url = settings.redis_url.get_secret_value()
    where = redis_address(url)
    client = Redis.from_url(
        url,
        socket_connect_timeout=REDIS_TIMEOUT_SECONDS,
        socket_timeout=REDIS_TIMEOUT_SECONDS,
        retry_on_timeout=False,
    )
    try:
        await client.ping()
    except (AuthenticationError, ResponseError) as exc:
        # The reply's first word (NOAUTH, WRONGPASS, NOPERM) is Redis's code: no secret in it.
        word = str(exc).split(" ", 1)[0][:20]
        raise BackendUnavailable(
            f"Redis at {where} refused Lumbung ({word}): check the password in LUMBUNG_REDIS_URL"
        ) from None
    except RedisTimeoutError:
        raise BackendUnavailable(
            f"Redis at {where} did not answer within {REDIS_TIMEOUT_SECONDS:g} s: "
            "check LUMBUNG_REDIS_URL"
        ) from None
    except (RedisError, OSError):
        raise BackendUnavailable(
            f"nothing answers at Redis {where}: is it running, and does LUMBUNG_REDIS_URL "
            "point at it?"
        ) from None
    finally:
        await client.aclose()


async def check_catalog(engine: AsyncEngine) -> None:
    """Refuse an outdated catalog where nothing migrates it (production, or a listing)."""
    if pending := await pending_revisions(engine):
        raise ConfigurationError(
            f"the catalog needs migration(s) {', '.join(pending)}: run `lumbung migrate` first"
        )


async def check_backends(settings: Settings) -> None:
    """What `lumbung serve` checks before it starts: the encryption keys, the database,
    Redis, the catalog."""
    Encryption(settings)  # a recipients or passphrase file that cannot be used refuses here
    try:
        engine = create_engine(settings)
    except OSError as exc:  # SQLite's folder cannot be made
        raise BackendUnavailable(
            f"the SQLite database's folder cannot be created ({exc.strerror}: "
            f"{exc.filename}): check {_variables(settings, 'LUMBUNG_DATA_DIR')}"
        ) from None
    try:
        await check_database(engine, settings)
        await check_redis(settings)
        if not settings.migrations_run_on_start:
            await check_catalog(engine)
    finally:
        await engine.dispose()


def check_port(host: str, port: int) -> None:
    """Refuse a port another program listens on, before anything starts. uvicorn binds it a
    moment later (with SO_REUSEADDR, as here); a program that takes it in between still
    gets uvicorn's own message."""
    try:
        addresses = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror:
        raise ConfigurationError(
            f"--host {host} is not a name or address of this machine"
        ) from None
    for family, kind, proto, _name, address in addresses:
        with socket.socket(family, kind, proto) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                probe.bind(address)
            except OSError as exc:
                # As asyncio's create_server (which uvicorn uses): a name such as localhost
                # may resolve to ::1 on a machine without IPv6; that address is skipped.
                if exc.errno == errno.EADDRNOTAVAIL and family == socket.AF_INET6:
                    continue
                raise ConfigurationError(_bind_refusal(exc, host, port)) from None


def _bind_refusal(exc: OSError, host: str, port: int) -> str:
    if exc.errno == errno.EADDRINUSE:
        return (
            f"port {port} on {host} is in use by another program: stop it, or choose another "
            f"port (`make run PORT={port + 1}`, or `lumbung serve --port {port + 1}`)"
        )
    if exc.errno == errno.EACCES:
        return f"port {port} needs root (ports below 1024 do): choose a port above 1023"
    if exc.errno == errno.EADDRNOTAVAIL:
        return f"{host} is not an address of this machine: choose one it has (or 127.0.0.1)"
    return f"cannot listen on {host}:{port} ({exc.strerror})"
