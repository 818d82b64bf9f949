"""Per-publisher ``seq_no`` bookkeeping: lost, duplicated, late and restarted, without I/O.

Each publisher numbers its datagrams +1 per message. For each publisher id the tracker keeps
the highest number seen and a bounded set of numbers still missing below it:

- ``n == last + 1``: in order.
- ``n > last + 1``: a gap; the numbers in between count as ``lost`` (for now).
- ``n`` is a number we were missing: it arrived ``late``; ``lost`` goes down by one.
- ``n <= last`` otherwise, within :attr:`window` of ``last``: a ``duplicate``.
- ``n`` far below ``last`` (or 0): the publisher ``restarted``; counting starts again.

Missing numbers older than ``window`` are forgotten (they stay counted as lost).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field


@dataclass
class PublisherCounts:
    received: int = 0
    lost: int = 0
    duplicates: int = 0
    late: int = 0
    restarts: int = 0
    last_seq: int | None = None


@dataclass
class _State:
    counts: PublisherCounts = field(default_factory=PublisherCounts)
    missing: set[int] = field(default_factory=set)


class SequenceTracker:
    """Feed it ``(publisher id, seq_no)``; read :meth:`snapshot` for the counters."""

    def __init__(self, window: int = 1024, max_publishers: int = 1000) -> None:
        self.window = window
        self.max_publishers = max_publishers
        self.untracked = 0  # messages without seq_no, or from publishers past the limit
        self._publishers: dict[str, _State] = {}

    def observe(self, publisher: str, seq_no: int | None) -> str:
        """Record one message; returns its verdict: ``in_order``, ``gap``, ``late``,
        ``duplicate``, ``restart``, ``first`` or ``untracked``."""
        if seq_no is None:
            self.untracked += 1
            return "untracked"
        state = self._publishers.get(publisher)
        if state is None:
            if len(self._publishers) >= self.max_publishers:
                self.untracked += 1
                return "untracked"
            state = self._publishers[publisher] = _State()
        counts = state.counts
        counts.received += 1
        last = counts.last_seq
        if last is None:
            counts.last_seq = seq_no
            return "first"
        if seq_no == last + 1:
            counts.last_seq = seq_no
            return "in_order"
        if seq_no > last + 1:
            counts.lost += seq_no - last - 1
            state.missing.update(range(max(last + 1, seq_no - self.window), seq_no))
            counts.last_seq = seq_no
            self._forget_old(state)
            return "gap"
        if seq_no in state.missing:
            state.missing.discard(seq_no)
            counts.lost -= 1
            counts.late += 1
            return "late"
        if seq_no == 0 or seq_no < last - self.window:
            counts.restarts += 1
            counts.last_seq = seq_no
            state.missing.clear()
            return "restart"
        counts.duplicates += 1
        return "duplicate"

    def _forget_old(self, state: _State) -> None:
        last = state.counts.last_seq
        if last is not None and len(state.missing) > self.window:
            state.missing = {n for n in state.missing if n > last - self.window}

    def snapshot(self) -> dict[str, dict[str, int | None]]:
        return {pub: asdict(state.counts) for pub, state in self._publishers.items()}

    def totals(self) -> dict[str, int]:
        out = {"received": 0, "lost": 0, "duplicates": 0, "late": 0, "restarts": 0}
        for state in self._publishers.values():
            for key in out:
                out[key] += getattr(state.counts, key)
        out["untracked"] = self.untracked
        return out
