"""Our peers' RawSocket connections to the real hub: watched by the kernel, and not slowed by
Nagle's algorithm at the hub (crossbar sets TCP_NODELAY on WebSocket connections only)."""

from __future__ import annotations

import contextlib
import ctypes
import os
import socket
from pathlib import Path

from socs_like.client import AsyncClient, run_sync
from socs_like.testing import wait_until
from socs_like.testing.procs import descendants

PIDFD_GETFD = 438  # the system call's number, the same on every architecture
_libc = ctypes.CDLL(None, use_errno=True)


def _kept_alive(sock: socket.socket) -> tuple[int, ...]:
    return (
        sock.getsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE),
        sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPIDLE),
        sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPINTVL),
        sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPCNT),
        sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_USER_TIMEOUT),
    )


def test_the_connections_of_our_clients_and_agents_are_watched_by_the_kernel(hub, inprocess_agent):
    agent = inprocess_agent("FakeData", "fd-kept")
    client = AsyncClient("fd-kept", hub_url=hub.url, realm=hub.realm)
    run_sync(client.connect(), 15)
    for protocol in (client._transport._session._transport, agent.agent._hub.wamp._transport):
        sock = protocol.transport.get_extra_info("socket")
        # probed after 5 s idle, each second; dropped after 5 unanswered, or 10 s of sent
        # data unacknowledged (the site config's hub.ping_interval and ping_timeout)
        assert _kept_alive(sock) == (1, 5, 1, 5, 10_000)
    run_sync(client.close(), 5)


def test_the_hub_sends_to_our_peers_without_delay(hub):
    """TCP_NODELAY on the hub's side of a RawSocket connection: crossbar sets it on WebSocket
    connections only, and without it Nagle's algorithm holds a small message back until the
    peer has acknowledged the one before (up to its delayed ACK, 40 ms)."""
    client = AsyncClient("nobody", hub_url=hub.url, realm=hub.realm)
    run_sync(client.connect(), 15)
    ours = client._transport._session._transport.transport.get_extra_info("sockname")
    # the hub's socket, borrowed from its router process (a descendant of ours)
    [router] = [pid for pid in descendants(hub.hub.process.pid) if "worker" in _cmdline(pid)]
    sock = wait_until(lambda: _peer_socket(router, ours[1]), 5, message="the hub's socket")
    try:
        assert wait_until(lambda: sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY), 5)
    finally:
        sock.close()
        run_sync(client.close(), 5)


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_text()
    except OSError:
        return ""


def _peer_socket(pid: int, port: int) -> socket.socket | None:
    """A copy of process `pid`'s TCP socket whose peer is our `port` (pidfd_getfd)."""
    pidfd = os.pidfd_open(pid)
    try:
        for fd in os.listdir(f"/proc/{pid}/fd"):
            copy = _libc.syscall(PIDFD_GETFD, pidfd, int(fd), 0)
            if copy < 0:
                continue
            try:
                sock = socket.socket(fileno=copy)
            except OSError:  # not a socket
                os.close(copy)
                continue
            with contextlib.suppress(OSError):
                if sock.type == socket.SOCK_STREAM and sock.getpeername()[1] == port:
                    return sock
            sock.close()
        return None
    finally:
        os.close(pidfd)
