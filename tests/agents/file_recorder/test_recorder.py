"""The Recorder and its HDF5 files, in process: rotation, layout growth, text and null values,
odd names, and a reader in another process while the file is written."""

from __future__ import annotations

import math
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import h5py
import pytest

from socs_like.testing import wait_until
from socs_like_agents.file_recorder.h5file import read_file, read_files
from socs_like_agents.file_recorder.recorder import Recorder
from socs_like_agents.recording.intake import Block, Value


def blk(
    data: dict[str, list[Value]], times: list[float], block: str = "b", instance: str = "a1"
) -> Block:
    return Block(f"observatory.{instance}", instance, "feed", block, times, data, 0.0)


def files(folder: Path) -> list[Path]:
    return sorted(folder.glob("*/*.h5"))


def test_files_rotate_on_the_period_and_join_back(tmp_path):
    rec = Recorder(tmp_path, period=10)
    rec.write([blk({"x": [1.0, 2.0]}, [1.0, 2.0])], now=1_700_000_001.0)
    rec.write([blk({"x": [3.0]}, [3.0])], now=1_700_000_009.9)
    rec.write([blk({"x": [4.0]}, [4.0])], now=1_700_000_010.0)  # the next period
    rec.close()
    paths = files(tmp_path)
    assert [p.relative_to(tmp_path).as_posix() for p in paths] == [
        "17000/1700000001.h5",
        "17000/1700000010.h5",
    ]
    assert read_file(paths[0])[("a1", "feed", "b")] == {
        "timestamps": [1.0, 2.0, 3.0],
        "data": {"x": [1.0, 2.0, 3.0]},
    }
    joined = read_files(paths)[("a1", "feed", "b")]
    assert joined["timestamps"] == [1.0, 2.0, 3.0, 4.0]
    assert rec.files_opened == 2 and rec.written == 4


def test_a_block_that_does_not_fit_starts_a_new_file_grown_to_fit(tmp_path):
    rec = Recorder(tmp_path, period=3600)
    rec.write([blk({"x": [1.0]}, [1.0])], now=1_700_000_000.0)
    rec.write([blk({"x": [2.0]}, [2.0]), blk({"y": [5]}, [2.0], block="c")], now=1_700_000_000.5)
    rec.write([blk({"x": ["text now"]}, [3.0])], now=1_700_000_001.0)
    rec.write([blk({"x": ["a much longer text than sixteen bytes"]}, [4.0])], 1_700_000_001.0)
    rec.write([blk({"x": [None], "z": [True]}, [5.0])], now=1_700_000_002.0)
    rec.close()
    paths = files(tmp_path)
    assert [p.name for p in paths] == [
        "1700000000.h5",
        "1700000000_1.h5",
        "1700000001.h5",
        "1700000001_1.h5",
        "1700000002.h5",
    ]
    last = read_file(paths[-1])
    assert set(last) == {("a1", "feed", "b"), ("a1", "feed", "c")}  # every group known so far
    with h5py.File(paths[-1]) as h5:
        assert h5["a1/feed/b/data/x"].dtype == "S64"
    joined = read_files(paths)[("a1", "feed", "b")]
    assert joined["timestamps"] == [1.0, 2.0, 3.0, 4.0, 5.0]
    assert joined["data"]["x"] == [
        1.0,
        2.0,
        "text now",
        "a much longer text than sixteen bytes",
        "",
    ]
    assert joined["data"]["z"] == [None, None, None, None, 1.0]
    assert read_files(paths)[("a1", "feed", "c")]["data"]["y"] == [5.0]


def test_nulls_are_nan_and_odd_names_are_kept(tmp_path):
    rec = Recorder(tmp_path, period=3600)
    rec.write([blk({"a/b": [None, 2.5]}, [1.0, 2.0], block="x/y", instance=".")], 1e9)
    rec.close()
    [(key, got)] = read_file(files(tmp_path)[0]).items()
    assert key == (".", "feed", "x/y")
    assert math.isnan(got["data"]["a/b"][0]) and got["data"]["a/b"][1] == 2.5


READER = """
import sys, time
from pathlib import Path
from socs_like_agents.file_recorder.h5file import read_file
seen = []
read_file(Path(sys.argv[1]))
print("ready", flush=True)
deadline = time.monotonic() + 20
while time.monotonic() < deadline:
    got = read_file(Path(sys.argv[1]))[("a1", "feed", "b")]
    n = len(got["timestamps"])
    assert got["data"]["x"] == [t * 2 for t in got["timestamps"]], "inconsistent"
    if not seen or seen[-1] != n:
        seen.append(n)
    if n == 20000:
        break
print(seen)
"""


def test_a_reader_in_another_process_sees_a_consistent_file_while_it_grows(tmp_path):
    rec = Recorder(tmp_path, period=3600)
    rec.write([blk({"x": [0.0]}, [0.0])], now=1e9)
    path = files(tmp_path)[0]
    reader = subprocess.Popen(
        [sys.executable, "-c", READER, str(path)], stdout=subprocess.PIPE, text=True
    )
    assert reader.stdout is not None and reader.stdout.readline() == "ready\n"
    t = 1.0
    while t < 20000:
        times = [t + i for i in range(min(100, 20000 - int(t)))]
        rec.write([blk({"x": [v * 2 for v in times]}, times)], now=1e9)
        t += len(times)
        time.sleep(0.002)
    out, _ = reader.communicate(timeout=30)
    rec.close()
    assert reader.returncode == 0
    sizes = eval(out)  # the lengths the reader saw, growing
    assert sizes[-1] == 20000 and len(sizes) > 2


def event(seq_no: int, *times: float) -> tuple[dict[str, Any], dict[str, Any]]:
    """A FakeData-shaped event of records seq_no.. (one per timestamp)."""
    payload = {
        "temps": {"block_name": "temps", "timestamps": list(times), "data": {"v": list(times)}}
    }
    info = {
        "agent_address": "observatory.fd9",
        "feed_name": "false_temperatures",
        "address": "observatory.fd9.feeds.false_temperatures",
        "record": True,
        "agg_params": {},
        "seq_no": seq_no,
        "seq_count": len(times),
    }
    return payload, info


def test_an_event_delivered_twice_is_written_once(ops_driver, tmp_path):
    rec = ops_driver("FileRecorder", "--data-dir", str(tmp_path), "--flush-interval", "0.05")
    assert rec("start", "record").status == 0
    wait_until(lambda: rec("status", "record").session["status"] == "running")
    for seq_no, times in [(0, (1.0, 2.0)), (2, (3.0,)), (2, (3.0,)), (3, (4.0, 5.0))]:
        rec.call(rec.instance.listener.on_event, *event(seq_no, *times))
    time.sleep(0.2)
    rec("stop", "record")
    done = rec("wait", "record", timeout=10).session
    got = read_files(files(tmp_path))[("fd9", "false_temperatures", "temps")]
    assert got["timestamps"] == [1.0, 2.0, 3.0, 4.0, 5.0]
    assert done["data"]["intake"]["duplicate_events"] == 1
    assert done["data"]["written"] == 5


def test_a_close_from_another_thread_waits_for_the_write_in_progress(tmp_path):
    # At shutdown the record process is cancelled while its write runs in a worker thread,
    # and its clean-up closes the file from another; h5py is not thread-safe, so they must
    # take turns: every sample of the write ends up in the closed file.
    recorder = Recorder(tmp_path, 3600)
    n = 5000
    blocks = [
        blk({f"c{c}": [float(i)] * n for c in range(10)}, [i * n + k for k in range(n)])
        for i in range(60)
    ]
    errors: list[BaseException] = []

    def write() -> None:
        try:
            recorder.write(blocks, time.time())
        except BaseException as exc:  # reported by the assertion below
            errors.append(exc)

    writer = threading.Thread(target=write)
    writer.start()
    wait_until(lambda: recorder.file is not None, 10, message="the write started")
    recorder.close()
    writer.join(30)
    assert errors == [] and recorder.file is None
    [path] = files(tmp_path)
    assert len(read_file(path)[("a1", "feed", "b")]["timestamps"]) == 60 * n


def test_spooled_blocks_the_files_hold_already_are_not_written_again(tmp_path):
    from socs_like_agents.file_recorder.replay import held_in_files, unwritten

    rec = Recorder(tmp_path, period=3600)
    written = [blk({"x": [1.0, 2.0]}, [1.0, 2.0], block="b"), blk({"y": [5.0]}, [5.0], block="c")]
    rec.write(written, now=time.time())  # written and flushed; killed before the commit
    rec.close()
    spooled = [*written, blk({"x": [3.0, 4.0]}, [2.0, 3.0], block="b")]  # 2.0 once more
    left = unwritten(spooled, held_in_files(tmp_path, spooled))
    assert [(b.block_name, b.timestamps, b.data) for b in left] == [("b", [3.0], {"x": [4.0]})]


def test_a_spool_record_round_trips_and_one_that_is_not_ours_is_refused_with_a_value_error():
    from socs_like_agents.file_recorder.replay import decode, encode
    from socs_like_agents.recording.spool import pack

    blocks = [blk({"x": [1.5, None], "s": ["a", "b"]}, [1.0, 2.0])]
    assert decode(encode(blocks, 5)) == (blocks, blocks[0].feed, 5)
    with pytest.raises((ValueError, EOFError)):  # what FileRecorder._resume skips and counts
        decode(pack({"received": 0.0, "feed": "f", "last": None}, b"\x00not marshal"))
