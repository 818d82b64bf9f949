"""Drafts: a file grows hidden, is published whole, and a dead writer's leftovers are removed.

A file grows in the draft folder as ``.<name>.draft`` and reaches the output folder only
complete: by a rename when both folders are on one file system, else by a copy to a hidden
``.<name>.part`` beside it and a rename. A reader of ``*.h5`` never sees half a file, and
since a draft's name is never a finished file's, the draft folder may be the output folder.

A writer killed while it writes (SIGKILL, a power cut, an OOM kill) leaves its draft or part
behind; the next run removes it with :func:`remove_dead`. Which ones are dead is told by a
lock, not by age or by a pid in the name: the writer holds a ``flock`` on its file from
creating it until it is published or removed, and the kernel drops the lock when the writer
dies, however it dies. A file that can be locked exclusively is therefore dead whatever its
age (a day's grab may write for hours) and whoever wrote it (a pid is reused, and means
nothing to another host or container sharing the folder; NFS carries flock locks between
clients). The writer's lock is a shared one: it still holds it for a moment after the rename
that publishes the file, and a reader's HDF5 takes a shared lock to open a file, which an
exclusive one would refuse. HDF5 writing the draft must not take its own, exclusive, lock
(``h5py.File(..., locking=False)``).
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import re
import shutil
import stat
from collections.abc import Iterable, Iterator
from pathlib import Path

DRAFT = "draft"
PART = "part"


def _draft_path(draftdir: Path, file_name: str) -> Path:
    """Where ``file_name`` grows: hidden from readers of ``*.h5``, and never the finished
    file's path even when the draft folder is (or resolves to) the output folder."""
    return draftdir / f".{file_name}.{DRAFT}"


@contextlib.contextmanager
def writing(draftdir: Path, file_name: str) -> Iterator[Path]:
    """The draft of ``file_name``, locked while the block runs (it publishes it, or fails):
    what is left of it at the end, a failed write's half a file, is removed."""
    draft = _draft_path(draftdir, file_name)
    with _created_locked(draft):
        try:
            yield draft
        finally:
            with contextlib.suppress(FileNotFoundError):  # published: renamed away
                draft.unlink()


def publish(draft: Path, final: Path) -> Path:
    """Move a closed draft to ``final`` so that it appears there whole, never in part."""
    with open(draft, "rb") as f:
        os.fsync(f.fileno())
    outdir = final.parent
    try:
        os.replace(draft, final)
    except OSError as exc:
        if exc.errno != errno.EXDEV:  # another file system: copy beside, then rename
            raise
        part = outdir / f".{final.name}.{PART}"
        with _created_locked(part):
            try:
                shutil.copyfile(draft, part)
                with open(part, "rb") as f:
                    os.fsync(f.fileno())
                os.replace(part, final)
            finally:
                with contextlib.suppress(FileNotFoundError):  # renamed: published
                    part.unlink()
    fd = os.open(outdir, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
    return final


def remove_dead(folders: Iterable[Path], prefixes: Iterable[str]) -> list[Path]:
    """Remove the drafts and parts of files named ``<prefix>_...h5`` in ``folders`` that no
    live writer holds; returns them. Nothing else is touched: not another program's hidden
    files, not a file being written right now."""
    ours = re.compile(
        rf"\.(?:{'|'.join(map(re.escape, prefixes))})_.+\.h5\.(?:{DRAFT}|{PART})\Z", re.DOTALL
    )
    removed = []
    for folder in dict.fromkeys(f.resolve() for f in folders):  # the same folder once
        if not folder.is_dir():
            continue
        for entry in os.scandir(folder):
            if ours.match(entry.name) and _remove_if_dead(Path(entry.path)):
                removed.append(Path(entry.path))
    return sorted(removed)


def _remove_if_dead(path: Path) -> bool:
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError:  # gone meanwhile, or a symlink: not a file we wrote
        return False
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return False
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:  # its writer is alive (or a reader or remover has it now)
            return False
        # still the file we locked (not one created at its name since): remove it locked,
        # so a writer that created it a moment ago finds its file gone and makes another
        if not _is(fd, path):
            return False
        path.unlink()
        return True
    finally:
        os.close(fd)


@contextlib.contextmanager
def _created_locked(path: Path) -> Iterator[None]:
    """``path`` created (or opened) and held under a shared lock until the block ends."""
    while True:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        # blocking: the only other holder can be a remover, for the moment of an unlink
        fcntl.flock(fd, fcntl.LOCK_SH)
        if _is(fd, path):
            break
        os.close(fd)  # a remover took it between our open and our lock: create it again
    try:
        yield
    finally:
        os.close(fd)


def _is(fd: int, path: Path) -> bool:
    """Whether ``path`` names the file open as ``fd``."""
    try:
        at = os.stat(path, follow_symlinks=False)
    except FileNotFoundError:
        return False
    held = os.fstat(fd)
    return (at.st_dev, at.st_ino) == (held.st_dev, held.st_ino)
