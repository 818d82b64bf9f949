"""The file database shared by the pysmurf monitor and SupRsync.

Files handed over for archiving are registered here (by the monitor, by SupRsync for its own
finalization files, by ``socs-like suprsync add-local-files``) and SupRsync copies, verifies
and deletes them. One SQLite file (or one PostgreSQL database) holds the rows of every archive;
each SupRsync instance only touches its own archive's rows.

Modules:

- ``models``: the tables (``registered_files``, ``timecode_dirs``) and the file states;
- ``queries``: every query the monitor and SupRsync run, and no other;
- ``schema``: the migrations (``migrations/``, Alembic), the ``--db-path`` argument and its
  default; ``legacy``: the import of an old ``socs`` database (``supersync_v0``), run by
  migration 0002;
- ``db_cli`` and ``suprsync_cli``: the ``socs-like db`` and ``socs-like suprsync`` commands.

The generic parts (engine, SQLite pragmas, retry on lock, the migration runner) are the
framework's, in :mod:`socs_like.db`.
"""
