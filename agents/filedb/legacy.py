"""Import the tables of the old ``socs`` SupRsync database without losing a row.

``supersync_v0`` (files) and ``timecode_dirs_v0`` come in two shapes (with and without the
``ignore`` column, added later); any optional column that is missing takes its old default.
Rows keep their ids, so ``timecode_dirs_v0.finalize_file_id`` still points at the right file.
The old tables are left untouched: stop the old agents before upgrading, and the new tables
take over from there.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from sqlalchemy import Connection, MetaData, Table, func, insert, inspect, select, text

from .models import FILES_TABLE, TIMECODE_TABLE, FileState, timecode_of

LEGACY_FILES_TABLE = "supersync_v0"
LEGACY_TIMECODE_TABLE = "timecode_dirs_v0"
_CHUNK = 5000


def convert_file_row(row: Mapping[str, Any]) -> dict[str, Any]:
    """One ``supersync_v0`` row as a ``registered_files`` row."""
    local_md5 = row.get("local_md5sum")
    remote_md5 = row.get("remote_md5sum")
    removed = row.get("removed")
    synced = local_md5 is not None and local_md5 == remote_md5
    if removed is not None:
        state = FileState.REMOVED
    elif local_md5 is None:
        state = FileState.PENDING
    elif synced:
        state = FileState.SYNCED
    else:
        state = FileState.QUEUED
    remote_path = row["remote_path"]
    return {
        "id": row["id"],
        "local_path": row["local_path"],
        "archive_name": row["archive_name"],
        "remote_path": remote_path,
        "timestamp": row["timestamp"],
        "state": state.value,
        "timecode": timecode_of(remote_path),
        "local_md5sum": local_md5,
        "remote_md5sum": remote_md5,
        "copied": row.get("copied"),
        # the old table kept no verification time: the last copy attempt is the best proxy
        "verified": row.get("copied") if synced else None,
        "removed": removed,
        "failed_copy_attempts": row.get("failed_copy_attempts") or 0,
        "deletable": True if row.get("deletable") is None else bool(row["deletable"]),
        "ignore": bool(row.get("ignore") or False),
    }


def convert_timecode_row(row: Mapping[str, Any]) -> dict[str, Any]:
    """One ``timecode_dirs_v0`` row as a ``timecode_dirs`` row."""
    return {
        "id": row["id"],
        "timecode": row["timecode"],
        "archive_name": row["archive_name"],
        "completed": bool(row.get("completed") or False),
        "synced": bool(row.get("synced") or False),
        "finalized": bool(row.get("finalized") or False),
        "finalize_file_id": row.get("finalize_file_id"),
    }


def has_legacy_tables(conn: Connection) -> bool:
    return LEGACY_FILES_TABLE in inspect(conn).get_table_names()


def import_legacy(conn: Connection) -> tuple[int, int]:
    """Copy the old tables into the new ones on the same connection, in chunks.

    Returns (files, timecode dirs) imported. Runs inside the caller's transaction (the
    Alembic migration), so a failure leaves nothing half-imported.
    """
    tables = set(inspect(conn).get_table_names())
    meta = MetaData()
    files = timecodes = 0
    if LEGACY_FILES_TABLE in tables:
        old = Table(LEGACY_FILES_TABLE, meta, autoload_with=conn)
        new = Table(FILES_TABLE, meta, autoload_with=conn)
        for chunk in _chunks(conn, old):
            conn.execute(insert(new), [convert_file_row(r) for r in chunk])
            files += len(chunk)
    if LEGACY_TIMECODE_TABLE in tables:
        old = Table(LEGACY_TIMECODE_TABLE, meta, autoload_with=conn)
        new = Table(TIMECODE_TABLE, meta, autoload_with=conn)
        for chunk in _chunks(conn, old):
            conn.execute(insert(new), [convert_timecode_row(r) for r in chunk])
            timecodes += len(chunk)
    if conn.dialect.name == "postgresql":
        # ids were copied explicitly, so move the sequences past them
        for table in (FILES_TABLE, TIMECODE_TABLE):
            conn.execute(
                text(
                    f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                    f"COALESCE((SELECT MAX(id) FROM {table}), 0) + 1, false)"
                )
            )
    return files, timecodes


def _chunks(conn: Connection, table: Table) -> Iterator[list[Mapping[str, Any]]]:
    last_id = None
    while True:
        query = select(table).order_by(table.c.id).limit(_CHUNK)
        if last_id is not None:
            query = query.where(table.c.id > last_id)
        rows: list[Mapping[str, Any]] = [dict(r._mapping) for r in conn.execute(query)]
        if not rows:
            return
        yield rows
        last_id = rows[-1]["id"]


def count_rows(conn: Connection, table_name: str) -> int:
    table = Table(table_name, MetaData(), autoload_with=conn)
    return conn.execute(select(func.count()).select_from(table)).scalar_one()
