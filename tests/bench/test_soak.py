"""The short soak of CI: the whole demo site through every kind of fault for three minutes,
then the ledger (`bench/soak.py --compressed`). It fails when any data path lost something
that no counter explains, or duplicated something; its output names what and where."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench"
sys.path.insert(0, str(BENCH))

from soak_report import DASHBOARD  # noqa: E402
from soak_site import cleanup  # noqa: E402

from socs_like.testing.faults import mounts_under  # noqa: E402
from socs_like.testing.procs import marked  # noqa: E402

PATHS = (
    "pysmurf → suprsync → archive",
    "DAQ runs → run pipeline → archive",
    "data logger windows",
    "recorded feeds → HDF5 + InfluxDB",
)


@pytest.mark.slow
@pytest.mark.soak
@pytest.mark.timeout(1800)
def test_the_site_loses_nothing_through_a_compressed_fault_campaign(tmp_path) -> None:
    out = tmp_path / "ledger.json"
    soak = subprocess.Popen(
        [
            sys.executable,
            str(BENCH / "soak.py"),
            "--duration",
            "3m",
            "--compressed",
            "--seed",
            "20",
            "--workdir",
            str(tmp_path),
            "--json",
            str(out),
            "--keep",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=os.environ | {"COLUMNS": "160"},
    )
    try:
        output, _ = soak.communicate(timeout=1500)
    finally:
        soak.kill()
        soak.wait()
        for root in tmp_path.glob("soak-*"):
            cleanup(root)  # whatever state the harness left: processes and mounts
    assert mounts_under(tmp_path) == []
    assert not [p for root in tmp_path.glob("soak-*") for p in marked("SOAK_MARK", str(root))]
    assert out.exists(), output[-5000:]
    result = json.loads(out.read_text())
    # every path was exercised, every kind of fault was done
    assert set(PATHS) <= set(result["ledger"]), output[-5000:]
    ledger = result["ledger"]
    assert ledger[PATHS[0]]["counts"]["announced"] > 0
    assert ledger[PATHS[1]]["counts"]["acquired"] > 0
    assert ledger[PATHS[2]]["counts"]["windows due"] > 0
    assert ledger[PATHS[3]]["counts"]["samples published"] > 0
    assert {"kill", "stop", "hub", "influx", "sshd", "full"} <= set(result["faults"]["by_kind"])
    assert any(n.startswith("loopback loss/delay:") for n in result["faults"]["notes"])
    for name, agent in result["agents"].items():
        assert agent["end_mb"] is not None, name
        assert agent["heartbeats"] > 0 or name == DASHBOARD, name  # it beats on no feed
    assert DASHBOARD in result["agents"]
    verdict = result["verdict"]
    assert (verdict["lost"], verdict["duplicates"]) == (0, 0), output[-8000:]
    assert soak.returncode == 0, output[-8000:]
