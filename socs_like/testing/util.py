"""Small test utilities shared by every test folder (one copy each, not one per folder).

- :func:`free_port`: a port nothing listens on right now (TCP or UDP), for a server a test
  starts or a port a test wants closed.
- :func:`wait_until` / :func:`wait_until_async`: poll a condition instead of sleeping a fixed
  time, so a test is as fast as the system and fails with a message naming what never came.
- :func:`md5_hex`: the md5 a test expects for bytes or a file, computed the plain way (not with
  the code under test).
- :func:`run_in_new_loop`: run a coroutine on an event loop of its own, whatever loop or
  reactor the test process already runs.
- :func:`descendants` / :func:`process_alive`: a process's children, grandchildren..., and
  whether a process still runs, read from ``/proc`` (what a crash test kills and awaits).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import hashlib
import os
import random
import socket
import time
from collections.abc import Awaitable, Callable, Coroutine
from pathlib import Path
from typing import Any, Literal, TypeVar

T = TypeVar("T")


def free_port(kind: Literal["tcp", "udp"] = "tcp", host: str = "127.0.0.1") -> int:
    """A port on ``host`` that was free a moment ago, below the kernel's ephemeral range: a
    server a test stops and starts again on its port (an outage) finds it still free. A port
    the OS picks is an ephemeral one, which meanwhile may become the local end of any
    outgoing connection (a soak's InfluxDB could not come back: "address already in use")."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock_type = socket.SOCK_STREAM if kind == "tcp" else socket.SOCK_DGRAM
    fixed = range(_FIXED_PORTS_FROM, max(_FIXED_PORTS_FROM, _ephemeral_from()))
    for port in random.sample(fixed, min(200, len(fixed))):
        with socket.socket(family, sock_type) as s:
            try:
                s.bind((host, port))
            except OSError:
                continue
            return port
    with socket.socket(family, sock_type) as s:  # all taken: let the OS pick one
        s.bind((host, 0))
        return int(s.getsockname()[1])


_FIXED_PORTS_FROM = 20000  # above the well-known and most registered services' ports


def _ephemeral_from() -> int:
    """The first port of the kernel's ephemeral range (Linux's default: 32768)."""
    try:
        return int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768


def wait_until(
    predicate: Callable[[], T],
    timeout: float = 10.0,
    interval: float = 0.02,
    message: str = "condition",
) -> T:
    """Poll ``predicate`` until it returns something true; return that, or fail after
    ``timeout`` seconds with ``AssertionError("<message> not met within <timeout> s")``."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"{message} not met within {timeout} s")
        time.sleep(interval)


async def wait_until_async(
    predicate: Callable[[], T | Awaitable[T]],
    timeout: float = 10.0,
    interval: float = 0.02,
    message: str = "condition",
) -> T:
    """:func:`wait_until` for code on an event loop: sleeps without blocking the loop, and
    ``predicate`` may be a coroutine function."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if isinstance(value, Awaitable):
            value = await value
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"{message} not met within {timeout} s")
        await asyncio.sleep(interval)


def md5_hex(data: bytes | str | os.PathLike[str]) -> str:
    """The hex md5 of ``data`` (bytes) or of the file at a path (``str`` or ``Path``)."""
    if isinstance(data, bytes):
        return hashlib.md5(data, usedforsecurity=False).hexdigest()
    return hashlib.md5(Path(data).read_bytes(), usedforsecurity=False).hexdigest()


def run_in_new_loop(coro: Coroutine[Any, Any, T], timeout: float = 60) -> T:
    """Run ``coro`` to completion with ``asyncio.run`` in a thread of its own, so the loop is
    the test's alone (the test process may already run a reactor on its main thread)."""
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coro).result(timeout)
