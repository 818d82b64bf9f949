"""Per-instance log files: ``<log-dir>/<instance-id>.log``, rotated, and `socs-like logs`.

`socs-like up` captures everything each child writes (its log lines, a traceback, an argparse
error before logging even starts) through a pipe and appends it to the child's file with a
`RotatingLog`. When the file would pass ``max_bytes`` it becomes ``<id>.log.1`` (the older
ones shift to ``.2`` ... ``.<backups>``, the oldest is dropped) and a new file starts. The
writer is the only one that renames, so nothing is lost between the rename and the next write.

An agent run by hand with ``--log-dir`` writes the same file itself, rotated the same way
(`socs_like.runner`); under `socs-like up` it does not, or each line would be there twice.

A line an operator of `socs-like up` should see on its console (where a page is, say) is
logged through `notice`: the supervisor copies lines of the ``socs_like.notice`` logger from a
child's output to its console as well as the file.

`socs-like logs ID [-f] [-n N]` prints the last lines of an instance's file and, with
``-f``, follows it across rotations.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import time
from pathlib import Path

MAX_BYTES = 10 * 1024 * 1024
BACKUPS = 3
# Set for the children of `socs-like up`: their output is captured into their log file, so the
# agent must not open that file a second time (socs_like.runner reads it).
CAPTURED_ENV = "SOCS_LIKE_LOG_CAPTURED"


NOTICE_LOGGER = "socs_like.notice"
_NOTICE_MARK = f" {NOTICE_LOGGER}: ".encode()


def notice(message: str, *args: object) -> None:
    """Log a line for the operator's console (as `logging.info` takes it)."""
    logging.getLogger(NOTICE_LOGGER).info(message, *args)


def notices(line: bytes) -> str | None:
    """The message of a log line written through `notice`, else None."""
    _, mark, message = line.partition(_NOTICE_MARK)
    return message.decode(errors="replace").rstrip() if mark else None


def log_path(log_dir: Path, instance_id: str) -> Path:
    return log_dir / f"{instance_id}.log"


class RotatingLog:
    """Append bytes to a file, rotating it by size; `last_line` is the last line written."""

    def __init__(self, path: Path, max_bytes: int = MAX_BYTES, backups: int = BACKUPS) -> None:
        if max_bytes <= 0 or backups < 1:
            raise ValueError(f"need max_bytes > 0 and backups >= 1, not {max_bytes}, {backups}")
        self.path = path
        self.max_bytes = max_bytes
        self.backups = backups
        path.parent.mkdir(parents=True, exist_ok=True)
        self._file = open(path, "ab")  # noqa: SIM115 (held open for the child's life)
        self._size = self._file.tell()
        self._tail = b""  # the end of what was written, for last_line

    def write(self, data: bytes) -> None:
        if self._size and self._size + len(data) > self.max_bytes:
            self._rotate()
        self._file.write(data)
        self._file.flush()
        self._size += len(data)
        self._tail = (self._tail + data)[-4096:]

    def mark(self) -> None:
        """Forget the tail: `last_line` then reports only what is written after this."""
        self._tail = b""

    def last_line(self, limit: int = 200) -> str:
        """The last non-blank line written since `mark`, cut to `limit` characters."""
        lines = self._tail.decode(errors="replace").splitlines()
        text = next((line.strip() for line in reversed(lines) if line.strip()), "")
        return text if len(text) <= limit else text[: limit - 1] + "…"

    def _rotate(self) -> None:
        self._file.close()
        for n in range(self.backups - 1, 0, -1):
            older = self.path.with_name(f"{self.path.name}.{n}")
            if older.exists():
                older.replace(self.path.with_name(f"{self.path.name}.{n + 1}"))
        self.path.replace(self.path.with_name(f"{self.path.name}.1"))
        self._file = open(self.path, "ab")  # noqa: SIM115
        self._size = 0

    def close(self) -> None:
        self._file.close()


# --- socs-like logs ---------------------------------------------------------------------------


def _tail_lines(path: Path, count: int) -> list[bytes]:
    with open(path, "rb") as f:
        size = f.seek(0, 2)
        f.seek(max(0, size - max(count, 1) * 512 - 64 * 1024))
        lines = f.read().splitlines(keepends=True)
    return lines[-count:] if count else []


def follow(path: Path, start: int, poll: float = 0.2) -> None:
    """Print what is appended to `path` after byte `start`, across rotations, until Ctrl-C."""
    f = open(path, "rb")  # noqa: SIM115
    f.seek(start)
    inode = os.fstat(f.fileno()).st_ino
    while True:
        data = f.read()
        if data:
            sys.stdout.buffer.write(data)
            sys.stdout.buffer.flush()
            continue
        try:
            rotated = os.stat(path).st_ino != inode
        except FileNotFoundError:
            rotated = False
        if rotated:  # what the old file got before the rename was read above
            f.close()
            f = open(path, "rb")  # noqa: SIM115
            inode = os.fstat(f.fileno()).st_ino
            continue
        time.sleep(poll)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="socs-like logs",
        description="Show an agent's or simulator's log file <log-dir>/<instance-id>.log.",
    )
    parser.add_argument("instance_id", help="an agent instance id, or sim-NAME for a simulator")
    parser.add_argument("-f", "--follow", action="store_true", help="keep printing new lines")
    parser.add_argument("-n", "--lines", type=int, default=50, help="lines to show first (50)")
    parser.add_argument("--site-config", "--site-file", dest="site_config", metavar="PATH")
    parser.add_argument("--site-host", help="host block (default: $SITE_HOST, else hostname)")
    parser.add_argument("--log-dir", help="the folder of the log files (default: the host's)")
    args = parser.parse_args(argv)
    from .site_config import (
        SiteConfigError,
        find_site_config,
        host_log_dir,
        read_site_config_or_warn,
    )

    log_dir = Path(args.log_dir or "var/log")
    site_file = find_site_config(args.site_config)
    if args.log_dir is None and site_file is not None:
        try:
            _, host = read_site_config_or_warn(site_file, "logs").host(args.site_host)
        except SiteConfigError as exc:
            print(f"socs-like logs: {exc}", file=sys.stderr)
            return 2
        log_dir = host_log_dir(site_file, host)
    path = log_path(log_dir, args.instance_id)
    if not path.exists():
        known = sorted(p.stem for p in log_dir.glob("*.log"))
        print(
            f"socs-like logs: no log file {path}; the log files there are {known}",
            file=sys.stderr,
        )
        return 2
    size = path.stat().st_size
    sys.stdout.buffer.write(b"".join(_tail_lines(path, args.lines)))
    sys.stdout.buffer.flush()
    if args.follow:
        try:
            follow(path, size)
        except KeyboardInterrupt:
            return 0
    return 0
