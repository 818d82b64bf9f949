"""The FileRecorder's spool records: blocks as bytes and back, and what of them to write again
after a restart.

A record's body is the blocks in `marshal`'s format (lists, dicts, floats, text: 15 times
faster than JSON, which at 1000 samples an event cost the event loop ms per event); it is
read back by the same Python (a record that cannot be is skipped and counted).

A record is one event's blocks. Those the previous process had written but not yet committed
when it was killed (between a round's flush and its commit) are in its newest files already;
HDF5 rows, unlike InfluxDB points, would then be there twice, so `unwritten` keeps only the
samples the files do not hold: `held_in_files` reads, in each file changed since the oldest record
was received, as many of the last timestamps of each block as the records hold.
"""

from __future__ import annotations

import logging
import marshal
from collections import Counter
from collections.abc import Mapping, Sequence
from pathlib import Path

from socs_like_agents.recording.intake import Block
from socs_like_agents.recording.spool import pack, unpack

from .h5file import tail_times
from .layout import BlockKey, key_of

log = logging.getLogger(__name__)

# what `decode` raises for a record that is not one of ours
UNREADABLE: tuple[type[Exception], ...] = (ValueError, EOFError, TypeError, KeyError)


def encode(blocks: Sequence[Block], last: int | None) -> bytes:
    rows = [
        [b.agent_address, b.instance_id, b.feed_name, b.block_name, b.timestamps, b.data]
        for b in blocks
    ]
    meta = {"received": blocks[0].received, "feed": blocks[0].feed, "last": last}
    return pack(meta, marshal.dumps(rows))


def decode(payload: bytes) -> tuple[list[Block], str, int | None]:
    """An event's blocks, its feed's address and the last record number seen of it."""
    meta, body = unpack(payload)
    received = float(meta["received"])
    blocks = [
        Block(address, instance, feed, name, times, data, received)
        for address, instance, feed, name, times, data in marshal.loads(body)
    ]
    return blocks, str(meta["feed"]), meta["last"]


def unwritten(blocks: Sequence[Block], held: Mapping[BlockKey, set[float]]) -> list[Block]:
    """`blocks` without the samples whose times `held` names for their block."""
    out = []
    for block in blocks:
        have = held.get(key_of(block), set())
        keep = [i for i, t in enumerate(block.timestamps) if t not in have]
        if len(keep) == len(block.timestamps):
            out.append(block)
        elif keep:
            data = {k: [c[i] for i in keep] for k, c in block.data.items()}
            times = [block.timestamps[i] for i in keep]
            out.append(
                Block(
                    block.agent_address,
                    block.instance_id,
                    block.feed_name,
                    block.block_name,
                    times,
                    data,
                    block.received,
                )
            )
    return out


def held_in_files(data_dir: Path, blocks: Sequence[Block]) -> dict[BlockKey, set[float]]:
    """The times of `blocks` (records handed back by the spool) that the files changed since
    the oldest of them was received hold (blocking)."""
    if not blocks:
        return {}
    wanted: Counter[BlockKey] = Counter()
    for block in blocks:
        wanted[key_of(block)] += len(block)
    since = min(b.received for b in blocks) - 1.0
    held: dict[BlockKey, set[float]] = {}
    for path in data_dir.glob("*/*.h5"):
        try:
            if path.stat().st_mtime < since:
                continue
            found = tail_times(path, wanted)
        except (OSError, KeyError) as exc:  # a file left damaged by the kill: unreadable
            log.warning("cannot read %s to skip what it holds: %s", path, exc)
            continue
        for key, times in found.items():
            held.setdefault(key, set()).update(times)
    return held
