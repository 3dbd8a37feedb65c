"""A ~1 GB application database for bench/backup_restore.py, generated inside MariaDB.

The seed application's tables come from Lumbung's own demo code (`User`, `Role`,
`Permission`, `Message`, a few rows each); then, all in SQL on the server (no rows travel
through Python):

* `User`: 10,000 users;
* `Message`: `rows` messages (default 1.2 M) of ~740 bytes of varied support-ticket text each:
  sentences picked by the row number from several pools, a customer and ticket number, hex and
  base64 digests (MD5/SHA-2 of the row number), a line break or a quote now and then, an emoji
  in some; `mariadb-dump` writes ~780 bytes of SQL per row, which `zstd -3` shrinks ~2.4x;
* `Attachment`: BLOBs of 4-100 KiB of random bytes (`RANDOM_BYTES`, incompressible like JPEG
  or PDF files), ~50 MB for 1.2 M messages (scaled with `rows`).

    INSERT INTO Message (...) SELECT ... FROM seq_1_to_200000   -- in batches of 200,000

With the defaults `mariadb-dump` writes ~1.03 GB of SQL, ~0.93 GB of it for `Message`.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

from tests.support.mariadb import MariaDBServer

USERS = 10_000
BATCH = 200_000
ROWS_DEFAULT = 1_200_000
ATTACHMENTS_PER_MILLION_ROWS = 830  # ~52 KiB each: ~52 MB for 1.2 M messages
RANDOM_KIB = 100  # RANDOM_BYTES gives at most 1024 bytes a call: a blob is up to 100 of them
TABLES = ("User", "Role", "Permission", "Message", "Attachment")
CHECKSUMMED = ("Message", "Attachment", "User")

_GREETINGS = (
    "Halo admin,",
    "Selamat pagi,",
    "Selamat siang tim support,",
    "Permisi,",
    "Dear team,",
    "Assalamualaikum,",
    "Hi,",
    "Selamat malam,",
)
_PROBLEMS = (
    "koneksi internet di rumah terputus sejak pagi dan lampu LOS di modem berkedip merah.",
    "tagihan bulan ini sudah saya bayar lewat transfer bank tetapi status masih belum lunas.",
    "apakah paket 100 Mbps sudah tersedia di daerah Denpasar dan sekitarnya?",
    "kecepatan unduh hanya 3 Mbps padahal paket saya 50 Mbps, mohon dicek.",
    "teknisi dijadwalkan datang besok pukul 10:00, mohon konfirmasi.",
    "saya ingin pindah alamat pemasangan ke Jl. Gajah Mada No. 12, Jum'at depan bisa?",
    "router sering restart sendiri setiap malam sekitar jam 9.",
    "terima kasih, sudah normal kembali 🙏 pelayanan cepat sekali.",
    "the connection drops every few minutes since the storm yesterday.",
    "please send the invoice for March again, the PDF was empty.",
    "jadwal pemeliharaan jaringan: Sabtu 01:00-03:00 WIB, layanan terganggu.",
    "wifi tidak muncul di HP tapi laptop bisa tersambung dengan kabel.",
)
_DETAILS = (
    "Sudah saya coba matikan dan nyalakan ulang modemnya tapi tetap sama.",
    "Mohon bantuannya secepatnya karena saya bekerja dari rumah.",
    "Lampu PON menyala hijau, tetapi internet tetap tidak bisa dipakai.",
    "Saya lampirkan foto modem dan hasil speedtest.",
    "I already restarted the ONT twice and checked every cable.",
    "Pembayaran dilakukan tanggal 3, bukti transfer terlampir.",
    "Sinyal di lantai dua sangat lemah sejak penggantian perangkat.",
    "Apakah ada gangguan massal di wilayah Sanur hari ini?",
    "Kalau bisa teknisi datang sore saja setelah jam 4.",
    "Nomor WhatsApp saya bisa dihubungi kapan saja.",
)
_NOTES = (
    "Hasil traceroute:\nhop 1 192.168.1.1 2 ms\nhop 2 10.20.0.1 9 ms\nhop 3 timeout",
    "Speedtest: download 4.2 Mbps, upload 1.1 Mbps, ping 87 ms, jitter 40 ms.",
    "Perangkat: ZTE F670L, firmware V9.0.11P1N12, uptime 3 hari.",
    "Lokasi: Perumahan Griya Asri blok C, RT 04 RW 02, Kelurahan Panjer.",
    "Device: Huawei HG8245H5, serial 48575443, optical RX -24.5 dBm.",
    "Paket: Home 50 Mbps, kontrak sampai Desember 2025.",
    'Catatan: "pelanggan prioritas", harap ditangani hari ini.',
    "Riwayat: 3 tiket dalam 30 hari terakhir, semua terkait LOS.",
    "Browser: Chrome 124 on Android 14; app version 5.2.1 (build 3120).",
)
_MIME = ("image/jpeg", "image/png", "application/pdf", "image/jpeg", "video/mp4")
_EXTENSION = ("jpg", "png", "pdf", "jpg", "mp4")


def _literal(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace("'", "\\'").replace("\n", "\\n")
    return f"'{escaped}'"


def _pick(pool: tuple[str, ...], index_sql: str) -> str:
    return f"ELT(1 + ({index_sql}) % {len(pool)}, {', '.join(_literal(s) for s in pool)})"


# One message's text from its row number `seq` (~740 bytes, 650-840).
CONTENT_SQL = f"""CONCAT_WS(' ',
  {_pick(_GREETINGS, "seq")},
  {_pick(_PROBLEMS, "seq DIV 8")},
  CONCAT('Nomor pelanggan: ', LPAD(seq * 37 % 1000003, 8, '0'), '; tiket #', seq, '.'),
  {_pick(_DETAILS, "seq * 13")},
  CONCAT('Log: ', SHA2(seq, 256), ' ', MD5(seq * 3), ' ', SHA2(CONCAT('s', seq), 224)),
  {_pick(_NOTES, "seq * 7")},
  CONCAT('Session ', SHA2(seq * 11, 384)),
  CONCAT('token=', TO_BASE64(UNHEX(SHA2(CONCAT('t', seq), 512)))),
  CONCAT('sig=', TO_BASE64(UNHEX(SHA2(CONCAT('u', seq), 256)))),
  LEFT(REPEAT(CONCAT(MD5(seq), ' '), 4), (seq * 31) % 120),
  'Salam,', CONCAT('Pelanggan ', 1 + (seq * 7919) % {USERS}))"""


def attachment_count(rows: int) -> int:
    return max(10, rows * ATTACHMENTS_PER_MILLION_ROWS // 1_000_000)


async def _seed_tables(url: str) -> None:
    """The seed application's four tables and demo rows, made by Lumbung's own code."""
    from server.db.demo import seed_demo_database
    from server.db.engine import create_engine
    from server.settings import Settings

    settings = Settings(_env_file=None, database_url=url, environment="development")
    engine = create_engine(settings)
    try:
        await seed_demo_database(engine)
    finally:
        await engine.dispose()


def generate(
    db: MariaDBServer, database: str, url: str, rows: int, log: Callable[[str], None]
) -> None:
    """Fill the (empty) database; takes about a minute for the default size."""
    started = time.monotonic()
    asyncio.run(_seed_tables(url))
    session = "SET SESSION unique_checks = 0; SET SESSION foreign_key_checks = 0;\n"
    db.root_sql(
        session
        + "INSERT INTO `User` (id, name, email, roleId, createdAt)\n"
        + "SELECT seq, CONCAT('Pelanggan ', seq), CONCAT('pelanggan', seq, '@example.id'),\n"
        + "  1 + seq % 3, TIMESTAMP'2023-01-01 00:00:00' + INTERVAL seq * 3607 SECOND\n"
        + f"FROM seq_7_to_{USERS};\n",
        database,
    )
    existing = int(db.root_sql("SELECT COUNT(*) FROM `Message`;", database).strip())
    for first in range(1, rows + 1, BATCH):
        last = min(first + BATCH - 1, rows)
        db.root_sql(
            session
            + "INSERT INTO `Message` (userId, content, createdAt)\n"
            + f"SELECT 1 + (seq * 7919) % {USERS}, {CONTENT_SQL},\n"
            + "  TIMESTAMP'2023-01-01 00:00:00' + INTERVAL seq * 23 SECOND\n"
            + f"FROM seq_{first}_to_{last};\n",
            database,
            timeout=1800,
        )
        log(f"  Message: {existing + last:,} rows ({time.monotonic() - started:.0f} s)")
    count = attachment_count(rows)
    blob = "CONCAT(" + ", ".join(["RANDOM_BYTES(1024)"] * RANDOM_KIB) + ")"
    db.root_sql(
        "CREATE TABLE `Attachment` (\n"
        "  id INT NOT NULL AUTO_INCREMENT PRIMARY KEY,\n"
        "  messageId INT NOT NULL,\n"
        "  filename VARCHAR(191) NOT NULL,\n"
        "  mimeType VARCHAR(100) NOT NULL,\n"
        "  size INT NOT NULL,\n"
        "  data MEDIUMBLOB NOT NULL,\n"
        "  createdAt DATETIME(3) NOT NULL,\n"
        "  KEY Attachment_messageId_idx (messageId)\n"
        ") ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;\n"
        "INSERT INTO `Attachment` (messageId, filename, mimeType, size, data, createdAt)\n"
        "SELECT m, CONCAT('lampiran-', seq, '.', "
        + _pick(_EXTENSION, "seq")
        + "), "
        + _pick(_MIME, "seq")
        + ", s, LEFT("
        + blob
        + ", s), TIMESTAMP'2023-01-01 00:00:00' + INTERVAL m * 23 SECOND\n"
        + f"FROM (SELECT seq, 1 + (seq * 104729) % {rows} AS m,\n"
        + f"  4096 + (seq * 7919) % {(RANDOM_KIB - 4) * 1024} AS s FROM seq_1_to_{count}) AS a;\n",
        database,
        timeout=1800,
    )
    log(f"  Attachment: {count:,} rows ({time.monotonic() - started:.0f} s)")
    db.root_sql("ANALYZE TABLE `User`, `Message`, `Attachment`;", database)


def checksums(db: MariaDBServer, database: str) -> dict[str, int]:
    """CHECKSUM TABLE of the tables the round trip must keep exactly."""
    names = ", ".join(f"`{name}`" for name in CHECKSUMMED)
    result: dict[str, int] = {}
    for line in db.root_sql(f"CHECKSUM TABLE {names};", database).splitlines():
        qualified, _, value = line.partition("\t")
        result[qualified.rsplit(".", 1)[-1]] = int(value)
    return result


def table_rows(db: MariaDBServer, database: str) -> dict[str, int]:
    return {
        name: int(db.root_sql(f"SELECT COUNT(*) FROM `{name}`;", database).strip())
        for name in TABLES
    }


def data_bytes(db: MariaDBServer, database: str) -> int:
    """InnoDB's data + index size of the application's tables (an estimate)."""
    names = ", ".join(f"'{name}'" for name in TABLES)
    value = db.root_sql(
        "SELECT SUM(DATA_LENGTH + INDEX_LENGTH) FROM information_schema.TABLES "
        f"WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME IN ({names});",
        database,
    ).strip()
    return int(value or 0)
