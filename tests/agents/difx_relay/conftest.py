"""A real guiServer simulator process on loopback, for the DiFX relay tests."""

from __future__ import annotations

import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from socs_like.testing import free_port


def free_udp_port() -> int:
    return free_port("udp")


@dataclass
class GuiServerSim:
    sandbox: Path
    args: list[str]
    port: int = 0
    multicast_port: int = field(default_factory=free_udp_port)
    proc: subprocess.Popen[str] | None = None

    def start(self) -> GuiServerSim:
        cmd = [
            sys.executable,
            "-m",
            "socs_like_agents.difx_relay.simulator",
            "--sandbox",
            str(self.sandbox),
            "--port",
            str(self.port),
            "--multicast-group",
            "239.255.77.1",
            "--multicast-port",
            str(self.multicast_port),
            *self.args,
        ]
        self.proc = subprocess.Popen(
            cmd, stdout=subprocess.PIPE, text=True, cwd=Path(__file__).resolve().parents[3]
        )
        line = self.proc.stdout.readline() if self.proc.stdout else ""
        if "listening on" not in line:
            self.proc.kill()
            raise RuntimeError(f"simulator did not start: {line!r}")
        self.port = int(line.rsplit(":", 1)[1])
        # Keep reading its log so a chatty simulator never blocks on a full pipe.
        threading.Thread(target=self.proc.stdout.read, daemon=True).start()
        return self

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)


@pytest.fixture
def guiserver(tmp_path: Path) -> Iterator[Callable[..., GuiServerSim]]:
    sims: list[GuiServerSim] = []

    def start(*args: str, sandbox: Path | None = None) -> GuiServerSim:
        box = sandbox or tmp_path / "sandbox"
        box.mkdir(exist_ok=True)
        sim = GuiServerSim(box, list(args)).start()
        sims.append(sim)
        return sim

    yield start
    for sim in sims:
        sim.kill()
