"""The publisher's queue holds each event encoded once (`Lines`): a few objects per event
however many points it holds, and no more memory than its bound."""

from __future__ import annotations

import gc
import json
import tracemalloc

from socs_like_agents.influx_publisher.lineprotocol import Lines, block_lines
from socs_like_agents.recording.backlog import MIB, Backlog
from socs_like_agents.recording.intake import Block, FeedIntake


def test_an_event_is_encoded_once_into_one_body():
    temps = Block("obs.fd", "fd", "temps", "t", [1.0, 2.0, 3.0], {"x": [1.5, None, 2.5]}, 9.0)
    state = Block("obs.fd", "fd", "temps", "s", [2.5], {"s": ["ok"]}, 9.0)
    lines = Lines.of([temps, state], received=9.0)
    expected = block_lines(temps) + block_lines(state)
    assert lines.body == "".join(f"{line}\n" for line in expected).encode()
    assert (lines.points, lines.empty, lines.received, lines.newest) == (3, 1, 9.0, 3.0)
    assert lines.nbytes > len(lines.body)


def demo_event(seq: int) -> str:
    """What the demo's pysmurf monitor publishes most: a second of register values, a block
    of one or two points per register."""
    blocks = {}
    for i in range(25):
        name = f"AMCc_FpgaTopLevel_AppTop_AppCore_SysgenCryo_Base_{i % 8}_band{i}"
        blocks[name] = {
            "block_name": name,
            "timestamps": [1.7e9 + seq + i * 0.01, 1.7e9 + seq + i * 0.01 + 0.5],
            "data": {name: [float(seq + i), float(seq - i)]},
        }
    return json.dumps(blocks)


def test_an_outage_s_worth_of_queue_is_a_few_objects_per_event_within_its_bound():
    # Queued as blocks, the demo's hour of points was 5 Python objects and 800 bytes a point:
    # a full garbage collection walked millions of them, and memory grew by hundreds of MB.
    intake = FeedIntake("observatory", "exclude_influx")
    events = [demo_event(seq) for seq in range(500)]  # 25 000 points
    info = {"agent_address": "observatory.pm", "feed_name": "ufm_mv1_meta", "record": True}
    q: Backlog[Lines] = Backlog(max_bytes=2 * MIB)
    gc.collect()
    tracemalloc.start()
    try:
        objects, before = len(gc.get_objects()), tracemalloc.get_traced_memory()[0]
        for seq, text in enumerate(events):
            blocks = intake.take(json.loads(text), info | {"seq_no": seq}, float(seq))
            q.add(Lines.of(blocks, float(seq)))
        gc.collect()
        objects = len(gc.get_objects()) - objects
        used = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    assert q.dropped > 0 and q.pending + q.dropped == 25_000  # it filled, and overflowed
    chunks = len(events) * (q.pending / 25_000)
    assert objects < 3 * chunks < q.pending / 10
    assert 0.8 * q.pending_bytes < used < 1.1 * q.max_bytes
