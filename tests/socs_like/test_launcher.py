"""The fork server: agents forked from a preloaded launcher, and plain processes when it is gone."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

from socs_like.client import AsyncClient, _Loop, wait_for_agent
from socs_like.launcher import UNKNOWN_EXIT, LaunchedProcess, _launchers, spawn
from socs_like.testing import run_in_new_loop


def _argv(hub, instance_id: str, *extra: str) -> list[str]:
    return [
        "agent",
        "FakeData",
        "--instance-id",
        instance_id,
        "--site-file",
        str(hub.site_file),
        *extra,
    ]


def _parent_of(pid: int) -> int:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return int(fields[1])


async def _spawn(argv: list[str], log: Path):
    with open(log, "ab") as out:
        return await spawn(argv, out)


async def _callable(hub, instance_id: str) -> dict:
    client = AsyncClient(instance_id, hub_url=hub.url, timeout=2.0)
    try:
        return await wait_for_agent(client, 30)
    finally:
        await client.close()


def test_an_agent_forked_by_the_launcher_serves_and_reports_its_exit(hub, tmp_path):
    async def scenario():
        proc = await _spawn(_argv(hub, "forked"), tmp_path / "forked.log")
        api = await _callable(hub, "forked")
        launcher = _launchers[asyncio.get_running_loop()]
        parent = _parent_of(proc.pid)
        proc.send_signal(signal.SIGTERM)
        code = await asyncio.wait_for(proc.wait(), 20)
        bad = await _spawn(_argv(hub, "bad", "--num-channels", "x"), tmp_path / "bad.log")
        bad_code = await asyncio.wait_for(bad.wait(), 20)
        launcher.stop()
        return proc, api, launcher.process.pid, parent, code, bad, bad_code

    proc, api, launcher_pid, parent, code, bad, bad_code = run_in_new_loop(scenario())
    assert isinstance(proc, LaunchedProcess) and isinstance(bad, LaunchedProcess)
    assert parent == launcher_pid  # forked by the launcher, not started by us
    assert api["agent_class"] == "FakeData" and api["instance_pid"] == proc.pid
    assert code == 0 and proc.returncode == 0
    # stdout and stderr reach the file the supervisor gave
    assert "joined the hub" in (tmp_path / "forked.log").read_text()
    assert bad_code == 2
    assert "argument --num-channels: invalid int value: 'x'" in (tmp_path / "bad.log").read_text()


def test_a_dead_launcher_falls_back_to_plain_processes(hub, tmp_path):
    async def scenario():
        first = await _spawn(_argv(hub, "orphan"), tmp_path / "orphan.log")
        await _callable(hub, "orphan")
        launcher = _launchers[asyncio.get_running_loop()]
        os.kill(launcher.process.pid, signal.SIGKILL)
        # the running agent is untouched; the next one is a plain process
        while launcher.usable:
            await asyncio.sleep(0.02)
        second = await _spawn(_argv(hub, "plain"), tmp_path / "plain.log")
        api = await _callable(hub, "plain")
        orphan_api = await _callable(hub, "orphan")
        first.send_signal(signal.SIGTERM)
        second.send_signal(signal.SIGTERM)
        codes = await asyncio.wait_for(asyncio.gather(first.wait(), second.wait()), 20)
        return first, second, api, orphan_api, codes

    first, second, api, orphan_api, codes = run_in_new_loop(scenario())
    assert isinstance(first, LaunchedProcess)
    assert isinstance(second, asyncio.subprocess.Process)
    assert api["instance_pid"] == second.pid and _parent_of_self_is(second.pid)
    assert orphan_api["instance_pid"] == first.pid
    # the orphan's exit is still seen, without its status (the launcher took it along)
    assert codes == [UNKNOWN_EXIT, 0]


def _parent_of_self_is(pid: int) -> bool:
    return not Path(f"/proc/{pid}").exists() or _parent_of(pid) == os.getpid()


def test_the_switch_turns_the_launcher_off(hub, tmp_path, monkeypatch):
    monkeypatch.setenv("SOCS_LIKE_LAUNCHER", "off")

    async def scenario():
        proc = await _spawn(_argv(hub, "unlaunched"), tmp_path / "u.log")
        await _callable(hub, "unlaunched")
        parent = _parent_of(proc.pid)
        proc.send_signal(signal.SIGTERM)
        return proc, parent, await asyncio.wait_for(proc.wait(), 20)

    proc, parent, code = run_in_new_loop(scenario())
    assert isinstance(proc, asyncio.subprocess.Process)
    assert parent == os.getpid() and code == 0


def test_the_launcher_refuses_bad_requests_and_stops_its_children_when_left(hub, tmp_path):
    """A supervisor that goes away (its socket closes) takes the agents in flight with it."""
    ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    proc = subprocess.Popen(
        [sys.executable, "-m", "socs_like.launcher", str(theirs.fileno())],
        pass_fds=[theirs.fileno()],
    )
    theirs.close()
    ours.settimeout(60)
    assert "ready" in json.loads(ours.recv(65536))
    ours.send(b"{not json")
    assert "error" in json.loads(ours.recv(65536))
    ours.send(json.dumps({"argv": ["--help"]}).encode())  # no stdout given: a clear error
    assert "error" in json.loads(ours.recv(65536))
    with open(tmp_path / "left.log", "wb") as out:
        request = json.dumps({"argv": _argv(hub, "left")}).encode()
        socket.send_fds(ours, [request], [out.fileno()])
    pid = json.loads(ours.recv(65536))["pid"]
    assert _parent_of(pid) == proc.pid
    ours.close()
    assert proc.wait(30) == 0
    assert not Path(f"/proc/{pid}").exists()  # stopped and reaped before the launcher left


def test_a_child_stopped_the_moment_it_is_forked_ends_on_that_sigterm(hub, tmp_path):
    """A supervisor may stop a child as soon as it has its pid (`up` stopped while it starts
    its agents): that SIGTERM ends the child, where it once came before the child had undone
    the launcher's SIG_IGN and was lost, and the child ran on until a SIGKILL."""

    async def stopped_at_once(instance_id: str) -> int:
        proc = await _spawn(_argv(hub, instance_id), tmp_path / f"{instance_id}.log")
        proc.send_signal(signal.SIGTERM)
        try:
            return await asyncio.wait_for(proc.wait(), 20)
        except TimeoutError:
            proc.kill()  # the SIGTERM was lost
            return await proc.wait()

    async def scenario():
        codes = [await stopped_at_once(f"at-once-{i}") for i in range(3)]
        _launchers[asyncio.get_running_loop()].stop()
        return codes

    codes = run_in_new_loop(scenario())
    # -SIGTERM: ended by it before its own handler was set; 0: its handler stopped it
    assert set(codes) <= {-signal.SIGTERM, 0}, codes


def test_the_tests_agents_are_forked_by_the_launcher(run_agent):
    """`run_agent` forks from the test process's launcher (`socs_like.testing.forked`): half a
    CPU-second less per agent. Its environment reaches the child: see the CA test of
    test_security, whose agent finds its CA file only through the environment it is given."""
    proc = run_agent("FakeData", "fd-forked-test")
    launcher = _launchers[_Loop.get().loop]
    assert _parent_of(proc.pid) == launcher.process.pid
    assert proc.stop() == 0 and proc.returncode == 0
