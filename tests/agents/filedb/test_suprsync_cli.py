"""`socs-like suprsync`: check, list, next and add-local-files on a real database."""

import os
import time

from socs_like.db import Database
from socs_like.testing import md5_hex
from socs_like_agents.filedb.models import FileState, RegisteredFile
from socs_like_agents.filedb.suprsync_cli import main


def test_add_local_files_then_list_next_check(tmp_path, capsys):
    db_path = str(tmp_path / "db" / "files.db")
    root = tmp_path / "data"
    (root / "17000/a").mkdir(parents=True)
    (root / "17000/a/one.g3").write_bytes(b"one")
    (root / "17000/a/two words.g3").write_bytes(b"two")
    fresh = root / "17000/a/still-writing.g3"
    fresh.write_bytes(b"3")
    old = time.time() - 600
    for p in ("17000/a/one.g3", "17000/a/two words.g3"):
        os.utime(root / p, (old, old))

    assert (
        main(["--db-path", db_path, "add-local-files", str(root), "ts", "--create-db", "--dry"])
        == 0
    )
    assert "would add 2 files" in capsys.readouterr().out
    assert main(["--db-path", db_path, "add-local-files", str(root), "ts", "--create-db"]) == 0
    assert "added 2 files" in capsys.readouterr().out
    # idempotent: a second walk adds nothing
    assert main(["--db-path", db_path, "add-local-files", str(root), "ts"]) == 0
    assert "added 0 files" in capsys.readouterr().out

    db = Database(db_path)
    rows = db.read(lambda s: s.query(RegisteredFile).order_by(RegisteredFile.id).all())
    db.dispose()
    assert [(r.remote_path, r.state, r.local_md5sum, r.timecode) for r in rows] == [
        ("17000/a/one.g3", FileState.QUEUED, md5_hex(b"one"), 17000),
        ("17000/a/two words.g3", FileState.QUEUED, md5_hex(b"two"), 17000),
    ]

    assert main(["--db-path", db_path, "list", "ts"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert [line.split("\t")[2] for line in out] == ["17000/a/one.g3", "17000/a/two words.g3"]
    assert main(["--db-path", db_path, "next", "ts"]) == 0
    assert "17000/a/one.g3" in capsys.readouterr().out
    assert main(["--db-path", db_path, "next", "other"]) == 0
    assert capsys.readouterr().out == "no files of other left to copy\n"

    assert main(["--db-path", db_path, "check", str(root / "17000/a/two words.g3")]) == 0
    out = capsys.readouterr().out
    assert "state                  queued" in out and "failed_copy_attempts   0" in out
    assert main(["--db-path", db_path, "check", str(fresh)]) == 1
    assert "is not registered" in capsys.readouterr().out


def test_errors_are_one_line(tmp_path, capsys):
    db = str(tmp_path / "x.db")
    assert main(["--db-path", db, "list", "ts"]) == 1
    assert capsys.readouterr().err == (
        f"socs-like suprsync list: no database at {db} (give --db-path or $SUPRSYNC_DB)\n"
    )
    assert not (tmp_path / "x.db").exists()  # a lookup creates no empty database
    (tmp_path / "x.db").touch()
    assert main(["--db-path", db, "add-local-files", str(tmp_path / "no"), "ts"]) == 1
    assert capsys.readouterr().err == (
        f"socs-like suprsync add-local-files: {tmp_path / 'no'} is not a folder\n"
    )
    assert main(["--db-path", db, "list", "ts"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "no such table" in err
