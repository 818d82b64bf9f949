"""The DaqWorker shell in-process (``ops_driver``: no hub, the ops RPC's code path) against the
real sshd and a simulated worker, with a second host nobody serves: what a caller sees of a
task on many hosts and of the monitor (outcome, session messages, session data)."""

from __future__ import annotations

import asyncio

from socs_like.testing import free_port, wait_until


def _messages(reply):
    return [m for _t, m in reply.session["messages"] if not m.startswith("Status is now")]


def test_a_task_on_a_worker_and_a_dead_host_and_the_monitor(ops_driver, sshd, worker, tmp_path):
    worker.start(files=3)
    config = tmp_path / "ssh_config"
    ghost = sshd.ssh_config_entry("ghost").replace(f"Port {sshd.port}", f"Port {free_port()}")
    config.write_text(sshd.ssh_config_entry() + ghost)
    driver = ops_driver(
        "DaqWorker",
        "--hosts", "worker", "ghost", "worker",
        "--ssh-config", str(config), "--ssh-connect-timeout", "2",
        "--data-router-name", worker.router_name, "--ecc-server-name", worker.ecc_name,
    )  # fmt: skip

    reply = driver.run_task("check_ecc_server_status")
    data = reply.session["data"]
    assert reply.session["success"] is False
    assert list(data["hosts"]) == ["worker", "ghost"] and data["failed"] == ["ghost"]
    assert data["hosts"]["worker"] == {
        "ok": True,
        "running": True,
        "summary": f"{worker.ecc_name} runs",
    }
    failed = data["hosts"]["ghost"]
    assert failed["ok"] is False and failed["state"] == "unreachable"
    assert failed["error"].startswith("ghost: ") and "Connection refused" in failed["error"]
    assert _messages(reply)[-2:] == [
        f"ghost: {failed['error']}",
        f"check_ecc_server_status: 1 of 2 hosts ok; ghost: {failed['error']}",
    ]

    reply = driver.run_task("get_graw_list", hosts=["worker", "worker"])
    assert reply.session["success"] is True
    assert reply.session["data"]["failed"] == []
    assert reply.session["data"]["hosts"]["worker"]["count"] == 3
    assert _messages(reply)[-1] == "get_graw_list: 1 of 1 hosts ok"

    reply = driver.run_task("find_data_router", hosts=[])
    assert reply.session["success"] is False
    assert _messages(reply)[-1] == "unknown host(s) []; this agent serves ['worker', 'ghost']"

    driver("start", "monitor", {"interval": 0.2})
    wait_until(
        lambda: driver("status", "monitor").session["data"].get("sweeps", 0) >= 2,
        timeout=30,
        message="two monitor sweeps",
    )
    driver("stop", "monitor")
    reply = driver("wait", "monitor", timeout=30)
    data = reply.session["data"]
    assert reply.session["success"] is True
    assert _messages(reply)[-1] == f"monitor stopped after {data['sweeps']} sweeps"
    assert data["problems"] == {"worker": 0, "ghost": data["sweeps"]}
    assert data["hosts"]["worker"]["graw_files"] == 3
    # a state is said once, when it changes, not at every sweep
    said = _messages(reply)
    assert said.count("worker is ok") == 1
    assert sum(m.startswith("ghost is unreachable: ") for m in said) == 1
    # the hosts share one pool: closed on the agent's loop before the driver closes it
    closing = driver.call(
        lambda: asyncio.ensure_future(driver.instance.workers["worker"].pool.close())
    )
    wait_until(closing.done, message="the SSH pool to close")
