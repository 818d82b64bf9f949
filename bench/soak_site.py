"""The soak's site: a private copy of the demo site, its InfluxDB, its archives, `socs-like up`.

`relocate` turns the top-level ``site-config.yaml`` into one that cannot clash with anything
else on the machine (a ``make run``, tests, another soak): every ``var/...`` path and every
``/tmp/...`` folder moves under the soak's folder, a relative path to a file of the
repository (the data logger's device list) becomes absolute, and every port the config names
(the hub's URLs, ``--port``/``--udp-port`` arguments, ports inside URL arguments) is replaced
by a free one, the same everywhere it appears, so the InfluxPublisher's ``--port`` is the
soak's InfluxDB (the demo's own ``influxdb`` simulator is left out: the harness runs that
one). Extra arguments per instance are appended (argparse: the last one wins).

`SoakSite` then runs it: InfluxDB (`socs_like.testing.influxdb.InfluxServer`) in its own
folder, a small tmpfs mounted on each archive folder (so "archive full" is a real ENOSPC,
`socs_like.testing.faults.SmallFilesystem`), and ``socs-like up --site-config COPY`` as a
subprocess in the soak's folder. Every process started after `SoakSite` is made carries
``SOAK_MARK=<folder>`` in its environment (the harness sets it in its own), so `cleanup` finds
and kills all of them, even those that left the tree, and takes away every mount under the
folder — also after a crash of the harness itself.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from socs_like.site_config import runtime_dir
from socs_like.supervisor import control_socket_path
from socs_like.testing.faults import SmallFilesystem, unmount_under
from socs_like.testing.influxdb import InfluxServer
from socs_like.testing.procs import kill_marked
from socs_like.testing.util import free_port
from socs_like_agents.host_manager.control import request

MARK = "SOAK_MARK"
PORT_FLAGS = ("--port", "--udp-port")
_URL_PORT = re.compile(r"^((?:https?|wss?)://[^/:]+):(\d+)")


def _free_port_both() -> int:
    """A port free for TCP and UDP (a config's port may be either)."""
    while True:
        port = free_port()
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
        return port


@dataclass
class Relocation:
    """How `relocate` moved a site: the port map (old → new) and the archive folders."""

    root: Path
    repo: Path
    ports: dict[int, int] = field(default_factory=dict)

    def port(self, old: int) -> int:
        if old not in self.ports:
            self.ports[old] = _free_port_both()
        return self.ports[old]

    def word(self, previous: str, word: str) -> str:
        if previous in PORT_FLAGS and word.isdigit():
            return str(self.port(int(word)))
        if m := _URL_PORT.match(word):
            return f"{m.group(1)}:{self.port(int(m.group(2)))}{word[m.end() :]}"
        if word.startswith("var/"):
            return str(self.root / word)
        if word.startswith("/tmp/"):
            return str(self.root / "tmp" / word.removeprefix("/tmp/"))
        if not word.startswith("-") and "/" in word and (self.repo / word).is_file():
            return str(self.repo / word)
        return word

    def arguments(self, arguments: Sequence[Any]) -> list[str]:
        words: list[str] = []
        for item in arguments:
            words += [str(w) for w in (item if isinstance(item, list) else [item])]
        return [self.word(words[i - 1] if i else "", w) for i, w in enumerate(words)]


def relocate(
    config: Mapping[str, Any],
    root: Path,
    repo: Path,
    extra: Mapping[str, Sequence[str]] = {},
    ports: Mapping[int, int] = {},
) -> tuple[dict[str, Any], Relocation]:
    """The site config `config` moved under `root` (see the module doc); `extra` adds
    arguments per instance id or simulator ``sim-NAME``; `ports` fixes some new ports."""
    moved = Relocation(root=root, repo=repo, ports=dict(ports))
    out: dict[str, Any] = yaml.safe_load(yaml.safe_dump(dict(config)))
    hub = out["hub"]
    for key in ("wamp_server", "wamp_http"):
        if key in hub:
            hub[key] = moved.word("", hub[key])
    for host in out["hosts"].values():
        host["log-dir"] = str(root / "var" / "log")
        if isinstance(host.get("crossbar"), dict):
            host["crossbar"]["config-dir"] = str(root / "var" / "hub")
        for instance in host.get("agent-instances", []):
            instance["arguments"] = moved.arguments(instance.get("arguments", [])) + list(
                extra.get(instance["instance-id"], [])
            )
        # The harness runs the InfluxDB itself (it stops it as a fault and reads it after
        # `up` has stopped), so the demo's own one stays out.
        host["simulators"] = [s for s in host.get("simulators", []) if s["name"] != "influxdb"]
        for sim in host.get("simulators", []):
            sim["arguments"] = moved.arguments(sim.get("arguments", [])) + list(
                extra.get(f"sim-{sim['name']}", [])
            )
        if host.get("web") is not None:
            host["web"]["arguments"] = moved.arguments(host["web"].get("arguments", []))
    return out, moved


def argument(arguments: Sequence[str], flag: str) -> str | None:
    """The value of the last `flag` in an argument list."""
    value = None
    for i, word in enumerate(arguments[:-1]):
        if word == flag:
            value = arguments[i + 1]
    return value


class SoakSite:
    """One relocated site under `root` with its InfluxDB and archive file systems; `create`
    makes a new one, `existing` reads one a soak left behind (to make its ledger again)."""

    def __init__(self, root: Path, config: dict[str, Any], archive_bytes: int = 0) -> None:
        self.root = root
        self.config = config
        self.site_file = root / "site-config.yaml"
        self.host_name, self.host = next(iter(config["hosts"].items()))
        # where `up` opens it: beside the site config, or in /tmp when that path is too long
        self.control = control_socket_path(runtime_dir(self.site_file), self.host_name)
        self.archives = [SmallFilesystem(p, archive_bytes) for p in self.archive_folders()]
        influx_port = int(str(argument(self.args(self.of_class("InfluxPublisher")[0]), "--port")))
        self.influx = InfluxServer(root / "influxdb", http_port=influx_port, rpc_port=free_port())
        self.up: subprocess.Popen[bytes] | None = None
        self.ports: dict[int, int] = {}  # old -> new, when `create` moved the site

    @classmethod
    def create(
        cls, root: Path, source: Path, extra: Mapping[str, Sequence[str]], archive_bytes: int
    ) -> SoakSite:
        # every process started from here on carries the mark (see `cleanup`)
        os.environ[MARK] = str(root)
        config, moved = relocate(
            yaml.safe_load(source.read_text()),
            root,
            source.resolve().parent,
            extra,
            ports={8186: _free_port_both()},  # the demo InfluxPublisher's port
        )
        (root / "site-config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
        site = cls(root, config, archive_bytes)
        site.ports = moved.ports
        return site

    @classmethod
    def existing(cls, root: Path) -> SoakSite:
        return cls(root, yaml.safe_load((root / "site-config.yaml").read_text()))

    # --- what the config says -----------------------------------------------------------------

    def instances(self) -> dict[str, dict[str, Any]]:
        return {i["instance-id"]: i for i in self.host.get("agent-instances", [])}

    def args(self, instance_id: str) -> list[str]:
        return [str(a) for a in self.instances()[instance_id]["arguments"]]

    def sim_args(self, name: str) -> list[str]:
        for sim in self.host.get("simulators", []):
            if sim["name"] == name:
                return [str(a) for a in sim["arguments"]]
        raise KeyError(name)

    def of_class(self, agent_class: str) -> list[str]:
        return [i for i, c in self.instances().items() if c["agent-class"] == agent_class]

    def archive_folders(self) -> list[Path]:
        """Where the site's archives are written: each SupRsync's --remote-basedir and the
        run pipeline's archive (--archive-target, else WORK_DIR/archive)."""
        folders = [Path(str(argument(self.args(i), "--remote-basedir"))) for i in self.suprsyncs]
        return [*folders, self.pipeline_archive()]

    def pipeline_archive(self) -> Path:
        args = self.args(self.of_class("RunPipeline")[0])
        target = argument(args, "--archive-target")
        return Path(target) if target else Path(str(argument(args, "--work-dir"))) / "archive"

    @property
    def suprsyncs(self) -> list[str]:
        return self.of_class("SupRsync")

    @property
    def address_root(self) -> str:
        return str(self.config["hub"]["address_root"])

    # --- running it -----------------------------------------------------------------------------

    def start(self) -> None:
        (self.root / "influxdb").mkdir(parents=True, exist_ok=True)
        self.influx.start()
        for fs in self.archives:
            fs.mount()
        log = open(self.root / "up.log", "ab")  # noqa: SIM115 - the child holds it
        with log:
            self.up = subprocess.Popen(
                [sys.executable, "-m", "socs_like", "up", "--site-config", str(self.site_file)],
                cwd=self.root,
                env=os.environ | {"PYTHONUNBUFFERED": "1"},
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
            )

    async def states(self) -> dict[str, dict[str, Any]]:
        """The supervisor's view of every child, by name (pid, restarts, state)."""
        answer = await request(self.control, "list")
        return {s["instance_id"]: s for s in answer["instances"]}

    async def wait_control(self, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while not self.control.exists():
            if self.up is not None and self.up.poll() is not None:
                raise RuntimeError(f"socs-like up exited with {self.up.returncode}: see up.log")
            if time.monotonic() > deadline:
                raise RuntimeError(f"socs-like up opened no control socket in {timeout:.0f} s")
            await asyncio.sleep(0.2)

    def stop_up(self, timeout: float = 120.0) -> int | None:
        """SIGINT to `socs-like up` (it stops its children, then the hub); its exit code,
        None when it had to be killed."""
        if self.up is None or self.up.poll() is not None:
            return None if self.up is None else self.up.returncode
        self.up.send_signal(signal.SIGINT)
        try:
            return self.up.wait(timeout)
        except subprocess.TimeoutExpired:
            self.up.kill()
            self.up.wait()
            return None

    def close(self) -> list[int]:
        """Everything down, whatever state it is in: the pids still alive that had to be
        killed (a clean stop leaves none). The archives' files stay in their folders."""
        self.stop_up()
        self.influx.stop()
        for fs in self.archives:
            with contextlib.suppress(OSError):
                fs.unmount(keep=True)
        return cleanup(self.root)


def cleanup(root: Path) -> list[int]:
    """Kill every process marked with `root` and unmount everything under it; the pids
    killed. Safe to call twice, and from another process (a test's teardown)."""
    pids = kill_marked(MARK, str(root))
    if pids:
        time.sleep(0.5)  # let the kernel close their files before the unmount
    unmount_under(root)
    return pids
