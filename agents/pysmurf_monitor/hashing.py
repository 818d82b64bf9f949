"""The checksum pool: md5 of registered files in worker threads, off the event loop.

Rows wait in a queue; ``workers`` asyncio tasks each take up to ``chunk`` rows at a time and
hash them in a thread pool (``hashlib`` releases the GIL on large buffers, so threads hash
files in parallel). Results wait in :meth:`HashPool.take` until the agent writes them; if the
write fails the agent hands them back with :meth:`HashPool.put_back`, so nothing is lost.
A file that cannot be read gets a :class:`Checksum` with its error instead of an md5.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor

from socs_like.checksum import DEFAULT_READ_SIZE, md5_file
from socs_like_agents.filedb.queries import Checksum, Registered

CHUNK = 32


def checksum_rows(rows: Sequence[Registered], read_size: int = DEFAULT_READ_SIZE) -> list[Checksum]:
    """Checksums for a batch of registered rows; a file that cannot be read gets its error.
    Blocking: runs in the pool's threads."""
    out = []
    for row in rows:
        try:
            digest = md5_file(row.local_path, read_size)
        except OSError as exc:
            out.append(
                Checksum(id=row.id, md5=None, error=f"{exc.strerror or exc}: {row.local_path}")
            )
        else:
            out.append(Checksum(id=row.id, md5=digest.md5, size=digest.size, mtime=digest.mtime))
    return out


class HashPool:
    """Queue rows with :meth:`submit`, collect results with :meth:`take`.

    ``on_ready`` is called on the event loop whenever new results are ready (the agent wakes
    its writer). Call :meth:`start` on a running loop and :meth:`close` when done."""

    def __init__(
        self,
        workers: int = 2,
        read_size: int = DEFAULT_READ_SIZE,
        *,
        chunk: int = CHUNK,
        on_ready: Callable[[], object] = lambda: None,
    ) -> None:
        if workers < 1 or chunk < 1:
            raise ValueError("workers and chunk must be >= 1")
        self.workers = workers
        self.read_size = read_size
        self.chunk = chunk
        self.on_ready = on_ready
        self.failures = 0  # rows whose worker raised (they stay pending in the database)
        self._queue: deque[Registered] = deque()
        self._results: list[Checksum] = []
        self._in_flight = 0
        self._wake: asyncio.Event | None = None
        self._pool: ThreadPoolExecutor | None = None
        self._tasks: list[asyncio.Task[None]] = []

    @property
    def queued(self) -> int:
        """Rows not yet handed to a thread."""
        return len(self._queue)

    @property
    def waiting(self) -> int:
        """Rows queued, being hashed, or hashed but not yet taken."""
        return len(self._queue) + self._in_flight + len(self._results)

    def submit(self, rows: Iterable[Registered]) -> None:
        before = len(self._queue)
        self._queue.extend(rows)
        if len(self._queue) > before and self._wake is not None:
            self._wake.set()

    def take(self) -> list[Checksum]:
        results, self._results = self._results, []
        return results

    def put_back(self, results: list[Checksum]) -> None:
        self._results[:0] = results

    def start(self) -> None:
        self._wake = asyncio.Event()
        if self._queue:
            self._wake.set()
        self._pool = ThreadPoolExecutor(self.workers, thread_name_prefix="md5")
        self._tasks = [asyncio.ensure_future(self._worker()) for _ in range(self.workers)]

    async def close(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks = []
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = None

    async def _worker(self) -> None:
        assert self._wake is not None and self._pool is not None  # set by start()
        loop = asyncio.get_running_loop()
        while True:
            if not self._queue:
                self._wake.clear()
                await self._wake.wait()
                continue
            n = min(self.chunk, len(self._queue))
            rows = [self._queue.popleft() for _ in range(n)]
            self._in_flight += n
            try:
                results = await loop.run_in_executor(
                    self._pool, checksum_rows, rows, self.read_size
                )
            except Exception:
                # a bug, not an unreadable file: the rows stay pending in the database and
                # are hashed again at the next start
                self.failures += n
                continue
            finally:
                self._in_flight -= n
            self._results.extend(results)
            self.on_ready()
