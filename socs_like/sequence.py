"""Per-sender sequence-number bookkeeping: lost, duplicated, late and restarted, without I/O.

Why: a sender (a pysmurf publisher, a DiFX job, a feed) numbers its messages +1 each; over UDP
or a reconnecting link numbers go missing, repeat, or arrive out of order, and a restarted
sender starts again from 0. Counting these per sender makes every loss visible, and telling a
late message from a restart keeps one reordered datagram from looking like a new sender.

For each sender (any hashable key) the tracker keeps the highest number seen and a bounded set
of numbers still missing below it:

- ``n == last + 1``: ``in_order``.
- ``n > last + 1``: a ``gap``; the numbers in between count as ``lost`` (for now).
- ``n`` is a number we were missing: it arrived ``late``; ``lost`` goes down by one.
- ``n <= last`` otherwise, within :attr:`SequenceTracker.window` of ``last``: a ``duplicate``.
- ``n`` far below ``last`` (or 0): the sender ``restarted``; counting starts again.

A 0 that is the very first message sent again (a hub or a sender resending after a
reconnect) would look like a restart too. When the caller can tell them apart it passes a
``token`` with each 0, something the sender's first message carries that a restarted sender's
does not share (its start stamp, or a digest of the message's contents): a 0 with the same
token as the last 0 seen is a ``duplicate``, one with another token (or none) a restart.

Missing numbers older than ``window`` are forgotten (they stay counted as lost), and at most
``max_senders`` senders are tracked (messages of others count as ``untracked``), so memory is
bounded whatever the network sends.
"""

from __future__ import annotations

from collections.abc import Hashable
from dataclasses import asdict, dataclass, field
from typing import Generic, Literal, TypeVar

K = TypeVar("K", bound=Hashable)

Verdict = Literal["first", "in_order", "gap", "late", "duplicate", "restart", "untracked"]


@dataclass
class SenderCounts:
    """Counters of one sender (message counts; ``last_seq`` is the highest number seen)."""

    received: int = 0
    lost: int = 0
    duplicates: int = 0
    late: int = 0
    restarts: int = 0
    last_seq: int | None = None


@dataclass
class _State:
    counts: SenderCounts = field(default_factory=SenderCounts)
    missing: set[int] = field(default_factory=set)
    first_token: Hashable | None = None  # the token of the last 0 seen (None: none given)


class SequenceTracker(Generic[K]):
    """Feed it ``(sender, seq_no)`` with :meth:`observe`; read :meth:`snapshot` / :meth:`totals`."""

    def __init__(self, window: int = 1024, max_senders: int = 1000) -> None:
        if window < 1 or max_senders < 1:
            raise ValueError("window and max_senders must be >= 1")
        self.window = window
        self.max_senders = max_senders
        self.untracked = 0  # messages without seq_no, or from senders past the limit
        self._senders: dict[K, _State] = {}

    def observe(self, sender: K, seq_no: int | None, token: Hashable | None = None) -> Verdict:
        """Record one message and return its verdict (see the module doc; ``token`` is only
        read with ``seq_no`` 0)."""
        if seq_no is None:
            self.untracked += 1
            return "untracked"
        state = self._senders.get(sender)
        if state is None:
            if len(self._senders) >= self.max_senders:
                self.untracked += 1
                return "untracked"
            state = self._senders[sender] = _State()
        counts = state.counts
        counts.received += 1
        last = counts.last_seq
        if last is None:
            counts.last_seq = seq_no
            if seq_no == 0:
                state.first_token = token
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
        if seq_no == 0 and token is not None and token == state.first_token:
            counts.duplicates += 1
            return "duplicate"
        if seq_no == 0 or seq_no < last - self.window:
            counts.restarts += 1
            counts.last_seq = seq_no
            state.missing.clear()
            state.first_token = token if seq_no == 0 else None
            return "restart"
        counts.duplicates += 1
        return "duplicate"

    def resume(self, sender: K, last_seq: int) -> None:
        """Go on from `last_seq`, the last number of `sender` an earlier run of the caller saw
        (kept on disk across a restart): the next message is judged against it. Nothing is
        counted."""
        if sender not in self._senders and len(self._senders) >= self.max_senders:
            return
        self._senders.setdefault(sender, _State()).counts.last_seq = last_seq

    def _forget_old(self, state: _State) -> None:
        last = state.counts.last_seq
        if last is not None and len(state.missing) > self.window:
            state.missing = {n for n in state.missing if n > last - self.window}

    def counts(self, sender: K) -> SenderCounts | None:
        """The counters of one sender, or None if it was never seen."""
        state = self._senders.get(sender)
        return None if state is None else state.counts

    def missing(self, sender: K) -> list[int]:
        """The numbers of ``sender`` still missing (within the window), ascending."""
        state = self._senders.get(sender)
        return [] if state is None else sorted(state.missing)

    def forget(self, sender: K) -> None:
        """Stop tracking ``sender`` (a finished job), freeing its place."""
        self._senders.pop(sender, None)

    def snapshot(self) -> dict[K, dict[str, int | None]]:
        """Every sender's counters, for session data."""
        return {key: asdict(state.counts) for key, state in self._senders.items()}

    def totals(self) -> dict[str, int]:
        """The counters summed over all senders, plus ``untracked``."""
        out = {"received": 0, "lost": 0, "duplicates": 0, "late": 0, "restarts": 0}
        for state in self._senders.values():
            for key in out:
                out[key] += getattr(state.counts, key)
        out["untracked"] = self.untracked
        return out
