"""The simulator over real TCP, driven by the pure asyncio client the agent uses."""

from __future__ import annotations

import asyncio
import socket
import struct

from socs_like_agents.difx_relay import commands
from socs_like_agents.difx_relay.codes import StartCode
from socs_like_agents.difx_relay.guiclient import GuiClient
from socs_like_agents.difx_relay.machines import Machines
from socs_like_agents.difx_relay.messages import StatusMessage, parse_message
from socs_like_agents.difx_relay.operations import Ops
from socs_like_agents.difx_relay.paths import PathPolicy

FAST = ("--step-seconds", "0.05", "--job-steps", "6", "--load-interval", "30")


async def _connect(sim, docs):
    client = await GuiClient.connect("127.0.0.1", sim.port, on_relayed=docs.append)
    client.send(commands.channel_all_data(True))
    return client


async def _until(predicate, timeout=5.0):
    deadline = asyncio.get_running_loop().time() + timeout
    while not predicate():
        assert asyncio.get_running_loop().time() < deadline, "condition not met in time"
        await asyncio.sleep(0.01)


def test_relay_selection_version_and_a_job(guiserver, tmp_path):
    sim = guiserver(*FAST)
    job = sim.sandbox / "exp" / "exp_1.input"
    job.parent.mkdir()
    job.write_text("DATASTREAM ENTRIES: 1\n")

    async def scenario():
        docs, quiet = [], []
        client = await _connect(sim, docs)
        other = await _connect(sim, quiet)  # relay stays off on this one
        v = await client.version(5)
        assert v.version == "guiServer-sim 1.0" and "DIFX_DEVEL" in v.available
        assert v.environment["DIFX_MESSAGE_GROUP"] == "224.2.2.1"
        client.send(commands.relay(True))
        client.send(commands.message_selection(["STATUS_MESSAGES"]))
        ops = Ops(client, PathPolicy([str(sim.sandbox)]))
        lines = []
        ok, msg, _data = await ops.start_job(
            str(job),
            Machines("difxhead", ("ds1",), (("cn01", 7),)),
            difx_version="",
            force=True,
            function="RUN_MONITOR",
            wait=True,
            on_reply=lambda t, line: lines.append(line),
            stop_requested=_never,
        )
        assert ok, msg
        assert lines[-2:] == ["difx complete", "ended gracefully"]
        await _until(lambda: any(b"MpiDone" in d for d in docs))
        parsed = [parse_message(d) for d in docs]
        assert {type(m) for m in parsed} == {StatusMessage}
        states = [m.state for m in parsed]
        assert states[:2] == ["Spawning", "Starting"] and states[-3:] == [
            "Ending",
            "Done",
            "MpiDone",
        ]
        assert states.count("Running") == 6
        seqs = [m.header.seq_number for m in parsed if m.header.mpi_process_id == 0]
        # One counter per sending process across all types: the alert the selection
        # filtered out leaves a gap.
        assert seqs == sorted(set(seqs)) and seqs[0] == 0 and len(seqs) == seqs[-1]
        # relay off: nothing more arrives on this connection
        client.send(commands.relay(False))
        n = len(docs)
        await ops.file_op("mkdir", str(sim.sandbox / "later"))
        assert len(docs) == n and quiet == []
        client.close()
        other.close()

    asyncio.run(scenario())


async def _never():
    return False


def test_file_operations_transfers_vex2difx_machines_and_job_status(guiserver):
    sim = guiserver(*FAST)
    box = sim.sandbox

    async def scenario():
        client = await _connect(sim, [])
        ops = Ops(client, PathPolicy([str(box)]))
        assert (await ops.file_op("mkdir", f"{box}/a/b/c"))[0]
        assert (box / "a/b/c").is_dir()
        ok, msg, data = await ops.send_file(
            f"{box}/a/x.v2d", b"# sim-jobs: 3\nvex = x.vex\n" * 5000
        )
        assert ok, msg
        assert (box / "a/x.v2d").read_bytes() == b"# sim-jobs: 3\nvex = x.vex\n" * 5000
        ok, msg, content = await ops.get_file(f"{box}/a/x.v2d", 1 << 20)
        assert ok and content == (box / "a/x.v2d").read_bytes()
        ok, msg, _ = await ops.get_file(f"{box}/a/x.v2d", 100)
        assert not ok and "more than the 100 allowed" in msg
        seen = []
        ok, msg, files = await ops.vex2difx(
            f"{box}/a", "x.v2d", "difxcalc", False, "", lambda kind, p: seen.append((kind, p))
        )
        assert ok and msg == "3 .input, 3 .im files"
        assert seen[0] == ("input", f"{box}/a/x_1.input") and seen[-1] == ("im", f"{box}/a/x_3.im")
        (box / "a/x_2.im").unlink()
        ok, msg, files = await ops.vex2difx(
            f"{box}/a", "x_2*", "difxcalc", True, "", lambda *a: None
        )
        assert ok and files == {"input": [], "im": [f"{box}/a/x_2.im"]}
        m = Machines("difxhead", ("ds1", "ds2"), (("cn01", 7), ("cn02", 5)))
        assert (await ops.define_machines(f"{box}/a/x_1.input", m, ""))[0]
        ok, msg, got = await ops.get_machines(f"{box}/a/x_1.input", 1 << 20)
        assert ok and got == m.as_dict()
        ok, msg, data = await ops.ls(f"{box}/a/x_*.input")
        assert data["entries"] == [f"{box}/a/x_{i}.input" for i in (1, 2, 3)]
        assert (await ops.file_op("mv", f"{box}/a/x_3.input", f"{box}/a/y.input"))[0]
        assert (await ops.file_op("rm", f"{box}/a/x_*.im", "-f"))[0]
        assert sorted(p.name for p in (box / "a").glob("*.im")) == []
        ok, msg, _ = await ops.file_op("rmdir", f"{box}/a")
        assert not ok and "Directory not empty" in msg
        ok, msg, data = await ops.job_status(f"{box}/a/*.input")
        assert ok and data["jobs"][f"{box}/a/x_1.input"]["state"] == "no .difxlog"
        # a CONFIG_ONLY start and a start with no processors, both on the channel
        lines = []
        ok, msg, _ = await ops.start_job(
            f"{box}/a/x_1.input",
            m,
            difx_version="",
            force=True,
            function="CONFIG_ONLY",
            wait=True,
            on_reply=lambda t, line: lines.append(line),
            stop_requested=_never,
        )
        assert ok and msg.endswith("stopped after config")
        ok, msg, _ = await ops.start_job(
            f"{box}/a/x_1.input",
            Machines("h", ("d",), ()),
            difx_version="",
            force=True,
            function="RUN_MONITOR",
            wait=True,
            on_reply=lambda *a: None,
            stop_requested=_never,
        )
        assert not ok and msg == f"{box}/a/x_1.input: failure no processors"
        client.close()

    asyncio.run(scenario())


def test_failing_job_and_multicast(guiserver):
    sim = guiserver(*FAST)
    job = sim.sandbox / "bad_1.input"
    job.write_text("DATASTREAM ENTRIES: 1\nSIM BEHAVIOUR: fail\n")
    rx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    rx.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    rx.bind(("239.255.77.1", sim.multicast_port))
    rx.setsockopt(
        socket.IPPROTO_IP,
        socket.IP_ADD_MEMBERSHIP,
        struct.pack("4s4s", socket.inet_aton("239.255.77.1"), socket.inet_aton("127.0.0.1")),
    )
    rx.settimeout(5)

    async def scenario():
        client = await _connect(sim, [])
        ops = Ops(client, PathPolicy([str(sim.sandbox)]))
        ok, msg, data = await ops.start_job(
            str(job),
            Machines("difxhead", ("ds1",), (("cn01", 7),)),
            difx_version="",
            force=True,
            function="RUN_MONITOR",
            wait=True,
            on_reply=lambda *a: None,
            stop_requested=_never,
        )
        assert not ok
        assert msg == (
            f"{job}: job failed (mpirun exited with 1); "
            "last difx error: Datastream 1: cannot open /data/missing.vdif"
        )
        assert data == {"phase": "failed"}
        client.close()

    asyncio.run(scenario())
    states = []
    while "Crashed" not in states:
        states.append(getattr(parse_message(rx.recv(10240)), "state", None))
    assert states[0] == "Spawning"
    rx.close()


def test_garbage_length_closes_only_that_connection(guiserver):
    sim = guiserver(*FAST)

    async def scenario():
        reader, writer = await asyncio.open_connection("127.0.0.1", sim.port)
        writer.write(struct.pack(">ii", 3, -5))
        head = await reader.readexactly(8)
        pid, n = struct.unpack(">ii", head)
        text = (await reader.readexactly(n)).decode()
        assert pid == 6 and "announces -5 bytes" in text
        assert await reader.read() == b""
        client = await _connect(sim, [])
        assert (await client.version(5)).user == "difx"
        client.close()
        writer.close()

    asyncio.run(scenario())


def test_start_codes_cover_the_spec():
    assert [c.value for c in StartCode] == list(range(100, 130))


def test_selection_is_a_substring_match_as_in_guiserver(guiserver):
    sim = guiserver("--load-interval", "0.05")

    async def scenario():
        docs = []
        client = await _connect(sim, docs)
        client.send(commands.message_selection(["MARK5STATUS_MESSAGES"]))
        client.send(commands.relay(True))
        await _until(lambda: len(docs) >= 3)
        types = {parse_message(d).header.message_type for d in docs}
        # MARK5STATUS_MESSAGES contains STATUS_MESSAGES, but not LOAD_MESSAGES
        assert types == {"Mark5StatusMessage"}
        client.send(commands.message_selection(["LOAD_MESSAGES"]))
        n = len(docs)
        await _until(lambda: len(docs) >= n + 6)
        assert parse_message(docs[-1]).header.message_type == "DifxLoadMessage"
        client.close()

    asyncio.run(scenario())
