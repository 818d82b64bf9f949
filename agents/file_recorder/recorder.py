"""Which file each block goes to: rotation on a period, a new file when the layout grows.

Files are ``<data-dir>/<first 5 digits of the ctime>/<ctime>.h5`` (as OCS's aggregator names
its .g3 files; ``<ctime>_<n>.h5`` when one of that second exists), ``ctime`` being the second
the file was opened. A file is closed at the end of its period (periods are aligned on
multiples of ``period`` in UNIX time, so hourly files start on the hour) and when a block
does not fit its layout (see `layout`); the next write opens the next file. Files are never
reopened: a restarted recorder starts a new one.

`write` takes everything due in one call, grows the layout for all of it first (so a site
whose agents all appear at once makes one new file, not one per agent), appends, flushes.

Blocking: the agent calls `write` and `close` in its worker pool. A lock makes them take
turns, since h5py is not thread-safe and an op cancelled at shutdown closes the file from
another thread while its last write may still run.
"""

from __future__ import annotations

import math
import threading
from pathlib import Path

from socs_like_agents.recording.intake import Block

from .h5file import H5File
from .layout import Layout


class Recorder:
    def __init__(self, data_dir: Path, period: float) -> None:
        if period <= 0:
            raise ValueError("the file period must be > 0 s")
        self.data_dir = data_dir
        self.period = period
        self.layout = Layout()
        self.file: H5File | None = None
        self.file_end = 0.0
        self.files_opened = 0
        self.written = 0  # samples
        self._lock = threading.Lock()

    def write(self, blocks: list[Block], now: float) -> None:
        with self._lock:
            self._write(blocks, now)

    def _write(self, blocks: list[Block], now: float) -> None:
        layout = self.layout
        for block in blocks:
            if not layout.fits(block):
                layout = layout.grown(block)
        if self.file is not None and now >= self.file_end:
            self._close()
        if blocks and (self.file is None or layout is not self.layout):
            self._close()
            self.layout = layout
            self._open(now)
        if self.file is None:
            return
        for block in blocks:
            self.file.append(block)
            self.written += len(block)
        self.file.flush()

    def close(self) -> None:
        with self._lock:
            self._close()

    def _close(self) -> None:
        if self.file is not None:
            self.file.close()
            self.file = None

    def _open(self, now: float) -> None:
        ctime = int(now)
        folder = self.data_dir / str(ctime)[:5]
        path = folder / f"{ctime}.h5"
        n = 0
        while path.exists():
            n += 1
            path = folder / f"{ctime}_{n}.h5"
        self.file = H5File(path, self.layout, now)
        self.file_end = (math.floor(now / self.period) + 1) * self.period
        self.files_opened += 1
