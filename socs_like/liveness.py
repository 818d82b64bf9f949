"""How our peers notice a hub that went silent, on RawSocket, which has no pings of its own.

Our agents and clients speak WAMP over RawSocket to the hub (no WebSocket framing for either
side to do per message); OCS's peers keep WebSocket, whose pings the hub sends. A RawSocket
connection is watched twice over:

- by the kernel (`keep_alive`): probes on an idle connection, and a limit on how long sent
  data may go unacknowledged: a partition or a host gone drops the connection;
- by the agent (`runtime.hub_session`): a publish that the hub must acknowledge, once the
  hub has sent nothing for `interval` s; one unanswered for `timeout` s drops the connection
  too. This also finds a hub whose process hangs, or a path whose bytes vanish where the
  kernel cannot see (a proxy between).
"""

from __future__ import annotations

import socket


def keep_alive(sock: socket.socket, interval: float, timeout: float) -> None:
    """Probe `sock` once it has been idle `interval` s, and drop it once probes or sent data
    have gone unanswered `timeout` s more (about: the kernel counts whole seconds)."""
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPIDLE, max(1, round(interval)))
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPINTVL, 1)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPCNT, max(1, round(timeout)))
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_USER_TIMEOUT, round((interval + timeout) * 1000))
