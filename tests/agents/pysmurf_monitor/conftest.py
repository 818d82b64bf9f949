"""Fixtures of the monitor's tests (fixtures, not imports, so any import mode works)."""

import socket
from pathlib import Path

import pytest

from tests.agents.filedb.conftest import registered_files


@pytest.fixture
def udp_sock():
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        yield s


def _monitor_args(tmp_path: Path, port: int, db: str, *extra: str) -> list[str]:
    return [
        "--udp-port",
        str(port),
        "--udp-host",
        "127.0.0.1",
        "--db-path",
        db,
        "--local-root",
        str(tmp_path / "data"),
        "--deletable-dir",
        f"^{tmp_path}/data/smurf_data/\\d{{8}}/",
        "--stats-interval",
        "0.5",
        *extra,
    ]


@pytest.fixture
def monitor_args():
    """``monitor_args(tmp_path, udp_port, db, *extra)``: a monitor's arguments for a test,
    files confined to ``tmp_path/data``."""
    return _monitor_args


@pytest.fixture
def all_rows():
    """``all_rows(db)``: every registered file, by id."""
    return registered_files
