"""The recorders' spool: what was appended survives a kill -9 of the process, settled records
are deleted, a record cut short ends its segment, a failed write is counted."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from socs_like_agents.recording.backlog import Backlog, Batch
from socs_like_agents.recording.spool import Entry, Spool, pack, reopen, settle, unpack

KILLED = """
import os, signal, sys
from pathlib import Path
from socs_like_agents.recording.spool import Spool
spool = Spool(Path(sys.argv[1]), segment_bytes=100)
spool.open()
for i in range(50):
    spool.append(b"record %d" % i)
spool.commit(20, {"seen": {"f": 49}})
os.kill(os.getpid(), signal.SIGKILL)
"""


def test_what_a_process_killed_9_spooled_is_handed_back_from_its_commit_on(tmp_path):
    folder = tmp_path / "spool"
    run = subprocess.run([sys.executable, "-c", KILLED, str(folder)], env=os.environ)
    assert run.returncode == -signal.SIGKILL
    spool = Spool(folder, segment_bytes=100)
    resumed = spool.open()
    assert resumed.state == {"seen": {"f": 49}}
    assert resumed.records == [(i, b"record %d" % i) for i in range(20, 50)]
    # segments wholly below the commit are gone; the one holding record 20 stays
    firsts = sorted(int(p.stem) for p in folder.glob("*.seg"))
    assert firsts[0] <= 20 < firsts[1] and len(firsts) < 10
    assert spool.append(b"next") == 50  # numbers go on


def test_a_record_cut_short_ends_its_segment_and_later_records_are_kept(tmp_path):
    spool = Spool(tmp_path, segment_bytes=1 << 20)
    spool.open()
    for i in range(3):
        spool.append(b"x%d" % i)
    spool.close()
    (segment,) = tmp_path.glob("*.seg")
    segment.write_bytes(segment.read_bytes()[:-1])  # record 2 cut short (a crash mid-write)
    again = Spool(tmp_path, segment_bytes=1 << 20)
    assert again.open().records == [(0, b"x0"), (1, b"x1")]
    assert again.append(b"y") == 2  # in a new segment, after the damaged one
    assert Spool(tmp_path, segment_bytes=1 << 20).open().records == [
        (0, b"x0"),
        (1, b"x1"),
        (2, b"y"),
    ]


def test_a_failed_write_is_counted_and_the_next_record_is_spooled(tmp_path):
    spool = Spool(tmp_path, segment_bytes=1 << 20)
    spool.open()
    (tmp_path / f"{0:016d}.seg").symlink_to("/dev/full")  # the disk is full
    assert spool.append(b"lost") == 0
    assert spool.errors == 1 and "No space left" in str(spool.last_error)
    (tmp_path / f"{0:016d}.seg").unlink()
    spool.append(b"kept")
    assert Spool(tmp_path, segment_bytes=1 << 20).open().records == [(1, b"kept")]


def test_a_record_packs_its_meta_beside_its_body():
    meta, body = unpack(pack({"feed": "a.feeds.b", "last": 3}, b"line 1\nline 2\n"))
    assert meta == {"feed": "a.feeds.b", "last": 3} and body == b"line 1\nline 2\n"


def test_a_new_spool_starts_empty(tmp_path: Path):
    resumed = Spool(tmp_path / "new", segment_bytes=10).open()
    assert resumed.state == {} and resumed.records == []


def decode_text(payload: bytes) -> tuple[str, str, int | None]:
    """A record ``feed last text``; anything else raises ValueError."""
    feed, last, text = payload.decode().split(" ", 2)
    return text, feed, None if last == "-" else int(last)


def test_reopen_decodes_what_is_unsettled_and_counts_a_record_it_cannot_read(tmp_path):
    spool = Spool(tmp_path, segment_bytes=1 << 20)
    spool.open()
    for payload in [b"a.feeds.x 3 old", b"a.feeds.x 4 one", b"garbled", b"a.feeds.y - two"]:
        spool.append(payload)
    spool.commit(1, {"seen": {"a.feeds.x": 3, "a.feeds.z": 9}})
    again = Spool(tmp_path, segment_bytes=1 << 20)
    items, seen = reopen(again, decode_text, (ValueError,))
    assert items == [(1, "one"), (3, "two")]  # from the commit on, in order
    # the commit's numbers, then each record's (a record without one keeps the commit's)
    assert seen == {"a.feeds.x": 4, "a.feeds.z": 9}
    assert again.errors == 1 and "record 2 of the spool unreadable" in str(again.last_error)


@dataclass(frozen=True)
class Chunk:
    feed: str = "a.feeds.x"
    points: int = 1
    nbytes: int = 10
    received: float = 0.0


def test_settle_commits_below_the_oldest_entry_waiting_or_out(tmp_path):
    spool = Spool(tmp_path, segment_bytes=1 << 20)
    spool.open()
    backlog: Backlog[Entry[Chunk]] = Backlog(1 << 20)
    for _ in range(4):
        backlog.add(Entry(spool.append(b"r"), Chunk()))
    out = backlog.take(2)  # records 0 and 1 out being written
    settle(spool, backlog, [out], {"a.feeds.x": 1})
    assert spool.low == 0
    settle(spool, backlog, [], {"a.feeds.x": 1})  # written: record 2 waits
    assert spool.low == 2
    backlog.take(2)
    settle(spool, backlog, [Batch()], {"a.feeds.x": 3})  # all written: below the next
    assert spool.low == 4
    assert Spool(tmp_path, segment_bytes=1 << 20).open().state == {"seen": {"a.feeds.x": 3}}
