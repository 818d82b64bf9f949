"""Recovering lost announcements: which folders to rescan, for whom, and when.

UDP announcements can be lost (the kernel drops datagrams when the socket's receive buffer
is full; the agent refuses some when its queue is full). Each loss we can see asks for a
*targeted rescan* of the folders of the publisher concerned, even when periodic rescans are
off:

- a ``seq_no`` gap of one publisher (:class:`socs_like.sequence.SequenceTracker`),
- an announcement of that publisher refused as ``queue_full``,
- datagrams dropped by the kernel (whose sender is unknown): every publisher seen so far.

A publisher's folders are the configured ``--g3-dir``/``--smurf-dir`` plus the roots learned
from its own announcements: a g3 file ``<root>/<5 digits>/<stream>/<file>`` teaches
``<root>``, a pysmurf file ``<root>/<YYYYMMDD>/<id>/<action_ts>/<plots|outputs>/<file>``
teaches ``<root>`` (at most :attr:`LossRecovery.max_dirs` each). The action name of each
``(publisher, action_ts)`` seen is remembered too (it is not on disk), so a rescanned file
lands in the same remote folder its announcement would have named.

The rescan runs ``delay`` seconds after the first loss seen (losses come in bursts; one scan
covers them) and takes only files modified before the last loss was seen: a file written
later may still be open, and its announcement may still come.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import re
from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass

from socs_like_agents.pysmurf_monitor.datagrams import DataFile, G3File

log = logging.getLogger("socs_like_agents.pysmurf_monitor")

_DAY = re.compile(r"^\d{8}$")


@dataclass(frozen=True, kw_only=True)
class TargetedRescan:
    publisher: str
    g3_dirs: tuple[str, ...]
    smurf_dirs: tuple[str, ...]
    modified_before: float  # UNIX time


@dataclass
class _Pending:
    first: float
    last: float


def _learned_root(announcement: DataFile | G3File) -> tuple[str, str] | None:
    """("g3" | "smurf", root folder) the announced path reveals, if it has the usual layout."""
    parts = announcement.path.split("/")
    if isinstance(announcement, G3File):
        return ("g3", "/".join(parts[:-3])) if len(parts) >= 5 else None
    if (
        len(parts) >= 7
        and _DAY.match(parts[-5])
        and parts[-4] == announcement.envelope.id
        and parts[-2] in ("plots", "outputs")
    ):
        return "smurf", "/".join(parts[:-5])
    return None


class LossRecovery:
    def __init__(
        self,
        *,
        g3_dirs: tuple[str, ...] = (),
        smurf_dirs: tuple[str, ...] = (),
        delay: float = 2.0,
        max_publishers: int = 1000,
        max_dirs: int = 16,
        max_actions: int = 10_000,
    ) -> None:
        self.g3_dirs = g3_dirs
        self.smurf_dirs = smurf_dirs
        self.delay = delay
        self.max_publishers = max_publishers
        self.max_dirs = max_dirs
        self.max_actions = max_actions
        self._dirs: dict[str, dict[str, set[str]]] = {}
        self._actions: OrderedDict[tuple[str, str], str] = OrderedDict()
        self._pending: dict[str, _Pending] = {}
        self.requested = 0  # losses that asked for a rescan
        self.unrecoverable = 0  # losses of a publisher with no folder to rescan
        self.rescans = 0  # targeted rescans run
        self.found = 0  # files they queued

    @property
    def publishers(self) -> list[str]:
        return sorted(self._dirs)

    @property
    def pending(self) -> list[str]:
        return sorted(self._pending)

    def learn(self, announcement: DataFile | G3File) -> None:
        """Remember where this publisher writes, and the name of its action."""
        publisher = announcement.envelope.id
        dirs = self._dirs.get(publisher)
        if dirs is None:
            if len(self._dirs) >= self.max_publishers:
                return
            dirs = self._dirs[publisher] = {"g3": set(), "smurf": set()}
        learned = _learned_root(announcement)
        if learned is not None:
            kind, root = learned
            if root and len(dirs[kind]) < self.max_dirs:
                dirs[kind].add(root)
        if isinstance(announcement, DataFile) and announcement.action and announcement.action_ts:
            key = (publisher, announcement.action_ts)
            self._actions[key] = announcement.action
            self._actions.move_to_end(key)
            if len(self._actions) > self.max_actions:
                self._actions.popitem(last=False)

    def named(self, found: DataFile | G3File) -> DataFile | G3File:
        """A rescanned file with its action name, when an announcement taught it."""
        if isinstance(found, DataFile) and found.action is None and found.action_ts:
            action = self._actions.get((found.envelope.id, found.action_ts))
            if action is not None:
                return dataclasses.replace(found, action=action)
        return found

    def lost(self, publisher: str, now: float) -> bool:
        """Announcements of ``publisher`` were lost at ``now``: ask for a rescan. False when
        no folder of it is known (the loss is counted as unrecoverable)."""
        self.requested += 1
        if not self._folders(publisher)[0] and not self._folders(publisher)[1]:
            self.unrecoverable += 1
            return False
        pending = self._pending.get(publisher)
        if pending is None:
            self._pending[publisher] = _Pending(first=now, last=now)
        else:
            pending.last = max(pending.last, now)
        return True

    def lost_from_anyone(self, now: float) -> list[str]:
        """Datagrams of unknown senders were lost: rescan for every publisher seen."""
        return [p for p in self.publishers if self.lost(p, now)]

    def kernel_dropped(self, new: int, total: int | None, receive_buffer: int, now: float) -> None:
        """The kernel dropped ``new`` more datagrams (``total`` so far), its receive buffer
        (``receive_buffer`` bytes) full: rescan for every publisher seen, and say so. Nothing
        happens when ``new`` is 0."""
        if new <= 0:
            return
        rescanning = self.lost_from_anyone(now)
        log.warning(
            "the kernel dropped %d datagrams (%d so far): the receive buffer (%s bytes) was "
            "full; rescanning the folders of %s",
            new,
            total,
            receive_buffer,
            ", ".join(rescanning) or "no publisher (none known yet)",
        )

    def rescanned(self, target: TargetedRescan, queued: int) -> None:
        """A targeted rescan ran and queued ``queued`` files."""
        self.rescans += 1
        self.found += queued
        log.info(
            "rescan after a loss from %s: %d files found in %s (already registered ones are "
            "skipped when written)",
            target.publisher,
            queued,
            ", ".join((*target.g3_dirs, *target.smurf_dirs)),
        )

    def due(self, now: float) -> list[TargetedRescan]:
        """The rescans to run now (they leave the pending list)."""
        out = []
        for publisher, pending in list(self._pending.items()):
            if now - pending.first >= self.delay:
                del self._pending[publisher]
                g3, smurf = self._folders(publisher)
                out.append(
                    TargetedRescan(
                        publisher=publisher,
                        g3_dirs=g3,
                        smurf_dirs=smurf,
                        modified_before=pending.last,
                    )
                )
        return out

    def _folders(self, publisher: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
        dirs = self._dirs.get(publisher, {"g3": set(), "smurf": set()})
        g3 = tuple(sorted({*self.g3_dirs, *dirs["g3"]}))
        smurf = tuple(sorted({*self.smurf_dirs, *dirs["smurf"]}))
        return g3, smurf


def normalised(dirs: Iterable[str]) -> tuple[str, ...]:
    return tuple(os.path.abspath(d) for d in dirs)
