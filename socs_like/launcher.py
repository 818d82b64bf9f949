"""Fork server: start agent processes from one interpreter that has imported everything once.

A plain ``python -m socs_like agent ...`` spends most of its first second importing Twisted,
autobahn, SQLAlchemy and the agent's package, and each process keeps its own copy of all that
code. The launcher is one process that imports them once, then forks a child per agent: the
child starts with everything imported (callable in well under 0.15 s) and shares the imported
pages with the launcher and its siblings copy-on-write (``gc.freeze`` keeps the collector from
touching, and so copying, them).

`spawn` is what a supervisor calls instead of `asyncio.create_subprocess_exec`; it returns a
`Process` with the same ``pid``/``returncode``/``wait``/``send_signal``/``kill``:

- The first `spawn` on an event loop starts the launcher (``python -m socs_like.launcher``),
  connected by a ``SOCK_SEQPACKET`` socket pair. A request is ``{"argv": [...], "cwd": ...}``
  (and ``"env"``, the child's whole environment, when it is not the launcher's) with the
  child's stdout passed as a file descriptor (``SCM_RIGHTS``); the answer is ``{"pid": N}``.
  The launcher reaps its children and reports ``{"exit": pid, "code": c}`` (``-signal`` for a
  signal, as asyncio does).
- When the launcher cannot start or dies, `spawn` falls back to plain processes for the rest of
  that loop's life. Children it had forked keep running: they are followed through a pidfd,
  and since the launcher took their exit status with it, they report `UNKNOWN_EXIT`.
- The launcher exits when its socket closes (the supervisor exited or died). It first stops
  the children it still has (SIGTERM, then SIGKILL after `STOP_GRACE`): a supervisor that
  stops while spawns are in flight has no process to stop for them yet, and a new
  supervisor could not start agents whose old copies still hold their addresses.
- ``SOCS_LIKE_LAUNCHER=off`` in the environment turns it off.

An agent started by hand (``socs-like agent ...``) does not use the launcher at all.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import json
import logging
import os
import select
import signal
import socket
import subprocess
import sys
import threading
import time
import traceback
import weakref
from typing import IO, Any, Protocol

log = logging.getLogger(__name__)

ENV_SWITCH = "SOCS_LIKE_LAUNCHER"
# What a child of a launcher that died reports: its exit status went with the launcher.
# (asyncio reports 255 when it cannot learn a child's status, too.)
UNKNOWN_EXIT = 255
READY_TIMEOUT = 60.0
STOP_GRACE = 5.0
_MAX_MESSAGE = 64 * 1024
_STOP_SIGNALS = {signal.SIGINT, signal.SIGTERM}
# What every agent imports, and the dashboard (``up`` starts it through the launcher too).
# Twisted's asyncio reactor is imported, not installed: installing it (on a loop of its own)
# is each child's first act, as in a plain agent process.
PRELOAD = (
    "autobahn.asyncio.component",
    "twisted.internet.asyncioreactor",
    "twisted.logger",
    "txaio",
    "yaml",
    "socs_like.agent",
    "socs_like.client",
    "socs_like.entry",
    "socs_like.runner",
    "socs_like.web.cli",
    "socs_like.web.server",
)


class Process(Protocol):
    """What the supervisor needs of a child: asyncio's `Process` and `LaunchedProcess` both."""

    @property
    def pid(self) -> int: ...

    @property
    def returncode(self) -> int | None: ...

    async def wait(self) -> int: ...

    def send_signal(self, sig: int) -> None: ...

    def kill(self) -> None: ...


class LauncherError(Exception):
    """The launcher could not start a child (the caller falls back to a plain process)."""


# --- the supervisor's side ---------------------------------------------------------------------


async def spawn(
    argv: list[str],
    stdout: IO[Any] | int,
    cwd: str | os.PathLike[str] | None = None,
    env: dict[str, str] | None = None,
) -> Process:
    """Start ``python -m socs_like *argv`` in folder `cwd` (default: ours) with stdout and
    stderr to `stdout`, and environment `env` (default: the launcher's, which is ours when
    it started): forked by this loop's launcher when there is one, else (or when it fails)
    as a plain process. `argv` is a command of `entry.run`: ``agent``, ``simulate`` or a
    plugin command (the dashboard's ``web``). A forked child's environment is set when it
    starts: what a module read from it at import time is the launcher's."""
    loop = asyncio.get_running_loop()
    fd = stdout if isinstance(stdout, int) else stdout.fileno()
    if os.environ.get(ENV_SWITCH, "on") != "off":
        launcher = _launchers.get(loop)
        if launcher is None:
            launcher = _launchers[loop] = Launcher(loop)
        if launcher.usable:
            try:
                return await launcher.spawn(argv, fd, cwd, env)
            except LauncherError as exc:
                log.warning("launcher: %s; starting this one as a plain process", exc)
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "socs_like",
        *argv,
        stdout=fd,
        stderr=asyncio.subprocess.STDOUT,
        cwd=cwd,
        env=env,
    )


_launchers: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, Launcher] = (
    weakref.WeakKeyDictionary()
)


class LaunchedProcess:
    """A child forked by the launcher, seen from the supervisor."""

    def __init__(self, pid: int, loop: asyncio.AbstractEventLoop) -> None:
        self.pid = pid
        self.returncode: int | None = None
        self._exited: asyncio.Future[int] = loop.create_future()
        # Opened now, while the child surely exists, to follow it should the launcher die.
        try:
            self._pidfd: int | None = os.pidfd_open(pid)
        except OSError:  # already gone (its exit report is on its way) or no pidfd support
            self._pidfd = None

    def _set_exit(self, code: int) -> None:
        if self._exited.done():
            return
        self.returncode = code
        self._exited.set_result(code)
        if self._pidfd is not None:
            with contextlib.suppress(ValueError, OSError):
                self._exited.get_loop().remove_reader(self._pidfd)
            os.close(self._pidfd)
            self._pidfd = None

    def _follow_alone(self) -> None:
        """The launcher is gone: learn of this child's exit through its pidfd."""
        if self._exited.done():
            return
        if self._pidfd is None:
            self._set_exit(UNKNOWN_EXIT)
            return
        self._exited.get_loop().add_reader(self._pidfd, self._set_exit, UNKNOWN_EXIT)

    async def wait(self) -> int:
        return await asyncio.shield(self._exited)

    def send_signal(self, sig: int) -> None:
        if self.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, sig)

    def terminate(self) -> None:
        self.send_signal(signal.SIGTERM)

    def kill(self) -> None:
        self.send_signal(signal.SIGKILL)


class Launcher:
    """The connection to one launcher process; used by `spawn` on one event loop."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._sock, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        self._children: dict[int, LaunchedProcess] = {}
        self._replies: list[asyncio.Future[dict[str, Any]]] = []
        self._ready: asyncio.Future[None] = loop.create_future()
        self._lost = False
        # Exit codes of children that exited before their spawn reply was read.
        self._early_exits: dict[int, list[int]] = {}
        try:
            self.process: subprocess.Popen[bytes] | None = subprocess.Popen(
                [sys.executable, "-m", "socs_like.launcher", str(theirs.fileno())],
                pass_fds=[theirs.fileno()],
                stdin=subprocess.DEVNULL,
            )
        except OSError as exc:
            self.process = None
            self._lose(f"cannot start the launcher: {exc}")
            return
        finally:
            theirs.close()
        self._sock.setblocking(False)
        loop.add_reader(self._sock.fileno(), self._read)

    @property
    def usable(self) -> bool:
        return not self._lost

    async def spawn(
        self,
        argv: list[str],
        fd: int,
        cwd: str | os.PathLike[str] | None = None,
        env: dict[str, str] | None = None,
    ) -> LaunchedProcess:
        try:
            await asyncio.wait_for(asyncio.shield(self._ready), READY_TIMEOUT)
        except TimeoutError:
            self._lose(f"not ready after {READY_TIMEOUT:.0f} s")
            self.stop()
        if self._lost:
            raise LauncherError("the launcher is gone")
        reply: asyncio.Future[dict[str, Any]] = self._loop.create_future()
        self._replies.append(reply)
        try:
            request = {"argv": argv, "cwd": None if cwd is None else os.fspath(cwd), "env": env}
            socket.send_fds(self._sock, [json.dumps(request).encode()], [fd])
        except OSError as exc:
            self._replies.remove(reply)
            self._lose(f"cannot reach the launcher: {exc}")
            raise LauncherError("the launcher is gone") from None
        answer = await reply
        if "pid" not in answer:
            raise LauncherError(f"the launcher could not fork: {answer.get('error')}")
        child = LaunchedProcess(answer["pid"], self._loop)
        self._children[child.pid] = child
        for early in self._early_exits.pop(child.pid, []):
            child._set_exit(early)
        if self._lost:  # lost between its reply and now: _lose did not see this child
            self._children.pop(child.pid, None)
            child._follow_alone()
        return child

    def _read(self) -> None:
        while True:
            try:
                data = self._sock.recv(_MAX_MESSAGE)
            except BlockingIOError:
                return
            except OSError:
                data = b""
            if not data:
                self._lose("the launcher exited")
                return
            self._handle(json.loads(data))

    def _handle(self, message: dict[str, Any]) -> None:
        if "ready" in message:
            if not self._ready.done():
                self._ready.set_result(None)
        elif "exit" in message:
            child = self._children.pop(message["exit"], None)
            if child is not None:
                child._set_exit(int(message["code"]))
            else:
                self._early_exits.setdefault(message["exit"], []).append(int(message["code"]))
        elif self._replies:
            reply = self._replies.pop(0)
            if not reply.done():
                reply.set_result(message)

    def _lose(self, why: str) -> None:
        if self._lost:
            return
        self._lost = True
        log.warning("launcher: %s; plain processes from now on", why)
        with contextlib.suppress(ValueError, OSError):
            self._loop.remove_reader(self._sock.fileno())
        self._sock.close()
        if not self._ready.done():
            self._ready.set_result(None)
        for reply in self._replies:
            if not reply.done():
                reply.set_result({"error": why})
        self._replies.clear()
        for child in self._children.values():
            child._follow_alone()
        self._children.clear()
        if self.process is not None:
            # Reap it (it is gone, or going: its socket is closed) without blocking the loop.
            threading.Thread(target=self.process.wait, daemon=True).start()

    def stop(self) -> None:
        """Stop the launcher (its children keep running)."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()  # it ignores SIGTERM (see serve)
        self._lose("stopped")


# --- the launcher process -------------------------------------------------------------------


def preload() -> list[str]:
    """Import what every agent needs, and every installed agent class; returns what failed."""
    import importlib
    import importlib.metadata

    for name in PRELOAD:
        importlib.import_module(name)
    failed = []
    for entry in importlib.metadata.entry_points(group="socs_like.agents"):
        try:
            entry.load()
        except Exception as exc:  # the child reports it properly when it loads the class
            failed.append(f"{entry.name}: {type(exc).__name__}: {exc}")
    if "twisted.internet.reactor" in sys.modules:
        raise RuntimeError("an agent package imported Twisted's reactor at import time")
    return failed


def serve(sock: socket.socket) -> int:
    """Fork a child per request until the socket closes."""
    # Ctrl-C, or a SIGTERM sent to the whole process group, is the supervisor's to handle: it
    # stops the agents, and the launcher leaves when the supervisor's socket closes.
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, signal.SIG_IGN)
    try:
        failed = preload()
    except Exception as exc:
        print(f"socs-like launcher: {exc}", file=sys.stderr, flush=True)
        return 1
    for line in failed:
        print(f"socs-like launcher: cannot preload {line}", file=sys.stderr, flush=True)
    if threading.active_count() > 1:
        # Forking a process with threads copies locks held by threads that do not exist in
        # the child: a deadlock waiting to happen.
        print("socs-like launcher: a preloaded package started a thread", file=sys.stderr)
        return 1
    gc.collect()
    gc.freeze()
    wake_r, wake_w = os.pipe()
    os.set_blocking(wake_w, False)
    signal.set_wakeup_fd(wake_w)
    signal.signal(signal.SIGCHLD, lambda *_: None)
    sock.send(json.dumps({"ready": os.getpid()}).encode())
    live: set[int] = set()
    while True:
        live -= _reap(sock)
        readable, _, _ = select.select([sock.fileno(), wake_r], [], [])
        if wake_r in readable:
            os.read(wake_r, 4096)
        if sock.fileno() not in readable:
            continue
        message, fds, _, _ = socket.recv_fds(sock, _MAX_MESSAGE, 4)
        if not message:
            _stop_children(live)
            return 0
        try:
            request = json.loads(message)
            argv, cwd, env = request["argv"], request.get("cwd"), request.get("env")
            if len(fds) != 1 or not isinstance(argv, list) or not isinstance(env, dict | None):
                raise ValueError("a request is {'argv': [...]} with one file descriptor")
            pid = _fork()
        except Exception as exc:
            for fd in fds:
                os.close(fd)
            sock.send(json.dumps({"error": f"{type(exc).__name__}: {exc}"}).encode())
            continue
        if pid == 0:
            for fd in (sock.fileno(), wake_r, wake_w):
                os.close(fd)
            _child(argv, fds, cwd, env)
        for fd in fds:
            os.close(fd)
        live.add(pid)
        sock.send(json.dumps({"pid": pid}).encode())


def _fork() -> int:
    """`os.fork`, with SIGINT and SIGTERM held in the child until `_child` undoes our SIG_IGN.

    The supervisor learns the child's pid at once and may stop it at once: blocked, such a
    SIGTERM waits for the child's own disposition (Linux keeps a blocked signal pending even
    while it is ignored) instead of vanishing, which left the child running until SIGKILL."""
    signal.pthread_sigmask(signal.SIG_BLOCK, _STOP_SIGNALS)
    try:
        pid = os.fork()
    except BaseException:
        signal.pthread_sigmask(signal.SIG_UNBLOCK, _STOP_SIGNALS)
        raise
    if pid != 0:
        signal.pthread_sigmask(signal.SIG_UNBLOCK, _STOP_SIGNALS)
    return pid


def _reap(sock: socket.socket | None) -> set[int]:
    """Reap the children that exited (and report them on `sock`); their pids."""
    reaped: set[int] = set()
    while True:
        try:
            pid, status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return reaped
        if pid == 0:
            return reaped
        reaped.add(pid)
        if sock is not None:
            code = os.waitstatus_to_exitcode(status)
            sock.send(json.dumps({"exit": pid, "code": code}).encode())


def _stop_children(live: set[int]) -> None:
    for sig, grace in ((signal.SIGTERM, STOP_GRACE), (signal.SIGKILL, STOP_GRACE)):
        for pid in live:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, sig)
        deadline = time.monotonic() + grace
        while live and time.monotonic() < deadline:
            live -= _reap(None)
            time.sleep(0.02)


def _child(argv: list[str], fds: list[int], cwd: str | None, env: dict[str, str] | None) -> None:
    """Become ``python -m socs_like *argv`` (through `entry.run`) in folder `cwd`, with
    environment `env` (when given); never returns."""
    code: Any = 1
    try:
        if cwd is not None:
            os.chdir(cwd)
        if env is not None:
            os.environ.clear()
            os.environ.update(env)
        signal.set_wakeup_fd(-1)
        for sig in (signal.SIGCHLD, signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, signal.SIG_DFL)
        signal.pthread_sigmask(signal.SIG_UNBLOCK, _STOP_SIGNALS)  # one sent already ends us
        os.dup2(fds[0], 1)
        os.dup2(fds[0], 2)
        os.close(fds[0])
        sys.argv = [sys.argv[0], *argv]
        from .entry import run

        code = run(argv)
    except SystemExit as exc:
        code = exc.code
    except BaseException:
        traceback.print_exc()
    finally:
        logging.shutdown()
        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(Exception):
                stream.flush()
        if code is None:
            code = 0
        elif not isinstance(code, int):
            print(code, file=sys.stderr, flush=True)
            code = 1
        os._exit(code)


def main(argv: list[str]) -> int:
    sock = socket.socket(fileno=int(argv[0]))
    try:
        return serve(sock)
    except BrokenPipeError:  # the supervisor is gone
        return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
