"""The monitor's heavy path, the md5 of big files, runs off its event loop: it keeps
answering the hub while it hashes."""

import os

from socs_like.db import Database
from socs_like.testing import free_port, md5_hex, wait_until
from socs_like.testing.loop import LoopProbe
from socs_like_agents.pysmurf_monitor.simulator import Publisher

FILES, SIZE = 4, 200 * 1024 * 1024  # 800 MB to hash: seconds of md5 at any speed


def test_big_files_are_hashed_while_the_loop_stays_free(
    tmp_path, monitor_args, all_rows, run_agent, make_client, feed_listener, udp_sock
) -> None:
    port = free_port("udp")
    db_path = str(tmp_path / "suprsync.db")
    run_agent("PysmurfMonitor", "pysmurf-heavy", monitor_args(tmp_path, port, db_path))
    client = make_client("pysmurf-heavy")
    wait_until(lambda: client.run.status().session.get("status") == "running")
    folder = tmp_path / "data/timestreams/17320/ufm_mv27"
    folder.mkdir(parents=True)
    paths = []
    for i in range(FILES):
        path = folder / f"17320223{i:02d}_000.g3"
        with open(path, "wb") as f:  # random head, sparse body: big without filling the disk
            f.write(os.urandom(1024 * 1024))
            f.truncate(SIZE)
        paths.append(path)
    streamer = Publisher("STREAMER:ufm_mv27", udp_sock, ("127.0.0.1", port))

    with LoopProbe(client, feed_listener("pysmurf-heavy", "heartbeat")) as probe:
        for path in paths:
            streamer.send("g3_file", {"path": str(path), "archive_name": "timestreams"})
        wait_until(
            lambda: client.run.status().session["data"]["files"]["checksummed"] == FILES,
            120,
            message="every file hashed",
        )
    rows = all_rows(Database(db_path))
    assert {r.local_path: r.local_md5sum for r in rows} == {str(p): md5_hex(p) for p in paths}
    probe.assert_responsive()  # on the loop this work lags 3 s or more
