"""Running commands, here or on another host over SSH, with one result type and one set of
SSH settings.

Why one module: agents run rsync, md5sum, ps and lsof locally and on remote hosts; with one
:class:`CommandResult` a caller judges a local and a remote run the same way, and with one
:class:`SshSettings` (declared as flags once, :class:`SshOptions`) every agent takes the same flags:
``--ssh-config``, ``--known-hosts``, ``--ssh-key``, ``--ssh-connect-timeout``,
``--ssh-command-timeout``, ``--ssh-keepalive`` and an explicit ``--no-host-key-check`` that
is logged.

Local commands (:func:`run_command`) get their own process group, so a timeout kills the
command *and* what it started (rsync's ssh), instead of leaving an orphan holding a connection
open; and they die with their caller (Linux's parent-death signal), so an agent killed with
SIGKILL leaves no command running with nobody to wait for it or stop it at its timeout.
:func:`run_command` blocks; :func:`run_command_async` runs it off the event loop.

Remote commands go through :class:`SshPool`: one kept-alive asyncssh connection per host,
shared by every operation.

- The OpenSSH client config is honoured (``HostName``, ``User``, ``Port``, ``IdentityFile``,
  ``ProxyJump``, ``UserKnownHostsFile``...); an explicit port or user wins over it, as on the
  ``ssh`` command line.
- Host keys are checked against known_hosts: a host missing from it or with a changed key is
  refused (:class:`HostKeyRejected`). Turning that off is an explicit setting, and each
  connection made without it says so in the log.
- A lost connection is made again on next use. Failed attempts back off per host
  (:class:`~socs_like.backoff.Backoff`), so a dead host is not hammered; a caller with time
  left waits out the back-off, one without gets the last error at once.
- Every command and SFTP request has a timeout; asyncssh and OS errors come out as
  :class:`ConnectError` (the host is gone or would not let us in) or :class:`RemoteError` (the
  host said no).

Errors derive from :class:`~socs_like.ops.OpFailed`: an op that lets one propagate ends failed
with its message, no traceback.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import ctypes
import logging
import os
import queue
import shlex
import signal
import subprocess
import threading
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

from socs_like.backoff import Backoff
from socs_like.ops import OpFailed
from socs_like.settings import setting, settings

if TYPE_CHECKING:
    # imported where a connection is made: a program that only runs local commands (a
    # pipeline pass from cron) does not load SSH and its cryptography
    import asyncssh

log = logging.getLogger(__name__)
T = TypeVar("T")
CONNECT_GRACE = 0.5

# --- results and errors -------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class CommandResult:
    """What one command did. A non-zero exit is a result, not an error: the caller decides.

    ``returncode`` is None when the command has no exit status: it was killed at its deadline
    (``timed_out``) or by a signal. Output is kept as bytes (file names need not be UTF-8);
    :attr:`stdout_text` / :attr:`stderr_text` decode it."""

    command: str  # as a shell would read it
    host: str | None = None  # None: run here
    returncode: int | None
    stdout: bytes = b""
    stderr: bytes = b""
    timed_out: bool = False

    @property
    def ok(self) -> bool:
        return self.returncode == 0

    @property
    def stdout_text(self) -> str:
        return self.stdout.decode(errors="replace")

    @property
    def stderr_text(self) -> str:
        return self.stderr.decode(errors="replace")

    def describe(self) -> str:
        """One line for logs and session data: where, which program, how it ended, and the
        last lines of its stderr."""
        words = self.command.split(maxsplit=1)
        program = words[0] if words else "(empty command)"
        where = f"{self.host}: " if self.host else ""
        if self.timed_out:
            what = "timed out"
        elif self.returncode is None:
            what = "was killed"
        else:
            what = f"exited with {self.returncode}"
        tail = self.stderr_text.strip().splitlines()[-3:]
        return f"{where}{program} {what}" + (f": {' | '.join(tail)}" if tail else "")

    def check(self, ok: Sequence[int] = (0,)) -> CommandResult:
        """``self`` if it exited with one of ``ok``; else :class:`CommandTimeout` or
        :class:`CommandFailed` with :meth:`describe` as the message."""
        if self.timed_out:
            raise CommandTimeout(self.describe())
        if self.returncode not in ok:
            raise CommandFailed(self.describe())
        return self


class CommandError(OpFailed):
    """Root of what running a command (here or remote) raises on purpose."""


class ConnectError(CommandError):
    """The SSH connection could not be made, was refused, or was lost. ``state`` names the
    situation for a status display (``unreachable``, ``host-key-rejected``, ``auth-failed``)."""

    state = "unreachable"

    def __init__(self, host: str, reason: str) -> None:
        super().__init__(f"{host}: {reason}")
        self.host = host
        self.reason = reason


class HostKeyRejected(ConnectError):
    """The host's key is not in known_hosts, or differs from it."""

    state = "host-key-rejected"


class AuthenticationFailed(ConnectError):
    """The host refused our key."""

    state = "auth-failed"


class RemoteError(CommandError):
    """The host answered, but with an error or an answer we cannot use."""


class CommandFailed(RemoteError):
    """A command exited with a status the caller did not accept."""


class CommandTimeout(RemoteError):
    """A command or SFTP request took longer than its timeout."""


# --- local commands -------------------------------------------------------------------------

_PR_SET_PDEATHSIG = 1  # prctl(2), <linux/prctl.h>
_prctl = ctypes.CDLL(None, use_errno=True).prctl


def dies_with(parent: int) -> Callable[[], None]:
    """What a command runs between fork and exec (``preexec_fn``): it gets SIGKILL when
    ``parent`` ends, however it ends. The kernel ties it to the *thread* that forked it, which
    :func:`run_command` keeps blocked until the command is over (and an event loop's thread
    lives as long as its process), so in effect to the process; a child that outlives its
    starter is forked by :func:`on_lifelong_thread`.
    (SIGKILL, as at a timeout: nothing the command might do on its way out needs its caller,
    and rsync's helpers end on their own once their pipes close.)"""

    def tie() -> None:
        _prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
        if os.getppid() != parent:  # the caller died before the line above
            os.kill(os.getpid(), signal.SIGKILL)

    return tie


def on_lifelong_thread(call: Callable[[], T]) -> T:
    """``call()`` on a thread that lives as long as this process: the main thread when we
    are on it, else a daemon thread kept for this. A child forked there with
    :func:`dies_with` is tied to the process, where a thread that ends first (a worker of
    a pool, a thread that restarts a hub) would take its child along when it ends.

    One such thread per network namespace: a thread that joined another namespace (setns,
    as `socs_like.testing.netns` hosts do) must fork its children there, and a new thread
    starts in the namespace of the thread that makes it."""
    if threading.current_thread() is threading.main_thread():
        return call()
    namespace = os.stat("/proc/thread-self/ns/net").st_ino
    with _lifelong_lock:
        requests = _lifelong.get(namespace)
        if requests is None:
            requests = _lifelong[namespace] = queue.SimpleQueue()
            threading.Thread(
                target=_serve_lifelong, args=(requests,), name="lifelong", daemon=True
            ).start()
    done: concurrent.futures.Future[T] = concurrent.futures.Future()
    requests.put((call, done))
    return done.result()


_Requests = queue.SimpleQueue[tuple[Callable[[], Any], concurrent.futures.Future[Any]]]
_lifelong: dict[int, _Requests] = {}
_lifelong_lock = threading.Lock()


def _serve_lifelong(requests: _Requests) -> None:
    while True:
        call, done = requests.get()
        try:
            done.set_result(call())
        except BaseException as exc:
            done.set_exception(exc)


def run_command(
    argv: Sequence[str],
    *,
    stdin: bytes = b"",
    timeout: float | None = None,
    cwd: str | None = None,
) -> CommandResult:
    """Run ``argv`` here and wait for it (at most ``timeout`` s; then its whole process group
    is killed). If this process dies meanwhile, the command is killed too. Blocking: call it
    from a worker thread, or use :func:`run_command_async`. A program that cannot be started
    gives exit status 127, as a shell would."""
    command = shlex.join(argv)
    try:
        proc = subprocess.Popen(
            list(argv),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            cwd=cwd,
            start_new_session=True,
            # no lock or import in there: safe to run after a fork from a threaded process
            preexec_fn=dies_with(os.getpid()),
        )
    except OSError as e:
        return CommandResult(
            command=command, returncode=127, stderr=f"cannot run {argv[0]}: {e}".encode()
        )
    try:
        out, err = proc.communicate(stdin, timeout=timeout)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        out, err = proc.communicate()
        return CommandResult(
            command=command, returncode=None, stdout=out, stderr=err, timed_out=True
        )
    code = proc.returncode
    return CommandResult(
        command=command, returncode=code if code >= 0 else None, stdout=out, stderr=err
    )


async def run_command_async(
    argv: Sequence[str],
    *,
    stdin: bytes = b"",
    timeout: float | None = None,
    cwd: str | None = None,
) -> CommandResult:
    """:func:`run_command` in a worker thread, so the event loop keeps running meanwhile.
    Cancelling the await does not stop the command (a thread cannot be cancelled): give a
    ``timeout`` to bound it."""
    return await asyncio.to_thread(run_command, argv, stdin=stdin, timeout=timeout, cwd=cwd)


# --- SSH settings and flags -----------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class SshSettings:
    """How this agent reaches hosts over SSH; the same fields for asyncssh and for an
    ``ssh`` command line (:meth:`openssh_argv`, e.g. for ``rsync -e``)."""

    config_path: str | None = None  # None: ~/.ssh/config
    known_hosts: str | None = None  # None: the config's UserKnownHostsFile, else ~/.ssh/known_hosts
    verify_host_keys: bool = True
    identity_file: str | None = None  # None: the config's IdentityFile, else ssh's defaults
    connect_timeout: float = 10.0
    command_timeout: float = 30.0
    keepalive_interval: float = 5.0
    keepalive_count_max: int = 3
    backoff_initial: float = 0.5
    backoff_max: float = 30.0

    def __post_init__(self) -> None:
        for name in (
            "connect_timeout",
            "command_timeout",
            "keepalive_interval",
            "backoff_initial",
            "backoff_max",
        ):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} must be > 0, not {getattr(self, name)}")
        for name in ("config_path", "known_hosts", "identity_file"):
            value = getattr(self, name)
            if value is not None and any(c in value for c in "'\"\n\0"):
                raise ValueError(f"{name} {value!r} may not contain a quote, newline or NUL")

    def backoff(self) -> Backoff:
        """A fresh back-off for one host."""
        return Backoff(initial=self.backoff_initial, factor=2.0, cap=self.backoff_max)

    def openssh_argv(self, *, port: int | None = None, username: str | None = None) -> list[str]:
        """``ssh`` and its options for these settings, without the host (append ``--``, the
        host and the command). ``BatchMode``: never ask for a password or a key on a tty."""
        argv = ["ssh"]
        if self.config_path is not None:
            argv += ["-F", self.config_path]
        argv += [
            "-o",
            "BatchMode=yes",
            "-o",
            f"ConnectTimeout={max(1, round(self.connect_timeout))}",
            "-o",
            f"ServerAliveInterval={max(1, round(self.keepalive_interval))}",
            "-o",
            f"ServerAliveCountMax={self.keepalive_count_max}",
        ]
        if self.verify_host_keys:
            argv += ["-o", "StrictHostKeyChecking=yes"]
            if self.known_hosts is not None:
                argv += ["-o", f"UserKnownHostsFile={self.known_hosts}"]
        else:
            argv += ["-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null"]
        if self.identity_file is not None:
            argv += ["-o", "IdentitiesOnly=yes", "-i", self.identity_file]
        if port is not None:
            argv += ["-p", str(port)]
        if username is not None:
            argv += ["-l", username]
        return argv


@settings("SSH options")
class SshOptions:
    """The SSH flags every agent that uses SSH takes, spelled the same everywhere (declared
    once, a `part` of the agent's settings); :meth:`ssh_settings` reads them."""

    ssh_config: str | None = setting(
        default=None, metavar="FILE", help="OpenSSH client config (default ~/.ssh/config)"
    )
    known_hosts: str | None = setting(
        default=None,
        metavar="FILE",
        help="known_hosts file (default: the config's UserKnownHostsFile, else "
        "~/.ssh/known_hosts); a host missing from it is refused",
    )
    no_host_key_check: bool = setting(
        default=False,
        help="accept any host key (isolated lab networks only; logged at every connection)",
    )
    ssh_key: str | None = setting(
        default=None, metavar="FILE", help="private key (default: the config's IdentityFile)"
    )
    ssh_connect_timeout: float = setting(
        default=10.0, metavar="S", help="seconds allowed to connect (default 10)"
    )
    ssh_command_timeout: float = setting(
        default=30.0, metavar="S", help="seconds allowed for each remote command (default 30)"
    )
    ssh_keepalive: float = setting(
        default=5.0,
        metavar="S",
        help="seconds between keep-alives on a connection that is quiet; after 3 unanswered "
        "the connection is given up, so a host cut off is noticed in about 4 times this "
        "(default 5)",
    )

    def ssh_settings(self, **overrides: Any) -> SshSettings:
        """The :class:`SshSettings` these flags ask for; a turned-off host key check is logged
        here, once at start-up, and again at each connection."""
        if self.no_host_key_check:
            log.warning(
                "host key checking is OFF (--no-host-key-check): impostor hosts go unnoticed"
            )
        values: dict[str, Any] = {
            "config_path": self.ssh_config,
            "known_hosts": self.known_hosts,
            "verify_host_keys": not self.no_host_key_check,
            "identity_file": self.ssh_key,
            "connect_timeout": self.ssh_connect_timeout,
            "command_timeout": self.ssh_command_timeout,
            "keepalive_interval": self.ssh_keepalive,
        }
        values.update(overrides)
        return SshSettings(**values)


# --- SSH connections ------------------------------------------------------------------------


@dataclass(frozen=True)
class HostTarget:
    """A host as named by the caller: an alias or host name, with optional overrides."""

    host: str
    port: int | None = None
    username: str | None = None

    def __str__(self) -> str:
        return self.host


@dataclass
class _Host:
    backoff: Backoff
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    conn: asyncssh.SSHClientConnection | None = None
    sftp: asyncssh.SFTPClient | None = None
    next_try: float = 0.0
    last_error: ConnectError | None = None

    def alive(self) -> bool:
        return self.conn is not None and not self.conn.is_closed()


class SshPool:
    """Connections to any number of hosts, made on first use and kept."""

    def __init__(self, settings: SshSettings | None = None) -> None:
        self.settings = settings or SshSettings()
        self._hosts: dict[HostTarget, _Host] = {}

    def _host(self, target: HostTarget) -> _Host:
        entry = self._hosts.get(target)
        if entry is None:
            entry = self._hosts[target] = _Host(self.settings.backoff())
        return entry

    def is_connected(self, target: HostTarget) -> bool:
        return self._host(target).alive()

    async def connection(
        self, target: HostTarget, *, timeout: float | None = None, retry: bool = True
    ) -> asyncssh.SSHClientConnection:
        """The host's open connection, connecting for at most ``timeout`` s (default: the
        connect timeout), retrying with back-off within that time unless ``retry`` is false
        (then: one attempt, or none while the host is backing off)."""
        entry = self._host(target)
        if entry.conn is not None and entry.alive():
            return entry.conn
        loop = asyncio.get_running_loop()
        budget = self.settings.connect_timeout if timeout is None else timeout
        deadline = loop.time() + budget
        try:
            # the attempts keep to the deadline themselves and say why they failed; this
            # bound, a little later, covers the wait for another caller's attempt
            async with asyncio.timeout_at(deadline + CONNECT_GRACE), entry.lock:
                while not entry.alive():
                    await self._attempt(target, entry, deadline, retry)
        except TimeoutError:
            last = entry.last_error
            reason = f"no connection within {budget:g} s"
            if last is not None:
                raise type(last)(target.host, f"{reason}; last error: {last.reason}") from None
            raise ConnectError(target.host, reason) from None
        if entry.conn is None:  # cannot happen: the loop above ends only when connected
            raise ConnectError(target.host, "connection closed as soon as it was made")
        return entry.conn

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
            delay = entry.backoff.failure()
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
            entry.backoff.success()
            entry.next_try = 0.0
            entry.last_error = None

    async def _connect(self, target: HostTarget, time_left: float) -> asyncssh.SSHClientConnection:
        import asyncssh

        s = self.settings
        options: dict[str, Any] = {
            "connect_timeout": max(0.1, min(s.connect_timeout, time_left)),
            "keepalive_interval": s.keepalive_interval,
            "keepalive_count_max": s.keepalive_count_max,
        }
        if s.config_path is not None:
            options["config"] = [s.config_path]
        if s.identity_file is not None:
            options["client_keys"] = [s.identity_file]
        if target.port is not None:
            options["port"] = target.port
        if target.username is not None:
            options["username"] = target.username
        if not s.verify_host_keys:
            log.warning(
                "%s: host key checking is OFF (--no-host-key-check): this connection "
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
                f"host key not trusted ({exc.reason}); if the host is new or was reinstalled, "
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
        """Run ``command`` through the host's login shell. A non-zero exit is a result; so is
        running past ``timeout`` (default: the command timeout): the remote command is then
        killed and the result says ``timed_out``."""
        import asyncssh

        conn = await self.connection(target)
        limit = timeout or self.settings.command_timeout
        try:
            async with self.guard(target, f"command {command!r}", timeout=limit):
                proc = await conn.create_process(command, stdin=asyncssh.DEVNULL, encoding=None)
                try:
                    done = await proc.wait(check=False)
                finally:
                    if proc.exit_status is None:
                        # timed out or cancelled: stop the remote command, and do not wait for
                        # its channel to close (that is what would hang)
                        proc.kill()
                        proc.close()
        except CommandTimeout:
            return CommandResult(command=command, host=target.host, returncode=None, timed_out=True)
        return CommandResult(
            command=command,
            host=target.host,
            returncode=done.exit_status,
            stdout=_as_bytes(done.stdout),
            stderr=_as_bytes(done.stderr),
        )

    @contextlib.asynccontextmanager
    async def guard(
        self, target: HostTarget, what: str, *, timeout: float | None = None
    ) -> AsyncIterator[None]:
        """Bound a remote call by a timeout and turn its failures into this module's errors."""
        import asyncssh

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
        """``await call`` under :meth:`guard` (for single SFTP requests)."""
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


def _as_bytes(data: object) -> bytes:
    if isinstance(data, bytes):
        return data
    return b"" if data is None else str(data).encode()


def _describe(exc: BaseException) -> str:
    if isinstance(exc, OSError) and exc.errno:
        # asyncio words a refused connect as "Connect call failed": say what the OS said
        return os.strerror(exc.errno)
    reason = getattr(exc, "reason", None) or str(exc) or type(exc).__name__
    return str(reason)
