"""socs_like.checksum: the md5 of a file matches hashlib's, whatever the read size, with the
size and mtime of what was hashed; the async form keeps the loop free."""

from __future__ import annotations

import asyncio
import hashlib
import os
from pathlib import Path

import pytest

from socs_like.checksum import FileDigest, md5_file, md5_file_async

SIZES = [0, 1, 7, 4096, 1_000_003]
READS = [1, 7, 65536, 4 * 1024 * 1024]


@pytest.mark.parametrize(
    ("size", "read_size"), [(s, r) for s in SIZES for r in READS if s < 10_000 or r > 100]
)
def test_md5_matches_hashlib_for_any_read_size(tmp_path: Path, size: int, read_size: int) -> None:
    data = os.urandom(size)
    path = tmp_path / "f"
    path.write_bytes(data)
    os.utime(path, (1_700_000_000, 1_700_000_000.5))
    got = md5_file(path, read_size)
    assert got == FileDigest(hashlib.md5(data).hexdigest(), size, 1_700_000_000.5)
    assert got.md5 == got[0]  # still unpacks as (md5, size, mtime)


def test_md5_of_a_missing_file_is_an_os_error(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        md5_file(tmp_path / "missing")
    with pytest.raises(ValueError, match="read_size must be > 0"):
        md5_file(tmp_path / "missing", 0)


def test_async_md5_runs_off_the_loop(tmp_path: Path) -> None:
    path = tmp_path / "big"
    path.write_bytes(os.urandom(32 * 1024 * 1024))

    async def main() -> tuple[FileDigest, int]:
        ticks = 0

        async def ticker() -> None:
            nonlocal ticks
            while True:
                ticks += 1
                await asyncio.sleep(0)

        task = asyncio.create_task(ticker())
        digest = await md5_file_async(path, read_size=64 * 1024)
        task.cancel()
        return digest, ticks

    digest, ticks = asyncio.run(main())
    assert digest.md5 == hashlib.md5(path.read_bytes()).hexdigest()
    assert ticks > 10  # the loop went on turning while the file was hashed
