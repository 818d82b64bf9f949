"""A real InfluxDB 1.x server on loopback for tests (Debian's ``influxd``).

``influxdb_server`` (session scope) writes a config that keeps everything in a private
temporary folder (meta, data, WAL), binds HTTP and the RPC port to free loopback ports, turns
off usage reporting, the ``_internal`` monitor store and request logs, starts ``influxd run``
and waits for ``/ping``. It is stopped at the end of the session. A test that must take the
server away (an outage) calls ``stop()`` and ``start()``: the same ports and folder, so a
writer that keeps its URL reconnects to the same data.

``influxdb`` (function scope) creates a fresh database on it and yields an `InfluxDatabase`
with the URL and a `query` helper that answers rows with integer microsecond times.
"""

from __future__ import annotations

import itertools
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import requests

from ..influxd import INFLUXD, config_text
from .util import free_port

_counter = itertools.count()


@dataclass
class InfluxServer:
    """One ``influxd`` process; `stop` and `start` keep its ports and data."""

    root: Path
    http_port: int
    rpc_port: int
    process: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"

    def start(self, timeout: float = 30.0) -> None:
        config = self.root / "influxdb.conf"
        config.write_text(config_text(self.root, self.http_port, self.rpc_port))
        log = open(self.root / "influxd.log", "ab")  # noqa: SIM115 - the child holds it
        with log:
            self.process = subprocess.Popen(
                [INFLUXD, "run", "-config", str(config)], stdout=log, stderr=subprocess.STDOUT
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(
                    f"influxd exited ({self.process.returncode}):\n"
                    + (self.root / "influxd.log").read_text(errors="replace")[-3000:]
                )
            try:
                if requests.get(f"{self.url}/ping", timeout=1).status_code == 204:
                    return
            except requests.ConnectionError:
                pass
            time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"influxd did not answer /ping within {timeout} s")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None

    def query(self, q: str, database: str = "") -> list[dict[str, Any]]:
        """Run an InfluxQL query; return its series (``name``, ``columns``, ``values``,
        ``tags``), times as integer microseconds."""
        answer = requests.post(
            f"{self.url}/query", params={"db": database, "epoch": "u", "q": q}, timeout=30
        )
        answer.raise_for_status()
        result = answer.json()["results"][0]
        if "error" in result:
            raise RuntimeError(f"influx query {q!r} failed: {result['error']}")
        series: list[dict[str, Any]] = result.get("series", [])
        return series


@dataclass(frozen=True)
class InfluxDatabase:
    """A database of its own on the session's server."""

    server: InfluxServer
    name: str

    @property
    def url(self) -> str:
        return self.server.url

    def query(self, q: str) -> list[dict[str, Any]]:
        return self.server.query(q, self.name)

    def rows(self, measurement: str, where: str = "") -> list[dict[str, Any]]:
        """Every point of `measurement` as a dict (``time`` in µs, tags and fields)."""
        q = f'SELECT * FROM "{measurement}"' + (f" WHERE {where}" if where else "")
        out: list[dict[str, Any]] = []
        for s in self.query(q):
            out.extend(dict(zip(s["columns"], v, strict=True)) for v in s["values"])
        return out


@pytest.fixture(scope="session")
def influxdb_server() -> Iterator[InfluxServer]:
    """One InfluxDB server for the whole test session."""
    if not Path(INFLUXD).exists():
        raise RuntimeError(f"{INFLUXD} not found: install Debian's influxdb package")
    root = Path(tempfile.mkdtemp(prefix="socs-like-influx-"))
    server = InfluxServer(root=root, http_port=free_port(), rpc_port=free_port())
    try:
        server.start()
        yield server
    finally:
        server.stop()
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def influxdb(influxdb_server: InfluxServer) -> Iterator[InfluxDatabase]:
    """A new, empty database on the session's InfluxDB server (running again if a test
    stopped it). At the end it is dropped, with any database a test made whose name starts
    with its name."""
    if influxdb_server.process is None:
        influxdb_server.start()
    name = f"test_{os.getpid()}_{next(_counter)}"
    influxdb_server.query(f'CREATE DATABASE "{name}"')
    yield InfluxDatabase(influxdb_server, name)
    if influxdb_server.process is None:
        influxdb_server.start()
    for series in influxdb_server.query("SHOW DATABASES"):
        for (database,) in series["values"]:
            if database.startswith(name):
                influxdb_server.query(f'DROP DATABASE "{database}"')
