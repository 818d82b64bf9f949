"""DiFXRelay end to end: simulator ↔ real agent process ↔ real hub ↔ client and feed listeners."""

from __future__ import annotations

import os
import signal
import socket
import struct
import threading

from socs_like.testing import wait_until

FAST = ("--step-seconds", "0.1", "--job-steps", "8", "--load-interval", "0.5")


def _agent_args(sim, *extra):
    return [
        "--host",
        "127.0.0.1",
        "--port",
        str(sim.port),
        "--allowed-root",
        str(sim.sandbox / "corr"),
        *extra,
    ]


def _msg(reply):
    """The operation's own closing message (the reply's msg is the framework's)."""
    return [m for _, m in reply.session["messages"] if not m.startswith("Status is now")][-1]


def _relay_data(client):
    return client.relay.status().session["data"]


def _input(sim, name, behaviour=None):
    path = sim.sandbox / "corr" / "exp" / f"{name}.input"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(
        "DATASTREAM ENTRIES: 1\n" + (f"SIM BEHAVIOUR: {behaviour}\n" if behaviour else "")
    )
    return str(path)


MACHINES = {"head": "difxhead", "datastreams": ["ds1"], "processors": ["cn01:7", "cn02:5"]}


def test_guide_workflow_progress_load_and_relay_settings(
    guiserver, run_agent, make_client, feed_listener, tmp_path
):
    """The DiFX interface guide's workflow through the agent: files, vex2difx, machines, a job
    watched to the end, its output listed and fetched, its status from its log; then relay
    settings changed at run time."""
    sim = guiserver(*FAST)
    (sim.sandbox / "corr").mkdir()
    local = tmp_path / "local"
    run_agent("DiFXRelay", "difx1", args=_agent_args(sim, "--local-root", str(local)))
    c = make_client("difx1")
    status = feed_listener("difx1", "difx_status")
    load = feed_listener("difx1", "difx_load")
    mark5 = feed_listener("difx1", "mark5_status")
    data = wait_until(lambda: (d := _relay_data(c)).get("connected") and d, 10, message="connected")
    assert data["last_error"] is None and data["relay_on"] and data["selection"] is None

    v = c.version()
    assert v.session["success"] and v.session["data"]["version"] == "guiServer-sim 1.0"
    assert not c.set_version(version="DIFX-9").session["success"]
    assert c.set_version(version="DIFX_DEVEL").session["success"]

    box = sim.sandbox / "corr"
    r = c.mkdir(path=f"{box}/exp/a/b")
    assert r.session["success"] and (box / "exp/a/b").is_dir()
    assert _msg(r) == f"mkdir {box}/exp/a/b: done; ls shows {box}/exp/a/b exists"
    r = c.send_file(path=f"{box}/exp/exp.v2d", content="# sim-jobs: 2\nvex = exp.vex\n")
    assert r.session["success"], r.session["messages"]
    r = c.vex2difx(path=f"{box}/exp", v2d="exp.v2d")
    assert r.session["success"], r.session["messages"]
    assert r.session["data"]["input_files"] == [f"{box}/exp/exp_1.input", f"{box}/exp/exp_2.input"]
    assert any(m[1] == f"new .im file: {box}/exp/exp_2.im" for m in r.session["messages"])
    assert c.ls(path=f"{box}/exp/*.im").session["data"]["entries"] == [
        f"{box}/exp/exp_1.im",
        f"{box}/exp/exp_2.im",
    ]
    two = MACHINES | {"datastreams": ["ds1", "ds2"]}  # vex2difx wrote 2 datastreams
    r = c.define_machines(input=f"{box}/exp/exp_1.input", **two)
    assert r.session["success"], r.session["messages"]
    assert r.session["data"]["machines_file"] == f"{box}/exp/exp_1.machines"
    r = c.get_machines(input=f"{box}/exp/exp_1.input")
    assert r.session["data"]["processors"] == [
        {"node": "cn01", "threads": 7},
        {"node": "cn02", "threads": 5},
    ]

    # a whole job, machines read from its files, real-time monitor off, progress on the feed
    r = c.start_job(input=f"{box}/exp/exp_1.input")
    assert r.session["success"], r.session["messages"]
    assert _msg(r).startswith("exp_1: done")
    assert r.session["data"]["phase"] == "done" and r.session["data"]["running"]
    events = status.wait_for(
        lambda ev: (
            [p for p, _ in ev if p["job"] == "exp_1"]
            if any(p["job"] == "exp_1" and p["state"] == "Done" for p, _ in ev)
            else None
        )
    )
    running = [p["progress"] for p in events if p["state"] == "Running"]
    assert running == sorted(running) and len(running) == 8 and running[-1] == 100.0
    assert 0 < running[0] < 20
    assert [p["state"] for p in events][-2:] == ["Ending", "Done"]
    assert events[0]["host"] == "difxhead" and all(p["seq_gap"] == 0 for p in events)
    # recorded: one block per host per frame, each field a list of samples
    blocks = load.wait_for(
        lambda ev: [
            p["cn01"]["data"]
            for p, _ in ev
            if 2.0 in p.get("cn01", {}).get("data", {}).get("cpu_load", [])
        ]
    )
    d = blocks[0]
    job_samples = [i for i, cpu in enumerate(d["cpu_load"]) if cpu == 2.0]
    assert {d["total_memory"][i] for i in job_samples} == {64_000_000}
    assert {d["n_core"][i] for i in job_samples} == {16}
    assert all(8_000_000 < d["used_memory"][i] <= 8_000_008 for i in job_samples)
    assert all(d["net_rx_rate"][i] == 1000 * d["net_tx_rate"][i] // 10 for i in job_samples)
    unit = mark5.wait_for(lambda ev: ev and ev[0][0], 10)
    assert (unit["host"], unit["bank_a_vsn"], unit["status_word"], unit["state"]) == (
        "mark5fx01",
        "NRAO+123",
        0x00F02001,
        "Idle",
    )
    data = wait_until(
        lambda: (d := _relay_data(c))["jobs"]["exp_1"]["state"] == "Done" and d,
        15,
        message="job table updated",
    )
    assert data["jobs"]["exp_1"]["progress"] == 100.0
    assert data["seq_lost"] == 0 and data["bad_documents"] == 0
    assert data["senders"]["difxhead/0"]["received"] >= 10

    # its output listed and fetched, its status from its log
    r = c.ls(path=f"{box}/exp", args="-l")
    assert any(e.endswith(" exp_1.difx") for e in r.session["data"]["entries"])
    r = c.get_file(path=f"{box}/exp/exp_1.machines", local_path=str(local / "m.txt"))
    assert r.session["success"], _msg(r)
    assert (local / "m.txt").read_text() == "difxhead\nds1\nds2\ncn01\ncn02\n"
    r = c.get_file(path=f"{box}/exp/exp_1.threads")
    assert r.session["data"]["text"].startswith("NUMBER OF CORES:")
    r = c.job_status(pattern=f"{box}/exp/exp_*.input")
    assert {k: v["state"] for k, v in r.session["data"]["jobs"].items()} == {
        f"{box}/exp/exp_1.input": "Done",
        f"{box}/exp/exp_2.input": "no .difxlog",
    }

    # confinement: refused before the wire, nothing changes on disk
    (sim.sandbox / "keep").mkdir()
    for call, error in [
        (lambda: c.rmdir(path=str(sim.sandbox / "keep")), "(outside_roots)"),
        (lambda: c.rm(path=f"{box}/../keep", args="-r"), "(dotdot)"),
        (lambda: c.rm(path=f"{box}/exp/x;rm -rf ~"), "contains characters"),
        (lambda: c.mv(path=f"{box}/exp/exp_1.input", destination="/tmp/x"), "(outside_roots)"),
        (lambda: c.ls(path=f"{box}", args="-l; reboot"), "only plain flags"),
        (
            lambda: c.get_file(path=f"{box}/exp/exp_1.input", local_path="/etc/x"),
            "(outside_roots)",
        ),
    ]:
        r = call()
        assert not r.session["success"] and error in _msg(r), _msg(r)
    assert (sim.sandbox / "keep").is_dir() and (box / "exp/exp_1.input").exists()
    assert c.rm(path=f"{box}/exp/*.im").session["success"]
    assert not list((box / "exp").glob("*.im"))

    # relay settings at run time: only alerts, by the guide's type names; then relay off
    r = c.configure_relay(selection=["DifxAlertMessage"])
    assert r.session["success"] and r.session["data"]["selection"] == ["DifxAlertMessage"]
    seen = len(status.events)
    # "errors": the correlator raises an alert and goes on (guiServer ends with 120)
    assert c.start_job(input=_input(sim, "quiet_1", "errors"), **MACHINES).session["success"]
    alerts = wait_until(lambda: _relay_data(c)["documents"].get("DifxAlertMessage"), 15)
    assert len(status.events) == seen and alerts
    assert c.configure_relay(relay=False, selection="ALL").session["success"]
    before = _relay_data(c)["documents"]
    assert c.start_job(input=_input(sim, "quiet_2"), **MACHINES).session["success"]
    assert _relay_data(c)["documents"] == before
    assert not c.configure_relay(selection=["Status"]).session["success"]


def test_failing_job_stop_and_wedged_stop(guiserver, run_agent, make_client, feed_listener):
    sim = guiserver("--step-seconds", "0.2", "--job-steps", "30", "--load-interval", "30")
    agent = run_agent("DiFXRelay", "difx2", args=_agent_args(sim))
    c = make_client("difx2")
    alerts = feed_listener("difx2", "difx_alerts")
    wait_until(lambda: _relay_data(c).get("connected"), 10, message="relay connected")

    path = _input(sim, "bad_1", "fail")
    r = c.start_job(input=path, **MACHINES)
    assert not r.session["success"]
    assert _msg(r).startswith(f"{path}: job failed; last error: ")
    sev = alerts.wait_for(
        lambda ev: [p for p, _ in ev if p["job"] == "bad_1" and p["severity"] == 1]
    )
    assert sev[0]["severity_name"] == "SEVERE" and sev[0]["message"].startswith("Datastream 1")

    # a stop that works: guiServer reports the kill, the correlator falls silent
    path = _input(sim, "good_1")
    r = c.start_job(input=path, wait=False, **MACHINES)
    assert r.session["success"] and _msg(r) == "good_1: started"
    wait_until(lambda: (_relay_data(c)["jobs"].get("good_1") or {}).get("state") == "Running", 10)
    r = c.stop_job(input=path, timeout=10.0, quiet=1.0)
    assert r.session["success"], _msg(r)
    assert _msg(r).startswith("good_1: ended; guiServer reported killing PID ")
    assert r.session["data"]["ended"] == "killed" and r.session["data"]["kills"]

    # a stop that does nothing: the correlator keeps reporting
    path = _input(sim, "stuck_1", "wedge")
    assert c.start_job(input=path, wait=False, **MACHINES).session["success"]
    wait_until(lambda: (_relay_data(c)["jobs"].get("stuck_1") or {}).get("state") == "Running", 10)
    r = c.stop_job(input=path, timeout=1.5)
    assert not r.session["success"]
    assert _msg(r).startswith("stuck_1: the correlator still reports (Running (correlator)")
    assert _msg(r).endswith("1.5 s after DifxStop; the job is still running")
    # a clean stop: SIGTERM ends the relay process and the agent, nothing left unhandled
    assert agent.stop() == 0
    assert "Traceback" not in agent.output()


def test_reconnect_after_restart_and_dead_connection(guiserver, run_agent, make_client):
    sim = guiserver("--load-interval", "30")
    run_agent(
        "DiFXRelay", "difx3", args=_agent_args(sim, "--idle-probe", "0.5", "--probe-timeout", "0.5")
    )
    c = make_client("difx3")
    wait_until(lambda: _relay_data(c).get("connected"), 10, message="relay connected")

    # A server that stops answering (process frozen, socket still open) is found by probing.
    os.kill(sim.proc.pid, signal.SIGSTOP)
    try:
        data = wait_until(
            lambda: (d := _relay_data(c)) and not d["connected"] and d,
            10,
            message="dead connection detected",
        )
        assert data["last_disconnect"].startswith("silent for ")
        assert data["last_disconnect"].endswith("no answer to a probe within 0.5 s")
    finally:
        os.kill(sim.proc.pid, signal.SIGCONT)
    wait_until(lambda: _relay_data(c)["connected"], 10, message="reconnected after thaw")

    # Killed and restarted on the same port: back within the backoff cap.
    port = sim.port
    sim.kill()
    wait_until(lambda: not _relay_data(c)["connected"], 10, message="loss noticed")
    r = c.mkdir(path=str(sim.sandbox / "corr" / "x"))
    assert _msg(r).startswith("not connected to guiServer") and not r.session["success"]
    before = _relay_data(c)["reconnects"]
    restarted = guiserver("--load-interval", "30", "--port", str(port))
    assert restarted.port == port
    wait_until(
        lambda: (d := _relay_data(c))["connected"] and d["reconnects"] > before,
        15,
        message="reconnected after restart",
    )
    assert c.mkdir(path=str(sim.sandbox / "corr" / "x")).session["success"]
    assert (sim.sandbox / "corr" / "x").is_dir()


def test_direct_mode_and_bad_datagrams(guiserver, run_agent, make_client, feed_listener):
    sim = guiserver(*FAST)
    run_agent(
        "DiFXRelay",
        "difx4",
        args=[
            "--mode",
            "direct",
            "--multicast-group",
            "239.255.77.1",
            "--multicast-port",
            str(sim.multicast_port),
            "--multicast-interface",
            "127.0.0.1",
        ],
    )
    c = make_client("difx4")
    status = feed_listener("difx4", "difx_status")
    wait_until(lambda: _relay_data(c).get("last_error") == "listening", 10, message="joined")

    tx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    tx.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_IF, socket.inet_aton("127.0.0.1"))
    for junk in (b"<difxMessage><header>", b"\x00\x01garbage", b"<a/>" * 3000):
        tx.sendto(junk, ("239.255.77.1", sim.multicast_port))
    tx.close()
    data = wait_until(
        lambda: (d := _relay_data(c))["bad_documents"] == 3 and d,
        10,
        message="bad datagrams counted",
    )
    assert data["last_bad_document"] == (
        "document of 12000 bytes is over the 10240 a DiFX datagram can carry"
    )

    # drive a job through the simulator with a second agent in relay mode; the direct one sees it
    run_agent("DiFXRelay", "difx5", args=_agent_args(sim))
    c5 = make_client("difx5")
    wait_until(lambda: _relay_data(c5).get("connected"), 10, message="relay connected")
    assert c5.start_job(input=_input(sim, "mc_1"), **MACHINES).session["success"]
    events = status.wait_for(
        lambda ev: [p for p, _ in ev] if any(p["state"] == "Done" for p, _ in ev) else None
    )
    assert next(p["state"] for p in events) == "Starting"
    assert max(p["progress"] for p in events) == 100.0
    r = c.mkdir(path="/x")
    assert not r.session["success"] and "direct (multicast) mode" in _msg(r)


def test_garbage_from_the_server_costs_a_document_or_a_reconnect(run_agent, make_client):
    """A hand-written server: one bad document, one good, then a corrupt frame length."""
    from socs_like_agents.difx_relay.framing import Packet, PacketId, encode_packet
    from socs_like_agents.difx_relay.messages import Header, StatusMessage, encode_message

    burst = b"".join(
        encode_packet(p)
        for p in (
            Packet(PacketId.GUISERVER_VERSION, b"bad-server 0.1"),
            Packet(PacketId.CHANNEL_ALL_DATA),
        )
    )
    good = encode_message(
        StatusMessage(
            header=Header(
                from_host="h", message_type="DifxStatusMessage", identifier="j", seq_number=0
            ),
            state="Running",
        )
    )
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    conns = []

    def serve():
        for n in range(2):
            conn, _ = listener.accept()
            conns.append(conn)
            received = b""
            while struct.pack(">ii", PacketId.GUISERVER_VERSION, 0) not in received:
                received += conn.recv(4096)
            conn.sendall(burst)
            if n == 0:
                conn.sendall(
                    encode_packet(Packet(PacketId.WARNING, b"disk nearly full"))
                    + encode_packet(Packet(PacketId.RELAY, b"<difxMessage><hea"))
                    + encode_packet(Packet(PacketId.RELAY, good))
                    + struct.pack(">ii", 1, -7)
                )

    threading.Thread(target=serve, daemon=True).start()
    try:
        run_agent(
            "DiFXRelay",
            "difx6",
            args=["--host", "127.0.0.1", "--port", str(port), "--allowed-root", "/nonexistent"],
        )
        c = make_client("difx6")
        data = wait_until(
            lambda: (d := _relay_data(c))["reconnects"] >= 1 and d["connected"] and d,
            15,
            message="reconnected after a corrupt frame",
        )
        assert data["last_disconnect"] == (
            "protocol error: packet id 1 announces -7 bytes of "
            "payload (allowed 0..16777216): the stream is corrupt"
        )
        assert data["bad_documents"] == 1 and data["documents"] == {"DifxStatusMessage": 1}
        assert data["last_bad_document"].startswith("malformed DiFX message")
        assert data["guiserver"]["version"] == "bad-server 0.1"
        assert data["server_messages"] == {"warning": 1}
    finally:
        for conn in conns:
            conn.close()
        listener.close()


def test_mark5_file_list_and_file_tasks(guiserver, run_agent, make_client):
    """The tasks that had builders but no task before, through the agent."""
    sim = guiserver("--load-interval", "30")
    box = sim.sandbox / "corr"
    (box / "data").mkdir(parents=True)
    (box / "data" / "a.vdif").write_bytes(b"\x00" * 64)
    run_agent("DiFXRelay", "difx7", args=_agent_args(sim))
    c = make_client("difx7")
    wait_until(lambda: _relay_data(c).get("connected"), 10, message="relay connected")

    r = c.touch(path=f"{box}/data/t.txt")
    assert r.session["success"] and (box / "data/t.txt").exists()
    r = c.cp(path=f"{box}/data/t.txt", destination=f"{box}/data/u.txt")
    assert r.session["data"]["exists"] == {f"{box}/data/u.txt": True}
    r = c.get_directory(mark5="mark5fx01", vsn="NRAO+123", generate_new=True)
    assert r.session["success"], _msg(r)
    assert r.session["data"]["lines"] and r.session["data"]["path"].endswith("NRAO+123.dir")
    r = c.mk5_control(command="getvsn", target_node="mark5fx01")
    assert r.session["success"] and r.session["data"]["errors"] == []
    (box / "copy").mkdir()
    r = c.mark5_copy(mark5="mark5fx01", vsn="NRAO+123", scans="1", destination=f"{box}/copy")
    assert r.session["success"] and (box / "copy/NRAO+123_0001.m5a").exists()
    args = {
        "files": [f"{box}/data/a.vdif"],
        "destination": f"{box}/data/list.txt",
        "data_format": "VDIF",
        "ref_mjd": 60000,
    }
    r = c.generate_filelist(**args)
    assert r.session["success"], _msg(r)
    assert r.session["data"]["destination"] == f"{box}/data/list.txt"
    r = c.generate_filelist(**args)
    assert r.session["success"] and r.session["data"]["cancelled"]
    assert _msg(r) == f"{box}/data/list.txt exists; kept (overwrite=False)"
    r = c.generate_filelist(**args, overwrite=True)
    assert r.session["success"] and not r.session["data"]["cancelled"]
    assert r.session["data"]["existed"]


def test_cli_reads_a_long_fetched_file_whole(guiserver, run_agent, hub):
    """`socs-like call ... --full` prints session data whole (a fetched file's text), where
    the default shows its first 300 characters."""
    import json
    import subprocess
    import sys
    from pathlib import Path

    sim = guiserver("--load-interval", "30")
    (sim.sandbox / "corr").mkdir()
    text = "".join(f"STATUS line {i:04d}\n" for i in range(100))  # 1 700 characters
    (sim.sandbox / "corr" / "j.difxlog").write_text(text)
    run_agent("DiFXRelay", "difx8", args=_agent_args(sim))

    def call(*extra):
        return subprocess.run(
            [
                str(Path(sys.executable).with_name("socs-like")),
                "call",
                "--site-config",
                str(hub.site_file),
                "difx8",
                "get_file",
                f"path={sim.sandbox}/corr/j.difxlog",
                *extra,
            ],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )

    wait_until(lambda: call().returncode == 0, 20, message="get_file through the CLI")
    short = call().stdout
    assert "... (--full shows all)" in short and "STATUS line 0099" not in short
    full = call("--full").stdout
    data = json.loads(full.split("  data: ", 1)[1])
    assert data["text"] == text and data["size"] == len(text)
