"""The `socs-like` command as an operator uses it: output, exit codes, one-line errors."""

import os
import re
import signal
import subprocess
import sys

import pytest
import yaml

from socs_like.client import Client, ClientError
from socs_like.hub import port_open
from socs_like.secrets import SECRETS_ENV
from socs_like.testing import wait_until
from socs_like.testing.hub import free_port
from socs_like.testing.procs import listening


def socs_like(*args, cwd=None, timeout=60, env=None):
    return subprocess.run(
        [sys.executable, "-m", "socs_like", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=cwd,
        env=env,
    )


def test_call_runs_a_task_and_prints_the_session(hub, run_agent):
    run_agent("FakeData", "fd-cli")
    out = socs_like(
        "call", "fd-cli", "delay_task", "delay=0.1", "--site-config", str(hub.site_file)
    )
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert lines[0] == 'OK: Operation "delay_task" is done.'
    assert "delay_task[session 1] done succeeded" in lines[1]
    assert "Exited after 0.1 seconds." in out.stdout

    failed = socs_like(
        "call",
        "fd-cli",
        "delay_task",
        "delay=0",
        "succeed=false",
        "--site-config",
        str(hub.site_file),
    )
    assert failed.returncode == 1 and "done FAILED" in failed.stdout


def test_call_errors_are_one_line(hub, run_agent):
    run_agent("FakeData", "fd-cli2")
    site = ["--site-config", str(hub.site_file)]
    out = socs_like("call", "fd-cli2", "no_op", *site)
    assert out.returncode == 2
    assert out.stderr.strip().splitlines() == [
        "socs-like call: fd-cli2 has no operation 'no_op'; it has "
        "['acq', 'block_loop', 'delay_task', 'fill_session', 'set_heartbeat']"
    ]
    out = socs_like("call", "nobody", "x", *site, "--timeout", "2")
    assert out.returncode == 2
    assert out.stderr.strip() == (
        "socs-like call: no agent answers at observatory.nobody: is it running?"
    )
    out = socs_like("call", "fd-cli2", "delay_task", "delay=oops", *site)
    assert out.returncode == 1
    assert "parameter 'delay' must be float, not 'oops' (str)" in out.stdout


def test_agent_and_config_errors_are_one_line(tmp_path):
    out = socs_like("agent", "NoSuchClass", "--instance-id", "x")
    assert out.returncode == 2
    assert out.stderr.startswith(
        "socs-like agent: no agent class 'NoSuchClass'; installed classes:"
    )
    bad = tmp_path / "site.yaml"
    bad.write_text("hub:\n  wamp_sever: ws://localhost:1/ws\n")
    out = socs_like("config", "check", "--site-config", str(bad))
    assert out.returncode == 2
    assert out.stderr.strip() == (
        f"socs-like config: {bad}:2: hub.wamp_sever: unknown key "
        "'wamp_sever': did you mean 'wamp_server'?"
    )


def test_config_check_names_unknown_classes_and_simulators(tmp_path):
    site = tmp_path / "site.yaml"
    site.write_text(
        "hosts:\n  localhost:\n    agent-instances:\n"
        "      - {agent-class: FakeDta, instance-id: x}\n"
    )
    out = socs_like("config", "check", "--site-config", str(site))
    assert out.returncode == 2
    assert out.stderr.startswith(
        f"socs-like config: {site}: host 'localhost', instance 'x': "
        "unknown agent-class 'FakeDta'; installed: ["
    )
    site.write_text("hosts:\n  localhost:\n    simulators:\n      - {name: pysmruf}\n")
    out = socs_like("config", "check", str(site))  # the file may be named without the flag
    assert out.returncode == 2
    # the list grows as agents add simulators: check its shape and one member
    assert "unknown simulator 'pysmruf'; installed: ['" in out.stderr
    assert "'pysmurf'" in out.stderr


@pytest.mark.parametrize(
    ("arguments", "why"),
    [
        (
            ["--hosts", "h", "--monitor-interval", 0.01],
            "--monitor-interval must be >= 0.1 s, not 0.01",
        ),
        (["--hosts", "h", "--monitor-intreval", 1], "unrecognized arguments: --monitor-intreval 1"),
        (["--monitor-interval", 1], "the following arguments are required: --hosts"),
        (
            ["--hosts", "h", "--rename-concurrency", "many"],
            "argument --rename-concurrency: invalid int value: 'many'",
        ),
    ],
)
def test_config_check_and_up_read_each_instances_arguments_as_its_agent_will(
    tmp_path, arguments, why
):
    """One line naming the host, the instance and what its declared settings refuse, before
    anything starts (`up` starts neither the hub nor an agent)."""
    site = tmp_path / "site.yaml"
    instance = {"agent-class": "DaqWorker", "instance-id": "daq1", "arguments": arguments}
    site.write_text(yaml.safe_dump({"hosts": {"localhost": {"agent-instances": [instance]}}}))
    said = f"{site}: host 'localhost', instance 'daq1' (DaqWorker): arguments: {why}"
    out = socs_like("config", "check", "--site-config", str(site))
    assert (out.returncode, out.stderr.strip()) == (2, f"socs-like config: {said}")
    out = socs_like("up", "--site-config", str(site), "--site-host", "localhost", "--no-table")
    assert (out.returncode, out.stderr.strip()) == (2, f"socs-like up: {said}")
    assert not (tmp_path / "var").exists()  # nothing started, no log written


def test_config_check_accepts_the_shipped_site_config():
    out = socs_like("config", "check", "--site-config", "site-config.yaml")
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith("site-config.yaml: OK (")


def test_agent_help_documents_every_argument():
    out = socs_like("agent", "FakeData", "--help")
    assert out.returncode == 0
    for flag in ("--num-channels", "--sample-rate", "--mode", "--site-hub", "--crossbar-timeout"):
        assert flag in out.stdout


@pytest.mark.slow
def test_up_runs_hub_and_agents_and_restarts_the_dead(tmp_path):
    port = free_port()
    site = {
        "hub": {
            "wamp_server": f"ws://127.0.0.1:{port}/ws",
            "wamp_http": f"http://127.0.0.1:{port}/call",
        },
        "hosts": {
            "localhost": {
                "crossbar": {},
                "agent-instances": [
                    {"agent-class": "FakeData", "instance-id": "fd-up", "arguments": []},
                    {"agent-class": "Registry", "instance-id": "reg-up", "arguments": []},
                ],
            }
        },
    }
    path = tmp_path / "site-config.yaml"
    path.write_text(yaml.safe_dump(site))
    up = subprocess.Popen(
        [sys.executable, "-m", "socs_like", "up", "--no-table"],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:

        def api():
            client = Client("fd-up", site_config=str(path), timeout=2)
            try:
                return client.get_api()
            except ClientError:
                return None
            finally:
                client.close()

        first = wait_until(api, 60, interval=0.2, message="fd-up callable")
        os.kill(first["instance_pid"], signal.SIGKILL)
        second = wait_until(
            lambda: (a := api()) and a["instance_pid"] != first["instance_pid"] and a,
            30,
            interval=0.2,
            message="fd-up restarted",
        )
        assert second["agent_class"] == "FakeData"
        registry = Client("reg-up", site_config=str(path))
        assert registry.get_api()["agent_class"] == "Registry"
        registry.close()
        # the hub dies (every crossbar process at once, as a crash or the OOM killer would)
        crossbar = listening(port)
        for group in {os.getpgid(pid) for pid in crossbar}:
            os.killpg(group, signal.SIGKILL)
        wait_until(
            lambda: (pids := listening(port)) and not set(pids) & set(crossbar),
            60,
            message="a new hub listening",
        )
        wait_until(api, 60, interval=0.2, message="fd-up callable through the new hub")
    finally:
        up.send_signal(signal.SIGTERM)
        output, _ = up.communicate(timeout=30)
    assert up.returncode == 0
    assert "fd-up: exited with -9" in output and "restarting in 0.1 s" in output
    assert re.search(r"the hub exited with -9; restarting it in [0-9.]+ s", output), output
    assert output.count("hub is up") == 2
    assert output.rstrip().splitlines()[-1].endswith("stopping the hub")
    assert (tmp_path / "var" / "log" / "fd-up.log").exists()


def test_status_table_and_feed_printing(hub, run_agent, make_client, tmp_path):
    run_agent("FakeData", "fd-cli3")
    failed = make_client("fd-cli3").delay_task(delay=0, succeed=False)
    assert failed.session["success"] is False
    site_file = tmp_path / "site.yaml"
    site = yaml.safe_load(hub.site_file.read_text())
    site["hosts"] = {
        "localhost": {
            "agent-instances": [
                {"agent-class": "FakeData", "instance-id": "fd-cli3"},
                {"agent-class": "FakeData", "instance-id": "nobody"},
            ]
        }
    }
    site_file.write_text(yaml.safe_dump(site))

    out = socs_like("status", "--site-config", str(site_file))
    assert out.returncode == 1, out.stderr  # one agent does not answer
    lines = out.stdout.rstrip().splitlines()
    assert max(len(line) for line in lines) <= 80
    fd_row = next(line for line in lines if line.startswith("│fd-cli3"))
    assert "FakeData" in fd_row and "idle" in fd_row
    assert re.search(r"(<1|\d) s", fd_row), fd_row  # a heartbeat age
    assert "delay_task: Exited after" in fd_row
    nobody_row = next(line for line in lines if line.startswith("│nobody"))
    assert "not answering" in nobody_row

    site = ["--site-config", str(hub.site_file)]
    out = socs_like("status", "fd-cli3", *site)
    assert out.returncode == 0, out.stderr
    assert "fd-cli3 (FakeData), heartbeat" in out.stdout
    rows = {line.split("│")[1].strip(): line for line in out.stdout.splitlines() if "│" in line}
    assert set(rows) >= {"delay_task", "fill_session", "set_heartbeat", "acq"}
    assert "failed" in rows["delay_task"] and "Exited after 0.0 seconds." in rows["delay_task"]
    assert "never run" in rows["acq"]
    out = socs_like("status", "nobody", *site)
    assert out.returncode == 1 and "not answering" in out.stdout

    out = socs_like("feed", "fd-cli3", "heartbeat", "--count", "2", *site, timeout=30)
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert len(lines) == 2
    assert all('"fill_session": 1' in line for line in lines)
    seqs = [int(line.split("#")[1].split()[0]) for line in lines]
    assert seqs[1] == seqs[0] + 1


def test_status_finds_the_secrets_beside_the_site_config_it_is_given(hub, run_agent, tmp_path):
    # no $SOCS_LIKE_SECRETS and run from elsewhere: the secrets beside --site-config count
    run_agent("FakeData", "fd-cli-elsewhere")
    site_dir = tmp_path / "site"
    site_dir.mkdir()
    site = yaml.safe_load(hub.site_file.read_text())
    site["hosts"] = {
        "localhost": {
            "agent-instances": [{"agent-class": "FakeData", "instance-id": "fd-cli-elsewhere"}]
        }
    }
    (site_dir / "site-config.yaml").write_text(yaml.safe_dump(site))
    secrets = site_dir / "secrets.yaml"
    secrets.write_bytes(hub.secrets_file.read_bytes())
    secrets.chmod(0o600)
    env = {k: v for k, v in os.environ.items() if k != SECRETS_ENV}
    out = socs_like(
        "status", "--site-config", str(site_dir / "site-config.yaml"), cwd=tmp_path, env=env
    )
    assert out.returncode == 0, out.stdout + out.stderr
    row = next(line for line in out.stdout.splitlines() if line.startswith("│fd-cli-elsewhere"))
    assert re.search(r"(<1|\d) s", row), row  # its heartbeat was seen


def test_status_shows_a_frozen_agents_heartbeat_age_from_the_registry(hub, run_agent, tmp_path):
    # A process that is alive but cannot beat (frozen, or its loop blocked) is not "no
    # heartbeat": the registry saw its last one, and the row says how long ago, in red.
    registry = run_agent("Registry", "reg-status")
    frozen = run_agent("FakeData", "fd-frozen")
    reg = Client("reg-status", site_config=str(hub.site_file))
    address = f"{hub.address_root}.fd-frozen"
    wait_until(lambda: address in (reg.main.status().session.get("data") or {}), timeout=20)
    site_file = tmp_path / "site.yaml"
    site = yaml.safe_load(hub.site_file.read_text())
    site["hosts"] = {
        "localhost": {
            "agent-instances": [
                {"agent-class": "Registry", "instance-id": "reg-status"},
                {"agent-class": "FakeData", "instance-id": "fd-frozen"},
            ]
        }
    }
    site_file.write_text(yaml.safe_dump(site))
    os.kill(frozen.pid, signal.SIGSTOP)
    try:
        out = socs_like("status", "--site-config", str(site_file), "--timeout", "2")
    finally:
        os.kill(frozen.pid, signal.SIGCONT)
    assert registry.returncode is None
    row = next(line for line in out.stdout.splitlines() if line.startswith("│fd-frozen"))
    assert "—" not in row, out.stdout
    assert re.search(r"│\s*\d+ s\s*│", row), row


@pytest.mark.slow
def test_a_hub_killed_with_sigkill_takes_crossbar_along(tmp_path):
    # crossbar runs in a session of its own; left behind it would hold the port, and the
    # next `socs-like hub` or `up` could not start
    port = free_port()
    path = tmp_path / "site-config.yaml"
    path.write_text(
        yaml.safe_dump({"hub": {"wamp_server": f"ws://127.0.0.1:{port}/ws"}, "hosts": {}})
    )
    hub = subprocess.Popen(
        [sys.executable, "-m", "socs_like", "hub", "--site-config", str(path)],
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.STDOUT,
    )
    try:
        wait_until(lambda: port_open("127.0.0.1", port), 60, message="the hub to listen")
    finally:
        hub.kill()
        hub.wait()
    wait_until(lambda: not port_open("127.0.0.1", port), 30, message="crossbar to end")


def test_a_secrets_file_others_can_read_is_one_line_for_call_and_status(tmp_path):
    (tmp_path / "site-config.yaml").write_text(yaml.safe_dump({"hosts": {}}))
    secrets = tmp_path / "secrets.yaml"
    secrets.write_text("users: {}\n")
    secrets.chmod(0o644)
    env = {k: v for k, v in os.environ.items() if k != SECRETS_ENV}
    for command in (["status"], ["call", "fd", "acq", "status"]):
        out = socs_like(*command, "--site-config", str(tmp_path / "site-config.yaml"), env=env)
        assert out.returncode == 2
        assert out.stderr.splitlines() == [
            f"socs-like {command[0]}: secrets file {secrets} is readable by others "
            f"(mode 644): run chmod 600 {secrets}"
        ]
