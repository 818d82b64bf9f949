"""Checksums match md5sum; rescans find what arrived while the monitor was down."""

import hashlib
import os
import subprocess

from socs_like.checksum import md5_file
from socs_like_agents.filedb.queries import Registered
from socs_like_agents.pysmurf_monitor.datagrams import DataFile, G3File
from socs_like_agents.pysmurf_monitor.hashing import checksum_rows
from socs_like_agents.pysmurf_monitor.rescan import scan


def test_md5_matches_md5sum_across_read_boundaries(tmp_path) -> None:
    path = tmp_path / "f.bin"
    data = os.urandom(3 * 1024 * 1024 + 17)
    path.write_bytes(data)
    expected = subprocess.run(
        ["md5sum", str(path)], capture_output=True, text=True, check=True
    ).stdout.split()[0]
    assert md5_file(str(path), read_size=1024 * 1024)[0] == expected
    assert md5_file(str(path), read_size=7)[0] == expected
    md5, size, _ = md5_file(str(path))
    assert (md5, size) == (hashlib.md5(data).hexdigest(), len(data))


def test_checksum_rows_reports_unreadable_files(tmp_path) -> None:
    (tmp_path / "a").write_bytes(b"abc")
    results = checksum_rows(
        [
            Registered(id=1, local_path=str(tmp_path / "a")),
            Registered(id=2, local_path=str(tmp_path / "gone")),
        ]
    )
    assert results[0].md5 == hashlib.md5(b"abc").hexdigest() and results[0].size == 3
    assert results[1].md5 is None
    assert results[1].error == f"No such file or directory: {tmp_path / 'gone'}"


def test_rescan_finds_g3_and_pysmurf_files_and_leaves_recent_ones(tmp_path) -> None:
    g3 = tmp_path / "timestreams" / "17320" / "ufm_mv27"
    g3.mkdir(parents=True)
    (g3 / "1732022318_000.g3").write_bytes(b"g3")
    (g3 / "notes.txt").write_bytes(b"x")
    (g3 / "1732022318_001.g3").write_bytes(b"being written")
    smurf = tmp_path / "smurf_data" / "20240803" / "ufm_mv19" / "1722715985" / "plots"
    smurf.mkdir(parents=True)
    (smurf / "1722716193_asd.png").write_bytes(b"png")
    os.symlink(smurf / "1722716193_asd.png", smurf / "link.png")
    old = 1_000_000.0
    for f in (g3 / "1732022318_000.g3", smurf / "1722716193_asd.png"):
        os.utime(f, (old, old))

    result = scan(
        [str(tmp_path / "timestreams")], [str(tmp_path / "smurf_data")], now=old + 100, min_age=50
    )
    assert result.too_recent == 1
    g3s = [f for f in result.found if isinstance(f, G3File)]
    smurfs = [f for f in result.found if isinstance(f, DataFile)]
    assert [f.path for f in g3s] == [str(g3 / "1732022318_000.g3")]
    assert [
        (f.path, f.envelope.id, f.action_ts, f.action, f.plot, f.timestamp) for f in smurfs
    ] == [(str(smurf / "1722716193_asd.png"), "ufm_mv19", "1722715985", None, True, 1722716193.0)]
