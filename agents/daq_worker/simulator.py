"""``socs-like simulate daq-worker``: a fake AT-TPC worker on this machine.

Starts two real processes named like the real programs, ``dataRouter`` (writing ``.graw``
files into ``--workdir``, its working directory) and ``getEccSoapServer``, so that ``ps``,
``lsof`` and ``/proc/<pid>/cwd`` see exactly what they would on a worker. The names come from
running the Python interpreter through symlinks called after the programs. Runs until
interrupted (SIGINT/SIGTERM), then stops both.

With ``--sshd DIR`` it also runs a private OpenSSH server on loopback for the current user
(keys, known_hosts and an ``ssh_config`` with the host alias ``--alias`` kept in DIR), so a
DaqWorker agent can reach this "worker" with ``--hosts ALIAS --ssh-config DIR/ssh_config``
and nothing in ``~/.ssh`` changes. An sshd that dies (a crash, an operator's kill) is started
again on the same port within a second, as a host's init system would; until it listens again
the worker is unreachable, as a real one would be.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

from socs_like.testing.sshd_server import SshServer, SshServerError


def _program(bin_dir: Path, name: str) -> Path:
    link = bin_dir / name
    link.symlink_to(os.path.realpath(sys.executable))
    return link


def _child_env() -> dict[str, str]:
    # through the symlink the interpreter knows neither our venv nor an editable install's
    # import hook: hand it our import path (fake_programs itself needs only the stdlib)
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in sys.path if p)
    return env


def _restart(server: SshServer) -> None:
    """Start a dead sshd again (tried again on the next round when it fails)."""
    print("sshd exited; starting it again", file=sys.stderr, flush=True)
    try:
        server.start()
    except (SshServerError, OSError) as exc:
        print(f"cannot restart sshd: {exc}", file=sys.stderr, flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="socs-like simulate daq-worker", description=__doc__)
    parser.add_argument("--workdir", type=Path, required=True, help="the data router's directory")
    parser.add_argument("--files", type=int, default=-1, help="GRAW files to write (<0: forever)")
    parser.add_argument("--interval", type=float, default=2.0, help="seconds between files")
    parser.add_argument("--size", type=int, default=64 * 1024, help="bytes per GRAW file")
    parser.add_argument("--data-router-name", default="dataRouter")
    parser.add_argument("--ecc-server-name", default="getEccSoapServer")
    parser.add_argument("--log-dir", type=Path, help="where program logs go (default: workdir)")
    parser.add_argument(
        "--sshd",
        type=Path,
        metavar="DIR",
        help="also run a private sshd whose keys and ssh_config live in DIR",
    )
    parser.add_argument(
        "--sshd-port",
        type=int,
        default=0,
        help="its port (default: any free one, written into DIR/ssh_config)",
    )
    parser.add_argument(
        "--alias",
        default="daq-worker-sim",
        help="its host alias in DIR/ssh_config (default daq-worker-sim)",
    )
    args = parser.parse_args(argv)

    workdir = args.workdir.expanduser().resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    log_dir = (args.log_dir or workdir).expanduser().resolve()
    log_dir.mkdir(parents=True, exist_ok=True)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())

    server: SshServer | None = None
    with contextlib.ExitStack() as stack:
        if args.sshd is not None:
            server = SshServer(
                args.sshd.expanduser().resolve(), alias=args.alias, port=args.sshd_port
            )
            try:
                server.start()
            except (SshServerError, OSError) as exc:
                print(f"cannot start sshd: {exc}", file=sys.stderr)
                return 1
            stack.callback(server.stop)
            print(
                f"sshd on {server.host}:{server.port}: ssh -F {server.ssh_config} {server.alias}",
                flush=True,
            )
        tmp = stack.enter_context(tempfile.TemporaryDirectory(prefix="daq-worker-sim-"))
        bin_dir = Path(tmp)
        module = [str(Path(__file__).with_name("fake_programs.py"))]
        router_log = log_dir / f"{args.data_router_name}.log"
        children = [
            subprocess.Popen(
                [
                    str(_program(bin_dir, args.data_router_name)),
                    *module,
                    "router",
                    "--count",
                    str(args.files),
                    "--interval",
                    str(args.interval),
                    "--size",
                    str(args.size),
                    "--log",
                    str(router_log),
                ],
                cwd=workdir,
                env=_child_env(),
                stdin=subprocess.DEVNULL,
            ),
            subprocess.Popen(
                [str(_program(bin_dir, args.ecc_server_name)), *module, "ecc"],
                cwd=bin_dir,
                env=_child_env(),
                stdin=subprocess.DEVNULL,
            ),
        ]
        print(
            f"{args.data_router_name} pid {children[0].pid} writing into {workdir}; "
            f"{args.ecc_server_name} pid {children[1].pid}",
            flush=True,
        )
        try:
            while not stop.wait(0.5):
                if server is not None and not server.running:
                    _restart(server)
                for child in children:
                    if child.poll() is not None:
                        print(f"pid {child.pid} exited with {child.returncode}", file=sys.stderr)
                        stop.set()
        finally:
            for child in children:
                child.terminate()
            for child in children:
                try:
                    child.wait(5)
                except subprocess.TimeoutExpired:
                    child.kill()
                    child.wait()
    return 0


if __name__ == "__main__":
    sys.exit(main())
