"""The namespace hosts of the test kit: the plan without root, the real thing as root."""

import asyncio
import ipaddress
import os
import socket
import subprocess
import sys
import threading
import time

import pytest

from socs_like.commands import on_lifelong_thread
from socs_like.testing import netns, process_alive, wait_until
from socs_like.testing.netns import (
    Network,
    drop_rule,
    host_address,
    link_commands,
    link_subnet,
    namespace_name,
    rate_commands,
    router_address,
    stale_namespaces,
)

# --- the plan -----------------------------------------------------------------------------------


def test_addresses_are_on_each_hosts_own_link_inside_the_private_range():
    assert (host_address(1), router_address(1)) == ("10.231.1.2", "10.231.1.1")
    assert host_address(254) == "10.231.254.2"
    for i in (1, 2, 254):
        assert link_subnet(i).subnet_of(netns.SUBNET)
        assert ipaddress.ip_address(host_address(i)) in link_subnet(i)
    assert len({link_subnet(i) for i in range(1, 255)}) == 254
    for bad in (0, 255):
        with pytest.raises(ValueError, match=r"not in 1\.\.254"):
            link_subnet(bad)


def test_every_command_acts_inside_a_namespace_of_ours():
    commands = link_commands("socslike-1-0-router", "socslike-1-0-hub", 3)
    for argv in commands:
        assert argv[:2] == ["ip", "-n"] and argv[2].startswith(netns.PREFIX)
    text = " ".join(" ".join(argv) for argv in commands)
    addresses = [w.split("/")[0] for w in text.split() if w.count(".") == 3]
    assert addresses and all(ipaddress.ip_address(a) in netns.SUBNET for a in addresses)
    assert ["ip", "-n", "socslike-1-0-hub", "link", "set", "lo", "up"] in commands


def test_a_partition_is_a_silent_drop_at_the_router():
    rule = drop_rule("R", "add", 2, 1)
    assert rule == [
        *("ip", "-n", "R", "rule", "add"),
        *("from", "10.231.2.0/24", "to", "10.231.1.0/24", "blackhole"),
    ]  # blackhole drops; prohibit and unreachable would answer with ICMP
    assert rate_commands("N", "eth0", 800)[-6:] == [
        *("rate", "800kbit", "burst", "16kb", "latency", "5000ms")
    ]
    assert rate_commands("N", "eth0", 800, queue_ms=200)[-2:] == ["latency", "200ms"]
    assert rate_commands("N", "eth0", None) == [
        *("tc", "-n", "N", "qdisc", "del", "dev", "eth0", "root")
    ]


def test_stale_namespaces_are_ours_whose_process_is_gone():
    names = [
        namespace_name(11, 0, "hub"),
        namespace_name(11, 0, "router"),
        namespace_name(22, 3, "daq"),
        "socslike-oops",
        "someone-elses-11-0-hub",
    ]
    assert stale_namespaces(names, alive=lambda pid: pid == 22) == names[:2]
    assert stale_namespaces(names, alive=lambda pid: True) == []


def test_host_names_are_checked_before_anything_is_made():
    net = Network()
    for bad in ("Hub", "router", "a-b", "x" * 17, "1a"):
        with pytest.raises(ValueError, match="host name"):
            net.add_host(bad)
    assert not net.hosts


def test_without_root_the_reason_is_one_line(monkeypatch):
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    assert netns.netns_unavailable() == (
        "network namespaces need root (ip netns): run the tests as root"
    )
    monkeypatch.setattr(os, "geteuid", lambda: 0)
    assert netns.netns_unavailable() is None


# --- the real thing (root) ---------------------------------------------------------------------


def _server(host):
    server = host.call(socket.create_server, (host.address, 0))
    server.settimeout(10)
    return server, server.getsockname()[1]


def _connected_pair(a, b):
    """A TCP connection from host `a` to a server in host `b`: (a's end, b's end)."""
    server, port = _server(b)
    client = a.call(socket.create_connection, (b.address, port), 5)
    accepted, _ = server.accept()
    server.close()
    return client, accepted


def _connect_outcome(a, b, port, timeout=1.5):
    try:
        a.call(socket.create_connection, (b.address, port), timeout).close()
    except TimeoutError:
        return "timeout"
    except OSError as exc:
        return type(exc).__name__
    return "connected"


def _receives(sock, timeout):
    sock.settimeout(timeout)
    try:
        return sock.recv(65536)
    except TimeoutError:
        return b""


def test_hosts_reach_each_other_by_address_only_on_their_links(network):
    hub, daq = network.add_host("hub"), network.add_host("daq")
    assert (hub.address, daq.address) == ("10.231.1.2", "10.231.2.2")
    a, b = _connected_pair(daq, hub)
    a.sendall(b"hello")
    assert _receives(b, 5) == b"hello"
    # loopback is up in each host, and each host has its own
    local = hub.call(socket.create_server, ("127.0.0.1", 0))
    port = local.getsockname()[1]
    hub.call(socket.create_connection, ("127.0.0.1", port), 2).close()
    assert _connect_outcome(daq, daq, port) != "connected"  # not daq's 127.0.0.1:port
    local.close()
    for s in (a, b):
        s.close()
    # the machine's own network has none of these addresses
    assert "10.231." not in subprocess.run(["ip", "addr"], capture_output=True, text=True).stdout


def test_a_partition_drops_packets_without_closing_sockets_and_heals(network):
    hub, daq = network.add_host("hub"), network.add_host("daq")
    a, b = _connected_pair(daq, hub)
    server, port = _server(hub)

    network.partition(daq, hub)
    a.sendall(b"into the void")  # no error: the socket is not told
    assert _receives(b, 2) == b""
    b.sendall(b"nor back")
    assert _receives(a, 1) == b""
    assert _connect_outcome(daq, hub, port) == "timeout"  # not refused: nothing answers

    network.heal(daq, hub)
    assert _receives(b, 30) == b"into the void"  # TCP sent it again: the connection lived
    assert _receives(a, 30) == b"nor back"
    assert _connect_outcome(daq, hub, port, timeout=10) == "connected"
    for s in (a, b, server):
        s.close()


def test_a_one_way_partition_loses_only_one_direction(network):
    hub, daq = network.add_host("hub"), network.add_host("daq")
    hub_in = hub.call(socket.socket, socket.AF_INET, socket.SOCK_DGRAM)
    daq_in = daq.call(socket.socket, socket.AF_INET, socket.SOCK_DGRAM)
    hub_in.bind((hub.address, 0))
    daq_in.bind((daq.address, 0))

    network.partition(daq, hub, one_way=True)  # what daq sends to hub is lost
    for _ in range(3):
        daq_in.sendto(b"from daq", hub_in.getsockname())
        hub_in.sendto(b"from hub", daq_in.getsockname())
    assert _receives(daq_in, 5) == b"from hub"
    assert _receives(hub_in, 1) == b""
    # TCP needs both ways: a connection from either side hangs, and is refused by nobody
    server, port = _server(hub)
    assert _connect_outcome(daq, hub, port) == "timeout"

    network.heal()
    daq_in.sendto(b"again", hub_in.getsockname())
    assert _receives(hub_in, 5) == b"again"
    for s in (hub_in, daq_in, server):
        s.close()


def test_a_link_down_loses_the_hosts_packets_and_its_connections_live_on(network):
    hub, daq = network.add_host("hub"), network.add_host("daq")
    a, b = _connected_pair(daq, hub)
    server, port = _server(hub)

    network.link_down(daq)
    link = subprocess.run(["ip", "-n", daq.namespace, "link", "show", "eth0"], capture_output=True)
    assert b"NO-CARRIER" in link.stdout
    a.sendall(b"while down")
    assert _receives(b, 2) == b""
    assert _connect_outcome(daq, hub, port) != "connected"

    network.link_up(daq)
    assert _receives(b, 30) == b"while down"
    for s in (a, b, server):
        s.close()


def test_a_rate_limit_slows_the_link(network):
    hub, daq = network.add_host("hub"), network.add_host("daq")
    a, b = _connected_pair(daq, hub)
    payload = b"x" * 200_000

    def transfer():
        started = time.monotonic()
        a.sendall(payload)
        got = 0
        b.settimeout(30)
        while got < len(payload):
            got += len(b.recv(65536))
        return time.monotonic() - started

    network.limit_rate(daq, 800)  # 100 kB/s: 200 kB take about 2 s
    assert transfer() > 1.5
    network.limit_rate(daq, None)
    transfer()  # the link carries again (how fast is the machine's business)
    for s in (a, b):
        s.close()


def test_code_and_processes_run_inside_a_host(network):
    hub = network.add_host("hub")

    async def local_names():
        _, writer = await asyncio.open_connection(hub.address, port)
        writer.close()
        return writer.get_extra_info("sockname")[0]

    server, port = _server(hub)
    assert hub.run(local_names(), 10) == hub.address
    server.close()
    out = subprocess.run(
        hub.command([sys.executable, "-c", "import socket; print(socket.gethostname())"]),
        capture_output=True,
        text=True,
        check=True,
    )
    assert out.stdout.strip() == socket.gethostname()  # same machine, other network
    ips = subprocess.run(hub.command(["ip", "-4", "-o", "addr"]), capture_output=True, text=True)
    assert f"inet {hub.address}/24" in ips.stdout and "inet 127.0.0.1/8" in ips.stdout


def test_close_ends_every_process_and_removes_every_namespace():
    if netns.netns_unavailable():
        pytest.skip(netns.netns_unavailable())
    net = Network()
    hub = net.add_host("hub")
    net.add_host("daq")
    # a child that starts a grandchild of its own: both live in the host
    parent = hub.popen(["sh", "-c", "sleep 300 & sleep 300"])
    names = [net.router, *(h.namespace for h in net.hosts.values())]
    assert set(names) <= set(netns._namespaces())
    wait_until(lambda: len(_pids(hub.namespace)) >= 2, 10, message="both sleeps")
    pids = _pids(hub.namespace)
    net.close()
    assert not set(names) & set(netns._namespaces())
    assert parent.poll() is not None
    assert not any(map(process_alive, pids))


def _left_by_a_dead_test_process() -> str:
    """A namespace named for a test process that is gone (made here: mind to delete it)."""
    if netns.netns_unavailable():
        pytest.skip(netns.netns_unavailable())
    gone = subprocess.Popen(["true"])
    gone.wait()
    name = namespace_name(gone.pid, 0, "hub")
    subprocess.run(["ip", "netns", "add", name], check=True)
    return name


def test_namespaces_a_dead_test_process_left_are_removed():
    name = _left_by_a_dead_test_process()
    try:
        assert name in netns.remove_stale()
    finally:
        subprocess.run(["ip", "netns", "del", name], capture_output=True)
    assert name not in netns._namespaces()


def test_a_stale_namespace_another_test_process_removes_first_is_no_error(monkeypatch):
    # Every test process removes stale namespaces when it opens a network: two did at once on
    # CI, and the one that came second failed its test's setup on "No such file".
    name = _left_by_a_dead_test_process()

    def the_other_process_deletes_it(namespace: str) -> None:  # just before our own del
        subprocess.run(["ip", "netns", "del", namespace], check=True)

    monkeypatch.setattr(netns, "_end_processes", the_other_process_deletes_it)
    try:
        assert name in netns.remove_stale()
    finally:
        subprocess.run(["ip", "netns", "del", name], capture_output=True)
    assert name not in netns._namespaces()


def _pids(namespace):
    out = subprocess.run(["ip", "netns", "pids", namespace], capture_output=True, text=True)
    return [int(p) for p in out.stdout.split()]


def test_a_lifelong_thread_forks_in_the_callers_namespace(network):
    # A hub started from a host's thread is forked by `on_lifelong_thread`: in the root
    # namespace its crossbar could not listen on the host's address.
    hub, daq = network.add_host("hub"), network.add_host("daq")

    def where() -> int:
        return os.stat("/proc/thread-self/ns/net").st_ino

    def forked_in() -> int:
        return on_lifelong_thread(where)

    here = threading.Thread(target=lambda: seen.append(forked_in()))
    seen: list[int] = []
    here.start()
    here.join()
    assert [hub.call(forked_in), daq.call(forked_in), *seen] == [
        hub.call(where),
        daq.call(where),
        where(),
    ]
    assert len({hub.call(where), daq.call(where), where()}) == 3
