"""DaqWorker end to end: a real agent process, a real hub, a real sshd, a simulated worker."""

from __future__ import annotations

from socs_like.testing import free_port, wait_until
from socs_like_agents.daq_worker.models import OrganizeProgress


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
    ghost = sshd.ssh_config_entry("ghost").replace(f"Port {sshd.port}", f"Port {free_port()}")
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
            "--ssh-connect-timeout",
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
    # a foreseen refusal (OpFailed): its own words end the session, not a "Crashed: ..."
    refusal = (
        "invalid experiment name '../etc': use 1-64 letters, digits, '_', '-' or '.', "
        "starting with a letter or digit"
    )
    assert refusal in [message for _t, message in reply.session["messages"]]
    assert not said(reply, "Crashed")
    reply = client.tail_file(path="/etc/passwd", hosts=["worker"])
    assert reply.session["success"] is False
    assert reply.session["data"]["hosts"]["worker"]["error"] == (
        f"file '/etc/passwd' refused (outside_roots): is outside the allowed roots: {tmp_path}"
    )
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


def test_agent_shows_organize_progress_in_session_data(hub, run_agent, make_client, sshd, worker):
    worker.start()
    # about 3 s of renames one at a time here: several progress updates (every 0.5 s) mid-move
    written = worker.write_graw(6000)
    run_agent(
        "DaqWorker",
        "daq-progress",
        args=[
            "--hosts",
            "worker",
            "--ssh-config",
            str(sshd.ssh_config),
            "--data-router-name",
            worker.router_name,
            "--ecc-server-name",
            worker.ecc_name,
            "--rename-concurrency",
            "1",
        ],
    )
    client = make_client("daq-progress")
    client.organize_files.start(experiment="e9", run=1)
    seen: list[dict] = []

    def partial():
        session = client.organize_files.status().session
        entry = (session.get("data") or {}).get("hosts", {}).get("worker", {})
        if entry.get("running"):
            seen.append(entry)
        return [e for e in seen if 0 < e["moved"] < len(written)]

    wait_until(partial, timeout=60, interval=0.05, message="a progress entry mid-move")
    entry = partial()[0]
    # the entry is exactly the documented model
    fields = {k: v for k, v in entry.items() if k != "ok"}
    assert OrganizeProgress(**fields).to_dict() == entry
    assert entry["to_move"] == len(written) and entry["elapsed"] >= 0
    assert entry["destination"] == str(worker.workdir / "e9" / "run_0001")
    reply = client.organize_files.wait(timeout=120)
    assert reply.session["success"] is True, reply.session["messages"]
    final = reply.session["data"]["hosts"]["worker"]
    assert final["counts"]["done"] == len(written) and "running" not in final
    assert len(worker.graw_names(worker.workdir / "e9" / "run_0001")) == len(written)


def test_agent_refuses_a_worker_whose_host_key_is_unknown(
    hub, run_agent, make_client, sshd, worker, tmp_path
):
    """A real agent process against the real sshd, with a known_hosts that lacks the worker:
    the monitor shows the state, a task fails with it, nothing runs on the worker."""
    worker.start(files=1)
    empty = tmp_path / "known_hosts"
    empty.write_text("")
    agent = run_agent(
        "DaqWorker",
        "daq-strict",
        args=[
            "--hosts",
            "worker",
            "--ssh-config",
            str(sshd.ssh_config),
            "--known-hosts",
            str(empty),
            "--data-router-name",
            worker.router_name,
            "--ecc-server-name",
            worker.ecc_name,
            "--monitor-interval",
            "0.5",
        ],
    )
    client = make_client("daq-strict")
    status = wait_until(
        lambda: client.monitor.status().session["data"].get("hosts", {}).get("worker"),
        timeout=20,
        message="a monitor sweep",
    )
    assert status["state"] == "host-key-rejected" and status["reachable"] is False
    assert status["error"].startswith("worker: host key not trusted")
    reply = client.organize_files(experiment="e1", run=1)
    assert reply.session["success"] is False
    entry = reply.session["data"]["hosts"]["worker"]
    assert entry["ok"] is False and entry["state"] == "host-key-rejected"
    assert reply.session["data"]["failed"] == ["worker"]
    assert worker.graw_names() != [] and not (worker.workdir / "e1").exists()
    assert "Accepted publickey" not in sshd.output()
    assert "host key checking is OFF" not in agent.output()


def test_agent_without_host_key_check_says_so_and_connects(
    hub, run_agent, make_client, sshd, worker, tmp_path
):
    worker.start()
    empty = tmp_path / "known_hosts"
    empty.write_text("")
    agent = run_agent(
        "DaqWorker",
        "daq-lax",
        args=[
            "--hosts",
            "worker",
            "--ssh-config",
            str(sshd.ssh_config),
            "--known-hosts",
            str(empty),
            "--no-host-key-check",
            "--data-router-name",
            worker.router_name,
            "--ecc-server-name",
            worker.ecc_name,
        ],
    )
    client = make_client("daq-lax")
    reply = client.find_data_router()
    assert reply.session["data"]["hosts"]["worker"] == {
        "ok": True,
        "working_dir": str(worker.workdir),
    }
    log = agent.output()
    # once at start-up, and for the connection
    assert "host key checking is OFF (--no-host-key-check): impostor hosts go unnoticed" in log
    assert "worker: host key checking is OFF (--no-host-key-check): this connection" in log
