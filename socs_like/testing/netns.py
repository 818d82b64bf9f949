"""Hosts as network namespaces: a site on several hosts, and faults between them.

`Network` makes hosts (``ip netns``), each wired by a veth pair to one router namespace:
host *i* is ``10.231.<i>.2/24`` behind the router's ``10.231.<i>.1``. These addresses exist
only inside the namespaces a network makes (nothing is added to the machine's own network),
so a test's traffic never leaves them. Faults are made at the router:

- `partition` (both ways) and `partition(..., one_way=True)`: a ``blackhole`` policy rule
  drops the packets from one host's link to another's without a word: no reset, no ICMP, no
  socket closes (the half-open case a pulled cable or a dead switch makes);
- `link_down`/`link_up`: the router's end of a host's link goes down (the host sees no
  carrier; its sockets stay, its packets go nowhere);
- `limit_rate`/`unlimit_rate`: a token bucket (``tbf``) on both ends of a host's link.

What the kernel of the machines we run on allowed when this was written (so what we use):
no iptables or nft binaries, no netem, no tc classifiers or actions (u32, matchall, gact), so
no delay and no random loss; ``ip rule ... blackhole``, ``tbf`` and link state work.

A host runs processes (`Host.command`, `Host.popen`) and code of the test (`Host.call` runs
a function in a thread that joined the host's namespace: sockets it opens and processes it
starts are the host's; `Host.run` runs a coroutine on an event loop of the host's, for the
asyncio clients). `close` ends every process in the namespaces and deletes them, links and
all. Namespaces are named ``socslike-<pid>-<n>-<host>``: those of a test process that died
are deleted by the next one (`remove_stale`).

It needs root. The `network` fixture skips, with one line, when not run as root; as root,
a failure to make namespaces fails the test (CI runs as root and must run these tests).
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import ipaddress
import itertools
import os
import re
import signal
import subprocess
import threading
from collections.abc import Callable, Coroutine, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, TypeVar

import pytest

from .procs import process_alive
from .util import wait_until

T = TypeVar("T")

PREFIX = "socslike-"
# 10.231.<i>.0/24 is host i's link; a /16 no test machine's own network should use.
SUBNET = ipaddress.IPv4Network("10.231.0.0/16")
MAX_HOSTS = 254
_HOST_NAME = re.compile(r"^[a-z][a-z0-9]{0,15}$")
_NAME = re.compile(rf"^{PREFIX}(\d+)-\d+-[a-z][a-z0-9]*$")
_CLONE_NEWNET = 0x40000000
_counter = itertools.count()


class NetnsError(Exception):
    """A namespace or link could not be made or changed; the text says which command."""


# --- the plan: names, addresses, commands (no I/O) --------------------------------------------


def namespace_name(pid: int, network: int, host: str) -> str:
    return f"{PREFIX}{pid}-{network}-{host}"


def stale_namespaces(names: Iterable[str], alive: Callable[[int], bool]) -> list[str]:
    """The namespaces of ours whose test process is gone."""
    stale = []
    for name in names:
        match = _NAME.match(name)
        if match and not alive(int(match.group(1))):
            stale.append(name)
    return stale


def link_subnet(index: int) -> ipaddress.IPv4Network:
    """Host `index`'s link (1, 2, ...)."""
    if not 1 <= index <= MAX_HOSTS:
        raise ValueError(f"host index {index} is not in 1..{MAX_HOSTS}")
    return ipaddress.IPv4Network(f"{SUBNET.network_address + (index << 8)}/24")


def host_address(index: int) -> str:
    return str(link_subnet(index).network_address + 2)


def router_address(index: int) -> str:
    return str(link_subnet(index).network_address + 1)


def router_port(index: int) -> str:
    """The router's end of host `index`'s link (its host end is ``eth0``)."""
    return f"h{index}"


def link_commands(router: str, host: str, index: int) -> list[list[str]]:
    """The ``ip`` commands that wire host namespace `host` to `router` as host `index`."""
    port = router_port(index)
    return [
        ["ip", "-n", host, "link", "set", "lo", "up"],
        ["ip", "-n", router, "link", "add", port, "type", "veth", "peer", "eth0", "netns", host],
        ["ip", "-n", router, "addr", "add", f"{router_address(index)}/24", "dev", port],
        ["ip", "-n", router, "link", "set", port, "up"],
        ["ip", "-n", host, "addr", "add", f"{host_address(index)}/24", "dev", "eth0"],
        ["ip", "-n", host, "link", "set", "eth0", "up"],
        ["ip", "-n", host, "route", "add", "default", "via", router_address(index)],
    ]


def drop_rule(router: str, action: str, source: int, target: int) -> list[str]:
    """``ip rule`` `action` (add/del) of the rule that drops what host `source` sends to host
    `target` at the router, silently (``blackhole``: no ICMP, unlike prohibit/unreachable)."""
    return [
        "ip",
        "-n",
        router,
        "rule",
        action,
        "from",
        str(link_subnet(source)),
        "to",
        str(link_subnet(target)),
        "blackhole",
    ]


def rate_commands(namespace: str, device: str, kbit: int | None, queue_ms: int = 5000) -> list[str]:
    """A token bucket of `kbit` kbit/s on `device`'s egress, or (None) none; a packet queues
    at most `queue_ms` before it is dropped."""
    if kbit is None:
        return ["tc", "-n", namespace, "qdisc", "del", "dev", device, "root"]
    # burst: at least one full-size packet per tick
    return [
        *("tc", "-n", namespace, "qdisc", "replace", "dev", device, "root", "tbf"),
        *("rate", f"{kbit}kbit", "burst", "16kb", "latency", f"{queue_ms}ms"),
    ]


# --- the shell --------------------------------------------------------------------------------


def _ip(*argv: str) -> str:
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=30)
    except FileNotFoundError:
        raise NetnsError(f"{argv[0]} is not installed (iproute2)") from None
    if done.returncode != 0:
        raise NetnsError(f"{' '.join(argv)}: {done.stderr.strip() or done.returncode}")
    return done.stdout


def _namespaces() -> list[str]:
    return [line.split()[0] for line in _ip("ip", "netns", "list").splitlines() if line.strip()]


def _enter(namespace: str) -> None:
    """Move the calling thread into `namespace` (its sockets and children are then there)."""
    libc = ctypes.CDLL(None, use_errno=True)
    fd = os.open(f"/run/netns/{namespace}", os.O_RDONLY)
    try:
        if libc.setns(fd, _CLONE_NEWNET) != 0:
            errno = ctypes.get_errno()
            raise NetnsError(f"setns({namespace}): {os.strerror(errno)}")
    finally:
        os.close(fd)


def _pids(namespace: str) -> list[int]:
    """The processes in `namespace` (all started by the test: never this one)."""
    pids = [int(p) for p in _ip("ip", "netns", "pids", namespace).split()]
    return [pid for pid in pids if pid != os.getpid()]


def _end_processes(namespace: str) -> None:
    """SIGTERM, then (after 5 s) SIGKILL, every process left in `namespace`."""
    pids = _pids(namespace)
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
    try:
        wait_until(lambda: not any(map(process_alive, pids)), 5, 0.05)
    except AssertionError:
        for pid in _pids(namespace):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)


def _delete(namespace: str) -> None:
    _end_processes(namespace)
    _ip("ip", "netns", "del", namespace)


def remove_stale() -> list[str]:
    """Delete the namespaces a test process that died left behind; returns their names.

    Another test process may be removing the same ones at the same time (each does when it
    opens a network): one that is gone meanwhile is gone, not an error."""
    stale = stale_namespaces(_namespaces(), process_alive)
    for name in stale:
        try:
            _delete(name)
        except NetnsError:
            if name in _namespaces():
                raise
    return stale


@dataclass
class Host:
    """One host of a `Network`: a namespace at `address`."""

    name: str
    namespace: str
    index: int
    address: str
    _processes: list[subprocess.Popen[bytes]] = field(default_factory=list, repr=False)
    _loop: asyncio.AbstractEventLoop | None = field(default=None, repr=False)
    _loop_thread: threading.Thread | None = field(default=None, repr=False)
    _caller: ThreadPoolExecutor | None = field(default=None, repr=False)

    def command(self, argv: list[str]) -> list[str]:
        """`argv` run in this host."""
        return ["ip", "netns", "exec", self.namespace, *argv]

    def popen(self, argv: list[str], **kwargs: Any) -> subprocess.Popen[bytes]:
        """Start `argv` in this host (`subprocess.Popen` keywords); ended at `close`."""
        process = subprocess.Popen(self.command(argv), **kwargs)
        self._processes.append(process)
        return process

    def call(self, func: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """``func(*args, **kwargs)`` in this host's thread; its result or exception. The
        thread lives as long as the host: a process it starts with a parent-death signal (the
        hub's crossbar) would die with a thread that ended."""
        if self._caller is None:
            self._caller = ThreadPoolExecutor(
                1, f"netns-{self.name}", initializer=_enter, initargs=(self.namespace,)
            )
        return self._caller.submit(func, *args, **kwargs).result()

    def run(self, coro: Coroutine[Any, Any, T], timeout: float | None = None) -> T:
        """Run `coro` on this host's event loop (a thread inside the host) and return its
        result; `TimeoutError` after `timeout` s."""
        if self._loop is None:
            ready: Future[asyncio.AbstractEventLoop] = Future()

            def serve() -> None:
                try:
                    _enter(self.namespace)
                except NetnsError as exc:
                    ready.set_exception(exc)
                    return
                loop = asyncio.new_event_loop()
                ready.set_result(loop)
                loop.run_forever()
                loop.close()

            self._loop_thread = threading.Thread(
                target=serve, name=f"netns-loop-{self.name}", daemon=True
            )
            self._loop_thread.start()
            self._loop = ready.result()
        future = asyncio.run_coroutine_threadsafe(coro, self._loop)
        try:
            return future.result(timeout)
        except TimeoutError:
            future.cancel()
            raise

    def _close(self) -> None:
        for process in self._processes:
            if process.poll() is None:
                process.terminate()
                try:
                    process.wait(5)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()
        if self._loop is not None and self._loop_thread is not None:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._loop_thread.join(5)
            self._loop = None
        if self._caller is not None:
            self._caller.shutdown()
            self._caller = None


class Network:
    """Hosts behind one router namespace, and the faults between them (see the module doc).

    Host arguments are `Host` objects or their names."""

    def __init__(self) -> None:
        self._pid = os.getpid()
        self._number = next(_counter)
        self.router = namespace_name(self._pid, self._number, "router")
        self.hosts: dict[str, Host] = {}
        self._drops: set[tuple[int, int]] = set()
        self._limited: set[int] = set()
        self._made: list[str] = []

    def __enter__(self) -> Network:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def add_host(self, name: str) -> Host:
        """A new host ``name`` (lower-case letters and digits, at most 16)."""
        if not _HOST_NAME.match(name) or name == "router":
            raise ValueError(f"host name {name!r}: lower-case letters and digits, not 'router'")
        if name in self.hosts:
            raise ValueError(f"host {name!r} exists already")
        if not self._made:
            self._add_namespace(self.router)
            _ip("ip", "-n", self.router, "link", "set", "lo", "up")
            _ip("ip", "netns", "exec", self.router, "sysctl", "-qw", "net.ipv4.ip_forward=1")
        index = len(self.hosts) + 1
        host = Host(name, namespace_name(self._pid, self._number, name), index, host_address(index))
        self._add_namespace(host.namespace)
        for argv in link_commands(self.router, host.namespace, index):
            _ip(*argv)
        self.hosts[name] = host
        return host

    def _add_namespace(self, name: str) -> None:
        _ip("ip", "netns", "add", name)
        self._made.append(name)

    def host(self, host: Host | str) -> Host:
        return self.hosts[host if isinstance(host, str) else host.name]

    def partition(self, a: Host | str, b: Host | str, *, one_way: bool = False) -> None:
        """From now on what `a` sends to `b` is lost, and (unless `one_way`) what `b` sends
        to `a`; no socket is told."""
        pairs = [(self.host(a).index, self.host(b).index)]
        if not one_way:
            pairs.append(pairs[0][::-1])
        for pair in pairs:
            if pair not in self._drops:
                _ip(*drop_rule(self.router, "add", *pair))
                self._drops.add(pair)

    def heal(self, a: Host | str | None = None, b: Host | str | None = None) -> None:
        """End the partitions between `a` and `b` (both ways), or (no hosts) every one."""
        if a is None or b is None:
            pairs = set(self._drops)
        else:
            i, j = self.host(a).index, self.host(b).index
            pairs = {(i, j), (j, i)} & self._drops
        for pair in sorted(pairs):
            _ip(*drop_rule(self.router, "del", *pair))
            self._drops.discard(pair)

    def link_down(self, host: Host | str) -> None:
        """Take the router's end of `host`'s link down (the host loses carrier)."""
        _ip("ip", "-n", self.router, "link", "set", router_port(self.host(host).index), "down")

    def link_up(self, host: Host | str) -> None:
        _ip("ip", "-n", self.router, "link", "set", router_port(self.host(host).index), "up")

    def limit_rate(self, host: Host | str, kbit: int | None, queue_ms: int = 5000) -> None:
        """Limit `host`'s link to `kbit` kbit/s each way; None lifts the limit. A packet
        waits at most `queue_ms` in the link's queue: a long queue loses nothing, but a
        connection opened beside a busy one waits that long for each of its round trips."""
        h = self.host(host)
        if kbit is None and h.index not in self._limited:
            return
        _ip(*rate_commands(h.namespace, "eth0", kbit, queue_ms))
        _ip(*rate_commands(self.router, router_port(h.index), kbit, queue_ms))
        if kbit is None:
            self._limited.discard(h.index)
        else:
            self._limited.add(h.index)

    def close(self) -> None:
        """End every process in the hosts and delete every namespace (and so every link)."""
        errors = []
        for host in self.hosts.values():
            host._close()
        for name in reversed(self._made):
            try:
                _delete(name)
            except NetnsError as exc:
                errors.append(str(exc))
        self._made.clear()
        self.hosts.clear()
        if errors:
            raise NetnsError("; ".join(errors))


def netns_unavailable() -> str | None:
    """Why this process cannot make namespaces (one line), or None."""
    if os.geteuid() != 0:
        return "network namespaces need root (ip netns): run the tests as root"
    return None


@contextlib.contextmanager
def open_network() -> Iterator[Network]:
    """A `Network`, removed at the end; skips when not root, fails (does not skip) when root
    cannot make namespaces. For a fixture of wider scope than `network`'s."""
    reason = netns_unavailable()
    if reason:
        pytest.skip(reason)
    remove_stale()
    with Network() as net:
        yield net


@pytest.fixture
def network() -> Iterator[Network]:
    """A `Network` of this test's own: ``network.add_host("hub")`` ...; removed at the end.

    Skips when not root; fails (does not skip) when root cannot make namespaces."""
    with open_network() as net:
        yield net
