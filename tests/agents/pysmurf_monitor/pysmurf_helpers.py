"""Helpers shared by the monitor's tests (imported by name: the test folder is on sys.path)."""

import hashlib
import socket
from pathlib import Path

from socs_like.client import Client


def free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def md5(path: Path | str) -> str:
    return hashlib.md5(Path(path).read_bytes()).hexdigest()


def monitor_client(make_client, instance_id: str) -> Client:
    """A client of the monitor. Its process is called "run" (as in socs), and the core's
    Client turns ops into attributes, shadowing Client.run; drop that attribute and reach the
    op with ``client.request(action, "run")``."""
    client = make_client(instance_id)
    del client.run
    return client
