"""The simulator as `make run` uses it: fake programs plus its own sshd, reached by alias."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys

from socs_like.testing import run_in_new_loop, wait_until
from socs_like_agents.daq_worker.interface import WorkerInterface


def test_simulator_with_its_own_sshd_serves_a_worker_agent(tmp_path, worker):
    sim = worker  # its names and folder; the simulator is started here, with its own sshd
    ssh_dir = tmp_path / "ssh"
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "socs_like",
            "simulate",
            "daq-worker",
            "--workdir",
            str(sim.workdir),
            "--files",
            "3",
            "--interval",
            "0",
            "--size",
            "10",
            "--data-router-name",
            sim.router_name,
            "--ecc-server-name",
            sim.ecc_name,
            "--sshd",
            str(ssh_dir),
            "--alias",
            "demo-worker",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        banner = proc.stdout.readline()
        assert banner.startswith("sshd on 127.0.0.1:") and "demo-worker" in banner
        port = int(banner.split(":")[1].split()[0])
        wait_until(lambda: len(sim.graw_names()) == 3, message="3 GRAW files")

        async def scenario():
            async with WorkerInterface(
                "demo-worker", config_path=str(ssh_dir / "ssh_config"), programs=sim.programs()
            ) as w:
                return await w.status()

        status = run_in_new_loop(scenario())
        assert (status.state, status.ecc_server_up, status.working_dir, status.graw_files) == (
            "ok",
            True,
            str(sim.workdir),
            3,
        )
        # its sshd dies (a crash, the soak's fault): the simulator starts it again, same port
        sshd_pid = int((ssh_dir / "sshd.pid").read_text())
        os.kill(sshd_pid, signal.SIGKILL)
        wait_until(lambda: pid_in(ssh_dir / "sshd.pid") not in (None, sshd_pid), message="new sshd")
        assert run_in_new_loop(scenario()).state == "ok"
    finally:
        proc.terminate()
        assert proc.wait(15) == 0
    # everything it started is gone: programs and sshd
    assert not sim.running(sim.router_name) and not sim.running(sim.ecc_name)
    with socket.socket() as s:
        assert s.connect_ex(("127.0.0.1", port)) != 0


def pid_in(path) -> int | None:
    try:
        return int(path.read_text())
    except (OSError, ValueError):  # not yet written
        return None
