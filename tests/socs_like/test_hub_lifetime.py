"""The hub's crossbar lives exactly as long as the `socs-like hub` or `up` that started it,
however that ends (Ctrl-C through a pipe whose reader died, SIGTERM during start-up, SIGKILL),
so the next start finds its port free; runtime files sit beside the site config; and a hub
that cannot start says why."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
import yaml

from socs_like.hub import Hub, HubError, crossbar_failure, port_open
from socs_like.site_config import HubConfig, load_site_config
from socs_like.supervisor import Supervisor, control_socket_path
from socs_like.testing import wait_until
from socs_like.testing.hub import free_port
from socs_like.testing.procs import cmdline, descendants, listening, marked, process_alive

MARK = "SOCS_LIKE_TEST_LIFETIME"


def write_site(folder: Path, port: int, instances: list[dict] | None = None) -> Path:
    """A site whose host `localhost` runs the hub on `port` (and `instances`)."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "site-config.yaml"
    host = {"crossbar": {}, "log-dir": "var/log", "agent-instances": instances or []}
    path.write_text(
        yaml.safe_dump(
            {"hub": {"wamp_server": f"ws://127.0.0.1:{port}/ws"}, "hosts": {"localhost": host}}
        )
    )
    return path


def start(command: str, site: Path, cwd: Path, **popen) -> tuple[subprocess.Popen, str]:
    """`socs-like COMMAND --site-config SITE` run from `cwd`, marked so that everything it
    starts is found however it ends; the mark."""
    mark = uuid.uuid4().hex
    args = ["--no-table"] if command == "up" else []
    process = subprocess.Popen(
        [sys.executable, "-m", "socs_like", command, "--site-config", str(site), *args],
        cwd=cwd,
        env=os.environ | {MARK: mark, "PYTHONUNBUFFERED": "1"},
        **popen,
    )
    return process, mark


def nothing_left(mark: str, port: int) -> None:
    # crossbar's processes hide their mark (their titles overwrite what /proc shows of their
    # environment): the port they held says whether they are gone
    wait_until(
        lambda: not marked(MARK, mark) and not listening(port),
        30,
        interval=0.1,
        message="every process gone and the port free",
    )


def crossbar_started(pid: int) -> bool:
    return any("crossbar" in " ".join(cmdline(p)) for p in descendants(pid))


@pytest.mark.slow
def test_ctrl_c_of_up_piped_to_a_tee_that_died_stops_every_agent_and_the_hub(tmp_path):
    # `make run 2>&1 | tee run.log`, then Ctrl-C: the terminal sends SIGINT to the whole
    # foreground group; tee dies, and the supervisor's next line meets a broken pipe.
    port = free_port()
    site = write_site(tmp_path / "site", port, [{"agent-class": "FakeData", "instance-id": "fd-t"}])
    read_end, write_end = os.pipe()
    up, mark = start(
        "up", site, tmp_path, stdout=write_end, stderr=subprocess.STDOUT, start_new_session=True
    )
    os.close(write_end)
    try:
        said = []
        started = None
        with open(read_end, "rb") as tee:
            for line in tee:
                said.append(line)
                if started := re.search(rb"fd-t: started \(pid (\d+)\)", line):
                    break
        assert started, b"".join(said).decode(errors="replace")
        # the agents run in the site config's folder, where its relative paths point
        # (the launcher reports the pid as it forks, a moment before the child moves there)
        cwd = f"/proc/{int(started[1])}/cwd"
        wait_until(lambda: os.readlink(cwd) == str(tmp_path / "site"), 10, message="cwd")
        # the reader is gone (closed above, as tee's death closes it)
        os.killpg(up.pid, signal.SIGINT)
        assert up.wait(60) == 0
    finally:
        if up.poll() is None:  # the test failed: take it along (it outlives its stdout)
            os.killpg(up.pid, signal.SIGKILL)
            up.wait()
    nothing_left(mark, port)
    # crossbar's files and the logs are beside the site config, none where `up` ran
    assert (tmp_path / "site" / "var" / "hub" / "config.json").exists()
    assert (tmp_path / "site" / "var" / "log" / "fd-t.log").exists()
    assert not (tmp_path / "var").exists()


@pytest.mark.slow
def test_sigkill_of_up_leaves_no_crossbar_nor_agent_and_the_next_hub_starts(tmp_path):
    port = free_port()
    site = write_site(tmp_path / "site", port)  # its one agent: the host manager
    log = open(tmp_path / "up.out", "wb")  # noqa: SIM115
    up, mark = start("up", site, tmp_path, stdout=log, stderr=subprocess.STDOUT)
    try:
        try:
            wait_until(
                lambda: b"hm-localhost: started" in (tmp_path / "up.out").read_bytes(),
                60,
                message="the host manager started",
            )
        except AssertionError as e:
            raise AssertionError(f"{e}; up said: {(tmp_path / 'up.out').read_text()}") from None
    finally:
        up.kill()
        up.wait()
        log.close()
    nothing_left(mark, port)
    again, mark = start("hub", site, tmp_path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        assert b"hub running at" in again.stdout.readline()
    finally:
        again.terminate()
        again.wait(30)
    nothing_left(mark, port)
    assert (tmp_path / "site" / "var" / "hub" / "crossbar.log").exists()
    assert not (tmp_path / "var").exists()


# A hub started from a thread that ends (a pool's worker, a thread that restarts the hub):
# the kernel ties a parent-death signal to the thread that forks, not to the process.
FROM_A_THREAD = """
import sys, threading, time
from pathlib import Path
from socs_like.hub import Hub
from socs_like.site_config import HubConfig

hub = Hub(HubConfig(wamp_server=sys.argv[1]), Path(sys.argv[2]))
starter = threading.Thread(target=hub.start)
starter.start()
starter.join()
print(hub.process.pid, flush=True)
time.sleep(600)
"""


@pytest.mark.slow
def test_a_hub_started_from_a_thread_that_ended_still_dies_with_its_process(tmp_path):
    port = free_port()
    owner = subprocess.Popen(
        [sys.executable, "-c", FROM_A_THREAD, f"ws://127.0.0.1:{port}/ws", str(tmp_path)],
        stdout=subprocess.PIPE,
    )
    try:
        assert owner.stdout.readline().strip().isdigit()
        assert listening(port)
    finally:
        owner.kill()
        owner.wait()
    wait_until(lambda: not listening(port), 30, interval=0.1, message="crossbar to end")


def test_sigterm_while_the_hub_starts_stops_crossbar(tmp_path):
    port = free_port()
    site = write_site(tmp_path, port)
    hub, mark = start("hub", site, tmp_path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    wait_until(lambda: crossbar_started(hub.pid), 30, interval=0.01, message="crossbar started")
    assert not port_open("127.0.0.1", port)  # still starting
    hub.terminate()
    output, _ = hub.communicate(timeout=30)
    assert hub.returncode == 0, output
    nothing_left(mark, port)


def test_runtime_files_sit_beside_the_site_config_whatever_the_current_folder(
    tmp_path, monkeypatch
):
    site = write_site(tmp_path / "site", free_port())
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    relative = Path(os.path.relpath(site, elsewhere))  # as typed: ../site/site-config.yaml
    sup = Supervisor(relative, load_site_config(relative), host="localhost", live_table=False)
    beside = tmp_path / "site" / "var"
    assert sup.log_dir == beside / "log"
    assert sup.control_path == control_socket_path(beside, "localhost")  # short: beside
    assert str(site) in sup.children["hm-localhost"].spec.argv  # absolute: children run there


def test_a_hub_whose_port_is_taken_names_who_holds_it(tmp_path):
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        hub = Hub(HubConfig(wamp_server=f"ws://127.0.0.1:{port}/ws"), tmp_path)
        with pytest.raises(HubError) as error:
            hub.start()
    name = Path(f"/proc/{os.getpid()}/comm").read_text().strip()
    assert str(error.value) == f"port {port} is in use by pid {os.getpid()} ({name})"


@pytest.mark.slow
def test_a_hub_starts_after_one_killed_a_moment_ago_and_a_second_one_is_told_why_not(
    tmp_path,
):
    # The killed hub's crossbar, not yet reaped, is a zombie its node.pid still names;
    # crossbar took that for a running node and failed ("psutil.ZombieProcess").
    unreaped = subprocess.Popen(["true"])
    wait_until(lambda: not process_alive(unreaped.pid), 10, message="a zombie")
    (tmp_path / "hub").mkdir()
    (tmp_path / "hub" / "node.pid").write_text(json.dumps({"pid": unreaped.pid}))
    first = Hub(HubConfig(wamp_server=f"ws://127.0.0.1:{free_port()}/ws"), tmp_path / "hub")
    try:
        first.start()
        unreaped.wait()
        # two hubs from one folder: the second is told which hub holds it
        second = Hub(HubConfig(wamp_server=f"ws://127.0.0.1:{free_port()}/ws"), tmp_path / "hub")
        with pytest.raises(HubError) as error:
            second.start()
        assert str(error.value) == (
            f"another hub runs from {tmp_path / 'hub'} (crossbar, pid {first.process.pid})"
        )
    finally:
        first.stop()


@pytest.mark.slow
def test_crossbar_that_cannot_start_says_why_in_its_own_words(tmp_path):
    # a certificate that is not there: crossbar's own last lines name it
    config = HubConfig.model_validate(
        {
            "wamp_server": f"wss://127.0.0.1:{free_port()}/ws",
            "tls": {"certificate": str(tmp_path / "none.pem"), "key": str(tmp_path / "none.key")},
        }
    )
    with pytest.raises(HubError) as error:
        Hub(config, tmp_path / "hub", secrets_file=tmp_path / "secrets.yaml").start()
    message = str(error.value)
    assert message.startswith("crossbar exited with code 1 while starting: ")
    assert re.search(r"none\.(pem|key)", message), message


def test_the_cause_is_crossbars_first_exception_else_its_last_message():
    worker_failed = (
        "2026-12-07T05:59:43+0000 [Router      28857] Cannot listen on transport endpoint: "
        "[Failure instance: Traceback: <class 'OSError'>: boom\n"
        "Traceback (most recent call last):\n"
        '  File "endpoint.py", line 155, in _create_tls_server_context\n'
        "builtins.FileNotFoundError: [Errno 2] No such file or directory: '/x/none.key'\n"
        "2026-12-07T05:59:43+0000 [Controller  28831] Could not start node: Traceback\n"
        "autobahn.wamp.exception.ApplicationError: ApplicationError(error=<cannot_listen>)\n"
        "2026-12-07T05:59:43+0000 [Router      28857] Native worker received SIGTERM\n"
    )
    assert crossbar_failure(worker_failed) == (
        "builtins.FileNotFoundError: [Errno 2] No such file or directory: '/x/none.key'"
    )
    # two hubs from one folder: crossbar says it in one line, no exception
    same_folder = (
        "2026-12-07T05:59:53+0000 [Controller  29015] \n"
        "2026-12-07T05:59:53+0000 [Controller  29015] Crossbar.io is already running from "
        "node directory /site/var/hub (PID 28998).\n"
    )
    assert crossbar_failure(same_folder) == (
        "Crossbar.io is already running from node directory /site/var/hub (PID 28998)."
    )
    assert crossbar_failure("") == ""


def test_a_hub_that_cannot_make_its_folder_says_so_in_one_line(tmp_path):
    site = write_site(tmp_path / "site", free_port())
    (tmp_path / "site" / "var").write_text("a file where the runtime folder goes")
    done = subprocess.run(
        [sys.executable, "-m", "socs_like", "hub", "--site-config", str(site)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert (done.returncode, done.stderr.splitlines()) == (
        2,
        [
            f"socs-like hub: cannot make the hub's folder {tmp_path}/site/var/hub (Not a "
            "directory): give --dir a folder this user may write (by default it is var/hub "
            "beside the site config)"
        ],
    )
