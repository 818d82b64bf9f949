"""`socs-like up`'s supervisor: restart policies, crash loops with their last line, reload
plans, and the per-instance log files (rotation, `socs-like logs`)."""

from __future__ import annotations

import asyncio
import io
import os
import tempfile
from pathlib import Path
from typing import Any

import pytest
import yaml
from rich.console import Console

from socs_like import supervisor
from socs_like.backoff import Backoff
from socs_like.logs import RotatingLog
from socs_like.logs import main as logs_main
from socs_like.site_config import SiteConfigError, load_site_config, parse_site_config
from socs_like.supervisor import ChildSpec, Supervisor, host_specs, plan_reload, should_restart

# bad arguments are refused before the start: a class not installed fails at its start
CRASH_LINE = "socs-like agent: no agent class 'Broken'"  # then the classes installed


def write_site(hub, tmp_path: Path, instances: list[dict]) -> Path:
    site_file = tmp_path / "site.yaml"
    site = yaml.safe_load(hub.site_file.read_text())
    site["hosts"] = {"localhost": {"agent-instances": instances}}
    site_file.write_text(yaml.safe_dump(site))
    return site_file


def one_child(hub, tmp_path: Path, instance: dict, **settings) -> tuple[Supervisor, Any]:
    """A supervisor (no live table, no HostManager) of one instance, and that child."""
    site_file = write_site(hub, tmp_path, [instance])
    sup = Supervisor(
        site_file,
        load_site_config(site_file),
        host="localhost",
        live_table=False,
        host_manager=False,
        **settings,
    )
    (child,) = sup.children.values()
    return sup, child


def test_a_child_that_keeps_failing_is_crash_looping_with_its_last_line(hub, tmp_path):
    sup, child = one_child(
        hub,
        tmp_path,
        {"agent-class": "Broken", "instance-id": "broken"},
        backoff=Backoff(initial=0.05, factor=2, cap=0.15),
    )

    console = Console(record=True, width=250)

    async def until_looping() -> None:
        await sup.start_all()
        try:
            while child.state != "crash-looping":
                await asyncio.sleep(0.02)
            console.print(sup.table())
        finally:
            await sup.close()

    asyncio.run(asyncio.wait_for(until_looping(), 60))
    assert child.restarts >= 2 and child.last_exit == 2
    # every quick exit backs off further (no reset between them), up to the cap
    assert child.backoff.failures >= 3
    assert child.backoff.base_delay == 0.15
    assert child.last_line.startswith(CRASH_LINE)
    shown = console.export_text()
    assert "crash-looping, retry in 0 s" in shown and CRASH_LINE in shown
    assert f"logs in {tmp_path / 'var' / 'log'}/" in shown
    # everything each run wrote is in <log-dir>/<instance-id>.log, once
    log = (tmp_path / "var" / "log" / "broken.log").read_text()
    assert log.count(CRASH_LINE) == child.restarts + 1


def test_restart_policies():
    assert should_restart("always", 0) and should_restart("always", -9)
    assert should_restart("on-failure", 1) and not should_restart("on-failure", 0)
    assert not should_restart("never", 1)


SITE = """
hub: {wamp_server: ws://localhost:8001/ws}
hosts:
  localhost:
    agent-instances:
      - {agent-class: FakeData, instance-id: a, arguments: [--num-channels, 2]}
      - {agent-class: FakeData, instance-id: b, restart: on-failure}
      - {agent-class: Registry, instance-id: unmanaged, manage: "no"}
    simulators:
      - {name: pysmurf, arguments: [--port, 1]}
"""


def test_host_specs_add_a_host_manager_and_keep_the_config_order(tmp_path):
    site = parse_site_config(SITE)
    sock = tmp_path / "host.sock"
    specs = host_specs(Path("s.yaml"), site, "localhost", sock)
    assert [(s.name, s.kind, s.policy) for s in specs] == [
        ("hm-localhost", "HostManager", "always"),
        ("a", "FakeData", "always"),
        ("b", "FakeData", "on-failure"),
        ("sim-pysmurf", "simulator", "always"),
    ]
    assert specs[0].argv[-2:] == ("--control", str(sock))
    assert specs[1].argv == (
        "agent",
        "--instance-id",
        "a",
        "--site-file",
        "s.yaml",
        "--site-host",
        "localhost",
    )
    assert host_specs(Path("s.yaml"), site, "localhost")[0].name == "a"
    twice = SITE.replace("instance-id: b", "instance-id: a")
    with pytest.raises(SiteConfigError, match="host 'localhost' lists 'a' twice"):
        host_specs(Path("s.yaml"), parse_site_config(twice), "localhost")


def test_a_web_block_adds_the_dashboard_after_the_simulators():
    site = parse_site_config(SITE + "    web:\n      arguments: [--port, 8102, --read-only]\n")
    specs = host_specs(Path("s.yaml"), site, "localhost")
    assert (specs[-1].name, specs[-1].kind, specs[-1].policy) == ("web", "dashboard", "always")
    assert specs[-1].argv == ("web", "--site-config", "s.yaml", "--port", "8102", "--read-only")
    assert all(
        s.kind != "dashboard"
        for s in host_specs(Path("s.yaml"), parse_site_config(SITE), "localhost")
    )


def test_a_bad_restart_policy_is_refused_with_its_line():
    with pytest.raises(SiteConfigError, match=r"<site config>:7: .*restart.*'always'"):
        parse_site_config(SITE.replace("restart: on-failure", "restart: sometimes"))


def test_reload_plan_adds_removes_restarts_changed_and_retunes_policies():
    def spec(name: str, config: str = "", policy: str = "always") -> ChildSpec:
        return ChildSpec(name, "FakeData", ("agent", name), policy, config)

    old = [spec("keep"), spec("gone"), spec("args", "1"), spec("policy")]
    new = [spec("keep"), spec("args", "2"), spec("policy", policy="never"), spec("new")]
    plan = plan_reload(old, new)
    assert [s.name for s in plan.added] == ["new"]
    assert plan.removed == ["gone"]
    assert [s.name for s in plan.changed] == ["args"]
    assert [(s.name, s.policy) for s in plan.retuned] == [("policy", "never")]


def test_rotating_log_keeps_its_backups_and_loses_nothing(tmp_path):
    path = tmp_path / "x.log"
    log = RotatingLog(path, max_bytes=100, backups=2)
    lines = [f"line {n:03d} {'.' * 30}\n".encode() for n in range(20)]  # 40 bytes each
    for line in lines:
        log.write(line)
    log.close()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["x.log", "x.log.1", "x.log.2"]
    kept = b"".join((tmp_path / n).read_bytes() for n in ("x.log.2", "x.log.1", "x.log"))
    assert kept == b"".join(lines[-len(kept) // 40 :])  # the newest, in order, whole
    assert all(p.stat().st_size <= 100 for p in tmp_path.iterdir())
    assert log.last_line() == lines[-1].decode().strip()


def test_last_line_is_of_this_run_only(tmp_path):
    log = RotatingLog(tmp_path / "x.log")
    log.write(b"old run: failed\n")
    log.mark()
    assert log.last_line() == ""
    log.write(b"starting\ncannot start sshd: /usr/sbin/sshd not found\n\n")
    assert log.last_line() == "cannot start sshd: /usr/sbin/sshd not found"
    assert log.last_line(limit=10) == "cannot st…"


def test_socs_like_logs_prints_the_last_lines(tmp_path, capsysbinary):
    (tmp_path / "a.log").write_bytes(b"".join(b"line %d\n" % n for n in range(100)))
    assert logs_main(["a", "-n", "3", "--log-dir", str(tmp_path)]) == 0
    assert capsysbinary.readouterr().out == b"line 97\nline 98\nline 99\n"


def test_a_childs_notices_reach_the_console_and_its_log_keeps_every_line(hub, tmp_path, capsys):
    sup, child = one_child(
        hub, tmp_path, {"agent-class": "FakeData", "instance-id": "talker", "arguments": []}
    )
    lines = [
        b"2026-11-29 03:59:10,266 talker INFO socs_like_agents.x: wrote a file\n",
        b"2026-11-29 03:59:10,267 talker INFO socs_like.notice: plot page at /var/p/index.html\n",
    ]

    async def pump() -> None:
        read_end, write_end = os.pipe()
        task = asyncio.ensure_future(sup._pump(read_end, child))
        with open(write_end, "wb", buffering=0) as out:
            data = b"".join(lines)
            for cut in range(0, len(data), 7):  # a notice split across reads still counts
                out.write(data[cut : cut + 7])
                await asyncio.sleep(0)
        await task

    asyncio.run(asyncio.wait_for(pump(), 30))
    assert sup.notices == {"talker": "plot page at /var/p/index.html"}
    printed = capsys.readouterr().out
    assert printed.endswith(" talker: plot page at /var/p/index.html\n")
    assert "wrote a file" not in printed
    assert (tmp_path / "var" / "log" / "talker.log").read_bytes() == b"".join(lines)
    console = Console(record=True, width=200)
    console.print(sup.table())
    assert "talker: plot page at /var/p/index.html" in console.export_text()


def test_a_child_stopped_while_it_is_being_spawned_is_stopped_and_close_returns(
    hub, tmp_path, monkeypatch
):
    """Ctrl-C reaches the children too: one restarted at that moment was still being
    spawned when `close` came, found no process to signal, and then ran on; `up` hung."""
    sup, child = one_child(
        hub, tmp_path, {"agent-class": "FakeData", "instance-id": "late", "arguments": []}
    )
    real_spawn = supervisor.spawn
    spawning = asyncio.Event()

    async def slow_spawn(argv, out, cwd):
        spawning.set()
        await asyncio.sleep(1.0)
        return await real_spawn(argv, out, cwd)

    monkeypatch.setattr(supervisor, "spawn", slow_spawn)

    async def stop_mid_spawn() -> None:
        await sup.start_all()
        await spawning.wait()
        await sup.close()
        assert child.keeper is not None
        await asyncio.wait_for(child.keeper, 20)

    asyncio.run(asyncio.wait_for(stop_mid_spawn(), 30))
    assert child.state == "stopped"
    assert child.process is not None and child.process.returncode is not None


def test_only_a_live_table_follows_the_heartbeats(hub, run_agent, tmp_path):
    """Without the table (``--no-table``, output not a terminal) nobody reads them: the hub
    must not send `up` every agent's heartbeat, only keep its session."""
    site_file = write_site(hub, tmp_path, [{"agent-class": "FakeData", "instance-id": "sup-hb"}])
    table, plain = (
        Supervisor(site_file, load_site_config(site_file), host="localhost", live_table=live)
        for live in (True, False)
    )
    run_agent("FakeData", "sup-hb")

    async def two_beats_after_both_joined() -> None:
        watching = [asyncio.ensure_future(s._watch_heartbeats()) for s in (table, plain)]
        try:
            while not (table.hub_state == plain.hub_state == "joined"):
                await asyncio.sleep(0.02)
            table.children["sup-hb"].heartbeat = None
            for _ in range(2):
                beat = table.children["sup-hb"].heartbeat
                while table.children["sup-hb"].heartbeat == beat:
                    await asyncio.sleep(0.02)
        finally:
            for task in watching:
                task.cancel()
            await asyncio.gather(table._watcher.close(), plain._watcher.close())

    asyncio.run(asyncio.wait_for(two_beats_after_both_joined(), 60))
    assert plain.children["sup-hb"].heartbeat is None
    assert plain.children["sup-hb"].op_codes == {}


@pytest.mark.slow
def test_a_host_without_the_hub_says_it_waits_for_it_in_its_table(tmp_path, capsys):
    from socs_like.testing import free_port

    url = f"ws://127.0.0.1:{free_port()}/ws"  # nothing listens: the hub is not up yet
    site_file = tmp_path / "site.yaml"
    site_file.write_text(
        yaml.safe_dump({"hub": {"wamp_server": url}, "hosts": {"daq": {"agent-instances": []}}})
    )
    sup = Supervisor(
        site_file,
        load_site_config(site_file),
        host="daq",
        live_table=False,
        host_manager=False,
    )
    console = Console(record=True, width=250, file=io.StringIO())

    async def until_waiting() -> None:
        watching = asyncio.ensure_future(sup._watch_heartbeats())
        try:
            while sup.hub_state != "waiting":
                await asyncio.sleep(0.02)
            await asyncio.sleep(2.5)  # two more tries: still said once
            console.print(sup.table())
        finally:
            watching.cancel()

    asyncio.run(asyncio.wait_for(until_waiting(), 30))
    assert f"waiting for the hub at {url}" in console.export_text()
    said = [line for line in capsys.readouterr().out.splitlines() if "waiting for the hub" in line]
    assert len(said) == 1 and f"waiting for the hub at {url} (cannot reach the hub" in said[0]


def test_a_control_socket_too_long_for_unix_goes_to_the_temporary_folder(tmp_path):
    from socs_like.supervisor import control_socket_path

    assert control_socket_path(tmp_path, "daq") == tmp_path / "host-daq.sock"
    deep = tmp_path / ("d" * 120)
    path = control_socket_path(deep, "daq")
    assert path.parent == Path(tempfile.gettempdir()) and len(os.fsencode(path)) <= 100
    assert control_socket_path(deep, "daq") == path != control_socket_path(deep, "hub")
