"""socs_like.testing.util: the shared free port, waits, md5 and private loop."""

from __future__ import annotations

import asyncio
import hashlib
import socket
import threading
import time
from pathlib import Path

import pytest
from sqlalchemy import inspect, text

from socs_like.testing import free_port, md5_hex, run_in_new_loop, wait_until, wait_until_async


@pytest.mark.parametrize(
    ("kind", "sock_type"), [("tcp", socket.SOCK_STREAM), ("udp", socket.SOCK_DGRAM)]
)
def test_free_port_can_be_bound(kind: str, sock_type: int) -> None:
    port = free_port(kind)  # type: ignore[arg-type]
    with socket.socket(socket.AF_INET, sock_type) as s:
        s.bind(("127.0.0.1", port))
    # below the ephemeral range: while a test's server is away, no outgoing connection can
    # take its port as the local end (a soak's InfluxDB came back to "address already in use")
    ephemeral_from = int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    assert 1024 <= port < ephemeral_from


def test_wait_until_returns_the_value_or_names_what_never_came() -> None:
    box: list[int] = []
    threading.Timer(0.1, box.append, [7]).start()
    assert wait_until(lambda: box, timeout=10) == [7]
    start = time.monotonic()
    with pytest.raises(AssertionError, match=r"^the thing not met within 0.2 s$"):
        wait_until(lambda: False, timeout=0.2, message="the thing")
    assert time.monotonic() - start >= 0.2


def test_wait_until_async_accepts_coroutine_predicates() -> None:
    async def main() -> int:
        flag = asyncio.Event()
        asyncio.get_running_loop().call_later(0.1, flag.set)

        async def ready() -> int:
            return 5 if flag.is_set() else 0

        got = await wait_until_async(ready, timeout=10)
        with pytest.raises(AssertionError, match=r"^never not met within 0.1 s$"):
            await wait_until_async(lambda: None, timeout=0.1, message="never")
        return got

    assert run_in_new_loop(main()) == 5


def test_md5_hex_of_bytes_and_of_a_file(tmp_path: Path) -> None:
    path = tmp_path / "f"
    path.write_bytes(b"abc")
    expected = hashlib.md5(b"abc").hexdigest()
    assert md5_hex(b"abc") == md5_hex(path) == md5_hex(str(path)) == expected


@pytest.fixture
def db_migrate():  # type: ignore[no-untyped-def]
    """This folder's schema: one table (a test folder names its package's upgrade here)."""

    def migrate(database) -> None:  # type: ignore[no-untyped-def]
        with database.engine.begin() as conn:
            conn.execute(text("CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT)"))

    return migrate


def test_db_fixture_is_a_migrated_sqlite_database_by_default(db) -> None:  # type: ignore[no-untyped-def]
    assert db.url.startswith("sqlite")
    assert inspect(db.engine).get_table_names() == ["notes"]


@pytest.mark.parametrize("db", ["postgresql"], indirect=True)
def test_db_fixture_gives_postgresql_when_asked(db) -> None:  # type: ignore[no-untyped-def]
    assert db.url.startswith("postgresql")
    assert inspect(db.engine).get_table_names() == ["notes"]
