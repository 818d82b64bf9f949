"""The FileRecorder's heavy path, HDF5 writes of big batches, runs off its event loop: the
recorder keeps answering the hub while it writes."""

from __future__ import annotations

from socs_like.testing import wait_until
from socs_like.testing.loop import LoopProbe

from .test_file_recorder import recording

# FakeData at 20000 samples/s on 10 channels and a write round every 4 s: each round
# appends ~800 000 values, more than a second of h5py work (what the loop would stall for).
RATE, CHANNELS, ROUND = 20_000, 10, 4.0


def test_big_batches_are_written_while_the_loop_stays_free(
    tmp_path, run_agent, make_client, feed_listener
):
    run_agent("FakeData", "fd-heavy", ["--sample-rate", str(RATE), "--num-channels", str(CHANNELS)])
    run_agent(
        "FileRecorder",
        "rec-heavy",
        ["--data-dir", str(tmp_path / "data"), "--flush-interval", str(ROUND)],
    )
    recorder = make_client("rec-heavy")
    recording(recorder)
    fake = make_client("fd-heavy")
    with LoopProbe(recorder, feed_listener("rec-heavy", "heartbeat")) as probe:
        fake.acq.start()
        # three rounds of at least 40 000 samples (400 000 values) each
        wait_until(
            lambda: recorder.record.status().session["data"].get("written", 0) >= 3 * 40_000,
            90,
            message="three big write rounds",
        )
        fake.acq.stop()
    stats = recorder.record.status().session["data"]
    assert stats["write_errors"] == 0 and stats["dropped"] == 0
    probe.assert_responsive()  # writing on the loop stalled it 2 s a round
