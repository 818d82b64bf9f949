"""SSH to the workers: one kept-alive asyncssh connection per host, shared by every operation.

- The OpenSSH client config is honoured (asyncssh reads ``HostName``, ``User``, ``Port``,
  ``IdentityFile``, ``ProxyJump``, ``UserKnownHostsFile``...); an explicit port or user wins
  over it, as on the ``ssh`` command line.
- Host keys are checked against known_hosts. Turning that off is an explicit setting, and each
  connection made without it says so in the log.
- A lost connection is made again on next use. Failed attempts back off exponentially per host
  (``backoff_initial`` doubling up to ``backoff_max``), so a dead worker is not hammered; a
  caller with time left waits out the back-off, one without gets the last error at once.
- Every command and SFTP request has a timeout; asyncssh and OS errors come out as this
  package's ``ConnectError`` (the host is gone) or ``RemoteError`` (the host said no).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections.abc import AsyncIterator, Awaitable
from dataclasses import dataclass, field
from typing import TypeVar

import asyncssh

from .errors import (
    AuthenticationFailed,
    CommandTimeout,
    ConnectError,
    HostKeyRejected,
    RemoteError,
)

log = logging.getLogger(__name__)
T = TypeVar("T")
CONNECT_GRACE = 0.5


@dataclass(frozen=True, kw_only=True)
class SshSettings:
    config_path: str | None = None  # None: asyncssh's default, ~/.ssh/config
    known_hosts: str | None = None  # None: UserKnownHostsFile, else ~/.ssh/known_hosts
    verify_host_keys: bool = True
    connect_timeout: float = 10.0
    command_timeout: float = 30.0
    keepalive_interval: float = 5.0
    keepalive_count_max: int = 3
    backoff_initial: float = 0.5
    backoff_max: float = 30.0

    def __post_init__(self) -> None:
        for name in ("connect_timeout", "command_timeout", "backoff_initial", "backoff_max"):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} must be > 0, not {getattr(self, name)}")


@dataclass(frozen=True)
class HostTarget:
    """A worker as named by the caller: an alias or host name, with optional overrides."""

    host: str
    port: int | None = None
    username: str | None = None

    def __str__(self) -> str:
        return self.host


@dataclass(frozen=True, kw_only=True)
class CommandResult:
    command: str
    exit_status: int
    stdout: str
    stderr: str


@dataclass
class _Host:
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    conn: asyncssh.SSHClientConnection | None = None
    sftp: asyncssh.SFTPClient | None = None
    failures: int = 0
    next_try: float = 0.0
    last_error: ConnectError | None = None

    def alive(self) -> bool:
        return self.conn is not None and not self.conn.is_closed()


class SshPool:
    """Connections to any number of workers, made on first use and kept."""

    def __init__(self, settings: SshSettings | None = None) -> None:
        self.settings = settings or SshSettings()
        self._hosts: dict[HostTarget, _Host] = {}

    def _host(self, target: HostTarget) -> _Host:
        return self._hosts.setdefault(target, _Host())

    def is_connected(self, target: HostTarget) -> bool:
        return self._host(target).alive()

    async def connection(
        self, target: HostTarget, *, timeout: float | None = None, retry: bool = True
    ) -> asyncssh.SSHClientConnection:
        """The host's open connection, connecting for at most ``timeout`` s (default: the
        connect timeout), retrying with back-off within that time unless ``retry`` is false
        (then: one attempt, or none while the host is backing off)."""
        entry = self._host(target)
        if entry.alive():
            return entry.conn  # type: ignore[return-value]
        loop = asyncio.get_running_loop()
        budget = self.settings.connect_timeout if timeout is None else timeout
        deadline = loop.time() + budget
        try:
            # the attempts keep to the deadline themselves and say why they failed; this
            # bound, a little later, covers the wait for another caller's attempt
            async with asyncio.timeout_at(deadline + CONNECT_GRACE):
                async with entry.lock:
                    while not entry.alive():
                        await self._attempt(target, entry, deadline, retry)
        except TimeoutError:
            last = entry.last_error
            reason = f"no connection within {budget:g} s"
            if last is not None:
                raise type(last)(target.host, f"{reason}; last error: {last.reason}") from None
            raise ConnectError(target.host, reason) from None
        return entry.conn  # type: ignore[return-value]

    async def _attempt(
        self, target: HostTarget, entry: _Host, deadline: float, retry: bool
    ) -> None:
        loop = asyncio.get_running_loop()
        wait = entry.next_try - loop.time()
        if wait > 0:
            if entry.last_error is not None and (not retry or loop.time() + wait >= deadline):
                last = entry.last_error
                raise type(last)(
                    target.host, f"{last.reason} (next attempt in {wait:.1f} s)"
                ) from None
            await asyncio.sleep(wait)
        try:
            entry.conn = await self._connect(target, deadline - loop.time())
        except ConnectError as exc:
            entry.failures += 1
            delay = min(
                self.settings.backoff_max,
                self.settings.backoff_initial * 2 ** (entry.failures - 1),
            )
            entry.next_try = loop.time() + delay
            entry.last_error = exc
            # a refused key or host key will not fix itself within this call
            if isinstance(exc, (HostKeyRejected, AuthenticationFailed)):
                raise
            if not retry or loop.time() + delay >= deadline:
                raise
            log.info("%s; retrying in %.1f s", exc, delay)
        else:
            entry.sftp = None
            entry.failures = 0
            entry.next_try = 0.0
            entry.last_error = None

    async def _connect(self, target: HostTarget, time_left: float) -> asyncssh.SSHClientConnection:
        s = self.settings
        options: dict = {
            "connect_timeout": max(0.1, min(s.connect_timeout, time_left)),
            "keepalive_interval": s.keepalive_interval,
            "keepalive_count_max": s.keepalive_count_max,
        }
        if s.config_path is not None:
            options["config"] = [s.config_path]
        if target.port is not None:
            options["port"] = target.port
        if target.username is not None:
            options["username"] = target.username
        if not s.verify_host_keys:
            log.warning(
                "%s: host key checking is OFF (verify_host_keys=False): this connection "
                "is not protected against an impostor host",
                target.host,
            )
            options["known_hosts"] = None
        elif s.known_hosts is not None:
            options["known_hosts"] = s.known_hosts
        try:
            return await asyncssh.connect(target.host, **options)
        except asyncssh.HostKeyNotVerifiable as exc:
            raise HostKeyRejected(
                target.host,
                f"host key not trusted ({exc.reason}); if the worker was reinstalled, "
                "check its key and update known_hosts",
            ) from None
        except asyncssh.PermissionDenied as exc:
            raise AuthenticationFailed(
                target.host, f"public key refused ({exc.reason}); check IdentityFile"
            ) from None
        except asyncssh.DisconnectError as exc:
            raise ConnectError(target.host, f"disconnected: {exc.reason}") from None
        except TimeoutError:  # before OSError, of which it is a subclass
            raise ConnectError(
                target.host, f"no SSH answer within {options['connect_timeout']:.2g} s"
            ) from None
        except (OSError, asyncssh.Error) as exc:
            raise ConnectError(target.host, _describe(exc)) from None

    async def sftp(
        self, target: HostTarget, *, timeout: float | None = None
    ) -> asyncssh.SFTPClient:
        """The SFTP session on the host's connection (one per connection, shared)."""
        conn = await self.connection(target, timeout=timeout)
        entry = self._host(target)
        if entry.sftp is None or entry.conn is not conn:
            async with self.guard(target, "start SFTP"):
                entry.sftp = await conn.start_sftp_client()
        return entry.sftp

    async def run(
        self, target: HostTarget, command: str, *, timeout: float | None = None
    ) -> CommandResult:
        """Run ``command`` through the login shell; a non-zero exit is a result, not an error."""
        conn = await self.connection(target)
        limit = timeout or self.settings.command_timeout
        async with self.guard(target, f"command {command!r}", timeout=limit):
            proc = await conn.create_process(command, stdin=asyncssh.DEVNULL)
            try:
                done = await proc.wait(check=False)
            finally:
                if proc.exit_status is None:
                    # timed out or cancelled: stop the remote command, and do not wait for
                    # its channel to close (that is what would hang)
                    proc.kill()
                    proc.close()
        return CommandResult(
            command=command,
            exit_status=done.exit_status if done.exit_status is not None else -1,
            stdout=str(done.stdout or ""),
            stderr=str(done.stderr or ""),
        )

    @contextlib.asynccontextmanager
    async def guard(
        self, target: HostTarget, what: str, *, timeout: float | None = None
    ) -> AsyncIterator[None]:
        """Bound a remote call by a timeout and turn its failures into this package's errors."""
        limit = timeout or self.settings.command_timeout
        try:
            async with asyncio.timeout(limit):
                yield
        except TimeoutError:
            raise CommandTimeout(f"{target.host}: {what} took more than {limit:g} s") from None
        except (asyncssh.SFTPConnectionLost, asyncssh.SFTPNoConnection) as exc:
            raise self._lost(target, exc) from None
        except asyncssh.SFTPError as exc:
            raise RemoteError(f"{target.host}: {what}: {exc.reason}") from None
        except (asyncssh.DisconnectError, asyncssh.ChannelOpenError, OSError) as exc:
            if self.is_connected(target):
                raise RemoteError(f"{target.host}: {what}: {_describe(exc)}") from None
            raise self._lost(target, exc) from None

    def _lost(self, target: HostTarget, exc: BaseException) -> ConnectError:
        entry = self._host(target)
        entry.sftp = None
        return ConnectError(target.host, f"connection lost: {_describe(exc)}")

    async def timed(self, target: HostTarget, what: str, call: Awaitable[T]) -> T:
        """``await call`` under ``guard`` (for single SFTP requests)."""
        async with self.guard(target, what):
            return await call

    async def close(self) -> None:
        entries, self._hosts = list(self._hosts.values()), {}
        for entry in entries:
            if entry.conn is not None:
                entry.conn.close()
        for entry in entries:
            if entry.conn is not None:
                with contextlib.suppress(Exception):
                    await entry.conn.wait_closed()


def _describe(exc: BaseException) -> str:
    if isinstance(exc, OSError) and exc.errno:
        # asyncio words a refused connect as "Connect call failed": say what the OS said
        return os.strerror(exc.errno)
    reason = getattr(exc, "reason", None) or str(exc) or type(exc).__name__
    return str(reason)
