"""Every operation of the relay over real TCP against the guiServer simulator process: our
`GuiClient` + `Ops` (the code the agent's tasks call), no hub in between."""

from __future__ import annotations

import struct

import pytest

from socs_like.testing import run_in_new_loop
from socs_like_agents.difx_relay import commands
from socs_like_agents.difx_relay.connection import Diagnostic
from socs_like_agents.difx_relay.errors import LocalProtocolError, OperationFailed
from socs_like_agents.difx_relay.guiclient import GuiClient
from socs_like_agents.difx_relay.machines import Machines
from socs_like_agents.difx_relay.operations import Ops, RemotePaths

MACHINES = Machines("difxhead", ("ds1",), (("cn01", 7), ("cn02", 5)))
TWO_DS = Machines("difxhead", ("ds1", "ds2"), MACHINES.processors)  # vex2difx writes 2


async def _connect(sim, diagnostics=None, relayed=None):
    client = await GuiClient.connect(
        "127.0.0.1",
        sim.port,
        on_relayed=relayed.append if relayed is not None else None,
        on_diagnostic=diagnostics.append if diagnostics is not None else None,
    )
    client.send(commands.difx_setup_path(""))
    client.send(commands.channel_all_data(True))
    client.send(commands.relay(relayed is not None))
    client.send(commands.message_selection(None))
    server = await client.version(5)
    return client, server


def _ops(client, sim):
    return Ops(client, RemotePaths([str(sim.sandbox / "corr")]), timeout=5)


def test_version_burst_and_file_operations(guiserver):
    sim = guiserver("--load-interval", "30")
    box = sim.sandbox / "corr"
    box.mkdir()

    async def main():
        client, server = await _connect(sim)
        ops = _ops(client, sim)
        try:
            assert server.version == "guiServer-sim 1.0"
            assert server.user == "difx" and server.available == ("DIFX-2.8.1", "DIFX_DEVEL")
            assert server.difx_base.endswith("/difx") and server.environment

            # mkdir with parents, then touch/cp/mv/rm/rmdir: silent on the wire, checked by ls
            r = await ops.file_op("mkdir", f"{box}/exp/a/b")
            assert r.exists == {f"{box}/exp/a/b": True} and (box / "exp/a/b").is_dir()
            # the root itself: checked without looking outside the allowed roots
            assert (await ops.file_op("mkdir", str(box))).exists == {str(box): True}
            r = await ops.file_op("touch", f"{box}/exp/t.txt")
            assert r.exists == {f"{box}/exp/t.txt": True}
            r = await ops.file_op("cp", f"{box}/exp/t.txt", f"{box}/exp/c.txt")
            assert r.exists == {f"{box}/exp/c.txt": True}
            r = await ops.file_op("mv", f"{box}/exp/c.txt", f"{box}/exp/m.txt")
            assert r.exists == {f"{box}/exp/c.txt": False, f"{box}/exp/m.txt": True}
            assert (box / "exp/m.txt").exists() and not (box / "exp/c.txt").exists()
            r = await ops.file_op("rm", f"{box}/exp/*.txt")
            assert r.exists == {f"{box}/exp/*.txt": False}
            r = await ops.file_op("rmdir", f"{box}/exp/a/b")
            assert not (box / "exp/a/b").exists()
            # a silent failure is reported as what the ls found, not as a time-out
            with pytest.raises(OperationFailed) as e:
                await ops.file_op("rmdir", f"{box}/exp")  # not empty: a/ is still there
            assert str(e.value) == (
                f"rmdir {box}/exp: guiServer reports nothing for this operation, and an ls "
                f"afterwards shows {box}/exp still exists (the reason is only on guiServer's "
                "console)"
            )

            # ls: raw records; with -l the long lines come whole
            (box / "exp/j_1.input").write_text("DATASTREAM ENTRIES: 1\n")
            (box / "exp/j_2.input").write_text("DATASTREAM ENTRIES: 1\n")
            r = await ops.ls(f"{box}/exp/*.input")
            assert r.entries == [f"{box}/exp/j_1.input", f"{box}/exp/j_2.input"]
            r = await ops.ls(f"{box}/exp", "-l")
            assert any(e.endswith(" j_1.input") and e.startswith("-") for e in r.entries)
            assert (await ops.ls(f"{box}/missing")).entries == []

            # send then get: text both ways, sizes confirmed
            text = "".join(f"line {i}\n" for i in range(700))  # > 1024 bytes: several blocks
            sent = await ops.send_file(f"{box}/exp/exp.v2d", text.encode())
            assert sent.size == len(text) and (box / "exp/exp.v2d").read_text() == text
            got = await ops.get_file(f"{box}/exp/exp.v2d", 1 << 20)
            assert got.data == text.encode() and got.size == len(text)
            assert (await ops.get_file(f"{box}/exp/j_1.input", 100)).size == 22
            with pytest.raises(OperationFailed) as e:
                await ops.get_file(f"{box}/exp/nothing", 100)
            assert str(e.value) == (
                f"get {box}/exp/nothing: guiServer refused (-2: file not found)"
            )
            with pytest.raises(OperationFailed) as e:
                await ops.send_file(f"{box}/nodir/x.txt", b"x")
            assert str(e.value) == (
                f"send {box}/nodir/x.txt: guiServer refused (-2: destination directory does "
                "not exist)"
            )
            with pytest.raises(OperationFailed, match="more than the 10 allowed"):
                await ops.get_file(f"{box}/exp/exp.v2d", 10)
            with pytest.raises(LocalProtocolError, match="NUL byte"):
                await ops.send_file(f"{box}/exp/bin", b"a\x00b")
            # the connection is still usable after every failure above
            assert (await ops.ls(f"{box}/exp/j_1.input")).entries == [f"{box}/exp/j_1.input"]
        finally:
            client.close()

    run_in_new_loop(main())


def test_vex2difx_machines_and_job_status(guiserver):
    sim = guiserver("--step-seconds", "0.05", "--job-steps", "4", "--load-interval", "30")
    box = sim.sandbox / "corr"
    (box / "exp").mkdir(parents=True)
    (box / "exp/exp.v2d").write_text("# sim-jobs: 2\nvex = exp.vex\n")

    async def main():
        client, _ = await _connect(sim)
        ops = _ops(client, sim)
        try:
            seen = []
            r = await ops.vex2difx(
                f"{box}/exp",
                "exp.v2d",
                calc_command="calcif2",
                calc_only=False,
                difx_version="DIFX-2.8.1",
                timeout=10,
                on_file=seen.append,
            )
            assert r.input_files == [f"{box}/exp/exp_1.input", f"{box}/exp/exp_2.input"]
            assert r.im_files == [f"{box}/exp/exp_1.im", f"{box}/exp/exp_2.im"]
            assert seen == r.input_files + r.im_files

            lines = []
            m = await ops.define_machines(
                f"{box}/exp/exp_1.input",
                TWO_DS,
                difx_version="",
                test_processors=True,
                on_line=lines.append,
            )
            assert (m.machines_file, m.threads_file) == (
                f"{box}/exp/exp_1.machines",
                f"{box}/exp/exp_1.threads",
            )
            assert m.nodes_passed and not m.nodes_failed and not m.errors
            assert lines[0] == "started" and lines[-1] == "ended gracefully"
            assert (box / "exp/exp_1.machines").read_text().split()[:2] == ["difxhead", "ds1"]
            back = await ops.get_machines(f"{box}/exp/exp_1.input", 1 << 16)
            assert back.processors == MACHINES.processors

            # a whole job through DifxStart, then its status from its log
            replies = []
            result = await ops.start_job(
                f"{box}/exp/exp_1.input",
                TWO_DS,
                difx_version="",
                force=True,
                function="default",
                restart_seconds=0,
                wait=True,
                on_reply=lambda t, line: replies.append(line),
                stop_requested=lambda: False,
            )
            assert result.phase == "done" and result.running
            assert "starting difx" in replies and replies[-1] == "ended gracefully"
            status = await ops.job_status(f"{box}/exp/exp_*.input")
            assert status.server_time
            assert {k: v.state for k, v in status.jobs.items()} == {
                f"{box}/exp/exp_1.input": "Done",
                f"{box}/exp/exp_2.input": "no .difxlog",
            }
        finally:
            client.close()

    run_in_new_loop(main())


def test_start_warnings_failures_and_monitor_off(guiserver):
    sim = guiserver("--step-seconds", "0.05", "--job-steps", "4", "--load-interval", "30")
    box = sim.sandbox / "corr"
    box.mkdir()

    def job(name, behaviour=""):
        (box / f"{name}.input").write_text(
            "DATASTREAM ENTRIES: 1\n" + (f"SIM BEHAVIOUR: {behaviour}\n" if behaviour else "")
        )
        return f"{box}/{name}.input"

    async def start(ops, path, **kw):
        replies = []
        kw = {
            "difx_version": "",
            "force": True,
            "function": "default",
            "restart_seconds": 0,
            "wait": True,
            "on_reply": lambda t, line: replies.append(line),
            "stop_requested": lambda: False,
        } | kw
        return await ops.start_job(path, MACHINES, **kw), replies

    async def main():
        client, _ = await _connect(sim)
        ops = _ops(client, sim)
        try:
            # no setup path: the config check's "command not found" is a warning, the job runs
            result, replies = await start(ops, job("plain"))
            assert result.phase == "done"
            assert "config command not found" in replies
            assert any("command not found" in w for w in result.warnings)
            # a failing correlator: 119 after "PROG FAILED"
            with pytest.raises(OperationFailed) as e:
                await start(ops, job("bad", "fail"))
            assert str(e.value).startswith(f"{box}/bad.input: job failed; last error: ")
            # output exists and force is off: 111 then 100
            (box / "plain.difx").mkdir(exist_ok=True)
            with pytest.raises(OperationFailed) as e:
                await start(ops, job("plain"), force=False)
            assert str(e.value) == (f"{box}/plain.input: terminated after failure output exists")
        finally:
            client.close()

    run_in_new_loop(main())


def test_mark5_operations_and_file_list(guiserver):
    sim = guiserver("--load-interval", "30")
    box = sim.sandbox / "corr"
    (box / "data").mkdir(parents=True)
    for name in ("a.vdif", "b.vdif"):
        (box / "data" / name).write_bytes(b"\x00" * 64)

    async def main():
        diagnostics: list[Diagnostic] = []
        client, _ = await _connect(sim, diagnostics)
        ops = _ops(client, sim)
        try:
            lines = []
            d = await ops.get_directory(
                "mark5fx01",
                "NRAO+123",
                generate_new=True,
                difx_version="",
                timeout=30,
                on_line=lines.append,
            )
            assert d.path and d.lines and lines[0] == "started"
            # an unknown unit: 305 (ssh's complaint), 306, then 304 fails the read
            with pytest.raises(OperationFailed) as e:
                await ops.get_directory(
                    "nomark5",
                    "NRAO+1",
                    generate_new=False,
                    difx_version="",
                    timeout=30,
                    on_line=lines.append,
                )
            assert str(e.value) == (
                "directory of NRAO+1 on nomark5 failed: no environment variable; ssh: Could "
                "not resolve hostname nomark5: Name or service not known"
            )
            mk = await ops.mk5_control("getvsn", "mark5fx01", timeout=10, on_line=lines.append)
            assert mk.target_node == "mark5fx01" and not mk.errors
            # a missing destination: 305 with mk5cp's complaint, 314, then 302
            with pytest.raises(OperationFailed) as e:
                await ops.mark5_copy(
                    "mark5fx01",
                    "NRAO+123",
                    "1-2",
                    f"{box}/nocopy",
                    difx_version="",
                    timeout=30,
                    on_line=lines.append,
                )
            assert str(e.value) == (
                "mark5 copy NRAO+123 ended with errors: Error: destination directory "
                f"{box}/nocopy does not exist"
            )
            (box / "copy").mkdir()
            cp = await ops.mark5_copy(
                "mark5fx01",
                "NRAO+123",
                "1,2",
                f"{box}/copy",
                difx_version="",
                timeout=30,
                on_line=lines.append,
            )
            assert cp.destination == f"{box}/copy" and not cp.had_errors
            assert sorted(p.name for p in (box / "copy").iterdir()) == [
                "NRAO+123_0001.m5a",
                "NRAO+123_0002.m5a",
            ]
            assert cp.output == [
                f"Copied scan 1 of NRAO+123 to {box}/copy/NRAO+123_0001.m5a",
                f"Copied scan 2 of NRAO+123 to {box}/copy/NRAO+123_0002.m5a",
            ]

            fl = await ops.generate_filelist(
                [f"{box}/data/a.vdif", f"{box}/data/b.vdif"],
                f"{box}/data/list.txt",
                data_format="VDIF_8000-64-1-2",
                ref_mjd=60000,
                overwrite=False,
                timeout=30,
                on_line=lines.append,
            )
            assert fl.destination == f"{box}/data/list.txt" and not fl.existed
            # again: the destination exists, guiServer asks, we say cancel (107)
            again = await ops.generate_filelist(
                [f"{box}/data/a.vdif"],
                f"{box}/data/list.txt",
                data_format="VDIF_8000-64-1-2",
                ref_mjd=60000,
                overwrite=False,
                timeout=30,
                on_line=lines.append,
            )
            assert again.existed and again.cancelled
        finally:
            client.close()

    run_in_new_loop(main())


def test_raw_ls_reply_bytes_on_the_wire(guiserver):
    """What our reader consumed is exactly guiServer's raw form: per entry int32 length and
    the line with its newline, then int32 0, as 22 packets of the channel."""
    sim = guiserver("--load-interval", "30")
    box = sim.sandbox / "corr"
    box.mkdir()
    (box / "x.input").write_text("")

    async def main():
        client, _ = await _connect(sim)
        try:
            ch = client.open_channel(raw=True)
            client.send(
                commands.command(
                    commands.file_operation(
                        operation="ls", path=f"{box}/x.input", channel=ch.number
                    )
                )
            )
            data = b""
            while not data.endswith(b"\x00\x00\x00\x00") or len(data) < 8:
                data += await ch.next_raw(5)
            line = f"{box}/x.input\n".encode()
            assert data == struct.pack(">i", len(line)) + line + struct.pack(">i", 0)
            assert ch.opened
            ch.close()
        finally:
            client.close()

    run_in_new_loop(main())


def test_paths_are_refused_before_the_wire(guiserver):
    sim = guiserver("--load-interval", "30")
    (sim.sandbox / "corr").mkdir()
    (sim.sandbox / "keep").mkdir()

    async def main():
        client, _ = await _connect(sim)
        ops = _ops(client, sim)
        try:
            for call, error in [
                (ops.file_op("rmdir", str(sim.sandbox / "keep")), "outside_roots"),
                (ops.file_op("rm", f"{sim.sandbox}/corr/../keep", "-r"), "dotdot"),
                (ops.file_op("rm", f"{sim.sandbox}/corr/x;rm -rf ~"), "contains characters"),
                (ops.ls(f"{sim.sandbox}/corr", "-l; reboot"), "only plain flags"),
                (ops.file_op("mv", f"{sim.sandbox}/corr/a", "/tmp/stolen"), "outside_roots"),
            ]:
                with pytest.raises(Exception, match=error):
                    await call
            assert (sim.sandbox / "keep").is_dir()
        finally:
            client.close()

    run_in_new_loop(main())
