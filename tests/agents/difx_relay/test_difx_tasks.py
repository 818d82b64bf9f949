"""The DiFXRelay task groups in-process: `FileTasks` and `JobTasks` on a real `Ops` over TCP to
the guiServer simulator process, with real sessions and local files, no hub. What a user sees:
the session data, the messages and the exact errors."""

from __future__ import annotations

import asyncio
import copy
from pathlib import Path

import pytest

from socs_like import OpSession
from socs_like.testing import run_in_new_loop, wait_until
from socs_like_agents.difx_relay.agent import DiFXRelay
from socs_like_agents.difx_relay.errors import LocalProtocolError, OperationFailed
from socs_like_agents.difx_relay.filetasks import FileTasks
from socs_like_agents.difx_relay.jobtasks import JobTasks
from socs_like_agents.difx_relay.localfiles import LocalFiles

from .test_difx_domain import _doc, _relay
from .test_difx_operations import _connect, _ops


def _session(name):
    return OpSession(1, name)


def _messages(session):
    return [m for _, m in session.messages if not m.startswith("Status is now")]


def test_file_tasks_inline_local_and_refused(guiserver, tmp_path):
    sim = guiserver("--load-interval", "30")
    box = sim.sandbox / "corr"
    (box / "exp").mkdir(parents=True)
    (box / "exp/empty.txt").write_text("")
    local = tmp_path / "local"
    (local / "sub").mkdir(parents=True)
    (local / "v2d.txt").write_text("vex = exp.vex\n")
    (local / "big.txt").write_text("x" * 101)
    (local / "file").write_text("")

    async def main():
        client, _ = await _connect(sim)
        files = FileTasks(
            lambda: _ops(client, sim), LocalFiles([str(local)], 100), asyncio.to_thread
        )
        try:
            s = _session("send_file")
            ok = await files.send_file(
                s,
                {"path": f"{box}/exp/a.v2d", "local_path": str(local / "v2d.txt"), "content": None},
            )
            assert ok == (True, f"{box}/exp/a.v2d: 14 bytes written")
            assert s.data == {"path": f"{box}/exp/a.v2d", "size": 14}
            for params in (
                {"local_path": None, "content": None},
                {"local_path": "x", "content": "y"},
            ):
                with pytest.raises(LocalProtocolError, match="give exactly one of local_path"):
                    await files.send_file(_session("send_file"), {"path": f"{box}/b", **params})
            big = str(local / "big.txt")
            with pytest.raises(OperationFailed) as e:
                await files.send_file(
                    _session("send_file"), {"path": f"{box}/b", "local_path": big, "content": None}
                )
            assert str(e.value) == f"{big} is 101 bytes, more than the 100 allowed"

            s = _session("get_file")
            assert await files.get_file(s, {"path": f"{box}/exp/a.v2d", "local_path": None}) == (
                True,
                f"{box}/exp/a.v2d: 14 bytes",
            )
            assert s.data == {"path": f"{box}/exp/a.v2d", "size": 14, "text": "vex = exp.vex\n"}
            s = _session("get_file")
            await files.get_file(s, {"path": f"{box}/exp/empty.txt", "local_path": None})
            assert s.data == {"path": f"{box}/exp/empty.txt", "size": 0, "text": ""}
            s = _session("get_file")
            to = str(local / "sub" / "back.txt")
            ok = await files.get_file(s, {"path": f"{box}/exp/a.v2d", "local_path": to})
            assert ok == (True, f"{box}/exp/a.v2d: 14 bytes written to {to}")
            assert s.data == {"path": f"{box}/exp/a.v2d", "size": 14, "local_path": to}
            assert Path(to).read_text() == "vex = exp.vex\n" and not Path(f"{to}.part").exists()
            # the write fails (a file where a folder should be): what was fetched stays said
            s = _session("get_file")
            bad = str(local / "file" / "x.txt")
            with pytest.raises(OperationFailed) as e:
                await files.get_file(s, {"path": f"{box}/exp/a.v2d", "local_path": bad})
            assert str(e.value).startswith(f"fetched 14 bytes but cannot write {bad}: ")
            assert s.data == {"path": f"{box}/exp/a.v2d", "size": 14}

            s = _session("mv")
            ok = await files.mv(s, {"path": f"{box}/exp/a.v2d", "destination": f"{box}/exp/b.v2d"})
            a, b = f"{box}/exp/a.v2d", f"{box}/exp/b.v2d"
            assert ok == (True, f"mv {a}: done; ls shows {a} is gone, {b} exists")
            assert s.data["exists"] == {f"{box}/exp/a.v2d": False, f"{box}/exp/b.v2d": True}
        finally:
            client.close()

    run_in_new_loop(main())


def test_vex2difx_reports_files_as_they_come(guiserver):
    sim = guiserver("--load-interval", "30")
    box = sim.sandbox / "corr"
    (box / "exp").mkdir(parents=True)
    (box / "exp/exp.v2d").write_text("# sim-jobs: 2\nvex = exp.vex\n")

    async def main():
        client, _ = await _connect(sim)
        relay, _ = _relay()
        jobs = JobTasks(lambda: _ops(client, sim), relay, lambda: "DIFX-2.8.1")
        try:
            s = _session("vex2difx")
            seen = []
            s.add_message = lambda text: seen.append((text, copy.deepcopy(s.data)))
            params = {"path": f"{box}/exp", "v2d": "exp.v2d", "calc_command": "calcif2"}
            ok = await jobs.vex2difx(s, params | {"calc_only": False, "timeout": 10.0})
            inputs = [f"{box}/exp/exp_1.input", f"{box}/exp/exp_2.input"]
            ims = [f"{box}/exp/exp_1.im", f"{box}/exp/exp_2.im"]
            assert ok == (True, "2 .input, 2 .im files")
            assert s.data == {"input_files": inputs, "im_files": ims}
            # each new file is in the session data by the time its message says so
            assert seen[0] == (
                f"new .input file: {inputs[0]}",
                {"input_files": inputs[:1], "im_files": []},
            )
            assert seen[-1] == (f"new .im file: {ims[1]}", {"input_files": inputs, "im_files": ims})
        finally:
            client.close()

    run_in_new_loop(main())


def test_start_job_session_data_follows_the_phases_and_the_job_table(guiserver):
    sim = guiserver("--step-seconds", "0.05", "--job-steps", "4", "--load-interval", "30")
    box = sim.sandbox / "corr"
    box.mkdir()
    (box / "plain.input").write_text("DATASTREAM ENTRIES: 1\n")

    async def main():
        client, _ = await _connect(sim)
        relay, _ = _relay()
        # the job as the relay's feed last saw it (the relay here is not connected)
        status = "<difxStatus><message>m</message><state>Running</state></difxStatus>"
        relay.on_document(_doc("DifxStatusMessage", "plain", 0, body=status))
        jobs = JobTasks(lambda: _ops(client, sim), relay, lambda: "")
        try:
            s = _session("start_job")
            seen = []

            def on_message(text):
                if not text.startswith("Status is now"):
                    seen.append(dict(s.data))

            s.add_message = on_message
            params = {"input": f"{box}/plain.input", "head": "difxhead", "datastreams": ["ds1"]}
            params |= {"processors": ["cn01:7"], "wait": True, "force": True, "monitor": False}
            ok = await jobs.start_job(s, params | {"function": "default", "restart_seconds": 0})
            assert ok[0] and ok[1].startswith("plain: done")
            # each line is logged, then its phase is in the data; the job table is followed
            first = {"job": "plain", "phase": "requested", "state": None, "progress": 0.0}
            assert seen[0] == first and seen[1]["phase"] == "started"
            assert seen[1]["state"] == "Running"
            assert "starting difx" in [d["phase"] for d in seen]
            assert s.data["job"] == "plain" and s.data["phase"] == "done" and s.data["running"]
            assert (s.data["state"], s.data["progress"]) == ("Running", 0.0)
        finally:
            client.close()

    run_in_new_loop(main())


def test_the_agent_wires_its_tasks_to_one_connection_and_one_difx_version(guiserver, ops_driver):
    """DiFXRelay in-process with no hub: the relay process connects, set_version's choice is
    what later requests carry on the wire, configure_relay's settings are its session data."""
    sim = guiserver("--load-interval", "30")
    box = sim.sandbox / "corr"
    (box / "exp").mkdir(parents=True)
    (box / "exp/exp.v2d").write_text("# sim-jobs: 1\nvex = exp.vex\n")
    args = ("--host", "127.0.0.1", "--port", str(sim.port), "--allowed-root", str(box))
    driver = ops_driver(DiFXRelay, *args)
    r = driver.run_task("vex2difx", path=f"{box}/exp", v2d="exp.v2d")
    assert not r.session["success"]
    assert r.session["messages"][-2][1] == (
        f"not connected to guiServer at 127.0.0.1:{sim.port} (never connected)"
    )
    assert driver("start", "relay").status == 0
    try:
        client = wait_until(
            lambda: (
                driver.call(lambda: driver.instance.relay_state.server)
                and driver.instance.relay_state.client
            ),
            10,
            message="relay connected",
        )
        sent = []
        driver.call(lambda: setattr(client, "send", _spy(client.send, sent)))
        r = driver.run_task("set_version", version="DIFX_DEVEL")
        assert r.session["data"] == {"difx_version": "DIFX_DEVEL"}
        r = driver.run_task("vex2difx", path=f"{box}/exp", v2d="exp.v2d")
        assert r.session["success"], r.session["messages"]
        assert any(b"<difxVersion>DIFX_DEVEL</difxVersion>" in p.payload for p in sent)
        r = driver.run_task("configure_relay", selection="DifxAlertMessage")
        assert r.session["data"] == {"relay_on": True, "selection": ["DifxAlertMessage"]}
        assert driver.run_task("version").session["data"]["version"] == "guiServer-sim 1.0"
    finally:
        driver("stop", "relay")
        driver("wait", "relay", timeout=10)


def _spy(send, sent):
    def spying(packet):
        sent.append(packet)
        return send(packet)

    return spying
