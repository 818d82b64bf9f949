"""Host faults: a small file system filled to ENOSPC and freed, mounts cleaned up, netem."""

import errno

import pytest

from socs_like.testing.faults import (
    FaultError,
    SmallFilesystem,
    mounts_under,
    netem_unavailable,
    unmount_under,
)


def test_a_full_file_system_refuses_writes_until_freed(tmp_path) -> None:
    fs = SmallFilesystem(tmp_path / "archive", 2 << 20)
    fs.mount()
    try:
        assert mounts_under(tmp_path) == [tmp_path / "archive"]
        kept = tmp_path / "archive" / "kept"
        kept.write_bytes(b"x" * 10_000)
        assert fs.fill() > 1 << 20
        assert fs.free_bytes() == 0
        with pytest.raises(OSError) as refused:
            (tmp_path / "archive" / "new").write_bytes(b"y" * 10_000)
        assert refused.value.errno == errno.ENOSPC
        fs.free()
        (tmp_path / "archive" / "new").write_bytes(b"y" * 10_000)
        assert kept.read_bytes() == b"x" * 10_000
    finally:
        assert unmount_under(tmp_path) == [tmp_path / "archive"]
    assert mounts_under(tmp_path) == []
    assert not (tmp_path / "archive" / "kept").exists()  # it lived on the tmpfs


def test_what_was_written_can_outlive_the_file_system(tmp_path) -> None:
    fs = SmallFilesystem(tmp_path / "archive", 2 << 20)
    fs.mount()
    try:
        (tmp_path / "archive" / "sub").mkdir()
        (tmp_path / "archive" / "sub" / "kept").write_bytes(b"x" * 10_000)
        fs.fill()
        fs.unmount(keep=True)
    finally:
        unmount_under(tmp_path)
    assert mounts_under(tmp_path) == []
    assert (tmp_path / "archive" / "sub" / "kept").read_bytes() == b"x" * 10_000
    assert sorted(p.name for p in tmp_path.iterdir()) == ["archive"]
    assert sorted(p.name for p in (tmp_path / "archive").iterdir()) == ["sub"]


def test_a_file_system_is_never_mounted_over_files(tmp_path) -> None:
    (tmp_path / "archive").mkdir()
    (tmp_path / "archive" / "old").write_text("hidden by a mount")
    with pytest.raises(FaultError, match="not empty"):
        SmallFilesystem(tmp_path / "archive", 1 << 20).mount()
    assert mounts_under(tmp_path) == []


def test_netem_says_why_not_or_nothing() -> None:
    reason = netem_unavailable()
    assert reason is None or reason.strip()
