"""``socs-like db``: look at and upgrade an agent database.

socs-like db upgrade [--db-path PATH_OR_URL]   create or migrate the schema; import an old socs db
socs-like db current [--db-path PATH_OR_URL]   print the schema revision (and the newest known)
"""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING

from .schema import MIGRATIONS, add_db_argument

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from socs_like.db import Database


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="socs-like db", description=__doc__.split("\n")[0])
    add_db_argument(parser)
    sub = parser.add_subparsers(dest="command", required=True)
    for name, text in (
        ("upgrade", "create or migrate the schema, importing an old socs database in place"),
        ("current", "print the schema revision of the database"),
    ):
        p = sub.add_parser(name, help=text, description=text)
        add_db_argument(p, subcommand=True)
        p.add_argument("--echo-sql", action="store_true", help="print every SQL statement")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    # SQLAlchemy and the tables only once the command is known (not for --help)
    from sqlalchemy.exc import SQLAlchemyError

    from socs_like.db import Database

    from .legacy import LEGACY_FILES_TABLE, LEGACY_TIMECODE_TABLE
    from .models import FILES_TABLE, TIMECODE_TABLE

    db = Database(args.db_path, echo=args.echo_sql)
    try:
        if args.command == "upgrade":
            before, after = MIGRATIONS.upgrade(db)
            print(f"{db.display_url}: schema {before or 'none'} -> {after}")
            for table in (FILES_TABLE, TIMECODE_TABLE, LEGACY_FILES_TABLE, LEGACY_TIMECODE_TABLE):
                rows = _rows(db, table)
                if rows is not None:
                    print(f"  {table}: {rows} rows")
        else:
            print(
                f"{db.display_url}: schema {MIGRATIONS.current(db) or 'none'} "
                f"(newest {MIGRATIONS.head()})"
            )
    except SQLAlchemyError as exc:
        print(
            f"socs-like db {args.command}: {db.display_url}: {exc.__class__.__name__}: "
            f"{getattr(exc, 'orig', None) or exc}",
            file=sys.stderr,
        )
        return 1
    finally:
        db.dispose()
    return 0


def _rows(db: Database, table: str) -> int | None:
    from sqlalchemy import inspect

    from .legacy import count_rows

    def work(session: Session) -> int | None:
        conn = session.connection()
        if table not in inspect(conn).get_table_names():
            return None
        return count_rows(conn, table)

    return db.read(work)
