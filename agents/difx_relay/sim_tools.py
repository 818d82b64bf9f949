"""The other operations of the simulated guiServer: machines definition (§6.6), vex2difx
(§6.7), getDirectory (§6.8), Mk5Control (§6.9), Mark5Copy (§6.10) and file list (§6.12).

Each writes on its reply path exactly what the real one writes (inner packets, or raw records
for vex2difx) and calls `diagnostic()` where the real one does. The DiFX programs they run
(vex2difx, calcif2, mk5dir, mk5cp, mk5control, vsum/m5bsum) are simulated here:

- vex2difx makes `<v2d stem>_<n>.input` and `.calc` for n = 1..N, N from a `# sim-jobs: N` line
  of the `.v2d` file (default 2); the calc command makes a non-empty `.im` from each new `.calc`;
- the Mark5 units are the `--mark5-units` hosts; their `MARK5_DIR_PATH` is `SANDBOX/mark5dir`;
  mk5dir writes `<vsn>.dir` there; mk5cp writes one file per scan into the destination;
  mk5control multicasts the `DifxCommand` that mk5daemon would act on;
- vsum / m5bsum print `<file> <start MJD> <stop MJD>` for each file that exists.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import struct
import time
from typing import Final, Protocol

from .framing import PacketId
from .sim_bus import Bus
from .sim_request import Command, FileListRequest
from .sim_wire import OpContext, inner, int32, record

CONNECT_FAILED: Final = "client socket connection from guiServer to GUI failed - "


class ToolHost(Protocol):
    """What these operations see of the simulator."""

    bus: Bus
    nodes: set[str]  # hosts that answer
    mark5_units: set[str]
    mark5_dir: str  # their MARK5_DIR_PATH


class ToolContext(OpContext, Protocol):
    """What these operations see of the connection that asked."""

    @property
    def sim(self) -> ToolHost: ...


def atoi(text: str) -> int:
    """C's atoi on a str (leading blanks, sign, digits)."""
    return Command(values={"v": text}).number("v")


def _node_file(base_of: str, suffix: str) -> str:
    i = base_of.rfind(".")
    return (base_of[:i] if i > 0 else base_of) + suffix


async def machines_definition(conn: ToolContext, cmd: Command) -> None:
    """src/machinesDefinition.cpp:45-355."""
    path = await conn.open_path(cmd.text("address"), cmd.number("port"))
    if path is None:
        conn.diagnostic(PacketId.ERROR, CONNECT_FAILED + "unable to create machines/threads files")
        return
    error, warning = PacketId.ERROR, PacketId.WARNING

    async def fail(code: int, text: str) -> None:
        conn.diagnostic(error, text)
        inner(path, code)
        inner(path, 100)
        await path.close()

    inner(path, 102)
    inner(path, 103)
    head = cmd.manager
    if not head:
        return await fail(105, "Machines specification failed - no headnode specified.")
    if not cmd.datastreams:
        return await fail(106, "Machines specification failed - no data sources specified.")
    if not cmd.processes:
        return await fail(107, "Machines specification failed - no processing nodes  specified.")
    input_file = cmd.text("input")
    names = []
    for element, suffix, missing_code, name_code, what in (
        ("machinesFile", ".machines", 108, 111, "machines"),
        ("threadsFile", ".threads", 109, 110, "threads"),
    ):
        name = cmd.text(element)
        if not name:
            conn.diagnostic(warning, f"No {what} file specified - generating path from input file.")
            inner(path, missing_code)
            if not input_file:
                return await fail(
                    112,
                    "Machines specification failed - no input file or machines file specified",
                )
            name = _node_file(input_file, suffix)
        inner(path, name_code, name.encode())
        names.append(name)
    inner(path, 104)

    processes = list(cmd.processes)
    if cmd.text("testProcessors") == "true":
        inner(path, 122)
        kept = []
        for node, threads in processes:
            await asyncio.sleep(1.0)  # the real test waits 1 s per node
            ok = node in conn.sim.nodes
            inner(path, 120 if ok else 119, node.encode())
            if ok:
                kept.append((node, threads))
        processes = kept

    machines = [head, *cmd.datastreams]
    machines += [n for n, t in processes if t > (1 if n == head else 0)]
    counts = [t - 1 if n == head else t for n, t in processes if t > (1 if n == head else 0)]
    texts = (
        "".join(f"{m}\n" for m in machines),
        f"NUMBER OF CORES:    {len(processes)}\n" + "".join(f"{c}\n" for c in counts),
    )
    for name, text, code, what in zip(
        names, texts, (113, 114), ("machines", "threads"), strict=True
    ):
        real = conn.inside(name)
        try:
            if real is None:
                raise FileNotFoundError(2, "No such file or directory")
            with open(real, "w") as f:
                f.write(text)
        except OSError as e:
            conn.diagnostic(error, f'Cannot open {what} file "{name}" for writing')
            reason = (e.strerror or "Input/output error").encode()
            inner(path, code, reason)
            inner(path, 100)
            # Here the real guiServer goes on writing to a NULL file and crashes (§6.6); the
            # simulator stops the operation instead, so the rest of a test can go on.
            return await path.close()
        if code == 113:
            inner(path, 115)
    if sum(counts) < 1:
        inner(path, 121)
    inner(path, 116)
    inner(path, 101)
    await path.close()


def _mtime(path: str) -> int:
    try:
        return int(os.stat(path).st_mtime)
    except OSError:
        return -1


async def vex2difx(conn: ToolContext, cmd: Command) -> None:
    """src/vex2difxRun.cpp:61-221: raw records of new `.input` then new `.im` paths, int32 0,
    a 2 s pause, close."""
    pass_path, v2d, calc = cmd.text("passPath"), cmd.text("file"), cmd.text("calcCommand")
    stamp = int(time.time())
    path = await conn.open_path(cmd.text("address"), cmd.number("port"))
    if path is None:
        conn.diagnostic(PacketId.ERROR, CONNECT_FAILED + "unable to run vex2difx")
        return
    real_dir = conn.inside(pass_path)
    if real_dir is not None and not os.path.isdir(real_dir):
        real_dir = None
    cd_error = f"sh: 1: cd: can't cd to {pass_path}"
    if cmd.number("calcOnly"):
        conn.diagnostic(PacketId.WARNING, f"Executing: cd {pass_path}; touch {v2d}.calc")
        conn.diagnostic(PacketId.WARNING, f"Executing: cd {pass_path}; rm -f {v2d}.im")
        if real_dir is not None and "/" not in v2d:
            _touch(os.path.join(real_dir, f"{v2d}.calc"))
            _remove(os.path.join(real_dir, f"{v2d}.im"))
    else:
        conn.diagnostic(
            PacketId.WARNING, f"Executing: cd {pass_path}; {conn.setup_path} vex2difx -f {v2d}"
        )
        errors = _run_vex2difx(real_dir, v2d) if real_dir is not None else [cd_error]
        for line in errors:
            conn.diagnostic(PacketId.ERROR, f"vex2difx... {line}")
        if errors:
            conn.diagnostic(PacketId.ERROR, "vex2difx RETURNED ERRORS")
        else:
            conn.diagnostic(PacketId.WARNING, "vex2difx complete")
        for name in _new_files(real_dir, ".input", stamp):
            record(path, f"{pass_path}/{name}".encode())
    conn.diagnostic(PacketId.WARNING, f"running {calc} on all new .calc files")
    for name in _new_files(real_dir, ".calc", stamp):
        assert real_dir is not None
        im_name = name[: name.rfind(".") + 1] + "im"
        if calc.split()[:1] in (["calcif2"], ["difxcalc"]):
            with open(os.path.join(real_dir, im_name), "w") as f:
                f.write(f"# made by {calc} from {name}\n")
        else:
            conn.diagnostic(PacketId.ERROR, f"{calc}... sh: 1: {calc}: not found")
            conn.diagnostic(PacketId.ERROR, f"{calc} RETURNED ERRORS")
        im = f"{pass_path}/{im_name}"
        real_im = os.path.join(real_dir, im_name)
        if not os.path.exists(real_im):
            conn.diagnostic(PacketId.ERROR, f"{calc} failed to create {im}\n")
        elif _mtime(real_im) >= stamp and os.path.getsize(real_im) > 0:
            record(path, im.encode())
        elif os.path.getsize(real_im) <= 0:
            conn.diagnostic(PacketId.ERROR, f"{calc} product {im} is zero length\n")
        else:
            conn.diagnostic(PacketId.ERROR, f"{calc} product {im} exists but looks old\n")
    conn.diagnostic(PacketId.WARNING, f"{calc} complete")
    path.write(int32(0))
    await asyncio.sleep(2.0)
    await path.close()


def _touch(path: str) -> None:
    try:
        with open(path, "a"):
            os.utime(path)
    except OSError:
        pass


def _remove(path: str) -> None:
    with contextlib.suppress(OSError):
        os.unlink(path)


def _run_vex2difx(folder: str, v2d: str) -> list[str]:
    """The simulated vex2difx: writes the job files; returns its stderr lines."""
    source = os.path.join(folder, v2d)
    if "/" in v2d or not os.path.isfile(source):
        return [f"Error: cannot open {v2d}"]
    n_jobs = 2
    with open(source, errors="replace") as f:
        for line in f:
            if line.strip().startswith("# sim-jobs:"):
                n_jobs = max(0, min(100, atoi(line.split(":", 1)[1])))
    stem = v2d.rsplit(".", 1)[0] if "." in v2d else v2d
    for i in range(1, n_jobs + 1):
        base = os.path.join(folder, f"{stem}_{i}")
        with open(base + ".input", "w") as f:
            f.write(f"JOB ID:             {i}\nDATASTREAM ENTRIES: 2\n")
        with open(base + ".calc", "w") as f:
            f.write(f"JOB ID:             {i}\n")
    return []


def _new_files(folder: str | None, suffix: str, stamp: int) -> list[str]:
    if folder is None:
        return []
    try:
        names = sorted(os.listdir(folder))
    except OSError:
        return []
    return [n for n in names if n.endswith(suffix) and _mtime(os.path.join(folder, n)) >= stamp]


async def get_directory(conn: ToolContext, cmd: Command) -> None:
    """src/getDirectory.cpp:68-234."""
    path = await conn.open_path(cmd.text("address"), cmd.number("port"))
    if path is None:
        conn.diagnostic(PacketId.ERROR, CONNECT_FAILED + "unable to start job")
        return
    mark5, vsn = cmd.text("mark5"), cmd.text("vsn")
    wrapper = cmd.text("mpiWrapper") or "mpirun"

    def stderr(text: str) -> None:
        inner(path, 305, text.encode())
        conn.diagnostic(PacketId.ERROR, text)

    inner(path, 301)
    conn.diagnostic(
        PacketId.WARNING, f"executing: {wrapper} -host {mark5} /bin/echo $MARK5_DIR_PATH\n"
    )
    ok = True
    dir_file = ""
    if mark5 in conn.sim.mark5_units:
        dir_file = f"{conn.sim.mark5_dir}/{vsn}.dir"
        inner(path, 303, dir_file.encode())
    else:
        stderr(f"ssh: Could not resolve hostname {mark5}: Name or service not known")
        inner(path, 306)
        ok = False
    real = conn.inside(dir_file) if ok else None
    if ok and cmd.number("generateNew"):
        inner(path, 311)
        conn.diagnostic(
            PacketId.WARNING,
            f"executing: {wrapper} -host {mark5} {conn.setup_path} mk5dir -n -f {vsn}\n",
        )
        if real is not None and vsn and "/" not in vsn:
            lines = [f"Reading directory of module {vsn}", f"{vsn}: 3 scans"]
            for line in lines:
                inner(path, 312, line.encode())
                conn.diagnostic(PacketId.INFORMATION, line)
            os.makedirs(os.path.dirname(real), exist_ok=True)
            with open(real, "w") as f:
                f.write(f"{vsn} 3 A\n")
                f.writelines(f"{i} 0 1000000 57028.{i} scan_{i:03d}\n" for i in range(1, 4))
            inner(path, 313)
        else:
            stderr(f"Error: module {vsn} not found")
            inner(path, 314)
    date = ""
    if ok:
        conn.diagnostic(
            PacketId.WARNING, f"executing: {wrapper} -host {mark5} /bin/ls -l {dir_file}\n"
        )
        if real is not None and os.path.isfile(real):
            date = time.strftime("%b %e %H:%M", time.localtime(os.stat(real).st_mtime))[:12]
        else:
            stderr(f"/bin/ls: cannot access '{dir_file}': No such file or directory")
        if date:
            inner(path, 307, date.encode())
        else:
            inner(path, 308)
            ok = False
    if ok and real is not None:
        inner(path, 309)
        conn.diagnostic(
            PacketId.WARNING, f"executing: {wrapper} -host {mark5} /bin/cat {dir_file}\n"
        )
        with open(real, "rb") as listing:
            for entry in listing.read().splitlines():
                inner(path, 310, entry)
    inner(path, 302 if ok else 304)
    await asyncio.sleep(1.0)
    await path.close()


async def mk5_control(conn: ToolContext, cmd: Command) -> None:
    """src/mk5Control.cpp:67-117: 102, 108/110 per output line (with its newline), 101."""
    path = await conn.open_path(cmd.text("address"), cmd.number("port"))
    command, node = cmd.text("command"), cmd.text("targetNode")
    if path is None:
        conn.diagnostic(
            PacketId.ERROR,
            CONNECT_FAILED + f'unable to execute mk5control command "{command}"',
        )
        return
    inner(path, 102)
    if not command or not node:
        inner(path, 110, b"Usage: mk5control <command> <unit>\n")
    else:
        # mk5control's whole job: multicast the command for mk5daemon on the unit.
        conn.sim.bus.emit_difx_command(command, node)
    inner(path, 101)
    await asyncio.sleep(1.0)
    await path.close()


async def mark5_copy(conn: ToolContext, cmd: Command) -> None:
    """src/mark5Copy.cpp:68-127: 301, 312 per stdout line, 305 per stderr line, 314 if
    errors, 302 always."""
    path = await conn.open_path(cmd.text("address"), cmd.number("port"))
    if path is None:
        conn.diagnostic(PacketId.ERROR, CONNECT_FAILED + "unable to start job")
        return
    mark5, vsn, scans, dest = (cmd.text(k) for k in ("mark5", "vsn", "scans", "destination"))
    wrapper = cmd.text("mpiWrapper") or "mpirun"
    inner(path, 301)
    conn.diagnostic(
        PacketId.WARNING,
        f"executing: {wrapper} -host {mark5} {conn.setup_path} mk5cp -f {vsn} {scans} {dest}\n",
    )
    errors: list[str] = []
    real = conn.inside(dest)
    if mark5 not in conn.sim.mark5_units:
        errors.append(f"ssh: Could not resolve hostname {mark5}: Name or service not known")
    elif real is None or not os.path.isdir(real):
        errors.append(f"Error: destination directory {dest} does not exist")
    else:
        for scan in scans.replace(",", " ").split():
            if not scan.isdigit():
                errors.append(f"Error: bad scan number {scan}")
                continue
            name = f"{vsn}_{int(scan):04d}.m5a"
            with open(os.path.join(real, name), "wb") as f:
                f.write(bytes(1024))
            line = f"Copied scan {scan} of {vsn} to {dest}/{name}"
            inner(path, 312, line.encode())
            conn.diagnostic(PacketId.INFORMATION, line)
    for line in errors:
        inner(path, 305, line.encode())
        conn.diagnostic(PacketId.ERROR, line)
    if errors:
        inner(path, 314)
    inner(path, 302)
    await asyncio.sleep(1.0)
    await path.close()


FORMATS: Final = ("MKIV", "VLBA", "MARK5B", "VDIF")


async def file_list(conn: ToolContext, req: FileListRequest) -> None:
    """src/generateFileList.cpp:47-241, two-way: after 103 the server reads an int32."""
    path = await conn.open_path(req.address, req.port)
    if path is None:
        conn.diagnostic(PacketId.ERROR, CONNECT_FAILED + "unable to generate filelist")
        return
    inner(path, 102)
    going = any(req.format.startswith(f) for f in FORMATS)
    if not going:
        inner(path, 109, req.format.encode())
    real = conn.inside(req.destination)
    if going and real is not None and os.path.exists(real):
        inner(path, 103, req.destination.encode())
        answer = struct.unpack(">i", await path.read_exact(4))[0]
        going = answer != 107
    if going:
        try:
            if real is None:
                raise PermissionError(13, "Permission denied")
            f = open(real, "w")  # noqa: SIM115 - kept open across the per-file work, as the real one
        except OSError as e:
            inner(path, 108, (e.strerror or "Input/output error").encode())
            going = False
    if going:
        inner(path, 104, req.destination.encode())
        results: list[tuple[float, str]] = []
        errors = False
        for n, name in enumerate(req.files):
            real_file = conn.inside(name)
            if real_file is not None and os.path.isfile(real_file):
                start = req.ref_mjd + 0.001 * n
                line = f"{name} {start:f} {start + 0.0005:f}"
                inner(path, 111, line.encode())
                results.append((start, line))
            elif req.format.startswith(("MARK5B", "VDIF")):
                conn.diagnostic(PacketId.ERROR, f"filelist generation: {name}: cannot open")
                errors = True
        inner(path, 110, int32(len(results)))
        if errors:
            inner(path, 112)
        with f:
            f.writelines(f"{line}\n" for _, line in sorted(results))
    inner(path, 101 if going else 100)
    await path.close()
