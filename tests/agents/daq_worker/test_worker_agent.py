"""DaqWorker end to end: a real agent process, a real hub, a real sshd, a simulated worker."""

from __future__ import annotations

import socket


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def latest(events, block: str, field: str):
    for payload, _info in reversed(events):
        if block in payload:
            return payload[block]["data"][field][-1]
    return None


def said(reply, text: str) -> bool:
    return any(text in message for _t, message in reply.session["messages"])


def test_agent_monitors_workers_and_organizes_a_run(
    hub, run_agent, make_client, feed_listener, sshd, worker, tmp_path
):
    worker.start(files=4, size=100)
    written = {n: (worker.workdir / n).read_bytes() for n in worker.graw_names()}
    config = tmp_path / "ssh_config"
    # "ghost" is a worker whose host is down: nothing listens on its port
    ghost = sshd.ssh_config_entry("ghost").replace(f"Port {sshd.port}", f"Port {closed_port()}")
    config.write_text(sshd.ssh_config_entry() + ghost)
    run_agent(
        "DaqWorker",
        "daq-workers",
        args=[
            "--hosts",
            "worker",
            "ghost",
            "--ssh-config",
            str(config),
            "--data-router-name",
            worker.router_name,
            "--ecc-server-name",
            worker.ecc_name,
            "--monitor-interval",
            "0.5",
            "--connect-timeout",
            "2",
            "--file-root",
            str(tmp_path),
        ],
    )
    feed = feed_listener("daq-workers", "worker_status")
    client = make_client("daq-workers")

    # the monitor: the worker's readings on the recorded feed, the ghost as a state
    feed.wait_for(
        lambda ev: (
            latest(ev, "worker", "worker_graw_files") == 4
            and latest(ev, "ghost_link", "ghost_reachable") == 0
        ),
        timeout=20,
    )
    assert latest(feed.events, "worker", "worker_ecc_server_up") == 1
    assert latest(feed.events, "worker_link", "worker_reachable") == 1
    hosts = client.monitor.status().session["data"]["hosts"]
    assert hosts["worker"]["state"] == "ok"
    assert hosts["worker"]["working_dir"] == str(worker.workdir)
    assert hosts["ghost"]["state"] == "unreachable"
    assert "Connection refused" in hosts["ghost"]["error"]

    # a task on every host: the ghost fails, the worker answers
    reply = client.check_data_router_status()
    assert reply.session["success"] is False
    assert reply.session["data"]["hosts"]["worker"] == {
        "ok": True,
        "running": True,
        "summary": f"{worker.router_name} runs",
    }
    assert reply.session["data"]["failed"] == ["ghost"]

    reply = client.get_graw_list(hosts=["worker"])
    assert reply.session["data"]["hosts"]["worker"]["files"] == [
        str(worker.workdir / n) for n in sorted(written)
    ]
    log_lines = worker.log_path.read_text().splitlines()
    reply = client.tail_file(path=str(worker.log_path), num_lines=2, hosts=["worker"])
    assert reply.session["data"]["hosts"]["worker"]["lines"] == log_lines[-2:]
    (tmp_path / "cobo.xcfg").write_text("<cobo/>")
    reply = client.backup_config_files(
        experiment="e22508",
        run=12,
        hosts=["worker"],
        paths=[str(tmp_path / "cobo.xcfg")],
        backup_root=str(tmp_path / "configs"),
    )
    assert reply.session["success"] is True, reply.session["messages"]
    assert (tmp_path / "configs" / "e22508" / "run_0012" / "cobo.xcfg").read_text() == "<cobo/>"

    # organize on the reachable worker: the files are on disk in the run folder
    reply = client.organize_files(experiment="e22508", run=12, hosts=["worker"])
    assert reply.session["success"] is True, reply.session["messages"]
    result = reply.session["data"]["hosts"]["worker"]
    run_dir = worker.workdir / "e22508" / "run_0012"
    assert result["destination"] == str(run_dir)
    assert result["done"] == sorted(written)
    assert {n: (run_dir / n).read_bytes() for n in worker.graw_names(run_dir)} == written
    assert worker.graw_names() == []
    feed.wait_for(lambda ev: latest(ev, "worker", "worker_graw_files") == 0, timeout=20)

    # bad input is refused with a clear message; the agent carries on
    reply = client.organize_files(experiment="../etc", run=1, hosts=["worker"])
    assert reply.session["success"] is False
    assert said(reply, "invalid experiment name '../etc'")
    reply = client.tail_file(path="/etc/passwd", hosts=["worker"])
    assert reply.session["success"] is False
    assert "outside the allowed roots" in reply.session["data"]["hosts"]["worker"]["error"]
    reply = client.working_dir_is_clean(hosts=["worker"])
    assert reply.session["success"] is True
    assert reply.session["data"]["hosts"]["worker"]["clean"] is True
    reply = client.find_data_router(hosts=[["worker"]])
    assert said(reply, "hosts must be a list of host names, not [['worker']]")
    reply = client.find_data_router(hosts=["elsewhere"])
    assert reply.session["success"] is False
    assert said(reply, "unknown host(s) ['elsewhere']; this agent serves ['worker', 'ghost']")
    assert client.find_data_router(hosts=["worker"]).session["data"]["hosts"]["worker"] == {
        "ok": True,
        "working_dir": str(worker.workdir),
    }
    # the monitor and every task shared one kept-alive connection to the worker
    assert sshd.output().count("Accepted publickey") == 1
