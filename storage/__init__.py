"""SQLite storage: schema and migrations (`schema`), the single batched writer (`writer`), read-only
loaders (`loaders`) and online backups (`backup`). Pure asyncio/sqlite: no Ray here.

The persistence actor owns the one `StorageWriter`; every other actor reads through a
`StorageReader` (read-only URI) when it (re)starts. See each module's docstring for its API.
"""

from storage.backup import backup_database, backup_database_async, list_backups, prune_backups
from storage.loaders import StorageReader, StoredOrder
from storage.schema import LATEST_VERSION, MIGRATIONS, OPEN_STATUSES, migrate, rows_for, schema_version
from storage.writer import StorageWriter, prepare_database

__all__ = [
    "LATEST_VERSION",
    "MIGRATIONS",
    "OPEN_STATUSES",
    "StorageReader",
    "StorageWriter",
    "StoredOrder",
    "backup_database",
    "backup_database_async",
    "list_backups",
    "migrate",
    "prepare_database",
    "prune_backups",
    "rows_for",
    "schema_version",
]
