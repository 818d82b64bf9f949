"""HostManager through real processes: `socs-like up` (which starts it) on the test hub, real
FakeData agents, the control socket, the hub, and `socs-like host`."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from socs_like.client import AsyncClient, run_sync, wait_for_agent
from socs_like.supervisor import FIRST_DELAY
from socs_like.testing import wait_until

BAD_ARGS_LINE = "socs-like agent FakeData: error: argument --num-channels: invalid int value: 'x'"


def fake(instance_id: str, *args: Any, restart: str = "always") -> dict[str, Any]:
    return {
        "agent-class": "FakeData",
        "instance-id": instance_id,
        "arguments": list(args),
        "restart": restart,
    }


class Host:
    """`socs-like up --no-table` on a site file of its own, pointing at the test hub."""

    def __init__(self, hub: Any, folder: Path, instances: list[dict[str, Any]]) -> None:
        self.folder = folder
        self.site_file = folder / "site.yaml"
        self.log_dir = folder / "log"
        self.site = yaml.safe_load(hub.site_file.read_text())
        self.write(instances)
        self.out = open(folder / "up.out", "wb")  # noqa: SIM115
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "socs_like",
                "up",
                "--no-table",
                "--site-file",
                str(self.site_file),
            ],
            cwd=folder,
            stdout=self.out,
            stderr=subprocess.STDOUT,
            env=os.environ | {"PYTHONUNBUFFERED": "1"},
        )
        self.client = AsyncClient("hm-localhost", hub_url=hub.url, timeout=10.0)
        run_sync(wait_for_agent(self.client, 30), 35)

    def write(self, instances: list[dict[str, Any]]) -> None:
        self.site["hosts"] = {
            "localhost": {"log-dir": str(self.log_dir), "agent-instances": instances}
        }
        self.site_file.write_text(yaml.safe_dump(self.site))

    def task(self, name: str, **params: Any) -> dict[str, Any]:
        reply = run_sync(self.client.run_task(name, params), 40)
        return reply.session

    def instances(self) -> dict[str, dict[str, Any]]:
        reply = run_sync(self.client.request("status", "manager"), 15)
        return dict((reply.session.get("data") or {}).get("instances", {}))

    def wait(self, check: Callable[[dict[str, dict[str, Any]]], Any], timeout: float = 30) -> Any:
        def holds() -> Any:
            try:
                return check(self.instances())
            except KeyError:  # the manager has not had the supervisor's first answer yet
                return None

        return wait_until(holds, timeout, message="host state")

    def stop(self) -> None:
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        run_sync(self.client.close(), 10)
        self.out.close()


@pytest.fixture
def host(hub: Any, tmp_path: Path) -> Iterator[Callable[..., Host]]:
    hosts: list[Host] = []

    def start(instances: list[dict[str, Any]]) -> Host:
        hosts.append(Host(hub, tmp_path, instances))
        return hosts[-1]

    yield start
    for h in hosts:
        h.stop()


def answers(hub: Any, instance_id: str) -> dict[str, Any]:
    """The agent's get_api, once it answers through the hub."""
    client = AsyncClient(instance_id, hub_url=hub.url)
    try:
        return run_sync(wait_for_agent(client, 20), 25)
    finally:
        run_sync(client.close(), 5)


def running(i: dict[str, Any]) -> bool:
    return i["state"] == "running" and i["pid"] is not None


def test_kill_9_is_restarted_within_the_backoff_and_counted(host, hub):
    h = host([fake("hm-fake1")])
    first = h.wait(lambda s: running(s.get("hm-fake1", {"state": ""})) and s["hm-fake1"])
    assert first["restarts"] == 0 and first["policy"] == "always"
    answers(hub, "hm-fake1")  # up and logging
    os.kill(first["pid"], signal.SIGKILL)
    again = h.wait(
        lambda s: running(s["hm-fake1"]) and s["hm-fake1"]["pid"] != first["pid"] and s["hm-fake1"],
        timeout=15,
    )
    assert again["restarts"] == 1
    assert again["last_exit"] == -signal.SIGKILL
    assert "delay_task" in str(answers(hub, "hm-fake1")["tasks"])  # callable again
    # the HostManager itself is listed, with its own log file
    assert h.instances()["hm-localhost"]["class"] == "HostManager"
    # both runs in one file, each line once (the agent does not open the file itself too)
    joined = "hm-fake1 INFO socs_like.agent: joined the hub"
    wait_until(lambda: (h.log_dir / "hm-fake1.log").read_text().count(joined) == 2, 10)
    assert (h.log_dir / "hm-fake1.log").read_text().count(joined) == 2


def test_a_crash_loop_is_backed_off_and_shown_with_its_last_error_line(host):
    h = host([fake("hm-broken", "--num-channels", "x")])
    looping = h.wait(lambda s: s["hm-broken"]["state"] == "crash-looping" and s["hm-broken"])
    assert looping["last_line"] == BAD_ARGS_LINE
    assert looping["last_exit"] == 2
    assert looping["restarts"] >= 2
    # backed off: the third quick exit in a row waits FIRST_DELAY * 2**2 s or more
    assert looping["retry_in"] > 2 * FIRST_DELAY
    log = (h.log_dir / "hm-broken.log").read_text()
    assert log.count(BAD_ARGS_LINE) == looping["restarts"] + 1


def test_restart_policies_never_and_on_failure(host, hub):
    h = host([fake("hm-never", restart="never"), fake("hm-onfail", restart="on-failure")])
    s = h.wait(lambda s: running(s["hm-never"]) and running(s["hm-onfail"]) and s)
    answers(hub, "hm-onfail")  # its SIGTERM handler is in place
    os.kill(s["hm-never"]["pid"], signal.SIGKILL)
    os.kill(s["hm-onfail"]["pid"], signal.SIGTERM)  # a clean exit: code 0
    s = h.wait(
        lambda s: s["hm-never"]["state"] == "crashed" and s["hm-onfail"]["state"] == "stopped" and s
    )
    assert s["hm-never"]["restarts"] == 0 and s["hm-onfail"]["restarts"] == 0
    assert s["hm-onfail"]["last_exit"] == 0
    # started again on request
    h.task("start", instance_id="hm-never")
    h.wait(lambda s: running(s["hm-never"]))


def test_stop_start_restart_one_and_all(host):
    h = host([fake("hm-a"), fake("hm-b")])
    s = h.wait(lambda s: running(s["hm-a"]) and running(s["hm-b"]) and s)
    session = h.task("stop", instance_id="hm-a")
    assert session["success"], session["messages"]
    assert session["data"]["instances"]["hm-a"]["state"] == "stopped"
    assert session["data"]["instances"]["hm-b"]["pid"] == s["hm-b"]["pid"]
    session = h.task("restart", instance_id="all")
    after = session["data"]["instances"]
    assert running(after["hm-a"]) and running(after["hm-b"])
    assert after["hm-b"]["pid"] != s["hm-b"]["pid"] and after["hm-b"]["restarts"] == 1
    assert running(after["hm-localhost"])  # "all" leaves the manager itself alone
    session = h.task("stop", instance_id="hm-nope")
    assert not session["success"]
    assert "no instance 'hm-nope' on host localhost" in str(session["messages"])


def test_a_bad_reload_is_refused_and_nothing_changes(host):
    h = host([fake("hm-keep")])
    before = h.wait(lambda s: running(s["hm-keep"]) and s)
    good = h.site_file.read_text()
    h.site_file.write_text(good.replace("instance-id: hm-keep", "instance-idd: hm-keep"))
    session = h.task("reload")
    assert not session["success"]
    text = str(session["messages"])
    assert "reload refused, nothing changed:" in text
    assert "unknown key 'instance-idd': did you mean 'instance-id'?" in text
    # reading state works while the file is being fixed, and says what is wrong with it
    for argv in (["host", "list"], ["status", "hm-keep"], ["logs", "hm-keep"]):
        out = subprocess.run(
            [sys.executable, "-m", "socs_like", *argv, "--site-file", str(h.site_file)],
            capture_output=True,
            text=True,
            timeout=60,
            env=os.environ | {"COLUMNS": "200"},
        )
        assert out.returncode == 0, (argv, out.stderr)
        assert "hm-keep" in out.stdout, argv
        assert out.stderr.startswith(f"socs-like {argv[0]}: warning: {h.site_file}:"), out.stderr
        assert "did you mean 'instance-id'?" in out.stderr
    h.write([fake("hm-keep"), fake("hm-new", restart="sometimes")])
    session = h.task("reload")
    assert not session["success"]
    assert "restart" in str(session["messages"])
    h.site["hub"]["wamp_realm"] = "another_realm"
    h.write([fake("hm-keep"), fake("hm-new")])
    session = h.task("reload")
    assert not session["success"]
    assert "the hub block changed; that needs a restart of socs-like up" in str(session["messages"])
    after = h.instances()
    assert set(after) == set(before)
    assert after["hm-keep"]["pid"] == before["hm-keep"]["pid"]


def test_a_good_reload_adds_and_removes_instances(host, feed_listener):
    h = host([fake("hm-old"), fake("hm-stays")])
    before = h.wait(lambda s: running(s["hm-old"]) and running(s["hm-stays"]) and s)
    states = feed_listener("hm-localhost", "states")
    h.write([fake("hm-stays"), fake("hm-added")])
    session = h.task("reload")
    assert session["success"], session["messages"]
    assert session["data"]["added"] == ["hm-added"]
    assert session["data"]["removed"] == ["hm-old"]
    assert session["data"]["changed"] == []
    after = h.wait(lambda s: "hm-added" in s and running(s["hm-added"]) and s)
    assert "hm-old" not in after
    assert after["hm-stays"]["pid"] == before["hm-stays"]["pid"]
    wait_until(
        lambda: (
            subprocess.run(
                ["kill", "-0", str(before["hm-old"]["pid"])], capture_output=True
            ).returncode
            != 0
        ),
        10,
    )
    # the feed of states carried the change
    states.wait_for(
        lambda events: any(
            "hm-added" in p["instances"] and "hm-old" not in p["instances"] for p, _ in events
        )
    )


def test_socs_like_host_and_logs_commands(host):
    h = host([fake("hm-cli")])
    h.wait(lambda s: running(s["hm-cli"]))

    def cli(*argv: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "socs_like", *argv, "--site-file", str(h.site_file)],
            capture_output=True,
            text=True,
            timeout=60,
            env=os.environ | {"COLUMNS": "200"},
        )

    listed = cli("host", "list")
    assert listed.returncode == 0, listed.stderr
    assert "hm-cli" in listed.stdout and "running" in listed.stdout
    refused = cli("host", "restart", "hm-nope")
    assert refused.returncode == 1
    assert "no instance 'hm-nope' on host localhost" in refused.stderr
    logs = cli("logs", "hm-localhost")
    assert logs.returncode == 0, logs.stderr
    assert "hm-localhost INFO" in logs.stdout
    missing = cli("logs", "hm-nope")
    assert missing.returncode == 2
    assert "no log file" in missing.stderr and "'hm-cli'" in missing.stderr
