"""A real single-node Slurm for tests: munged, slurmctld and slurmd from Debian's
``slurm-wlm`` and ``munge``, in a private folder, on free ports, started once per test
session (``slurm`` fixture) and stopped at its end.

Nothing outside the folder is used: munged gets its own key and socket, the daemons their
own state, spool, pid and log files, and clients find the cluster through ``SLURM_CONF``
(:meth:`SlurmCluster.env`). The node claims 8 CPUs whatever the machine has
(``SlurmdParameters=config_overrides``), so tests can keep several jobs running on a small
machine. Two partitions, ``standby`` (the default, 4 h limit) and ``physics`` (14 days),
mirror the queues the run pipeline chooses from. Slurm wants to run as root (or as its
``SlurmUser``); the fixture skips when neither the binaries nor root are there.

``SlurmCluster`` also works outside pytest (a benchmark starts one with ``with
SlurmCluster(folder) as cluster:``).
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from .util import free_port

SBIN = Path("/usr/sbin")
START_TIMEOUT = 30.0
NODE_CPUS = 8


class SlurmError(RuntimeError):
    """The test Slurm could not be started."""


class SlurmCluster:
    """munged + slurmctld + slurmd configured from files in ``directory``."""

    def __init__(self, directory: Path) -> None:
        self.directory = Path(directory)
        self.conf = self.directory / "slurm.conf"
        self.munge_socket = self.directory / "munge" / "munge.socket"
        self.node = socket.gethostname().split(".")[0]
        self._procs: list[tuple[str, subprocess.Popen[bytes]]] = []

    def env(self) -> dict[str, str]:
        """The environment for Slurm clients (sbatch, squeue, scancel) to use this cluster."""
        return {**os.environ, "SLURM_CONF": str(self.conf)}

    def _write_files(self) -> None:
        d = self.directory
        for sub in ("munge", "state", "spool", "log"):
            (d / sub).mkdir(parents=True, exist_ok=True)
        os.chmod(d / "munge", 0o700)
        key = d / "munge" / "munge.key"
        key.write_bytes(os.urandom(1024))
        os.chmod(key, 0o400)
        (d / "plugstack.conf").write_text("")
        (d / "cgroup.conf").write_text("")
        self.conf.write_text(
            "\n".join(
                [
                    "ClusterName=socslike",
                    f"SlurmctldHost={self.node}(127.0.0.1)",
                    "SlurmUser=root",
                    "SlurmdUser=root",
                    f"SlurmctldPort={free_port()}",
                    f"SlurmdPort={free_port()}",
                    "AuthType=auth/munge",
                    "CredType=cred/munge",
                    f"AuthInfo=socket={self.munge_socket}",
                    f"StateSaveLocation={d / 'state'}",
                    f"SlurmdSpoolDir={d / 'spool'}",
                    f"SlurmctldPidFile={d / 'slurmctld.pid'}",
                    f"SlurmdPidFile={d / 'slurmd.pid'}",
                    f"SlurmctldLogFile={d / 'log' / 'slurmctld.log'}",
                    f"SlurmdLogFile={d / 'log' / 'slurmd.log'}",
                    f"PlugStackConfig={d / 'plugstack.conf'}",
                    "ProctrackType=proctrack/linuxproc",
                    "TaskPlugin=task/none",
                    "SelectType=select/cons_tres",
                    "SelectTypeParameters=CR_Core",
                    "SchedulerType=sched/backfill",
                    "JobAcctGatherType=jobacct_gather/none",
                    "AccountingStorageType=accounting_storage/none",
                    "JobCompType=jobcomp/none",
                    "MpiDefault=none",
                    "ReturnToService=2",
                    "SlurmdParameters=config_overrides",
                    # finished jobs stay visible to squeue this long (the pipeline reads them)
                    "MinJobAge=300",
                    "SchedulerParameters=sched_interval=1",
                    f"NodeName={self.node} NodeAddr=127.0.0.1 CPUs={NODE_CPUS} "
                    "RealMemory=1000 State=UNKNOWN",
                    f"PartitionName=standby Nodes={self.node} Default=YES MaxTime=4:00:00 State=UP",
                    f"PartitionName=physics Nodes={self.node} MaxTime=14-00:00:00 State=UP",
                    "",
                ]
            )
        )

    def _spawn(self, name: str, argv: list[str]) -> None:
        log = open(self.directory / "log" / f"{name}.out", "wb")  # noqa: SIM115
        with log:
            proc = subprocess.Popen(
                argv,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=self.env(),
                start_new_session=True,
            )
        self._procs.append((name, proc))

    def start(self) -> None:
        if os.geteuid() != 0:
            raise SlurmError("the test Slurm runs its daemons as root")
        for binary in ("munged", "slurmctld", "slurmd"):
            if not (SBIN / binary).exists():
                raise SlurmError(f"{SBIN / binary} not found: install slurm-wlm and munge")
        self._write_files()
        d = self.directory / "munge"
        self._spawn(
            "munged",
            [
                str(SBIN / "munged"),
                "--foreground",
                "--force",
                f"--key-file={d / 'munge.key'}",
                f"--socket={self.munge_socket}",
                f"--pid-file={d / 'munged.pid'}",
                f"--log-file={d / 'munged.log'}",
                f"--seed-file={d / 'munged.seed'}",
            ],
        )
        self._wait(lambda: self.munge_socket.exists(), "munged")
        self._spawn("slurmctld", [str(SBIN / "slurmctld"), "-D", "-i", "-f", str(self.conf)])
        self._wait(lambda: self._query(["scontrol", "ping"]).endswith("UP"), "slurmctld")
        self._spawn("slurmd", [str(SBIN / "slurmd"), "-D", "-N", self.node, "-f", str(self.conf)])
        self._wait(self._node_ready, "slurmd")

    def _query(self, argv: list[str]) -> str:
        result = subprocess.run(argv, capture_output=True, text=True, env=self.env(), timeout=20)
        return result.stdout.strip() if result.returncode == 0 else ""

    def _node_ready(self) -> bool:
        state = self._query(["sinfo", "--noheader", "--nodes", self.node, "--format=%T"])
        return state.split("\n")[0].rstrip("*") in ("idle", "mixed", "allocated")

    def _wait(self, ready: object, what: str) -> None:
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            for name, proc in self._procs:
                if proc.poll() is not None:
                    raise SlurmError(f"{name} exited with {proc.returncode}:\n{self.logs()}")
            if callable(ready) and ready():
                return
            time.sleep(0.2)
        raise SlurmError(f"{what} not ready within {START_TIMEOUT:g} s:\n{self.logs()}")

    def logs(self) -> str:
        parts = []
        for path in sorted((self.directory / "log").glob("*")):
            text = path.read_text(errors="replace")[-2000:]
            parts.append(f"--- {path.name}\n{text}")
        return "\n".join(parts)

    def stop(self) -> None:
        for _name, proc in reversed(self._procs):
            if proc.poll() is None:
                # each daemon leads its own session: its children (job steps) go with it
                os.killpg(proc.pid, signal.SIGTERM)
        for _name, proc in reversed(self._procs):
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        self._procs.clear()

    def __enter__(self) -> SlurmCluster:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


@pytest.fixture(scope="session")
def slurm() -> Iterator[SlurmCluster]:
    """One running single-node Slurm for the whole test session; ``slurm.env()`` for
    clients."""
    directory = Path(tempfile.mkdtemp(prefix="socs-like-slurm-"))
    cluster = SlurmCluster(directory)
    try:
        cluster.start()
    except SlurmError as e:
        cluster.stop()
        shutil.rmtree(directory, ignore_errors=True)
        pytest.fail(f"cannot start the test Slurm: {e}")
    yield cluster
    cluster.stop()
    shutil.rmtree(directory, ignore_errors=True)
