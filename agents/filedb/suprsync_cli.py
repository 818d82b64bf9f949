"""``socs-like suprsync``: look into and feed the SupRsync file database.

    socs-like suprsync check FILE                 the rows registered for a local file
    socs-like suprsync list ARCHIVE               files waiting to be copied, oldest first
    socs-like suprsync next ARCHIVE               the next file the agent will copy
    socs-like suprsync add-local-files ROOT ARCHIVE   register files found under ROOT

The database is ``--db-path`` (a SQLite path or a SQLAlchemy URL; default ``$SUPRSYNC_DB``,
else the agents' default).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Iterator
from functools import partial
from typing import TYPE_CHECKING

from socs_like.checksum import md5_file
from socs_like.paths import PathRefused, check_relative

from .schema import add_db_argument

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from socs_like.db import Database

    from .models import RegisteredFile

REGISTER_CHUNK = 500
COLUMNS = (
    "id",
    "archive_name",
    "state",
    "local_path",
    "remote_path",
    "timestamp",
    "local_md5sum",
    "remote_md5sum",
    "copied",
    "verified",
    "removed",
    "failed_copy_attempts",
    "deletable",
    "ignore",
    "checksum_error",
)


class CliError(Exception):
    """One line for the person at the terminal."""


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="socs-like suprsync", description=__doc__.split("\n")[0])
    add_db_argument(parser)
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("check", help="print the rows registered for a local file")
    add_db_argument(p, subcommand=True)
    p.add_argument("file", help="local path of the file")

    for name, text in (
        ("list", "list files waiting to be copied, oldest first"),
        ("next", "print the next file the agent will copy"),
    ):
        p = sub.add_parser(name, help=text, description=text)
        add_db_argument(p, subcommand=True)
        p.add_argument("archive_name", help="archive, e.g. smurf or timestreams")
        p.add_argument(
            "--max-copy-attempts",
            type=int,
            default=5,
            help="the agent's --max-copy-attempts (default 5)",
        )
        if name == "list":
            p.add_argument("--limit", type=int, default=1000, help="list at most this many")

    p = sub.add_parser("add-local-files", help="register every file found under a folder")
    add_db_argument(p, subcommand=True)
    p.add_argument("local_root", help="folder to walk; remote paths are relative to it")
    p.add_argument("archive_name", help="archive the files belong to")
    p.add_argument(
        "--last-edit",
        type=float,
        default=60.0,
        help="skip files modified less than this many seconds ago (default 60)",
    )
    p.add_argument(
        "--not-deletable",
        action="store_true",
        help="never delete these files locally after copying",
    )
    p.add_argument(
        "--create-db", action="store_true", help="create (or upgrade) the database first"
    )
    p.add_argument("--dry", action="store_true", help="only print what would be added")
    return parser


def _print_row(row: RegisteredFile) -> None:
    print("-" * 72)
    for col in COLUMNS:
        print(f"  {col:22} {getattr(row, col)}")


def _check(db: Database, args: argparse.Namespace) -> int:
    from sqlalchemy import select

    from .models import RegisteredFile

    path = os.path.abspath(args.file)
    rows = db.read(
        lambda s: list(
            s.scalars(
                select(RegisteredFile)
                .where(RegisteredFile.local_path == path)
                .order_by(RegisteredFile.id)
            )
        )
    )
    if not rows:
        print(f"{path} is not registered")
        return 1
    for row in rows:
        _print_row(row)
    return 0


def _list(db: Database, args: argparse.Namespace, limit: int) -> int:
    from . import queries
    from .models import RegisteredFile

    batch = db.read(
        lambda s: queries.next_batch(s, args.archive_name, args.max_copy_attempts, limit)
    )
    if not batch:
        print(f"no files of {args.archive_name} left to copy")
        return 0
    if args.command == "next":
        row = db.read(lambda s: s.get(RegisteredFile, batch[0].id))
        if row is not None:  # else copied and gone since the line above
            _print_row(row)
        return 0
    for f in batch:
        print(f"{f.id}\t{f.local_path}\t{f.remote_path}")
    return 0


def _walk(root: str, older_than: float) -> Iterator[tuple[str, str]]:
    for folder, dirs, names in os.walk(root):
        dirs.sort()
        for name in sorted(names):
            path = os.path.join(folder, name)
            try:
                if not os.path.isfile(path) or os.stat(path).st_mtime > older_than:
                    continue
            except OSError:
                continue
            yield path, os.path.relpath(path, root)


def _registered_paths(session: Session, archive: str, paths: list[str]) -> list[str]:
    from sqlalchemy import select

    from .models import RegisteredFile

    return list(
        session.scalars(
            select(RegisteredFile.local_path).where(
                RegisteredFile.archive_name == archive, RegisteredFile.local_path.in_(paths)
            )
        )
    )


def _add_local_files(db: Database, args: argparse.Namespace) -> int:
    from . import queries

    root = os.path.abspath(args.local_root)
    if not os.path.isdir(root):
        raise CliError(f"{root} is not a folder")
    found = list(_walk(root, time.time() - args.last_edit))
    paths = [p for p, _ in found]
    known: set[str] = set()
    for i in range(0, len(paths), REGISTER_CHUNK):
        chunk = paths[i : i + REGISTER_CHUNK]
        known.update(db.read(partial(_registered_paths, archive=args.archive_name, paths=chunk)))
    todo = [(p, r) for p, r in found if p not in known]
    if args.dry:
        print(f"dry run: would add {len(todo)} files of {root} to {args.archive_name}")
        for p, r in todo[:10]:
            print(f"  {p} -> {r}")
        return 0
    added = skipped = 0
    batch: list[queries.NewFile] = []
    for path, remote in todo:
        try:
            check_relative(remote, "remote path")
            md5, size, mtime = md5_file(path)
        except (PathRefused, OSError) as e:
            print(f"skipped {path}: {getattr(e, 'strerror', None) or e}", file=sys.stderr)
            skipped += 1
            continue
        batch.append(
            queries.NewFile(
                local_path=path,
                archive_name=args.archive_name,
                remote_path=remote,
                timestamp=time.time(),
                deletable=not args.not_deletable,
                local_md5sum=md5,
                local_size=size,
                local_mtime=mtime,
            )
        )
        if len(batch) >= REGISTER_CHUNK:
            added += len(db.write(partial(queries.register, files=batch)))
            batch = []
    if batch:
        added += len(db.write(partial(queries.register, files=batch)))
    print(
        f"added {added} files of {root} to {args.archive_name}"
        + (f" ({skipped} skipped)" if skipped else "")
    )
    return 0


def _missing_sqlite_file(path_or_url: str) -> str | None:
    """The SQLite file the argument names when it does not exist (connecting would create
    an empty one), else None."""
    from sqlalchemy.engine import make_url

    from socs_like.db import database_url

    url = make_url(database_url(path_or_url))
    if url.get_backend_name() != "sqlite" or not url.database or url.database == ":memory:":
        return None
    return None if os.path.exists(url.database) else url.database


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    # SQLAlchemy and the tables only once the command is known (not for --help)
    from sqlalchemy.exc import SQLAlchemyError

    from socs_like.db import Database

    from .schema import upgrade

    missing = _missing_sqlite_file(args.db_path)
    if missing and not (args.command == "add-local-files" and args.create_db):
        print(
            f"socs-like suprsync {args.command}: no database at {missing} "
            "(give --db-path or $SUPRSYNC_DB)",
            file=sys.stderr,
        )
        return 1
    db = Database(args.db_path)
    try:
        if args.command == "add-local-files" and args.create_db:
            upgrade(db)
        if args.command == "check":
            return _check(db, args)
        if args.command in ("list", "next"):
            return _list(db, args, args.limit if args.command == "list" else 1)
        return _add_local_files(db, args)
    except CliError as e:
        print(f"socs-like suprsync {args.command}: {e}", file=sys.stderr)
        return 1
    except SQLAlchemyError as e:
        print(
            f"socs-like suprsync {args.command}: {db.display_url}: {getattr(e, 'orig', None) or e}",
            file=sys.stderr,
        )
        return 1
    finally:
        db.dispose()
