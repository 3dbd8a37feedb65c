"""One typed Settings object, read once from the environment and `.env`.

Every variable is `LUMBUNG_<FIELD>`; the seed's `DATABASE_USER`, `DATABASE_PASSWORD`,
`DATABASE_NAME`, `DATABASE_HOST` and `DATABASE_PORT` are accepted too. Secrets are `SecretStr`,
so they never show in a repr, a log line or a traceback.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal
from urllib.parse import quote_plus, urlsplit

from pydantic import (
    AliasChoices,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from server import __version__
from server.errors import ConfigurationError
from server.offsite.config import TargetConfig

Environment = Literal["development", "production"]

# Below this an HMAC key can be brute-forced offline from one captured token (RFC 7518 §3.2).
MIN_HMAC_KEY_BYTES = 32
MAX_LEEWAY_SECONDS = 30
# Lumbung's own keys in Redis (revoked tokens, job progress) all start with this; no cache
# prefix may reach them, or clearing a cache would quietly un-revoke tokens.
OWN_REDIS_PREFIX = "lumbung:"


def _alias(name: str, *seed_names: str) -> AliasChoices:
    return AliasChoices(f"LUMBUNG_{name}", *seed_names)


def _split_commas(value: object) -> object:
    """Lists come from the environment as `a,b,c` (or as a JSON list)."""
    if isinstance(value, str):
        text = value.strip()
        if text.startswith("["):
            import json

            return json.loads(text)
        return [item.strip() for item in text.split(",") if item.strip()]
    return value


CommaList = Annotated[list[str], NoDecode]


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
        populate_by_name=True,
        frozen=True,
    )

    # --- the application -------------------------------------------------------------------
    environment: Environment = Field("development", validation_alias=_alias("ENVIRONMENT"))
    debug: bool = Field(False, validation_alias=_alias("DEBUG"))
    app_name: str = Field("Lumbung", validation_alias=_alias("APP_NAME"))
    app_version: str = Field(__version__, validation_alias=_alias("APP_VERSION"))
    data_dir: Path = Field(Path("data"), validation_alias=_alias("DATA_DIR"))
    log_level: str = Field("INFO", validation_alias=_alias("LOG_LEVEL"))
    log_format: Literal["json", "text"] = Field("json", validation_alias=_alias("LOG_FORMAT"))

    # --- the database ----------------------------------------------------------------------
    database_url: SecretStr | None = Field(None, validation_alias=_alias("DATABASE_URL"))
    database_user: str | None = Field(
        None, validation_alias=_alias("DATABASE_USER", "DATABASE_USER")
    )
    database_password: SecretStr | None = Field(
        None, validation_alias=_alias("DATABASE_PASSWORD", "DATABASE_PASSWORD")
    )
    database_name: str | None = Field(
        None, validation_alias=_alias("DATABASE_NAME", "DATABASE_NAME")
    )
    database_host: str = Field(
        "127.0.0.1", validation_alias=_alias("DATABASE_HOST", "DATABASE_HOST")
    )
    database_port: int = Field(3306, validation_alias=_alias("DATABASE_PORT", "DATABASE_PORT"))
    user_table: str = Field("User", validation_alias=_alias("USER_TABLE"))
    message_table: str = Field("Message", validation_alias=_alias("MESSAGE_TABLE"))
    core_tables: CommaList = Field(
        ["User", "Role", "Permission"], validation_alias=_alias("CORE_TABLES")
    )
    demo_data: bool | None = Field(None, validation_alias=_alias("DEMO_DATA"))
    migrate_on_start: bool | None = Field(None, validation_alias=_alias("MIGRATE_ON_START"))

    # --- Redis (optional) --------------------------------------------------------------------
    redis_url: SecretStr | None = Field(None, validation_alias=_alias("REDIS_URL"))

    # --- tokens ----------------------------------------------------------------------------
    jwt_secret: SecretStr | None = Field(None, validation_alias=_alias("JWT_SECRET"))
    jwt_public_key: str | None = Field(None, validation_alias=_alias("JWT_PUBLIC_KEY"))
    jwt_algorithms: CommaList = Field(["HS256"], validation_alias=_alias("JWT_ALGORITHMS"))
    jwt_issuer: str | None = Field(None, validation_alias=_alias("JWT_ISSUER"))
    jwt_audience: str | None = Field(None, validation_alias=_alias("JWT_AUDIENCE"))
    jwt_role_claim: str = Field("role", validation_alias=_alias("JWT_ROLE_CLAIM"))
    jwt_admin_role: str = Field("admin", validation_alias=_alias("JWT_ADMIN_ROLE"))
    jwt_leeway_seconds: int = Field(
        10, ge=0, le=MAX_LEEWAY_SECONDS, validation_alias=_alias("JWT_LEEWAY_SECONDS")
    )
    # The list of revoked `jti`s lives in Redis: on by default when Redis is configured.
    jwt_revocation: bool | None = Field(None, validation_alias=_alias("JWT_REVOCATION"))

    # --- backups ---------------------------------------------------------------------------
    backup_dir: Path = Field(Path("backups"), validation_alias=_alias("BACKUP_DIR"))
    backup_compression: Literal["zstd", "gzip", "none"] = Field(
        "zstd", validation_alias=_alias("BACKUP_COMPRESSION")
    )
    zstd_level: int = Field(3, ge=1, le=19, validation_alias=_alias("ZSTD_LEVEL"))
    # Compression threads; 0 compresses in the pipeline's own thread.
    zstd_threads: int = Field(2, ge=0, le=64, validation_alias=_alias("ZSTD_THREADS"))
    # A large table's rows are cut into chunk sections of about this much SQL (MiB), which a
    # restore loads over several connections at once.
    backup_chunk_mib: int = Field(64, ge=1, le=4096, validation_alias=_alias("BACKUP_CHUNK_MIB"))
    safety_backup: bool = Field(True, validation_alias=_alias("SAFETY_BACKUP"))
    # Connections a MariaDB/MySQL restore loads over (1: one, as the native client does);
    # unset: one per core, at least 2 and at most 4.
    restore_connections: int | None = Field(
        None, ge=1, le=64, validation_alias=_alias("RESTORE_CONNECTIONS")
    )
    # Connections that dump the largest table in key ranges beside the dump of the rest, in
    # one consistent snapshot (1: one dump, as mariadb-dump alone makes it); unset: 1 below 4
    # cores, else half the cores, at most 4.
    backup_connections: int | None = Field(
        None, ge=1, le=64, validation_alias=_alias("BACKUP_CONNECTIONS")
    )
    dump_command: str | None = Field(None, validation_alias=_alias("DUMP_COMMAND"))
    client_command: str | None = Field(None, validation_alias=_alias("CLIENT_COMMAND"))
    # Per-table checksums measured by the database in the dump's own snapshot, which a restore
    # drill compares with (server/backup/evidence.py; the cost is in docs/drills.md).
    backup_evidence: bool = Field(True, validation_alias=_alias("BACKUP_EVIDENCE"))

    # --- restore drills ----------------------------------------------------------------------
    # The scratch database a drill restores into (MariaDB); unset: `<database>_lumbung_drill`.
    drill_database: str | None = Field(None, validation_alias=_alias("DRILL_DATABASE"))

    # --- notifications -----------------------------------------------------------------------
    smtp_host: str | None = Field(None, validation_alias=_alias("SMTP_HOST"))
    smtp_port: int = Field(587, ge=1, le=65535, validation_alias=_alias("SMTP_PORT"))
    smtp_security: Literal["starttls", "tls", "none"] = Field(
        "starttls", validation_alias=_alias("SMTP_SECURITY")
    )
    smtp_username: str | None = Field(None, validation_alias=_alias("SMTP_USERNAME"))
    smtp_password: SecretStr | None = Field(None, validation_alias=_alias("SMTP_PASSWORD"))
    smtp_from: str = Field("lumbung@localhost", validation_alias=_alias("SMTP_FROM"))
    # A CA bundle to trust for the relay's certificate (a private CA); the system's otherwise.
    smtp_ca_file: Path | None = Field(None, validation_alias=_alias("SMTP_CA_FILE"))
    smtp_timeout_seconds: float = Field(
        10.0, gt=0, le=120, validation_alias=_alias("SMTP_TIMEOUT_SECONDS")
    )
    webhook_timeout_seconds: float = Field(
        5.0, gt=0, le=60, validation_alias=_alias("WEBHOOK_TIMEOUT_SECONDS")
    )
    notification_retries: int = Field(
        3, ge=0, le=10, validation_alias=_alias("NOTIFICATION_RETRIES")
    )
    notification_backoff_seconds: float = Field(
        1.0, ge=0, le=60, validation_alias=_alias("NOTIFICATION_BACKOFF_SECONDS")
    )
    # Encrypts channel secrets (webhook URLs and signing keys) in the catalog; in development
    # without one, a key is created in LUMBUNG_DATA_DIR.
    secrets_key: SecretStr | None = Field(None, validation_alias=_alias("SECRETS_KEY"))
    no_backup_alert_hours: float = Field(
        26.0, gt=0, validation_alias=_alias("NO_BACKUP_ALERT_HOURS")
    )
    health_check_seconds: float = Field(
        300.0, ge=1, le=86400, validation_alias=_alias("HEALTH_CHECK_SECONDS")
    )

    # --- metrics -----------------------------------------------------------------------------
    # /metrics answers only requests bearing this token; unset, /metrics is off (404).
    metrics_token: SecretStr | None = Field(None, validation_alias=_alias("METRICS_TOKEN"))

    # --- encryption (age; docs/encryption.md) ------------------------------------------------
    # Public keys only: what new backups are encrypted to.
    age_recipients: CommaList = Field([], validation_alias=_alias("AGE_RECIPIENTS"))
    age_recipients_file: Path | None = Field(None, validation_alias=_alias("AGE_RECIPIENTS_FILE"))
    # Encrypts with a passphrase instead (age's scrypt recipient), and opens what it encrypted.
    age_passphrase_file: Path | None = Field(None, validation_alias=_alias("AGE_PASSPHRASE_FILE"))
    # What restores, verifications and drills open encrypted backups with (read when needed).
    age_identity_file: Path | None = Field(None, validation_alias=_alias("AGE_IDENTITY_FILE"))
    # log2 of scrypt's cost for a passphrase: 18 is age's own default.
    age_work_factor: int = Field(18, ge=10, le=20, validation_alias=_alias("AGE_WORK_FACTOR"))

    # --- offsite copies (docs/offsite.md) ----------------------------------------------------
    offsite_targets: list[TargetConfig] = Field([], validation_alias=_alias("OFFSITE_TARGETS"))
    # A failed copy is retried after this many seconds, doubling each time up to the maximum.
    offsite_retry_seconds: float = Field(
        30.0, gt=0, le=86400, validation_alias=_alias("OFFSITE_RETRY_SECONDS")
    )
    offsite_retry_max_seconds: float = Field(
        3600.0, gt=0, le=7 * 86400, validation_alias=_alias("OFFSITE_RETRY_MAX_SECONDS")
    )
    # Seconds before a target that does not answer is given up on (connect and each read).
    offsite_timeout_seconds: float = Field(
        30.0, gt=0, le=600, validation_alias=_alias("OFFSITE_TIMEOUT_SECONDS")
    )

    @field_validator("offsite_targets")
    @classmethod
    def _target_names_unique(cls, value: list[TargetConfig]) -> list[TargetConfig]:
        names = [target.name for target in value]
        if len(set(names)) != len(names):
            raise ValueError("two offsite targets have the same name")
        return value

    # --- schedules and rotation ----------------------------------------------------------------
    # Every server process runs the scheduler unless this is off; a slot runs once whatever
    # the number of processes (the claim is a row in the catalog).
    scheduler: bool = Field(True, validation_alias=_alias("SCHEDULER"))
    scheduler_interval_seconds: float = Field(
        15.0, ge=0.2, le=60, validation_alias=_alias("SCHEDULER_INTERVAL_SECONDS")
    )
    # A slot that fell due while no server ran is run at the next start if it is at most this
    # old; an older one is recorded MISSED. Only the latest of several is ever caught up.
    schedule_catch_up_grace_minutes: int = Field(
        60, ge=0, le=7 * 24 * 60, validation_alias=_alias("SCHEDULE_CATCH_UP_GRACE_MINUTES")
    )
    # How long a scheduled backup (its rotation, its drill) waits for a running job before its run
    # is recorded FAILED.
    schedule_lock_wait_minutes: float = Field(
        30.0, ge=0, le=24 * 60, validation_alias=_alias("SCHEDULE_LOCK_WAIT_MINUTES")
    )
    safety_backup_min_age_days: int = Field(
        30, ge=0, le=3650, validation_alias=_alias("SAFETY_BACKUP_MIN_AGE_DAYS")
    )

    # --- caches (clearCache) -----------------------------------------------------------------
    # Redis key prefixes that REDIS clears, and that SESSION clears; never empty (an empty
    # prefix would match every key in Redis), and neither may cover the other.
    cache_redis_prefix: CommaList = Field(["cache:"], validation_alias=_alias("CACHE_REDIS_PREFIX"))
    session_redis_prefix: CommaList = Field(
        ["sess:"], validation_alias=_alias("SESSION_REDIS_PREFIX")
    )
    session_dir: Path | None = Field(None, validation_alias=_alias("SESSION_DIR"))
    file_cache_dirs: CommaList = Field([], validation_alias=_alias("FILE_CACHE_DIRS"))
    file_cache_min_age_minutes: int = Field(
        0, ge=0, validation_alias=_alias("FILE_CACHE_MIN_AGE_MINUTES")
    )
    # SCAN's COUNT and the size of each UNLINK.
    cache_batch_size: int = Field(
        1000, ge=10, le=100_000, validation_alias=_alias("CACHE_BATCH_SIZE")
    )
    cache_broadcast_channel: str = Field(
        "lumbung:caches", min_length=1, validation_alias=_alias("CACHE_BROADCAST_CHANNEL")
    )
    cache_broadcast_timeout_seconds: float = Field(
        5.0, gt=0, le=120, validation_alias=_alias("CACHE_BROADCAST_TIMEOUT_SECONDS")
    )

    @field_validator("cache_redis_prefix", "session_redis_prefix")
    @classmethod
    def _no_empty_prefix(cls, value: list[str]) -> list[str]:
        if not value or any(not prefix for prefix in value):
            raise ValueError(
                "an empty prefix would match every key in Redis: set the application's "
                "prefix, e.g. cache:"
            )
        return value

    @model_validator(mode="after")
    def _caches_stay_apart(self) -> Settings:
        for prefix in (*self.cache_redis_prefix, *self.session_redis_prefix):
            if prefix.startswith(OWN_REDIS_PREFIX) or OWN_REDIS_PREFIX.startswith(prefix):
                raise ValueError(
                    f"the cache prefix {prefix!r} covers Lumbung's own Redis keys "
                    f"({OWN_REDIS_PREFIX}...: revoked tokens, job progress); choose another"
                )
        for cache in self.cache_redis_prefix:
            for session in self.session_redis_prefix:
                if cache.startswith(session) or session.startswith(cache):
                    raise ValueError(
                        f"LUMBUNG_CACHE_REDIS_PREFIX {cache!r} and LUMBUNG_SESSION_REDIS_PREFIX "
                        f"{session!r} overlap: clearing one kind would clear the other"
                    )
        folders = [Path(folder) for folder in self.file_cache_dirs]
        if self.session_dir is not None:
            folders.append(self.session_dir)
        own = {"LUMBUNG_DATA_DIR": self.data_dir, "LUMBUNG_BACKUP_DIR": self.backup_dir}
        for folder in folders:
            resolved = folder.resolve()
            if resolved == resolved.parent:
                raise ValueError(f"cache folder {folder} is the root of the file system")
            for variable, path in own.items():
                inner = path.resolve()
                if inner == resolved or resolved in inner.parents:
                    raise ValueError(
                        f"cache folder {folder} holds {variable} ({path}): clearing it would "
                        "delete Lumbung's own files; give caches a folder of their own"
                    )
        return self

    # --- the GraphQL surface ---------------------------------------------------------------
    graphiql: bool | None = Field(None, validation_alias=_alias("GRAPHIQL"))
    # The System Settings page at /admin (docs/admin.md): static files only, so it is on in
    # every environment; it holds no data of its own, the API's token gate still applies.
    admin_page: bool = Field(True, validation_alias=_alias("ADMIN_PAGE"))
    introspection: bool | None = Field(None, validation_alias=_alias("INTROSPECTION"))
    # "Did you mean ...?" in validation errors: a map of the schema for whoever probes it.
    field_suggestions: bool | None = Field(None, validation_alias=_alias("FIELD_SUGGESTIONS"))
    cors_origins: CommaList = Field([], validation_alias=_alias("CORS_ORIGINS"))
    max_query_depth: int = Field(12, ge=1, validation_alias=_alias("MAX_QUERY_DEPTH"))
    max_aliases: int = Field(30, ge=1, validation_alias=_alias("MAX_ALIASES"))
    max_tokens: int = Field(2000, ge=1, validation_alias=_alias("MAX_TOKENS"))
    max_body_bytes: int = Field(64 * 1024, ge=1024, validation_alias=_alias("MAX_BODY_BYTES"))
    max_subscriptions_per_connection: int = Field(
        20, ge=1, le=1000, validation_alias=_alias("MAX_SUBSCRIPTIONS_PER_CONNECTION")
    )
    # permessage-deflate on websockets. Off: a progress event is ~200 bytes, and compressing
    # it per socket halves how fast one event reaches 1,000 watchers and keeps a zlib context
    # (~48 KiB) per socket (bench/RESULTS.md, "Live progress"). Browsers offer it; the server
    # declines unless this is on.
    ws_compression: bool = Field(False, validation_alias=_alias("WS_COMPRESSION"))
    # The legacy `graphql-ws` protocol (subscriptions-transport-ws); off unless asked for.
    graphql_ws_legacy: bool = Field(False, validation_alias=_alias("GRAPHQL_WS_LEGACY"))

    _split = field_validator(
        "core_tables",
        "jwt_algorithms",
        "cors_origins",
        "cache_redis_prefix",
        "session_redis_prefix",
        "file_cache_dirs",
        "age_recipients",
        mode="before",
    )(_split_commas)

    @field_validator("jwt_algorithms")
    @classmethod
    def _no_none_algorithm(cls, value: list[str]) -> list[str]:
        if not value:
            raise ValueError("at least one JWT algorithm is required")
        if any(alg.lower() == "none" for alg in value):
            raise ValueError("the 'none' algorithm accepts unsigned tokens and is never allowed")
        return value

    @model_validator(mode="after")
    def _production_refuses_insecure_defaults(self) -> Settings:
        if self.environment != "production":
            return self
        problems = []
        if self.debug:
            problems.append("LUMBUNG_DEBUG must be off in production")
        if self.jwt_public_key is None:
            secret = self.jwt_secret.get_secret_value() if self.jwt_secret else ""
            if len(secret.encode()) < MIN_HMAC_KEY_BYTES:
                problems.append(
                    f"LUMBUNG_JWT_SECRET must be set to at least {MIN_HMAC_KEY_BYTES} bytes "
                    "(or LUMBUNG_JWT_PUBLIC_KEY for RS/ES tokens) in production"
                )
        if problems:
            raise ValueError("; ".join(problems))
        return self

    @field_validator("redis_url")
    @classmethod
    def _redis_has_a_host(cls, value: SecretStr | None) -> SecretStr | None:
        # redis-py reads `redis://` or `redis://:6379/0` as localhost: a URL whose host was
        # left out (an unset variable in a template) would quietly reach another Redis.
        if value is not None:
            parts = urlsplit(value.get_secret_value())
            if parts.scheme in ("redis", "rediss") and not parts.hostname:
                raise ValueError(
                    "the URL has no host (redis-py would take localhost): write it as "
                    "redis://HOST:6379/0, or unix:///path/to/redis.sock"
                )
        return value

    @model_validator(mode="after")
    def _revocation_needs_redis(self) -> Settings:
        if self.jwt_revocation and self.redis_url is None:
            raise ValueError(
                "LUMBUNG_JWT_REVOCATION is on, but the list of revoked tokens lives in Redis: "
                "set LUMBUNG_REDIS_URL too"
            )
        return self

    # --- derived values ----------------------------------------------------------------------
    @property
    def is_production(self) -> bool:
        return self.environment == "production"

    @property
    def graphiql_enabled(self) -> bool:
        return self.graphiql if self.graphiql is not None else not self.is_production

    @property
    def introspection_enabled(self) -> bool:
        return self.introspection if self.introspection is not None else not self.is_production

    @property
    def field_suggestions_enabled(self) -> bool:
        if self.field_suggestions is not None:
            return self.field_suggestions
        return not self.is_production

    @property
    def revocation_enabled(self) -> bool:
        if self.jwt_revocation is not None:
            return self.jwt_revocation
        return self.redis_url is not None

    @property
    def uses_default_database(self) -> bool:
        return self.database_url is None and self.database_name is None

    @property
    def demo_data_enabled(self) -> bool:
        return self.demo_data if self.demo_data is not None else self.uses_default_database

    @property
    def migrations_run_on_start(self) -> bool:
        if self.migrate_on_start is not None:
            return self.migrate_on_start
        return not self.is_production

    def resolved_database_url(self) -> str:
        """The SQLAlchemy URL, with the password in it: never log what this returns."""
        if self.database_url is not None:
            return self.database_url.get_secret_value()
        if self.database_name is not None:
            user = quote_plus(self.database_user or "root")
            password = self.database_password.get_secret_value() if self.database_password else ""
            auth = f"{user}:{quote_plus(password)}" if password else user
            return (
                f"mysql+aiomysql://{auth}@{self.database_host}:{self.database_port}/"
                f"{quote_plus(self.database_name)}?charset=utf8mb4"
            )
        return f"sqlite+aiosqlite:///{(self.data_dir / 'lumbung.db').resolve()}"


def load_settings(**overrides: object) -> Settings:
    """Build the settings once, from the environment, `.env` and explicit overrides.

    A refusal names each bad variable and why, but never echoes the values: one of them may
    be a password.
    """
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        problems = []
        for error in exc.errors(include_input=False, include_url=False):
            where = ".".join(str(part) for part in error["loc"]) or "settings"
            message = error["msg"].removeprefix("Value error, ")
            problems.append(message if where == "settings" else f"{where}: {message}")
        raise ConfigurationError("invalid configuration: " + "; ".join(problems)) from None
