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
from socs_like.ops import ResponseCode
from socs_like.supervisor import FIRST_DELAY
from socs_like.testing import wait_until

# An instance `up` starts and that exits at once: bad arguments are refused before the start
# (socs_like.settings), a class that is not installed is the agent's own error.
CRASH_LINE = "socs-like agent: no agent class 'Broken'"  # then the classes installed


def fake(
    instance_id: str, *args: Any, restart: str = "always", agent_class: str = "FakeData"
) -> dict[str, Any]:
    return {
        "agent-class": agent_class,
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
    joined = "hm-fake1 INFO socs_like.runtime.hub_session: joined the hub"
    wait_until(lambda: (h.log_dir / "hm-fake1.log").read_text().count(joined) == 2, 10)
    assert (h.log_dir / "hm-fake1.log").read_text().count(joined) == 2


def test_a_crash_loop_is_backed_off_and_shown_with_its_last_error_line(host):
    h = host([fake("hm-broken", agent_class="Broken")])
    looping = h.wait(lambda s: s["hm-broken"]["state"] == "crash-looping" and s["hm-broken"])
    assert looping["last_line"].startswith(CRASH_LINE)
    assert looping["last_exit"] == 2
    assert looping["restarts"] >= 2
    # backed off: the third quick exit in a row waits FIRST_DELAY * 2**2 s or more
    assert looping["retry_in"] > 2 * FIRST_DELAY
    log = (h.log_dir / "hm-broken.log").read_text()
    assert log.count(CRASH_LINE) == looping["restarts"] + 1


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
    # reading state works while the file is being fixed, and says what is wrong with it (the
    # status call's own 3 s limit once ran out on a loaded machine: not what is tested here)
    for argv in (["host", "list"], ["status", "hm-keep", "--timeout", "10"], ["logs", "hm-keep"]):
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


def _ocsbow_table(out: str) -> dict[str, list[str]]:
    """`ocsbow status`'s rows: instance id -> [agent class, state, target]."""
    rows = [line.split() for line in out.splitlines() if line.startswith("  ")]
    return {r[0]: r[1:] for r in rows if len(r) == 4 and not r[0].startswith("[")}


def test_the_real_ocsbow_drives_our_host_manager(legacy_hub, tmp_path):
    """OCS's own `ocsbow`, through the legacy endpoint, lists, stops and starts our agents."""
    instances = [
        {"agent-class": "HostManager", "instance-id": "hm-localhost", "arguments": []},
        fake("bow-fd1"),
        fake("bow-fd2"),
    ]
    h = Host(legacy_hub, tmp_path, instances)
    try:
        before = h.wait(lambda s: running(s["bow-fd1"]) and running(s["bow-fd2"]) and s)
        # OCS's site file: the same host block, the hub's legacy endpoint (OCS cannot log in)
        ocs_site = tmp_path / "ocs-site.yaml"
        site = yaml.safe_load(h.site_file.read_text())
        hub = site["hub"]
        hub["wamp_server"] = legacy_hub.hub.legacy_url
        hub["wamp_http"] = legacy_hub.hub.legacy_http_url
        ocs_site.write_text(yaml.safe_dump({"hub": hub, "hosts": site["hosts"]}))

        def ocsbow(*argv: str) -> str:
            done = subprocess.run(
                [
                    str(Path(sys.executable).parent / "ocsbow"),
                    "--site-file",
                    str(ocs_site),
                    "--site-host",
                    "localhost",
                    *argv,
                ],
                capture_output=True,
                text=True,
                timeout=60,
            )
            assert done.returncode == 0, done.stdout + done.stderr
            assert "WARNING" not in done.stdout, done.stdout
            return done.stdout

        table = _ocsbow_table(ocsbow("status"))
        assert table == {
            "hm-localhost": ["HostManager", "up", "n/a"],
            "bow-fd1": ["FakeData", "up", "up"],
            "bow-fd2": ["FakeData", "up", "up"],
        }
        out = ocsbow("down", "bow-fd1")
        assert "down agent bow-fd1 via hm-localhost" in out
        gone = before["bow-fd1"]["pid"]
        wait_until(lambda: subprocess.run(["kill", "-0", str(gone)]).returncode != 0, 20)
        s = h.wait(lambda s: s["bow-fd1"]["state"] == "stopped" and s)
        assert s["bow-fd2"]["pid"] == before["bow-fd2"]["pid"]  # the other one untouched
        table = _ocsbow_table(ocsbow("status"))
        assert table["bow-fd1"] == ["FakeData", "down", "down"]
        assert table["bow-fd2"] == ["FakeData", "up", "up"]

        ocsbow("up", "bow-fd1")
        s = h.wait(lambda s: running(s["bow-fd1"]) and s)
        assert s["bow-fd1"]["pid"] != gone
        answers(legacy_hub, "bow-fd1")  # joined the hub again
        out = ocsbow("status", "--reload-config")  # OCS's update(reload_config=True)
        assert "Ok on hm-localhost." in out
        assert _ocsbow_table(out)["bow-fd1"] == ["FakeData", "up", "up"]

        # With manager stopped, ocsbow starts it with [("all", "down"), (ID, "up")]: as in OCS,
        # where stopping manager takes every agent down, only ID runs afterwards.
        from ocs.ocs_client import OCSClient

        hm = OCSClient(
            "hm-localhost", args=["--site-file", str(ocs_site), "--site-host", "localhost"]
        )
        fd1 = s["bow-fd1"]["pid"]
        # bad requests: a clear refusal, nothing changed
        refused = hm.update.start(requests="bow-fd1")
        assert refused.status == ResponseCode.ERROR
        assert "parameter 'requests' must be list, not 'bow-fd1' (str)" in refused.msg
        failed = hm.update(requests=[["bow-fd1", "down"], "bow-fd2"]).session
        assert failed["success"] is False
        assert "each request must be (instance_id, 'up'|'down'), not 'bow-fd2'" in str(
            failed["messages"]
        )
        assert running(h.instances()["bow-fd1"])
        assert hm.manager.stop().status == ResponseCode.OK
        assert hm.manager.wait(timeout=10).session["status"] == "done"
        assert "Starting manager process." in ocsbow("up", "bow-fd1")
        s = h.wait(lambda s: s["bow-fd2"]["state"] == "stopped" and s)
        assert s["bow-fd1"]["pid"] == fd1

        # OCS's die: the HostManager exits, its agents run on, `socs-like up` starts it again
        hm_pid = s["hm-localhost"]["pid"]
        assert hm.die.start().status == ResponseCode.OK
        assert hm.die.wait(timeout=5).session["success"] is True  # what ocsbow's stop checks
        wait_until(lambda: subprocess.run(["kill", "-0", str(hm_pid)]).returncode != 0, 20)
        answers(legacy_hub, "hm-localhost")
        s = h.wait(lambda s: running(s["hm-localhost"]) and s)
        assert s["hm-localhost"]["last_exit"] == 0 and s["hm-localhost"]["restarts"] == 1
        assert s["bow-fd1"]["pid"] == fd1
    finally:
        h.stop()
