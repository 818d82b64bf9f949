"""Faults of the host itself, for soak runs and tests: a full file system, a lossy loopback.

- `SmallFilesystem`: a tmpfs of a given size mounted (as root) on an empty folder, which
  `fill` brings to ENOSPC with one filler file and `free` empties again; what others wrote
  there stays (and stays after the unmount, if asked). `unmount_under` takes away every
  mount below a folder, for a clean-up that must run even after a crash.
- `netem_unavailable`: why loss and delay on the loopback cannot be played here (tc's netem
  queueing discipline missing from the kernel, no root, no tc), or None when they can. It
  asks in a network namespace of its own, so the host's loopback is never touched.

No pytest here; the callers decide what a missing capability means for them.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
from pathlib import Path

FILLER = ".fault-filler"


class FaultError(RuntimeError):
    """A fault could not be set up; the message says why."""


class SmallFilesystem:
    """A tmpfs of `size` bytes on `path` (made if missing; must be empty)."""

    def __init__(self, path: Path, size: int) -> None:
        self.path = Path(path)
        self.size = size
        self.mounted = False

    @property
    def filler(self) -> Path:
        return self.path / FILLER

    def mount(self) -> None:
        self.path.mkdir(parents=True, exist_ok=True)
        if any(self.path.iterdir()):
            # mounting over files would hide them from everyone until the unmount
            raise FaultError(f"{self.path} is not empty: a file system goes on empty folders")
        done = subprocess.run(
            ["mount", "-t", "tmpfs", "-o", f"size={self.size},mode=0755", "tmpfs", str(self.path)],
            capture_output=True,
            text=True,
        )
        if done.returncode != 0:
            raise FaultError(f"cannot mount a tmpfs on {self.path}: {done.stderr.strip()}")
        self.mounted = True

    def free_bytes(self) -> int:
        st = os.statvfs(self.path)
        return st.f_bavail * st.f_frsize

    def fill(self) -> int:
        """Take every free byte with the filler file (a writer now gets ENOSPC); the bytes
        taken."""
        fd = os.open(self.filler, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        try:
            for size in (1 << 20, 4096):  # big blocks, then the last pages
                block = b"\0" * size
                with contextlib.suppress(OSError):
                    while True:
                        os.write(fd, block)
        finally:
            os.close(fd)
        return self.filler.stat().st_size

    def free(self) -> None:
        """Remove the filler: the space is back."""
        self.filler.unlink(missing_ok=True)

    def unmount(self, keep: bool = False) -> None:
        """Unmount; with `keep`, what was written there stays, copied to the folder below."""
        if not self.mounted:
            return
        kept = self.path.with_name(f".{self.path.name}.kept")
        if keep:
            self.free()
            shutil.copytree(self.path, kept, symlinks=True)
        unmount(self.path)
        self.mounted = False
        if keep:
            for item in kept.iterdir():
                item.rename(self.path / item.name)
            kept.rmdir()


def unmount(path: Path) -> None:
    """Unmount `path` now, or lazily when something still holds it open."""
    done = subprocess.run(["umount", str(path)], capture_output=True)
    if done.returncode != 0:
        subprocess.run(["umount", "-l", str(path)], capture_output=True)


def mounts_under(root: Path) -> list[Path]:
    """Mount points at or below `root`, deepest first."""
    root = Path(os.path.realpath(root))
    found = []
    for line in Path("/proc/self/mounts").read_text().splitlines():
        # octal escapes (\040 for a space) as the kernel writes them
        point = Path(line.split()[1].encode().decode("unicode_escape"))
        if point == root or root in point.parents:
            found.append(point)
    return sorted(found, key=lambda p: len(p.parts), reverse=True)


def unmount_under(root: Path) -> list[Path]:
    """Unmount every mount at or below `root`; the mount points it found."""
    points = mounts_under(root)
    for point in points:
        unmount(point)
    return points


def netem_unavailable() -> str | None:
    """None when tc netem can delay and drop packets on a loopback here, else why not."""
    if os.geteuid() != 0:
        return "needs root"
    if shutil.which("tc") is None or shutil.which("unshare") is None:
        return "tc or unshare is not installed"
    done = subprocess.run(
        [
            "unshare",
            "--net",
            "sh",
            "-c",
            "ip link set lo up && tc qdisc add dev lo root netem delay 1ms loss 1%",
        ],
        capture_output=True,
        text=True,
    )
    if done.returncode == 0:
        return None
    reason = (done.stderr.strip().splitlines() or [f"exit {done.returncode}"])[-1]
    return f"not available on this kernel ({reason})"
