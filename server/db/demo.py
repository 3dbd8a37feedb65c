"""The embedded demo database: the seed application's `User`, `Role`, `Permission` and
`Message` tables with a few realistic rows, so that every query answers something real on a
fresh machine. Only ever created where no `User` table exists yet."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import (
    Column,
    DateTime,
    ForeignKey,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    inspect,
)
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

from server.db.migrate import setup_lock

metadata = MetaData()

role = Table(
    "Role",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("name", String(191), nullable=False, unique=True),
    Column("description", String(191)),
)
permission = Table(
    "Permission",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("name", String(191), nullable=False),
    Column("roleId", Integer, ForeignKey("Role.id"), nullable=False),
)
user = Table(
    "User",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("name", String(191), nullable=False),
    Column("email", String(191), nullable=False, unique=True),
    Column("roleId", Integer, ForeignKey("Role.id"), nullable=False),
    Column("createdAt", DateTime, nullable=False),
)
message = Table(
    "Message",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("userId", Integer, ForeignKey("User.id"), nullable=False),
    Column("content", Text, nullable=False),
    Column("createdAt", DateTime, nullable=False),
)

ROLES = [
    (1, "admin", "Full access, including backups and restores"),
    (2, "operator", "Runs the network, reads reports"),
    (3, "customer", "A subscriber of the service"),
]
PERMISSIONS = [
    "backup.create",
    "backup.restore",
    "cache.clear",
    "system.view",
    "ticket.manage",
    "report.view",
    "message.send",
    "profile.edit",
]
USERS = [
    (1, "Admin Lumbung", "admin@lumbung.local", 1),
    (2, "Siti Rahmawati", "siti@fiber.co.id", 2),
    (3, "Budi Santoso", "budi@fiber.co.id", 2),
    (4, "Dewi Lestari", "dewi.lestari@example.id", 3),
    (5, "Agus Wijaya", "agus.wijaya@example.id", 3),
    (6, "Putu Ayu", "putu.ayu@example.id", 3),
]
MESSAGES = [
    "Koneksi internet di rumah terputus sejak pagi.",
    "Terima kasih, sudah normal kembali 🙏",
    "Jadwal pemeliharaan jaringan: Sabtu 01:00-03:00 WIB.",
    "Tagihan bulan ini sudah saya bayar.",
    "Apakah paket 100 Mbps tersedia di Denpasar?",
    "Teknisi akan datang besok pukul 10:00.",
]


def _seed(connection: Connection) -> bool:
    if inspect(connection).has_table("User"):
        return False
    metadata.create_all(connection)
    start = datetime(2024, 1, 2, 8, 0, tzinfo=UTC).replace(tzinfo=None)
    connection.execute(role.insert(), [{"id": i, "name": n, "description": d} for i, n, d in ROLES])
    connection.execute(
        permission.insert(),
        [
            {"id": i, "name": name, "roleId": 1 if i <= 4 else 2}
            for i, name in enumerate(PERMISSIONS, start=1)
        ],
    )
    connection.execute(
        user.insert(),
        [
            {"id": i, "name": n, "email": e, "roleId": r, "createdAt": start + timedelta(days=i)}
            for i, n, e, r in USERS
        ],
    )
    connection.execute(
        message.insert(),
        [
            {
                "id": i,
                "userId": 2 + i % 5,
                "content": MESSAGES[i % len(MESSAGES)],
                "createdAt": start + timedelta(hours=7 * i),
            }
            for i in range(1, 43)
        ],
    )
    return True


async def seed_demo_database(engine: AsyncEngine) -> bool:
    """Create and fill the demo tables; returns False (touching nothing) if `User` exists.
    Several processes may start at once (`--workers 2` on an empty database): one seeds while
    the others wait for it, then find `User` there."""
    async with setup_lock(engine), engine.begin() as connection:
        return await connection.run_sync(_seed)
